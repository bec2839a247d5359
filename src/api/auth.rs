//! `/api/v1/auth/*` and `/api/v1/me`: register, login, refresh rotation, logout.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{AppJson, AuthUser, ClientIp};
use crate::app::AppState;
use crate::auth::{hash_opaque_token, hash_password, new_opaque_token, verify_password, CredentialError, DisplayName, Email, Password};
use crate::error::{ApiError, ErrorBody};
use crate::store::{MembershipRow, NewUser, RefreshOutcome, ShopRole, UserRow};

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(example = "ann@example.com")]
    pub email: String,
    /// At least 10 characters.
    pub password: String,
    #[schema(example = "Ann")]
    pub display_name: String,
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub display_name: String,
    /// Any of `customer`, `seller`, `moderator`, `admin`; seller and moderator are shop-scoped (see `/api/v1/me`).
    pub roles: Vec<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct AuthResponse {
    pub user: UserView,
    /// Short-lived JWT; send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Single-use; exchange at `/api/v1/auth/refresh` for a new pair.
    pub refresh_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
}

#[derive(Serialize, ToSchema)]
pub struct MembershipView {
    pub shop_id: String,
    pub shop_slug: String,
    pub shop_name: String,
    pub role: ShopRole,
}

#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    pub user: UserView,
    pub shops: Vec<MembershipView>,
}

impl From<CredentialError> for ApiError {
    fn from(err: CredentialError) -> Self {
        ApiError::bad_request(err.code(), err.to_string())
    }
}

/// Create a customer account and sign it in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = AuthResponse), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn register(State(state): State<AppState>, AppJson(body): AppJson<RegisterRequest>) -> Result<(StatusCode, Json<AuthResponse>), ApiError> {
    let email = Email::parse(&body.email)?;
    let display_name = DisplayName::parse(&body.display_name)?;
    let password = Password::parse(body.password)?;
    let password_hash = hash_password(password.expose().to_string()).await.map_err(ApiError::internal)?;
    let refresh_token = new_opaque_token();

    let mut tx = state.store.writer().begin().await?;
    let user = state
        .store
        .insert_user(&mut tx, NewUser { email: email.as_str(), password_hash: &password_hash, display_name: display_name.as_str(), is_admin: false })
        .await
        .map_err(|e| {
            if e.is_unique_violation() {
                ApiError::conflict("email_taken", "an account with this email already exists; log in instead")
            } else {
                e.into()
            }
        })?;
    let session_id = state.store.open_session(&mut tx, &user.id, &hash_opaque_token(&refresh_token), state.refresh_ttl_ms()).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "account registered");
    let response = auth_response(&state, user_view(&user, &[]), &session_id, refresh_token)?;
    Ok((StatusCode::CREATED, Json(response)))
}

/// Sign in with email and password. Limited per client address and per account.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = AuthResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(State(state): State<AppState>, ClientIp(ip): ClientIp, AppJson(body): AppJson<LoginRequest>) -> Result<Json<AuthResponse>, ApiError> {
    let email = Email::parse(&body.email)?;
    state
        .login_limiter
        .check(ip, email.as_str())
        .map_err(|e| ApiError::RateLimited { retry_after_secs: e.retry_after_secs })?;
    let user = state.store.user_by_email(email.as_str()).await?;
    let verified = verify_password(body.password, user.as_ref().map(|u| u.password_hash.clone()))
        .await
        .map_err(ApiError::internal)?;
    let user = match user {
        Some(user) if verified => user,
        _ => {
            metrics::counter!("auth_login_failures_total").increment(1);
            return Err(ApiError::unauthorized("invalid_credentials", "the email or password is wrong"));
        }
    };
    if user.disabled_at.is_some() {
        return Err(ApiError::forbidden("account_disabled", "this account has been disabled; contact the shop's support"));
    }
    let memberships = state.store.memberships(&user.id).await?;
    Ok(Json(sign_in(&state, user_view(&user, &memberships)).await?))
}

/// Exchange a refresh token for a new pair. Each refresh token works once;
/// presenting a used one ends the whole session (it has leaked).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = AuthResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn refresh(State(state): State<AppState>, AppJson(body): AppJson<RefreshRequest>) -> Result<Json<AuthResponse>, ApiError> {
    let new_token = new_opaque_token();
    let outcome = state
        .store
        .rotate_refresh_token(&hash_opaque_token(&body.refresh_token), &hash_opaque_token(&new_token), state.refresh_ttl_ms())
        .await?;
    let (session_id, user_id) = match outcome {
        RefreshOutcome::Rotated { session_id, user_id } => (session_id, user_id),
        RefreshOutcome::Unknown => return Err(ApiError::unauthorized("invalid_refresh_token", "this refresh token is not valid; log in again")),
        RefreshOutcome::Expired => return Err(ApiError::unauthorized("refresh_token_expired", "this refresh token has expired; log in again")),
        RefreshOutcome::Revoked => return Err(ApiError::unauthorized("session_revoked", "this session has ended; log in again")),
        RefreshOutcome::ReuseDetected => {
            return Err(ApiError::unauthorized(
                "refresh_token_reused",
                "this refresh token was already used, so the session was ended to protect the account; log in again",
            ))
        }
    };
    let user = state
        .store
        .user_by_id(&user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_refresh_token", "this refresh token is not valid; log in again"))?;
    let memberships = state.store.memberships(&user.id).await?;
    Ok(Json(auth_response(&state, user_view(&user, &memberships), &session_id, new_token)?))
}

/// End the current session: its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, caller: AuthUser) -> Result<StatusCode, ApiError> {
    state.store.revoke_session(&caller.session_id, "logout").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user, with the shops they sell for or moderate.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, caller: AuthUser) -> Result<Json<MeResponse>, ApiError> {
    let user = state
        .store
        .user_by_id(&caller.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "the access token is not valid; log in again"))?;
    let memberships = state.store.memberships(&user.id).await?;
    Ok(Json(MeResponse {
        user: user_view(&user, &memberships),
        shops: memberships
            .into_iter()
            .map(|m| MembershipView { shop_id: m.shop_id, shop_slug: m.shop_slug, shop_name: m.shop_name, role: m.role })
            .collect(),
    }))
}

pub fn user_view(user: &UserRow, memberships: &[MembershipRow]) -> UserView {
    let mut roles = vec!["customer".to_string()];
    for role in [ShopRole::Seller, ShopRole::Moderator] {
        if memberships.iter().any(|m| m.role == role) {
            roles.push(role.as_str().to_string());
        }
    }
    if user.is_admin {
        roles.push("admin".into());
    }
    UserView { id: user.id.clone(), email: user.email.clone(), display_name: user.display_name.clone(), roles, created_at: user.created_at }
}

/// Opens a new session for an existing user and returns its token pair.
pub async fn sign_in(state: &AppState, user: UserView) -> Result<AuthResponse, ApiError> {
    let refresh_token = new_opaque_token();
    let mut tx = state.store.writer().begin().await?;
    let session_id = state.store.open_session(&mut tx, &user.id, &hash_opaque_token(&refresh_token), state.refresh_ttl_ms()).await?;
    tx.commit().await?;
    auth_response(state, user, &session_id, refresh_token)
}

pub fn auth_response(state: &AppState, user: UserView, session_id: &str, refresh_token: String) -> Result<AuthResponse, ApiError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let access_token = state.tokens.issue_access(&user.id, session_id, now).map_err(ApiError::internal)?;
    Ok(AuthResponse { user, access_token, refresh_token, token_type: "Bearer", expires_in: state.tokens.access_ttl_secs })
}
