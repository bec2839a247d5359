//! Live analytics: a room on air has per-minute viewers, orders, GMV and
//! reservations, readable by its staff and pushed to them as they change.

use std::time::Duration;

use serde_json::{json, Value};

use super::{immediate_sale, live_room, product, viewer};
use crate::commerce::{add_to_cart, buyer, checkout, get, post, same_store, GOOD_CARD};
use crate::hub::WsClient;
use crate::support::{spawn_app, TestApp};

/// Puts room `show` on air, as a first WHIP publish does.
async fn go_on_air(app: &TestApp) {
    let store = same_store(app).await;
    let room = store.room_by_name("show").await.unwrap().unwrap();
    store.set_room_status(&room.id, "live").await.unwrap();
}

async fn analytics(app: &TestApp, token: &str) -> Value {
    get(app, token, "/api/v1/rooms/show/analytics").await
}

/// Polls the analytics until `done` holds (the shell samples once a second).
async fn analytics_where(app: &TestApp, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let body = analytics(app, token).await;
        if done(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the analytics never showed what was expected: {}", analytics(app, token).await);
}

/// Waits until the shell tracks the room (its first minute on air appears).
async fn tracked(app: &TestApp, token: &str) {
    analytics_where(app, token, |b| b["minutes"].as_array().is_some_and(|m| !m.is_empty())).await;
}

#[tokio::test]
async fn a_stream_s_viewers_reservations_orders_and_gmv_show_in_its_current_minute() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let sale = immediate_sale(&app, &seller, &variant, 10, 2).await;
    go_on_air(&app).await;
    tracked(&app, &seller).await;
    let (_ws, _) = viewer(&app).await;
    let buyer = buyer(&app, "bea@example.com").await;
    let res = post(&app, &buyer, &format!("/api/v1/rooms/show/sales/{}/reserve", sale["id"].as_str().unwrap()), json!({"quantity": 1})).await;
    assert_eq!(res.status(), 201);
    add_to_cart(&app, &buyer, &variant, 1).await;
    let order: Value = checkout(&app, &buyer, "k-1", Some(GOOD_CARD)).await.json().await.unwrap();
    let total = order["orders"][0]["total"].as_i64().unwrap();
    assert_eq!(order["orders"][0]["status"], "paid");

    let body = analytics_where(&app, &seller, |b| b["totals"]["orders"] == 1 && b["totals"]["reservations"] == 1 && b["totals"]["peak_viewers"].as_i64() >= Some(1)).await;
    let minutes = body["minutes"].as_array().unwrap();
    let minute = minutes.iter().find(|m| m["orders"] == 1).unwrap();
    assert_eq!(minute["gmv"], total);
    assert!(minutes.iter().all(|m| m["minute"].as_i64().unwrap() % 60_000 == 0), "minutes start on the minute");
    assert_eq!(body["currency"], order["orders"][0]["currency"]);
    assert_eq!(body["totals"]["gmv"], total);
}

#[tokio::test]
async fn orders_placed_while_the_room_is_off_air_do_not_count() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let buyer = buyer(&app, "bea@example.com").await;
    add_to_cart(&app, &buyer, &variant, 1).await;
    assert_eq!(checkout(&app, &buyer, "k-1", Some(GOOD_CARD)).await.status(), 201);
    let body = analytics(&app, &seller).await;
    assert_eq!(body["minutes"], json!([]));
    assert_eq!(body["totals"]["orders"], 0);
}

#[tokio::test]
async fn the_seller_is_pushed_the_running_minute_on_their_own_channel() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let sale = immediate_sale(&app, &seller, &variant, 10, 2).await;
    let me = get(&app, &seller, "/api/v1/me").await;
    let mut ws = WsClient::connect(&app, Some(&seller)).await;
    ws.subscribe(&format!("user:{}", me["user"]["id"].as_str().unwrap()), None).await;
    go_on_air(&app).await;
    tracked(&app, &seller).await;
    let buyer = buyer(&app, "bea@example.com").await;
    let res = post(&app, &buyer, &format!("/api/v1/rooms/show/sales/{}/reserve", sale["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(res.status(), 201);
    let push = ws
        .next_where(|v| v["type"] == "pub" && v["event"]["kind"] == "analytics.minute" && v["event"]["data"]["minute"]["reservations"] == 1)
        .await;
    assert_eq!(push["event"]["data"]["room"], "show");
    assert_eq!(push["event"]["data"]["closed"], false);
}

#[tokio::test]
async fn viewers_do_not_receive_the_shop_s_figures() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let sale = immediate_sale(&app, &seller, &variant, 10, 2).await;
    let (mut ws, _) = viewer(&app).await;
    go_on_air(&app).await;
    let buyer = buyer(&app, "bea@example.com").await;
    post(&app, &buyer, &format!("/api/v1/rooms/show/sales/{}/reserve", sale["id"].as_str().unwrap()), json!({})).await;
    analytics_where(&app, &seller, |b| b["totals"]["reservations"] == 1).await;
    let mut seen = Vec::new();
    while let Ok(frame) = tokio::time::timeout(Duration::from_millis(2_500), ws.next()).await {
        seen.push(frame["event"]["kind"].clone());
    }
    assert!(!seen.contains(&json!("analytics.minute")), "a viewer got analytics: {seen:?}");
}
