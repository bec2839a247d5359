//! `/api/v1/notifications`: the caller's in-app feed of order events.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::commerce_edge::{Page, PageQuery};
use super::extract::AuthUser;
use crate::app::AppState;
use crate::commerce::page;
use crate::commerce::store::NotificationRow;
use crate::error::{ApiError, ErrorBody};

#[derive(Serialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    /// e.g. `order_placed`, `order_paid`, `order_shipped`, `order_delivered`, `payment_failed`, `new_order` (sellers).
    pub kind: String,
    pub order_id: Option<String>,
    pub message: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

impl From<NotificationRow> for NotificationView {
    fn from(n: NotificationRow) -> Self {
        NotificationView { id: n.id, kind: n.kind, order_id: n.order_id, message: n.message, created_at: n.created_at, read_at: n.read_at }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// Only unread ones.
    #[serde(default)]
    pub unread: bool,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct MarkedRead {
    pub marked: u64,
}

/// Your notifications, newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = [])), params(NotificationQuery),
    responses((status = 200, body = Page<NotificationView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, caller: AuthUser, Query(q): Query<NotificationQuery>) -> Result<Json<Page<NotificationView>>, ApiError> {
    let (before, limit) = PageQuery { cursor: q.cursor, limit: q.limit }.parse()?;
    let rows = state.store.list_notifications(&caller.user_id, q.unread, before.as_deref(), limit).await?;
    let (rows, next_cursor) = page::split(rows, limit, |n| n.id.clone());
    Ok(Json(Page { items: rows.into_iter().map(Into::into).collect(), next_cursor }))
}

/// Mark one notification read.
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications", security(("bearer" = [])), params(("id" = String, Path, description = "notification id")),
    responses((status = 200, body = MarkedRead), (status = 404, body = ErrorBody)))]
pub async fn mark_read(State(state): State<AppState>, caller: AuthUser, Path(id): Path<String>) -> Result<Json<MarkedRead>, ApiError> {
    if !state.store.mark_notification_read(&caller.user_id, &id).await? {
        return Err(ApiError::not_found("notification_not_found", "you have no notification with this id"));
    }
    Ok(Json(MarkedRead { marked: 1 }))
}

/// Mark all your notifications read.
#[utoipa::path(post, path = "/api/v1/notifications/read-all", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = MarkedRead)))]
pub async fn mark_all_read(State(state): State<AppState>, caller: AuthUser) -> Result<Json<MarkedRead>, ApiError> {
    Ok(Json(MarkedRead { marked: state.store.mark_all_notifications_read(&caller.user_id).await? }))
}
