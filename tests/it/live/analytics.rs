//! Live analytics: a room on air has per-minute viewers, orders, GMV and
//! reservations, readable by its staff and pushed to them as they change.

use std::time::Duration;

use serde_json::{json, Value};

use super::{immediate_sale, live_room, pin, product, viewer};
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
    let minute = &push["event"]["data"]["minute"];
    for field in ["unique_viewers", "watch_ms", "impressions", "clicks", "add_to_cart", "ctr", "conversion"] {
        assert!(minute.get(field).is_some(), "the push carries {field}: {minute}");
    }
    assert_eq!(minute["add_to_cart"], 1, "a reservation is an add-to-cart");
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

/// Reports card events over HTTP as `token` (anonymous when empty).
async fn report(app: &TestApp, token: &str, kind: &str, products: &[&str]) -> reqwest::Response {
    let mut req = app.client.post(app.url("/api/v1/rooms/show/card-events")).json(&json!({"kind": kind, "product_ids": products}));
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

async fn counted(res: reqwest::Response) -> i64 {
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["counted"].as_i64().unwrap()
}

#[tokio::test]
async fn card_impressions_and_clicks_count_once_per_viewer_product_and_minute_and_give_the_ctr() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (product_id, _) = product(&app, &seller, "TEE-1", 2000, 100).await;
    assert_eq!(pin(&app, &seller, &product_id).await.status(), 201);
    let (mut ws, _) = viewer(&app).await;
    for _ in 0..3 {
        let ack = ws.request(json!({"type": "card.track", "room": "show", "kind": "impression", "product_ids": [product_id]})).await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    let buyer = buyer(&app, "bea@example.com").await;
    assert_eq!(counted(report(&app, &buyer, "impression", &[&product_id, &product_id]).await).await, 1);
    assert_eq!(counted(report(&app, &buyer, "impression", &[&product_id]).await).await, 0, "a repeat counts nothing");
    assert_eq!(counted(report(&app, &buyer, "click", &[&product_id]).await).await, 1);

    let body = analytics(&app, &seller).await;
    assert_eq!((body["totals"]["impressions"].as_i64(), body["totals"]["clicks"].as_i64()), (Some(2), Some(1)), "{body}");
    assert_eq!(body["totals"]["ctr"], 0.5);
    let minute = body["minutes"].as_array().unwrap().iter().find(|m| m["impressions"] == 2).unwrap_or_else(|| panic!("{body}"));
    assert_eq!(minute["ctr"], 0.5);
    assert_eq!(body["products"], json!([{"product_id": product_id, "impressions": 2, "clicks": 1, "ctr": 0.5, "cart_adds": 0}]));
}

#[tokio::test]
async fn reports_of_products_not_pinned_in_the_room_do_not_count() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (pinned, _) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let (other, _) = product(&app, &seller, "TEE-2", 2000, 100).await;
    assert_eq!(pin(&app, &seller, &pinned).await.status(), 201);
    assert_eq!(counted(report(&app, "", "click", &[&other, "made-up"]).await).await, 0);
    assert_eq!(report(&app, "", "wink", &[&pinned]).await.status(), 422);
    assert_eq!(report(&app, "", "click", &[]).await.status(), 422);
    assert_eq!(analytics(&app, &seller).await["totals"]["clicks"], 0);
}

#[tokio::test]
async fn a_viewer_reporting_faster_than_the_limit_is_told_to_retry_later() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (pinned, _) = product(&app, &seller, "TEE-1", 2000, 100).await;
    assert_eq!(pin(&app, &seller, &pinned).await.status(), 201);
    let mut limited = None;
    for _ in 0..40 {
        let res = report(&app, "", "impression", &[&pinned]).await;
        if res.status() == 429 {
            limited = Some(res);
            break;
        }
        assert_eq!(res.status(), 200);
    }
    let res = limited.expect("the reports were rate limited");
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
}

#[tokio::test]
async fn a_cart_add_from_a_pinned_card_counts_only_once_the_product_is_in_the_cart() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (product_id, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    assert_eq!(pin(&app, &seller, &product_id).await.status(), 201);
    assert_eq!(report(&app, "", "add_to_cart", &[&product_id]).await.status(), 401, "anonymous viewers have no cart");
    let buyer = buyer(&app, "bea@example.com").await;
    assert_eq!(counted(report(&app, &buyer, "add_to_cart", &[&product_id]).await).await, 0, "not in the cart yet");
    add_to_cart(&app, &buyer, &variant, 1).await;
    let (mut ws, _) = viewer(&app).await;
    ws.send(json!({"type": "connect", "token": buyer})).await;
    let ack = ws.request(json!({"type": "card.track", "room": "show", "kind": "add_to_cart", "product_ids": [product_id]})).await;
    assert_eq!(ack["result"]["counted"], 1, "{ack}");
    let body = analytics(&app, &seller).await;
    assert_eq!(body["totals"]["add_to_cart"], 1);
    assert_eq!(body["products"][0]["cart_adds"], 1);
}

#[tokio::test]
async fn watch_time_accrues_while_viewers_watch_and_conversion_is_orders_per_distinct_viewer() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let (_ws, _) = viewer(&app).await;
    go_on_air(&app).await;
    let body = analytics_where(&app, &seller, |b| b["totals"]["watch_ms"].as_i64() >= Some(2_000)).await;
    let unique = body["totals"]["unique_viewers"].as_i64().unwrap();
    assert!(unique >= 1, "{body}");
    assert_eq!(body["totals"]["avg_watch_ms"].as_i64(), Some(body["totals"]["watch_ms"].as_i64().unwrap() / unique));
    let buyer = buyer(&app, "bea@example.com").await;
    add_to_cart(&app, &buyer, &variant, 1).await;
    assert_eq!(checkout(&app, &buyer, "k-1", Some(GOOD_CARD)).await.status(), 201);
    let body = analytics_where(&app, &seller, |b| b["totals"]["orders"] == 1).await;
    let unique = body["totals"]["unique_viewers"].as_f64().unwrap();
    assert_eq!(body["totals"]["conversion"].as_f64(), Some(1.0 / unique));
}

#[tokio::test]
async fn an_anonymous_viewer_cannot_inflate_impressions_by_reconnecting() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (product_id, _) = product(&app, &seller, "TEE-1", 2000, 100).await;
    assert_eq!(pin(&app, &seller, &product_id).await.status(), 201);
    for _ in 0..3 {
        let (mut ws, _) = viewer(&app).await;
        let ack = ws.request(json!({"type": "card.track", "room": "show", "kind": "impression", "product_ids": [product_id]})).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        ws.close().await;
    }
    assert_eq!(counted(report(&app, "", "impression", &[&product_id]).await).await, 0, "the same address over HTTP counts as the same viewer");
    assert_eq!(analytics(&app, &seller).await["totals"]["impressions"], 1);
}
