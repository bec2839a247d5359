//! Two server instances sharing one store and one Redis prefix.

use serde_json::json;

use super::{room_fixture, user, WsClient};
use crate::support::{redis_url, spawn_app, spawn_app_sharing};

#[tokio::test]
async fn two_nodes_sharing_redis_deliver_each_others_chat_with_the_same_offsets() {
    if redis_url().is_none() {
        eprintln!("skipped: cross-node fan-out needs Redis (STREAMCART_TEST_REDIS_URL)");
        return;
    }
    let node_a = spawn_app().await;
    let node_b = spawn_app_sharing(&node_a).await;
    let fixture = room_fixture(&node_a).await;
    let (token, _) = user(&node_a, "vic@example.com").await;
    let mut on_a = WsClient::connect(&node_a, Some(&token)).await;
    let mut on_b = WsClient::connect(&node_b, Some(&fixture.seller)).await;
    on_a.subscribe("room:show", None).await;
    on_b.subscribe("room:show", None).await;

    on_a.chat("show", "from a").await;
    on_b.chat("show", "from b").await;
    let mut seen_on_a = Vec::new();
    let mut seen_on_b = Vec::new();
    for _ in 0..2 {
        let p = on_a.next_pub("chat.message").await;
        seen_on_a.push((p["offset"].clone(), p["event"]["data"]["text"].clone()));
        let p = on_b.next_pub("chat.message").await;
        seen_on_b.push((p["offset"].clone(), p["event"]["data"]["text"].clone()));
    }
    assert_eq!(seen_on_a, seen_on_b, "both nodes deliver the same events at the same offsets, in the same order");
    assert_eq!(seen_on_a[0].1, "from a");
    assert_eq!(seen_on_a[1].1, "from b");
}

#[tokio::test]
async fn a_viewer_recovers_on_another_node_and_presence_counts_both_nodes() {
    if redis_url().is_none() {
        eprintln!("skipped: cross-node fan-out needs Redis (STREAMCART_TEST_REDIS_URL)");
        return;
    }
    let node_a = spawn_app().await;
    let node_b = spawn_app_sharing(&node_a).await;
    let fixture = room_fixture(&node_a).await;
    let mut seller = WsClient::connect(&node_a, Some(&fixture.seller)).await;
    seller.subscribe("room:show", None).await;
    let mut viewer = WsClient::connect(&node_b, None).await;
    viewer.subscribe("room:show", None).await;
    seller.chat("show", "one").await;
    let last = viewer.next_pub("chat.message").await;
    loop {
        let p = viewer.next_pub("presence").await;
        if p["event"]["data"]["viewers"] == 2 {
            break;
        }
    }
    viewer.close().await;
    seller.chat("show", "two").await;
    let mut moved = WsClient::connect(&node_a, None).await;
    let (ack, _) = moved.subscribe("room:show", Some(json!({"offset": last["offset"], "epoch": last["epoch"]}))).await;
    assert_eq!(ack["result"]["recovered"], true);
    assert_eq!(moved.next_pub("chat.message").await["event"]["data"]["text"], "two");
}

#[tokio::test]
async fn a_ban_on_one_node_takes_effect_on_the_other() {
    if redis_url().is_none() {
        eprintln!("skipped: cross-node fan-out needs Redis (STREAMCART_TEST_REDIS_URL)");
        return;
    }
    let node_a = spawn_app().await;
    let node_b = spawn_app_sharing(&node_a).await;
    let fixture = room_fixture(&node_a).await;
    let (token, user_id) = user(&node_a, "troll@example.com").await;
    let mut troll = WsClient::connect(&node_b, Some(&token)).await;
    troll.subscribe("room:show", None).await;
    let mut moderator = WsClient::connect(&node_a, Some(&fixture.moderator)).await;
    assert_eq!(moderator.moderate("show", json!({"action": "ban", "user_id": user_id})).await["type"], "ack");
    let notice = troll.next_where(|v| v["type"] == "unsubscribed").await;
    assert_eq!(notice["code"], "banned");
    assert_eq!(troll.chat("show", "from the other node").await["code"], "banned");
}

/// A streamcart binary running as its own OS process; killed when dropped.
pub struct Process {
    child: std::process::Child,
    pub app: crate::support::TestApp,
}

impl Process {
    /// SIGKILL: no shutdown hook runs, as in a crash or an OOM kill.
    pub fn kill_9(&self) {
        let _ = std::process::Command::new("kill").arg("-9").arg(self.child.id().to_string()).status();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the real binary on a free port against `database_url`, `redis`, the
/// Redis prefix in `config` and the shared `data_dir` (so both share secrets).
pub async fn start_process(data_dir: &std::path::Path, config: &std::path::Path, database_url: &str, redis: &str) -> Process {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_streamcart"))
        .args(["--port", &port.to_string(), "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .env("DATABASE_URL", database_url)
        .env("REDIS_URL", redis)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the streamcart binary starts");
    let settings = streamcart::Settings::for_data_dir(data_dir);
    let app = crate::support::TestApp::external(format!("http://127.0.0.1:{port}"), tempfile::tempdir().unwrap(), settings);
    let process = Process { child, app };
    for _ in 0..150 {
        if process.app.client.get(process.app.url("/health/ready")).send().await.is_ok_and(|r| r.status() == 200) {
            return process;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("streamcart on port {port} did not become ready"); // `process` is dropped: the child is killed
}

#[tokio::test]
async fn two_streamcart_processes_sharing_postgresql_and_redis_serve_one_room() {
    let (Some(pg), Some(redis)) = (crate::support::postgres_url(), redis_url()) else {
        eprintln!("skipped: two processes need PostgreSQL and Redis (STREAMCART_TEST_DATABASE_URL, STREAMCART_TEST_REDIS_URL)");
        return;
    };
    let shared = tempfile::tempdir().unwrap();
    let config = shared.path().join("livekit.yaml");
    std::fs::write(&config, format!("rtc:\n  udp_port: 0\nstreamcart:\n  redis_prefix: \"test:{}:\"\n", uuid::Uuid::new_v4())).unwrap();
    let database_url = crate::support::fresh_postgres_schema(&pg).await;
    let data_dir = shared.path().join("data");
    let first = start_process(&data_dir, &config, &database_url, &redis).await;
    let second = start_process(&data_dir, &config, &database_url, &redis).await;

    let fixture = room_fixture(&first.app).await;
    let (token, _) = user(&second.app, "vic@example.com").await;
    let mut viewer_on_second = WsClient::connect(&second.app, Some(&token)).await;
    viewer_on_second.subscribe("room:show", None).await;
    let mut seller_on_first = WsClient::connect(&first.app, Some(&fixture.seller)).await;
    seller_on_first.subscribe("room:show", None).await;

    seller_on_first.chat("show", "hello from the first process").await;
    let seen = viewer_on_second.next_pub("chat.message").await;
    assert_eq!(seen["event"]["data"]["text"], "hello from the first process");
    loop {
        let presence = seller_on_first.next_pub("presence").await;
        if presence["event"]["data"]["viewers"] == 2 {
            break;
        }
    }
}
