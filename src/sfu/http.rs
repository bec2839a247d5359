//! WHIP (RFC 9725) at `/whip/{room}` and WHEP at `/whep/{room}`: an SDP offer in,
//! `201 Created` with the answer, `Location` of the session resource, `ETag` and
//! `Accept-Patch`; `PATCH` on the session adds trickled candidates; `DELETE` ends
//! it. CORS exposes `Location`, `ETag`, `Link` and `Accept-Patch` to browsers.
//!
//! Publishing needs `Authorization: Bearer` with the room's stream key (what OBS
//! sends) or an access token of a seller of the room's shop (or an admin).
//! Watching a public room is anonymous; a private room needs the stream key or an
//! access token of the shop's staff or an admin.

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{RoomKey, SessionCreated, SfuError};
use crate::api::extract::{AuthUser, MaybeAuthUser};
use crate::api::rooms::find_room;
use crate::app::AppState;
use crate::auth::hash_opaque_token;
use crate::error::{ApiError, ErrorBody};
use crate::store::RoomRow;

const SDP: &str = "application/sdp";
const TRICKLE: &str = "application/trickle-ice-sdpfrag";
/// `Retry-After` on `503 room_full`.
const ROOM_FULL_RETRY_AFTER_SECS: &str = "15";

/// The WHIP/WHEP routes, with their CORS policy. Merged into `api_routes()`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(whip_offer, whip_options))
        .routes(routes!(whip_patch, whip_delete, whip_session_options))
        .routes(routes!(whep_offer, whep_options))
        .routes(routes!(whep_patch, whep_delete, whep_session_options))
        .routes(routes!(media_clock))
        .layer(axum::middleware::map_response(cors))
}

/// Every WHIP/WHEP response may be read cross-origin, with the resource headers exposed.
/// (Preflights are answered by the OPTIONS handlers, which also serve plain OPTIONS.)
async fn cors(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("Location, ETag, Link, Accept-Patch, Accept-Post"));
    response
}

fn allow_cross_origin(headers: &mut HeaderMap, methods: &'static str) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(methods));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Authorization, Content-Type, If-Match"));
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Whip,
    Whep,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Whip => "whip",
            Kind::Whep => "whep",
        }
    }
}

/// Publish to a room over WHIP: send an SDP offer, get the answer.
#[utoipa::path(post, path = "/whip/{room}", tag = "media", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name")),
    request_body(content = String, content_type = "application/sdp", description = "SDP offer (sendonly audio/video)"),
    responses((status = 201, description = "SDP answer; Location is the session, ETag its version", content_type = "application/sdp"),
        (status = 400, body = ErrorBody, description = "the offer is not valid SDP"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "not allowed to publish here, or the room's shop is suspended (`shop_suspended`)"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "the room already has a publisher"),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody, description = "no codec this server forwards")))]
pub async fn whip_offer(State(state): State<AppState>, Path(room): Path<String>, request: Request) -> Result<Response, ApiError> {
    let room = find_room(&state, &room).await?;
    let (mut parts, body) = request.into_parts();
    authorize_publisher(&state, &room, &mut parts).await?;
    if state.store.shop_by_id(&room.shop_id).await?.is_some_and(|shop| shop.status == "suspended") {
        return Err(ApiError::forbidden("shop_suspended", "this room's shop is suspended and cannot go live; an admin can reinstate it"));
    }
    let offer = read_body(&state, &parts.headers, body, SDP).await?;
    let key = RoomKey { id: room.id.clone(), name: room.name.clone() };
    let created = state.sfu.publish(key, offer).await.map_err(sfu_error)?;
    crate::livekit::participants::remember_token_identity(&state, &room.name, &parts.headers, &created.session);
    if let Err(err) = state.store.set_room_status(&room.id, "live").await {
        let _ = state.sfu.end(room.name.clone(), created.session.clone()).await;
        return Err(err.into());
    }
    Ok(created_response(&state, Kind::Whip, &room.name, created))
}

/// Play a room over WHEP: send an SDP offer (recvonly), get the answer.
#[utoipa::path(post, path = "/whep/{room}", tag = "media",
    params(("room" = String, Path, description = "room name")),
    request_body(content = String, content_type = "application/sdp", description = "SDP offer (recvonly audio/video)"),
    responses((status = 201, description = "SDP answer; Location is the session", content_type = "application/sdp"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "nobody is publishing in the room"), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "the player cannot decode the published codec"),
        (status = 503, body = ErrorBody, description = "the room has its maximum of viewers")))]
