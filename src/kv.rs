//! The fast, ephemeral front: presence counters and stock-reservation fronts.
//! In process by default; Redis when `REDIS_URL` / `redis.address` is set, so
//! several nodes share it. It is never the only record of anything durable:
//! the SQL store is the arbiter, and losing this state loses nothing acknowledged.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

#[derive(Clone)]
pub enum Kv {
    Memory,
    Redis { conn: ConnectionManager, prefix: String },
}

impl Kv {
    /// Connects to Redis and checks it answers.
    pub async fn connect_redis(url: &str, prefix: &str) -> Result<Kv, KvError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(3))
            .set_response_timeout(Duration::from_secs(3))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config).await?;
        let kv = Kv::Redis { conn, prefix: prefix.to_string() };
        kv.ping().await?;
        Ok(kv)
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Kv::Memory => "memory",
            Kv::Redis { .. } => "redis",
        }
    }

    pub fn is_redis(&self) -> bool {
        matches!(self, Kv::Redis { .. })
    }

    /// `PING`, bounded by a short timeout; always Ok in memory.
    pub async fn ping(&self) -> Result<(), KvError> {
        let Kv::Redis { conn, .. } = self else {
            return Ok(());
        };
        let limit = Duration::from_secs(2);
        let mut conn = conn.clone();
        let pong: Result<String, _> = tokio::time::timeout(limit, redis::cmd("PING").query_async(&mut conn))
            .await
            .map_err(|_| KvError::Timeout(limit))?;
        pong?;
        Ok(())
    }
}

/// One Redis call under a timeout and a circuit breaker: after a failed call,
/// calls fail at once for `open_for_ms` (then one probes again), so a Redis
/// outage costs callers nothing rather than a reconnect attempt or a timeout,
/// and they fall back (the hub to this node, reservations to SQL).
#[derive(Clone, Debug)]
pub struct RedisGuard {
    timeout: Duration,
    open_for_ms: i64,
    /// Until when (unix ms) calls are skipped after one failed.
    open_until_ms: Arc<AtomicI64>,
}

impl RedisGuard {
    pub fn new(timeout: Duration, open_for_ms: i64) -> RedisGuard {
        RedisGuard { timeout, open_for_ms, open_until_ms: Arc::new(AtomicI64::new(0)) }
    }

    pub async fn run<T>(&self, call: impl std::future::Future<Output = Result<T, redis::RedisError>>) -> Result<T, KvError> {
        if crate::store::now_ms() < self.open_until_ms.load(Ordering::Relaxed) {
            return Err(KvError::Timeout(self.timeout));
        }
        let result = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(KvError::Redis(e)),
            Err(_) => Err(KvError::Timeout(self.timeout)),
        };
        if result.is_err() {
            self.open_until_ms.store(crate::store::now_ms() + self.open_for_ms, Ordering::Relaxed);
        }
        result
    }
}
