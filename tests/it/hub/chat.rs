//! Joining a room, chatting, reactions and presence.

use serde_json::{json, Value};

use super::{create_room, room_fixture, user, WsClient};
use crate::support::{spawn_app, spawn_app_sharing};

#[tokio::test]
async fn joining_a_room_gives_one_snapshot_of_its_state() {
    let app = spawn_app().await;
    room_fixture(&app).await;
    let mut viewer = WsClient::connect(&app, None).await;
    let (ack, snapshot) = viewer.subscribe("room:show", None).await;
    assert_eq!(ack["result"]["recovered"], false);
    assert_eq!(snapshot["channel"], "room:show");
    assert_eq!(snapshot["offset"], ack["result"]["offset"]);
    let state = &snapshot["state"];
    assert_eq!(state["room"]["title"], "Title of show");
    assert_eq!(state["live"], false);
    assert_eq!(state["pinned_products"], json!([]));
    assert!(state["presence"]["viewers"].is_u64());
    assert_eq!(state["chat"], json!([]));
}

#[tokio::test]
async fn a_chat_message_reaches_every_viewer_with_an_offset_and_epoch() {
    let app = spawn_app().await;
    room_fixture(&app).await;
    let (token, _) = user(&app, "vic@example.com").await;
    let mut sender = WsClient::connect(&app, Some(&token)).await;
    let mut watcher = WsClient::connect(&app, None).await;
    sender.subscribe("room:show", None).await;
    let (_, snapshot) = watcher.subscribe("room:show", None).await;
    let ack = sender.chat("show", "  hello room  ").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["result"]["message"]["text"], "hello room");
    let publication = watcher.next_pub("chat.message").await;
    assert_eq!(publication["event"]["data"]["text"], "hello room");
    assert_eq!(publication["event"]["data"]["author"], "Test User");
    assert_eq!(publication["offset"].as_u64().unwrap(), snapshot["offset"].as_u64().unwrap() + 1);
    assert_eq!(publication["epoch"], snapshot["epoch"]);
    assert_eq!(sender.next_pub("chat.message").await["offset"], publication["offset"]);
}

#[tokio::test]
async fn chat_history_is_in_a_late_joiners_snapshot_and_survives_a_restart() {
    let app = spawn_app().await;
    room_fixture(&app).await;
    let (token, _) = user(&app, "vic@example.com").await;
    let mut sender = WsClient::connect(&app, Some(&token)).await;
    sender.subscribe("room:show", None).await;
    for text in ["one", "two", "three"] {
        assert_eq!(sender.chat("show", text).await["type"], "ack");
    }
    let restarted = spawn_app_sharing(&app).await;
    let mut late = WsClient::connect(&restarted, None).await;
    let (_, snapshot) = late.subscribe("room:show", None).await;
    let texts: Vec<&str> = snapshot["state"]["chat"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["one", "two", "three"]);
}

#[tokio::test]
async fn an_anonymous_viewer_watches_a_public_room_but_cannot_chat() {
    let app = spawn_app().await;
    room_fixture(&app).await;
    let mut viewer = WsClient::connect(&app, None).await;
    assert_eq!(viewer.connected["user_id"], Value::Null);
    viewer.subscribe("room:show", None).await;
    let reply = viewer.chat("show", "hi").await;
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["code"], "login_required");
}

#[tokio::test]
async fn a_private_room_is_hidden_from_anonymous_viewers_but_open_to_its_moderator() {
    let app = spawn_app().await;
    let fixture = room_fixture(&app).await;
    create_room(&app, &fixture.seller, "vip", "private").await;
    let mut stranger = WsClient::connect(&app, None).await;
    let reply = stranger.request(json!({"type": "subscribe", "channel": "room:vip"})).await;
    assert_eq!(reply["code"], "room_not_found");
    let mut moderator = WsClient::connect(&app, Some(&fixture.moderator)).await;
    let (ack, _) = moderator.subscribe("room:vip", None).await;
    assert_eq!(ack["type"], "ack");
}

#[tokio::test]
async fn a_connect_frame_signs_in_an_anonymous_connection() {
    let app = spawn_app().await;
    room_fixture(&app).await;
    let (token, user_id) = user(&app, "vic@example.com").await;
    let mut client = WsClient::connect(&app, None).await;
    client.subscribe("room:show", None).await;
    let ack = client.request(json!({"type": "connect", "token": token})).await;
    assert_eq!(ack["result"]["user_id"], user_id.as_str());
    assert_eq!(client.chat("show", "signed in").await["type"], "ack");
}

#[tokio::test]
async fn an_invalid_token_in_a_connect_frame_closes_with_a_do_not_reconnect_code() {
    let app = spawn_app().await;
    let mut client = WsClient::connect(&app, None).await;
    client.send(json!({"type": "connect", "token": "not-a-token"})).await;
    let error = client.next_where(|v| v["type"] == "error").await;
    assert_eq!(error["code"], "invalid_token");
    assert_eq!(client.until_closed().await, super::client::Ended::Closed(Some(3500)));
}

