//! The hub's HTTP routes: a room's moderation log for the moderator panel,
//! and a server-side publish into a room (sellers' announcements, and the
//! same path other services can use).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::channel::ChannelName;
use super::protocol::Event;
use super::store::ModerationLogRow;
use crate::api::extract::{AppJson, AuthUser};
use crate::api::rooms::find_room;
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};

/// Kinds the hub itself publishes; nobody else may forge them.
const RESERVED_KIND_PREFIXES: [&str; 4] = ["chat.", "presence", "reactions", "moderation"];

#[derive(Serialize, ToSchema)]
pub struct ModerationLogView {
    pub entries: Vec<ModerationLogRow>,
}

#[derive(Deserialize, ToSchema)]
pub struct PublishRequest {
    /// 1 to 48 of a-z, 0-9, '.', '_', starting with a letter; not `chat.*`, `presence`, `reactions`, `moderation*`.
    #[schema(example = "announcement")]
    pub kind: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Value,
}

#[derive(Serialize, ToSchema)]
pub struct PublishAccepted {
    pub channel: String,
}

async fn require_room_staff(state: &AppState, caller: &AuthUser, room: &str, seller_only: bool) -> Result<crate::store::RoomRow, ApiError> {
    let room = find_room(state, room).await?;
    if caller.is_admin {
        return Ok(room);
    }
    let rights = state.store.room_rights(&room, &caller.user_id).await?;
    let allowed = if seller_only { rights.seller } else { rights.can_moderate() };
    if !allowed {
        return Err(ApiError::forbidden("not_room_moderator", "only the room's seller, its shop's moderators and admins can do this"));
    }
    Ok(room)
}

/// The room's moderation log, newest first (its seller, moderators, admins).
#[utoipa::path(get, path = "/api/v1/rooms/{room}/moderation-log", tag = "rooms", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name")),
    responses((status = 200, body = ModerationLogView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn moderation_log(State(state): State<AppState>, caller: AuthUser, Path(room): Path<String>) -> Result<Json<ModerationLogView>, ApiError> {
    let room = require_room_staff(&state, &caller, &room, false).await?;
    let entries = state.store.moderation_log(&room.id, 100).await?;
    Ok(Json(ModerationLogView { entries }))
}

/// Publishes an event on the room's channel (its seller and admins): every
/// viewer on every node receives it with the next offset.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/events", tag = "rooms", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name")), request_body = PublishRequest,
    responses((status = 202, body = PublishAccepted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn publish_event(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(room): Path<String>,
    AppJson(body): AppJson<PublishRequest>,
) -> Result<(StatusCode, Json<PublishAccepted>), ApiError> {
    let room = require_room_staff(&state, &caller, &room, true).await?;
    let kind = body.kind.as_str();
    let valid = (1..=48).contains(&kind.len())
        && kind.starts_with(|c: char| c.is_ascii_lowercase())
        && kind.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_')
        && !RESERVED_KIND_PREFIXES.iter().any(|p| kind.starts_with(p));
    if !valid {
        return Err(ApiError::bad_request("invalid_kind", "kind is 1 to 48 of a-z, 0-9, '.', '_' and not one the hub reserves (chat.*, presence, reactions, moderation*)"));
    }
    let channel = ChannelName::room(&room.name);
    state.hub.publish(&channel, Event::new(kind, body.data)).await.map_err(|e| {
        tracing::warn!(error = %e, "publish failed");
        ApiError::Unavailable { code: "broker_unavailable", message: "the event could not be published right now; retry shortly".into() }
    })?;
    Ok((StatusCode::ACCEPTED, Json(PublishAccepted { channel: channel.to_string() })))
}
