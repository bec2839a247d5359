//! Persistence for live auctions. The SQL store is the arbiter: a bid is
//! judged by the `Auction` engine resumed from the row's persisted state
//! inside the bid's transaction, and lands only through a conditional UPDATE
//! on the `bid_count` it was judged against, on a running auction whose
//! deadline has not passed and whose price it does not lower. Bids are
//! therefore accepted one at a time in arrival order, the price and leader
//! never regress, and the close (`status = 'ended'` only once `ends_at` has
//! passed) can never race a late bid.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::commerce::store::stock::{release_in, reserve_in};
use crate::commerce::store::CommerceError;
use crate::store::{new_id, now_ms, Store, StoreError, StoreResult};

use super::auction::{
    Auction, AuctionRules, AuctionState, BidRejected, IncrementTable, Outcome, Phase, RunnerUp,
};
use super::orders::{place_live_order_in, LiveOrder};
use super::Millis;

#[derive(Debug, thiserror::Error)]
pub enum AuctionError {
    #[error("no auction of this room has this id")]
    NotFound,
    #[error("the auction is over")]
    Ended,
    #[error("the bid must be at least {minimum}")]
    TooLow { minimum: i64 },
    #[error("you already lead with a maximum of {current_maximum}; raise it above that")]
    NotAboveOwnMaximum { current_maximum: i64 },
    #[error("the seller cannot bid in their own auction")]
    SellerBid,
    #[error("the auction is still running")]
    StillRunning,
    #[error("the winner's order can still be paid, or was paid")]
    WinnerMayStillPay,
    #[error("this auction has no runner-up to offer it to")]
    NoRunnerUp,
    #[error("the item was already offered to the runner-up")]
    AlreadyOffered,
    #[error("the shop has no unit of this item left to auction")]
    OutOfStock,
    #[error("invalid auction: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AuctionError {
    fn from(e: sqlx::Error) -> Self {
        AuctionError::Store(e.into())
    }
}

impl From<CommerceError> for AuctionError {
    fn from(e: CommerceError) -> Self {
        match e {
            CommerceError::OutOfStock { .. } => AuctionError::OutOfStock,
            CommerceError::Store(s) => AuctionError::Store(s),
            other => AuctionError::Invalid(other.to_string()),
        }
    }
}

pub type AuctionResult<T> = Result<T, AuctionError>;

/// An auction as stored, with its leader's display name.
#[derive(Clone, Debug)]
pub struct AuctionRow {
    pub id: String,
    pub room_id: String,
    pub room: String,
    pub shop_id: String,
    pub variant_id: String,
    pub title: String,
    pub currency: String,
    pub starting_price: i64,
    pub increments: Vec<(i64, i64)>,
    pub anti_snipe_ms: Option<i64>,
    pub reserve_price: Option<i64>,
    pub starts_at: i64,
    pub duration_ms: i64,
    pub ends_at: i64,
    pub current_price: i64,
    pub leader_id: Option<String>,
    pub leader_name: Option<String>,
    pub leader_max: Option<i64>,
    pub runner_up_id: Option<String>,
    pub runner_up_max: Option<i64>,
    pub bid_count: i64,
    pub status: String,
    pub hold_id: Option<String>,
    pub winner_id: Option<String>,
    pub winner_name: Option<String>,
    pub final_price: Option<i64>,
    pub winner_order_id: Option<String>,
    pub offered_runner_up: bool,
    pub created_by: String,
}

impl AuctionRow {
    pub fn rules(&self) -> AuctionRules {
        AuctionRules {
            starting_price: self.starting_price,
            increments: IncrementTable::new(self.increments.clone())
                .unwrap_or_else(|_| IncrementTable::standard()),
            starts_at: self.starts_at,
            duration_ms: self.duration_ms,
            anti_snipe_ms: self.anti_snipe_ms,
            reserve_price: self.reserve_price,
        }
    }

