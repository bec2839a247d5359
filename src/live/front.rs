//! The Redis front for one-tap reservations. With Redis configured, an atomic
//! Lua script keeps, per sale, the units left and each buyer's count, and
//! turns away buyers who cannot win (nothing left, or over their cap) before
//! they reach SQL. It only ever refuses early: the SQL transaction stays the
//! arbiter, every tentative take that SQL does not confirm is given back, and
//! a missing key (Redis flushed or restarted) lets the buyer through to SQL
//! and is re-seeded from the store. Releases (expired reservations, cancelled
//! orders) happen in SQL only: each bumps `flash_sales.releases`, the front
//! remembers the value it was seeded at, and a request that read another
//! value from the store passes to SQL and re-seeds the front. So losing Redis
//! can cost a little throughput, never an oversell or a buyer who could win.

use redis::aio::ConnectionManager;

use crate::kv::{Kv, RedisGuard};
use crate::store::{Store, StoreResult};

/// How long a seeded sale lives in Redis before it is re-seeded from the
/// store; this bounds any drift (e.g. a release that raced a re-seed).
const SEED_TTL_MS: i64 = 30_000;

/// KEYS[1] units left, KEYS[2] buyers hash, KEYS[3] the releases generation
/// it was seeded at; ARGV user, quantity, cap, the generation the caller read.
/// Returns 1 taken, 0 unknown (not seeded), 2 stale, -1 sold out, -2 over the cap.
const TAKE_SCRIPT: &str = r#"
local left = redis.call('GET', KEYS[1])
if not left then return 0 end
if redis.call('GET', KEYS[3]) ~= ARGV[4] then return 2 end
local q = tonumber(ARGV[2])
if tonumber(left) < q then return -1 end
local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if mine + q > tonumber(ARGV[3]) then return -2 end
redis.call('DECRBY', KEYS[1], q)
redis.call('HINCRBY', KEYS[2], ARGV[1], q)
return 1
"#;

/// KEYS[1] units left, KEYS[2] buyers hash; ARGV user, quantity. Gives a take
/// back, only if the sale is still seeded (a flushed key stays missing).
const GIVE_BACK_SCRIPT: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[2])
local mine = redis.call('HINCRBY', KEYS[2], ARGV[1], -tonumber(ARGV[2]))
if mine <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
return 1
"#;

/// KEYS[1] units left, KEYS[2] buyers hash, KEYS[3] generation; ARGV left,
/// expire-at (unix ms), generation, replace (1: even if seeded), then user, count pairs.
const SEED_SCRIPT: &str = r#"
if ARGV[4] == '1' then redis.call('DEL', KEYS[1]) end
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('DEL', KEYS[2])
  for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
  redis.call('SET', KEYS[3], ARGV[3])
  for i = 1, 3 do redis.call('PEXPIREAT', KEYS[i], ARGV[2]) end
end
return 1
"#;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontVerdict {
    /// Tentatively taken in Redis: SQL decides; give it back unless SQL confirms.
    Taken,
    /// Redis knows nothing of this sale (no Redis, flushed, expired): ask SQL.
    Unknown,
    /// Seeded before a release the store has since made: ask SQL, then re-seed.
    Stale,
    SoldOut,
    OverCap,
}

#[derive(Clone)]
pub struct ReservationFront {
    redis: Option<(ConnectionManager, String)>,
    /// A Redis outage sends buyers straight to SQL instead of waiting on it.
    guard: RedisGuard,
}

/// The front is an optimisation: a Redis call slower than this is skipped.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);
const BREAKER_OPEN_MS: i64 = 1_000;

impl ReservationFront {
    pub fn new(kv: &Kv) -> ReservationFront {
        match kv {
            Kv::Redis { conn, prefix } => ReservationFront {
                redis: Some((conn.clone(), prefix.clone())),
                guard: RedisGuard::new(CALL_TIMEOUT, BREAKER_OPEN_MS),
            },
            Kv::Memory => ReservationFront::disabled(),
        }
    }

