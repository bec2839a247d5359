//! The room task's auction duties: a timer per running auction at its
//! persisted deadline, the close at that deadline (arbitrated by the store,
//! so a bid that moved the deadline just reschedules it), and the
//! `auction.*` announcements, made from the store's state so they never
//! regress however the bids that caused them interleaved.

use std::collections::HashMap;

use serde_json::json;

use super::super::auction_http::{tell_winner, AuctionView};
use super::super::auction_store::{AuctionRow, Closing};
use super::super::Millis;
use super::{AuctionChange, RoomTask};
use crate::store::now_ms;

/// Deadlines of the room's running auctions, and the last bid count announced for each.
#[derive(Default)]
pub(super) struct AuctionTimers {
    deadlines: HashMap<String, Millis>,
    announced_bids: HashMap<String, i64>,
}

impl AuctionTimers {
    pub(super) fn track(&mut self, auction: &AuctionRow) {
        self.deadlines.insert(auction.id.clone(), auction.ends_at);
        self.announced_bids
            .insert(auction.id.clone(), auction.bid_count);
    }

    fn forget(&mut self, id: &str) {
        self.deadlines.remove(id);
        self.announced_bids.remove(id);
    }

    pub(super) fn next_deadline(&self) -> Option<Millis> {
        self.deadlines.values().copied().min()
    }
}

impl RoomTask {
    pub(super) async fn auction_changed(&mut self, id: &str, change: AuctionChange) {
        let row = match self.store().auction(id).await {
            Ok(Some(row)) => row,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(room = %self.room, error = %e, "cannot read an auction to announce it");
                return;
            }
        };
        match change {
            AuctionChange::Started => {
                self.auctions.track(&row);
                self.publish("auction.started", with_now(&row)).await;
            }
            AuctionChange::Bid => {
                let seen = self.auctions.announced_bids.get(id).copied().unwrap_or(-1);
                if row.bid_count > seen {
                    if row.status == "running" {
                        self.auctions.track(&row);
                    }
                    self.auctions
                        .announced_bids
                        .insert(id.to_string(), row.bid_count);
                    self.publish("auction.bid", with_now(&row)).await;
                }
            }
            AuctionChange::Cancelled => {
                self.auctions.forget(id);
                self.publish("auction.ended", ended(&row)).await;
            }
        }
    }

    /// Closes the auctions whose deadline has come.
    pub(super) async fn tick_auctions(&mut self, now: Millis) {
        let due: Vec<String> = self
            .auctions
            .deadlines
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(id, _)| id.clone())
            .collect();
        let window = self.live.inner.config.auction_payment_window_ms;
        for id in due {
            match self.store().close_auction(&id, now, window).await {
                Ok(Closing::NotYet { ends_at }) => {
                    self.auctions.deadlines.insert(id, ends_at);
                }
                Ok(Closing::NotRunning) => self.auctions.forget(&id),
                Ok(Closing::Closed(row)) => {
                    self.auctions.forget(&id);
                    self.publish("auction.ended", ended(&row)).await;
                    tell_winner(&self.live.inner.hub, &row, "auction.won", now + window).await;
                }
                Err(e) => {
                    tracing::warn!(room = %self.room, error = %e, "cannot close an auction; retrying");
                    self.auctions.deadlines.insert(id, now + 1_000);
                }
            }
        }
    }
}

fn with_now(row: &AuctionRow) -> serde_json::Value {
    let mut data = serde_json::to_value(AuctionView::public(row)).unwrap_or_default();
    data["server_now"] = json!(now_ms());
    data
}

fn ended(row: &AuctionRow) -> serde_json::Value {
    let mut data = with_now(row);
    data["winner"] = json!(row.winner_name);
    data["final_price"] = json!(row.final_price);
    data
}
