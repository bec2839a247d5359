//! Reconnecting with {offset, epoch}.

use serde_json::json;

use super::{room_fixture, WsClient};
use crate::support::spawn_app;

#[tokio::test]
async fn a_reconnecting_viewer_recovers_exactly_the_missed_messages_in_order() {
    let app = spawn_app().await;
    let fixture = room_fixture(&app).await;
    let mut seller = WsClient::connect(&app, Some(&fixture.seller)).await;
    seller.subscribe("room:show", None).await;
    let mut viewer = WsClient::connect(&app, None).await;
    viewer.subscribe("room:show", None).await;
    seller.chat("show", "before").await;
    let last_seen = viewer.next_pub("chat.message").await;
    viewer.close().await;

    for text in ["missed 1", "missed 2", "missed 3"] {
        assert_eq!(seller.chat("show", text).await["type"], "ack");
    }
    let mut back = WsClient::connect(&app, None).await;
    let position = json!({"offset": last_seen["offset"], "epoch": last_seen["epoch"]});
    let (ack, snapshot) = back.subscribe("room:show", Some(position)).await;
    assert_eq!(ack["result"]["recovered"], true);
    assert!(snapshot.is_null(), "no snapshot when recovered");
    let mut offsets = Vec::new();
    let mut texts = Vec::new();
    for _ in 0..3 {
        let p = back.next_pub("chat.message").await;
        offsets.push(p["offset"].as_u64().unwrap());
        texts.push(p["event"]["data"]["text"].as_str().unwrap().to_string());
    }
    assert_eq!(texts, ["missed 1", "missed 2", "missed 3"]);
    let first = last_seen["offset"].as_u64().unwrap();
    assert_eq!(offsets, [first + 1, first + 2, first + 3]);
    seller.chat("show", "live again").await;
    assert_eq!(back.next_pub("chat.message").await["offset"].as_u64().unwrap(), first + 4);
}

#[tokio::test]
async fn a_position_from_another_epoch_gets_a_fresh_snapshot() {
    let app = spawn_app().await;
    room_fixture(&app).await;
    let mut viewer = WsClient::connect(&app, None).await;
    let (ack, snapshot) = viewer.subscribe("room:show", Some(json!({"offset": 3, "epoch": "gone"}))).await;
    assert_eq!(ack["result"]["recovered"], false);
    assert_eq!(snapshot["type"], "snapshot");
}
