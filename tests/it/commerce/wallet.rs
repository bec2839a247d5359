//! The customer's wallet (store credit): issued by an admin or by a refund,
//! spent at pay time wholly or with the card paying the rest, never below
//! zero however many payments race for it; refunds going back through the
//! payment provider; the suspended shop's orders and live rooms.

use serde_json::{json, Value};

use super::{add_to_cart, buyer, checkout, get, post, published_variant, same_store, seller_with_shop, DECLINED_CARD, GOOD_CARD};
use crate::support::{error_code, spawn_app, TestApp};

const REFUND_FAILS_CARD: &str = "4000000000005126";

async fn admin(app: &TestApp) -> String {
    app.create_admin().await["access_token"].as_str().unwrap().to_string()
}

async fn user_id(app: &TestApp, token: &str) -> String {
    get(app, token, "/api/v1/me").await["user"]["id"].as_str().map(str::to_string).unwrap_or_else(|| panic!("me has an id"))
}

async fn credit(app: &TestApp, admin: &str, user: &str, amount: i64, key: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/admin/users/{user}/wallet/credits")))
        .bearer_auth(admin)
        .header("Idempotency-Key", key)
        .json(&json!({"amount": amount, "currency": "USD", "reason": "sorry about the delay"}))
        .send()
        .await
        .unwrap()
}

async fn balance(app: &TestApp, token: &str) -> i64 {
    let wallet = get(app, token, "/api/v1/wallet").await;
    wallet["balances"].as_array().unwrap().iter().find(|b| b["currency"] == "USD").map(|b| b["balance"].as_i64().unwrap()).unwrap_or(0)
}

async fn pay(app: &TestApp, token: &str, order: &str, key: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url(&format!("/api/v1/orders/{order}/pay"))).bearer_auth(token).header("Idempotency-Key", key).json(&body).send().await.unwrap()
}

/// A pending order of one unit; returns (id, total).
async fn pending_order(app: &TestApp, token: &str, variant: &str, key: &str) -> (String, i64) {
    add_to_cart(app, token, variant, 1).await;
    let res = checkout(app, token, key, None).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    (body["orders"][0]["id"].as_str().unwrap().to_string(), body["orders"][0]["total"].as_i64().unwrap())
}

async fn refund(app: &TestApp, seller: &str, order: &str, key: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url(&format!("/api/v1/shops/acme/orders/{order}/refunds"))).bearer_auth(seller).header("Idempotency-Key", key).json(&body).send().await.unwrap()
}

/// The ledger sums to zero, no wallet money is left on hold, and every wallet counter equals its postings.
async fn assert_books_balance(app: &TestApp) {
    let store = same_store(app).await;
    let balances = store.ledger_balances().await.unwrap();
    assert_eq!(balances.iter().map(|(_, _, b)| b).sum::<i64>(), 0, "double entry: {balances:?}");
    let held: i64 = balances.iter().filter(|(a, _, _)| a == "clearing:wallet_holds").map(|(_, _, b)| b).sum();
    assert_eq!(held, 0, "no payment is in flight");
    for (account, currency, counter) in store.wallet_counters().await.unwrap() {
        let posted: i64 = balances.iter().filter(|(a, c, _)| *a == account && *c == currency).map(|(_, _, b)| b).sum();
        assert_eq!(counter, posted, "{account} {currency}: the counter is the sum of its postings");
        assert!(counter >= 0);
    }
}

