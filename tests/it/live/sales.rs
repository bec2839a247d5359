//! Flash sales and one-tap reservations: deadlines from the server, caps
//! from the SQL store, expiry giving units back.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{immediate_sale, live_room, pin, product, viewer};
use crate::commerce::{buyer, buyers, post, same_store, stock};
use crate::support::{error_code, spawn_app, spawn_app_sharing};

async fn reserve(app: &crate::support::TestApp, token: &str, sale: &str, quantity: i64) -> reqwest::Response {
    post(app, token, &format!("/api/v1/rooms/show/sales/{sale}/reserve"), json!({"quantity": quantity})).await
}

/// Reserves `quantity` of the sale for `buyer` and checks the reservation out; returns the order id.
async fn reserved_and_checked_out(app: &crate::support::TestApp, buyer: &str, sale: &Value, quantity: i64) -> String {
    let ack: Value = reserve(app, buyer, sale["id"].as_str().unwrap(), quantity).await.json().await.unwrap();
    let path = format!("/api/v1/rooms/show/reservations/{}/checkout", ack["reservation_id"].as_str().unwrap());
    let order: Value = post(app, buyer, &path, json!({})).await.json().await.unwrap();
    order["order_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_immediate_sale_is_announced_with_its_server_deadlines_and_starts() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let (mut ws, _) = viewer(&app).await;
    let sale = immediate_sale(&app, &seller, &variant, 10, 2).await;
    let scheduled = ws.next_pub("sale.scheduled").await;
    assert_eq!(scheduled["event"]["data"]["sale_id"], sale["id"]);
    assert_eq!(scheduled["event"]["data"]["ends_at"], sale["ends_at"]);
    let started = ws.next_pub("sale.started").await;
    assert_eq!(started["event"]["data"]["ends_at"], sale["ends_at"]);
}

#[tokio::test]
async fn a_scheduled_sale_refuses_buyers_before_its_start() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let starts_at = streamcart::store::now_ms() + 3_600_000;
    let res = post(
        &app,
        &seller,
        "/api/v1/rooms/show/sales",
        json!({"variant_id": variant, "sale_price": 990, "total_quantity": 10, "per_buyer_cap": 1, "duration_secs": 60, "starts_at": starts_at}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let sale: Value = res.json().await.unwrap();
    assert_eq!(sale["starts_at"], starts_at);
    let buyer = buyer(&app, "bea@example.com").await;
    let res = reserve(&app, &buyer, sale["id"].as_str().unwrap(), 1).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "sale_not_started");
}

#[tokio::test]
async fn a_reservation_is_acknowledged_with_its_deadline_and_the_sale_price() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let sale = immediate_sale(&app, &seller, &variant, 10, 2).await;
    let buyer = buyer(&app, "bea@example.com").await;
    let before = streamcart::store::now_ms();
    let res = reserve(&app, &buyer, sale["id"].as_str().unwrap(), 2).await;
    assert_eq!(res.status(), 201);
    let ack: Value = res.json().await.unwrap();
    assert!(ack["reserved_until"].as_i64().unwrap() > before);
    assert_eq!((ack["quantity"].as_i64(), ack["unit_price"].as_i64()), (Some(2), Some(990)));
    let res = reserve(&app, &buyer, sale["id"].as_str().unwrap(), 1).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "buyer_cap_reached");
    assert_eq!(stock(&app, &seller, "acme", &variant).await["reserved"], 2);
}

#[tokio::test]
async fn a_thousand_concurrent_buy_nows_reserve_exactly_the_sale_quantity_within_each_cap() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 500).await;
    let sale = immediate_sale(&app, &seller, &variant, 50, 2).await;
    let sale_id = sale["id"].as_str().unwrap().to_string();
    let tokens = buyers(&app, "rush", 100).await;
    let attempts = tokens.iter().enumerate().flat_map(|(i, token)| {
        let sale_id = sale_id.clone();
        let app = &app;
        (0..10).map(move |_| {
            let (token, sale_id) = (token.clone(), sale_id.clone());
            async move { (i, reserve(app, &token, &sale_id, 1).await.status().as_u16()) }
        })
    });
    let results = futures::future::join_all(attempts).await;
    let mut per_buyer: HashMap<usize, i64> = HashMap::new();
    for (buyer, status) in &results {
        assert!(matches!(status, 201 | 409), "unexpected status {status}");
        if *status == 201 {
            *per_buyer.entry(*buyer).or_default() += 1;
        }
    }
    assert_eq!(results.len(), 1_000);
    assert_eq!(per_buyer.values().sum::<i64>(), 50, "exactly the sale's quantity is reserved");
    assert!(per_buyer.values().all(|&n| n <= 2), "no buyer holds more than the cap: {per_buyer:?}");
    let level = stock(&app, &seller, "acme", &variant).await;
    assert_eq!((level["available"].as_i64(), level["reserved"].as_i64()), (Some(450), Some(50)));
    let sales: Value = app.client.get(app.url("/api/v1/rooms/show/sales")).send().await.unwrap().json().await.unwrap();
    assert_eq!(sales[0]["sold"], 50);
}

