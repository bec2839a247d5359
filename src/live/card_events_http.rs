//! `POST /api/v1/rooms/{room}/card-events`: viewers' pages report product-card
//! impressions, clicks and cart adds made from a pinned card (the socket's
//! `card.track` takes the same path, `track_cards`). A report counts once per
//! viewer, product, kind and minute, only for products pinned in the room now,
//! and a cart add only when the product is in the reporter's cart.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::analytics::minute_of;
use super::card_events::{CardEventKind, MAX_PRODUCTS_PER_REPORT};
use super::http::visible_room;
use crate::api::extract::{AppJson, ClientIp, MaybeAuthUser};
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::store::{now_ms, RoomRow};

#[derive(Deserialize, ToSchema)]
pub struct CardReport {
    /// `impression`, `click` or `add_to_cart` (signed in, the product in your cart).
    pub kind: String,
    /// 1 to 10 product ids of the room's pinned cards.
    pub product_ids: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CardReportAck {
    /// Reports that counted (new for this viewer, product, kind and minute).
    pub counted: u64,
}

/// Whom a report is deduplicated and rate-limited by: the signed-in user, or
/// the client address of an anonymous viewer (a reconnect cannot reset it).
pub fn viewer_key(user_id: Option<&str>, ip: Option<std::net::IpAddr>) -> String {
    match (user_id, ip) {
        (Some(user), _) => format!("user:{user}"),
        (None, Some(ip)) => format!("ip:{ip}"),
        (None, None) => "ip:unknown".to_string(),
    }
}

/// Counts a viewer's card report in a room it may see.
pub async fn track_cards(state: &AppState, room: &RoomRow, user_id: Option<&str>, viewer: &str, kind: &str, product_ids: &[String]) -> Result<CardReportAck, ApiError> {
    let kind = CardEventKind::parse(kind).ok_or_else(|| ApiError::unprocessable("invalid_card_event", "kind is impression, click or add_to_cart"))?;
    if product_ids.is_empty() || product_ids.len() > MAX_PRODUCTS_PER_REPORT || product_ids.iter().any(|p| p.is_empty() || p.len() > 64) {
        return Err(ApiError::unprocessable("invalid_card_event", format!("product_ids names 1 to {MAX_PRODUCTS_PER_REPORT} products")));
    }
    if kind == CardEventKind::AddToCart && user_id.is_none() {
        return Err(ApiError::unauthorized("login_required", "sign in to report a cart add"));
    }
    let now = now_ms();
    let fresh = state.analytics.admit_cards(&room.name, viewer, kind, product_ids, now).map_err(|t| ApiError::RateLimited {
        retry_after_secs: u64::try_from(t.retry_after_ms).unwrap_or(1).div_ceil(1000).max(1),
    })?;
    if fresh.is_empty() {
        return Ok(CardReportAck { counted: 0 });
    }
    let pinned = state.store.pinned_products(&room.id).await?;
    let mut counted: Vec<String> = fresh.into_iter().filter(|p| pinned.contains(p)).collect();
    if let (CardEventKind::AddToCart, Some(user)) = (kind, user_id) {
        let cart = state.store.cart_lines(user).await?;
        counted.retain(|p| cart.iter().any(|line| &line.product_id == p));
    }
    if counted.is_empty() {
        return Ok(CardReportAck { counted: 0 });
    }
    let added = state.store.insert_card_events(&room.id, minute_of(now), kind.as_str(), viewer, &counted).await?;
    state.analytics.remember_cards(&room.name, viewer, kind, &counted, now);
    Ok(CardReportAck { counted: added })
}

/// Report product-card impressions, clicks or cart adds (the viewer page's
/// beacon). Anonymous viewers may report impressions and clicks.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/card-events", tag = "live",
    params(("room" = String, Path, description = "room name")), request_body = CardReport,
    responses((status = 200, body = CardReportAck), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn report_card_events(
    State(state): State<AppState>,
    caller: MaybeAuthUser,
    ClientIp(ip): ClientIp,
    Path(room): Path<String>,
    AppJson(body): AppJson<CardReport>,
) -> Result<Json<CardReportAck>, ApiError> {
    let room = visible_room(&state, &caller, &room).await?;
    let user_id = caller.0.as_ref().map(|u| u.user_id.as_str());
    let viewer = viewer_key(user_id, Some(ip));
    Ok(Json(track_cards(&state, &room, user_id, &viewer, &body.kind, &body.product_ids).await?))
}
