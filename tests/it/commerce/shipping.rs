//! Shipping: per-shop zones × weight bands with a free-shipping threshold,
//! the cart's quote and checkout, and tracking by the manual carrier.

use serde_json::{json, Value};

use super::{add_to_cart, buyer, checkout, get, post, product, put, seller_with_shop, GOOD_CARD};
use crate::support::{error_code, spawn_app, TestApp};

fn rate_card() -> Value {
    json!({
        "free_shipping_from": 15000,
        "zones": [
            {"name": "Domestic", "countries": ["US"], "bands": [{"up_to_grams": 500, "price": 400}, {"up_to_grams": 2000, "price": 900}]},
            {"name": "Europe", "countries": ["FR", "de"], "bands": [{"up_to_grams": 2000, "price": 2500}]}
        ]
    })
}

/// A published 300 g variant at `price` with plenty of stock; returns its id.
async fn variant(app: &TestApp, seller: &str, price: i64) -> String {
    let p = product(app, seller, "acme", "Scarf", &[("SCARF", price, 100)]).await;
    let id = p["id"].as_str().unwrap();
    assert_eq!(post(app, seller, &format!("/api/v1/shops/acme/products/{id}/publish"), json!({})).await.status(), 200);
    p["variants"][0]["id"].as_str().unwrap().to_string()
}

/// A shop "acme" with [`rate_card`] and a 30.00 scarf, and a buyer with one in the cart: (app, buyer, scarf).
async fn buyer_of_a_shop_with_rates() -> (TestApp, String, String) {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    assert_eq!(app.client.put(app.url("/api/v1/shops/acme/shipping")).bearer_auth(&seller).json(&rate_card()).send().await.unwrap().status(), 200);
    let scarf = variant(&app, &seller, 3000).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &scarf, 1).await;
    (app, ann, scarf)
}

#[tokio::test]
async fn the_cart_quotes_the_shops_rate_for_the_destination_zone_and_weight_band() {
    let (app, ann, scarf) = buyer_of_a_shop_with_rates().await;

    let cart = get(&app, &ann, "/api/v1/cart").await;
    assert!(cart["groups"][0]["shipping_problem"].as_str().unwrap().contains("country"), "{cart}");
    let cart: Value = put(&app, &ann, "/api/v1/cart/shipping", json!({"country": "us"})).await.json().await.unwrap();
    assert_eq!((cart["ship_to_country"].as_str(), cart["groups"][0]["shipping"].as_i64()), (Some("US"), Some(400)), "300 g fits the first band");
    add_to_cart(&app, &ann, &scarf, 2).await;
    assert_eq!(get(&app, &ann, "/api/v1/cart").await["groups"][0]["shipping"], 900, "600 g is in the second band");
    let cart: Value = put(&app, &ann, "/api/v1/cart/shipping", json!({"country": "DE"})).await.json().await.unwrap();
    assert_eq!(cart["groups"][0]["shipping"], 2500);
    add_to_cart(&app, &ann, &scarf, 6).await;
    let cart = get(&app, &ann, "/api/v1/cart").await;
    assert_eq!((cart["groups"][0]["subtotal"].as_i64(), cart["groups"][0]["shipping"].as_i64()), (Some(18000), Some(0)), "free from 150.00");
}

#[tokio::test]
async fn checkout_charges_the_quoted_shipping_and_refuses_a_country_the_shop_does_not_ship_to() {
    let (app, ann, _scarf) = buyer_of_a_shop_with_rates().await;
    let res = checkout(&app, &ann, "no-country", None).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "shipping_country_required");
    put(&app, &ann, "/api/v1/cart/shipping", json!({"country": "JP"})).await;
    let res = checkout(&app, &ann, "japan", None).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "no_shipping_rate");
    assert_eq!(get(&app, &ann, "/api/v1/orders").await["items"], json!([]), "refused checkouts place nothing");

    put(&app, &ann, "/api/v1/cart/shipping", json!({"country": "FR"})).await;
    let res = checkout(&app, &ann, "france", Some(GOOD_CARD)).await;
    assert_eq!(res.status(), 201);
    let order = &res.json::<Value>().await.unwrap()["orders"][0];
    assert_eq!((order["shipping"].as_i64(), order["total"].as_i64(), order["ship_to_country"].as_str()), (Some(2500), Some(5500), Some("FR")));
}

#[tokio::test]
async fn an_invalid_rate_card_is_refused_and_the_old_one_kept() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let put_card = |card: Value| app.client.put(app.url("/api/v1/shops/acme/shipping")).bearer_auth(&seller).json(&card).send();
    assert_eq!(put_card(rate_card()).await.unwrap().status(), 200);
    let mut bad = rate_card();
    bad["zones"][0]["bands"] = json!([{"up_to_grams": 2000, "price": 900}, {"up_to_grams": 500, "price": 400}]);
    let res = put_card(bad).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "invalid_rate_card");
    let stored: Value = app.client.get(app.url("/api/v1/shops/acme/shipping")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stored["zones"][1]["countries"], json!(["FR", "DE"]), "the good card stays, codes upper-cased");
}

#[tokio::test]
async fn tracking_events_from_the_seller_reach_the_buyers_order_history_and_delivery_ends_it() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let scarf = variant(&app, &seller, 3000).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &scarf, 1).await;
    let body: Value = checkout(&app, &ann, "k", Some(GOOD_CARD)).await.json().await.unwrap();
    let id = body["orders"][0]["id"].as_str().unwrap();
    let tracking = format!("/api/v1/shops/acme/orders/{id}/tracking");
    let track = |status: &'static str, note: Option<&'static str>| post(&app, &seller, &tracking, json!({"status": status, "note": note}));

    let res = track("in_transit", None).await;
    assert_eq!(res.status(), 409, "a paid but unshipped order has no parcel to track");
    let res = post(&app, &seller, &format!("/api/v1/shops/acme/orders/{id}/status"), json!({"status": "shipped", "carrier": "dhl", "tracking_number": "<b>"})).await;
    assert_eq!(res.status(), 400, "the manual carrier checks the tracking number");
    let res = post(&app, &seller, &format!("/api/v1/shops/acme/orders/{id}/status"), json!({"status": "shipped", "carrier": "dhl", "tracking_number": "JD0146000033"})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(track("in_transit", Some("Leipzig hub")).await.status(), 200);
    let res = track("delivered", Some("left with neighbour")).await;
    assert_eq!(res.status(), 200);

    let order = get(&app, &ann, &format!("/api/v1/orders/{id}")).await;
    assert_eq!((order["status"].as_str(), order["carrier"].as_str(), order["tracking_number"].as_str()), (Some("delivered"), Some("dhl"), Some("JD0146000033")));
    let notes: Vec<String> = order["history"].as_array().unwrap().iter().map(|e| format!("{} {}", e["to_status"].as_str().unwrap(), e["note"].as_str().unwrap_or(""))).collect();
    assert_eq!(notes[2..], ["shipped dhl JD0146000033", "shipped in transit: Leipzig hub", "delivered delivered: left with neighbour"]);
    let kinds: Vec<String> = get(&app, &ann, "/api/v1/notifications").await["items"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds[..3], ["order_delivered", "order_in_transit", "order_shipped"]);
}
