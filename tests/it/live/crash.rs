//! Crash recovery: the real binary, killed with SIGKILL in the middle of a
//! flash-sale rush and a bidding war, restarted on the same store. Every
//! acknowledged reservation, bid and chat message must be there, stock must
//! not be oversold, and the sale's and auction's deadlines must be unchanged.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use super::product;
use crate::commerce::{buyers, post, stock};
use crate::hub::fanout::{start_process, Process};
use crate::hub::{create_room, WsClient};
use crate::rooms::seller_with_shop;
use crate::support::{postgres_url, redis_url, TestApp};

struct Deployment {
    _dir: tempfile::TempDir,
    data_dir: std::path::PathBuf,
    config: std::path::PathBuf,
    database_url: String,
    redis: String,
}

impl Deployment {
    /// PostgreSQL and Redis when this run has them, else SQLite in the data dir and no Redis.
    async fn new() -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("livekit.yaml");
        std::fs::write(
            &config,
            format!(
                "rtc:\n  udp_port: 0\nstreamcart:\n  redis_prefix: \"test:{}:\"\n",
                uuid::Uuid::new_v4()
            ),
        )
        .unwrap();
        let database_url = match postgres_url() {
            Some(pg) => crate::support::fresh_postgres_schema(&pg).await,
            None => String::new(),
        };
        let data_dir = dir.path().join("data");
        Deployment {
            data_dir,
            config,
            database_url,
            redis: redis_url().unwrap_or_default(),
            _dir: dir,
        }
    }

    async fn start(&self) -> Process {
        start_process(
            &self.data_dir,
            &self.config,
            &self.database_url,
            &self.redis,
        )
        .await
    }
}

/// The body of an acknowledged request (`ok` status); `None` if refused or cut off by the kill.
async fn acknowledged(app: &TestApp, token: &str, path: &str, body: Value, ok: u16) -> Option<Value> {
    let res = app.client.post(app.url(path)).bearer_auth(token).json(&body).send().await.ok()?;
    if res.status() != ok {
        return None;
    }
    res.json().await.ok()
}

async fn reserve(app: &TestApp, token: &str, sale: &str) -> Option<Value> {
    acknowledged(app, token, &format!("/api/v1/rooms/show/sales/{sale}/reserve"), json!({"quantity": 1}), 201).await
}

async fn bid(app: &TestApp, token: &str, auction: &str, amount: i64) -> Option<Value> {
    acknowledged(app, token, &format!("/api/v1/rooms/show/auctions/{auction}/bids"), json!({"amount": amount}), 200).await
}

