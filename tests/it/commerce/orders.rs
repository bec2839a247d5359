//! Checkout, payment, the order state machine, delivery and notifications.

use serde_json::{json, Value};

use super::{add_to_cart, buyer, checkout, get, post, published_variant, seller_with_shop, stock, DECLINED_CARD, GOOD_CARD};
use crate::support::{error_code, spawn_app};

#[tokio::test]
async fn checking_out_with_a_test_card_pays_the_order_and_sells_the_stock() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "BAG", 5000, 4).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &variant, 2).await;
    let res = checkout(&app, &ann, "first", Some(GOOD_CARD)).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let order = &body["orders"][0];
    assert_eq!(order["status"], "paid");
    assert_eq!(order["subtotal"], 10000);
    assert_eq!(order["payments"][0]["status"], "succeeded");
    assert_eq!(order["payments"][0]["amount"], order["total"]);
    let level = stock(&app, &seller, "acme", &variant).await;
    assert_eq!((level["available"].as_i64(), level["reserved"].as_i64()), (Some(2), Some(0)));
    let mine = get(&app, &ann, "/api/v1/orders").await;
    assert_eq!(mine["items"][0]["id"], order["id"]);
}

#[tokio::test]
async fn a_declined_card_leaves_the_order_payable_and_tells_the_buyer() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "BAG", 5000, 4).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &variant, 1).await;
    let body: Value = checkout(&app, &ann, "k", Some(DECLINED_CARD)).await.json().await.unwrap();
    let order = &body["orders"][0];
    assert_eq!((order["status"].as_str(), order["payments"][0]["status"].as_str()), (Some("pending_payment"), Some("failed")));
    assert_eq!(order["payments"][0]["failure"], "card_declined");
    let id = order["id"].as_str().unwrap();
    let notes = get(&app, &ann, "/api/v1/notifications").await;
    assert_eq!(notes["items"][0]["kind"], "payment_failed");

    let retry = app.client.post(app.url(&format!("/api/v1/orders/{id}/pay"))).bearer_auth(&ann).header("Idempotency-Key", "pay-2").json(&json!({"card_number": GOOD_CARD})).send().await.unwrap();
    assert_eq!(retry.status(), 200);
    let paid: Value = retry.json().await.unwrap();
    assert_eq!(paid["order"]["status"], "paid");
    let again = app.client.post(app.url(&format!("/api/v1/orders/{id}/pay"))).bearer_auth(&ann).header("Idempotency-Key", "pay-3").json(&json!({"card_number": GOOD_CARD})).send().await.unwrap();
    assert_eq!(again.status(), 409, "a paid order cannot be charged again");
}

#[tokio::test]
async fn shipping_an_unpaid_order_is_an_illegal_transition_naming_the_current_status() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "BAG", 5000, 4).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &variant, 1).await;
    let body: Value = checkout(&app, &ann, "k", None).await.json().await.unwrap();
    let id = body["orders"][0]["id"].as_str().unwrap();
    let res = post(&app, &seller, &format!("/api/v1/shops/acme/orders/{id}/status"), json!({"status": "shipped", "tracking_number": "TRK1"})).await;
    assert_eq!(res.status(), 409);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "illegal_transition");
    assert!(err["error"]["message"].as_str().unwrap().contains("pending_payment"), "{err}");
    let res = post(&app, &seller, &format!("/api/v1/shops/acme/orders/{id}/status"), json!({"status": "delivered"})).await;
    assert_eq!(res.status(), 409);
    assert_eq!(get(&app, &ann, &format!("/api/v1/orders/{id}")).await["status"], "pending_payment");
}

#[tokio::test]
async fn a_seller_ships_and_delivers_and_the_buyer_follows_along() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "BAG", 5000, 4).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &variant, 1).await;
    let body: Value = checkout(&app, &ann, "k", Some(GOOD_CARD)).await.json().await.unwrap();
    let id = body["orders"][0]["id"].as_str().unwrap();
    let path = format!("/api/v1/shops/acme/orders/{id}/status");
    assert_eq!(post(&app, &seller, &path, json!({"status": "fulfilling"})).await.status(), 200);
    let shipped: Value = post(&app, &seller, &path, json!({"status": "shipped", "carrier": "ups", "tracking_number": "1Z999"})).await.json().await.unwrap();
    assert_eq!((shipped["status"].as_str(), shipped["tracking_number"].as_str()), (Some("shipped"), Some("1Z999")));
    assert_eq!(post(&app, &seller, &path, json!({"status": "delivered"})).await.status(), 200);

    let order = get(&app, &ann, &format!("/api/v1/orders/{id}")).await;
    let history: Vec<&str> = order["history"].as_array().unwrap().iter().map(|e| e["to_status"].as_str().unwrap()).collect();
    assert_eq!(history, vec!["pending_payment", "paid", "fulfilling", "shipped", "delivered"]);
    let notes = get(&app, &ann, "/api/v1/notifications?unread=true").await;
    let kinds: Vec<&str> = notes["items"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["order_delivered", "order_shipped", "order_fulfilling", "order_paid", "order_placed"]);
    let first = notes["items"][0]["id"].as_str().unwrap();
    assert_eq!(post(&app, &ann, &format!("/api/v1/notifications/{first}/read"), json!({})).await.status(), 200);
    let unread = get(&app, &ann, "/api/v1/notifications?unread=true").await;
    assert_eq!(unread["items"].as_array().unwrap().len(), 4);
    let seller_notes = get(&app, &seller, "/api/v1/notifications").await;
    assert!(seller_notes["items"].as_array().unwrap().iter().any(|n| n["kind"] == "new_order"));
    assert_eq!(post(&app, &seller, &format!("/api/v1/notifications/{first}/read"), json!({})).await.status(), 404, "not the seller's notification");
}

