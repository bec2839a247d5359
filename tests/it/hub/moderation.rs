//! Moderation by the room's seller and its shop's moderators.

use std::time::Duration;

use serde_json::{json, Value};

use super::{room_fixture, user, WsClient};
use crate::support::spawn_app;

async fn joined(app: &crate::support::TestApp, token: &str) -> WsClient {
    let mut client = WsClient::connect(app, Some(token)).await;
    client.subscribe("room:show", None).await;
    client
}

#[tokio::test]
async fn a_deleted_message_is_gone_for_everyone_and_for_late_joiners() {
    let app = spawn_app().await;
    let fixture = room_fixture(&app).await;
    let (token, _) = user(&app, "vic@example.com").await;
    let mut viewer = joined(&app, &token).await;
    let mut moderator = joined(&app, &fixture.moderator).await;
    let sent = viewer.chat("show", "buy fake watches here").await;
    viewer.chat("show", "nice jacket").await;
    let id = sent["result"]["message"]["id"].as_str().unwrap().to_string();
    assert_eq!(moderator.moderate("show", json!({"action": "delete_message", "message_id": id})).await["type"], "ack");
    let deleted = viewer.next_pub("chat.deleted").await;
    assert_eq!(deleted["event"]["data"]["id"], id.as_str());

    let mut late = WsClient::connect(&app, None).await;
    let (_, snapshot) = late.subscribe("room:show", None).await;
    let texts: Vec<&str> = snapshot["state"]["chat"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["nice jacket"]);

    let mut recovering = WsClient::connect(&app, None).await;
    let (ack, _) = recovering.subscribe("room:show", Some(json!({"offset": 0, "epoch": snapshot["epoch"]}))).await;
    if ack["result"]["recovered"] == true {
        let first = recovering.next_where(|v| v["type"] == "pub").await;
        assert!(!first.to_string().contains("fake watches"), "history no longer serves it: {first}");
    }
}

#[tokio::test]
async fn a_banned_user_loses_the_room_and_cannot_send() {
    let app = spawn_app().await;
    let fixture = room_fixture(&app).await;
    let (token, user_id) = user(&app, "troll@example.com").await;
    let mut troll = joined(&app, &token).await;
    let mut moderator = WsClient::connect(&app, Some(&fixture.moderator)).await;
    assert_eq!(moderator.moderate("show", json!({"action": "ban", "user_id": user_id})).await["type"], "ack");
    let notice = troll.next_where(|v| v["type"] == "unsubscribed").await;
    assert_eq!(notice["code"], "banned");
    assert_eq!(troll.chat("show", "let me in").await["code"], "banned");
    let rejoin = troll.request(json!({"type": "subscribe", "channel": "room:show"})).await;
    assert_eq!(rejoin["code"], "banned");
}

#[tokio::test]
async fn a_timed_out_user_can_send_again_after_the_timeout() {
    let app = spawn_app().await;
    let fixture = room_fixture(&app).await;
    let (token, user_id) = user(&app, "loud@example.com").await;
    let mut loud = joined(&app, &token).await;
    let mut moderator = WsClient::connect(&app, Some(&fixture.moderator)).await;
    moderator.moderate("show", json!({"action": "timeout", "user_id": user_id, "seconds": 1})).await;
    let refused = loud.chat("show", "still here").await;
    assert_eq!(refused["code"], "timed_out");
    let wait = refused["retry_after_ms"].as_u64().unwrap();
    assert!(wait <= 1000);
    // The one sleep: a timeout is a span of real time.
    tokio::time::sleep(Duration::from_millis(wait + 50)).await;
    assert_eq!(loud.chat("show", "back again").await["type"], "ack");
}

#[tokio::test]
async fn slow_mode_refuses_a_second_message_within_the_window() {
    let app = spawn_app().await;
    let fixture = room_fixture(&app).await;
    let (token, _) = user(&app, "vic@example.com").await;
    let mut viewer = joined(&app, &token).await;
    let mut seller = joined(&app, &fixture.seller).await;
    assert_eq!(seller.moderate("show", json!({"action": "slow_mode", "seconds": 30})).await["type"], "ack");
    assert_eq!(viewer.next_pub("chat.slow_mode").await["event"]["data"]["seconds"], 30);
    assert_eq!(viewer.chat("show", "first").await["type"], "ack");
    let second = viewer.chat("show", "second").await;
    assert_eq!(second["code"], "slow_mode");
    assert!(second["retry_after_ms"].as_u64().unwrap() > 25_000);
    assert_eq!(seller.chat("show", "staff are not slowed").await["type"], "ack");
    assert_eq!(seller.chat("show", "at all").await["type"], "ack");
}

#[tokio::test]
async fn a_shadow_banned_users_messages_are_seen_only_by_them() {
    let app = spawn_app().await;
    let fixture = room_fixture(&app).await;
    let (token, user_id) = user(&app, "spammer@example.com").await;
    let mut spammer = joined(&app, &token).await;
    let mut watcher = joined(&app, &fixture.seller).await;
    let mut moderator = WsClient::connect(&app, Some(&fixture.moderator)).await;
    moderator.moderate("show", json!({"action": "shadow_ban", "user_id": user_id})).await;
    assert_eq!(spammer.chat("show", "shadowed words").await["type"], "ack", "the sender is not told");
    assert_eq!(spammer.next_pub("chat.message").await["event"]["data"]["text"], "shadowed words");
    watcher.chat("show", "marker").await;
    let seen = watcher.next_pub("chat.message").await;
    assert_eq!(seen["event"]["data"]["text"], "marker", "the watcher never got the shadowed message");

    let mut again = WsClient::connect(&app, Some(&token)).await;
    let (_, own_view) = again.subscribe("room:show", None).await;
    assert!(own_view.to_string().contains("shadowed words"));
    let mut stranger = WsClient::connect(&app, None).await;
    let (_, public_view) = stranger.subscribe("room:show", None).await;
    assert!(!public_view.to_string().contains("shadowed words"));
}

