//! Room listings the pages need: a shop's rooms (its landing page, the studio's
//! room picker) and a room's shop (the viewer page lists that shop's products).

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::MaybeAuthUser;
use super::rooms::{find_room, RoomView};
use super::shops::{find_shop, ShopView};
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::store::RoomRow;

#[derive(Serialize, ToSchema)]
pub struct RoomList {
    /// Newest first. Private rooms only for the shop's staff and admins.
    pub items: Vec<RoomView>,
}

/// A shop's rooms: live, upcoming and ended. Anyone sees the public ones.
#[utoipa::path(get, path = "/api/v1/shops/{shop}/rooms", tag = "rooms", params(("shop" = String, Path, description = "shop slug")),
    responses((status = 200, body = RoomList), (status = 404, body = ErrorBody)))]
pub async fn list_shop_rooms(State(state): State<AppState>, caller: MaybeAuthUser, Path(shop): Path<String>) -> Result<Json<RoomList>, ApiError> {
    let shop = find_shop(&state, &shop).await?;
    let staff = match &caller.0 {
        Some(user) => user.is_admin || !state.store.shop_roles(&shop.id, &user.user_id).await?.is_empty(),
        None => false,
    };
    let rooms = state.store.rooms_of_shop(&shop.id).await?;
    Ok(Json(RoomList { items: rooms.into_iter().filter(|r| staff || r.is_public()).map(Into::into).collect() }))
}

/// The shop a room belongs to. Same visibility as the room itself.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/shop", tag = "rooms", params(("room" = String, Path, description = "room name")),
    responses((status = 200, body = ShopView), (status = 404, body = ErrorBody)))]
pub async fn room_shop(State(state): State<AppState>, caller: MaybeAuthUser, Path(room): Path<String>) -> Result<Json<ShopView>, ApiError> {
    let room = find_room(&state, &room).await?;
    require_visible(&state, &caller, &room).await?;
    let shop = state
        .store
        .shop_by_id(&room.shop_id)
        .await?
        .ok_or_else(|| ApiError::not_found("shop_not_found", "the room's shop no longer exists"))?;
    Ok(Json(shop.into()))
}

async fn require_visible(state: &AppState, caller: &MaybeAuthUser, room: &RoomRow) -> Result<(), ApiError> {
    if room.is_public() {
        return Ok(());
    }
    let allowed = match &caller.0 {
        Some(user) => user.is_admin || state.store.room_rights(room, &user.user_id).await?.can_moderate(),
        None => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::not_found("room_not_found", "no room has this name"))
    }
}
