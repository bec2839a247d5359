//! LiveKit client signaling: `GET /rtc` (the WebSocket LiveKit's client SDKs join
//! rooms with; protobuf `SignalRequest`/`SignalResponse`, the two-peer-connection
//! flow of protocol 17/18), `GET /rtc/validate` (what SDKs call to explain a failed
//! join), and a 404 on `/rtc/v1` and `/rtc/v1/validate` so current SDKs fall back
//! from the single-PC flow we do not serve yet. `session` runs one connection,
//! `roster` is who is in each room, `view` what a client was told of it.

pub mod roster;
mod session;
pub mod view;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::{LiveKitTokenError, RoomGrant};
use crate::api::extract::ClientIp;
use crate::app::AppState;
use crate::store::RoomRow;

/// The LiveKit server version we speak for (`JoinResponse.server_info.version`).
pub const SERVER_VERSION: &str = "1.9.0";
/// The largest signal message accepted (SDPs with many sections are tens of KiB).
const MAX_SIGNAL_BYTES: usize = 1 << 20;
/// The signal protocol version we implement (two peer connections).
pub const PROTOCOL: i32 = 16;

/// What `/rtc` and `/rtc/validate` read from the query string.
#[derive(Debug, Default, Deserialize)]
pub struct JoinParams {
    pub access_token: Option<String>,
    /// Optional: when given it must be the token's room.
    pub room: Option<String>,
    pub protocol: Option<i32>,
    pub auto_subscribe: Option<String>,
    pub sdk: Option<String>,
}

/// The routes, merged into the app's router (WebSocket and SDK probes: not in OpenAPI).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/rtc", get(join))
        .route("/rtc/validate", get(validate).options(preflight))
        .route("/rtc/v1", get(single_pc_not_served))
        .route(
            "/rtc/v1/validate",
            get(single_pc_not_served).options(preflight),
        )
}

/// A refused join, answered as LiveKit does: 401 with a plain-text reason.
#[derive(Debug)]
pub struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        with_cors((self.0, self.1).into_response())
    }
}

/// The token's rights in its room (`grant.room`), or LiveKit's refusal.
pub fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    params: &JoinParams,
) -> Result<(RoomGrant, String), Refused> {
    let unauthorized = |m: &str| Refused(StatusCode::UNAUTHORIZED, m.to_string());
    let token = params
        .access_token
        .as_deref()
        .or_else(|| super::twirp::bearer(headers))
        .ok_or_else(|| {
            unauthorized(
                "no permissions to access the room: send access_token or Authorization: Bearer",
            )
        })?;
    let claims = state.livekit.verify(token).map_err(|e| match e {
        LiveKitTokenError::UnknownKey => {
            unauthorized("invalid token: the API key is not known to this server")
        }
        LiveKitTokenError::Invalid => {
            unauthorized("invalid token: bad signature, or expired, or not yet valid")
        }
        _ => unauthorized("invalid token: not a LiveKit access token"),
    })?;
    let room_name = claims.video.room.clone();
    if room_name.is_empty() || params.room.as_deref().is_some_and(|r| r != room_name) {
        return Err(unauthorized(
            "permissions denied: the token is not for this room",
        ));
    }
    let grant = super::token::grant_for_room(&claims, &room_name).ok_or_else(|| {
        unauthorized("permissions denied: the token has no roomJoin grant or identity")
    })?;
    Ok((grant, room_name))
}

/// The room of that name, created on first join as LiveKit's `auto_create` does.
async fn open_room(state: &AppState, room_name: &str) -> Result<RoomRow, Refused> {
    let room = match state.store.room_by_name(room_name).await {
        Ok(Some(room)) => room,
        Ok(None) => {
            let request = livekit_protocol::CreateRoomRequest {
                name: room_name.to_string(),
                ..Default::default()
            };
            super::room_service::create_room(state, request)
                .await
                .map_err(|_| {
                    Refused(
                        StatusCode::BAD_REQUEST,
                        format!("room {room_name:?} cannot be created here"),
                    )
                })?;
            state
                .store
                .room_by_name(room_name)
                .await
                .ok()
                .flatten()
                .ok_or_else(|| {
                    Refused(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the room could not be opened".into(),
                    )
                })?
        }
        Err(_) => {
            return Err(Refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is unavailable".into(),
            ))
        }
    };
    Ok(room)
}

async fn join(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(params): Query<JoinParams>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let room = match authorize(&state, &headers, &params) {
        Ok((grant, name)) => open_room(&state, &name).await.map(|room| (grant, room)),
        Err(refused) => Err(refused),
    };
    let (grant, room) = match room {
        Ok(ok) => ok,
        Err(refused) => return refused.into_response(),
    };
    if let Err(refused) = room_has_space(&state, &room, &grant.identity).await {
        return refused.into_response();
    }
    let Ok(ws) = ws else {
        return Refused(
            StatusCode::BAD_REQUEST,
            "this endpoint is a WebSocket".into(),
        )
        .into_response();
    };
    // The same WebSocket caps as /ws (per node, per address), held for the connection's life.
    let slot = match state.admission.ws_connection(ip) {
        Ok(slot) => slot,
        Err(crate::admission::Refused::AddressFull) => {
            return Refused(
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections from this address".into(),
            )
            .into_response()
        }
        Err(_) => {
            return Refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "this server is full; retry later".into(),
            )
            .into_response()
        }
    };
    let auto_subscribe = params
        .auto_subscribe
        .as_deref()
        .is_none_or(|v| v != "0" && v != "false");
    ws.max_message_size(MAX_SIGNAL_BYTES)
        .max_frame_size(MAX_SIGNAL_BYTES)
        .on_upgrade(move |socket| async move {
            session::run(
                state,
                socket,
                session::Joined {
                    grant,
                    room,
                    auto_subscribe,
                },
            )
            .await;
            drop(slot);
        })
}

/// CreateRoom's `max_participants` (0: no limit): a full room refuses a new
/// identity before the upgrade, as LiveKit does ("room has exceeded its max
/// participants"); an identity already in the room may rejoin (it replaces itself).
async fn room_has_space(state: &AppState, room: &RoomRow, identity: &str) -> Result<(), Refused> {
    let settings = state
        .store
        .livekit_room_settings(&room.id)
        .await
        .map_err(|_| Refused(StatusCode::SERVICE_UNAVAILABLE, "the store is unavailable".into()))?;
    if settings.max_participants == 0 {
        return Ok(());
    }
    let signalled = state.livekit_rooms.roster.all(&room.name);
    if signalled.iter().any(|p| p.identity == identity) {
        return Ok(());
    }
    let media_sessions = state.sfu.sessions(Some(room.id.clone())).await.map(|s| s.len()).unwrap_or(0);
    if signalled.len() + media_sessions >= settings.max_participants as usize {
        return Err(Refused(StatusCode::TOO_MANY_REQUESTS, "room has exceeded its max participants".into()));
    }
    Ok(())
}

async fn validate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<JoinParams>,
) -> Response {
    match authorize(&state, &headers, &params) {
        Ok(_) => with_cors((StatusCode::OK, "success").into_response()),
        Err(refused) => refused.into_response(),
    }
}

async fn single_pc_not_served() -> Response {
    with_cors(
        (
            StatusCode::NOT_FOUND,
            "the single peer connection signaling (/rtc/v1) is not served here; use /rtc",
        )
            .into_response(),
    )
}

async fn preflight() -> Response {
    let mut response = with_cors(StatusCode::NO_CONTENT.into_response());
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

/// Browsers' SDKs call `/rtc/validate` from any origin (the token is the credential).
fn with_cors(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}
