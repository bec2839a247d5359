//! Extractors whose rejections are our `ApiError`, so even a malformed request
//! gets the standard JSON error body.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};

use crate::app::AppState;
use crate::auth::TokenError;
use crate::error::ApiError;

/// `Json<T>` with our error body on rejection: 400 for bad JSON or a bad field,
/// 415 without `Content-Type: application/json`, 413 over the body limit.
pub struct AppJson<T>(pub T);

impl<T> FromRequest<AppState> for AppJson<T>
where
    axum::Json<T>: FromRequest<AppState, Rejection = JsonRejection>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(AppJson(value)),
            Err(rejection) => Err(json_rejection(rejection, state.settings.max_body_bytes)),
        }
    }
}

fn json_rejection(rejection: JsonRejection, limit: usize) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType {
            message: "send the body as JSON with Content-Type: application/json".into(),
        },
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {}", e.body_text())),
        JsonRejection::JsonDataError(e) => ApiError::bad_request("invalid_body", e.body_text()),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit_bytes: limit },
        other => ApiError::bad_request("invalid_body", other.body_text()),
    }
}

/// The caller's address: the socket peer, or the first `X-Forwarded-For` hop
/// when the deployment says it sits behind a proxy it trusts.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if state.settings.trust_forwarded_for {
            let forwarded = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok());
            if let Some(ip) = forwarded {
                return Ok(ClientIp(ip));
            }
        }
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(ClientIp(peer.unwrap_or(IpAddr::from([0, 0, 0, 0]))))
    }
}

/// A signed-in caller, from `Authorization: Bearer <access_token>`. The session
/// is checked on every request, so logout and revocation take effect at once.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub user_id: String,
    pub session_id: String,
    pub is_admin: bool,
}

impl AuthUser {
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("admin_required", "this action needs the admin role"))
        }
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?;
        AuthUser::from_access_token(state, token).await
    }
}

impl AuthUser {
    /// Checks an access token however it arrived (header, WebSocket query or frame).
    pub async fn from_access_token(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
        let claims = state.tokens.verify_access(token).map_err(|e| match e {
            TokenError::Expired => ApiError::unauthorized("token_expired", "the access token has expired; get a new one from /api/v1/auth/refresh"),
            _ => ApiError::unauthorized("invalid_token", "the access token is not valid; log in again"),
        })?;
        let session = state
            .store
            .session(&claims.sid)
            .await?
            .filter(|s| s.user_id == claims.sub)
            .ok_or_else(|| ApiError::unauthorized("invalid_token", "the access token is not valid; log in again"))?;
        if session.user_disabled {
            return Err(ApiError::forbidden("account_disabled", "this account has been disabled; contact the shop's support"));
        }
        if session.revoked_at.is_some() {
            return Err(ApiError::unauthorized("session_revoked", "this session has ended; log in again"));
        }
        Ok(AuthUser { user_id: session.user_id, session_id: session.id, is_admin: session.user_is_admin })
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized("missing_token", "send Authorization: Bearer <access_token>; get one from /api/v1/auth/login")
    })?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "the Authorization header must be: Bearer <access_token>"))
}

/// Like `AuthUser`, but a request without `Authorization` is anonymous rather
/// than refused. A present but bad token is still a 401.
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeAuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(MaybeAuthUser(None));
        }
        AuthUser::from_request_parts(parts, state).await.map(|u| MaybeAuthUser(Some(u)))
    }
}
