//! The pages (static/, served by the binary) and the two listings they read:
//! a shop's rooms and a room's shop.

use serde_json::{json, Value};

use crate::rooms::seller_with_shop;
use crate::support::{error_code, spawn_app, TestApp};

async fn create_room(app: &TestApp, token: &str, shop: &str, name: &str, visibility: &str) {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/shops/{shop}/rooms")))
        .bearer_auth(token)
        .json(&json!({"name": name, "title": format!("Title of {name}"), "visibility": visibility}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["items"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn every_page_and_its_scripts_are_served_by_the_binary() {
    let app = spawn_app().await;
    for (path, content_type) in [
        ("/studio", "text/html"),
        ("/live/spring-drop", "text/html"),
        ("/moderate/spring-drop", "text/html"),
        ("/shop/acme", "text/html"),
        ("/static/live.js", "text/javascript"),
        ("/static/studio.js", "text/javascript"),
        ("/static/moderate.js", "text/javascript"),
        ("/static/shop.js", "text/javascript"),
        ("/static/app.css", "text/css"),
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let header = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(header.starts_with(content_type), "{path}: {header}");
        assert!(!res.text().await.unwrap().contains("://cdn"), "{path} must not load from a CDN");
    }
}

#[tokio::test]
async fn an_unknown_static_file_is_a_404_with_the_usual_error_body() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/static/../Cargo.toml")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = app.client.get(app.url("/static/secrets.json")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(error_code(res).await, "asset_not_found");
}

#[tokio::test]
async fn a_shops_room_list_shows_public_rooms_to_anyone_and_private_ones_to_its_staff() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    create_room(&app, &seller, "acme", "open-show", "public").await;
    create_room(&app, &seller, "acme", "vip-show", "private").await;
    let anonymous: Value = app.client.get(app.url("/api/v1/shops/acme/rooms")).send().await.unwrap().json().await.unwrap();
    assert_eq!(names(&anonymous), ["open-show"]);
    let staff: Value = app.get_authed("/api/v1/shops/acme/rooms", &seller).await.json().await.unwrap();
    assert_eq!(names(&staff), ["open-show", "vip-show"]);
}

#[tokio::test]
async fn a_rooms_shop_is_the_shop_that_runs_it() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    create_room(&app, &seller, "acme", "open-show", "public").await;
    let shop: Value = app.client.get(app.url("/api/v1/rooms/open-show/shop")).send().await.unwrap().json().await.unwrap();
    assert_eq!(shop["slug"], "acme");
}

#[tokio::test]
async fn a_private_rooms_shop_is_hidden_from_strangers() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    create_room(&app, &seller, "acme", "vip-show", "private").await;
    let res = app.client.get(app.url("/api/v1/rooms/vip-show/shop")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(error_code(res).await, "room_not_found");
    assert_eq!(app.get_authed("/api/v1/rooms/vip-show/shop", &seller).await.status(), 200);
}
