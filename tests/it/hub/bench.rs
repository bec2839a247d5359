//! Fan-out measurement (ignored by default; figures go to docs/BENCHMARKS.md):
//! `cargo test --release --test it fan_out_latency -- --ignored --nocapture`
//! Starts the real binary as its own process (so its memory is its own),
//! connects `CLIENTS` WebSocket viewers to one room, publishes `EVENTS`
//! events through the HTTP publish API and reports publish→receive latency
//! percentiles over every delivery, plus the server's RSS per connection.
//! With `STREAMCART_TEST_REDIS_URL` set, the server uses the Redis broker.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Mutex;

use super::{room_fixture, WsClient};
use crate::support::TestApp;

const CLIENTS: usize = 1000;
const EVENTS: usize = 100;

struct Server {
    child: Child,
    app: TestApp,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_server() -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let data_dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_streamcart"));
    command.args(["--port", &port.to_string(), "--data-dir"]).arg(data_dir.path()).env("RUST_LOG", "warn").env_remove("DATABASE_URL").env_remove("REDIS_URL");
    // With Redis selected for this run, publications go through the Redis broker.
    if let Some(url) = crate::support::redis_url() {
        command.args(["--redis-url", &url]);
    }
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the streamcart binary starts");
    let settings = streamcart::Settings::for_data_dir(data_dir.path());
    let app = TestApp::external(format!("http://127.0.0.1:{port}"), data_dir, settings);
    let server = Server { child, app };
    for _ in 0..100 {
        if server.app.client.get(server.app.url("/health/live")).send().await.is_ok_and(|r| r.status() == 200) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not come up");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a specification; see docs/BENCHMARKS.md"]
async fn fan_out_latency_for_1000_viewers() {
    let server = start_server().await;
    let app = &server.app;
    let fixture = room_fixture(app).await;
    let pid = server.child.id();
    // Warm up: one connection, so per-connection figures exclude one-off allocations.
    let mut warm = WsClient::connect(app, None).await;
    warm.subscribe("room:show", None).await;
    let rss_before = rss_kib(pid);

    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let mut c = WsClient::connect(app, None).await;
        c.subscribe("room:show", None).await;
        clients.push(c);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib(pid);

    let start = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(CLIENTS * EVENTS)));
    let mut readers = Vec::new();
    for mut c in clients {
        let latencies = latencies.clone();
        readers.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(EVENTS);
            for _ in 0..EVENTS {
                let p = c.next_pub("tick").await;
                let sent = p["event"]["data"]["t_us"].as_u64().unwrap();
                mine.push(start.elapsed().as_micros() as u64 - sent);
            }
            latencies.lock().await.extend(mine);
            c
        }));
    }
    for _ in 0..EVENTS {
        let t_us = start.elapsed().as_micros() as u64;
        let res = app
            .client
            .post(app.url("/api/v1/rooms/show/events"))
            .bearer_auth(&fixture.seller)
            .json(&json!({"kind": "tick", "data": {"t_us": t_us}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for r in readers {
        r.await.unwrap();
    }
    let mut all = latencies.lock().await.clone();
    all.sort_unstable();
    println!(
        "signaling fan-out ({} broker): {CLIENTS} viewers x {EVENTS} events = {} deliveries; publish->receive p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; server RSS {} KiB -> {} KiB = {:.1} KiB per connection",
        if crate::support::redis_url().is_some() { "redis" } else { "memory" },
        all.len(),
        percentile(&all, 0.50) as f64 / 1000.0,
        percentile(&all, 0.99) as f64 / 1000.0,
        *all.last().unwrap() as f64 / 1000.0,
        rss_before,
        rss_after,
        (rss_after.saturating_sub(rss_before)) as f64 / CLIENTS as f64,
    );
}
