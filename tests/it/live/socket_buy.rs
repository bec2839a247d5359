//! Buy now over the room socket (`sale.reserve`), and cancelling a sale.

use serde_json::{json, Value};

use super::{immediate_sale, live_room, product, viewer};
use crate::commerce::{buyer, post, stock};
use crate::hub::WsClient;
use crate::support::{error_code, spawn_app};

#[tokio::test]
async fn a_buy_now_on_the_room_socket_is_acknowledged_with_reserved_until() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let sale = immediate_sale(&app, &seller, &variant, 10, 2).await;
    let token = buyer(&app, "bea@example.com").await;
    let mut ws = WsClient::connect(&app, Some(&token)).await;
    let before = streamcart::store::now_ms();
    let ack = ws
        .request(
            json!({"type": "sale.reserve", "room": "show", "sale_id": sale["id"], "quantity": 2}),
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert!(ack["result"]["reserved_until"].as_i64().unwrap() > before);
    assert_eq!(
        (
            ack["result"]["quantity"].as_i64(),
            ack["result"]["unit_price"].as_i64()
        ),
        (Some(2), Some(990))
    );
    assert_eq!(
        stock(&app, &seller, "acme", &variant).await["reserved"],
        2,
        "the socket path holds real stock"
    );
    let refused = ws
        .request(json!({"type": "sale.reserve", "room": "show", "sale_id": sale["id"]}))
        .await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("buyer_cap_reached")),
        "the same cap as over HTTP"
    );
}

#[tokio::test]
async fn an_anonymous_buy_now_on_the_socket_asks_to_sign_in() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let sale = immediate_sale(&app, &seller, &variant, 10, 2).await;
    let (mut ws, _) = viewer(&app).await;
    let refused = ws
        .request(json!({"type": "sale.reserve", "room": "show", "sale_id": sale["id"]}))
        .await;
    assert_eq!(refused["code"], "login_required");
    assert_eq!(stock(&app, &seller, "acme", &variant).await["reserved"], 0);
}

#[tokio::test]
async fn a_cancelled_sale_is_announced_and_takes_no_more_reservations() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let sale = immediate_sale(&app, &seller, &variant, 10, 2).await;
    let sale_id = sale["id"].as_str().unwrap();
    let (mut ws, _) = viewer(&app).await;
    let res = post(
        &app,
        &seller,
        &format!("/api/v1/rooms/show/sales/{sale_id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["phase"], "cancelled");
    let cancelled = ws.next_pub("sale.cancelled").await;
    assert_eq!(cancelled["event"]["data"]["sale_id"], sale_id);
    let token = buyer(&app, "bea@example.com").await;
    let res = post(
        &app,
        &token,
        &format!("/api/v1/rooms/show/sales/{sale_id}/reserve"),
        json!({"quantity": 1}),
    )
    .await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "sale_ended");
    let again = post(
        &app,
        &seller,
        &format!("/api/v1/rooms/show/sales/{sale_id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(again.status(), 409);
}
