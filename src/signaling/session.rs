//! One connection's requests: parses each frame, checks who may do what
//! (rooms' visibility, `Store::room_rights`), talks to the store and the hub,
//! and answers with an `ack` or a typed `error` carrying the request's id.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::channel::ChannelName;
use super::core::{ConnId, Refusal, SubscribeStep};
use super::hub::{Hub, HubError};
use super::protocol::{ClientMessage, Disconnect, Event, ModerationAction, Position, ServerMessage};
use super::rules::SanctionKind;
use super::store::ModerationChange;
use crate::admission::Slot;
use crate::api::extract::AuthUser;
use crate::app::AppState;
use crate::error::ApiError;
use crate::store::{now_ms, RoomRow, StoreError};

/// A signed-in connection's user.
#[derive(Clone, Debug)]
pub struct Identity {
    pub user_id: String,
    pub session_id: String,
    pub display_name: String,
    pub is_admin: bool,
}

impl Identity {
    /// Checks an access token exactly as the HTTP API does.
    pub async fn from_token(state: &AppState, token: &str) -> Result<Identity, ApiError> {
        let user = AuthUser::from_access_token(state, token).await?;
        let row = state.store.user_by_id(&user.user_id).await?.ok_or_else(|| ApiError::unauthorized("invalid_token", "the access token is not valid; log in again"))?;
        Ok(Identity { user_id: row.id, session_id: user.session_id, display_name: row.display_name, is_admin: user.is_admin })
    }
}

#[derive(Clone)]
struct RoomAccess {
    row: RoomRow,
    /// Seller or moderator of the room's shop, or an admin.
    staff: bool,
}

pub struct Session {
    state: AppState,
    hub: Hub,
    conn: ConnId,
    identity: Option<Identity>,
    rooms: HashMap<String, RoomAccess>,
    /// One admission slot per room channel this connection subscribed to
    /// (`streamcart.admission.ws_max_per_room`); dropped with the session.
    room_slots: HashMap<String, Slot>,
    /// The client's address: whom an anonymous viewer's card reports count as.
    client_ip: Option<std::net::IpAddr>,
}

/// How a request was answered.
enum Reply {
    Ack(Value),
    /// The core already sent the ack (it must precede publications).
    Sent,
}

type Outcome = Result<Reply, Refusal>;

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Refusal {
        refusal_of(ApiError::from(e))
    }
}

impl From<HubError> for Refusal {
    fn from(e: HubError) -> Refusal {
        match e {
            HubError::Store(e) => e.into(),
            HubError::Broker(e) => {
                tracing::warn!(error = %e, "broker unavailable");
                Refusal::new("broker_unavailable", "the message could not be delivered right now; retry shortly")
            }
        }
    }
}

fn refusal_of(e: ApiError) -> Refusal {
    let message = match &e {
        ApiError::Internal(_) => "something went wrong on our side; retry shortly".to_string(),
        other => other.to_string(),
    };
    Refusal { retry_after_ms: e.retry_after_secs().map(|s| s * 1000), ..Refusal::new(e.code(), message) }
}

fn room_not_found() -> Refusal {
    Refusal::new("room_not_found", "no room has this name")
}

impl Session {
    pub fn new(state: AppState, conn: ConnId, identity: Option<Identity>) -> Session {
        let hub = state.hub.clone();
        Session { state, hub, conn, identity, rooms: HashMap::new(), room_slots: HashMap::new(), client_ip: None }
    }

    /// The client's address (anonymous viewers' card reports count per address).
    pub fn with_client_ip(mut self, ip: std::net::IpAddr) -> Session {
        self.client_ip = Some(ip);
        self
    }

