//! Register, login, refresh rotation with reuse detection, logout, /me.

use serde_json::json;

use crate::support::{error_code, spawn_app, spawn_app_with, PASSWORD};

#[tokio::test]
async fn registering_returns_the_user_and_a_working_token_pair() {
    let app = spawn_app().await;
    let body = app.register("Ann@Example.com").await;
    assert_eq!(body["user"]["email"], "ann@example.com");
    assert_eq!(body["user"]["roles"], json!(["customer"]));
    assert_eq!(body["token_type"], "Bearer");
    let me = app.get_authed("/api/v1/me", body["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["user"]["id"], body["user"]["id"]);
}

#[tokio::test]
async fn registering_a_taken_email_is_a_conflict() {
    let app = spawn_app().await;
    app.register("ann@example.com").await;
    let res = app
        .post_json("/api/v1/auth/register", &json!({"email": "ANN@example.com", "password": "another password", "display_name": "Other"}))
        .await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "email_taken");
    assert_eq!(app.login("ann@example.com", "another password").await.status(), 401, "the first account is untouched");
}

#[tokio::test]
async fn registering_with_a_short_password_is_refused_and_creates_nothing() {
    let app = spawn_app().await;
    let res = app.post_json("/api/v1/auth/register", &json!({"email": "ann@example.com", "password": "short", "display_name": "Ann"})).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "password_too_short");
    app.register("ann@example.com").await;
}

#[tokio::test]
async fn registering_with_a_malformed_email_is_refused() {
    let app = spawn_app().await;
    let res = app.post_json("/api/v1/auth/register", &json!({"email": "not-an-email", "password": PASSWORD, "display_name": "Ann"})).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "invalid_email");
}

#[tokio::test]
async fn logging_in_with_the_right_password_returns_tokens() {
    let app = spawn_app().await;
    app.register("ann@example.com").await;
    let res = app.login("ann@example.com", PASSWORD).await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["access_token"].as_str().unwrap().split('.').count() == 3);
    assert!(!body["refresh_token"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn logging_in_with_a_wrong_password_or_unknown_email_gives_the_same_401() {
    let app = spawn_app().await;
    app.register("ann@example.com").await;
    let wrong = app.login("ann@example.com", "wrong password!").await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(error_code(wrong).await, "invalid_credentials");
    let unknown = app.login("nobody@example.com", PASSWORD).await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(error_code(unknown).await, "invalid_credentials");
}

#[tokio::test]
async fn refreshing_rotates_the_pair_and_the_new_access_token_works() {
    let app = spawn_app().await;
    let first = app.register("ann@example.com").await;
    let res = app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": first["refresh_token"]})).await;
    assert_eq!(res.status(), 200);
    let second: serde_json::Value = res.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(app.get_authed("/api/v1/me", second["access_token"].as_str().unwrap()).await.status(), 200);
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_session() {
    let app = spawn_app().await;
    let first = app.register("ann@example.com").await;
    let second: serde_json::Value = app
        .post_json("/api/v1/auth/refresh", &json!({"refresh_token": first["refresh_token"]}))
        .await
        .json()
        .await
        .unwrap();

    let reuse = app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": first["refresh_token"]})).await;
    assert_eq!(reuse.status(), 401);
    assert_eq!(error_code(reuse).await, "refresh_token_reused");

    let successor = app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": second["refresh_token"]})).await;
    assert_eq!(successor.status(), 401, "the legitimate successor dies with the family");
    assert_eq!(error_code(successor).await, "session_revoked");
    let me = app.get_authed("/api/v1/me", second["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status(), 401);
    assert_eq!(error_code(me).await, "session_revoked");
}

#[tokio::test]
async fn reuse_in_one_session_leaves_other_sessions_signed_in() {
    let app = spawn_app().await;
    let phone = app.register("ann@example.com").await;
    let laptop: serde_json::Value = app.login("ann@example.com", PASSWORD).await.json().await.unwrap();
    for _ in 0..2 {
        app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": phone["refresh_token"]})).await;
    }
    assert_eq!(app.get_authed("/api/v1/me", laptop["access_token"].as_str().unwrap()).await.status(), 200);
}

#[tokio::test]
async fn an_unknown_refresh_token_is_refused() {
    let app = spawn_app().await;
    let res = app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": "made-up"})).await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(res).await, "invalid_refresh_token");
}

#[tokio::test]
async fn logging_out_ends_the_access_and_refresh_tokens_of_that_session() {
    let app = spawn_app().await;
    let body = app.register("ann@example.com").await;
    let access = body["access_token"].as_str().unwrap();
    let res = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(access).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(app.get_authed("/api/v1/me", access).await.status(), 401);
    let refresh = app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": body["refresh_token"]})).await;
    assert_eq!(refresh.status(), 401);
}

#[tokio::test]
async fn me_without_a_token_or_with_a_forged_one_is_401() {
    let app = spawn_app().await;
    let missing = app.client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(error_code(missing).await, "missing_token");
    let forged = app.get_authed("/api/v1/me", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl").await;
    assert_eq!(forged.status(), 401);
    assert_eq!(error_code(forged).await, "invalid_token");
}

#[tokio::test]
async fn an_expired_access_token_is_refused_with_token_expired() {
    let app = spawn_app().await;
    let body = app.register("ann@example.com").await;
    let secrets: serde_json::Value =
        serde_json::from_slice(&std::fs::read(app.data_dir.path().join("secrets.json")).unwrap()).unwrap();
    let key = streamcart::auth::TokenKeys::new(secrets["jwt_signing_key"].as_str().unwrap(), 60);
    let claims = key.verify_access(body["access_token"].as_str().unwrap()).unwrap();
    let expired = key.issue_access(&claims.sub, &claims.sid, 1_000_000).unwrap();
    let res = app.get_authed("/api/v1/me", &expired).await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(res).await, "token_expired");
}

#[tokio::test]
async fn login_is_limited_per_account_with_retry_after() {
    let app = spawn_app_with(|s| s.auth.login_attempts_per_account_per_minute = 3).await;
    app.register("ann@example.com").await;
    for _ in 0..3 {
        assert_eq!(app.login("ann@example.com", "wrong password!").await.status(), 401);
    }
    let limited = app.login("ann@example.com", PASSWORD).await;
    assert_eq!(limited.status(), 429, "even the right password waits once the budget is spent");
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(error_code(limited).await, "rate_limited");
    assert_eq!(app.login("bob@example.com", PASSWORD).await.status(), 401, "other accounts are not limited");
}

#[tokio::test]
async fn login_is_limited_per_client_address() {
    let app = spawn_app_with(|s| s.auth.login_attempts_per_ip_per_minute = 4).await;
    for i in 0..4 {
        assert_eq!(app.login(&format!("user{i}@example.com"), PASSWORD).await.status(), 401);
    }
    let limited = app.login("user9@example.com", PASSWORD).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
}