#[tokio::test]
async fn a_seller_of_another_shop_cannot_see_or_change_this_shops_orders() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let rival = seller_with_shop(&app, "rita@example.com", "rival").await;
    let variant = published_variant(&app, &seller, "acme", "BAG", 5000, 4).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &variant, 1).await;
    let body: Value = checkout(&app, &ann, "k", Some(GOOD_CARD)).await.json().await.unwrap();
    let id = body["orders"][0]["id"].as_str().unwrap();

    assert_eq!(app.get_authed("/api/v1/shops/acme/orders", &rival).await.status(), 403);
    assert_eq!(app.get_authed(&format!("/api/v1/orders/{id}"), &rival).await.status(), 404);
    let res = post(&app, &rival, &format!("/api/v1/shops/acme/orders/{id}/status"), json!({"status": "refunded"})).await;
    assert_eq!(res.status(), 403);
    let res = post(&app, &rival, &format!("/api/v1/shops/rival/orders/{id}/status"), json!({"status": "refunded"})).await;
    assert_eq!(res.status(), 404);
    assert_eq!(error_code(res).await, "order_not_found");
    let rival_orders = get(&app, &rival, "/api/v1/shops/rival/orders").await;
    assert_eq!(rival_orders["items"], json!([]));
    let acme_orders = get(&app, &seller, "/api/v1/shops/acme/orders?status=paid").await;
    assert_eq!(acme_orders["items"][0]["id"].as_str(), Some(id));
    assert_eq!(get(&app, &ann, &format!("/api/v1/orders/{id}")).await["status"], "paid");
}

#[tokio::test]
async fn cancelling_an_unpaid_order_releases_its_stock() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "BAG", 5000, 4).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &variant, 3).await;
    let body: Value = checkout(&app, &ann, "k", None).await.json().await.unwrap();
    let id = body["orders"][0]["id"].as_str().unwrap();
    assert_eq!(stock(&app, &seller, "acme", &variant).await["reserved"], 3);
    let res = post(&app, &ann, &format!("/api/v1/orders/{id}/cancel"), json!({})).await;
    assert_eq!(res.status(), 200);
    let level = stock(&app, &seller, "acme", &variant).await;
    assert_eq!((level["available"].as_i64(), level["reserved"].as_i64()), (Some(4), Some(0)));
    let res = post(&app, &ann, &format!("/api/v1/orders/{id}/cancel"), json!({})).await;
    assert_eq!(res.status(), 409);
}

#[tokio::test]
async fn checkout_needs_an_idempotency_key_and_a_key_reused_for_another_request_is_refused() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "BAG", 5000, 4).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &variant, 1).await;
    let res = post(&app, &ann, "/api/v1/checkout", json!({})).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "missing_idempotency_key");
    assert_eq!(checkout(&app, &ann, "same", None).await.status(), 201);
    let res = checkout(&app, &ann, "same", Some(GOOD_CARD)).await;
    assert_eq!(res.status(), 422);
    assert_eq!(error_code(res).await, "idempotency_key_reused");
    let res = checkout(&app, &ann, "fresh", None).await;
    assert_eq!(res.status(), 409, "the cart is empty now");
    assert_eq!(error_code(res).await, "cart_empty");
}

#[tokio::test]
async fn buying_more_than_is_in_stock_is_refused_and_holds_nothing() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "BAG", 5000, 2).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &variant, 3).await;
    let res = checkout(&app, &ann, "k", Some(GOOD_CARD)).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "out_of_stock");
    let level = stock(&app, &seller, "acme", &variant).await;
    assert_eq!((level["available"].as_i64(), level["reserved"].as_i64()), (Some(2), Some(0)));
    assert_eq!(get(&app, &ann, "/api/v1/orders").await["items"], json!([]));
}

