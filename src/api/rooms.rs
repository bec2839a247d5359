//! `/api/v1/rooms`: live rooms a shop runs. Creating one returns its stream key
//! once (OBS publishes over WHIP with it); only its hash is stored.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{AppJson, AuthUser, MaybeAuthUser};
use super::shops::{find_shop, parse_slug, require_shop_role};
use crate::app::AppState;
use crate::auth::{hash_opaque_token, new_opaque_token};
use crate::error::{ApiError, ErrorBody};
use crate::store::{NewRoom, RoomRow, ShopRole};

#[derive(Deserialize, ToSchema)]
pub struct CreateRoomRequest {
    /// Unique room name (2 to 48 of a-z, 0-9, '-', '_'): `/live/{name}`, `/whip/{name}`.
    #[schema(example = "spring-drop")]
    pub name: String,
    pub title: String,
    /// `public` (anyone may watch) or `private` (viewers need a token). Default public.
    pub visibility: Option<String>,
    /// Unix milliseconds, for upcoming streams.
    pub scheduled_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct RoomView {
    pub id: String,
    pub name: String,
    pub shop_id: String,
    pub title: String,
    pub visibility: String,
    /// `scheduled`, `live` or `ended`.
    pub status: String,
    pub scheduled_at: Option<i64>,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
}

impl From<RoomRow> for RoomView {
    fn from(r: RoomRow) -> Self {
        RoomView {
            id: r.id,
            name: r.name,
            shop_id: r.shop_id,
            title: r.title,
            visibility: r.visibility,
            status: r.status,
            scheduled_at: r.scheduled_at,
            started_at: r.started_at,
            ended_at: r.ended_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct StreamKeyResponse {
    pub room: RoomView,
    /// Shown once. OBS 30+: Settings → Stream → WHIP, Bearer token = this key.
    pub stream_key: String,
}

/// Create a live room for a shop (its sellers and admins).
#[utoipa::path(post, path = "/api/v1/shops/{shop}/rooms", tag = "rooms", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug")), request_body = CreateRoomRequest,
    responses((status = 201, body = StreamKeyResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_room(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(shop): Path<String>,
    AppJson(body): AppJson<CreateRoomRequest>,
) -> Result<(StatusCode, Json<StreamKeyResponse>), ApiError> {
    let shop = find_shop(&state, &shop).await?;
    require_shop_role(&state, &caller, &shop.id, ShopRole::Seller).await?;
    let name = parse_slug(&body.name, "name")?;
    let title = body.title.trim();
    if title.is_empty() || title.chars().count() > 120 || title.chars().any(char::is_control) {
        return Err(ApiError::bad_request("invalid_title", "title must be 1 to 120 characters"));
    }
    let visibility = body.visibility.as_deref().unwrap_or("public");
    if !matches!(visibility, "public" | "private") {
        return Err(ApiError::bad_request("invalid_visibility", "visibility must be public or private"));
    }
    let stream_key = new_stream_key();
    let room = state
        .store
        .create_room(NewRoom {
            name: &name,
            shop_id: &shop.id,
            title,
            visibility,
            scheduled_at: body.scheduled_at,
            stream_key_hash: &hash_opaque_token(&stream_key),
        })
        .await
        .map_err(|e| if e.is_unique_violation() { ApiError::conflict("room_name_taken", "another room uses this name; pick another") } else { e.into() })?;
    Ok((StatusCode::CREATED, Json(StreamKeyResponse { room: room.into(), stream_key })))
}

/// A room's public description. Private rooms are visible only to their shop's staff and admins.
#[utoipa::path(get, path = "/api/v1/rooms/{room}", tag = "rooms", params(("room" = String, Path, description = "room name")),
    responses((status = 200, body = RoomView), (status = 404, body = ErrorBody)))]
pub async fn get_room(State(state): State<AppState>, caller: MaybeAuthUser, Path(room): Path<String>) -> Result<Json<RoomView>, ApiError> {
    let room = find_room(&state, &room).await?;
    if !room.is_public() {
        let allowed = match &caller.0 {
            Some(user) => user.is_admin || state.store.room_rights(&room, &user.user_id).await?.can_moderate(),
            None => false,
        };
        if !allowed {
            return Err(room_not_found());
        }
    }
    Ok(Json(room.into()))
}

/// Replace the room's stream key; the old one stops working at once.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/stream-key", tag = "rooms", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name")),
    responses((status = 200, body = StreamKeyResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rotate_stream_key(State(state): State<AppState>, caller: AuthUser, Path(room): Path<String>) -> Result<Json<StreamKeyResponse>, ApiError> {
    let room = find_room(&state, &room).await?;
    require_shop_role(&state, &caller, &room.shop_id, ShopRole::Seller).await?;
    let stream_key = new_stream_key();
    state.store.set_room_stream_key_hash(&room.id, &hash_opaque_token(&stream_key)).await?;
    Ok(Json(StreamKeyResponse { room: room.into(), stream_key }))
}

#[derive(Serialize, ToSchema)]
pub struct RoomTokenResponse {
    /// A LiveKit access token (HS256 JWT) for this room: use it with LiveKit's SDKs,
    /// or as the Bearer token of WHIP/WHEP requests.
    pub token: String,
    /// The API key that signed it (`iss`).
    pub api_key: String,
    pub identity: String,
    pub can_publish: bool,
    pub can_subscribe: bool,
    pub room_admin: bool,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

const ROOM_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// Mint a LiveKit access token for the caller in this room. Sellers of the room's
/// shop may publish and administer it; moderators and admins administer it; everyone
/// else may subscribe (and send data) in public rooms.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/token", tag = "rooms", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name")),
    responses((status = 200, body = RoomTokenResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn mint_room_token(State(state): State<AppState>, caller: AuthUser, Path(room): Path<String>) -> Result<Json<RoomTokenResponse>, ApiError> {
    let room = find_room(&state, &room).await?;
    let rights = state.store.room_rights(&room, &caller.user_id).await?;
    let staff = rights.can_moderate() || caller.is_admin;
    if !room.is_public() && !staff {
        return Err(room_not_found());
    }
    let user = state
        .store
        .user_by_id(&caller.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "the access token is not valid; log in again"))?;
    let grants = livekit_api::access_token::VideoGrants {
        room_join: true,
        room: room.name.clone(),
        can_publish: Some(rights.seller),
        can_subscribe: Some(true),
        can_publish_data: Some(true),
        room_admin: staff,
        ..Default::default()
    };
    let (api_key, _) = state
        .livekit
        .signing_key()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no LiveKit API key configured")))?;
    let api_key = api_key.to_string();
    let token = state
        .livekit
        .mint(&user.id, &user.display_name, grants, ROOM_TOKEN_TTL)
        .map_err(ApiError::internal)?;
    Ok(Json(RoomTokenResponse {
        token,
        api_key,
        identity: user.id,
        can_publish: rights.seller,
        can_subscribe: true,
        room_admin: staff,
        expires_in: ROOM_TOKEN_TTL.as_secs(),
    }))
}

pub async fn find_room(state: &AppState, name: &str) -> Result<RoomRow, ApiError> {
    state.store.room_by_name(name).await?.ok_or_else(room_not_found)
}

fn room_not_found() -> ApiError {
    ApiError::not_found("room_not_found", "no room has this name")
}

fn new_stream_key() -> String {
    format!("sk_{}", new_opaque_token())
}
