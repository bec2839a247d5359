//! Security basics at the edge: hardening headers, the pages' CSP, CORS off
//! by default and on for configured origins only.

use crate::support::{spawn_app, spawn_app_with};

#[tokio::test]
async fn every_page_has_a_csp_allowing_only_this_origin_and_forbidding_framing() {
    let app = spawn_app().await;
    for path in ["/studio", "/live/show", "/moderate/show", "/shop/acme", "/setup"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let headers = res.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'self'; script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{path}: {csp}");
        let host = app.address.trim_start_matches("http://");
        assert!(csp.contains(&format!("connect-src 'self' ws://{host} wss://{host}")), "{path}: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["referrer-policy"], "strict-origin-when-cross-origin");
    }
    let setup = app.client.get(app.url("/setup")).send().await.unwrap();
    assert!(setup.headers()["content-security-policy"].to_str().unwrap().contains("'sha256-"), "the setup page's inline script is allowed by its hash");
}

#[tokio::test]
async fn api_responses_and_errors_carry_nosniff() {
    let app = spawn_app().await;
    for path in ["/api/v1/rooms/nope", "/health/live", "/static/common.js"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
        assert!(!res.headers().contains_key("content-security-policy"), "{path}: only HTML pages need a CSP");
    }
}

#[tokio::test]
async fn without_configured_origins_the_api_sends_no_cors_headers() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/api/v1/rooms/nope")).header("origin", "https://evil.example").send().await.unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn a_configured_origin_may_call_the_api_and_other_origins_may_not() {
    let app = spawn_app_with(|s| s.cors_allowed_origins = vec!["https://shop.example".into()]).await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/login"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "https://shop.example");
    assert!(preflight.headers()["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    let call = app.client.get(app.url("/api/v1/rooms/nope")).header("origin", "https://shop.example").send().await.unwrap();
    assert_eq!(call.headers()["access-control-allow-origin"], "https://shop.example");
    let stranger = app.client.get(app.url("/api/v1/rooms/nope")).header("origin", "https://evil.example").send().await.unwrap();
    assert!(!stranger.headers().contains_key("access-control-allow-origin"));
    let stranger_preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/login"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(!stranger_preflight.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn whip_keeps_answering_any_origin_when_api_cors_is_configured() {
    let app = spawn_app_with(|s| s.cors_allowed_origins = vec!["https://shop.example".into()]).await;
    let res = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/whip/show"))
        .header("origin", "https://player.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
}
