//! `/api/v1/rooms/{room}/polls…` and `/giveaways…`: live polls (2 to 4
//! answers, one vote per viewer, live tallies, closed by staff or deadline)
//! and giveaways (entry window, buyers-only option, verifiable draw). The
//! socket's `poll.vote` and `giveaway.enter` take the same paths
//! (`vote_in_room`, `enter_in_room`). Room events: docs/PROTOCOL.md.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::engage_store::{EngageError, GiveawayRow, PollRow};
use super::giveaway::{EntryRefused, Giveaway, GiveawayPhase, NewGiveaway};
use super::http::{require_room_staff, visible_room};
use super::poll::{tallies, NewPoll, Poll, PollInput, PollPhase, VoteRefused};
use crate::api::extract::{AppJson, AuthUser, MaybeAuthUser};
use crate::api::rooms::find_room;
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::signaling::{ChannelName, Event};
use crate::store::{now_ms, RoomRow, Store, StoreResult};

/// Polls and giveaways listed per room.
const LIST_LIMIT: i64 = 20;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PollView {
    pub id: String,
    pub room: String,
    pub question: String,
    pub answers: Vec<String>,
    /// Votes per answer, in the order of `answers`.
    pub tallies: Vec<i64>,
    pub votes: i64,
    /// `open` or `closed`.
    pub status: String,
    /// When it closes by itself (unix ms), if it has a deadline.
    pub closes_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// `deadline` or `staff`.
    pub close_reason: Option<String>,
    pub server_now: i64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GiveawayWinner {
    pub user_id: String,
    pub display_name: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GiveawayView {
    pub id: String,
    pub room: String,
    pub prize: String,
    /// `everyone` or `buyers` (customers with a paid order from the shop).
    pub eligibility: String,
    /// `open` or `drawn`.
    pub status: String,
    /// hex(SHA-256(seed)), published at the start.
    pub seed_hash: String,
    /// Revealed at the draw: check that hashing it gives `seed_hash`.
    pub seed: Option<String>,
    pub entries_close_at: i64,
    pub entrants: i64,
    pub drawn_at: Option<i64>,
    pub winner: Option<GiveawayWinner>,
    pub server_now: i64,
}

pub async fn poll_view(store: &Store, room: &str, row: &PollRow) -> StoreResult<PollView> {
    let tallies = tallies(row.answers.len(), &store.poll_counts(&row.id).await?);
    Ok(PollView {
        id: row.id.clone(),
        room: room.to_string(),
        question: row.question.clone(),
        answers: row.answers.clone(),
        votes: tallies.iter().sum(),
        tallies,
        status: row.status.clone(),
        closes_at: row.closes_at,
        closed_at: row.closed_at,
        close_reason: row.close_reason.clone(),
        server_now: now_ms(),
    })
}

pub async fn giveaway_view(store: &Store, room: &str, row: &GiveawayRow) -> StoreResult<GiveawayView> {
    let drawn = row.status == "drawn";
    let entrants = match row.entrants {
        Some(n) if drawn => n,
        _ => store.giveaway_entry_count(&row.id).await?,
    };
    let winner = match &row.winner_user_id {
        Some(id) if drawn => Some(GiveawayWinner { user_id: id.clone(), display_name: store.display_name_of(id).await?.unwrap_or_default() }),
        _ => None,
    };
    Ok(GiveawayView {
        id: row.id.clone(),
        room: room.to_string(),
        prize: row.prize.clone(),
        eligibility: row.eligibility.clone(),
        status: row.status.clone(),
        seed_hash: row.seed_hash.clone(),
        seed: drawn.then(|| row.seed.clone()),
        entries_close_at: row.entries_close_at,
        entrants,
        drawn_at: row.drawn_at,
        winner,
        server_now: now_ms(),
    })
}

fn engine_of(row: &PollRow) -> Poll {
    Poll::new(row.answers.len(), row.closes_at, if row.status == "open" { PollPhase::Open } else { PollPhase::Closed })
}

fn giveaway_engine(row: &GiveawayRow) -> Giveaway {
    Giveaway::new(row.entries_close_at, if row.status == "open" { GiveawayPhase::Open } else { GiveawayPhase::Drawn })
}

fn poll_error(e: EngageError) -> ApiError {
    match e {
        EngageError::AlreadyOpen => ApiError::conflict("poll_already_open", "this room already has an open poll; close it first"),
        EngageError::NotOpen => ApiError::conflict("poll_closed", "this poll is closed"),
        EngageError::Duplicate => ApiError::conflict("already_voted", "you already voted in this poll"),
        EngageError::NotEligible => ApiError::forbidden("not_eligible", "you may not vote in this poll"),
        EngageError::Store(e) => e.into(),
    }
}

fn giveaway_error(e: EngageError) -> ApiError {
    match e {
        EngageError::AlreadyOpen => ApiError::conflict("giveaway_already_open", "this room already has an open giveaway; draw it first"),
        EngageError::NotOpen => ApiError::conflict("giveaway_closed", "entries to this giveaway are closed"),
        EngageError::Duplicate => ApiError::conflict("already_entered", "you already entered this giveaway"),
        EngageError::NotEligible => ApiError::forbidden("buyers_only", "this giveaway is for the shop's customers with a paid order"),
        EngageError::Store(e) => e.into(),
    }
}

async fn publish(state: &AppState, room: &str, kind: &str, data: serde_json::Value) {
    if let Err(e) = state.hub.publish(&ChannelName::room(room), Event::new(kind, data)).await {
        tracing::warn!(room, kind, error = %e, "cannot announce in the room");
    }
}

async fn poll_in_room(state: &AppState, room: &RoomRow, id: &str) -> Result<PollRow, ApiError> {
    state.store.poll(id).await?.filter(|p| p.room_id == room.id).ok_or_else(|| ApiError::not_found("poll_not_found", "no poll in this room has this id"))
}

async fn giveaway_in_room(state: &AppState, room: &RoomRow, id: &str) -> Result<GiveawayRow, ApiError> {
    state.store.giveaway(id).await?.filter(|g| g.room_id == room.id).ok_or_else(|| ApiError::not_found("giveaway_not_found", "no giveaway in this room has this id"))
}

#[derive(Deserialize, ToSchema)]
pub struct CreatePollRequest {
    pub question: String,
    /// 2 to 4 distinct answers.
    pub answers: Vec<String>,
    /// 10 to 3600; without it the poll stays open until staff close it.
    pub duration_secs: Option<i64>,
}

/// Start a poll in the room (its seller or moderators); viewers get `poll.started`.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/polls", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name")), request_body = CreatePollRequest,
    responses((status = 201, body = PollView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_poll(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(room): Path<String>,
    AppJson(body): AppJson<CreatePollRequest>,
) -> Result<(StatusCode, Json<PollView>), ApiError> {
    let room = find_room(&state, &room).await?;
    require_room_staff(&state, &caller, &room).await?;
    let poll = NewPoll::parse(&body.question, &body.answers, body.duration_secs).map_err(|e| ApiError::unprocessable("invalid_poll", e.to_string()))?;
    let row = state.store.create_poll(&room.id, &caller.user_id, &poll, now_ms()).await.map_err(poll_error)?;
    let view = poll_view(&state.store, &room.name, &row).await?;
    state.live.record(&room.id, "poll.started", &json!({ "poll": view })).await;
    publish(&state, &room.name, "poll.started", json!({ "poll": view })).await;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The room's latest polls with their tallies, newest first.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/polls", tag = "live", params(("room" = String, Path, description = "room name")),
    responses((status = 200, body = Vec<PollView>), (status = 404, body = ErrorBody)))]
pub async fn list_polls(State(state): State<AppState>, caller: MaybeAuthUser, Path(room): Path<String>) -> Result<Json<Vec<PollView>>, ApiError> {
    let room = visible_room(&state, &caller, &room).await?;
    let mut out = Vec::new();
    for row in state.store.room_polls(&room.id, LIST_LIMIT).await? {
        out.push(poll_view(&state.store, &room.name, &row).await?);
    }
    Ok(Json(out))
}

#[derive(Deserialize, ToSchema)]
pub struct VoteRequest {
    /// 0-based index into the poll's answers.
    pub answer: i64,
}

#[derive(Serialize, ToSchema)]
pub struct VoteAck {
    pub poll_id: String,
    pub answer: i64,
}

/// One vote per signed-in viewer; the room gets `poll.tally` (coalesced).
pub async fn vote_in_room(state: &AppState, room: &RoomRow, poll_id: &str, user_id: &str, answer: i64) -> Result<VoteAck, ApiError> {
    let row = poll_in_room(state, room, poll_id).await?;
    let now = now_ms();
    let index = usize::try_from(answer).unwrap_or(usize::MAX);
    match engine_of(&row).check_vote(index, now) {
        Err(VoteRefused::InvalidAnswer) => return Err(ApiError::unprocessable("invalid_answer", format!("answer is 0 to {}", row.answers.len().saturating_sub(1)))),
        Err(VoteRefused::Closed) => return Err(poll_error(EngageError::NotOpen)),
        Ok(()) => {}
    }
    state.store.vote_in_poll(&row.id, user_id, answer, now).await.map_err(poll_error)?;
    state.live.engagement_changed(&room.name, &row.id);
    Ok(VoteAck { poll_id: row.id, answer })
}

/// Vote in a poll (signed in; once per poll).
#[utoipa::path(post, path = "/api/v1/rooms/{room}/polls/{id}/votes", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name"), ("id" = String, Path, description = "poll id")), request_body = VoteRequest,
    responses((status = 200, body = VoteAck), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn vote(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((room, id)): Path<(String, String)>,
    AppJson(body): AppJson<VoteRequest>,
) -> Result<Json<VoteAck>, ApiError> {
    let room = visible_room(&state, &MaybeAuthUser(Some(caller.clone())), &room).await?;
    Ok(Json(vote_in_room(&state, &room, &id, &caller.user_id, body.answer).await?))
}

/// Close a poll now (seller or moderators); the room gets `poll.closed` with the final tallies.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/polls/{id}/close", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name"), ("id" = String, Path, description = "poll id")),
    responses((status = 200, body = PollView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn close_poll(State(state): State<AppState>, caller: AuthUser, Path((room, id)): Path<(String, String)>) -> Result<Json<PollView>, ApiError> {
    let room = find_room(&state, &room).await?;
    require_room_staff(&state, &caller, &room).await?;
    let row = poll_in_room(&state, &room, &id).await?;
    let now = now_ms();
    let mut engine = engine_of(&row);
    let closed = engine.handle(PollInput::Tick, now).or_else(|| engine.handle(PollInput::Close, now));
    let Some(reason) = closed else { return Err(poll_error(EngageError::NotOpen)) };
    let reason = match reason {
        super::poll::CloseReason::Deadline => "deadline",
        super::poll::CloseReason::Staff => "staff",
    };
    if !state.store.close_poll(&row.id, reason, now).await? {
        return Err(poll_error(EngageError::NotOpen));
    }
    let row = poll_in_room(&state, &room, &id).await?;
    Ok(Json(state.live.announce_poll_closed(&room.id, &room.name, &row).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateGiveawayRequest {
    /// What the winner gets, 1 to 120 characters.
    pub prize: String,
    /// The entry window, 10 s to 24 h; the draw happens when it ends (or earlier, by staff).
    pub duration_secs: i64,
    /// `everyone` (default) or `buyers`: customers with a paid order from the shop.
    pub eligibility: Option<String>,
}

/// Start a giveaway (seller or moderators): commits to a secret seed (its
/// SHA-256 is published now) and opens the entry window; viewers get `giveaway.started`.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/giveaways", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name")), request_body = CreateGiveawayRequest,
    responses((status = 201, body = GiveawayView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_giveaway(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(room): Path<String>,
    AppJson(body): AppJson<CreateGiveawayRequest>,
) -> Result<(StatusCode, Json<GiveawayView>), ApiError> {
    let room = find_room(&state, &room).await?;
    require_room_staff(&state, &caller, &room).await?;
    let g = NewGiveaway::parse(&body.prize, body.duration_secs, body.eligibility.as_deref()).map_err(|e| ApiError::unprocessable("invalid_giveaway", e.to_string()))?;
    let seed = new_seed();
    let row = state.store.create_giveaway(&room.id, &caller.user_id, &g, &seed, now_ms()).await.map_err(giveaway_error)?;
    let view = giveaway_view(&state.store, &room.name, &row).await?;
    state.live.record(&room.id, "giveaway.started", &json!({ "giveaway": view })).await;
    publish(&state, &room.name, "giveaway.started", json!({ "giveaway": view })).await;
    Ok((StatusCode::CREATED, Json(view)))
}

/// 256 bits from the OS's generator, as 64 hex digits.
fn new_seed() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The room's latest giveaways, newest first (the seed only once drawn).
#[utoipa::path(get, path = "/api/v1/rooms/{room}/giveaways", tag = "live", params(("room" = String, Path, description = "room name")),
    responses((status = 200, body = Vec<GiveawayView>), (status = 404, body = ErrorBody)))]
pub async fn list_giveaways(State(state): State<AppState>, caller: MaybeAuthUser, Path(room): Path<String>) -> Result<Json<Vec<GiveawayView>>, ApiError> {
    let room = visible_room(&state, &caller, &room).await?;
    let mut out = Vec::new();
    for row in state.store.room_giveaways(&room.id, LIST_LIMIT).await? {
        out.push(giveaway_view(&state.store, &room.name, &row).await?);
    }
    Ok(Json(out))
}

#[derive(Serialize, ToSchema)]
pub struct EntryAck {
    pub giveaway_id: String,
    pub entered: bool,
}

/// Enters a signed-in viewer (not the room's staff) while the window is open.
pub async fn enter_in_room(state: &AppState, room: &RoomRow, giveaway_id: &str, user_id: &str, is_admin: bool) -> Result<EntryAck, ApiError> {
    if !is_admin && state.store.room_rights(room, user_id).await?.can_moderate() {
        return Err(ApiError::forbidden("staff_cannot_enter", "the room's seller and moderators cannot enter its giveaways"));
    }
    let row = giveaway_in_room(state, room, giveaway_id).await?;
    let now = now_ms();
    if let Err(EntryRefused::Closed) = giveaway_engine(&row).check_entry(now) {
        return Err(giveaway_error(EngageError::NotOpen));
    }
    state.store.enter_giveaway(&row, user_id, now).await.map_err(giveaway_error)?;
    state.live.engagement_changed(&room.name, &row.id);
    Ok(EntryAck { giveaway_id: row.id, entered: true })
}

/// Enter a giveaway (signed in, not the room's staff; once).
#[utoipa::path(post, path = "/api/v1/rooms/{room}/giveaways/{id}/entries", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name"), ("id" = String, Path, description = "giveaway id")),
    responses((status = 200, body = EntryAck), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn enter(State(state): State<AppState>, caller: AuthUser, Path((room, id)): Path<(String, String)>) -> Result<Json<EntryAck>, ApiError> {
    let room = visible_room(&state, &MaybeAuthUser(Some(caller.clone())), &room).await?;
    Ok(Json(enter_in_room(&state, &room, &id, &caller.user_id, caller.is_admin).await?))
}

/// Draw now (seller or moderators), closing entries early; the room gets `giveaway.drawn`.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/giveaways/{id}/draw", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name"), ("id" = String, Path, description = "giveaway id")),
    responses((status = 200, body = GiveawayView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn draw(State(state): State<AppState>, caller: AuthUser, Path((room, id)): Path<(String, String)>) -> Result<Json<GiveawayView>, ApiError> {
    let room = find_room(&state, &room).await?;
    require_room_staff(&state, &caller, &room).await?;
    let row = giveaway_in_room(&state, &room, &id).await?;
    let Some(drawn) = state.store.draw_giveaway(&row.id, now_ms()).await? else {
        return Err(ApiError::conflict("giveaway_drawn", "this giveaway was already drawn"));
    };
    Ok(Json(state.live.announce_giveaway_drawn(&room.id, &room.name, &drawn).await?))
}

#[derive(Serialize, ToSchema)]
pub struct EntrantsView {
    pub giveaway_id: String,
    pub seed: String,
    pub seed_hash: String,
    /// User ids in draw order (sorted); the winner is `entrants[winner_index]`.
    pub entrants: Vec<String>,
    pub winner_index: Option<i64>,
}

/// After the draw: the seed and the sorted entrant list, to verify the winner.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/giveaways/{id}/entrants", tag = "live",
    params(("room" = String, Path, description = "room name"), ("id" = String, Path, description = "giveaway id")),
    responses((status = 200, body = EntrantsView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn entrants(State(state): State<AppState>, caller: MaybeAuthUser, Path((room, id)): Path<(String, String)>) -> Result<Json<EntrantsView>, ApiError> {
    let room = visible_room(&state, &caller, &room).await?;
    let row = giveaway_in_room(&state, &room, &id).await?;
    if row.status != "drawn" {
        return Err(ApiError::conflict("giveaway_not_drawn", "the entrants are published with the draw"));
    }
    let entrants = state.store.giveaway_entrants(&row.id).await?;
    let winner_index = row.winner_user_id.as_ref().and_then(|w| entrants.iter().position(|e| e == w)).map(|i| i as i64);
    Ok(Json(EntrantsView { giveaway_id: row.id, seed: row.seed, seed_hash: row.seed_hash, entrants, winner_index }))
}

/// The room's open poll and giveaway (the room snapshot shows them to late joiners).
pub async fn open_in_room(store: &Store, room: &RoomRow) -> StoreResult<(Vec<PollView>, Vec<GiveawayView>)> {
    let mut polls = Vec::new();
    for row in store.room_polls(&room.id, 5).await?.iter().filter(|p| p.status == "open") {
        polls.push(poll_view(store, &room.name, row).await?);
    }
    let mut giveaways = Vec::new();
    for row in store.room_giveaways(&room.id, 5).await?.iter().filter(|g| g.status == "open") {
        giveaways.push(giveaway_view(store, &room.name, row).await?);
    }
    Ok((polls, giveaways))
}