    /// False once the signed-in session has been revoked (logout, refresh
    /// token reuse) or the account disabled. A store outage is not a reason
    /// to drop viewers, so errors count as valid.
    pub async fn still_valid(&self) -> bool {
        let Some(identity) = &self.identity else { return true };
        match self.state.store.session(&identity.session_id).await {
            Ok(Some(s)) => s.user_id == identity.user_id && !s.user_disabled && s.revoked_at.is_none(),
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// Handles one text frame; false when it was malformed.
    pub async fn handle_text(&mut self, text: &str) -> bool {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                self.hub.send_to(self.conn, &ServerMessage::error(None, "invalid_json", format!("the frame is not valid JSON: {e}")));
                return false;
            }
        };
        let id = value.get("id").and_then(Value::as_u64);
        let message: ClientMessage = match serde_json::from_value(value) {
            Ok(m) => m,
            Err(e) => {
                self.hub.send_to(self.conn, &ServerMessage::error(id, "invalid_message", format!("{e}; see docs/PROTOCOL.md")));
                return false;
            }
        };
        let outcome = match message {
            ClientMessage::Connect { token, .. } => self.connect(&token, id).await,
            ClientMessage::Subscribe { channel, recover, .. } => self.subscribe(&channel, recover, id).await,
            ClientMessage::Unsubscribe { channel, .. } => self.unsubscribe(&channel),
            ClientMessage::ChatSend { room, text, .. } => self.chat(&room, &text).await,
            ClientMessage::React { room, kind, count, .. } => self.react(&room, &kind, count.unwrap_or(1)),
            ClientMessage::Moderate { room, action, .. } => self.moderate(&room, action).await,
            ClientMessage::ModerationLog { room, .. } => self.moderation_log(&room).await,
            ClientMessage::HeldMessages { room, .. } => self.held_messages(&room).await,
            ClientMessage::SaleReserve { room, sale_id, quantity, .. } => self.reserve(&room, &sale_id, quantity).await,
            ClientMessage::CardTrack { room, kind, product_ids, .. } => self.track_cards(&room, &kind, &product_ids).await,
            ClientMessage::PollVote { room, poll_id, answer, .. } => self.vote(&room, &poll_id, answer).await,
            ClientMessage::GiveawayEnter { room, giveaway_id, .. } => self.enter_giveaway(&room, &giveaway_id).await,
            ClientMessage::Ping { .. } => {
                self.hub.send_to(self.conn, &ServerMessage::Pong { id });
                Ok(Reply::Sent)
            }
            ClientMessage::Pong {} => Ok(Reply::Sent),
        };
        match outcome {
            Ok(Reply::Ack(result)) => {
                if id.is_some() {
                    self.hub.send_to(self.conn, &ServerMessage::Ack { id, result });
                }
            }
            Ok(Reply::Sent) => {}
            Err(refusal) => self.hub.send_to(self.conn, &refusal.to_message(id)),
        }
        true
    }

    fn identity(&self) -> Result<&Identity, Refusal> {
        self.identity.as_ref().ok_or_else(|| Refusal::new("login_required", "sign in first: send a connect frame with your access token"))
    }

    async fn connect(&mut self, token: &str, id: Option<u64>) -> Outcome {
        if self.identity.is_some() {
            return Err(Refusal::new("already_authenticated", "this connection is already signed in"));
        }
        match Identity::from_token(&self.state, token).await {
            Ok(identity) => {
                let user_id = identity.user_id.clone();
                self.hub.with_core(|core| (core.authenticate(self.conn, user_id.clone()), Vec::new()));
                self.identity = Some(identity);
                self.rooms.clear();
                Ok(Reply::Ack(json!({ "user_id": user_id })))
            }
            Err(e) => {
                let refusal = refusal_of(e);
                self.hub.send_to(self.conn, &refusal.to_message(id));
                self.hub.kick(self.conn, Disconnect::InvalidToken);
                Ok(Reply::Sent)
            }
        }
    }

    /// The room, if this connection may see it; cached for the connection.
    async fn room_access(&mut self, name: &str) -> Result<RoomAccess, Refusal> {
        if let Some(access) = self.rooms.get(name) {
            return Ok(access.clone());
        }
        let row = self.state.store.room_by_name(name).await?.ok_or_else(room_not_found)?;
        let staff = match &self.identity {
            Some(identity) => identity.is_admin || self.state.store.room_rights(&row, &identity.user_id).await?.can_moderate(),
            None => false,
        };
        if !row.is_public() && !staff {
            return Err(room_not_found());
        }
        let access = RoomAccess { row, staff };
        self.rooms.insert(name.to_string(), access.clone());
        Ok(access)
    }