#[tokio::test]
async fn a_message_with_a_blocked_word_is_refused() {
    let app = spawn_app().await;
    let fixture = room_fixture(&app).await;
    let (token, _) = user(&app, "vic@example.com").await;
    let mut viewer = joined(&app, &token).await;
    let mut moderator = WsClient::connect(&app, Some(&fixture.moderator)).await;
    moderator.moderate("show", json!({"action": "blocked_words", "words": ["Scam"]})).await;
    assert_eq!(viewer.chat("show", "this is a SCAM").await["code"], "message_blocked");
    assert_eq!(viewer.chat("show", "this is fine").await["type"], "ack");
}

#[tokio::test]
async fn a_viewer_cannot_moderate() {
    let app = spawn_app().await;
    room_fixture(&app).await;
    let (token, user_id) = user(&app, "vic@example.com").await;
    let mut viewer = joined(&app, &token).await;
    let reply = viewer.moderate("show", json!({"action": "ban", "user_id": user_id})).await;
    assert_eq!(reply["code"], "not_room_moderator");
}

#[tokio::test]
async fn every_moderation_action_is_in_the_log() {
    let app = spawn_app().await;
    let fixture = room_fixture(&app).await;
    let (_, user_id) = user(&app, "vic@example.com").await;
    let mut moderator = WsClient::connect(&app, Some(&fixture.moderator)).await;
    moderator.moderate("show", json!({"action": "timeout", "user_id": user_id, "seconds": 60})).await;
    moderator.moderate("show", json!({"action": "slow_mode", "seconds": 5})).await;
    let over_ws = moderator.request(json!({"type": "moderation.log", "room": "show"})).await;
    let actions: Vec<&str> = over_ws["result"]["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["slow_mode", "timeout"]);
    let res = app.get_authed("/api/v1/rooms/show/moderation-log", &fixture.seller).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["entries"][1]["target_user_id"], user_id.as_str());
    assert_eq!(body["entries"][1]["detail"], "60 s");
    let (stranger, _) = user(&app, "eve@example.com").await;
    assert_eq!(app.get_authed("/api/v1/rooms/show/moderation-log", &stranger).await.status(), 403);
}

#[tokio::test]
async fn a_pinned_message_is_announced_and_in_late_joiners_snapshots() {
    let app = spawn_app().await;
    let fixture = room_fixture(&app).await;
    let (token, _) = user(&app, "vic@example.com").await;
    let mut viewer = joined(&app, &token).await;
    let mut moderator = joined(&app, &fixture.moderator).await;
    let sent = viewer.chat("show", "free shipping today?").await;
    let id = sent["result"]["message"]["id"].as_str().unwrap().to_string();
    assert_eq!(moderator.moderate("show", json!({"action": "pin_message", "message_id": id})).await["type"], "ack");
    assert_eq!(viewer.next_pub("chat.pinned").await["event"]["data"]["message"]["id"], id.as_str());
    let mut late = WsClient::connect(&app, None).await;
    let (_, snapshot) = late.subscribe("room:show", None).await;
    assert_eq!(snapshot["state"]["pinned_message"]["text"], "free shipping today?");
    let missing = moderator.moderate("show", json!({"action": "pin_message", "message_id": "nope"})).await;
    assert_eq!(missing["code"], "message_not_found");
    moderator.moderate("show", json!({"action": "unpin_message"})).await;
    assert_eq!(viewer.next_pub("chat.pinned").await["event"]["data"]["message"], Value::Null);
}

#[tokio::test]
async fn in_hold_mode_a_blocked_word_waits_for_a_moderators_approval() {
    let app = spawn_app().await;
    let fixture = room_fixture(&app).await;
    let (token, _) = user(&app, "vic@example.com").await;
    let mut viewer = joined(&app, &token).await;
    let mut watcher = joined(&app, &fixture.seller).await;
    let mut moderator = WsClient::connect(&app, Some(&fixture.moderator)).await;
    moderator.moderate("show", json!({"action": "blocked_words", "words": ["discount"], "mode": "hold"})).await;
    let held = viewer.chat("show", "any discount code?").await;
    assert_eq!(held["result"]["held"], true);
    assert_eq!(viewer.next_pub("chat.message").await["event"]["data"]["text"], "any discount code?", "the author sees it");

    let queue = moderator.request(json!({"type": "moderation.held", "room": "show"})).await;
    let id = queue["result"]["messages"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(queue["result"]["messages"][0]["text"], "any discount code?");
    assert_eq!(moderator.moderate("show", json!({"action": "approve_message", "message_id": id})).await["type"], "ack");
    let released = watcher.next_pub("chat.message").await;
    assert_eq!(released["event"]["data"]["id"], id.as_str(), "others see it only once approved");
    let again = moderator.request(json!({"type": "moderation.held", "room": "show"})).await;
    assert_eq!(again["result"]["messages"], json!([]));
}
