//! The shell of polls and giveaways: closing polls at their deadline and
//! drawing giveaways when their window ends (from the sweeper, once a second,
//! arbitrated by the store's conditional updates so only one node announces),
//! the `poll.closed` / `giveaway.drawn` announcements with their event-log
//! lines, and coalesced live counts (`poll.tally`, `giveaway.entries`: at most
//! one per poll or giveaway per `COUNT_INTERVAL`, read from the store).

use std::time::Duration;

use serde_json::json;

use super::super::engage_http::{giveaway_view, poll_view, GiveawayView, PollView};
use super::super::engage_store::{GiveawayRow, PollRow};
use super::super::giveaway::{Giveaway, GiveawayInput, GiveawayPhase};
use super::super::poll::{Poll, PollInput, PollPhase};
use super::super::Millis;
use super::Live;
use crate::signaling::protocol::Event;
use crate::signaling::ChannelName;
use crate::store::StoreResult;

const COUNT_INTERVAL: Duration = Duration::from_millis(250);

impl Live {
    /// A vote or an entry was recorded: the room gets the new count soon,
    /// however many arrive meanwhile.
    pub fn engagement_changed(&self, room: &str, id: &str) {
        let first = match self.inner.engage_pending.lock() {
            Ok(mut pending) => pending.insert(id.to_string()),
            Err(_) => false,
        };
        if !first {
            return;
        }
        let (live, room, id) = (self.clone(), room.to_string(), id.to_string());
        tokio::spawn(async move {
            tokio::time::sleep(COUNT_INTERVAL).await;
            if let Ok(mut pending) = live.inner.engage_pending.lock() {
                pending.remove(&id);
            }
            live.push_count(&room, &id).await;
        });
    }

    async fn push_count(&self, room: &str, id: &str) {
        let store = &self.inner.store;
        let event = match store.poll(id).await {
            Ok(Some(row)) => match poll_view(store, room, &row).await {
                Ok(view) => Event::new("poll.tally", json!({ "poll_id": view.id, "tallies": view.tallies, "votes": view.votes })),
                Err(_) => return,
            },
            Ok(None) => match store.giveaway_entry_count(id).await {
                Ok(n) => Event::new("giveaway.entries", json!({ "giveaway_id": id, "entrants": n })),
                Err(_) => return,
            },
            Err(_) => return,
        };
        if let Err(e) = self.inner.hub.publish_ephemeral(&ChannelName::room(room), event).await {
            tracing::debug!(error = %e, "cannot push a live count");
        }
    }

    /// Announces a closed poll with its final tallies (and logs it).
    pub async fn announce_poll_closed(&self, room_id: &str, room: &str, row: &PollRow) -> StoreResult<PollView> {
        let view = poll_view(&self.inner.store, room, row).await?;
        let data = json!({ "poll": view });
        self.record(room_id, "poll.closed", &data).await;
        if let Err(e) = self.inner.hub.publish(&ChannelName::room(room), Event::new("poll.closed", data)).await {
            tracing::warn!(room, error = %e, "cannot announce a closed poll");
        }
        Ok(view)
    }

    /// Announces a drawn giveaway (winner, revealed seed), logs it, and tells the winner.
    pub async fn announce_giveaway_drawn(&self, room_id: &str, room: &str, row: &GiveawayRow) -> StoreResult<GiveawayView> {
        let view = giveaway_view(&self.inner.store, room, row).await?;
        let data = json!({ "giveaway": view });
        self.record(room_id, "giveaway.drawn", &data).await;
        if let Err(e) = self.inner.hub.publish(&ChannelName::room(room), Event::new("giveaway.drawn", data)).await {
            tracing::warn!(room, error = %e, "cannot announce a giveaway draw");
        }
        if let Some(winner) = &view.winner {
            let won = Event::new("giveaway.won", json!({ "room": room, "giveaway_id": view.id, "prize": view.prize }));
            if let Err(e) = self.inner.hub.push_to_user(&winner.user_id, won).await {
                tracing::debug!(error = %e, "cannot tell the giveaway's winner");
            }
        }
        Ok(view)
    }

    /// Closes polls whose deadline passed and draws giveaways whose window
    /// ended (the sweeper calls it once a second; restarts resume from the store).
    pub async fn close_due_engagements(&self, now: Millis) {
        let store = &self.inner.store;
        match store.due_polls(now).await {
            Ok(polls) => {
                for row in polls {
                    let mut engine = Poll::new(row.answers.len(), row.closes_at, PollPhase::Open);
                    if engine.handle(PollInput::Tick, now).is_none() {
                        continue;
                    }
                    match store.close_poll(&row.id, "deadline", now).await {
                        Ok(true) => self.announce_closed_poll(&row.id).await,
                        Ok(false) => {}
                        Err(e) => tracing::warn!(error = %e, "cannot close a poll at its deadline; will retry"),
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot list due polls"),
        }
        match store.due_giveaways(now).await {
            Ok(giveaways) => {
                for row in giveaways {
                    let mut engine = Giveaway::new(row.entries_close_at, GiveawayPhase::Open);
                    if !engine.handle(GiveawayInput::Tick, now) {
                        continue;
                    }
                    match store.draw_giveaway(&row.id, now).await {
                        Ok(Some(drawn)) => {
                            if let Ok(Some(room)) = store.room_name_of(&drawn.room_id).await {
                                let _ = self.announce_giveaway_drawn(&drawn.room_id, &room, &drawn).await;
                            }
                        }
                        Ok(None) => {}
                        Err(e) => tracing::warn!(error = %e, "cannot draw a giveaway; will retry"),
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot list due giveaways"),
        }
    }

    async fn announce_closed_poll(&self, id: &str) {
        let store = &self.inner.store;
        let Ok(Some(row)) = store.poll(id).await else { return };
        if let Ok(Some(room)) = store.room_name_of(&row.room_id).await {
            let _ = self.announce_poll_closed(&row.room_id, &room, &row).await;
        }
    }
}
