//! Stock counters and their ledger.

use serde_json::{json, Value};

use super::{add_to_cart, buyer, checkout, get, post, published_variant, seller_with_shop, stock, DECLINED_CARD, GOOD_CARD};
use crate::support::{error_code, spawn_app};

#[tokio::test]
async fn restocks_and_adjustments_are_recorded_and_stock_never_goes_below_zero() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "CAP-1", 1500, 2).await;
    let base = format!("/api/v1/shops/acme/variants/{variant}/stock");
    assert_eq!(post(&app, &seller, &format!("{base}/restock"), json!({"quantity": 5, "reason": "delivery"})).await.status(), 200);
    let res = post(&app, &seller, &format!("{base}/adjust"), json!({"delta": -3, "reason": "damaged in storage"})).await;
    assert_eq!(res.status(), 200);
    let res = post(&app, &seller, &format!("{base}/adjust"), json!({"delta": -5, "reason": "more than there is"})).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "out_of_stock");
    let res = post(&app, &seller, &format!("{base}/adjust"), json!({"delta": -1, "reason": ""})).await;
    assert_eq!(res.status(), 400, "an adjustment needs a reason");

    let level = stock(&app, &seller, "acme", &variant).await;
    assert_eq!((level["available"].as_i64(), level["reserved"].as_i64()), (Some(4), Some(0)));
    let moves: Value = get(&app, &seller, &format!("{base}/movements")).await;
    let kinds: Vec<&str> = moves["items"].as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["restock", "restock", "adjust"]);
    assert_eq!(moves["items"][2]["reason"], "damaged in storage");
}

#[tokio::test]
async fn the_stock_ledger_sums_to_the_current_stock_after_a_mixed_scenario() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "LAMP-1", 3000, 10).await;
    let base = format!("/api/v1/shops/acme/variants/{variant}/stock");
    let ann = buyer(&app, "ann@example.com").await;
    let bob = buyer(&app, "bob@example.com").await;
    let cy = buyer(&app, "cy@example.com").await;

    // Ann buys 3 and is refunded with restock; Bob's order is cancelled; Cy's card is declined (units stay held).
    add_to_cart(&app, &ann, &variant, 3).await;
    let paid: Value = checkout(&app, &ann, "ann-1", Some(GOOD_CARD)).await.json().await.unwrap();
    let ann_order = paid["orders"][0]["id"].as_str().unwrap();
    let refund = post(&app, &seller, &format!("/api/v1/shops/acme/orders/{ann_order}/status"), json!({"status": "refunded", "restock": true})).await;
    assert_eq!(refund.status(), 200);
    add_to_cart(&app, &bob, &variant, 2).await;
    let placed: Value = checkout(&app, &bob, "bob-1", None).await.json().await.unwrap();
    let bob_order = placed["orders"][0]["id"].as_str().unwrap();
    assert_eq!(post(&app, &bob, &format!("/api/v1/orders/{bob_order}/cancel"), json!({})).await.status(), 200);
    add_to_cart(&app, &cy, &variant, 4).await;
    let declined: Value = checkout(&app, &cy, "cy-1", Some(DECLINED_CARD)).await.json().await.unwrap();
    assert_eq!(declined["orders"][0]["status"], "pending_payment");
    post(&app, &seller, &format!("{base}/restock"), json!({"quantity": 7})).await;
    post(&app, &seller, &format!("{base}/adjust"), json!({"delta": -1, "reason": "sample"})).await;

    let level = stock(&app, &seller, "acme", &variant).await;
    assert_eq!((level["available"].as_i64(), level["reserved"].as_i64()), (Some(10 - 4 + 7 - 1), Some(4)));
    assert_eq!(level["ledger"]["available"], level["available"]);
    assert_eq!(level["ledger"]["reserved"], level["reserved"]);
}
