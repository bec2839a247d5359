//! The signed payment webhook.

use serde_json::{json, Value};
use streamcart::commerce::webhook::signature_header;

use super::{add_to_cart, buyer, checkout, get, published_variant, seller_with_shop, webhook_secret, CONFIRM_LATER_CARD};
use crate::support::{error_code, spawn_app, TestApp};

/// A buyer's order waiting for an asynchronous confirmation; returns (buyer, order id, payment id).
async fn pending_payment(app: &TestApp) -> (String, String, String) {
    let seller = seller_with_shop(app, "sam@example.com", "acme").await;
    let variant = published_variant(app, &seller, "acme", "BAG", 5000, 4).await;
    let ann = buyer(app, "ann@example.com").await;
    add_to_cart(app, &ann, &variant, 1).await;
    let body: Value = checkout(app, &ann, "k", Some(CONFIRM_LATER_CARD)).await.json().await.unwrap();
    let order = &body["orders"][0];
    assert_eq!((order["status"].as_str(), order["payments"][0]["status"].as_str()), (Some("pending_payment"), Some("pending")));
    (ann, order["id"].as_str().unwrap().to_string(), order["payments"][0]["id"].as_str().unwrap().to_string())
}

async fn send(app: &TestApp, body: &str, signature: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/payments/webhook"))
        .header("Content-Type", "application/json")
        .header("Streamcart-Signature", signature)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn a_signed_webhook_confirms_a_pending_payment_and_pays_the_order() {
    let app = spawn_app().await;
    let (ann, order, payment) = pending_payment(&app).await;
    let body = json!({"type": "payment.succeeded", "payment_id": payment, "reference": "ch_123"}).to_string();
    let res = send(&app, &body, &signature_header(&webhook_secret(&app), now_secs(), body.as_bytes())).await;
    assert_eq!(res.status(), 200);
    assert_eq!(get(&app, &ann, &format!("/api/v1/orders/{order}")).await["status"], "paid");
    // A replay of the same event changes nothing more.
    let res = send(&app, &body, &signature_header(&webhook_secret(&app), now_secs(), body.as_bytes())).await;
    assert_eq!(res.status(), 200);
    let order = get(&app, &ann, &format!("/api/v1/orders/{order}")).await;
    assert_eq!(order["payments"].as_array().unwrap().len(), 1);
    assert_eq!(order["history"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_webhook_with_a_bad_signature_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let (ann, order, payment) = pending_payment(&app).await;
    let body = json!({"type": "payment.succeeded", "payment_id": payment}).to_string();
    let forged = signature_header(b"not-the-secret", now_secs(), body.as_bytes());
    let res = send(&app, &body, &forged).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "invalid_signature");
    let tampered = signature_header(&webhook_secret(&app), now_secs(), b"{\"type\":\"payment.failed\"}");
    assert_eq!(send(&app, &body, &tampered).await.status(), 400);
    assert_eq!(send(&app, &body, "garbage").await.status(), 400);
    let order = get(&app, &ann, &format!("/api/v1/orders/{order}")).await;
    assert_eq!((order["status"].as_str(), order["payments"][0]["status"].as_str()), (Some("pending_payment"), Some("pending")));
}

#[tokio::test]
async fn a_stale_webhook_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let (ann, order, payment) = pending_payment(&app).await;
    let body = json!({"type": "payment.succeeded", "payment_id": payment}).to_string();
    let old = signature_header(&webhook_secret(&app), now_secs() - 3600, body.as_bytes());
    let res = send(&app, &body, &old).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "stale_signature");
    let order = get(&app, &ann, &format!("/api/v1/orders/{order}")).await;
    assert_eq!((order["status"].as_str(), order["payments"][0]["status"].as_str()), (Some("pending_payment"), Some("pending")));
}

#[tokio::test]
async fn a_charge_confirmed_after_its_order_was_cancelled_is_given_back_to_the_card() {
    let app = spawn_app().await;
    let (ann, order, payment) = pending_payment(&app).await;
    let res = super::post(&app, &ann, &format!("/api/v1/orders/{order}/cancel"), json!({})).await;
    assert_eq!(res.status(), 200, "the buyer cancels while the charge waits for confirmation");
    let body = json!({"type": "payment.succeeded", "payment_id": payment, "reference": "ch_late"}).to_string();
    let res = send(&app, &body, &signature_header(&webhook_secret(&app), now_secs(), body.as_bytes())).await;
    assert_eq!(res.status(), 200);
    let order = get(&app, &ann, &format!("/api/v1/orders/{order}")).await;
    assert_eq!(order["status"], "cancelled", "a late charge does not revive a cancelled order");
    let paid = &order["payments"][0];
    assert_eq!(paid["status"], "refunded", "{paid}");
    assert!(paid["amount"].as_i64().unwrap() > 0);
    assert_eq!(paid["card_refunded"], paid["amount"], "the whole charge (goods and shipping) went back to the card through the provider: {paid}");
}

#[tokio::test]
async fn the_sweeper_gives_back_a_late_charge_the_request_could_not() {
    use streamcart::commerce::payments::{ChargeOutcome, TestPaymentProvider};
    let app = spawn_app().await;
    let (ann, order, payment) = pending_payment(&app).await;
    assert_eq!(super::post(&app, &ann, &format!("/api/v1/orders/{order}/cancel"), json!({})).await.status(), 200);
    // Settled straight in the store, as if the process stopped before asking the provider.
    let store = super::same_store(&app).await;
    let settled = store.settle_payment(&payment, &ChargeOutcome::Succeeded { provider_ref: "ch_late".into() }).await.unwrap();
    assert_eq!((settled.status.as_str(), settled.refunded_amount), ("refunded", 0));
    assert_eq!(streamcart::commerce::return_late_charges(&store, &TestPaymentProvider, None).await.unwrap(), 1);
    let paid = &get(&app, &ann, &format!("/api/v1/orders/{order}")).await["payments"][0];
    assert_eq!(paid["card_refunded"], paid["amount"], "{paid}");
    assert_eq!(streamcart::commerce::return_late_charges(&store, &TestPaymentProvider, None).await.unwrap(), 0, "given back once");
}
