//! Stopping a flash sale early: viewers are told, buy-now closes, and a
//! second stop changes nothing.

use serde_json::json;

use super::{immediate_sale, live_room, product, viewer};
use crate::commerce::{buyer, post};
use crate::support::{error_code, spawn_app};

#[tokio::test]
async fn a_stopped_sale_is_announced_and_refuses_new_reservations() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let sale = immediate_sale(&app, &seller, &variant, 10, 2).await;
    let id = sale["id"].as_str().unwrap();
    let (mut ws, _) = viewer(&app).await;
    let res = post(&app, &seller, &format!("/api/v1/rooms/show/sales/{id}/cancel"), json!({})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["phase"], "cancelled");
    assert_eq!(ws.next_pub("sale.cancelled").await["event"]["data"]["sale_id"], id);
    let buyer = buyer(&app, "bea@example.com").await;
    let res = post(&app, &buyer, &format!("/api/v1/rooms/show/sales/{id}/reserve"), json!({})).await;
    assert_eq!(res.status(), 409);
    let sales: serde_json::Value = app.client.get(app.url("/api/v1/rooms/show/sales")).send().await.unwrap().json().await.unwrap();
    assert_eq!(sales, json!([]));
}

#[tokio::test]
async fn stopping_a_sale_twice_is_refused() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let sale = immediate_sale(&app, &seller, &variant, 10, 2).await;
    let path = format!("/api/v1/rooms/show/sales/{}/cancel", sale["id"].as_str().unwrap());
    assert_eq!(post(&app, &seller, &path, json!({})).await.status(), 200);
    let again = post(&app, &seller, &path, json!({})).await;
    assert_eq!(again.status(), 409);
    assert_eq!(error_code(again).await, "sale_not_open");
}
