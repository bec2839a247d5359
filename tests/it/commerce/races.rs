//! Concurrency: the store is the arbiter, whatever the interleaving.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::{add_to_cart, buyer, buyers, checkout, get, post, published_variant, put, seller_with_shop, stock, GOOD_CARD};
use crate::support::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_buyers_racing_for_ten_units_get_exactly_ten_paid_orders() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "DROP-1", 9900, 10).await;
    let tokens = buyers(&app, "racer", 200).await;
    futures::future::join_all(tokens.iter().map(|t| add_to_cart(&app, t, &variant, 1))).await;

    let attempts = tokens.iter().enumerate().map(|(i, t)| {
        let app = &app;
        async move {
            let res = checkout(app, t, &format!("race-{i}"), Some(GOOD_CARD)).await;
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            (status, body)
        }
    });
    let results = futures::future::join_all(attempts).await;
    let won: Vec<&Value> = results.iter().filter(|(s, _)| *s == 201).map(|(_, b)| b).collect();
    let lost = results.iter().filter(|(s, b)| *s == 409 && b["error"]["code"] == "out_of_stock").count();
    assert_eq!((won.len(), lost), (10, 190), "every buyer gets an order or a clear out_of_stock");
    assert!(won.iter().all(|b| b["orders"][0]["status"] == "paid"));

    let level = stock(&app, &seller, "acme", &variant).await;
    assert_eq!((level["available"].as_i64(), level["reserved"].as_i64()), (Some(0), Some(0)));
    assert_eq!(level["ledger"]["available"], 0);
    let paid = get(&app, &seller, "/api/v1/shops/acme/orders?status=paid&limit=100").await;
    assert_eq!(paid["items"].as_array().unwrap().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_coupon_limited_to_five_uses_is_used_exactly_five_times_under_concurrency() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "TEE", 2000, 100).await;
    let res = post(&app, &seller, "/api/v1/shops/acme/coupons", json!({"code": "FIRST5", "kind": "fixed", "amount": 500, "usage_limit": 5})).await;
    assert_eq!(res.status(), 201);
    let tokens = buyers(&app, "coupon", 30).await;
    futures::future::join_all(tokens.iter().map(|t| {
        let (app, variant) = (&app, &variant);
        async move {
        add_to_cart(app, t, variant, 1).await;
        assert_eq!(put(app, t, "/api/v1/cart/coupon", json!({"code": "FIRST5"})).await.status(), 200);
        }
    }))
    .await;

    let results = futures::future::join_all(tokens.iter().enumerate().map(|(i, t)| {
        let app = &app;
        async move {
            let res = checkout(app, t, &format!("c-{i}"), Some(GOOD_CARD)).await;
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    }))
    .await;
    let used = |(s, b): &&(u16, Value)| *s == 201 && b["orders"][0]["discount"] == 500;
    let exhausted = |(s, b): &&(u16, Value)| *s == 409 && b["error"]["code"] == "coupon_exhausted";
    let other: Vec<&(u16, Value)> = results.iter().filter(|r| !used(r) && !exhausted(r)).collect();
    assert_eq!((results.iter().filter(used).count(), results.iter().filter(exhausted).count()), (5, 25), "other outcomes: {other:?}");
    let discounted = get(&app, &seller, "/api/v1/shops/acme/orders?limit=100").await;
    assert_eq!(discounted["items"].as_array().unwrap().iter().filter(|o| o["discount"] == 500).count(), 5);
    assert_eq!(stock(&app, &seller, "acme", &variant).await["available"], 95, "refused checkouts hold no stock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_retries_of_one_checkout_make_one_order_and_one_charge() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "BAG", 5000, 10).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &variant, 2).await;

    let results = futures::future::join_all((0..50).map(|_| {
        let (app, ann) = (&app, &ann);
        async move {
            let res = checkout(app, ann, "one-checkout", Some(GOOD_CARD)).await;
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    }))
    .await;
    assert!(results.iter().all(|(s, _)| *s == 201), "every retry gets the stored response: {:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());
    let checkouts: HashSet<&str> = results.iter().map(|(_, b)| b["checkout_id"].as_str().unwrap()).collect();
    assert_eq!(checkouts.len(), 1);

    let mine = get(&app, &ann, "/api/v1/orders").await;
    let orders = mine["items"].as_array().unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["status"], "paid");
    assert_eq!(orders[0]["payments"].as_array().unwrap().len(), 1, "one charge");
    let level = stock(&app, &seller, "acme", &variant).await;
    assert_eq!((level["available"].as_i64(), level["reserved"].as_i64()), (Some(8), Some(0)));
}

#[tokio::test]
async fn the_stock_api_hands_out_each_unit_once_to_concurrent_holds() {
    // Reserve/release/commit are what live commerce builds on: drive them straight through the store.
    let dir = tempfile::tempdir().unwrap();
    let store = match crate::support::postgres_url() {
        Some(url) => streamcart::store::Store::connect(&crate::support::fresh_postgres_schema(&url).await, 10).await.unwrap(),
        None => streamcart::store::Store::open_sqlite(dir.path()).await.unwrap(),
    };
    let mut tx = store.writer().begin().await.unwrap();
    let user = streamcart::store::NewUser { email: "seller@example.com", password_hash: "x", display_name: "Seller", is_admin: false };
    let app_seller = store.insert_user(&mut tx, user).await.unwrap().id;
    tx.commit().await.unwrap();
    let shop = store.create_shop("acme", "Acme", "USD", &app_seller).await.unwrap();
    let product = streamcart::commerce::store::NewProduct {
        category_id: None,
        title: "Drop".into(),
        description: String::new(),
        image_urls: vec![],
        variants: vec![streamcart::commerce::store::NewVariant {
            sku: "DROP".into(),
            options_json: "{}".into(),
            price: 100,
            compare_at_price: None,
            weight_grams: 0,
            image_urls: vec![],
            initial_stock: 3,
        }],
    };
    let product_id = store.create_product(&shop.id, "USD", &app_seller, product).await.unwrap();
    let variant = store.variants_of(&[product_id]).await.unwrap().remove(0).id;
    let holds = futures::future::join_all((0..10).map(|i| {
        let (store, variant) = (store.clone(), variant.clone());
        async move { store.reserve_stock(&variant, 1, &format!("viewer-{i}"), Some(1_000)).await }
    }))
    .await;
    let held: Vec<_> = holds.into_iter().filter_map(Result::ok).collect();
    assert_eq!(held.len(), 3);
    store.commit_reservation_sale(&held[0].id).await.unwrap();
    assert!(store.release_reservation(&held[0].id).await.is_err(), "a sold hold cannot also be released");
    assert_eq!(store.release_expired_holds(2_000).await.unwrap(), 2, "the two unpaid holds time out");
    let level = store.stock_level(&variant).await.unwrap().unwrap();
    assert_eq!((level.available, level.reserved), (2, 0));
    assert_eq!(store.stock_ledger_sums(&variant).await.unwrap(), level);
}
