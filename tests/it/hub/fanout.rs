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