#[tokio::test]
async fn expired_reservations_give_their_units_back_and_the_band_updates() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (product_id, variant) = product(&app, &seller, "TEE-1", 2000, 3).await;
    assert_eq!(pin(&app, &seller, &product_id).await.status(), 201);
    let sale = immediate_sale(&app, &seller, &variant, 3, 3).await;
    let sale_id = sale["id"].as_str().unwrap();
    let (mut ws, _) = viewer(&app).await;
    let buyer = buyer(&app, "bea@example.com").await;
    let ack: Value = reserve(&app, &buyer, sale_id, 3).await.json().await.unwrap();
    ws.next_pub("sale.sold_out").await;
    let sold_out = ws.next_where(|v| v["event"]["kind"] == "stock.bands" && v["event"]["data"]["bands"][0]["stock"]["band"] == "sold_out").await;
    assert_eq!(sold_out["event"]["data"]["bands"][0]["variant_id"], variant.as_str());
    let other = crate::commerce::buyer(&app, "carl@example.com").await;
    assert_eq!(error_code(reserve(&app, &other, sale_id, 1).await).await, "sale_sold_out");

    // The sweeper's clock is stepped past the TTL instead of waiting for it.
    let store = same_store(&app).await;
    let released = store.release_expired_sale_reservations(ack["reserved_until"].as_i64().unwrap()).await.unwrap();
    assert_eq!(released.len(), 1);
    let level = stock(&app, &seller, "acme", &variant).await;
    assert_eq!((level["available"].as_i64(), level["reserved"].as_i64()), (Some(3), Some(0)));
    let back = ws.next_where(|v| v["event"]["kind"] == "stock.bands" && v["event"]["data"]["bands"][0]["stock"]["band"] == "low").await;
    assert_eq!(back["event"]["data"]["bands"][0]["stock"], json!({"band": "low", "left": 3}));
    assert_eq!(reserve(&app, &other, sale_id, 1).await.status(), 201, "the released units can be reserved again");
}

#[tokio::test]
async fn a_restarted_node_resumes_a_running_sale_with_its_deadline_and_reservations() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let sale = immediate_sale(&app, &seller, &variant, 10, 2).await;
    let sale_id = sale["id"].as_str().unwrap();
    let buyer = buyer(&app, "bea@example.com").await;
    assert_eq!(reserve(&app, &buyer, sale_id, 2).await.status(), 201);

    let restarted = spawn_app_sharing(&app).await;
    let sales: Value = restarted.client.get(restarted.url("/api/v1/rooms/show/sales")).send().await.unwrap().json().await.unwrap();
    assert_eq!(sales[0]["ends_at"], sale["ends_at"], "the countdown keeps its original deadline");
    assert_eq!(sales[0]["sold"], 2, "the acknowledged reservation is kept");
    assert_eq!(stock(&restarted, &seller, "acme", &variant).await["reserved"], 2);
    let res = reserve(&restarted, &buyer, sale_id, 1).await;
    assert_eq!(error_code(res).await, "buyer_cap_reached", "the cap still counts the earlier reservation");
}

#[tokio::test]
async fn a_reservation_checks_out_at_the_sale_price_and_is_paid_with_the_test_card() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 10).await;
    let sale = immediate_sale(&app, &seller, &variant, 5, 2).await;
    let buyer = buyer(&app, "bea@example.com").await;
    let ack: Value = reserve(&app, &buyer, sale["id"].as_str().unwrap(), 2).await.json().await.unwrap();
    let path = format!("/api/v1/rooms/show/reservations/{}/checkout", ack["reservation_id"].as_str().unwrap());
    let res = post(&app, &buyer, &path, json!({})).await;
    assert_eq!(res.status(), 201);
    let order: Value = res.json().await.unwrap();
    assert_eq!(order["expires_at"], ack["reserved_until"], "checkout must complete within the reservation's TTL");
    let again: Value = post(&app, &buyer, &path, json!({})).await.json().await.unwrap();
    assert_eq!(again["order_id"], order["order_id"], "a retry returns the same order");
    let order_id = order["order_id"].as_str().unwrap();
    let paid = app
        .client
        .post(app.url(&format!("/api/v1/orders/{order_id}/pay")))
        .bearer_auth(&buyer)
        .header("Idempotency-Key", "pay-1")
        .json(&json!({"card_number": crate::commerce::GOOD_CARD}))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 200);
    let view = crate::commerce::get(&app, &buyer, &format!("/api/v1/orders/{order_id}")).await;
    assert_eq!(view["status"], "paid");
    assert_eq!(view["items"][0]["unit_price"], 990);
    let level = stock(&app, &seller, "acme", &variant).await;
    assert_eq!((level["available"].as_i64(), level["reserved"].as_i64()), (Some(8), Some(0)));
}