#[tokio::test]
async fn a_server_killed_mid_sale_and_auction_restarts_with_every_acknowledged_write_and_the_same_deadlines(
) {
    let deployment = Deployment::new().await;
    let first = deployment.start().await;
    let app = &first.app;
    let seller = seller_with_shop(app, "sam@example.com", "acme").await;
    create_room(app, &seller, "show", "public").await;
    let (_, sale_variant) = product(app, &seller, "TEE-1", 2000, 100).await;
    let (_, lot_variant) = product(app, &seller, "LOT-1", 9000, 5).await;
    let sale: Value = post(app, &seller, "/api/v1/rooms/show/sales", json!({"variant_id": sale_variant, "sale_price": 990, "total_quantity": 30, "per_buyer_cap": 2, "duration_secs": 600}))
        .await
        .json()
        .await
        .unwrap();
    let auction: Value = post(app, &seller, "/api/v1/rooms/show/auctions", json!({"variant_id": lot_variant, "starting_price": 1000, "duration_secs": 600, "increments": [{"from": 0, "step": 10}]}))
        .await
        .json()
        .await
        .unwrap();
    let (sale_id, auction_id) = (
        sale["id"].as_str().unwrap().to_string(),
        auction["id"].as_str().unwrap().to_string(),
    );
    let mut chat = WsClient::connect(app, Some(&seller)).await;
    chat.subscribe("room:show", None).await;
    let mut said = Vec::new();
    for i in 0..5 {
        let ack = chat.chat("show", &format!("before the crash {i}")).await;
        said.push(ack["result"]["message"]["id"].as_str().unwrap().to_string());
    }
    let tokens = buyers(app, "crash", 40).await;

    // The rush: reservations and bids in flight while the process is killed,
    // once a few of each have been acknowledged.
    let (acked_reservations, acked_bids) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let reservations = tokens.iter().flat_map(|t| [t, t]).map(|token| {
        let (sale_id, acked) = (sale_id.as_str(), &acked_reservations);
        async move {
            let ack = reserve(app, token, sale_id)
                .await
                .map(|ack| (token.clone(), ack));
            acked.fetch_add(usize::from(ack.is_some()), Ordering::SeqCst);
            ack
        }
    });
    let bids = tokens.iter().enumerate().map(|(i, token)| {
        let (auction_id, acked) = (auction_id.as_str(), &acked_bids);
        async move {
            let ack = bid(app, token, auction_id, 1000 + 10 * i as i64).await;
            acked.fetch_add(usize::from(ack.is_some()), Ordering::SeqCst);
            ack
        }
    });
    let rush = async {
        tokio::join!(
            futures::future::join_all(reservations),
            futures::future::join_all(bids)
        )
    };
    let killer = async {
        for _ in 0..500 {
            if acked_reservations.load(Ordering::SeqCst) >= 5
                && acked_bids.load(Ordering::SeqCst) >= 3
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        first.kill_9();
    };
    let ((reserved, bid_acks), ()) = tokio::join!(rush, killer);
    let reserved: Vec<(String, Value)> = reserved.into_iter().flatten().collect();
    let bid_acks: Vec<Value> = bid_acks.into_iter().flatten().collect();
    eprintln!(
        "acknowledged before the kill: {} of 80 reservations, {} of 40 bids",
        reserved.len(),
        bid_acks.len()
    );

    let second = deployment.start().await;
    let app = &second.app;
    let sales: Value = app
        .client
        .get(app.url("/api/v1/rooms/show/sales"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        sales[0]["ends_at"], sale["ends_at"],
        "the sale's countdown keeps its deadline"
    );
    let sold = sales[0]["sold"].as_i64().unwrap();
    assert!(
        sold as usize >= reserved.len() && sold <= 30,
        "sold {sold}, acknowledged {}",
        reserved.len()
    );
    let level = stock(app, &seller, "acme", &sale_variant).await;
    assert_eq!(
        (level["reserved"].as_i64(), level["available"].as_i64()),
        (Some(sold), Some(100 - sold)),
        "stock matches the sale, never oversold"
    );
    for (token, ack) in &reserved {
        let res = post(
            app,
            token,
            &format!(
                "/api/v1/rooms/show/reservations/{}/checkout",
                ack["reservation_id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
        assert_eq!(
            res.status(),
            201,
            "an acknowledged reservation survives the crash"
        );
    }

    let listed: Value = app
        .client
        .get(app.url("/api/v1/rooms/show/auctions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let after = &listed["items"][0];
    let acked_count = bid_acks
        .iter()
        .map(|a| a["auction"]["bid_count"].as_i64().unwrap())
        .max()
        .unwrap_or(0);
    let acked_price = bid_acks
        .iter()
        .map(|a| a["auction"]["current_price"].as_i64().unwrap())
        .max()
        .unwrap_or(1000);
    assert!(
        after["bid_count"].as_i64().unwrap() >= acked_count,
        "every acknowledged bid is kept: {after}"
    );
    assert!(
        after["current_price"].as_i64().unwrap() >= acked_price,
        "the price never goes back: {after}"
    );
    let acked_deadline = bid_acks
        .iter()
        .map(|a| a["auction"]["ends_at"].as_i64().unwrap())
        .max()
        .unwrap_or(0);
    assert_eq!(
        after["ends_at"].as_i64().unwrap(),
        acked_deadline.max(auction["ends_at"].as_i64().unwrap()),
        "the auction keeps its deadline"
    );
    assert_eq!(after["status"], "running");

    let mut viewer = WsClient::connect(app, None).await;
    let (_, snapshot) = viewer.subscribe("room:show", None).await;
    let history: HashSet<&str> = snapshot["state"]["chat"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        said.iter().all(|id| history.contains(id.as_str())),
        "chat history is intact"
    );
}
