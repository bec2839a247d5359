//! Health, readiness under dependency loss, metrics, OpenAPI, request ids, secrets.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::support::{fresh_postgres_schema, postgres_url, redis_url, spawn_app, spawn_app_with, CuttableProxy};

#[tokio::test]
async fn liveness_answers_ok() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ok");
}

#[tokio::test]
async fn readiness_names_the_store_backend_in_use() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let expected = if postgres_url().is_some() { "postgres" } else { "sqlite" };
    assert_eq!(body["checks"]["store"]["backend"], expected);
    assert_eq!(body["checks"]["redis"].is_object(), redis_url().is_some());
}

pub fn socket_of(url: &str, default_port: u16) -> SocketAddr {
    let after_scheme = url.split("://").nth(1).unwrap();
    let host_port = after_scheme.rsplit('@').next().unwrap().split(['/', '?']).next().unwrap();
    let host_port = if host_port.contains(':') { host_port.to_string() } else { format!("{host_port}:{default_port}") };
    let host_port = host_port.replace("localhost", "127.0.0.1");
    host_port.parse().expect("a numeric host:port in the test URL")
}

#[tokio::test]
async fn readiness_is_503_naming_the_store_while_postgresql_is_unreachable_and_recovers() {
    let Some(base) = postgres_url() else {
        eprintln!("skipped: STREAMCART_TEST_DATABASE_URL is not set (SQLite run)");
        return;
    };
    let proxy = CuttableProxy::start(socket_of(&base, 5432)).await;
    let target = socket_of(&base, 5432).to_string();
    let via_proxy = base.replacen(&target, &proxy.addr.to_string(), 1).replacen("localhost:5432", &proxy.addr.to_string(), 1);
    let url = fresh_postgres_schema(&via_proxy).await;
    let app = spawn_app_with(move |s| s.database_url = Some(url)).await;
    assert_eq!(app.client.get(app.url("/health/ready")).send().await.unwrap().status(), 200);

    proxy.cut();
    let res = app.client.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["store"]["status"], "down");
    let register = app
        .post_json("/api/v1/auth/register", &serde_json::json!({"email": "a@example.com", "password": crate::support::PASSWORD, "display_name": "A"}))
        .await;
    assert_eq!(register.status(), 503, "writes fail clearly while the database is away");
    assert_eq!(crate::support::error_code(register).await, "store_unavailable");

    proxy.restore();
    let mut recovered = false;
    for _ in 0..50 {
        if app.client.get(app.url("/health/ready")).send().await.unwrap().status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "readiness recovers without restarting streamcart");
}

#[tokio::test]
async fn readiness_is_503_naming_redis_while_redis_is_unreachable() {
    let Some(base) = redis_url() else {
        eprintln!("skipped: STREAMCART_TEST_REDIS_URL is not set");
        return;
    };
    let target = socket_of(&base, 6379);
    let proxy = CuttableProxy::start(target).await;
    let url = format!("redis://{}", proxy.addr);
    let app = spawn_app_with(move |s| s.redis_url = Some(url)).await;
    assert_eq!(app.client.get(app.url("/health/ready")).send().await.unwrap().status(), 200);
    proxy.cut();
    let res = app.client.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["checks"]["redis"]["status"], "down");
    assert_eq!(body["checks"]["store"]["status"], "up");
}

#[tokio::test]
async fn metrics_count_requests_per_route_template() {
    let app = spawn_app().await;
    app.client.get(app.url("/health/live")).send().await.unwrap();
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total{") && l.contains("route=\"/health/live\"")),
        "{text}"
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_account_endpoint() {
    let app = spawn_app().await;
    let doc: Value = app.client.get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/me"] {
        assert!(doc["paths"][path].is_object(), "{path} missing from OpenAPI");
    }
    let docs = app.client.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"), "Swagger UI is served");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_the_callers() {
    let app = spawn_app().await;
    let generated = app.client.get(app.url("/health/live")).send().await.unwrap();
    assert!(!generated.headers()["x-request-id"].is_empty());
    let echoed = app.client.get(app.url("/health/live")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn first_run_writes_secrets_readable_only_by_the_owner() {
    let app = spawn_app().await;
    let meta = std::fs::metadata(app.data_dir.path().join("secrets.json")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let secrets: Value = serde_json::from_slice(&std::fs::read(app.data_dir.path().join("secrets.json")).unwrap()).unwrap();
    assert_eq!(secrets["jwt_signing_key"].as_str().unwrap().len(), 128);
    assert_eq!(secrets["api_keys"].as_object().unwrap().len(), 1, "an API key pair is generated when none is configured");
}

#[tokio::test]
async fn a_restart_on_the_same_store_keeps_accounts_and_prints_no_new_setup_link() {
    let app = spawn_app().await;
    app.create_admin().await;
    app.register("ann@example.com").await;
    let settings = app.settings.clone();
    let again = streamcart::Application::build(settings).await.unwrap();
    assert!(again.setup_token().is_none(), "an admin exists, so no setup link");
    let port = again.port();
    tokio::spawn(again.run_until_stopped(std::future::pending()));
    let res = app.client.post(format!("http://127.0.0.1:{port}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "ann@example.com", "password": crate::support::PASSWORD}))
        .send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn demo_seeding_creates_a_shop_with_staff_a_live_room_and_products_once() {
    let app = spawn_app().await;
    let node = streamcart::Application::build(app.settings.clone()).await.unwrap();
    let accounts = streamcart::demo::seed(&node.state().store, "USD").await.unwrap().expect("first seeding");
    assert_eq!(accounts.iter().map(|a| a.role).collect::<Vec<_>>(), ["seller", "moderator", "viewer"]);
    let seller = accounts.iter().find(|a| a.role == "seller").unwrap();
    assert_eq!(app.login(&seller.email, &seller.password).await.status(), 200, "the printed password works");
    assert!(streamcart::demo::seed(&node.state().store, "USD").await.unwrap().is_none(), "seeding twice changes nothing");
    let room: Value = app.client.get(app.url("/api/v1/rooms/demo-live")).send().await.unwrap().json().await.unwrap();
    assert_eq!(room["title"], "Demo live shopping");
    let products: Value = app.client.get(app.url("/api/v1/shops/demo/products")).send().await.unwrap().json().await.unwrap();
    assert_eq!(products["items"].as_array().unwrap().len(), 2, "{products}");
}
