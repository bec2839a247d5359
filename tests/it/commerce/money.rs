//! Money after checkout: partial and full refunds, the double-entry ledger and
//! the seller's wallet.

use serde_json::{json, Value};

use super::{add_to_cart, buyer, checkout, get, post, published_variant, same_store, seller_with_shop, stock, GOOD_CARD};
use crate::support::{error_code, spawn_app, TestApp};

/// A paid order of `quantity` units at `price`; returns its body.
async fn paid_order(app: &TestApp, buyer_email: &str, variant: &str, quantity: i64) -> (String, Value) {
    let token = buyer(app, buyer_email).await;
    add_to_cart(app, &token, variant, quantity).await;
    let body: Value = checkout(app, &token, &format!("buy-{buyer_email}"), Some(GOOD_CARD)).await.json().await.unwrap();
    assert_eq!(body["orders"][0]["status"], "paid", "{body}");
    (token, body["orders"][0].clone())
}

async fn refund(app: &TestApp, seller: &str, order: &str, key: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/shops/acme/orders/{order}/refunds")))
        .bearer_auth(seller)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn set_status(app: &TestApp, seller: &str, order: &str, body: Value) {
    let res = post(app, seller, &format!("/api/v1/shops/acme/orders/{order}/status"), body.clone()).await;
    assert_eq!(res.status(), 200, "{body}");
}

async fn complete(app: &TestApp, seller: &str, order: &str) {
    set_status(app, seller, order, json!({"status": "shipped", "tracking_number": "TRK"})).await;
    set_status(app, seller, order, json!({"status": "delivered"})).await;
    set_status(app, seller, order, json!({"status": "completed"})).await;
}

#[tokio::test]
async fn refunding_returned_items_gives_back_their_value_puts_them_in_stock_and_shows_in_the_history() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "MUG", 2000, 10).await;
    let (ann, order) = paid_order(&app, "ann@example.com", &variant, 3).await;
    let id = order["id"].as_str().unwrap();

    let res = refund(&app, &seller, id, "r1", json!({"items": [{"variant_id": variant, "quantity": 1}], "reason": "chipped"})).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!((body["refund"]["amount"].as_i64(), body["refund"]["restocked"].as_bool()), (Some(2000), Some(true)));
    assert_eq!(body["order"]["status"], "paid", "a partial refund keeps the order going");
    assert_eq!(body["order"]["refunded_amount"], 2000);
    assert_eq!(body["order"]["items"][0]["returned_quantity"], 1);
    assert_eq!(stock(&app, &seller, "acme", &variant).await["available"], 8, "10 - 3 sold + 1 returned");
    let movements = get(&app, &seller, &format!("/api/v1/shops/acme/variants/{variant}/stock/movements")).await;
    let last = movements["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["kind"].as_str(), last["available_delta"].as_i64()), (Some("refund_return"), Some(1)), "oldest first: the return is last");

    let seen = get(&app, &ann, &format!("/api/v1/orders/{id}")).await;
    let last = seen["history"].as_array().unwrap().last().unwrap().clone();
    assert!(last["note"].as_str().unwrap().contains("refunded 2000"), "{last}");
    let notes = get(&app, &ann, "/api/v1/notifications").await;
    assert_eq!(notes["items"][0]["kind"], "order_partially_refunded");

    let res = refund(&app, &seller, id, "r2", json!({"items": [{"variant_id": variant, "quantity": 3}]})).await;
    assert_eq!(res.status(), 409, "only 2 of 3 are left to return");
    assert_eq!(error_code(res).await, "return_exceeds_ordered");
}

#[tokio::test]
async fn refunding_the_rest_moves_the_order_to_refunded() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "MUG", 2000, 10).await;
    let (_, order) = paid_order(&app, "ann@example.com", &variant, 1).await;
    let id = order["id"].as_str().unwrap();
    let total = order["total"].as_i64().unwrap();

    assert_eq!(refund(&app, &seller, id, "part", json!({"amount": 500, "restock": false})).await.status(), 201);
    let res = refund(&app, &seller, id, "too-much", json!({"amount": total})).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "refund_exceeds_captured");
    let res = refund(&app, &seller, id, "rest", json!({"restock": false})).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["refund"]["amount"].as_i64(), Some(total - 500));
    assert_eq!((body["order"]["status"].as_str(), body["order"]["refunded_amount"].as_i64()), (Some("refunded"), Some(total)));
    assert_eq!(body["order"]["payments"][0]["status"], "refunded");
    let res = refund(&app, &seller, id, "after", json!({"amount": 1})).await;
    assert_eq!(res.status(), 409, "nothing is left to refund on a refunded order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refunds_never_give_back_more_than_was_captured() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "LAMP", 5000, 10).await;
    let (_, order) = paid_order(&app, "ann@example.com", &variant, 1).await;
    let id = order["id"].as_str().unwrap();
    let total = order["total"].as_i64().unwrap();
    let each = 1000;

    let results = futures::future::join_all((0..20).map(|i| {
        let (app, seller) = (&app, &seller);
        async move {
            let res = refund(app, seller, id, &format!("race-{i}"), json!({"amount": each, "restock": false})).await;
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    }))
    .await;
    let granted = results.iter().filter(|(s, _)| *s == 201).count() as i64;
    let refused = results.iter().filter(|(s, b)| *s == 409 && b["error"]["code"] == "refund_exceeds_captured").count() as i64;
    assert_eq!((granted, refused), (total / each, 20 - total / each));
    let seen = get(&app, &seller, &format!("/api/v1/orders/{id}")).await;
    assert_eq!(seen["refunded_amount"].as_i64(), Some(granted * each));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_of_one_refund_with_one_idempotency_key_refund_once() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "LAMP", 5000, 10).await;
    let (_, order) = paid_order(&app, "ann@example.com", &variant, 1).await;
    let id = order["id"].as_str().unwrap();
    let results = futures::future::join_all((0..10).map(|_| {
        let (app, seller) = (&app, &seller);
        async move { refund(app, seller, id, "same-key", json!({"amount": 700})).await.status().as_u16() }
    }))
    .await;
    assert!(results.iter().all(|s| *s == 201), "{results:?}");
    assert_eq!(get(&app, &seller, &format!("/api/v1/orders/{id}")).await["refunded_amount"], 700);
}