pub async fn whep_offer(State(state): State<AppState>, Path(room): Path<String>, request: Request) -> Result<Response, ApiError> {
    let room = find_room(&state, &room).await?;
    let (mut parts, body) = request.into_parts();
    if !room.is_public() {
        authorize_private_viewer(&state, &room, &mut parts).await?;
    }
    let offer = read_body(&state, &parts.headers, body, SDP).await?;
    let key = RoomKey { id: room.id.clone(), name: room.name.clone() };
    match state.sfu.view(key, offer).await {
        Ok(created) => {
            crate::livekit::participants::remember_token_identity(&state, &room.name, &parts.headers, &created.session);
            Ok(created_response(&state, Kind::Whep, &room.name, created))
        }
        Err(SfuError::RoomFull) => {
            // Viewers leave all the time: a player may retry, not at once.
            let mut response = sfu_error(SfuError::RoomFull).into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(ROOM_FULL_RETRY_AFTER_SECS));
            Ok(response)
        }
        Err(err) => Err(sfu_error(err)),
    }
}

/// Trickle ICE candidates to a publishing session (204), or restart ICE: a fragment with
/// new `a=ice-ufrag`/`a=ice-pwd` (and `If-Match: *`) gets 200 with the server's new
/// credentials and a new ETag (RFC 9725 §4.4).
#[utoipa::path(patch, path = "/whip/{room}/{session}", tag = "media",
    params(("room" = String, Path), ("session" = String, Path)),
    request_body(content = String, content_type = "application/trickle-ice-sdpfrag"),
    responses((status = 204, description = "candidates added"), (status = 200, description = "ICE restarted: the server's new credentials", content_type = "application/trickle-ice-sdpfrag"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn whip_patch(State(state): State<AppState>, Path((room, session)): Path<(String, String)>, request: Request) -> Result<Response, ApiError> {
    patch(state, room, session, request).await
}

/// Trickle ICE candidates to a playing session, or restart ICE (as for WHIP).
#[utoipa::path(patch, path = "/whep/{room}/{session}", tag = "media",
    params(("room" = String, Path), ("session" = String, Path)),
    request_body(content = String, content_type = "application/trickle-ice-sdpfrag"),
    responses((status = 204, description = "candidates added"), (status = 200, description = "ICE restarted: the server's new credentials", content_type = "application/trickle-ice-sdpfrag"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn whep_patch(State(state): State<AppState>, Path((room, session)): Path<(String, String)>, request: Request) -> Result<Response, ApiError> {
    patch(state, room, session, request).await
}

async fn patch(state: AppState, room: String, session: String, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let fragment = read_body(&state, &parts.headers, body, TRICKLE).await?;
    let if_match = parts.headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(str::to_string);
    match state.sfu.trickle(room, session, if_match, fragment).await {
        Ok(None) => Ok(StatusCode::NO_CONTENT.into_response()),
        Ok(Some(restarted)) => {
            let mut response = (StatusCode::OK, restarted.fragment).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(TRICKLE));
            if let Ok(v) = HeaderValue::from_str(&restarted.etag) {
                headers.insert(header::ETAG, v);
            }
            Ok(response)
        }
        Err(SfuError::EtagMismatch) => Ok(precondition_failed()),
        Err(err) => Err(sfu_error(err)),
    }
}

/// End a publishing session; the room's stream ends.
#[utoipa::path(delete, path = "/whip/{room}/{session}", tag = "media",
    params(("room" = String, Path), ("session" = String, Path)),
    responses((status = 200, description = "ended"), (status = 404, body = ErrorBody)))]
pub async fn whip_delete(State(state): State<AppState>, Path((room, session)): Path<(String, String)>) -> Result<Response, ApiError> {
    end(state, room, session).await
}

/// End a playing session.
#[utoipa::path(delete, path = "/whep/{room}/{session}", tag = "media",
    params(("room" = String, Path), ("session" = String, Path)),
    responses((status = 200, description = "ended"), (status = 404, body = ErrorBody)))]
pub async fn whep_delete(State(state): State<AppState>, Path((room, session)): Path<(String, String)>) -> Result<Response, ApiError> {
    end(state, room, session).await
}