#[tokio::test]
async fn store_credit_pays_a_whole_order_and_its_movements_show_in_the_wallet() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "MUG", 2000, 10).await;
    let ann = buyer(&app, "ann@example.com").await;
    let ann_id = user_id(&app, &ann).await;
    assert_eq!(credit(&app, &admin, &ann_id, 50_000, "c1").await.status(), 201);
    assert_eq!(credit(&app, &admin, &ann_id, 50_000, "c1").await.status(), 201, "a retry is replayed");
    assert_eq!(balance(&app, &ann).await, 50_000, "and credits once");

    add_to_cart(&app, &ann, &variant, 1).await;
    let res = app.client.post(app.url("/api/v1/checkout")).bearer_auth(&ann).header("Idempotency-Key", "k").json(&json!({"payment": {"use_wallet": true}})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let order = &body["orders"][0];
    let total = order["total"].as_i64().unwrap();
    assert_eq!(order["status"], "paid", "{body}");
    let payment = &order["payments"][0];
    assert_eq!((payment["provider"].as_str(), payment["wallet_amount"].as_i64(), payment["card_amount"].as_i64()), (Some("wallet"), Some(total), Some(0)));
    assert_eq!(balance(&app, &ann).await, 50_000 - total);
    let wallet = get(&app, &ann, "/api/v1/wallet").await;
    let kinds: Vec<&str> = wallet["entries"]["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["wallet_hold", "store_credit"], "newest first");
    assert_eq!(wallet["entries"]["items"][0]["amount"].as_i64(), Some(-total));
    assert_books_balance(&app).await;
}

#[tokio::test]
async fn a_partial_wallet_payment_charges_only_the_rest_to_the_card() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "MUG", 2000, 10).await;
    let ann = buyer(&app, "ann@example.com").await;
    credit(&app, &admin, &user_id(&app, &ann).await, 500, "c").await;
    let (order, total) = pending_order(&app, &ann, &variant, "k").await;
    let res = pay(&app, &ann, &order, "p", json!({"card_number": GOOD_CARD, "use_wallet": true})).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["order"]["status"], "paid");
    assert_eq!((body["payment"]["wallet_amount"].as_i64(), body["payment"]["card_amount"].as_i64()), (Some(500), Some(total - 500)));
    assert_eq!(balance(&app, &ann).await, 0);
    assert_books_balance(&app).await;
}

#[tokio::test]
async fn a_declined_card_gives_the_wallet_part_back() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "MUG", 2000, 10).await;
    let ann = buyer(&app, "ann@example.com").await;
    credit(&app, &admin, &user_id(&app, &ann).await, 700, "c").await;
    let (order, _) = pending_order(&app, &ann, &variant, "k").await;
    let res = pay(&app, &ann, &order, "p", json!({"card_number": DECLINED_CARD, "wallet_amount": 700})).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!((body["order"]["status"].as_str(), body["payment"]["status"].as_str()), (Some("pending_payment"), Some("failed")));
    assert_eq!(balance(&app, &ann).await, 700);
    let kinds: Vec<String> = get(&app, &ann, "/api/v1/wallet").await["entries"]["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, vec!["wallet_release", "wallet_hold", "store_credit"]);
    assert_books_balance(&app).await;
}

