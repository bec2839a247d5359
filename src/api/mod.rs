//! The HTTP edge: routes, OpenAPI document, extractors, error mapping.
//! Handlers parse input into domain types, call the store or a core, and map
//! results to responses; business rules live in the modules they call.

pub mod admin;
pub mod auth;
pub mod extract;
pub mod health;
pub mod rooms;
pub mod setup;
pub mod shops;
pub mod catalog;
pub mod stock;
pub mod cart;
pub mod coupons;
pub mod orders;
pub mod payments;
pub mod notifications;
pub mod commerce_edge;
pub mod shop_rooms;
pub mod security;
pub mod money;
pub mod shipping;
pub mod shop_admin;
pub mod customer_wallet;

use axum::http::{HeaderName, Request};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::app::AppState;
use crate::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(title = "streamcart", description = "Live shopping: accounts, shops, commerce, rooms. Errors are always {\"error\":{\"code\",\"message\"}}."),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "setup"), (name = "admin"), (name = "shops"), (name = "rooms"), (name = "operations"), (name = "catalog"), (name = "stock"), (name = "cart"), (name = "orders"), (name = "notifications"), (name = "live"), (name = "livekit"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()));
    }
}

/// Every documented route. The OpenAPI document is generated from this list,
/// so a route cannot exist without its documentation.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(setup::create_first_admin))
        .routes(routes!(admin::list_users))
        .routes(routes!(admin::set_user_status))
        .routes(routes!(shops::create_shop))
        .routes(routes!(shops::get_shop))
        .routes(routes!(shops::add_member))
        .routes(routes!(rooms::create_room))
        .routes(routes!(rooms::get_room))
        .routes(routes!(rooms::rotate_stream_key))
        .routes(routes!(rooms::mint_room_token))
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(health::metrics))
        .routes(routes!(catalog::create_category, catalog::list_categories))
        .routes(routes!(catalog::create_product, catalog::list_shop_products))
        .routes(routes!(catalog::get_product))
        .routes(routes!(catalog::update_product))
        .routes(routes!(catalog::publish_product))
        .routes(routes!(catalog::unpublish_product))
        .routes(routes!(catalog::add_variant))
        .routes(routes!(catalog::update_variant))
        .routes(routes!(catalog::search))
        .routes(routes!(stock::get_stock))
        .routes(routes!(stock::restock))
        .routes(routes!(stock::adjust))
        .routes(routes!(stock::list_movements))
        .routes(routes!(cart::get_cart))
        .routes(routes!(cart::set_item, cart::remove_item))
        .routes(routes!(cart::apply_coupon, cart::remove_coupon))
        .routes(routes!(coupons::create_shop_coupon))
        .routes(routes!(coupons::create_platform_coupon))
        .routes(routes!(orders::checkout))
        .routes(routes!(orders::pay_order))
        .routes(routes!(orders::my_orders))
        .routes(routes!(orders::get_order))
        .routes(routes!(orders::cancel_order))
        .routes(routes!(orders::invoice))
        .routes(routes!(orders::shop_orders))
        .routes(routes!(orders::update_order_status))
        .routes(routes!(payments::payment_webhook))
        .routes(routes!(money::create_refund))
        .routes(routes!(money::wallet))
        .routes(routes!(customer_wallet::my_wallet))
        .routes(routes!(customer_wallet::issue_store_credit))
        .routes(routes!(shipping::get_rates, shipping::set_rates))
        .routes(routes!(shipping::set_cart_country))
        .routes(routes!(shipping::track))
        .routes(routes!(shop_admin::suspend_shop))
        .routes(routes!(shop_admin::unsuspend_shop))
        .routes(routes!(shop_admin::get_profile, shop_admin::update_profile))
        .routes(routes!(notifications::list))
        .routes(routes!(notifications::mark_read))
        .routes(routes!(notifications::mark_all_read))
        .routes(routes!(crate::signaling::http::moderation_log))
        .routes(routes!(crate::signaling::http::publish_event))
        .merge(crate::sfu::http::routes())
        .routes(routes!(shop_rooms::list_shop_rooms))
        .routes(routes!(shop_rooms::room_shop))
        .routes(routes!(crate::live::http::list_pins, crate::live::http::pin_product))
        .routes(routes!(crate::live::http::unpin_product))
        .routes(routes!(crate::live::http::create_sale, crate::live::http::list_sales))
        .routes(routes!(crate::live::http::reserve))
        .routes(routes!(crate::live::http::cancel_sale))
        .routes(routes!(crate::live::http::checkout_reservation))
        .routes(routes!(crate::livekit::http::room_service))
        .routes(routes!(crate::live::analytics_http::room_analytics))
        .routes(routes!(crate::live::card_events_http::report_card_events))
        .routes(routes!(crate::live::engage_http::create_poll, crate::live::engage_http::list_polls))
        .routes(routes!(crate::live::engage_http::vote))
        .routes(routes!(crate::live::engage_http::close_poll))
        .routes(routes!(crate::live::engage_http::create_giveaway, crate::live::engage_http::list_giveaways))
        .routes(routes!(crate::live::engage_http::enter))
        .routes(routes!(crate::live::engage_http::draw))
        .routes(routes!(crate::live::engage_http::entrants))
        .routes(routes!(crate::live::auction_http::create_auction, crate::live::auction_http::list_auctions))
        .routes(routes!(crate::live::auction_http::place_bid))
        .routes(routes!(crate::live::auction_http::cancel_auction))
        .routes(routes!(crate::live::auction_http::offer_runner_up))
        .routes(routes!(crate::live::event_log::event_log))
}

pub fn router(state: AppState) -> Router {
    let (api, openapi) = api_routes().split_for_parts();
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(api)
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi))
        .route("/setup", get(setup::page))
        // The signaling WebSocket (not JSON, so not in OpenAPI): docs/PROTOCOL.md.
        .route("/ws", get(crate::signaling::ws::upgrade))
        // LiveKit client signaling (WebSocket + SDK probes, not in OpenAPI): docs/LIVEKIT.md.
        .merge(crate::livekit::rtc::routes())
        // The pages and their static assets (HTML, not in OpenAPI): src/pages.
        .merge(crate::pages::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(crate::telemetry::record_http_metrics))
        .layer(middleware::from_fn_with_state(state.admission.clone(), crate::admission::http::shed))
        .layer(middleware::from_fn_with_state(state.clone(), security::cors))
        .layer(middleware::from_fn(security::harden))
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

async fn not_found() -> Response {
    ApiError::not_found("route_not_found", "no endpoint at this path; see /api/docs").into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::MethodNotAllowed { message: "this endpoint does not accept that method; see /api/docs".into() }.into_response()
}