async fn end(state: AppState, room: String, session: String) -> Result<Response, ApiError> {
    let was_publisher = state.sfu.end(room.clone(), session).await.map_err(sfu_error)?;
    if was_publisher {
        let room = find_room(&state, &room).await?;
        state.store.set_room_status(&room.id, "ended").await?;
    }
    Ok(StatusCode::OK.into_response())
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MediaClockView {
    /// `video` (preferred) or `audio`: whose sender reports this comes from.
    pub track: String,
    /// RTP clock rate in Hz (90000 for video, 48000 for Opus).
    pub clock_rate: u32,
    /// The RTP timestamp (extended, without wraps) that was `ntp_unix_ms`...
    pub rtp_timestamp: u64,
    /// ...on the publisher's wall clock, in Unix milliseconds.
    pub ntp_unix_ms: i64,
}

/// A live room's media clock, from the publisher's RTCP sender reports: stamp events
/// with stream time as `rtp_timestamp + (t - ntp_unix_ms) * clock_rate / 1000`.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/media-clock", tag = "rooms",
    params(("room" = String, Path, description = "room name")),
    responses((status = 200, body = MediaClockView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not live, or no sender report yet")))]
pub async fn media_clock(State(state): State<AppState>, caller: MaybeAuthUser, Path(room): Path<String>) -> Result<axum::Json<MediaClockView>, ApiError> {
    let room = find_room(&state, &room).await?;
    if !room.is_public() {
        let allowed = match &caller.0 {
            Some(user) => user.is_admin || state.store.room_rights(&room, &user.user_id).await?.can_moderate(),
            None => false,
        };
        if !allowed {
            return Err(ApiError::not_found("room_not_found", "no room has this name"));
        }
    }
    let clock = state.sfu.media_clock(room.id.clone()).await.map_err(sfu_error)?.ok_or_else(|| {
        ApiError::conflict("media_clock_unavailable", "the publisher has not sent a sender report yet; retry in a second")
    })?;
    Ok(axum::Json(MediaClockView { track: clock.track.into(), clock_rate: clock.clock_rate, rtp_timestamp: clock.rtp_timestamp, ntp_unix_ms: clock.ntp_unix_ms }))
}

/// What the WHIP endpoint accepts, and its ICE servers (RFC 9725 §4.4).
#[utoipa::path(options, path = "/whip/{room}", tag = "media", params(("room" = String, Path)), responses((status = 204)))]
pub async fn whip_options(State(state): State<AppState>) -> Response {
    options_response(&state)
}

/// What the WHEP endpoint accepts, and its ICE servers.
#[utoipa::path(options, path = "/whep/{room}", tag = "media", params(("room" = String, Path)), responses((status = 204)))]
pub async fn whep_options(State(state): State<AppState>) -> Response {
    options_response(&state)
}

/// CORS preflight target for a publishing session (browsers PATCH and DELETE it).
#[utoipa::path(options, path = "/whip/{room}/{session}", tag = "media", params(("room" = String, Path), ("session" = String, Path)), responses((status = 204)))]
pub async fn whip_session_options() -> Response {
    session_options_response()
}

/// CORS preflight target for a playing session.
#[utoipa::path(options, path = "/whep/{room}/{session}", tag = "media", params(("room" = String, Path), ("session" = String, Path)), responses((status = 204)))]
pub async fn whep_session_options() -> Response {
    session_options_response()
}

fn session_options_response() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert("accept-patch", HeaderValue::from_static(TRICKLE));
    allow_cross_origin(headers, "PATCH, DELETE, OPTIONS");
    response
}

fn options_response(state: &AppState) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert("accept-post", HeaderValue::from_static(SDP));
    allow_cross_origin(headers, "POST, OPTIONS");
    add_ice_server_links(state, headers);
    response
}

fn created_response(state: &AppState, kind: Kind, room: &str, created: SessionCreated) -> Response {
    let location = format!("/{}/{}/{}", kind.prefix(), room, created.session);
    let mut response = (StatusCode::CREATED, created.answer_sdp).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SDP));
    headers.insert("accept-patch", HeaderValue::from_static(TRICKLE));
    if let Ok(v) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&created.etag) {
        headers.insert(header::ETAG, v);
    }
    add_ice_server_links(state, headers);
    response
}

/// `Link: <stun:host:port>; rel="ice-server"` for every configured STUN server.
fn add_ice_server_links(state: &AppState, headers: &mut HeaderMap) {
    for server in &state.settings.rtc_stun_servers {
        if let Ok(v) = HeaderValue::from_str(&format!("<stun:{server}>; rel=\"ice-server\"")) {
            headers.append(header::LINK, v);
        }
    }
}

async fn read_body(state: &AppState, headers: &HeaderMap, body: Body, content_type: &'static str) -> Result<String, ApiError> {
    let given = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = given.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case(content_type) {
        return Err(ApiError::UnsupportedMediaType { message: format!("send the body with Content-Type: {content_type}") });
    }
    let limit = state.settings.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| ApiError::PayloadTooLarge { limit_bytes: limit })?;
    String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::bad_request("invalid_sdp", "the body is not UTF-8 text"))
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Some(true) when `token` is this room's stream key, Some(false) when it is another
/// room's, None when it is no stream key at all.
async fn stream_key_matches(state: &AppState, room: &RoomRow, token: &str) -> Result<Option<bool>, ApiError> {
    if !token.starts_with("sk_") {
        return Ok(None);
    }
    Ok(state.store.room_by_stream_key_hash(&hash_opaque_token(token)).await?.map(|r| r.id == room.id))
}

