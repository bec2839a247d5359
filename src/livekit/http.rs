//! The HTTP edge of the Twirp RoomService: `POST /twirp/livekit.RoomService/{method}`.
//! Authenticated by a LiveKit access token (`Authorization: Bearer`), never by our
//! account tokens; every error is a Twirp error.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::twirp::{bearer, Codec, TwirpCode, TwirpError};
use super::LiveKitTokenError;
use crate::app::AppState;

/// LiveKit's RoomService over Twirp (protobuf or protobuf-JSON bodies).
#[utoipa::path(post, path = "/twirp/livekit.RoomService/{method}", tag = "livekit",
    params(("method" = String, Path, description = "CreateRoom, ListRooms, DeleteRoom, ListParticipants, GetParticipant, RemoveParticipant, MutePublishedTrack, UpdateParticipant, UpdateSubscriptions, SendData or UpdateRoomMetadata")),
    request_body(content = String, content_type = "application/protobuf", description = "the method's livekit request message, as protobuf or (application/json) protobuf-JSON"),
    responses((status = 200, description = "the method's livekit response message, encoded as the request was"),
        (status = 400, description = "Twirp malformed / invalid_argument"),
        (status = 401, description = "Twirp unauthenticated: no, invalid or insufficient LiveKit token (LiveKit's answer for missing grants too)"),
        (status = 404, description = "Twirp not_found or bad_route"),
        (status = 501, description = "Twirp unimplemented")),
    security(("bearer" = [])))]
pub async fn room_service(State(state): State<AppState>, Path(method): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &method, &headers, &body).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn handle(state: &AppState, method: &str, headers: &HeaderMap, body: &[u8]) -> Result<Response, TwirpError> {
    let token = bearer(headers).ok_or_else(|| TwirpError::unauthenticated("send Authorization: Bearer <LiveKit access token>"))?;
    let claims = state.livekit.verify(token).map_err(|e| match e {
        LiveKitTokenError::UnknownKey => TwirpError::unauthenticated("the token names an API key this server does not have"),
        LiveKitTokenError::Invalid => TwirpError::unauthenticated("the token's signature, expiry or not-before time is invalid"),
        _ => TwirpError::unauthenticated("the bearer token is not a LiveKit access token"),
    })?;
    if !super::room_service::METHODS.contains(&method) {
        return Err(TwirpError::new(TwirpCode::BadRoute, format!("livekit.RoomService has no method {method:?}")).with_meta("method", method));
    }
    let codec = Codec::from_headers(headers)?;
    super::room_service::call(state, &claims, method, codec, body).await
}
