//! `GET /ws`: the WebSocket shell. One reader loop (frames in, heartbeats,
//! idle timeout) and one writer task per connection; the writer drains the
//! connection's bounded queue and closes with a code when the hub kicks it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use super::protocol::{Disconnect, Frame, ServerMessage, PROTOCOL_VERSION};
use super::session::{Identity, Session};
use crate::admission::Refused;
use crate::api::extract::ClientIp;
use crate::app::AppState;
use crate::error::ApiError;

/// Hard limit of the WebSocket layer; frames over `max_frame_bytes` but
/// under this get an error frame, bigger ones end the connection.
const HARD_MESSAGE_LIMIT: usize = 64 * 1024;
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Frames a client may send per second on average, and in one burst.
const FRAMES_PER_SEC: f64 = 50.0;
const FRAME_BURST: f64 = 100.0;
/// Malformed or refused frames tolerated before the connection is closed.
const MAX_BAD_FRAMES: u32 = 20;

#[derive(Deserialize)]
pub struct WsParams {
    access_token: Option<String>,
}

/// Upgrades to the hub's WebSocket. `?access_token=` signs the connection in;
/// without it the connection is anonymous (read-only, public rooms) until a
/// `connect` frame signs it in.
pub async fn upgrade(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    params: Result<Query<WsParams>, QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(ws) = ws else {
        return ApiError::bad_request("websocket_required", "GET /ws must be a WebSocket upgrade; see docs/PROTOCOL.md").into_response();
    };
    let Ok(Query(params)) = params else {
        return ApiError::bad_request("invalid_query", "the only query parameter is access_token").into_response();
    };
    // Admission before any work: 503 when the node is full, 429 when this
    // address holds its share. The slot is held for the connection's life.
    let slot = match state.admission.ws_connection(ip) {
        Ok(slot) => slot,
        Err(refused) => return refused_connection(&state, refused).into_response(),
    };
    let identity = match params.access_token.as_deref() {
        Some(token) => match Identity::from_token(&state, token).await {
            Ok(identity) => Some(identity),
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    // A small read buffer: tungstenite's 128 KiB default is most of a
    // connection's memory, and viewers send little.
    ws.max_message_size(HARD_MESSAGE_LIMIT)
        .max_frame_size(HARD_MESSAGE_LIMIT)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            run(state, socket, identity, ip).await;
            drop(slot);
        })
}

fn refused_connection(state: &AppState, refused: Refused) -> ApiError {
    let retry_after_secs = state.admission.settings().retry_after_secs;
    metrics::counter!("streamcart_ws_refused_total", "reason" => refused.reason()).increment(1);
    match refused {
        Refused::AddressFull => ApiError::TooManyConnections { retry_after_secs },
        Refused::NodeFull | Refused::RoomFull => ApiError::Overloaded { retry_after_secs },
    }
}

