//! Live commerce end to end: pinned products with live stock bands, flash
//! sales driven by server deadlines, and one-tap reservations arbitrated by
//! the SQL store, on whichever back-ends this run selects.

mod analytics;
mod auctions;
mod crash;
mod engage;
mod event_log;
mod front;
mod pins;
mod sale_cancel;
mod sales;
mod socket_buy;
mod stream_time;

use serde_json::{json, Value};

use crate::commerce::post;
use crate::hub::{create_room, WsClient};
use crate::rooms::seller_with_shop;
use crate::support::TestApp;

/// A shop `acme` with a public room `show`; returns the seller's token.
pub async fn live_room(app: &TestApp) -> String {
    let seller = seller_with_shop(app, "sam@example.com", "acme").await;
    create_room(app, &seller, "show", "public").await;
    seller
}

/// A published product of acme with one variant: (product id, variant id).
pub async fn product(app: &TestApp, seller: &str, sku: &str, price: i64, stock: i64) -> (String, String) {
    let p = crate::commerce::product(app, seller, "acme", &format!("Item {sku}"), &[(sku, price, stock)]).await;
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(post(app, seller, &format!("/api/v1/shops/acme/products/{id}/publish"), json!({})).await.status(), 200);
    (id, p["variants"][0]["id"].as_str().unwrap().to_string())
}

/// A viewer subscribed to `room:show`; returns the client and the snapshot's state.
pub async fn viewer(app: &TestApp) -> (WsClient, Value) {
    let mut ws = WsClient::connect(app, None).await;
    let (_, snapshot) = ws.subscribe("room:show", None).await;
    (ws, snapshot["state"].clone())
}

pub async fn pin(app: &TestApp, token: &str, product_id: &str) -> reqwest::Response {
    post(app, token, "/api/v1/rooms/show/pins", json!({"product_id": product_id})).await
}

/// Starts an immediate sale; returns its body.
pub async fn immediate_sale(app: &TestApp, seller: &str, variant: &str, total: i64, cap: i64) -> Value {
    let res = post(
        app,
        seller,
        "/api/v1/rooms/show/sales",
        json!({"variant_id": variant, "sale_price": 990, "total_quantity": total, "per_buyer_cap": cap, "duration_secs": 600}),
    )
    .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}
