//! `POST /api/v1/rooms/{room}/sales/{id}/cancel`: the seller stops a flash
//! sale early (the studio's Stop button). The phase moves to `cancelled` by one
//! conditional UPDATE from any open phase, so a sale that ended or was stopped
//! meanwhile is refused and not announced twice, while a sale the room task is
//! just starting is still stopped; viewers get `sale.cancelled`.
//! Units already reserved stay held for their buyers until `reserved_until`.
//! The room task's engine keeps its copy until its deadline, where its own
//! conditional update finds the sale cancelled and announces nothing.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::json;

use super::flash_sale::Phase;
use super::http::SaleView;
use crate::store::{Store, StoreResult};
use crate::api::extract::AuthUser;
use crate::api::rooms::find_room;
use crate::api::shops::require_shop_role;
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::signaling::{ChannelName, Event};
use crate::store::ShopRole;

/// Stop a flash sale before its end (the room's seller); viewers get `sale.cancelled`.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/sales/{id}/cancel", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name"), ("id" = String, Path, description = "sale id")),
    responses((status = 200, body = SaleView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_sale(State(state): State<AppState>, caller: AuthUser, Path((room, sale_id)): Path<(String, String)>) -> Result<Json<SaleView>, ApiError> {
    let room = find_room(&state, &room).await?;
    require_shop_role(&state, &caller, &room.shop_id, ShopRole::Seller).await?;
    let sale = state
        .store
        .flash_sale(&sale_id)
        .await?
        .filter(|s| s.room_id == room.id)
        .ok_or_else(|| ApiError::not_found("sale_not_found", "no sale of this room has this id"))?;
    if matches!(sale.phase(), Phase::Ended | Phase::Cancelled) || !state.store.cancel_flash_sale(&sale.id).await? {
        return Err(ApiError::conflict("sale_not_open", "this sale has already ended or been stopped"));
    }
    if let Err(e) = state.hub.publish(&ChannelName::room(&room.name), Event::new("sale.cancelled", json!({ "sale_id": sale.id }))).await {
        tracing::warn!(room = %room.name, error = %e, "cannot announce a cancelled sale");
    }
    let mut view = SaleView::from(sale);
    view.phase = "cancelled".into();
    Ok(Json(view))
}

impl Store {
    /// Moves an open sale (scheduled, live or sold out) to `cancelled`; false if it had already ended.
    pub async fn cancel_flash_sale(&self, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE flash_sales SET phase = 'cancelled' WHERE id = $1 AND phase NOT IN ('ended', 'cancelled')")
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
