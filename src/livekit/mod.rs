//! LiveKit compatibility: LiveKit-format access tokens (verified against the
//! `keys:` of livekit.yaml, or the pair generated on first run), the Twirp
//! RoomService (`/twirp/livekit.RoomService/*`) over our rooms and SFU sessions,
//! and LiveKit-signed webhooks from a durable queue, so LiveKit's SDKs and server
//! libraries can talk to streamcart. docs/LIVEKIT.md says what is covered.

pub mod http;
pub mod observer;
pub mod participants;
pub mod room_service;
pub mod rtc;
mod store;
mod token;
pub mod twirp;
pub mod webhook;

use std::time::Duration;

pub use store::{RoomSettings, SYSTEM_SHOP_ID};
pub use token::{LiveKitKeys, LiveKitTokenError, RoomGrant};

use crate::app::AppState;
use observer::{Change, Observer};
use participants::{participant_info, track_info, Directory};
use webhook::Webhooks;

/// The SFU's sessions are compared for participant and track webhooks whenever one
/// connects or ends, and at least this often.
const OBSERVE_EVERY: Duration = Duration::from_secs(1);

/// The LiveKit runtime state every handler shares: participant overrides and webhooks.
#[derive(Clone)]
pub struct LiveKitRooms {
    pub directory: Directory,
    pub webhooks: Webhooks,
    /// Participants signalled over `/rtc`.
    pub roster: rtc::roster::Roster,
}

impl LiveKitRooms {
    pub fn new(store: crate::store::Store, settings: &crate::config::LiveKitSettings, keys: &LiveKitKeys) -> LiveKitRooms {
        LiveKitRooms { directory: Directory::default(), webhooks: Webhooks::new(store, settings, keys), roster: Default::default() }
    }

    /// The webhook sender and the session observer; abort the handles to stop them.
    pub fn start(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
        let worker = state.livekit_rooms.webhooks.spawn_worker();
        let state = state.clone();
        let observer = tokio::spawn(async move {
            let mut observer = Observer::default();
            let changes = state.sfu.changes().await.unwrap_or_default();
            loop {
                let _ = tokio::time::timeout(OBSERVE_EVERY, changes.notified()).await;
                let Ok(sessions) = state.sfu.sessions(None).await else { continue };
                state.livekit_rooms.directory.retain_live(&sessions);
                for change in observer.observe(&sessions) {
                    report(&state, change).await;
                }
            }
        });
        vec![worker, observer]
    }
}

/// Sends the webhook for one observed change.
async fn report(state: &AppState, change: Change) {
    let webhooks = &state.livekit_rooms.webhooks;
    if !webhooks.enabled() {
        return;
    }
    let room_name = match &change {
        Change::RoomStarted { room_name, .. } | Change::RoomFinished { room_name, .. } => room_name.clone(),
        Change::ParticipantJoined(s) | Change::ParticipantLeft(s) | Change::TrackPublished(s, _) | Change::TrackUnpublished(s, _) => s.room_name.clone(),
    };
    let room = match state.store.room_by_name(&room_name).await {
        Ok(Some(room)) => {
            let settings = state.store.livekit_room_settings(&room.id).await.unwrap_or_default();
            room_service::room_info(&room, &settings, &[])
        }
        _ => livekit_protocol::Room { name: room_name, ..Default::default() },
    };
    let overrides = |s: &crate::sfu::SessionInfo| state.livekit_rooms.directory.get(&s.session);
    match change {
        Change::RoomStarted { .. } => webhooks.room_started(room).await,
        Change::RoomFinished { .. } => webhooks.room_finished(room).await,
        Change::ParticipantJoined(s) => webhooks.send("participant_joined", Some(room), Some(participant_info(&s, &overrides(&s))), None).await,
        Change::ParticipantLeft(s) => webhooks.send("participant_left", Some(room), Some(participant_info(&s, &overrides(&s))), None).await,
        Change::TrackPublished(s, t) => {
            webhooks.send("track_published", Some(room), Some(participant_info(&s, &overrides(&s))), Some(track_info(&s, &t))).await
        }
        Change::TrackUnpublished(s, t) => {
            webhooks.send("track_unpublished", Some(room), Some(participant_info(&s, &overrides(&s))), Some(track_info(&s, &t))).await
        }
    }
}