#[tokio::test]
async fn without_a_card_the_wallet_must_cover_the_total_and_nothing_is_spent_otherwise() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "MUG", 2000, 10).await;
    let ann = buyer(&app, "ann@example.com").await;
    credit(&app, &admin, &user_id(&app, &ann).await, 100, "c").await;
    let (order, total) = pending_order(&app, &ann, &variant, "k").await;
    let res = pay(&app, &ann, &order, "p1", json!({"use_wallet": true})).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "card_required");
    let res = pay(&app, &ann, &order, "p2", json!({"card_number": GOOD_CARD, "wallet_amount": 101})).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "insufficient_wallet_balance");
    let res = pay(&app, &ann, &order, "p3", json!({"card_number": GOOD_CARD, "wallet_amount": total + 1})).await;
    assert_eq!(res.status(), 422);
    assert_eq!(pay(&app, &ann, &order, "p4", json!({})).await.status(), 400, "some way to pay is needed");
    assert_eq!(balance(&app, &ann).await, 100);
    assert_eq!(get(&app, &ann, &format!("/api/v1/orders/{order}")).await["payments"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_payments_never_spend_more_than_the_wallet_holds() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "MUG", 2000, 50).await;
    let ann = buyer(&app, "ann@example.com").await;
    let mut orders = Vec::new();
    for i in 0..12 {
        orders.push(pending_order(&app, &ann, &variant, &format!("k{i}")).await);
    }
    let total = orders[0].1;
    assert!(orders.iter().all(|(_, t)| *t == total));
    credit(&app, &admin, &user_id(&app, &ann).await, 3 * total + total / 2, "c").await;

    let results = futures::future::join_all(orders.iter().enumerate().map(|(i, (order, _))| {
        let (app, ann) = (&app, &ann);
        async move {
            let res = pay(app, ann, order, &format!("race-{i}"), json!({"use_wallet": true})).await;
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    }))
    .await;
    let paid = results.iter().filter(|(s, b)| *s == 200 && b["order"]["status"] == "paid").count();
    let refused = results.iter().filter(|(s, b)| *s == 409 && b["error"]["code"] == "card_required").count();
    assert_eq!((paid, refused), (3, 9), "{results:?}");
    assert_eq!(balance(&app, &ann).await, total / 2);
    assert_books_balance(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_of_one_wallet_payment_with_one_idempotency_key_spend_once() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "MUG", 2000, 10).await;
    let ann = buyer(&app, "ann@example.com").await;
    let (order, total) = pending_order(&app, &ann, &variant, "k").await;
    credit(&app, &admin, &user_id(&app, &ann).await, 10 * total, "c").await;
    let statuses = futures::future::join_all((0..10).map(|_| {
        let (app, ann, order) = (&app, &ann, &order);
        async move { pay(app, ann, order, "same", json!({"use_wallet": true})).await.status().as_u16() }
    }))
    .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(balance(&app, &ann).await, 9 * total);
    assert_eq!(get(&app, &ann, &format!("/api/v1/orders/{order}")).await["payments"].as_array().unwrap().len(), 1);
    assert_books_balance(&app).await;
}

#[tokio::test]
async fn a_refund_of_a_split_payment_returns_the_card_part_through_the_provider_and_the_rest_to_the_wallet() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "MUG", 2000, 10).await;
    let ann = buyer(&app, "ann@example.com").await;
    credit(&app, &admin, &user_id(&app, &ann).await, 600, "c").await;
    let (order, total) = pending_order(&app, &ann, &variant, "k").await;
    assert_eq!(pay(&app, &ann, &order, "p", json!({"card_number": GOOD_CARD, "use_wallet": true})).await.status(), 200);

    let res = refund(&app, &seller, &order, "r", json!({"reason": "lost in transit"})).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let r = &body["refund"];
    assert_eq!((r["card_amount"].as_i64(), r["wallet_amount"].as_i64(), r["status"].as_str()), (Some(total - 600), Some(600), Some("succeeded")));
    assert!(r["provider_ref"].as_str().unwrap().starts_with("test_re_"), "{r}");
    assert_eq!(body["order"]["status"], "refunded");
    assert_eq!(body["order"]["payments"][0]["card_refunded"].as_i64(), Some(total - 600));
    assert_eq!(balance(&app, &ann).await, 600);
    assert_books_balance(&app).await;
}

#[tokio::test]
async fn a_refund_to_the_wallet_is_store_credit_the_customer_can_spend() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "MUG", 2000, 10).await;
    let ann = buyer(&app, "ann@example.com").await;
    let (order, _) = pending_order(&app, &ann, &variant, "k").await;
    assert_eq!(pay(&app, &ann, &order, "p", json!({"card_number": GOOD_CARD})).await.status(), 200);
    let res = refund(&app, &seller, &order, "r", json!({"amount": 800, "to_wallet": true, "restock": false})).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!((body["refund"]["card_amount"].as_i64(), body["refund"]["wallet_amount"].as_i64()), (Some(0), Some(800)));
    assert_eq!(body["order"]["status"], "paid", "a partial refund keeps the order going");
    assert_eq!(balance(&app, &ann).await, 800);
    let (second, total) = pending_order(&app, &ann, &variant, "k2").await;
    let res = pay(&app, &ann, &second, "p2", json!({"card_number": GOOD_CARD, "use_wallet": true})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["payment"]["card_amount"].as_i64(), Some(total - 800));
    assert_books_balance(&app).await;
}

