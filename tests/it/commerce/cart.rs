//! Carts and coupons.

use serde_json::{json, Value};

use super::{add_to_cart, buyer, checkout, get, post, published_variant, put, seller_with_shop, GOOD_CARD};
use crate::support::{error_code, spawn_app};

#[tokio::test]
async fn the_cart_keeps_items_from_several_shops_with_totals_per_shop() {
    let app = spawn_app().await;
    let acme = seller_with_shop(&app, "sam@example.com", "acme").await;
    let other = seller_with_shop(&app, "olga@example.com", "other").await;
    let tee = published_variant(&app, &acme, "acme", "TEE", 2500, 10).await;
    let vase = published_variant(&app, &other, "other", "VASE", 12000, 3).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &tee, 1).await;
    add_to_cart(&app, &ann, &tee, 2).await;
    add_to_cart(&app, &ann, &vase, 1).await;

    // A new login sees the same cart.
    let login: Value = app.login("ann@example.com", crate::support::PASSWORD).await.json().await.unwrap();
    let cart = get(&app, login["access_token"].as_str().unwrap(), "/api/v1/cart").await;
    assert_eq!(cart["item_count"], 3);
    let groups = cart["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!((groups[0]["shop_slug"].as_str(), groups[0]["subtotal"].as_i64()), (Some("acme"), Some(5000)));
    assert_eq!(groups[0]["items"][0]["quantity"], 2);
    assert!(groups[0]["shipping"].as_i64().unwrap() > 0, "below the free-shipping threshold");
    assert_eq!(groups[0]["total"].as_i64().unwrap(), 5000 + groups[0]["shipping"].as_i64().unwrap() + groups[0]["tax"].as_i64().unwrap());
    assert_eq!((groups[1]["subtotal"].as_i64(), groups[1]["shipping"].as_i64()), (Some(12000), Some(0)));

    let removed = app.client.delete(app.url(&format!("/api/v1/cart/items/{tee}"))).bearer_auth(&ann).send().await.unwrap();
    assert_eq!(removed.status(), 200);
    let cart: Value = removed.json().await.unwrap();
    assert_eq!(cart["groups"].as_array().unwrap().len(), 1);
    let res = put(&app, &ann, &format!("/api/v1/cart/items/{vase}"), json!({"quantity": 0})).await;
    assert_eq!(error_code(res).await, "invalid_quantity");
}

#[tokio::test]
async fn a_shop_coupon_discounts_only_its_shop_and_is_spent_at_checkout() {
    let app = spawn_app().await;
    let acme = seller_with_shop(&app, "sam@example.com", "acme").await;
    let other = seller_with_shop(&app, "olga@example.com", "other").await;
    let tee = published_variant(&app, &acme, "acme", "TEE", 2000, 10).await;
    let vase = published_variant(&app, &other, "other", "VASE", 3000, 3).await;
    let res = post(&app, &acme, "/api/v1/shops/acme/coupons", json!({"code": "spring10", "kind": "percent", "amount": 10})).await;
    assert_eq!(res.status(), 201);
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &tee, 1).await;
    add_to_cart(&app, &ann, &vase, 1).await;
    let cart: Value = put(&app, &ann, "/api/v1/cart/coupon", json!({"code": "SPRING10"})).await.json().await.unwrap();
    assert_eq!(cart["coupon"]["applies"], true);
    assert_eq!((cart["groups"][0]["discount"].as_i64(), cart["groups"][1]["discount"].as_i64()), (Some(200), Some(0)));

    let placed: Value = checkout(&app, &ann, "k1", Some(GOOD_CARD)).await.json().await.unwrap();
    let orders = placed["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2, "one order per shop");
    assert!(orders.iter().all(|o| o["status"] == "paid"));
    let acme_order = orders.iter().find(|o| o["discount"] == 200).expect("acme's order carries the discount");
    assert_eq!(acme_order["coupon_code"], "SPRING10");
    let cart = get(&app, &ann, "/api/v1/cart").await;
    assert_eq!((cart["item_count"].as_i64(), cart["coupon"].is_null()), (Some(0), true));
}

