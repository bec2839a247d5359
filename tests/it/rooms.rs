//! Shops, their members and their live rooms.

use serde_json::{json, Value};

use crate::support::{error_code, spawn_app, TestApp};

/// A registered seller with a shop `slug`; returns the seller's access token.
pub async fn seller_with_shop(app: &TestApp, email: &str, slug: &str) -> String {
    let seller = app.register(email).await;
    let token = seller["access_token"].as_str().unwrap().to_string();
    let res = app.client.post(app.url("/api/v1/shops")).bearer_auth(&token).json(&json!({"slug": slug, "name": "Shop"})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    token
}

async fn create_room(app: &TestApp, token: &str, shop: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url(&format!("/api/v1/shops/{shop}/rooms"))).bearer_auth(token).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn opening_a_shop_makes_the_caller_its_seller() {
    let app = spawn_app().await;
    let token = seller_with_shop(&app, "sam@example.com", "acme").await;
    let me: Value = app.get_authed("/api/v1/me", &token).await.json().await.unwrap();
    assert_eq!(me["user"]["roles"], json!(["customer", "seller"]));
    assert_eq!(me["shops"][0]["shop_slug"], "acme");
    assert_eq!(me["shops"][0]["role"], "seller");
}

#[tokio::test]
async fn a_taken_shop_slug_is_a_conflict() {
    let app = spawn_app().await;
    seller_with_shop(&app, "sam@example.com", "acme").await;
    let other = app.register("eve@example.com").await;
    let res = app
        .client
        .post(app.url("/api/v1/shops"))
        .bearer_auth(other["access_token"].as_str().unwrap())
        .json(&json!({"slug": "acme", "name": "Copycat"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "slug_taken");
}

#[tokio::test]
async fn a_seller_creates_a_room_and_gets_its_stream_key_once() {
    let app = spawn_app().await;
    let token = seller_with_shop(&app, "sam@example.com", "acme").await;
    let res = create_room(&app, &token, "acme", json!({"name": "spring-drop", "title": "Spring drop"})).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert!(body["stream_key"].as_str().unwrap().starts_with("sk_"));
    assert_eq!(body["room"]["status"], "scheduled");
    let public: Value = app.client.get(app.url("/api/v1/rooms/spring-drop")).send().await.unwrap().json().await.unwrap();
    assert_eq!(public["title"], "Spring drop");
    assert!(public.get("stream_key").is_none(), "the key is never shown again");
}

#[tokio::test]
async fn a_seller_of_another_shop_cannot_create_rooms_here() {
    let app = spawn_app().await;
    seller_with_shop(&app, "sam@example.com", "acme").await;
    let rival = seller_with_shop(&app, "rita@example.com", "rival").await;
    let res = create_room(&app, &rival, "acme", json!({"name": "hijack", "title": "Hijack"})).await;
    assert_eq!(res.status(), 403);
    assert_eq!(error_code(res).await, "not_shop_seller");
    assert_eq!(app.client.get(app.url("/api/v1/rooms/hijack")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_private_room_is_hidden_from_strangers_but_visible_to_its_moderator() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let moderator = app.register("mo@example.com").await;
    let res = app
        .client
        .post(app.url("/api/v1/shops/acme/members"))
        .bearer_auth(&seller)
        .json(&json!({"email": "mo@example.com", "role": "moderator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(create_room(&app, &seller, "acme", json!({"name": "vip", "title": "VIP", "visibility": "private"})).await.status(), 201);
    assert_eq!(app.client.get(app.url("/api/v1/rooms/vip")).send().await.unwrap().status(), 404);
    assert_eq!(app.get_authed("/api/v1/rooms/vip", moderator["access_token"].as_str().unwrap()).await.status(), 200);
}

#[tokio::test]
async fn rotating_the_stream_key_returns_a_new_one() {
    let app = spawn_app().await;
    let token = seller_with_shop(&app, "sam@example.com", "acme").await;
    let first: Value = create_room(&app, &token, "acme", json!({"name": "show", "title": "Show"})).await.json().await.unwrap();
    let res = app.client.post(app.url("/api/v1/rooms/show/stream-key")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    assert_ne!(first["stream_key"], second["stream_key"]);
}

#[tokio::test]
async fn a_room_name_that_is_not_url_safe_is_refused() {
    let app = spawn_app().await;
    let token = seller_with_shop(&app, "sam@example.com", "acme").await;
    let res = create_room(&app, &token, "acme", json!({"name": "Bad Name!", "title": "x"})).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "invalid_slug");
}

async fn room_token(app: &TestApp, token: &str, room: &str) -> Value {
    let res = app.client.post(app.url(&format!("/api/v1/rooms/{room}/token"))).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_seller_gets_a_livekit_token_that_may_publish_in_their_room() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    assert_eq!(create_room(&app, &seller, "acme", json!({"name": "show", "title": "Show"})).await.status(), 201);
    let body = room_token(&app, &seller, "show").await;
    assert_eq!((body["can_publish"].as_bool(), body["room_admin"].as_bool()), (Some(true), Some(true)));
    let keys = streamcart::livekit::LiveKitKeys::new(app_livekit_keys(&app));
    let grant = keys.room_grant(body["token"].as_str().unwrap(), "show").unwrap().unwrap();
    assert!(grant.can_publish && grant.room_admin);
    assert_eq!(keys.room_grant(body["token"].as_str().unwrap(), "other-room").unwrap(), None);
}

#[tokio::test]
async fn a_viewer_gets_a_subscribe_only_livekit_token() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    create_room(&app, &seller, "acme", json!({"name": "show", "title": "Show"})).await;
    let viewer = app.register("vic@example.com").await;
    let body = room_token(&app, viewer["access_token"].as_str().unwrap(), "show").await;
    let keys = streamcart::livekit::LiveKitKeys::new(app_livekit_keys(&app));
    let grant = keys.room_grant(body["token"].as_str().unwrap(), "show").unwrap().unwrap();
    assert!(!grant.can_publish && grant.can_subscribe && !grant.room_admin);
    assert_eq!(grant.identity, viewer["user"]["id"].as_str().unwrap());
}

/// The API key pair the server generated in its data dir on first run.
fn app_livekit_keys(app: &TestApp) -> std::collections::BTreeMap<String, String> {
    let secrets: Value = serde_json::from_slice(&std::fs::read(app.data_dir.path().join("secrets.json")).unwrap()).unwrap();
    serde_json::from_value(secrets["api_keys"].clone()).unwrap()
}
