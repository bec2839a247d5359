//! Polls and giveaways in the SQL store, the arbiter: one open poll and one
//! open giveaway per room (partial unique indexes), one vote and one entry per
//! user (primary keys), votes and entries refused after the deadline in the
//! same statement that records them, and closes and draws as conditional
//! updates (`WHERE status = 'open'`), so of several nodes only one announces.

use sqlx::Row;

use super::giveaway::{commitment, draw_order, winner_index, Eligibility, NewGiveaway};
use super::poll::NewPoll;
use super::Millis;
use crate::store::{new_id, Store, StoreError, StoreResult};

/// Statuses of an order that was paid (buyers-only giveaways).
const PAID: &str = "('paid', 'fulfilling', 'shipped', 'delivered', 'completed')";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollRow {
    pub id: String,
    pub room_id: String,
    pub question: String,
    pub answers: Vec<String>,
    pub status: String,
    pub created_at: i64,
    pub closes_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub close_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GiveawayRow {
    pub id: String,
    pub room_id: String,
    pub prize: String,
    pub eligibility: String,
    pub status: String,
    /// Secret until drawn: never serve it while `status` is `open`.
    pub seed: String,
    pub seed_hash: String,
    pub created_at: i64,
    pub entries_close_at: i64,
    pub drawn_at: Option<i64>,
    pub entrants: Option<i64>,
    pub winner_user_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngageError {
    #[error("this room already has an open one")]
    AlreadyOpen,
    #[error("not open")]
    NotOpen,
    #[error("already voted or entered")]
    Duplicate,
    #[error("not eligible")]
    NotEligible,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for EngageError {
    fn from(e: sqlx::Error) -> Self {
        EngageError::Store(e.into())
    }
}

type EngageResult<T> = Result<T, EngageError>;

const POLL_COLUMNS: &str = "id, room_id, question, answers, status, created_at, closes_at, closed_at, close_reason";
const GIVEAWAY_COLUMNS: &str = "id, room_id, prize, eligibility, status, seed, seed_hash, created_at, entries_close_at, drawn_at, entrants, winner_user_id";

fn poll_row(r: &sqlx::any::AnyRow) -> Result<PollRow, StoreError> {
    let answers: String = r.try_get("answers")?;
    Ok(PollRow {
        id: r.try_get("id")?,
        room_id: r.try_get("room_id")?,
        question: r.try_get("question")?,
        answers: serde_json::from_str(&answers).unwrap_or_default(),
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
        closes_at: r.try_get("closes_at")?,
        closed_at: r.try_get("closed_at")?,
        close_reason: r.try_get("close_reason")?,
    })
}

fn giveaway_row(r: &sqlx::any::AnyRow) -> Result<GiveawayRow, StoreError> {
    Ok(GiveawayRow {
        id: r.try_get("id")?,
        room_id: r.try_get("room_id")?,
        prize: r.try_get("prize")?,
        eligibility: r.try_get("eligibility")?,
        status: r.try_get("status")?,
        seed: r.try_get("seed")?,
        seed_hash: r.try_get("seed_hash")?,
        created_at: r.try_get("created_at")?,
        entries_close_at: r.try_get("entries_close_at")?,
        drawn_at: r.try_get("drawn_at")?,
        entrants: r.try_get("entrants")?,
        winner_user_id: r.try_get("winner_user_id")?,
    })
}

fn already_open(e: sqlx::Error) -> EngageError {
    match StoreError::from(e) {
        StoreError::UniqueViolation(_) => EngageError::AlreadyOpen,
        other => EngageError::Store(other),
    }
}

impl Store {
    pub async fn create_poll(&self, room_id: &str, by: &str, poll: &NewPoll, now: Millis) -> EngageResult<PollRow> {
        let id = new_id();
        let answers = serde_json::to_string(&poll.answers).unwrap_or_else(|_| "[]".into());
        let closes_at = poll.duration_ms.map(|d| now + d);
        sqlx::query("INSERT INTO live_polls (id, room_id, question, answers, status, created_by, created_at, closes_at) VALUES ($1, $2, $3, $4, 'open', $5, $6, $7)")
            .bind(&id)
            .bind(room_id)
            .bind(&poll.question)
            .bind(&answers)
            .bind(by)
            .bind(now)
            .bind(closes_at)
            .execute(self.writer())
            .await
            .map_err(already_open)?;
        self.poll(&id).await?.ok_or(EngageError::NotOpen)
    }

    pub async fn poll(&self, id: &str) -> StoreResult<Option<PollRow>> {
        let row = sqlx::query(&format!("SELECT {POLL_COLUMNS} FROM live_polls WHERE id = $1")).bind(id).fetch_optional(self.reader()).await?;
        row.as_ref().map(poll_row).transpose()
    }

    /// The room's latest polls, newest first.
    pub async fn room_polls(&self, room_id: &str, limit: i64) -> StoreResult<Vec<PollRow>> {
        let rows = sqlx::query(&format!("SELECT {POLL_COLUMNS} FROM live_polls WHERE room_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"))
            .bind(room_id)
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(poll_row).collect()
    }

    /// Votes per answer: (answer, count).
    pub async fn poll_counts(&self, poll_id: &str) -> StoreResult<Vec<(i64, i64)>> {
        let rows = sqlx::query("SELECT answer, COUNT(*) AS n FROM live_poll_votes WHERE poll_id = $1 GROUP BY answer").bind(poll_id).fetch_all(self.reader()).await?;
        rows.iter().map(|r| Ok((r.try_get("answer")?, r.try_get("n")?))).collect::<Result<_, sqlx::Error>>().map_err(StoreError::from)
    }

    /// The user's answer, if they voted.
    pub async fn poll_vote_of(&self, poll_id: &str, user_id: &str) -> StoreResult<Option<i64>> {
        let row = sqlx::query("SELECT answer FROM live_poll_votes WHERE poll_id = $1 AND user_id = $2").bind(poll_id).bind(user_id).fetch_optional(self.reader()).await?;
        Ok(row.map(|r| r.try_get("answer")).transpose()?)
    }

    /// Records a vote if the poll is open at `now` and the user has not voted.
    pub async fn vote_in_poll(&self, poll_id: &str, user_id: &str, answer: i64, now: Millis) -> EngageResult<()> {
        let done = sqlx::query(
            "INSERT INTO live_poll_votes (poll_id, user_id, answer, at) \
             SELECT id, $2, $3, $4 FROM live_polls WHERE id = $1 AND status = 'open' AND (closes_at IS NULL OR closes_at > $4) \
             ON CONFLICT (poll_id, user_id) DO NOTHING",
        )
        .bind(poll_id)
        .bind(user_id)
        .bind(answer)
        .bind(now)
        .execute(self.writer())
        .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        match self.poll_vote_of(poll_id, user_id).await? {
            Some(_) => Err(EngageError::Duplicate),
            None => Err(EngageError::NotOpen),
        }
    }

    /// Closes an open poll; false if it was already closed.
    pub async fn close_poll(&self, poll_id: &str, reason: &str, now: Millis) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE live_polls SET status = 'closed', closed_at = $2, close_reason = $3 WHERE id = $1 AND status = 'open'")
            .bind(poll_id)
            .bind(now)
            .bind(reason)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Open polls whose deadline has passed, and open giveaways whose window closed.
    pub async fn due_polls(&self, now: Millis) -> StoreResult<Vec<PollRow>> {
        let rows = sqlx::query(&format!("SELECT {POLL_COLUMNS} FROM live_polls WHERE status = 'open' AND closes_at IS NOT NULL AND closes_at <= $1"))
            .bind(now)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(poll_row).collect()
    }

    pub async fn create_giveaway(&self, room_id: &str, by: &str, g: &NewGiveaway, seed: &str, now: Millis) -> EngageResult<GiveawayRow> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO live_giveaways (id, room_id, prize, eligibility, status, seed, seed_hash, created_by, created_at, entries_close_at) \
             VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(room_id)
        .bind(&g.prize)
        .bind(g.eligibility.as_str())
        .bind(seed)
        .bind(commitment(seed))
        .bind(by)
        .bind(now)
        .bind(now + g.window_ms)
        .execute(self.writer())
        .await
        .map_err(already_open)?;
        self.giveaway(&id).await?.ok_or(EngageError::NotOpen)
    }

    pub async fn giveaway(&self, id: &str) -> StoreResult<Option<GiveawayRow>> {
        let row = sqlx::query(&format!("SELECT {GIVEAWAY_COLUMNS} FROM live_giveaways WHERE id = $1")).bind(id).fetch_optional(self.reader()).await?;
        row.as_ref().map(giveaway_row).transpose()
    }

    pub async fn room_giveaways(&self, room_id: &str, limit: i64) -> StoreResult<Vec<GiveawayRow>> {
        let rows = sqlx::query(&format!("SELECT {GIVEAWAY_COLUMNS} FROM live_giveaways WHERE room_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"))
            .bind(room_id)
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(giveaway_row).collect()
    }

    pub async fn giveaway_entry_count(&self, giveaway_id: &str) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM live_giveaway_entries WHERE giveaway_id = $1").bind(giveaway_id).fetch_one(self.reader()).await?;
        Ok(row.try_get("n")?)
    }

    /// Entrants' user ids in draw order (sorted).
    pub async fn giveaway_entrants(&self, giveaway_id: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT user_id FROM live_giveaway_entries WHERE giveaway_id = $1 ORDER BY user_id").bind(giveaway_id).fetch_all(self.reader()).await?;
        let ids: Vec<String> = rows.iter().map(|r| r.try_get("user_id")).collect::<Result<_, sqlx::Error>>()?;
        Ok(draw_order(&ids))
    }

    /// Whether the user has a paid order from the shop.
    pub async fn is_shop_buyer(&self, shop_id: &str, user_id: &str) -> StoreResult<bool> {
        let row = sqlx::query(&format!("SELECT COUNT(*) AS n FROM orders WHERE shop_id = $1 AND user_id = $2 AND status IN {PAID}"))
            .bind(shop_id)
            .bind(user_id)
            .fetch_one(self.reader())
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Enters a user if the giveaway is open at `now` (eligibility checked by the caller).
    pub async fn enter_giveaway(&self, g: &GiveawayRow, user_id: &str, now: Millis) -> EngageResult<()> {
        if g.eligibility == Eligibility::Buyers.as_str() {
            let room_shop = sqlx::query("SELECT shop_id FROM rooms WHERE id = $1").bind(&g.room_id).fetch_one(self.reader()).await?;
            let shop_id: String = room_shop.try_get("shop_id")?;
            if !self.is_shop_buyer(&shop_id, user_id).await? {
                return Err(EngageError::NotEligible);
            }
        }
        let done = sqlx::query(
            "INSERT INTO live_giveaway_entries (giveaway_id, user_id, at) \
             SELECT id, $2, $3 FROM live_giveaways WHERE id = $1 AND status = 'open' AND entries_close_at > $3 \
             ON CONFLICT (giveaway_id, user_id) DO NOTHING",
        )
        .bind(&g.id)
        .bind(user_id)
        .bind(now)
        .execute(self.writer())
        .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let row = sqlx::query("SELECT 1 AS one FROM live_giveaway_entries WHERE giveaway_id = $1 AND user_id = $2").bind(&g.id).bind(user_id).fetch_optional(self.reader()).await?;
        Err(if row.is_some() { EngageError::Duplicate } else { EngageError::NotOpen })
    }

    /// Draws an open giveaway: closes entries, picks the winner from the seed
    /// and the sorted entrants, all in one transaction. `None` if it was
    /// already drawn (another node or request did it).
    pub async fn draw_giveaway(&self, giveaway_id: &str, now: Millis) -> StoreResult<Option<GiveawayRow>> {
        let mut tx = self.writer().begin().await?;
        let row = sqlx::query(&format!("SELECT {GIVEAWAY_COLUMNS} FROM live_giveaways WHERE id = $1 AND status = 'open'")).bind(giveaway_id).fetch_optional(&mut *tx).await?;
        let Some(g) = row.as_ref().map(giveaway_row).transpose()? else { return Ok(None) };
        // No entry can land after this: the status and the window are checked by every insert.
        let closed = sqlx::query("UPDATE live_giveaways SET status = 'drawn', drawn_at = $2, entries_close_at = CASE WHEN entries_close_at > $2 THEN $2 ELSE entries_close_at END WHERE id = $1 AND status = 'open'")
            .bind(giveaway_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if closed.rows_affected() != 1 {
            return Ok(None);
        }
        let rows = sqlx::query("SELECT user_id FROM live_giveaway_entries WHERE giveaway_id = $1").bind(giveaway_id).fetch_all(&mut *tx).await?;
        let ids: Vec<String> = rows.iter().map(|r| r.try_get("user_id")).collect::<Result<_, sqlx::Error>>()?;
        let sorted = draw_order(&ids);
        let winner = winner_index(&g.seed, &sorted).and_then(|i| sorted.get(i).cloned());
        sqlx::query("UPDATE live_giveaways SET entrants = $2, winner_user_id = $3 WHERE id = $1")
            .bind(giveaway_id)
            .bind(sorted.len() as i64)
            .bind(&winner)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.giveaway(giveaway_id).await
    }

    pub async fn due_giveaways(&self, now: Millis) -> StoreResult<Vec<GiveawayRow>> {
        let rows = sqlx::query(&format!("SELECT {GIVEAWAY_COLUMNS} FROM live_giveaways WHERE status = 'open' AND entries_close_at <= $1"))
            .bind(now)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(giveaway_row).collect()
    }
}

impl Store {
    /// A room's name from its id (announcements go to `room:{name}`).
    pub async fn room_name_of(&self, room_id: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT name FROM rooms WHERE id = $1").bind(room_id).fetch_optional(self.reader()).await?;
        Ok(row.map(|r| r.try_get("name")).transpose()?)
    }

    pub async fn display_name_of(&self, user_id: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT display_name FROM users WHERE id = $1").bind(user_id).fetch_optional(self.reader()).await?;
        Ok(row.map(|r| r.try_get("display_name")).transpose()?)
    }
}
