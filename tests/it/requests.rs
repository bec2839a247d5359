//! Malformed, oversized and misdirected requests: a clear 4xx and nothing written.

use serde_json::json;

use crate::support::{error_code, spawn_app, spawn_app_with, PASSWORD};

#[tokio::test]
async fn malformed_json_is_400_and_creates_no_account() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body(r#"{"email": "ann@example.com", "password": "#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "malformed_json");
    app.register("ann@example.com").await;
}

#[tokio::test]
async fn a_missing_field_is_400_naming_the_field() {
    let app = spawn_app().await;
    let res = app.post_json("/api/v1/auth/register", &json!({"email": "ann@example.com", "password": PASSWORD})).await;
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_body");
    assert!(body["error"]["message"].as_str().unwrap().contains("display_name"), "{body}");
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_400() {
    let app = spawn_app().await;
    let res = app.post_json("/api/v1/auth/login", &json!({"email": 42, "password": PASSWORD})).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "invalid_body");
}

#[tokio::test]
async fn a_body_without_json_content_type_is_415() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "text/plain")
        .body(json!({"email": "ann@example.com", "password": PASSWORD, "display_name": "Ann"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert_eq!(error_code(res).await, "unsupported_media_type");
    assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), 401);
}

#[tokio::test]
async fn an_oversized_body_is_413_and_creates_no_account() {
    let app = spawn_app_with(|s| s.max_body_bytes = 4096).await;
    let res = app
        .post_json("/api/v1/auth/register", &json!({"email": "ann@example.com", "password": PASSWORD, "display_name": "x".repeat(10_000)}))
        .await;
    assert_eq!(res.status(), 413);
    assert_eq!(error_code(res).await, "payload_too_large");
    assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), 401);
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/api/v1/nothing-here")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(error_code(res).await, "route_not_found");
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405() {
    let app = spawn_app().await;
    let res = app.client.delete(app.url("/api/v1/auth/login")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(error_code(res).await, "method_not_allowed");
}