    async fn subscribe(&mut self, raw: &str, recover: Option<Position>, id: Option<u64>) -> Outcome {
        let channel = ChannelName::parse(raw).ok_or_else(|| Refusal::new("invalid_channel", "channels are room:{name} or user:{id}"))?;
        let mut room = None;
        let mut new_slot = None;
        match &channel {
            ChannelName::Room(name) => {
                let access = self.room_access(name).await?;
                if !self.room_slots.contains_key(name) {
                    new_slot = Some(self.room_slot(name)?);
                }
                if !self.hub.with_core(|core| (core.has_rules(name), Vec::new())) {
                    self.hub.reload_rules(name, &access.row.id).await?;
                }
                room = Some(access.row);
            }
            ChannelName::User(user_id) => {
                if self.identity()?.user_id != *user_id {
                    return Err(Refusal::new("forbidden_channel", "you can subscribe only to your own user channel"));
                }
            }
        }
        self.hub.prepare_channel(&channel).await?;
        let now = now_ms();
        let step = self.hub.with_core(|core| match core.subscribe(self.conn, &channel, recover, id, now) {
            Ok(SubscribeStep::Done(outputs)) => (Ok(None), outputs),
            Ok(SubscribeStep::NeedsSnapshot { .. }) => (Ok(Some(())), Vec::new()),
            Err(refusal) => (Err(refusal), Vec::new()),
        })?;
        if let (Some(slot), Some(row)) = (new_slot, &room) {
            self.room_slots.insert(row.name.clone(), slot);
        }
        if step.is_none() {
            return Ok(Reply::Sent);
        }
        let state = match &room {
            Some(row) => self.room_snapshot(row).await,
            None => Ok(json!({})),
        };
        match state {
            Ok(state) => {
                self.hub.with_core(|core| ((), core.complete_snapshot(self.conn, &channel, id, state)));
                Ok(Reply::Sent)
            }
            Err(refusal) => {
                self.hub.with_core(|core| (core.unsubscribe(self.conn, &channel, now_ms()), Vec::new()));
                if let Some(name) = channel.room_name() {
                    self.room_slots.remove(name);
                }
                Err(refusal)
            }
        }
    }

    /// A subscriber's slot in a room, or `room_full` (retry later).
    fn room_slot(&self, room: &str) -> Result<Slot, Refusal> {
        self.state.admission.room_subscription(room).map_err(|_| {
            metrics::counter!("streamcart_ws_refused_total", "reason" => "room_full").increment(1);
            let retry_after_secs = self.state.admission.settings().retry_after_secs;
            Refusal {
                code: "room_full",
                message: "this room has as many viewers on this server as it accepts; retry shortly".into(),
                retry_after_ms: Some(retry_after_secs * 1000),
            }
        })
    }

    async fn room_snapshot(&self, row: &RoomRow) -> Result<Value, Refusal> {
        let viewer = self.identity.as_ref().map(|i| i.user_id.as_str());
        let limit = self.hub.shell_config().snapshot_chat_messages;
        let chat = self.state.store.recent_chat(&row.id, viewer, limit).await?;
        let pinned = self.state.store.pinned_chat_message(&row.id).await?;
        let (slow_mode_secs, presence) = self.hub.with_core(|core| ((core.slow_mode_secs(&row.name), core.presence(&row.name)), Vec::new()));
        let pinned_products = crate::live::runtime::pinned_cards(&self.state.live, &self.state.store, &row.id).await?;
        let sales: Vec<crate::live::http::SaleView> = self.state.store.open_flash_sales(&row.id).await?.into_iter().map(Into::into).collect();
        let auctions: Vec<_> =
            self.state.store.room_auctions(&row.id).await?.iter().filter(|a| a.status == "running").map(crate::live::auction_http::AuctionView::public).collect();
        let (polls, giveaways) = crate::live::engage_http::open_in_room(&self.state.store, row).await?;
        Ok(json!({
            "room": { "name": row.name, "title": row.title, "status": row.status, "visibility": row.visibility },
            "live": row.status == "live",
            "presence": { "viewers": presence.viewers, "peak": presence.peak, "unique": presence.unique },
            "pinned_products": pinned_products,
            "sales": sales,
            "auctions": auctions,
            "polls": polls,
            "giveaways": giveaways,
            "slow_mode_secs": slow_mode_secs,
            "chat": chat,
            "pinned_message": pinned,
        }))
    }

    fn unsubscribe(&mut self, raw: &str) -> Outcome {
        let channel = ChannelName::parse(raw).ok_or_else(|| Refusal::new("invalid_channel", "channels are room:{name} or user:{id}"))?;
        if let Some(name) = channel.room_name() {
            self.room_slots.remove(name);
        }
        if !self.hub.with_core(|core| (core.unsubscribe(self.conn, &channel, now_ms()), Vec::new())) {
            return Err(Refusal::new("not_subscribed", "this connection is not subscribed to the channel"));
        }
        Ok(Reply::Ack(json!({ "channel": channel.to_string() })))
    }