#[tokio::test]
async fn a_once_per_customer_coupon_cannot_be_used_twice_by_the_same_buyer() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let tee = published_variant(&app, &seller, "acme", "TEE", 2000, 10).await;
    post(&app, &seller, "/api/v1/shops/acme/coupons", json!({"code": "WELCOME", "kind": "fixed", "amount": 500, "once_per_customer": true})).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &tee, 1).await;
    assert_eq!(put(&app, &ann, "/api/v1/cart/coupon", json!({"code": "welcome"})).await.status(), 200);
    let first: Value = checkout(&app, &ann, "a", Some(GOOD_CARD)).await.json().await.unwrap();
    assert_eq!(first["orders"][0]["discount"], 500);
    add_to_cart(&app, &ann, &tee, 1).await;
    let again = put(&app, &ann, "/api/v1/cart/coupon", json!({"code": "WELCOME"})).await;
    assert_eq!(again.status(), 409);
    assert_eq!(error_code(again).await, "coupon_already_used");
}

#[tokio::test]
async fn an_expired_coupon_or_one_below_its_minimum_spend_gives_no_discount() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let tee = published_variant(&app, &seller, "acme", "TEE", 2000, 10).await;
    post(&app, &seller, "/api/v1/shops/acme/coupons", json!({"code": "OLD", "kind": "percent", "amount": 50, "expires_at": 1000})).await;
    post(&app, &seller, "/api/v1/shops/acme/coupons", json!({"code": "BIG", "kind": "percent", "amount": 50, "min_spend": 100000})).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &tee, 1).await;
    let res = put(&app, &ann, "/api/v1/cart/coupon", json!({"code": "OLD"})).await;
    assert_eq!(res.status(), 200, "attaching is allowed; the cart says why it does not apply");
    let cart: Value = res.json().await.unwrap();
    assert_eq!((cart["coupon"]["applies"].as_bool(), cart["groups"][0]["discount"].as_i64()), (Some(false), Some(0)));
    let res = checkout(&app, &ann, "k", None).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "coupon_expired");
    put(&app, &ann, "/api/v1/cart/coupon", json!({"code": "BIG"})).await;
    let res = checkout(&app, &ann, "k2", None).await;
    assert_eq!(error_code(res).await, "coupon_minimum_not_reached");
    let cart = get(&app, &ann, "/api/v1/cart").await;
    assert_eq!(cart["item_count"], 1, "a refused checkout leaves the cart as it was");
}

#[tokio::test]
async fn a_platform_coupon_from_an_admin_discounts_every_shop_and_sellers_cannot_create_one() {
    let app = spawn_app().await;
    let admin: Value = app.create_admin().await;
    let admin = admin["access_token"].as_str().unwrap();
    let acme = seller_with_shop(&app, "sam@example.com", "acme").await;
    let other = seller_with_shop(&app, "olga@example.com", "other").await;
    let tee = published_variant(&app, &acme, "acme", "TEE", 2000, 10).await;
    let vase = published_variant(&app, &other, "other", "VASE", 3000, 3).await;
    let res = post(&app, &acme, "/api/v1/coupons", json!({"code": "ALL20", "kind": "percent", "amount": 20})).await;
    assert_eq!(res.status(), 403);
    assert_eq!(post(&app, admin, "/api/v1/coupons", json!({"code": "ALL20", "kind": "percent", "amount": 20})).await.status(), 201);
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &tee, 1).await;
    add_to_cart(&app, &ann, &vase, 1).await;
    let cart: Value = put(&app, &ann, "/api/v1/cart/coupon", json!({"code": "all20"})).await.json().await.unwrap();
    assert_eq!((cart["groups"][0]["discount"].as_i64(), cart["groups"][1]["discount"].as_i64()), (Some(400), Some(600)));
}