#[tokio::test]
async fn a_refund_the_provider_refuses_changes_nothing_and_says_so() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "MUG", 2000, 10).await;
    let ann = buyer(&app, "ann@example.com").await;
    let (order, _) = pending_order(&app, &ann, &variant, "k").await;
    assert_eq!(pay(&app, &ann, &order, "p", json!({"card_number": REFUND_FAILS_CARD})).await.status(), 200);
    let stock_before = super::stock(&app, &seller, "acme", &variant).await["available"].clone();

    let res = refund(&app, &seller, &order, "r", json!({"items": [{"variant_id": variant, "quantity": 1}]})).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "refund_failed");
    let seen = get(&app, &seller, &format!("/api/v1/orders/{order}")).await;
    assert_eq!((seen["status"].as_str(), seen["refunded_amount"].as_i64()), (Some("paid"), Some(0)));
    assert_eq!(seen["items"][0]["returned_quantity"], 0);
    assert_eq!(seen["payments"][0]["card_refunded"], 0);
    assert_eq!(super::stock(&app, &seller, "acme", &variant).await["available"], stock_before, "nothing was restocked");
    let res = refund(&app, &seller, &order, "r", json!({"items": [{"variant_id": variant, "quantity": 1}]})).await;
    assert_eq!(res.status(), 409, "a retry with the key gets the same answer");
    // Store credit does not need the provider.
    assert_eq!(refund(&app, &seller, &order, "r2", json!({"amount": 100, "to_wallet": true, "restock": false})).await.status(), 201);
    assert_books_balance(&app).await;
}

#[tokio::test]
async fn placing_an_order_and_a_failed_payment_each_notify_in_app_and_by_email_in_their_transaction() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "MUG", 2000, 10).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &variant, 1).await;
    let body: Value = checkout(&app, &ann, "k", Some(DECLINED_CARD)).await.json().await.unwrap();
    let order = body["orders"][0]["id"].as_str().unwrap();
    let store = same_store(&app).await;
    let emails: Vec<String> = store.order_emails(order).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(emails, vec!["order_placed", "payment_failed"]);
    let notes = get(&app, &ann, "/api/v1/notifications").await;
    let kinds: Vec<&str> = notes["items"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["payment_failed", "order_placed"], "newest first");
}

#[tokio::test]
async fn a_suspended_shops_orders_cannot_be_paid_and_its_rooms_cannot_go_live() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let (seller, stream_key) = crate::sfu_whip_whep::room(&app, "show", "public").await;
    let variant = published_variant(&app, &seller, "acme", "MUG", 2000, 10).await;
    let ann = buyer(&app, "ann@example.com").await;
    let (order, _) = pending_order(&app, &ann, &variant, "k").await;
    assert_eq!(post(&app, &admin, "/api/v1/admin/shops/acme/suspend", json!({"reason": "counterfeit"})).await.status(), 200);

    let res = pay(&app, &ann, &order, "p", json!({"card_number": GOOD_CARD})).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "shop_suspended");
    for token in [&stream_key, &seller, &admin] {
        let res = crate::sfu_whip_whep::post_sdp(&app, "/whip/show", Some(token), &crate::sfu_whip_whep::publisher_offer()).await;
        assert_eq!(res.status(), 403);
        assert_eq!(error_code(res).await, "shop_suspended");
    }
    assert_eq!(post(&app, &admin, "/api/v1/admin/shops/acme/unsuspend", json!({})).await.status(), 200);
    assert_eq!(pay(&app, &ann, &order, "p2", json!({"card_number": GOOD_CARD})).await.status(), 200);
}

#[tokio::test]
async fn a_refund_left_pending_by_a_stopped_process_is_asked_again_and_landed_by_the_sweeper() {
    use streamcart::commerce::payments::TestPaymentProvider;
    use streamcart::commerce::resume_pending_refunds;
    use streamcart::commerce::store::{RefundRequest, RefundStart};
    use streamcart::store::now_ms;

    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let seller_id = user_id(&app, &seller).await;
    let variant = published_variant(&app, &seller, "acme", "MUG", 2000, 10).await;
    let ann = buyer(&app, "ann@example.com").await;
    let (good, _) = pending_order(&app, &ann, &variant, "k1").await;
    assert_eq!(pay(&app, &ann, &good, "p1", json!({"card_number": GOOD_CARD})).await.status(), 200);
    let (bad, _) = pending_order(&app, &ann, &variant, "k2").await;
    assert_eq!(pay(&app, &ann, &bad, "p2", json!({"card_number": REFUND_FAILS_CARD})).await.status(), 200);
    // Two refunds claimed, then the process stopped before asking the provider.
    let store = same_store(&app).await;
    let request = RefundRequest { amount: Some(500), restock: false, ..Default::default() };
    for order in [&good, &bad] {
        assert!(matches!(store.begin_refund(order, &request, &seller_id).await.unwrap(), RefundStart::NeedsProvider(_)));
        assert_eq!(get(&app, &seller, &format!("/api/v1/orders/{order}")).await["refunded_amount"], 500, "claimed while pending");
    }
    assert_eq!(resume_pending_refunds(&store, &TestPaymentProvider, now_ms() - 60_000).await.unwrap(), 0, "not stale yet");
    assert_eq!(resume_pending_refunds(&store, &TestPaymentProvider, now_ms() + 1).await.unwrap(), 2);

    let landed = &store.refunds_of_order(&good).await.unwrap()[0];
    assert_eq!((landed.status.as_str(), landed.card_amount), ("succeeded", 500));
    assert!(landed.provider_ref.as_deref().is_some_and(|r| r.starts_with("test_re_")));
    assert_eq!(store.refunds_of_order(&bad).await.unwrap()[0].status, "failed");
    assert_eq!(get(&app, &seller, &format!("/api/v1/orders/{bad}")).await["refunded_amount"], 0, "the refused refund's claim is given back");
    assert_eq!(resume_pending_refunds(&store, &TestPaymentProvider, now_ms() + 1).await.unwrap(), 0, "each ends once");
    assert_books_balance(&app).await;
}

