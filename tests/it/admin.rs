//! First-admin setup and role checks on admin endpoints.

use serde_json::json;

use crate::support::{error_code, spawn_app, PASSWORD};

#[tokio::test]
async fn the_setup_token_creates_the_first_admin_once() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    assert_eq!(admin["user"]["roles"], json!(["customer", "admin"]));
    let again = app
        .post_json(
            "/api/v1/setup",
            &json!({"setup_token": app.setup_token, "email": "second@example.com", "password": PASSWORD, "display_name": "Second"}),
        )
        .await;
    assert_eq!(again.status(), 410);
    assert_eq!(error_code(again).await, "setup_token_used");
    assert_eq!(app.login("second@example.com", PASSWORD).await.status(), 401, "no second admin was created");
}

#[tokio::test]
async fn a_wrong_setup_token_creates_nothing() {
    let app = spawn_app().await;
    let res = app
        .post_json("/api/v1/setup", &json!({"setup_token": "guess", "email": "evil@example.com", "password": PASSWORD, "display_name": "Evil"}))
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(error_code(res).await, "invalid_setup_token");
    assert_eq!(app.login("evil@example.com", PASSWORD).await.status(), 401);
}

#[tokio::test]
async fn admin_endpoints_refuse_anonymous_callers_with_401() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/api/v1/admin/users")).send().await.unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn admin_endpoints_refuse_customers_with_403() {
    let app = spawn_app().await;
    let customer = app.register("ann@example.com").await;
    let res = app.get_authed("/api/v1/admin/users", customer["access_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), 403);
    assert_eq!(error_code(res).await, "admin_required");
}

#[tokio::test]
async fn an_admin_pages_through_every_account() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let token = admin["access_token"].as_str().unwrap();
    for i in 0..3 {
        app.register(&format!("user{i}@example.com")).await;
    }
    let mut emails = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/admin/users?limit=2&cursor={c}"),
            None => "/api/v1/admin/users?limit=2".to_string(),
        };
        let page: serde_json::Value = app.get_authed(&path, token).await.json().await.unwrap();
        emails.extend(page["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(emails, ["admin@example.com", "user0@example.com", "user1@example.com", "user2@example.com"]);
}

#[tokio::test]
async fn disabling_an_account_signs_it_out_and_blocks_login() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let ann = app.register("ann@example.com").await;
    let res = app
        .client
        .put(app.url(&format!("/api/v1/admin/users/{}/status", ann["user"]["id"].as_str().unwrap())))
        .bearer_auth(admin["access_token"].as_str().unwrap())
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(app.get_authed("/api/v1/me", ann["access_token"].as_str().unwrap()).await.status(), 403);
    let login = app.login("ann@example.com", PASSWORD).await;
    assert_eq!(login.status(), 403);
    assert_eq!(error_code(login).await, "account_disabled");
}
