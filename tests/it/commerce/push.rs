//! In-app notifications reach the user's open pages live, on `user:{id}`.

use serde_json::Value;

use super::{add_to_cart, buyer, checkout, published_variant, seller_with_shop, GOOD_CARD};
use crate::hub::WsClient;
use crate::support::spawn_app;

#[tokio::test]
async fn a_paid_order_is_pushed_to_the_buyers_open_page_with_its_status() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "BAG", 5000, 4).await;
    let ann = buyer(&app, "ann@example.com").await;
    let me: Value = app.get_authed("/api/v1/me", &ann).await.json().await.unwrap();
    let mut ws = WsClient::connect(&app, Some(&ann)).await;
    ws.subscribe(&format!("user:{}", me["user"]["id"].as_str().unwrap()), None).await;

    add_to_cart(&app, &ann, &variant, 1).await;
    let order: Value = checkout(&app, &ann, "first", Some(GOOD_CARD)).await.json().await.unwrap();
    let order_id = order["orders"][0]["id"].as_str().unwrap().to_string();

    let pushed = ws.next_where(|v| v["type"] == "pub" && v["event"]["kind"] == "order.updated" && v["event"]["data"]["status"] == "paid").await;
    assert_eq!(pushed["event"]["data"]["order_id"], order_id.as_str());
}

#[tokio::test]
async fn each_notification_is_pushed_once_however_many_nodes_try() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "BAG", 5000, 4).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &variant, 1).await;
    checkout(&app, &ann, "first", Some(GOOD_CARD)).await;
    let me: Value = app.get_authed("/api/v1/me", &ann).await.json().await.unwrap();
    let store = super::same_store(&app).await;
    let feed = store.list_notifications(me["user"]["id"].as_str().unwrap(), false, None, 10).await.unwrap();
    assert!(!feed.is_empty(), "checking out notifies the buyer");
    for n in &feed {
        // The server's own pusher may have claimed it already; a second claim never succeeds.
        store.claim_notification_push(&n.id).await.unwrap();
        assert!(!store.claim_notification_push(&n.id).await.unwrap(), "a notification is claimed twice");
    }
}