#[tokio::test]
async fn an_unpaid_order_expires_and_releases_its_stock_while_a_paid_one_stays() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "BAG", 5000, 5).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &variant, 2).await;
    let unpaid: Value = checkout(&app, &ann, "unpaid", None).await.json().await.unwrap();
    add_to_cart(&app, &ann, &variant, 1).await;
    let paid: Value = checkout(&app, &ann, "paid", Some(GOOD_CARD)).await.json().await.unwrap();
    let expires_at = unpaid["orders"][0]["expires_at"].as_i64().unwrap();

    // The sweeper runs every 30 s; step it directly with a clock past the hold instead of waiting.
    let store = super::same_store(&app).await;
    assert_eq!(store.expire_unpaid_orders(expires_at - 1).await.unwrap(), 0, "not before its time");
    assert_eq!(store.expire_unpaid_orders(expires_at).await.unwrap(), 1);

    let unpaid_id = unpaid["orders"][0]["id"].as_str().unwrap();
    assert_eq!(get(&app, &ann, &format!("/api/v1/orders/{unpaid_id}")).await["status"], "cancelled");
    let paid_id = paid["orders"][0]["id"].as_str().unwrap();
    assert_eq!(get(&app, &ann, &format!("/api/v1/orders/{paid_id}")).await["status"], "paid");
    let level = stock(&app, &seller, "acme", &variant).await;
    assert_eq!((level["available"].as_i64(), level["reserved"].as_i64()), (Some(4), Some(0)));
    let notes = get(&app, &ann, "/api/v1/notifications").await;
    assert!(notes["items"].as_array().unwrap().iter().any(|n| n["kind"] == "order_expired"));
}

#[tokio::test]
async fn a_payment_abandoned_mid_charge_is_failed_by_the_sweeper_and_the_order_can_be_paid_again() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "BAG", 5000, 5).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &variant, 1).await;
    let body: Value = checkout(&app, &ann, "k", None).await.json().await.unwrap();
    let id = body["orders"][0]["id"].as_str().unwrap();
    // A charge that started and never reported back (the process died mid-call).
    let store = super::same_store(&app).await;
    store.begin_payment(id, "test", streamcart::commerce::store::WalletUse::None, true).await.unwrap();
    let pay = |key: &'static str| app.client.post(app.url(&format!("/api/v1/orders/{id}/pay"))).bearer_auth(&ann).header("Idempotency-Key", key).json(&json!({"card_number": GOOD_CARD})).send();
    assert_eq!(pay("p1").await.unwrap().status(), 409, "one live payment per order");
    assert_eq!(store.fail_abandoned_payments(streamcart::store::now_ms() + 1).await.unwrap(), 1);
    let res = pay("p2").await.unwrap();
    assert_eq!(res.status(), 200);
    let paid: Value = res.json().await.unwrap();
    assert_eq!(paid["order"]["status"], "paid");
    let statuses: Vec<&str> = paid["order"]["payments"].as_array().unwrap().iter().map(|p| p["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["failed", "succeeded"]);
}

#[tokio::test]
async fn the_openapi_document_describes_the_commerce_endpoints() {
    let app = spawn_app().await;
    let doc: Value = app.client.get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    for path in [
        "/api/v1/shops/{shop}/products",
        "/api/v1/search",
        "/api/v1/cart",
        "/api/v1/checkout",
        "/api/v1/orders/{id}/pay",
        "/api/v1/shops/{shop}/orders/{id}/status",
        "/api/v1/payments/webhook",
        "/api/v1/notifications",
        "/api/v1/shops/{shop}/variants/{id}/stock/movements",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
}

#[tokio::test]
async fn the_buyer_and_the_seller_can_print_an_invoice_and_nobody_else_can() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let rival = seller_with_shop(&app, "rita@example.com", "rival").await;
    let p = super::product(&app, &seller, "acme", "<script>alert(1)</script> mug", &[("MUG-1", 1250, 5)]).await;
    let pid = p["id"].as_str().unwrap();
    post(&app, &seller, &format!("/api/v1/shops/acme/products/{pid}/publish"), json!({})).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, p["variants"][0]["id"].as_str().unwrap(), 2).await;
    let body: Value = checkout(&app, &ann, "k", Some(GOOD_CARD)).await.json().await.unwrap();
    let id = body["orders"][0]["id"].as_str().unwrap();
    let path = format!("/api/v1/orders/{id}/invoice");
    let res = app.get_authed(&path, &ann).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains("MUG-1") && html.contains("25.00 USD"), "{html}");
    assert!(!html.contains("<script>"), "product titles are escaped");
    assert_eq!(app.get_authed(&path, &seller).await.status(), 200);
    assert_eq!(app.get_authed(&path, &rival).await.status(), 404);
}
