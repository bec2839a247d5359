//! Malformed frames, slow consumers and plain HTTP on /ws.

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::client::Ended;
use super::{room_fixture, WsClient};
use crate::support::spawn_app;

#[tokio::test]
async fn malformed_frames_get_error_frames_and_the_connection_keeps_working() {
    let app = spawn_app().await;
    let fixture = room_fixture(&app).await;
    let mut seller = WsClient::connect(&app, Some(&fixture.seller)).await;
    seller.subscribe("room:show", None).await;
    let mut client = WsClient::connect(&app, None).await;
    client.subscribe("room:show", None).await;

    let cases: Vec<(Message, &str)> = vec![
        (Message::Text("{not json".into()), "invalid_json"),
        (Message::Text(json!({"type": "teleport"}).to_string().into()), "invalid_message"),
        (Message::Text(json!({"type": "subscribe"}).to_string().into()), "invalid_message"),
        (Message::Text(json!([1, 2, 3]).to_string().into()), "invalid_message"),
        (Message::Binary(vec![0xff, 0x00, 0x13].into()), "binary_not_supported"),
        (Message::Text("x".repeat(20_000).into()), "frame_too_large"),
    ];
    for (frame, code) in cases {
        client.send_raw(frame).await;
        let error = client.next_where(|v| v["type"] == "error").await;
        assert_eq!(error["code"], code, "{error}");
    }
    let bad_channel = client.request(json!({"type": "subscribe", "channel": "room:../etc"})).await;
    assert_eq!(bad_channel["code"], "invalid_channel");

    seller.chat("show", "still flowing").await;
    assert_eq!(client.next_pub("chat.message").await["event"]["data"]["text"], "still flowing");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_without_slowing_the_others() {
    let app = spawn_app().await;
    let fixture = room_fixture(&app).await;
    let mut stalled = WsClient::connect_with_small_buffer(&app, None).await;
    stalled.subscribe("room:show", None).await;
    let mut healthy = WsClient::connect(&app, None).await;
    healthy.subscribe("room:show", None).await;

    // ~12 MB of events: far more than the 1 MiB queue plus socket buffers.
    let blob = "x".repeat(60_000);
    for i in 0..200 {
        let res = app
            .client
            .post(app.url("/api/v1/rooms/show/events"))
            .bearer_auth(&fixture.seller)
            .json(&json!({"kind": "bulk", "data": {"i": i, "blob": blob}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        let p = healthy.next_pub("bulk").await;
        assert_eq!(p["event"]["data"]["i"], i, "the healthy viewer gets every event, in order, as it is published");
    }
    assert_eq!(stalled.until_closed().await, Ended::Closed(Some(3004)), "closed as a slow consumer: reconnect and recover");
}

#[tokio::test]
async fn a_plain_http_request_to_the_websocket_endpoint_gets_a_json_error() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/ws")).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "websocket_required");
}

#[tokio::test]
async fn only_the_rooms_seller_publishes_events_and_hub_kinds_are_reserved() {
    let app = spawn_app().await;
    let fixture = room_fixture(&app).await;
    let publish = |token: String, kind: &'static str| {
        let app = &app;
        async move {
            app.client.post(app.url("/api/v1/rooms/show/events")).bearer_auth(token).json(&json!({"kind": kind, "data": {}})).send().await.unwrap()
        }
    };
    assert_eq!(publish(fixture.moderator.clone(), "announcement").await.status(), 403);
    assert_eq!(publish(fixture.seller.clone(), "chat.message").await.status(), 400);
    assert_eq!(publish(fixture.seller.clone(), "announcement").await.status(), 202);
}

#[tokio::test]
async fn a_frame_over_the_hard_limit_closes_that_connection_only() {
    let app = spawn_app().await;
    let fixture = room_fixture(&app).await;
    let mut seller = WsClient::connect(&app, Some(&fixture.seller)).await;
    seller.subscribe("room:show", None).await;
    let mut bystander = WsClient::connect(&app, None).await;
    bystander.subscribe("room:show", None).await;
    let mut offender = WsClient::connect(&app, None).await;
    offender.send_raw(Message::Text("x".repeat(70_000).into())).await;
    assert_eq!(offender.until_closed().await, Ended::Closed(Some(3501)));
    seller.chat("show", "unaffected").await;
    assert_eq!(bystander.next_pub("chat.message").await["event"]["data"]["text"], "unaffected");
}

#[tokio::test]
async fn a_client_flooding_frames_is_refused_then_disconnected() {
    let app = spawn_app().await;
    let mut flooder = WsClient::connect(&app, None).await;
    for i in 0..300 {
        flooder.send(json!({"type": "ping", "id": i})).await;
    }
    let mut refused = 0;
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), flooder.next_or_end()).await.expect("frames or a close") {
            Some(frame) if frame["code"] == "rate_limited" => refused += 1,
            Some(_) => {}
            None => break,
        }
    }
    assert!(refused > 0, "some frames were refused as rate_limited");
    assert_eq!(flooder.close_code(), Some(3501));
}