#[tokio::test]
async fn an_exact_wallet_amount_is_spread_over_a_checkouts_orders_and_the_card_pays_the_rest() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let rival = seller_with_shop(&app, "rita@example.com", "rival").await;
    let mug = published_variant(&app, &seller, "acme", "MUG", 2000, 10).await;
    let cup = published_variant(&app, &rival, "rival", "CUP", 1500, 10).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &mug, 1).await;
    add_to_cart(&app, &ann, &cup, 1).await;
    credit(&app, &admin, &user_id(&app, &ann).await, 10_000, "c").await;
    let body = json!({"payment": {"card_number": GOOD_CARD, "wallet_amount": 3000}});
    let res = app.client.post(app.url("/api/v1/checkout")).bearer_auth(&ann).header("Idempotency-Key", "k").json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let orders = body["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2);
    assert!(orders.iter().all(|o| o["status"] == "paid"), "{body}");
    let spent: i64 = orders.iter().map(|o| o["payments"][0]["wallet_amount"].as_i64().unwrap()).sum();
    let charged: i64 = orders.iter().map(|o| o["payments"][0]["card_amount"].as_i64().unwrap()).sum();
    let total: i64 = orders.iter().map(|o| o["total"].as_i64().unwrap()).sum();
    assert_eq!((spent, charged), (3000, total - 3000));
    assert_eq!(balance(&app, &ann).await, 7000);
    assert_books_balance(&app).await;
}

#[tokio::test]
async fn an_order_with_a_refund_waiting_for_the_provider_cannot_be_completed_until_it_lands() {
    use streamcart::commerce::payments::TestPaymentProvider;
    use streamcart::commerce::store::RefundRequest;

    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let seller_id = user_id(&app, &seller).await;
    let variant = published_variant(&app, &seller, "acme", "MUG", 2000, 10).await;
    let ann = buyer(&app, "ann@example.com").await;
    let (order, _) = pending_order(&app, &ann, &variant, "k").await;
    assert_eq!(pay(&app, &ann, &order, "p", json!({"card_number": GOOD_CARD})).await.status(), 200);
    for body in [json!({"status": "shipped", "tracking_number": "TRK"}), json!({"status": "delivered"})] {
        assert_eq!(post(&app, &seller, &format!("/api/v1/shops/acme/orders/{order}/status"), body).await.status(), 200);
    }
    let store = same_store(&app).await;
    store.begin_refund(&order, &RefundRequest { amount: Some(300), ..Default::default() }, &seller_id).await.unwrap();
    let res = post(&app, &seller, &format!("/api/v1/shops/acme/orders/{order}/status"), json!({"status": "completed"})).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "illegal_transition");
    streamcart::commerce::resume_pending_refunds(&store, &TestPaymentProvider, streamcart::store::now_ms() + 1).await.unwrap();
    assert_eq!(post(&app, &seller, &format!("/api/v1/shops/acme/orders/{order}/status"), json!({"status": "completed"})).await.status(), 200);
    assert_books_balance(&app).await;
}
