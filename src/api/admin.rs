//! `/api/v1/admin/*`: platform administration. Every handler requires the admin role.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{user_view, UserView};
use super::extract::AuthUser;
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};

#[derive(Deserialize, IntoParams)]
pub struct PageQuery {
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// 1 to 100, default 50.
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// List accounts, oldest first.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_users(State(state): State<AppState>, caller: AuthUser, Query(page): Query<PageQuery>) -> Result<Json<UserPage>, ApiError> {
    caller.require_admin()?;
    let limit = page.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("invalid_limit", "limit must be between 1 and 100"));
    }
    let rows = state.store.list_users(page.cursor.as_deref(), limit + 1).await?;
    let has_more = rows.len() as i64 > limit;
    let mut items = Vec::with_capacity(rows.len());
    for user in rows.iter().take(limit as usize) {
        let memberships = state.store.memberships(&user.id).await?;
        items.push(user_view(user, &memberships));
    }
    let next_cursor = if has_more { items.last().map(|u| u.id.clone()) } else { None };
    Ok(Json(UserPage { items, next_cursor }))
}

#[derive(Deserialize, ToSchema)]
pub struct UserStatusRequest {
    /// `true` disables the account and ends all its sessions.
    pub disabled: bool,
}

/// Disable or re-enable an account.
#[utoipa::path(put, path = "/api/v1/admin/users/{id}/status", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")), request_body = UserStatusRequest,
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_user_status(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    super::extract::AppJson(body): super::extract::AppJson<UserStatusRequest>,
) -> Result<Json<UserView>, ApiError> {
    caller.require_admin()?;
    if body.disabled && id == caller.user_id {
        return Err(ApiError::unprocessable("cannot_disable_self", "an admin cannot disable their own account; ask another admin"));
    }
    let user = state
        .store
        .set_user_disabled(&id, body.disabled)
        .await?
        .ok_or_else(|| ApiError::not_found("user_not_found", "no account has this id"))?;
    let memberships = state.store.memberships(&user.id).await?;
    Ok(Json(user_view(&user, &memberships)))
}
