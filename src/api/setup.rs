//! First-run setup: the console prints a one-time link; whoever opens it
//! creates the first admin. There is never a default password.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Html;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::{sign_in, user_view, AuthResponse};
use super::extract::AppJson;
use crate::app::AppState;
use crate::auth::{hash_opaque_token, hash_password, DisplayName, Email, Password};
use crate::error::{ApiError, ErrorBody};
use crate::store::{NewUser, SetupTokenOutcome};

#[derive(Deserialize, ToSchema)]
pub struct SetupRequest {
    /// The token from the link printed on the server console at first start.
    pub setup_token: String,
    pub email: String,
    pub password: String,
    pub display_name: String,
}

/// Create the first admin with the one-time setup token.
#[utoipa::path(post, path = "/api/v1/setup", tag = "setup", request_body = SetupRequest,
    responses((status = 201, body = AuthResponse), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub async fn create_first_admin(State(state): State<AppState>, AppJson(body): AppJson<SetupRequest>) -> Result<(StatusCode, Json<AuthResponse>), ApiError> {
    let email = Email::parse(&body.email)?;
    let display_name = DisplayName::parse(&body.display_name)?;
    let password = Password::parse(body.password)?;
    let password_hash = hash_password(password.expose().to_string()).await.map_err(ApiError::internal)?;
    let outcome = state
        .store
        .create_admin_with_setup_token(
            &hash_opaque_token(&body.setup_token),
            NewUser { email: email.as_str(), password_hash: &password_hash, display_name: display_name.as_str(), is_admin: true },
        )
        .await
        .map_err(|e| {
            if e.is_unique_violation() {
                ApiError::conflict("email_taken", "an account with this email already exists; choose another email for the admin")
            } else {
                e.into()
            }
        })?;
    let user = match outcome {
        SetupTokenOutcome::Created(user) => user,
        SetupTokenOutcome::UnknownToken => {
            return Err(ApiError::forbidden("invalid_setup_token", "this setup link is not valid; use the newest link printed on the server console"))
        }
        SetupTokenOutcome::AlreadyUsed => return Err(ApiError::gone("setup_token_used", "this setup link was already used; log in with the admin account")),
        SetupTokenOutcome::Expired => return Err(ApiError::gone("setup_token_expired", "this setup link has expired; restart the server to print a new one")),
    };
    tracing::info!(user_id = %user.id, "first admin created through the setup link");
    Ok((StatusCode::CREATED, Json(sign_in(&state, user_view(&user, &[])).await?)))
}

/// The small page the setup link opens (the token travels in the URL fragment,
/// so it never reaches access logs or `Referer` headers).
pub async fn page() -> Html<&'static str> {
    Html(include_str!("../../static/setup.html"))
}