#[tokio::test]
async fn an_unpaid_order_cannot_be_refunded() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "LAMP", 5000, 10).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &variant, 1).await;
    let body: Value = checkout(&app, &ann, "k", None).await.json().await.unwrap();
    let id = body["orders"][0]["id"].as_str().unwrap();
    let res = refund(&app, &seller, id, "r", json!({"amount": 100})).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "illegal_transition");
    assert_eq!(refund(&app, &seller, id, "r2", json!({"amount": -5})).await.status(), 400);
}

#[tokio::test]
async fn the_ledger_sums_to_zero_after_a_mixed_scenario_and_the_wallet_holds_the_sellers_share() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "BOOT", 6000, 50).await;

    // Ann: 2 boots (free shipping), one returned, the order completed.
    let (_, ann_order) = paid_order(&app, "ann@example.com", &variant, 2).await;
    let ann_id = ann_order["id"].as_str().unwrap();
    assert_eq!(refund(&app, &seller, ann_id, "ann-1", json!({"items": [{"variant_id": variant, "quantity": 1}]})).await.status(), 201);
    complete(&app, &seller, ann_id).await;
    // Bob: one boot, fully refunded with restock.
    let (_, bob_order) = paid_order(&app, "bob@example.com", &variant, 1).await;
    set_status(&app, &seller, bob_order["id"].as_str().unwrap(), json!({"status": "refunded", "restock": true})).await;
    // Cat: an unpaid order, cancelled.
    let cat = buyer(&app, "cat@example.com").await;
    add_to_cart(&app, &cat, &variant, 1).await;
    let cat_body: Value = checkout(&app, &cat, "cat", None).await.json().await.unwrap();
    assert_eq!(post(&app, &cat, &format!("/api/v1/orders/{}/cancel", cat_body["orders"][0]["id"].as_str().unwrap()), json!({})).await.status(), 200);
    // Dan: completed, then 1000 refunded out of the seller's wallet.
    let (_, dan_order) = paid_order(&app, "dan@example.com", &variant, 1).await;
    let dan_id = dan_order["id"].as_str().unwrap();
    let dan_total = dan_order["total"].as_i64().unwrap();
    complete(&app, &seller, dan_id).await;
    assert_eq!(refund(&app, &seller, dan_id, "dan-1", json!({"amount": 1000, "restock": false})).await.status(), 201);
    // Eve: paid, still open (its money waits in clearing).
    let (_, eve_order) = paid_order(&app, "eve@example.com", &variant, 1).await;

    let store = same_store(&app).await;
    let balances = store.ledger_balances().await.unwrap();
    assert_eq!(balances.iter().map(|(_, _, b)| b).sum::<i64>(), 0, "double entry: {balances:?}");
    let of = |account: &str| balances.iter().filter(|(a, _, _)| a == account).map(|(_, _, b)| *b).sum::<i64>();
    assert_eq!(of("clearing:customer_payments"), eve_order["total"].as_i64().unwrap(), "only the open order's money is still held");
    // 5 % fee (the default) on what each completed order kept.
    let ann_net = ann_order["total"].as_i64().unwrap() - 6000;
    let fees = ann_net * 500 / 10_000 + dan_total * 500 / 10_000;
    assert_eq!(of("platform:fees"), fees);

    let wallet = get(&app, &seller, "/api/v1/shops/acme/wallet").await;
    let expected = ann_net + dan_total - fees - 1000;
    assert_eq!(wallet["balances"], json!([{"currency": "USD", "balance": expected}]));
    let kinds: Vec<&str> = wallet["entries"]["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["refund", "seller_payout", "seller_payout"], "newest first");
    let first = get(&app, &seller, "/api/v1/shops/acme/wallet?limit=2").await;
    let cursor = first["entries"]["next_cursor"].as_str().unwrap();
    let rest = get(&app, &seller, &format!("/api/v1/shops/acme/wallet?limit=2&cursor={cursor}")).await;
    assert_eq!(rest["entries"]["items"].as_array().unwrap().len(), 1);
    assert_eq!(stock(&app, &seller, "acme", &variant).await["available"], 50 - 2 + 1 - 1 + 1 - 1 - 1, "returns and the cancelled hold came back");
}

#[tokio::test]
async fn a_seller_of_another_shop_cannot_refund_or_read_this_shops_wallet() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let rival = seller_with_shop(&app, "rita@example.com", "rival").await;
    let variant = published_variant(&app, &seller, "acme", "LAMP", 5000, 10).await;
    let (_, order) = paid_order(&app, "ann@example.com", &variant, 1).await;
    let id = order["id"].as_str().unwrap();
    assert_eq!(refund(&app, &rival, id, "x", json!({"amount": 100})).await.status(), 403);
    assert_eq!(app.get_authed("/api/v1/shops/acme/wallet", &rival).await.status(), 403);
    assert_eq!(get(&app, &seller, &format!("/api/v1/orders/{id}")).await["refunded_amount"], 0);
}
