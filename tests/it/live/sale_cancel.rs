//! Stopping a flash sale early twice: the second stop is refused (the first
//! stop's announcement is in socket_buy.rs).

use serde_json::json;

use super::{immediate_sale, live_room, product};
use crate::commerce::post;
use crate::support::{error_code, spawn_app};

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
    assert_eq!(error_code(again).await, "sale_ended");
}
