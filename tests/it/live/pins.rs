//! Pinned products: cards with live price and stock bands, pushed to viewers.

use serde_json::{json, Value};

use super::{live_room, pin, product, viewer};
use crate::commerce::buyer;
use crate::support::{error_code, spawn_app};

#[tokio::test]
async fn a_pinned_product_reaches_viewers_with_its_price_and_stock_band() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (product_id, variant) = product(&app, &seller, "HAT-1", 2500, 7).await;
    let (mut ws, _) = viewer(&app).await;
    let res = pin(&app, &seller, &product_id).await;
    assert_eq!(res.status(), 201);
    let event = ws.next_pub("product.pinned").await;
    let card = &event["event"]["data"]["product"];
    assert_eq!(card["product_id"], product_id.as_str());
    assert_eq!(card["variants"][0]["variant_id"], variant.as_str());
    assert_eq!(card["variants"][0]["price"], 2500);
    assert_eq!(card["variants"][0]["stock"], json!({"band": "low", "left": 7}));
}

#[tokio::test]
async fn a_late_joiner_sees_the_pinned_products_in_the_snapshot_and_the_pins_route() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (product_id, _) = product(&app, &seller, "HAT-1", 2500, 100).await;
    assert_eq!(pin(&app, &seller, &product_id).await.status(), 201);
    let (_, state) = viewer(&app).await;
    assert_eq!(state["pinned_products"][0]["product_id"], product_id.as_str());
    assert_eq!(state["pinned_products"][0]["variants"][0]["stock"], json!({"band": "in_stock"}));
    let pins: Value = app.client.get(app.url("/api/v1/rooms/show/pins")).send().await.unwrap().json().await.unwrap();
    assert_eq!(pins["max_pins"], 3);
    assert_eq!(pins["pins"][0]["product_id"], product_id.as_str());
}

#[tokio::test]
async fn a_fourth_pin_is_refused_until_one_is_unpinned() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let mut ids = Vec::new();
    for sku in ["A-1", "B-1", "C-1", "D-1"] {
        ids.push(product(&app, &seller, sku, 1000, 5).await.0);
    }
    for id in &ids[..3] {
        assert_eq!(pin(&app, &seller, id).await.status(), 201);
    }
    let res = pin(&app, &seller, &ids[3]).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "too_many_pins");
    let (mut ws, _) = viewer(&app).await;
    let res = app.client.delete(app.url(&format!("/api/v1/rooms/show/pins/{}", ids[0]))).bearer_auth(&seller).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(ws.next_pub("product.unpinned").await["event"]["data"]["product_id"], ids[0].as_str());
    assert_eq!(pin(&app, &seller, &ids[3]).await.status(), 201);
}

#[tokio::test]
async fn a_draft_product_cannot_be_pinned() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let draft = crate::commerce::product(&app, &seller, "acme", "Draft", &[("DR-1", 1000, 5)]).await;
    let res = pin(&app, &seller, draft["id"].as_str().unwrap()).await;
    assert_eq!(res.status(), 404);
    assert_eq!(error_code(res).await, "product_not_found");
}

#[tokio::test]
async fn purchases_of_a_pinned_variant_push_its_new_stock_band() {
    let app = spawn_app().await;
    let seller = live_room(&app).await;
    let (product_id, variant) = product(&app, &seller, "HAT-1", 2500, 12).await;
    assert_eq!(pin(&app, &seller, &product_id).await.status(), 201);
    let (mut ws, _) = viewer(&app).await;
    let buyer = buyer(&app, "bea@example.com").await;
    crate::commerce::add_to_cart(&app, &buyer, &variant, 5).await;
    let res = crate::commerce::checkout(&app, &buyer, "k1", None).await;
    assert_eq!(res.status(), 201);
    let bands = ws.next_pub("stock.bands").await;
    assert_eq!(bands["event"]["data"]["bands"], json!([{"variant_id": variant, "stock": {"band": "low", "left": 7}}]));
}