#[tokio::test]
async fn someone_else_cannot_check_out_my_reservation() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 10).await;
    let sale = immediate_sale(&app, &seller, &variant, 5, 2).await;
    let buyer = buyer(&app, "bea@example.com").await;
    let ack: Value = reserve(&app, &buyer, sale["id"].as_str().unwrap(), 1).await.json().await.unwrap();
    let thief = crate::commerce::buyer(&app, "tom@example.com").await;
    let res = post(&app, &thief, &format!("/api/v1/rooms/show/reservations/{}/checkout", ack["reservation_id"].as_str().unwrap()), json!({})).await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_cancelled_sale_order_gives_its_units_back_to_the_sale() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 10).await;
    let sale = immediate_sale(&app, &seller, &variant, 2, 2).await;
    let buyer = buyer(&app, "bea@example.com").await;
    let order = reserved_and_checked_out(&app, &buyer, &sale, 2).await;
    let res = post(&app, &buyer, &format!("/api/v1/orders/{order}/cancel"), json!({})).await;
    assert_eq!(res.status(), 200);
    // Released by this call or, if it got there first, by the server's own sweeper (once either way).
    same_store(&app).await.release_abandoned_sale_orders().await.unwrap();
    let sales: Value = app.client.get(app.url("/api/v1/rooms/show/sales")).send().await.unwrap().json().await.unwrap();
    assert_eq!(sales[0]["sold"], 0);
    assert_eq!(reserve(&app, &buyer, sale["id"].as_str().unwrap(), 2).await.status(), 201, "the buyer's cap is free again");
}

#[tokio::test]
async fn a_late_joiner_sees_the_running_sale_and_the_viewer_count_in_the_snapshot() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let sale = immediate_sale(&app, &seller, &variant, 10, 2).await;
    let (_first, _) = viewer(&app).await;
    let (_late, state) = viewer(&app).await;
    assert_eq!(state["sales"][0]["id"], sale["id"]);
    assert_eq!(state["sales"][0]["ends_at"], sale["ends_at"]);
    assert!(state["presence"]["viewers"].as_u64().is_some(), "{state}");
}

#[tokio::test]
async fn a_suspended_shops_sale_refuses_buy_now_and_keeps_its_units() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 10).await;
    let sale = immediate_sale(&app, &seller, &variant, 5, 2).await;
    let admin = app.create_admin().await["access_token"].as_str().unwrap().to_string();
    assert_eq!(post(&app, &admin, "/api/v1/admin/shops/acme/suspend", json!({"reason": "counterfeit"})).await.status(), 200);

    let buyer = buyer(&app, "bea@example.com").await;
    let res = reserve(&app, &buyer, sale["id"].as_str().unwrap(), 1).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "shop_suspended");
    let sales: Value = app.client.get(app.url("/api/v1/rooms/show/sales")).send().await.unwrap().json().await.unwrap();
    assert_eq!(sales[0]["sold"], 0, "nothing was reserved");

    assert_eq!(post(&app, &admin, "/api/v1/admin/shops/acme/unsuspend", json!({})).await.status(), 200);
    assert_eq!(reserve(&app, &buyer, sale["id"].as_str().unwrap(), 1).await.status(), 201, "reinstated, the sale sells again");
}

#[tokio::test]
async fn checking_out_a_reservation_emails_order_placed_with_the_order() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 10).await;
    let sale = immediate_sale(&app, &seller, &variant, 5, 2).await;
    let buyer = buyer(&app, "bea@example.com").await;
    let order = reserved_and_checked_out(&app, &buyer, &sale, 1).await;
    let emails = same_store(&app).await.order_emails(&order).await.unwrap();
    let placed: Vec<_> = emails.iter().filter(|e| e.kind == "order_placed").collect();
    assert_eq!(placed.len(), 1, "{emails:?}");
    assert_eq!(placed[0].recipient, "bea@example.com");
    assert!(placed[0].body.contains("Flash sale order placed"), "{}", placed[0].body);
}
