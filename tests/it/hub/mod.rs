//! The signaling hub (`GET /ws`) with real WebSocket clients against the real
//! server, on whichever back-ends this run selects.

mod chat;
mod client;
pub mod fanout;
mod moderation;
mod recovery;
mod robustness;

use serde_json::{json, Value};

use crate::rooms::seller_with_shop;
use crate::support::TestApp;

pub use client::WsClient;

/// A shop `acme` with a public room `show`, its seller and a moderator.
pub struct Fixture {
    pub seller: String,
    pub moderator: String,
}

pub async fn room_fixture(app: &TestApp) -> Fixture {
    let seller = seller_with_shop(app, "sam@example.com", "acme").await;
    create_room(app, &seller, "show", "public").await;
    let (moderator, _) = user(app, "mo@example.com").await;
    let res = app
        .client
        .post(app.url("/api/v1/shops/acme/members"))
        .bearer_auth(&seller)
        .json(&json!({"email": "mo@example.com", "role": "moderator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    Fixture { seller, moderator }
}

pub async fn create_room(app: &TestApp, seller: &str, name: &str, visibility: &str) {
    let res = app
        .client
        .post(app.url("/api/v1/shops/acme/rooms"))
        .bearer_auth(seller)
        .json(&json!({"name": name, "title": format!("Title of {name}"), "visibility": visibility}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

/// Registers a customer; returns (access token, user id).
pub async fn user(app: &TestApp, email: &str) -> (String, String) {
    let body: Value = app.register(email).await;
    (body["access_token"].as_str().unwrap().to_string(), body["user"]["id"].as_str().unwrap().to_string())
}
