//! `/api/v1/shops`: create a shop (the caller becomes its seller), read it, add
//! members. Catalog, orders and the rest of commerce build on these.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{AppJson, AuthUser};
use crate::app::AppState;
use crate::auth::Email;
use crate::error::{ApiError, ErrorBody};
use crate::store::{ShopRole, ShopRow};

#[derive(Deserialize, ToSchema)]
pub struct CreateShopRequest {
    /// 2 to 48 of a-z, 0-9 and '-'; the shop's address.
    #[schema(example = "acme")]
    pub slug: String,
    pub name: String,
    /// ISO 4217 code; defaults to the server's `shop.default_currency`.
    pub currency: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ShopView {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub currency: String,
    /// `active` or `suspended`.
    pub status: String,
    pub created_at: i64,
}

impl From<ShopRow> for ShopView {
    fn from(s: ShopRow) -> Self {
        ShopView { id: s.id, slug: s.slug, name: s.name, currency: s.currency, status: s.status, created_at: s.created_at }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct AddMemberRequest {
    /// Email of an existing account.
    pub email: String,
    pub role: ShopRole,
}

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub role: ShopRole,
}

/// Open a shop; the caller becomes its seller.
#[utoipa::path(post, path = "/api/v1/shops", tag = "shops", security(("bearer" = [])), request_body = CreateShopRequest,
    responses((status = 201, body = ShopView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_shop(State(state): State<AppState>, caller: AuthUser, AppJson(body): AppJson<CreateShopRequest>) -> Result<(StatusCode, Json<ShopView>), ApiError> {
    let slug = parse_slug(&body.slug, "slug")?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request("invalid_name", "name must be 1 to 80 characters"));
    }
    let currency = body.currency.unwrap_or_else(|| state.settings.shop.default_currency.clone());
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(ApiError::bad_request("invalid_currency", "currency must be an ISO 4217 code such as USD"));
    }
    let shop = state.store.create_shop(&slug, name, &currency, &caller.user_id).await.map_err(|e| {
        if e.is_unique_violation() {
            ApiError::conflict("slug_taken", "another shop uses this slug; pick another")
        } else {
            e.into()
        }
    })?;
    Ok((StatusCode::CREATED, Json(shop.into())))
}

/// A shop's public profile.
#[utoipa::path(get, path = "/api/v1/shops/{shop}", tag = "shops", params(("shop" = String, Path, description = "shop slug")),
    responses((status = 200, body = ShopView), (status = 404, body = ErrorBody)))]
pub async fn get_shop(State(state): State<AppState>, Path(shop): Path<String>) -> Result<Json<ShopView>, ApiError> {
    Ok(Json(find_shop(&state, &shop).await?.into()))
}

/// Add a seller or moderator to the shop (sellers of the shop and admins only).
#[utoipa::path(post, path = "/api/v1/shops/{shop}/members", tag = "shops", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug")), request_body = AddMemberRequest,
    responses((status = 201, body = MemberView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_member(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(shop): Path<String>,
    AppJson(body): AppJson<AddMemberRequest>,
) -> Result<(StatusCode, Json<MemberView>), ApiError> {
    let shop = find_shop(&state, &shop).await?;
    require_shop_role(&state, &caller, &shop.id, ShopRole::Seller).await?;
    let email = Email::parse(&body.email)?;
    let user = state
        .store
        .user_by_email(email.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("user_not_found", "no account has this email; ask them to register first"))?;
    state.store.add_shop_member(&shop.id, &user.id, body.role).await?;
    Ok((StatusCode::CREATED, Json(MemberView { user_id: user.id, role: body.role })))
}

pub async fn find_shop(state: &AppState, slug: &str) -> Result<ShopRow, ApiError> {
    state
        .store
        .shop_by_slug(slug)
        .await?
        .ok_or_else(|| ApiError::not_found("shop_not_found", "no shop has this slug"))
}

/// Passes for admins and for holders of `role` in the shop; 403 otherwise.
pub async fn require_shop_role(state: &AppState, caller: &AuthUser, shop_id: &str, role: ShopRole) -> Result<(), ApiError> {
    if caller.is_admin || state.store.shop_roles(shop_id, &caller.user_id).await?.contains(&role) {
        return Ok(());
    }
    Err(ApiError::forbidden(
        match role {
            ShopRole::Seller => "not_shop_seller",
            ShopRole::Moderator => "not_shop_moderator",
        },
        format!("this needs the {role} role in this shop"),
    ))
}

/// URL-safe identifiers: 2 to 48 of a-z, 0-9, '-' and '_', not starting with '-' or '_'.
pub fn parse_slug(raw: &str, field: &'static str) -> Result<String, ApiError> {
    let ok = (2..=48).contains(&raw.len())
        && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && raw.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(raw.to_string())
    } else {
        Err(ApiError::bad_request(
            "invalid_slug",
            format!("{field} must be 2 to 48 characters of a-z, 0-9, '-' or '_', starting with a letter or digit"),
        ))
    }
}
