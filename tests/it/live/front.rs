//! The Redis front for reservations: it turns away buyers who cannot win
//! before SQL, and losing its data mid-sale (a flush) never oversells,
//! because SQL stays the arbiter. Each test runs its own redis-server, so
//! flushing it touches nobody else's keys.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use super::{immediate_sale, live_room, product};
use crate::commerce::{buyer, buyers, post, stock};
use crate::support::{error_code, spawn_app_with, TestApp};

/// A redis-server of this test's own on a free port; killed (by its pid) when dropped.
struct PrivateRedis {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PrivateRedis {
    /// `None` (the caller skips) when redis-server is not installed.
    async fn start() -> Option<PrivateRedis> {
        let dir = tempfile::tempdir().ok()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let redis = PrivateRedis {
            child,
            url: format!("redis://127.0.0.1:{port}"),
            _dir: dir,
        };
        for _ in 0..100 {
            if redis.connection().await.is_some() {
                return Some(redis);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the private redis-server on port {port} did not start");
    }

    async fn connection(&self) -> Option<redis::aio::MultiplexedConnection> {
        redis::Client::open(self.url.as_str())
            .ok()?
            .get_multiplexed_async_connection()
            .await
            .ok()
    }

    async fn flush(&self) {
        let mut conn = self.connection().await.expect("private redis answers");
        let _: () = redis::cmd("FLUSHALL")
            .query_async(&mut conn)
            .await
            .expect("FLUSHALL on the private redis");
    }
}

async fn app_with(redis: &PrivateRedis) -> TestApp {
    let url = redis.url.clone();
    spawn_app_with(move |s| {
        s.redis_url = Some(url);
        s.redis_prefix = "front-test:".into();
    })
    .await
}

async fn reserve(app: &TestApp, token: &str, sale: &str) -> u16 {
    post(
        app,
        token,
        &format!("/api/v1/rooms/show/sales/{sale}/reserve"),
        json!({"quantity": 1}),
    )
    .await
    .status()
    .as_u16()
}

async fn front_refusals(app: &TestApp) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("live_front_refusals_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn with_redis_a_buyer_who_cannot_win_is_turned_away_before_sql() {
    let Some(redis) = PrivateRedis::start().await else {
        eprintln!("skipped: redis-server is not installed");
        return;
    };
    let app = app_with(&redis).await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let sale = immediate_sale(&app, &seller, &variant, 2, 1).await;
    let sale_id = sale["id"].as_str().unwrap();
    assert_eq!(
        reserve(&app, &buyer(&app, "a@example.com").await, sale_id).await,
        201
    );
    assert_eq!(
        reserve(&app, &buyer(&app, "b@example.com").await, sale_id).await,
        201
    );
    let before = front_refusals(&app).await;
    let late = buyer(&app, "c@example.com").await;
    let res = post(
        &app,
        &late,
        &format!("/api/v1/rooms/show/sales/{sale_id}/reserve"),
        json!({"quantity": 1}),
    )
    .await;
    assert_eq!(error_code(res).await, "sale_sold_out");
    assert!(
        front_refusals(&app).await > before,
        "the front answered without a SQL transaction"
    );
}

#[tokio::test]
async fn flushing_redis_mid_sale_never_oversells() {
    let Some(redis) = PrivateRedis::start().await else {
        eprintln!("skipped: redis-server is not installed");
        return;
    };
    let app = app_with(&redis).await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 500).await;
    let sale = immediate_sale(&app, &seller, &variant, 50, 2).await;
    let sale_id = sale["id"].as_str().unwrap().to_string();
    let tokens = buyers(&app, "rush", 100).await;
    // A first wave seeds the front, then the rush runs while Redis is flushed under it.
    for token in &tokens[..10] {
        assert_eq!(reserve(&app, token, &sale_id).await, 201);
    }
    let attempts = tokens.iter().enumerate().flat_map(|(i, token)| {
        let (app, sale_id) = (&app, sale_id.as_str());
        (0..5).map(move |_| async move { (i, reserve(app, token, sale_id).await) })
    });
    let rush = futures::future::join_all(attempts);
    let flusher = async {
        for _ in 0..20 {
            redis.flush().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let (results, ()) = tokio::join!(rush, flusher);
    let mut per_buyer: HashMap<usize, i64> = (0..10).map(|i| (i, 1)).collect();
    for (buyer, status) in &results {
        assert!(matches!(status, 201 | 409), "unexpected status {status}");
        if *status == 201 {
            *per_buyer.entry(*buyer).or_default() += 1;
        }
    }
    assert_eq!(
        per_buyer.values().sum::<i64>(),
        50,
        "exactly the sale's quantity is reserved"
    );
    assert!(
        per_buyer.values().all(|&n| n <= 2),
        "no buyer over the cap: {per_buyer:?}"
    );
    let level = stock(&app, &seller, "acme", &variant).await;
    assert_eq!(
        (level["available"].as_i64(), level["reserved"].as_i64()),
        (Some(450), Some(50))
    );
}