    /// The engine, resumed where the last accepted bid left it.
    pub fn engine(&self) -> AuctionResult<Auction> {
        let phase = match self.status.as_str() {
            "running" => Phase::Open,
            _ => Phase::Closed,
        };
        let state = AuctionState {
            phase,
            deadline: self.ends_at,
            price: self.current_price,
            leader: self.leader_id.clone().zip(self.leader_max),
            runner_up: self
                .runner_up_id
                .clone()
                .zip(self.runner_up_max)
                .map(|(bidder, maximum)| RunnerUp { bidder, maximum }),
            accepted_bids: u32::try_from(self.bid_count).unwrap_or(u32::MAX),
        };
        Auction::resume(self.rules(), self.created_by.clone(), state)
            .map_err(|e| AuctionError::Invalid(e.to_string()))
    }

    /// The least the next bid must be.
    pub fn min_next_bid(&self) -> i64 {
        self.engine()
            .map(|a| a.minimum_bid())
            .unwrap_or(self.current_price)
    }

    pub fn reserve_met(&self) -> bool {
        self.leader_id.is_some() && self.reserve_price.is_none_or(|r| self.current_price >= r)
    }
}

pub struct NewAuction<'a> {
    pub room_id: &'a str,
    pub shop_id: &'a str,
    pub variant_id: &'a str,
    pub title: &'a str,
    pub currency: &'a str,
    pub rules: &'a AuctionRules,
    pub created_by: &'a str,
}

/// An accepted bid.
#[derive(Clone, Debug)]
pub struct PlacedBid {
    pub auction: AuctionRow,
    pub leading: bool,
    /// The bidder this bid (or the standing proxy's answer) put behind, if another.
    pub outbid: Option<String>,
}

/// What the close did.
#[derive(Clone, Debug)]
pub enum Closing {
    /// Another node closed or cancelled it first, or it is not running.
    NotRunning,
    /// A late bid moved the deadline here.
    NotYet {
        ends_at: Millis,
    },
    Closed(AuctionRow),
}

const COLUMNS: &str = "a.id, a.room_id, r.name AS room_name, a.shop_id, a.variant_id, a.title, a.currency, a.starting_price, a.increments, a.anti_snipe_ms, \
     a.reserve_price, a.starts_at, a.duration_ms, a.ends_at, a.current_price, a.leader_id, l.display_name AS leader_name, a.leader_max, a.runner_up_id, \
     a.runner_up_max, a.bid_count, a.status, a.stock_reservation_id, a.winner_id, w.display_name AS winner_name, a.final_price, a.winner_order_id, \
     a.offered_runner_up, a.created_by";
const FROM: &str = "FROM auctions a JOIN rooms r ON r.id = a.room_id LEFT JOIN users l ON l.id = a.leader_id LEFT JOIN users w ON w.id = a.winner_id";

fn auction_from_row(row: &AnyRow) -> StoreResult<AuctionRow> {
    let increments: String = row.try_get("increments")?;
    Ok(AuctionRow {
        id: row.try_get("id")?,
        room_id: row.try_get("room_id")?,
        room: row.try_get("room_name")?,
        shop_id: row.try_get("shop_id")?,
        variant_id: row.try_get("variant_id")?,
        title: row.try_get("title")?,
        currency: row.try_get("currency")?,
        starting_price: row.try_get("starting_price")?,
        increments: serde_json::from_str(&increments).unwrap_or_default(),
        anti_snipe_ms: row.try_get("anti_snipe_ms")?,
        reserve_price: row.try_get("reserve_price")?,
        starts_at: row.try_get("starts_at")?,
        duration_ms: row.try_get("duration_ms")?,
        ends_at: row.try_get("ends_at")?,
        current_price: row.try_get("current_price")?,
        leader_id: row.try_get("leader_id")?,
        leader_name: row.try_get("leader_name")?,
        leader_max: row.try_get("leader_max")?,
        runner_up_id: row.try_get("runner_up_id")?,
        runner_up_max: row.try_get("runner_up_max")?,
        bid_count: row.try_get("bid_count")?,
        status: row.try_get("status")?,
        hold_id: row.try_get("stock_reservation_id")?,
        winner_id: row.try_get("winner_id")?,
        winner_name: row.try_get("winner_name")?,
        final_price: row.try_get("final_price")?,
        winner_order_id: row.try_get("winner_order_id")?,
        offered_runner_up: row.try_get::<i64, _>("offered_runner_up")? != 0,
        created_by: row.try_get("created_by")?,
    })
}

