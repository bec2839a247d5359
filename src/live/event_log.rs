//! The durable per-room event log: every pin, sale and auction state change,
//! appended with wall time and (when the room is streaming) stream time from
//! the SFU's media clock, and read back merged with the moderation log.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};

use super::http::visible_room;
use crate::api::extract::MaybeAuthUser;
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::sfu::MediaClock;
use crate::store::{new_id, Store, StoreError, StoreResult};

/// Where an event sits in the stream: RTP time `rtp_timestamp` at `clock_rate` Hz.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct StreamTime {
    pub rtp_timestamp: i64,
    pub clock_rate: i64,
}

impl StreamTime {
    /// The stream time at wall time `at` (unix ms), extrapolated from the latest sender report.
    pub fn at(clock: &MediaClock, at: i64) -> Option<StreamTime> {
        let rate = i64::from(clock.clock_rate);
        let base = i64::try_from(clock.rtp_timestamp).ok()?;
        let elapsed = at.checked_sub(clock.ntp_unix_ms)?.checked_mul(rate)? / 1000;
        Some(StreamTime { rtp_timestamp: base.checked_add(elapsed)?, clock_rate: rate })
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LoggedEvent {
    /// `product.pinned`, `sale.started`, `auction.bid`, …, or `moderation.<action>` (staff only).
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// Wall time, unix ms.
    pub at: i64,
    /// Stream time, when the room was streaming.
    pub stream: Option<StreamTime>,
}

impl Store {
    pub async fn append_room_event(&self, room_id: &str, kind: &str, data: &serde_json::Value, at: i64, stream: Option<StreamTime>) -> StoreResult<()> {
        sqlx::query("INSERT INTO live_room_events (id, room_id, kind, data, at, stream_rtp, clock_rate) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(new_id())
            .bind(room_id)
            .bind(kind)
            .bind(data.to_string())
            .bind(at)
            .bind(stream.map(|s| s.rtp_timestamp))
            .bind(stream.map(|s| s.clock_rate))
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// The room's events after `after` (unix ms), oldest first; moderation actions too when `staff`.
    pub async fn room_event_log(&self, room_id: &str, after: i64, limit: i64, staff: bool) -> StoreResult<Vec<LoggedEvent>> {
        let rows = sqlx::query("SELECT kind, data, at, stream_rtp, clock_rate FROM live_room_events WHERE room_id = $1 AND at > $2 ORDER BY at, id LIMIT $3")
            .bind(room_id)
            .bind(after)
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
        let mut events = rows
            .iter()
            .map(|r| {
                let data: String = r.try_get("data")?;
                let (rtp, rate): (Option<i64>, Option<i64>) = (r.try_get("stream_rtp")?, r.try_get("clock_rate")?);
                Ok(LoggedEvent {
                    kind: r.try_get("kind")?,
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                    at: r.try_get("at")?,
                    stream: rtp.zip(rate).map(|(rtp_timestamp, clock_rate)| StreamTime { rtp_timestamp, clock_rate }),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if staff {
            let rows = sqlx::query(
                "SELECT action, actor_id, target_user_id, target_message_id, detail, created_at FROM moderation_log WHERE room_id = $1 AND created_at > $2 ORDER BY created_at, id LIMIT $3",
            )
            .bind(room_id)
            .bind(after)
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
            for r in &rows {
                let action: String = r.try_get("action")?;
                let (actor, user, message, detail): (String, Option<String>, Option<String>, String) =
                    (r.try_get("actor_id")?, r.try_get("target_user_id")?, r.try_get("target_message_id")?, r.try_get("detail")?);
                let data = serde_json::json!({"actor_id": actor, "target_user_id": user, "target_message_id": message, "detail": detail});
                events.push(LoggedEvent { kind: format!("moderation.{action}"), data, at: r.try_get("created_at")?, stream: None });
            }
            events.sort_by_key(|e| e.at);
            events.truncate(usize::try_from(limit).unwrap_or(0));
        }
        Ok(events)
    }
}

#[derive(Deserialize, IntoParams)]
pub struct EventLogQuery {
    /// Only events after this wall time (unix ms); default: from the start.
    pub after: Option<i64>,
    /// 1 to 500 (default 200).
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct EventLogPage {
    /// Oldest first; page on with `after` = the last item's `at`.
    pub items: Vec<LoggedEvent>,
}

/// The room's durable event log (pins, sales, auctions; moderation actions for its staff),
/// with wall time and stream time, for replays that show overlays in sync with the video.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/event-log", tag = "live", params(("room" = String, Path, description = "room name"), EventLogQuery),
    responses((status = 200, body = EventLogPage), (status = 404, body = ErrorBody)))]
pub async fn event_log(State(state): State<AppState>, caller: MaybeAuthUser, Path(room): Path<String>, Query(q): Query<EventLogQuery>) -> Result<Json<EventLogPage>, ApiError> {
    let room = visible_room(&state, &caller, &room).await?;
    let staff = match &caller.0 {
        Some(user) => user.is_admin || state.store.room_rights(&room, &user.user_id).await?.can_moderate(),
        None => false,
    };
    let limit = q.limit.unwrap_or(200).clamp(1, 500);
    let items = state.store.room_event_log(&room.id, q.after.unwrap_or(i64::MIN), limit, staff).await?;
    Ok(Json(EventLogPage { items }))
}