async fn run(state: AppState, socket: WebSocket, identity: Option<Identity>, ip: std::net::IpAddr) {
    let hub = state.hub.clone();
    let config = hub.shell_config().clone();
    let viewer_key = identity.as_ref().map(|i| i.user_id.clone()).unwrap_or_else(|| format!("anon:{}", uuid::Uuid::new_v4().simple()));
    let link = hub.register(identity.as_ref().map(|i| i.user_id.clone()), viewer_key);
    let conn = link.id;
    metrics::gauge!("streamcart_hub_connections").increment(1.0);
    let (sink, mut stream) = socket.split();
    let mut writer = tokio::spawn(write_loop(sink, link.queue, link.queued_bytes, link.kicked, config.write_timeout));
    hub.send_to(
        conn,
        &ServerMessage::Connected {
            v: PROTOCOL_VERSION,
            client: conn.to_string(),
            user_id: identity.as_ref().map(|i| i.user_id.clone()),
            ping_interval_ms: config.ping_interval.as_millis() as u64,
        },
    );
    let mut session = Session::new(state, conn, identity).with_client_ip(ip);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + config.ping_interval, config.ping_interval);
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + config.session_recheck, config.session_recheck);
    let idle = tokio::time::sleep(config.idle_timeout);
    tokio::pin!(idle);
    let mut bad_frames = 0u32;
    let mut budget = FrameBudget::new(std::time::Instant::now());
    let mut writer_done = false;
    loop {
        tokio::select! {
            _ = &mut writer => {
                writer_done = true;
                // The close frame is out: finish the closing handshake by
                // reading (and dropping) what the client already sent, so the
                // socket is not reset under the close frame.
                let drain = async { while let Some(Ok(message)) = stream.next().await { if matches!(message, Message::Close(_)) { break } } };
                let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
                break;
            }
            frame = stream.next() => {
                idle.as_mut().reset(tokio::time::Instant::now() + config.idle_timeout);
                let over_budget = matches!(frame, Some(Ok(Message::Text(_) | Message::Binary(_)))) && !budget.take(std::time::Instant::now());
                let accepted = match frame {
                    Some(Ok(Message::Text(_) | Message::Binary(_))) if over_budget => {
                        let mut error = ServerMessage::error(None, "rate_limited", "too many frames; slow down");
                        if let ServerMessage::Error { retry_after_ms, .. } = &mut error {
                            *retry_after_ms = Some(1000 / FRAMES_PER_SEC as u64);
                        }
                        hub.send_to(conn, &error);
                        false
                    }
                    Some(Ok(Message::Text(text))) if text.len() > config.max_frame_bytes => {
                        let message = format!("frames are limited to {} bytes", config.max_frame_bytes);
                        hub.send_to(conn, &ServerMessage::error(None, "frame_too_large", message));
                        false
                    }
                    Some(Ok(Message::Text(text))) => session.handle_text(text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => {
                        hub.send_to(conn, &ServerMessage::error(None, "binary_not_supported", "send JSON text frames; see docs/PROTOCOL.md"));
                        false
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => true,
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(_)) => {
                        hub.kick(conn, Disconnect::BadRequest);
                        break;
                    }
                };
                if !accepted {
                    bad_frames += 1;
                    if bad_frames > MAX_BAD_FRAMES {
                        hub.kick(conn, Disconnect::BadRequest);
                    }
                }
            }
            _ = ping.tick() => hub.send_to(conn, &ServerMessage::Ping {}),
            _ = recheck.tick() => {
                if !session.still_valid().await {
                    hub.send_to(conn, &ServerMessage::error(None, "session_revoked", "this session has ended; log in again"));
                    hub.kick(conn, Disconnect::InvalidToken);
                }
            }
            _ = &mut idle => hub.kick(conn, Disconnect::NoPong),
        }
    }
    hub.unregister(conn);
    metrics::gauge!("streamcart_hub_connections").decrement(1.0);
    // The writer ends on its own: its kick or queue sender is gone now.
    if !writer_done && tokio::time::timeout(Duration::from_secs(2), &mut writer).await.is_err() {
        writer.abort();
    }
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Frame>,
    queued_bytes: Arc<AtomicUsize>,
    mut kicked: oneshot::Receiver<Disconnect>,
    write_timeout: Duration,
) {
    loop {
        tokio::select! {
            biased;
            reason = &mut kicked => {
                if let Ok(reason) = reason {
                    // A slow client's backlog is dropped; anyone else first
                    // gets what was queued (the error explaining the close).
                    if reason != Disconnect::Slow {
                        while let Ok(frame) = queue.try_recv() {
                            if !matches!(tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Text(frame))).await, Ok(Ok(()))) {
                                break;
                            }
                        }
                    }
                    let close = CloseFrame { code: reason.code(), reason: reason.reason().into() };
                    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Close(Some(close)))).await;
                }
                break;
            }
            frame = queue.recv() => {
                let Some(frame) = frame else { break };
                let len = frame.len();
                match tokio::time::timeout(write_timeout, sink.send(Message::Text(frame))).await {
                    Ok(Ok(())) => {
                        queued_bytes.fetch_sub(len, Ordering::AcqRel);
                    }
                    _ => break,
                }
            }
        }
    }
}

/// A token bucket over a connection's inbound frames, so one client cannot
/// make the hub do unbounded work (snapshots, store reads) on its behalf.
struct FrameBudget {
    tokens: f64,
    at: std::time::Instant,
}

impl FrameBudget {
    fn new(now: std::time::Instant) -> FrameBudget {
        FrameBudget { tokens: FRAME_BURST, at: now }
    }

    fn take(&mut self, now: std::time::Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * FRAMES_PER_SEC).min(FRAME_BURST);
        self.at = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn the_frame_budget_allows_a_burst_then_the_steady_rate() {
        let start = Instant::now();
        let mut budget = FrameBudget::new(start);
        assert!((0..100).all(|_| budget.take(start)));
        assert!(!budget.take(start));
        assert!(budget.take(start + Duration::from_millis(20)));
        assert!(!budget.take(start + Duration::from_millis(20)));
    }
}