async fn auction_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
) -> AuctionResult<AuctionRow> {
    let sql = format!("SELECT {COLUMNS} {FROM} WHERE a.id = $1");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(AuctionError::NotFound)?;
    Ok(auction_from_row(&row)?)
}

/// Takes the auction's row lock (PostgreSQL) before reading it, so concurrent
/// bids queue here in arrival order instead of failing their conditional write.
async fn lock_in(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: &str) -> AuctionResult<()> {
    let found = sqlx::query("UPDATE auctions SET bid_count = bid_count WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    if found.rows_affected() != 1 {
        return Err(AuctionError::NotFound);
    }
    Ok(())
}

impl Store {
    /// Creates a running auction and holds one unit of its variant for the winner.
    pub async fn create_auction(&self, new: NewAuction<'_>) -> AuctionResult<AuctionRow> {
        let id = new_id();
        let now = now_ms();
        let rules = new.rules;
        let mut tx = self.writer().begin().await?;
        let hold = reserve_in(&mut tx, new.variant_id, 1, &format!("auction:{id}"), None).await?;
        let increments = serde_json::to_string(rules.increments.steps())
            .map_err(|e| AuctionError::Invalid(e.to_string()))?;
        sqlx::query(
            "INSERT INTO auctions (id, room_id, shop_id, variant_id, title, currency, starting_price, increments, anti_snipe_ms, reserve_price, starts_at, duration_ms, \
             ends_at, current_price, bid_count, status, stock_reservation_id, offered_runner_up, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $7, 0, 'running', $14, 0, $15, $16)",
        )
        .bind(&id)
        .bind(new.room_id)
        .bind(new.shop_id)
        .bind(new.variant_id)
        .bind(new.title)
        .bind(new.currency)
        .bind(rules.starting_price)
        .bind(increments)
        .bind(rules.anti_snipe_ms)
        .bind(rules.reserve_price)
        .bind(rules.starts_at)
        .bind(rules.duration_ms)
        .bind(rules.starts_at + rules.duration_ms)
        .bind(&hold.id)
        .bind(new.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = auction_in(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn auction(&self, id: &str) -> StoreResult<Option<AuctionRow>> {
        let sql = format!("SELECT {COLUMNS} {FROM} WHERE a.id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(auction_from_row).transpose()
    }

    /// A room's auctions: running ones first (soonest deadline first), then the 50 latest others.
    pub async fn room_auctions(&self, room_id: &str) -> StoreResult<Vec<AuctionRow>> {
        let running = format!("SELECT {COLUMNS} {FROM} WHERE a.room_id = $1 AND a.status = 'running' ORDER BY a.ends_at, a.id");
        let done = format!("SELECT {COLUMNS} {FROM} WHERE a.room_id = $1 AND a.status <> 'running' ORDER BY a.created_at DESC, a.id LIMIT 50");
        let mut rows = sqlx::query(&running)
            .bind(room_id)
            .fetch_all(self.reader())
            .await?;
        rows.extend(
            sqlx::query(&done)
                .bind(room_id)
                .fetch_all(self.reader())
                .await?,
        );
        rows.iter().map(auction_from_row).collect()
    }

    /// Every running auction (restored on start-up).
    pub async fn running_auctions(&self) -> StoreResult<Vec<AuctionRow>> {
        let sql =
            format!("SELECT {COLUMNS} {FROM} WHERE a.status = 'running' ORDER BY a.ends_at, a.id");
        let rows = sqlx::query(&sql).fetch_all(self.reader()).await?;
        rows.iter().map(auction_from_row).collect()
    }

    /// Judges and records one bid in one transaction (see the module doc).
    /// `amount` is what the bidder offers now, `maximum` what their proxy may go to.
    pub async fn place_bid(
        &self,
        auction_id: &str,
        user_id: &str,
        amount: i64,
        maximum: i64,
    ) -> AuctionResult<PlacedBid> {
        let mut tx = self.writer().begin().await?;
        lock_in(&mut tx, auction_id).await?;
        let row = auction_in(&mut tx, auction_id).await?;
        let now = now_ms();
        if row.status != "running" || now >= row.ends_at {
            return Err(AuctionError::Ended);
        }
        let mut engine = row.engine()?;
        let minimum = engine.minimum_bid();
        let previous_leader = engine.leader().map(str::to_string);
        if amount < minimum && previous_leader.as_deref() != Some(user_id) {
            return Err(AuctionError::TooLow { minimum });
        }
        let effects = engine
            .bid(user_id.to_string(), maximum, now)
            .map_err(|e| match e {
                BidRejected::TooLow { minimum } => AuctionError::TooLow { minimum },
                BidRejected::NotAboveOwnMaximum { current_maximum } => {
                    AuctionError::NotAboveOwnMaximum { current_maximum }
                }
                BidRejected::SellerBid => AuctionError::SellerBid,
                BidRejected::NotStarted | BidRejected::Closed => AuctionError::Ended,
            })?;
        let state = engine.state();
        let (leader_id, leader_max) = state.leader.clone().unzip();
        let (runner_up_id, runner_up_max) = state
            .runner_up
            .clone()
            .map(|r| (r.bidder, r.maximum))
            .unzip();
        let landed = sqlx::query(
            "UPDATE auctions SET current_price = $1, leader_id = $2, leader_max = $3, runner_up_id = $4, runner_up_max = $5, ends_at = $6, bid_count = bid_count + 1 \
             WHERE id = $7 AND bid_count = $8 AND status = 'running' AND ends_at > $9 AND current_price <= $1",
        )
        .bind(state.price)
        .bind(&leader_id)
        .bind(leader_max)
        .bind(&runner_up_id)
        .bind(runner_up_max)
        .bind(state.deadline)
        .bind(auction_id)
        .bind(row.bid_count)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if landed.rows_affected() != 1 {
            // Only possible if something moved the row under us; the bidder may retry.
            return Err(AuctionError::Ended);
        }
        sqlx::query("INSERT INTO auction_bids (auction_id, seq, user_id, amount, max_amount, price, ends_at, placed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(auction_id)
            .bind(row.bid_count + 1)
            .bind(user_id)
            .bind(amount)
            .bind(maximum)
            .bind(state.price)
            .bind(state.deadline)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let auction = auction_in(&mut tx, auction_id).await?;
        tx.commit().await?;
        let outbid = effects.iter().find_map(|e| match e {
            super::auction::Effect::Outbid { bidder, .. } => Some(bidder.clone()),
            _ => None,
        });
        let leading = auction.leader_id.as_deref() == Some(user_id);
        Ok(PlacedBid {
            auction,
            leading,
            outbid,
        })
    }

    /// The accepted bids of an auction in the order they were accepted: `(user, maximum, at)`.
    pub async fn auction_bids(&self, auction_id: &str) -> StoreResult<Vec<(String, i64, i64)>> {
        let rows = sqlx::query("SELECT user_id, max_amount, placed_at FROM auction_bids WHERE auction_id = $1 ORDER BY seq").bind(auction_id).fetch_all(self.reader()).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("user_id")?,
                    r.try_get("max_amount")?,
                    r.try_get("placed_at")?,
                ))
            })
            .collect()
    }

    /// Closes a running auction whose deadline has passed, in one transaction:
    /// a winner gets a `pending_payment` order over the held unit that expires
    /// after `payment_window_ms`; without one the unit goes back to stock.
    pub async fn close_auction(
        &self,
        auction_id: &str,
        now: Millis,
        payment_window_ms: Millis,
    ) -> AuctionResult<Closing> {
        let mut tx = self.writer().begin().await?;
        lock_in(&mut tx, auction_id).await?;
        let row = auction_in(&mut tx, auction_id).await?;
        if row.status != "running" {
            return Ok(Closing::NotRunning);
        }
        if row.ends_at > now {
            return Ok(Closing::NotYet {
                ends_at: row.ends_at,
            });
        }
        let mut engine = row.engine()?;
        engine.tick(now);
        let outcome = engine.outcome_now();
        let closed = sqlx::query("UPDATE auctions SET status = 'ended', ended_at = $1 WHERE id = $2 AND status = 'running' AND ends_at <= $1 AND bid_count = $3")
            .bind(now)
            .bind(auction_id)
            .bind(row.bid_count)
            .execute(&mut *tx)
            .await?;
        if closed.rows_affected() != 1 {
            return Ok(Closing::NotRunning);
        }
        match outcome {
            Outcome::Won { winner, price, .. } => {
                let hold = row
                    .hold_id
                    .clone()
                    .ok_or_else(|| AuctionError::Invalid("the auction holds no unit".into()))?;
                let order = LiveOrder {
                    user_id: &winner,
                    shop_id: &row.shop_id,
                    variant_id: &row.variant_id,
                    hold_id: &hold,
                    unit_price: price,
                    quantity: 1,
                    expires_at: now + payment_window_ms,
                    now,
                    origin: "auction",
                };
                let order_id = place_live_order_in(&mut tx, order).await?;
                sqlx::query("UPDATE auctions SET winner_id = $1, final_price = $2, winner_order_id = $3 WHERE id = $4")
                    .bind(&winner)
                    .bind(price)
                    .bind(&order_id)
                    .bind(auction_id)
                    .execute(&mut *tx)
                    .await?;
            }
            Outcome::ReserveNotMet { .. } | Outcome::NoBids => {
                release_hold_in(&mut tx, &row).await?
            }
        }
        let row = auction_in(&mut tx, auction_id).await?;
        tx.commit().await?;
        Ok(Closing::Closed(row))
    }

    /// Cancels a running auction (its unit goes back to stock); `false` if it was not running.
    pub async fn cancel_auction(&self, auction_id: &str) -> AuctionResult<bool> {
        let mut tx = self.writer().begin().await?;
        lock_in(&mut tx, auction_id).await?;
        let row = auction_in(&mut tx, auction_id).await?;
        let done = sqlx::query("UPDATE auctions SET status = 'cancelled', ended_at = $1 WHERE id = $2 AND status = 'running'")
            .bind(now_ms())
            .bind(auction_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        release_hold_in(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Second-chance offer: once the winner's order was cancelled or expired
    /// unpaid, the runner-up gets an order at their own maximum bid, over a
    /// fresh hold of one unit, with the same payment window. Offered once.
    pub async fn offer_runner_up(
        &self,
        auction_id: &str,
        now: Millis,
        payment_window_ms: Millis,
    ) -> AuctionResult<AuctionRow> {
        let mut tx = self.writer().begin().await?;
        lock_in(&mut tx, auction_id).await?;
        let row = auction_in(&mut tx, auction_id).await?;
        match row.status.as_str() {
            "running" => return Err(AuctionError::StillRunning),
            "cancelled" => return Err(AuctionError::NoRunnerUp),
            _ => {}
        }
        if row.offered_runner_up {
            return Err(AuctionError::AlreadyOffered);
        }
        let (Some(runner_up), Some(price), Some(order_id)) = (
            row.runner_up_id.clone(),
            row.runner_up_max,
            row.winner_order_id.clone(),
        ) else {
            return Err(AuctionError::NoRunnerUp);
        };
        let status: String = sqlx::query("SELECT status FROM orders WHERE id = $1")
            .bind(&order_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("status")?;
        if status != "cancelled" {
            return Err(AuctionError::WinnerMayStillPay);
        }
        let hold = reserve_in(
            &mut tx,
            &row.variant_id,
            1,
            &format!("auction:{auction_id}:runner-up"),
            None,
        )
        .await?;
        let order = LiveOrder {
            user_id: &runner_up,
            shop_id: &row.shop_id,
            variant_id: &row.variant_id,
            hold_id: &hold.id,
            unit_price: price,
            quantity: 1,
            expires_at: now + payment_window_ms,
            now,
            origin: "auction second chance",
        };
        let new_order = place_live_order_in(&mut tx, order).await?;
        let done = sqlx::query(
            "UPDATE auctions SET offered_runner_up = 1, winner_id = $1, final_price = $2, winner_order_id = $3, stock_reservation_id = $4 WHERE id = $5 AND offered_runner_up = 0",
        )
        .bind(&runner_up)
        .bind(price)
        .bind(&new_order)
        .bind(&hold.id)
        .bind(auction_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(AuctionError::AlreadyOffered);
        }
        let row = auction_in(&mut tx, auction_id).await?;
        tx.commit().await?;
        Ok(row)
    }
}

async fn release_hold_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    row: &AuctionRow,
) -> AuctionResult<()> {
    if let Some(hold) = &row.hold_id {
        match release_in(tx, hold).await {
            Ok(_) | Err(CommerceError::ReservationNotHeld) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
