//! Response hardening at the edge: headers every response carries, the
//! Content-Security-Policy of the HTML pages, and CORS for the JSON API from
//! the configured origins (`streamcart.cors_allowed_origins`).
//!
//! CORS is hand-written rather than tower-http's `CorsLayer` because it must
//! apply to `/api/` only: WHIP/WHEP answer their own preflights with `*`
//! (any player may call them), and a router-wide `CorsLayer` would answer
//! those preflights itself.

use std::sync::LazyLock;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::app::AppState;

/// The one page with inline `<script>` and `<style>` (its hashes are allowed).
const SETUP_PAGE: &str = include_str!("../../static/setup.html");

/// The policy minus `connect-src`, which names the request's own host for
/// the WebSocket. Only this origin: scripts, styles, media, and the WHIP/WHEP
/// endpoints (same origin) the pages call; nothing may frame the pages.
static PAGE_POLICY: LazyLock<String> = LazyLock::new(|| {
    let scripts = inline_hashes(SETUP_PAGE, "script");
    let styles = inline_hashes(SETUP_PAGE, "style");
    format!(
        "default-src 'self'; script-src 'self'{scripts}; style-src 'self'{styles}; img-src 'self' data:; \
         media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
});

/// `'sha256-…'` sources for every inline `<tag>` body (those without `src=`).
fn inline_hashes(html: &str, tag: &str) -> String {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start..];
        let Some(head_end) = after.find('>') else { break };
        let head = &after[..head_end];
        let body_and_more = &after[head_end + 1..];
        let Some(body_end) = body_and_more.find(&close) else { break };
        if !head.contains("src=") {
            let digest = Sha256::digest(body_and_more[..body_end].as_bytes());
            out.push_str(&format!(" 'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest)));
        }
        rest = &body_and_more[body_end + close.len()..];
    }
    out
}

/// The page policy for a request to `host` (`connect-src` adds its ws/wss
/// origins, for browsers whose `'self'` does not cover WebSockets).
pub fn page_policy(host: Option<&str>) -> String {
    let safe = host.filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')));
    match safe {
        Some(h) => format!("{}; connect-src 'self' ws://{h} wss://{h}", *PAGE_POLICY),
        None => format!("{}; connect-src 'self'", *PAGE_POLICY),
    }
}

/// Adds the hardening headers to every response; the CSP to HTML pages
/// (Swagger UI under `/api/docs` keeps its own inline bootstrap, so it gets
/// the framing and sniffing protections only).
pub async fn harden(request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_string);
    let docs = request.uri().path().starts_with("/api/docs");
    let mut response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if is_html && !docs {
        if let Ok(policy) = HeaderValue::from_str(&page_policy(host.as_deref())) {
            headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        }
    }
    response
}

/// CORS for `/api/`: an `Origin` in the configured list may call the API
/// (bearer tokens, no cookies, so no credentials mode); any other origin gets
/// no CORS headers and the browser blocks the response.
pub async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let allowed = &state.settings.cors_allowed_origins;
    if allowed.is_empty() || !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let origin = request.headers().get(header::ORIGIN).cloned();
    let permitted = origin.as_ref().and_then(|o| o.to_str().ok()).is_some_and(|o| allowed.iter().any(|a| a == "*" || a == o));
    let preflight = request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        if permitted {
            allow(response.headers_mut(), origin);
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE"));
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type, idempotency-key, x-request-id"));
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        }
        return response;
    }
    let mut response = next.run(request).await;
    if permitted {
        allow(response.headers_mut(), origin);
    }
    response
}

fn allow(headers: &mut HeaderMap, origin: Option<HeaderValue>) {
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.append(header::VARY, HeaderValue::from_static("origin"));
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("retry-after, x-request-id, location"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_and_styles_are_hashed_and_external_ones_are_not() {
        let html = "<style>a{}</style><script src=\"/x.js\"></script><script type=\"module\">go()</script>";
        let expected = |body: &str| format!(" 'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body.as_bytes())));
        assert_eq!(inline_hashes(html, "script"), expected("go()"));
        assert_eq!(inline_hashes(html, "style"), expected("a{}"));
    }

    #[test]
    fn the_page_policy_allows_only_this_origin_and_forbids_framing() {
        let policy = page_policy(Some("shop.example:7880"));
        assert!(policy.starts_with("default-src 'self'; script-src 'self'"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'") && policy.contains("object-src 'none'"));
        assert!(policy.ends_with("connect-src 'self' ws://shop.example:7880 wss://shop.example:7880"), "{policy}");
        assert!(!policy.contains("unsafe-inline") && !policy.contains("http:") && !policy.contains('*'));
    }

    #[test]
    fn a_host_header_cannot_add_directives() {
        let policy = page_policy(Some("evil; script-src *"));
        assert!(policy.ends_with("connect-src 'self'"), "{policy}");
    }
}