    async fn chat(&mut self, room: &str, text: &str) -> Outcome {
        let identity = self.identity()?.clone();
        let access = self.room_access(room).await?;
        let text = text.trim();
        let now = now_ms();
        let (user_id, verdict) = self.hub.with_core(|core| (core.check_chat(self.conn, room, text, access.staff, now), Vec::new()))?;
        let row = self.state.store.insert_chat_message(&access.row.id, &user_id, &identity.display_name, text, verdict).await?;
        let event = Event::new("chat.message", json!(row));
        let channel = ChannelName::room(room);
        if verdict.shadow || verdict.held {
            self.hub.with_core(|core| ((), core.send_to_user_on(&user_id, &channel, event)));
        } else {
            self.hub.publish(&channel, event).await?;
        }
        if verdict.held {
            return Ok(Reply::Ack(json!({ "message": row, "held": true })));
        }
        Ok(Reply::Ack(json!({ "message": row })))
    }

    fn react(&mut self, room: &str, kind: &str, count: u32) -> Outcome {
        self.hub.with_core(|core| (core.react(self.conn, room, kind, count), Vec::new()))?;
        Ok(Reply::Ack(json!({})))
    }

    /// Buy now over the socket: the ack carries `reserved_until`.
    async fn reserve(&mut self, room: &str, sale_id: &str, quantity: Option<i64>) -> Outcome {
        let user_id = self.identity()?.user_id.clone();
        let access = self.room_access(room).await?;
        let ack = crate::live::http::reserve_in_room(&self.state, &access.row, sale_id, &user_id, quantity).await.map_err(refusal_of)?;
        Ok(Reply::Ack(json!(ack)))
    }

    /// A product-card report: impressions, clicks, cart adds from a pinned card.
    async fn track_cards(&mut self, room: &str, kind: &str, product_ids: &[String]) -> Outcome {
        let access = self.room_access(room).await?;
        let user_id = self.identity.as_ref().map(|i| i.user_id.clone());
        let viewer = crate::live::card_events_http::viewer_key(user_id.as_deref(), self.client_ip);
        let ack = crate::live::card_events_http::track_cards(&self.state, &access.row, user_id.as_deref(), &viewer, kind, product_ids).await.map_err(refusal_of)?;
        Ok(Reply::Ack(json!(ack)))
    }

    async fn vote(&mut self, room: &str, poll_id: &str, answer: i64) -> Outcome {
        let user_id = self.identity()?.user_id.clone();
        let access = self.room_access(room).await?;
        let ack = crate::live::engage_http::vote_in_room(&self.state, &access.row, poll_id, &user_id, answer).await.map_err(refusal_of)?;
        Ok(Reply::Ack(json!(ack)))
    }

    async fn enter_giveaway(&mut self, room: &str, giveaway_id: &str) -> Outcome {
        let identity = self.identity()?.clone();
        let access = self.room_access(room).await?;
        let ack = crate::live::engage_http::enter_in_room(&self.state, &access.row, giveaway_id, &identity.user_id, identity.is_admin).await.map_err(refusal_of)?;
        Ok(Reply::Ack(json!(ack)))
    }

    async fn require_staff(&mut self, room: &str) -> Result<(Identity, RoomAccess), Refusal> {
        let identity = self.identity()?.clone();
        let access = self.room_access(room).await?;
        if !access.staff {
            return Err(Refusal::new("not_room_moderator", "only the room's seller, its shop's moderators and admins can do this"));
        }
        Ok((identity, access))
    }

