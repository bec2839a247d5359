//! An admin suspends or reinstates a shop (`/api/v1/admin/shops/{shop}/…`);
//! a shop's sellers edit its public profile and branding
//! (`/api/v1/shops/{shop}/profile`). A suspended shop's products leave search
//! and its checkout is refused with `shop_suspended`; its live streams end and it
//! cannot go live again until reinstated.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::commerce_edge::seller_shop;
use super::extract::{AppJson, AuthUser};
use super::shops::{find_shop, ShopView};
use crate::app::AppState;
use crate::commerce::domain::parse_text;
use crate::commerce::store::ShopProfile;
use crate::error::{ApiError, ErrorBody};

#[derive(Deserialize, ToSchema, Default)]
pub struct SuspendRequest {
    /// Shown to the shop's sellers.
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ShopStatusView {
    pub shop: ShopView,
    pub suspended_reason: Option<String>,
}

fn require_admin(caller: &AuthUser) -> Result<(), ApiError> {
    if caller.is_admin {
        Ok(())
    } else {
        Err(ApiError::forbidden("admin_only", "only a platform admin can do this"))
    }
}

async fn set_status(state: &AppState, caller: &AuthUser, slug: &str, status: &str, reason: Option<String>) -> Result<Json<ShopStatusView>, ApiError> {
    require_admin(caller)?;
    let shop = find_shop(state, slug).await?;
    state.store.set_shop_status(&shop.id, status, reason.as_deref()).await?;
    if status == "suspended" {
        end_live_streams(state, &shop.id).await?;
    }
    let shop = find_shop(state, slug).await?;
    Ok(Json(ShopStatusView { shop: shop.into(), suspended_reason: reason }))
}

/// A suspended shop stops broadcasting: each of its rooms' WHIP publishes ends (its
/// viewers' sessions with it; the room's channel hears `stream.ended` with reason
/// `shop_suspended`) and the room is marked ended.
async fn end_live_streams(state: &AppState, shop_id: &str) -> Result<(), ApiError> {
    let Ok(sessions) = state.sfu.sessions(None).await else { return Ok(()) };
    for room in state.store.rooms_of_shop(shop_id).await? {
        for session in sessions.iter().filter(|s| s.publisher && s.room_id == room.id) {
            if let Ok(true) = state.sfu.end_because(room.name.clone(), session.session.clone(), "shop_suspended").await {
                state.store.set_room_status(&room.id, "ended").await?;
                tracing::info!(room = room.name, "shop suspended; its live stream was ended");
            }
        }
    }
    Ok(())
}

/// Suspend a shop (admins): its live streams end, and until it is reinstated its products leave search, its checkout is refused and it cannot go live.
#[utoipa::path(post, path = "/api/v1/admin/shops/{shop}/suspend", tag = "admin", security(("bearer" = [])), request_body = SuspendRequest,
    params(("shop" = String, Path, description = "shop slug")),
    responses((status = 200, body = ShopStatusView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn suspend_shop(State(state): State<AppState>, caller: AuthUser, Path(shop): Path<String>, body: axum::body::Bytes) -> Result<Json<ShopStatusView>, ApiError> {
    // The body is optional: `curl -X POST …/suspend` works, `{"reason": "…"}` adds why.
    let request: SuspendRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SuspendRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("invalid_body", format!("expected {{\"reason\": \"…\"}}: {e}")))?
    };
    let reason = request.reason.map(|r| parse_text(&r, "reason", 500, true)).transpose()?.filter(|r| !r.is_empty());
    set_status(&state, &caller, &shop, "suspended", reason).await
}

/// Reinstate a suspended shop (admins).
#[utoipa::path(post, path = "/api/v1/admin/shops/{shop}/unsuspend", tag = "admin", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug")),
    responses((status = 200, body = ShopStatusView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unsuspend_shop(State(state): State<AppState>, caller: AuthUser, Path(shop): Path<String>) -> Result<Json<ShopStatusView>, ApiError> {
    set_status(&state, &caller, &shop, "active", None).await
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ProfileView {
    /// Up to 2000 characters of plain text.
    pub description: String,
    /// `https://` URL of a square logo.
    pub logo_url: Option<String>,
    /// `https://` URL of a wide banner.
    pub banner_url: Option<String>,
    /// `#rrggbb`.
    pub accent_color: Option<String>,
}

impl From<ShopProfile> for ProfileView {
    fn from(p: ShopProfile) -> Self {
        ProfileView { description: p.description, logo_url: p.logo_url, banner_url: p.banner_url, accent_color: p.accent_color }
    }
}

/// Fields to change; absent ones keep their value, `null` clears a URL or the colour.
#[derive(Deserialize, ToSchema, Default)]
pub struct ProfilePatch {
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub logo_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub banner_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub accent_color: Option<Option<String>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

fn parse_url(raw: &str, field: &'static str) -> Result<String, ApiError> {
    let url = raw.trim();
    let host_ok = url.strip_prefix("https://").is_some_and(|rest| rest.split('/').next().is_some_and(|h| !h.is_empty()));
    if url.len() <= 500 && host_ok && !url.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '\\')) {
        Ok(url.to_string())
    } else {
        Err(ApiError::bad_request("invalid_url", format!("{field} must be an https:// URL of at most 500 characters")))
    }
}

fn parse_color(raw: &str) -> Result<String, ApiError> {
    let c = raw.trim().to_ascii_lowercase();
    if c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(c)
    } else {
        Err(ApiError::bad_request("invalid_color", "accent_color must look like #1a2b3c"))
    }
}

/// A shop's public profile and branding.
#[utoipa::path(get, path = "/api/v1/shops/{shop}/profile", tag = "shops", params(("shop" = String, Path, description = "shop slug")),
    responses((status = 200, body = ProfileView), (status = 404, body = ErrorBody)))]
pub async fn get_profile(State(state): State<AppState>, Path(shop): Path<String>) -> Result<Json<ProfileView>, ApiError> {
    let shop = find_shop(&state, &shop).await?;
    Ok(Json(state.store.shop_profile(&shop.id).await?.into()))
}

/// Edit the shop's profile and branding (sellers of the shop). Every field is checked before anything is saved.
#[utoipa::path(patch, path = "/api/v1/shops/{shop}/profile", tag = "shops", security(("bearer" = [])), request_body = ProfilePatch,
    params(("shop" = String, Path, description = "shop slug")),
    responses((status = 200, body = ProfileView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_profile(State(state): State<AppState>, caller: AuthUser, Path(shop): Path<String>, AppJson(body): AppJson<ProfilePatch>) -> Result<Json<ProfileView>, ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    let mut profile = state.store.shop_profile(&shop.id).await?;
    if let Some(d) = &body.description {
        profile.description = parse_text(d, "description", 2000, true)?;
    }
    if let Some(url) = body.logo_url {
        profile.logo_url = url.map(|u| parse_url(&u, "logo_url")).transpose()?;
    }
    if let Some(url) = body.banner_url {
        profile.banner_url = url.map(|u| parse_url(&u, "banner_url")).transpose()?;
    }
    if let Some(color) = body.accent_color {
        profile.accent_color = color.map(|c| parse_color(&c)).transpose()?;
    }
    state.store.set_shop_profile(&shop.id, &profile).await?;
    Ok(Json(profile.into()))
}