#[tokio::test]
async fn an_invalid_token_in_the_query_is_refused_before_the_upgrade() {
    let app = spawn_app().await;
    let result = tokio_tungstenite::connect_async(WsClient::ws_url(&app, Some("nope"))).await;
    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected a 401, got {other:?}"),
    }
}

#[tokio::test]
async fn a_user_subscribes_only_to_their_own_user_channel() {
    let app = spawn_app().await;
    let (token, user_id) = user(&app, "vic@example.com").await;
    let (_, other_id) = user(&app, "eve@example.com").await;
    let mut client = WsClient::connect(&app, Some(&token)).await;
    let (ack, snapshot) = client.subscribe(&format!("user:{user_id}"), None).await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(snapshot["type"], "snapshot");
    let reply = client.request(json!({"type": "subscribe", "channel": format!("user:{other_id}")})).await;
    assert_eq!(reply["code"], "forbidden_channel");
}

#[tokio::test]
async fn a_message_over_the_length_limit_is_refused() {
    let app = spawn_app().await;
    room_fixture(&app).await;
    let (token, _) = user(&app, "vic@example.com").await;
    let mut client = WsClient::connect(&app, Some(&token)).await;
    client.subscribe("room:show", None).await;
    let reply = client.chat("show", &"x".repeat(501)).await;
    assert_eq!(reply["code"], "message_too_long");
}

#[tokio::test]
async fn a_viewer_sending_too_fast_is_rate_limited_with_a_retry_hint() {
    let app = spawn_app().await;
    room_fixture(&app).await;
    let (token, _) = user(&app, "vic@example.com").await;
    let mut client = WsClient::connect(&app, Some(&token)).await;
    client.subscribe("room:show", None).await;
    let mut refusal = None;
    for i in 0..40 {
        let reply = client.chat("show", &format!("spam {i}")).await;
        if reply["type"] == "error" {
            refusal = Some(reply);
            break;
        }
    }
    let refusal = refusal.expect("a burst is refused before 40 messages");
    assert_eq!(refusal["code"], "rate_limited");
    assert!(refusal["retry_after_ms"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn reactions_arrive_as_counted_aggregates_not_one_message_per_tap() {
    let app = spawn_app().await;
    room_fixture(&app).await;
    let mut tapper = WsClient::connect(&app, None).await;
    let mut watcher = WsClient::connect(&app, None).await;
    tapper.subscribe("room:show", None).await;
    watcher.subscribe("room:show", None).await;
    for _ in 0..20 {
        tapper.send(json!({"type": "react", "room": "show", "kind": "heart"})).await;
    }
    let mut total = 0;
    let mut frames = 0;
    while total < 20 {
        let aggregate = watcher.next_pub("reactions").await;
        assert_eq!(aggregate["ephemeral"], true);
        total += aggregate["event"]["data"]["counts"]["heart"].as_u64().unwrap();
        frames += 1;
    }
    assert_eq!(total, 20);
    assert!(frames < 20, "taps are aggregated, got {frames} frames for 20 taps");
}

#[tokio::test]
async fn presence_counts_concurrent_peak_and_unique_viewers() {
    let app = spawn_app().await;
    room_fixture(&app).await;
    let mut first = WsClient::connect(&app, None).await;
    first.subscribe("room:show", None).await;
    let second = {
        let mut c = WsClient::connect(&app, None).await;
        c.subscribe("room:show", None).await;
        c
    };
    loop {
        let p = first.next_pub("presence").await;
        if p["event"]["data"]["viewers"] == 2 {
            assert_eq!(p["event"]["data"]["peak"], 2);
            assert_eq!(p["event"]["data"]["unique"], 2);
            break;
        }
    }
    second.close().await;
    loop {
        let p = first.next_pub("presence").await;
        if p["event"]["data"]["viewers"] == 1 {
            assert_eq!(p["event"]["data"]["peak"], 2);
            assert_eq!(p["event"]["data"]["unique"], 2);
            break;
        }
    }
}

#[tokio::test]
async fn logging_out_ends_the_users_open_connections() {
    let app = crate::support::spawn_app_with(|s| s.hub.session_recheck = std::time::Duration::from_millis(200)).await;
    room_fixture(&app).await;
    let (token, _) = user(&app, "vic@example.com").await;
    let mut client = WsClient::connect(&app, Some(&token)).await;
    client.subscribe("room:show", None).await;
    let res = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&token).json(&json!({})).send().await.unwrap();
    assert!(res.status().is_success(), "logout: {}", res.status());
    let error = client.next_where(|v| v["type"] == "error").await;
    assert_eq!(error["code"], "session_revoked");
    assert_eq!(client.until_closed().await, super::client::Ended::Closed(Some(3500)));
}
