//! Shop suspension by an admin, and the profile and branding its sellers edit.

use serde_json::{json, Value};

use super::{add_to_cart, buyer, checkout, get, post, published_variant, seller_with_shop};
use crate::support::{error_code, spawn_app};

#[tokio::test]
async fn a_suspended_shop_leaves_search_and_refuses_checkout_until_reinstated() {
    let app = spawn_app().await;
    let admin = app.create_admin().await["access_token"].as_str().unwrap().to_string();
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "LANTERN", 2500, 5).await;
    let ann = buyer(&app, "ann@example.com").await;
    add_to_cart(&app, &ann, &variant, 1).await;
    let found = |body: Value| body["items"].as_array().unwrap().len();
    assert_eq!(found(app.client.get(app.url("/api/v1/search?q=lantern")).send().await.unwrap().json().await.unwrap()), 1);

    assert_eq!(post(&app, &seller, "/api/v1/admin/shops/acme/suspend", json!({})).await.status(), 403, "sellers cannot suspend");
    let res = post(&app, &admin, "/api/v1/admin/shops/acme/suspend", json!({"reason": "counterfeit goods"})).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!((body["shop"]["status"].as_str(), body["suspended_reason"].as_str()), (Some("suspended"), Some("counterfeit goods")));
    assert_eq!(found(app.client.get(app.url("/api/v1/search?q=lantern")).send().await.unwrap().json().await.unwrap()), 0);
    let res = checkout(&app, &ann, "during", None).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "shop_suspended");

    assert_eq!(post(&app, &admin, "/api/v1/admin/shops/acme/unsuspend", json!({})).await.status(), 200);
    assert_eq!(get(&app, &ann, "/api/v1/shops/acme").await["status"], "active");
    assert_eq!(checkout(&app, &ann, "after", None).await.status(), 201);
}

#[tokio::test]
async fn the_seller_edits_the_shop_profile_and_invalid_branding_changes_nothing() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let rival = seller_with_shop(&app, "rita@example.com", "rival").await;
    let patch = |token: &str, body: Value| app.client.patch(app.url("/api/v1/shops/acme/profile")).bearer_auth(token).json(&body).send();
    let res = patch(&seller, json!({"description": "Lamps since 1999", "logo_url": "https://cdn.example.com/logo.png", "accent_color": "#FF8800"})).await.unwrap();
    assert_eq!(res.status(), 200);
    for bad in [json!({"logo_url": "javascript:alert(1)"}), json!({"banner_url": "http://insecure.example.com/b.png"}), json!({"accent_color": "orange"})] {
        let res = patch(&seller, bad.clone()).await.unwrap();
        assert_eq!(res.status(), 400, "{bad}");
    }
    assert_eq!(patch(&rival, json!({"description": "mine now"})).await.unwrap().status(), 403);
    let profile: Value = app.client.get(app.url("/api/v1/shops/acme/profile")).send().await.unwrap().json().await.unwrap();
    assert_eq!(profile, json!({"description": "Lamps since 1999", "logo_url": "https://cdn.example.com/logo.png", "banner_url": null, "accent_color": "#ff8800"}));
    let res = patch(&seller, json!({"logo_url": null})).await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["logo_url"], Value::Null, "null clears a field");
}