    async fn moderate(&mut self, room: &str, action: ModerationAction) -> Outcome {
        let (identity, access) = self.require_staff(room).await?;
        let store = &self.state.store;
        let now = now_ms();
        let target = match &action {
            ModerationAction::Timeout { user_id, .. }
            | ModerationAction::Ban { user_id }
            | ModerationAction::Unban { user_id }
            | ModerationAction::ShadowBan { user_id }
            | ModerationAction::Unshadow { user_id } => Some(user_id.as_str()),
            _ => None,
        };
        if let Some(user_id) = target {
            if store.user_by_id(user_id).await?.is_none() {
                return Err(Refusal::new("user_not_found", "no user has this id"));
            }
        }
        let words;
        let (change, detail, event) = match &action {
            ModerationAction::DeleteMessage { message_id } => {
                (ModerationChange::DeleteMessage { message_id }, String::new(), Some(Event::new("chat.deleted", json!({ "id": message_id }))))
            }
            ModerationAction::Timeout { user_id, seconds } => {
                if !(1..=7 * 24 * 3600).contains(seconds) {
                    return Err(Refusal::new("invalid_duration", "a timeout lasts 1 second to 7 days"));
                }
                let until = Some(now + *seconds as i64 * 1000);
                (ModerationChange::Sanction { user_id, kind: SanctionKind::Timeout, until }, format!("{seconds} s"), None)
            }
            ModerationAction::Ban { user_id } => (ModerationChange::Sanction { user_id, kind: SanctionKind::Ban, until: None }, String::new(), None),
            ModerationAction::Unban { user_id } => (ModerationChange::Lift { user_id, kind: SanctionKind::Ban }, String::new(), None),
            ModerationAction::ShadowBan { user_id } => (ModerationChange::Sanction { user_id, kind: SanctionKind::Shadow, until: None }, String::new(), None),
            ModerationAction::Unshadow { user_id } => (ModerationChange::Lift { user_id, kind: SanctionKind::Shadow }, String::new(), None),
            ModerationAction::SlowMode { seconds } => {
                if *seconds > 3600 {
                    return Err(Refusal::new("invalid_duration", "slow mode is 0 (off) to 3600 seconds"));
                }
                (ModerationChange::SlowMode { seconds: *seconds }, format!("{seconds} s"), Some(Event::new("chat.slow_mode", json!({ "seconds": seconds }))))
            }
            ModerationAction::BlockedWords { words: raw, mode } => {
                words = parse_blocked_words(raw)?;
                let hold = match mode.as_deref() {
                    None | Some("block") => false,
                    Some("hold") => true,
                    Some(_) => return Err(Refusal::new("invalid_mode", "mode is block (refuse the message) or hold (hold it for review)")),
                };
                let detail = format!("{} words, {}", words.len(), if hold { "hold" } else { "block" });
                (ModerationChange::BlockedWords { words: &words, hold }, detail, None)
            }
            ModerationAction::ApproveMessage { message_id } => (ModerationChange::Approve { message_id }, String::new(), None),
            ModerationAction::PinMessage { message_id } => {
                let message = store.visible_chat_message(&access.row.id, message_id).await?;
                let event = message.map(|m| Event::new("chat.pinned", json!({ "message": m })));
                (ModerationChange::Pin { message_id: Some(message_id) }, String::new(), event)
            }
            ModerationAction::UnpinMessage {} => {
                (ModerationChange::Pin { message_id: None }, String::new(), Some(Event::new("chat.pinned", json!({ "message": null }))))
            }
        };
        if !store.apply_moderation(&access.row.id, &identity.user_id, change, &detail).await? {
            return Err(Refusal::new("message_not_found", "no visible message in this room has this id"));
        }
        if let ModerationAction::ApproveMessage { message_id } = &action {
            if let Some(message) = store.visible_chat_message(&access.row.id, message_id).await? {
                self.hub.publish(&ChannelName::room(room), Event::new("chat.message", json!(message))).await?;
            }
        }
        let changes_rules = !matches!(
            action,
            ModerationAction::DeleteMessage { .. }
                | ModerationAction::PinMessage { .. }
                | ModerationAction::UnpinMessage {}
                | ModerationAction::ApproveMessage { .. }
        );
        if changes_rules {
            self.hub.rules_changed(room, &access.row.id).await?;
        }
        if let Some(event) = event {
            self.hub.publish(&ChannelName::room(room), event).await?;
        }
        Ok(Reply::Ack(json!({ "ok": true })))
    }

    async fn held_messages(&mut self, room: &str) -> Outcome {
        let (_, access) = self.require_staff(room).await?;
        let messages = self.state.store.held_chat(&access.row.id, 100).await?;
        Ok(Reply::Ack(json!({ "messages": messages })))
    }

    async fn moderation_log(&mut self, room: &str) -> Outcome {
        let (_, access) = self.require_staff(room).await?;
        let entries = self.state.store.moderation_log(&access.row.id, 100).await?;
        Ok(Reply::Ack(json!({ "entries": entries })))
    }
}

fn parse_blocked_words(raw: &[String]) -> Result<Vec<String>, Refusal> {
    if raw.len() > 200 {
        return Err(Refusal::new("invalid_words", "at most 200 blocked words"));
    }
    let mut words = Vec::new();
    for word in raw {
        let word = word.trim().to_lowercase();
        if word.is_empty() || word.chars().count() > 40 {
            return Err(Refusal::new("invalid_words", "each blocked word is 1 to 40 characters"));
        }
        if !words.contains(&word) {
            words.push(word);
        }
    }
    Ok(words)
}
