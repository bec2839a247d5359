//! The three pages (seller studio, viewer page, moderator panel) and the shop
//! landing page: static HTML + plain ES modules from `static/`, compiled into
//! the binary with `include_str!` so the one file is enough and nothing is
//! fetched from a CDN. The pages talk only to the public API, `/ws`, WHIP and WHEP.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::app::AppState;
use crate::error::ApiError;

/// Every asset under `/static/{name}`: (name, content type, body).
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", "text/css; charset=utf-8", include_str!("../../static/app.css")),
    ("common.js", "text/javascript; charset=utf-8", include_str!("../../static/common.js")),
    ("hub.js", "text/javascript; charset=utf-8", include_str!("../../static/hub.js")),
    ("rtc.js", "text/javascript; charset=utf-8", include_str!("../../static/rtc.js")),
    ("live.js", "text/javascript; charset=utf-8", include_str!("../../static/live.js")),
    ("studio.js", "text/javascript; charset=utf-8", include_str!("../../static/studio.js")),
    ("moderate.js", "text/javascript; charset=utf-8", include_str!("../../static/moderate.js")),
    ("shop.js", "text/javascript; charset=utf-8", include_str!("../../static/shop.js")),
    ("shopping.js", "text/javascript; charset=utf-8", include_str!("../../static/shopping.js")),
    ("analytics.js", "text/javascript; charset=utf-8", include_str!("../../static/analytics.js")),
    ("live_commerce.js", "text/javascript; charset=utf-8", include_str!("../../static/live_commerce.js")),
    ("studio_commerce.js", "text/javascript; charset=utf-8", include_str!("../../static/studio_commerce.js")),
    ("engage.js", "text/javascript; charset=utf-8", include_str!("../../static/engage.js")),
];

const LIVE: &str = include_str!("../../static/live.html");
const STUDIO: &str = include_str!("../../static/studio.html");
const MODERATE: &str = include_str!("../../static/moderate.html");
const SHOP: &str = include_str!("../../static/shop.html");

/// Page routes (HTML, not part of the OpenAPI document): `/studio`,
/// `/live/{room}`, `/moderate/{room}`, `/shop/{slug}` and `/static/{name}`.
/// The pages read the room or shop name from their own URL.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/studio", get(|| async { Html(STUDIO) }))
        .route("/live/{room}", get(|_: Path<String>| async { Html(LIVE) }))
        .route("/moderate/{room}", get(|_: Path<String>| async { Html(MODERATE) }))
        .route("/shop/{slug}", get(|_: Path<String>| async { Html(SHOP) }))
        .route("/static/{name}", get(asset))
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "no-cache")], *body).into_response()
        }
        None => ApiError::not_found("asset_not_found", "no static file has this name").into_response(),
    }
}