async fn authorize_publisher(state: &AppState, room: &RoomRow, parts: &mut Parts) -> Result<(), ApiError> {
    let Some(token) = bearer(parts).map(str::to_string) else {
        return Err(ApiError::unauthorized("missing_token", "send Authorization: Bearer <stream key or access token> to publish"));
    };
    match stream_key_matches(state, room, &token).await? {
        Some(true) => return Ok(()),
        Some(false) => return Err(ApiError::forbidden("wrong_stream_key", "this stream key belongs to another room")),
        None if token.starts_with("sk_") => return Err(ApiError::unauthorized("invalid_stream_key", "this stream key is not valid; rotate it in the studio")),
        None => {}
    }
    if let Some(grant) = livekit_grant(state, room, &token)? {
        return if grant.may_publish_source("camera") || grant.may_publish_source("microphone") {
            Ok(())
        } else {
            Err(ApiError::forbidden("publish_not_granted", "this LiveKit token does not grant canPublish in this room"))
        };
    }
    let user = AuthUser::from_request_parts(parts, state).await?;
    if user.is_admin || state.store.room_rights(room, &user.user_id).await?.seller {
        Ok(())
    } else {
        Err(ApiError::forbidden("not_room_seller", "only the shop's sellers can publish in this room"))
    }
}

async fn authorize_private_viewer(state: &AppState, room: &RoomRow, parts: &mut Parts) -> Result<(), ApiError> {
    let Some(token) = bearer(parts).map(str::to_string) else {
        return Err(ApiError::unauthorized("missing_token", "this room is private; send Authorization: Bearer <access token>"));
    };
    if stream_key_matches(state, room, &token).await? == Some(true) {
        return Ok(());
    }
    if let Some(grant) = livekit_grant(state, room, &token)? {
        return if grant.can_subscribe {
            Ok(())
        } else {
            Err(ApiError::forbidden("subscribe_not_granted", "this LiveKit token does not grant canSubscribe in this room"))
        };
    }
    let user = AuthUser::from_request_parts(parts, state).await?;
    if user.is_admin || state.store.room_rights(room, &user.user_id).await?.can_moderate() {
        Ok(())
    } else {
        Err(ApiError::forbidden("private_room", "this room is private to its shop"))
    }
}

/// The room grant of a LiveKit-format token (`iss` = one of our API keys).
/// `Ok(None)` when the token is not a LiveKit token, so the caller falls back to
/// our own access tokens.
fn livekit_grant(state: &AppState, room: &RoomRow, token: &str) -> Result<Option<crate::livekit::RoomGrant>, ApiError> {
    use crate::livekit::LiveKitTokenError;
    match state.livekit.room_grant(token, &room.name) {
        Ok(Some(grant)) => Ok(Some(grant)),
        Ok(None) => Err(ApiError::forbidden("token_for_another_room", "this LiveKit token does not grant joining this room")),
        Err(LiveKitTokenError::Invalid) => Err(ApiError::unauthorized("invalid_token", "the LiveKit token's signature or expiry is invalid")),
        Err(_) => Ok(None),
    }
}

/// 412 with our error body (RFC 9725: a PATCH whose If-Match is not the session's ETag).
fn precondition_failed() -> Response {
    let body = ErrorBody {
        error: crate::error::ErrorDetail {
            code: "etag_mismatch".into(),
            message: "If-Match does not match this session's ETag; use the ETag from the POST response".into(),
        },
    };
    (StatusCode::PRECONDITION_FAILED, axum::Json(body)).into_response()
}

fn sfu_error(err: SfuError) -> ApiError {
    let message = err.to_string();
    match err {
        SfuError::InvalidSdp(_) => ApiError::bad_request("invalid_sdp", message),
        SfuError::UnsupportedCodec(_) => ApiError::unprocessable("unsupported_codec", message),
        SfuError::PublisherExists => ApiError::conflict("room_has_publisher", "this room already has a publisher; stop it (DELETE its session) first"),
        SfuError::NotLive => ApiError::conflict("room_not_live", "nobody is publishing in this room yet; retry when it is live"),
        SfuError::RoomFull => ApiError::Unavailable { code: "room_full", message: "this room has as many viewers as it accepts; try again later".into() },
        SfuError::UnknownSession => ApiError::not_found("session_not_found", "no such session in this room; it may have ended"),
        SfuError::EtagMismatch => ApiError::conflict("etag_mismatch", message),
        SfuError::Stopped => ApiError::Unavailable { code: "media_unavailable", message: "the media server is not running; retry shortly".into() },
    }
}