    pub fn disabled() -> ReservationFront {
        ReservationFront { redis: None, guard: RedisGuard::new(CALL_TIMEOUT, BREAKER_OPEN_MS) }
    }

    fn keys(prefix: &str, sale_id: &str) -> [String; 3] {
        ["left", "buyers", "gen"].map(|k| format!("{prefix}live:sale:{sale_id}:{k}"))
    }

    /// Runs the front's check for a sale whose row (read from the store) says
    /// `releases`; any Redis error means `Unknown` (SQL decides).
    pub async fn take(
        &self,
        sale_id: &str,
        releases: i64,
        user_id: &str,
        quantity: i64,
        cap: i64,
    ) -> FrontVerdict {
        let Some((conn, prefix)) = &self.redis else {
            return FrontVerdict::Unknown;
        };
        let [left, buyers, generation] = Self::keys(prefix, sale_id);
        let mut conn = conn.clone();
        let script = redis::Script::new(TAKE_SCRIPT);
        let mut invocation = script.key(left);
        invocation.key(buyers).key(generation).arg(user_id).arg(quantity).arg(cap).arg(releases);
        let result: Result<i64, _> = self.guard.run(invocation.invoke_async(&mut conn)).await;
        match result {
            Ok(1) => FrontVerdict::Taken,
            Ok(2) => FrontVerdict::Stale,
            Ok(-1) => FrontVerdict::SoldOut,
            Ok(-2) => FrontVerdict::OverCap,
            Ok(_) => FrontVerdict::Unknown,
            Err(e) => {
                tracing::debug!(error = %e, "reservation front unavailable; asking the store");
                FrontVerdict::Unknown
            }
        }
    }

    /// Gives back a take SQL did not confirm.
    pub async fn give_back(&self, sale_id: &str, user_id: &str, quantity: i64) {
        let Some((conn, prefix)) = &self.redis else {
            return;
        };
        let [left, buyers, _] = Self::keys(prefix, sale_id);
        let mut conn = conn.clone();
        let script = redis::Script::new(GIVE_BACK_SCRIPT);
        let mut invocation = script.key(left);
        invocation.key(buyers).arg(user_id).arg(quantity);
        let result: Result<i64, _> = self.guard.run(invocation.invoke_async(&mut conn)).await;
        if let Err(e) = result {
            tracing::debug!(error = %e, "cannot give units back to the reservation front");
        }
    }

    /// Seeds the front from the store's committed counts: if unseeded, or
    /// replacing what it holds when `replace` (it was stale).
    pub async fn seed_from_store(
        &self,
        store: &Store,
        sale_id: &str,
        replace: bool,
        now: i64,
    ) -> StoreResult<()> {
        let Some((conn, prefix)) = &self.redis else {
            return Ok(());
        };
        let Some(sale) = store.flash_sale(sale_id).await? else {
            return Ok(());
        };
        let buyers = store.flash_sale_buyer_counts(sale_id).await?;
        let expire_at = (sale.ends_at + 60_000).min(now + SEED_TTL_MS);
        let [left_key, buyers_key, generation] = Self::keys(prefix, sale_id);
        let mut conn = conn.clone();
        let script = redis::Script::new(SEED_SCRIPT);
        let mut invocation = script.key(left_key);
        invocation
            .key(buyers_key)
            .key(generation)
            .arg((sale.total_quantity - sale.sold).max(0))
            .arg(expire_at)
            .arg(sale.releases)
            .arg(if replace { "1" } else { "0" });
        for (user, count) in buyers {
            invocation.arg(user).arg(count);
        }
        let result: Result<i64, _> = self.guard.run(invocation.invoke_async(&mut conn)).await;
        if let Err(e) = result {
            tracing::debug!(error = %e, "cannot seed the reservation front");
        }
        Ok(())
    }
}
