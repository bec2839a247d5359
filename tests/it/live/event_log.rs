//! The durable per-room event log: pins, sales and auctions with wall time
//! (and stream time while streaming), moderation actions for the staff.

use serde_json::{json, Value};

use super::{immediate_sale, live_room, pin, product};
use crate::commerce::post;
use crate::hub::WsClient;
use crate::support::{spawn_app, TestApp};

async fn log(app: &TestApp, token: Option<&str>) -> Vec<Value> {
    let mut req = app.client.get(app.url("/api/v1/rooms/show/event-log"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let body: Value = req.send().await.unwrap().json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

/// The log once it holds every kind in `kinds` (the room task appends asynchronously).
async fn log_with(app: &TestApp, token: Option<&str>, kinds: &[&str]) -> Vec<Value> {
    for _ in 0..100 {
        let items = log(app, token).await;
        if kinds.iter().all(|k| items.iter().any(|e| e["kind"] == *k)) {
            return items;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the event log never held all of {kinds:?}: {:?}", log(app, token).await);
}

#[tokio::test]
async fn pins_sales_and_auctions_are_logged_in_order_with_wall_time() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (product_id, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let before = streamcart::store::now_ms();
    assert_eq!(pin(&app, &seller, &product_id).await.status(), 201);
    let sale = immediate_sale(&app, &seller, &variant, 10, 2).await;
    let res = post(&app, &seller, "/api/v1/rooms/show/auctions", json!({"variant_id": variant, "starting_price": 1000, "duration_secs": 60})).await;
    assert_eq!(res.status(), 201);
    let items = log_with(&app, None, &["product.pinned", "sale.scheduled", "sale.started", "auction.started"]).await;
    assert!(items.iter().all(|e| e["at"].as_i64().unwrap() >= before), "wall time on every entry");
    assert!(items.windows(2).all(|w| w[0]["at"].as_i64() <= w[1]["at"].as_i64()), "oldest first");
    let started = items.iter().find(|e| e["kind"] == "sale.started").unwrap();
    assert_eq!(started["data"]["sale_id"], sale["id"]);
    assert_eq!(started["stream"], Value::Null, "no stream time while the room is not streaming");
    let pinned = items.iter().position(|e| e["kind"] == "product.pinned").unwrap();
    let scheduled = items.iter().position(|e| e["kind"] == "sale.scheduled").unwrap();
    assert!(pinned < scheduled);
}

#[tokio::test]
async fn moderation_actions_appear_in_the_log_for_the_room_staff_only() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let mut ws = WsClient::connect(&app, Some(&seller)).await;
    ws.subscribe("room:show", None).await;
    assert_eq!(ws.moderate("show", json!({"action": "slow_mode", "seconds": 10})).await["type"], "ack");
    let staff = log(&app, Some(&seller)).await;
    assert!(staff.iter().any(|e| e["kind"] == "moderation.slow_mode"), "{staff:?}");
    let public = log(&app, None).await;
    assert!(public.iter().all(|e| !e["kind"].as_str().unwrap().starts_with("moderation.")), "{public:?}");
}
