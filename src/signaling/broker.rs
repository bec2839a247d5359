//! How publications reach every node. `Broker::Memory`: this process only,
//! offsets allocated by the core. `Broker::Redis`: a Lua script allocates the
//! offset (`HINCRBY`, per channel, with the channel's epoch in the same hash)
//! and `PUBLISH`es in the same atomic step, so every node receives the same
//! offsets in the same order; presence counts are summed across nodes in
//! Redis too. Modelled on Centrifuge's broker_memory.go / broker_redis.go.

use std::time::Duration;

use futures::StreamExt;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::channel::ChannelName;
use super::core::{LocalPresence, Presence};
use super::protocol::Event;
use crate::kv::{Kv, KvError, RedisGuard};

/// How long a channel's offset counter outlives its last publication.
const CHANNEL_META_TTL_SECS: u64 = 24 * 3600;
/// A node that has not reported presence for this long no longer counts.
const PRESENCE_STALE_MS: i64 = 5_000;

#[derive(Clone)]
pub enum Broker {
    Memory,
    Redis(Box<RedisBroker>),
}

#[derive(Clone)]
pub struct RedisBroker {
    conn: ConnectionManager,
    prefix: String,
    url: String,
    guard: RedisGuard,
}

/// The longest one Redis call may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// After a failed call, calls fail at once for this long (`RedisGuard`).
const BREAKER_OPEN_MS: i64 = 1_000;

/// What travels on the Redis pub/sub channel `{prefix}hub`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t")]
pub enum BrokerMessage {
    /// A publication with its offset (built by the Lua script).
    #[serde(rename = "pub")]
    Publication { o: u64, e: String, ch: String, ev: Event },
    /// An event outside history (aggregates).
    #[serde(rename = "eph")]
    Ephemeral { ch: String, ev: Event },
    /// A room's rules changed: reload them from the store.
    #[serde(rename = "rules")]
    RulesChanged { room: String, room_id: String },
}

const PUBLISH_SCRIPT: &str = r#"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
end
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', KEYS[2], '{"t":"pub","o":' .. offset .. ',"e":"' .. epoch .. '",' .. string.sub(ARGV[2], 2))
return offset
"#;

const POSITION_SCRIPT: &str = r#"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
local offset = redis.call('HGET', KEYS[1], 'offset') or '0'
return {epoch, tonumber(offset)}
"#;

const PRESENCE_SCRIPT: &str = r#"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], 86400000)
redis.call('PFADD', KEYS[2])
for i = 5, #ARGV do redis.call('PFADD', KEYS[2], ARGV[i]) end
redis.call('PEXPIRE', KEYS[2], 86400000)
local total = 0
local nodes = redis.call('HGETALL', KEYS[1])
for i = 1, #nodes, 2 do
  local count, at = string.match(nodes[i + 1], '(%d+):(%d+)')
  if count and tonumber(at) + tonumber(ARGV[4]) >= tonumber(ARGV[3]) then
    total = total + tonumber(count)
  else
    redis.call('HDEL', KEYS[1], nodes[i])
  end
end
local peak = tonumber(redis.call('GET', KEYS[3]) or '0')
if total > peak then
  peak = total
  redis.call('SET', KEYS[3], peak, 'PX', 86400000)
end
return {total, peak, redis.call('PFCOUNT', KEYS[2])}
"#;

impl Broker {
    /// Redis when `kv` is Redis (and its URL is known), memory otherwise.
    pub fn for_kv(kv: &Kv, redis_url: Option<&str>) -> Broker {
        match (kv, redis_url) {
            (Kv::Redis { conn, prefix }, Some(url)) => {
                Broker::Redis(Box::new(RedisBroker {
                    conn: conn.clone(),
                    prefix: prefix.clone(),
                    url: url.to_string(),
                    guard: RedisGuard::new(CALL_TIMEOUT, BREAKER_OPEN_MS),
                }))
            }
            _ => Broker::Memory,
        }
    }
}

impl RedisBroker {
    /// Runs one Redis call under the timeout and the circuit breaker.
    async fn guarded<T>(&self, call: impl std::future::Future<Output = Result<T, redis::RedisError>>) -> Result<T, KvError> {
        self.guard.run(call).await
    }

    fn pubsub_channel(&self) -> String {
        format!("{}hub", self.prefix)
    }

    /// Allocates the next offset for `channel` and publishes to every node.
    pub async fn publish(&self, channel: &ChannelName, event: &Event) -> Result<u64, KvError> {
        let body = serde_json::to_string(&json!({ "ch": channel.to_string(), "ev": event })).unwrap_or_else(|_| "{}".into());
        let mut conn = self.conn.clone();
        let script = redis::Script::new(PUBLISH_SCRIPT);
        let mut invocation = script.key(self.meta_key(channel));
        invocation.key(self.pubsub_channel()).arg(new_epoch()).arg(body).arg(CHANNEL_META_TTL_SECS);
        self.guarded(invocation.invoke_async::<u64>(&mut conn)).await
    }

    /// The channel's epoch (created now if it has none) and last offset, so a
    /// node opening a channel agrees with every other node from the start.
    pub async fn position(&self, channel: &ChannelName) -> Result<(String, u64), KvError> {
        let mut conn = self.conn.clone();
        let script = redis::Script::new(POSITION_SCRIPT);
        let mut invocation = script.key(self.meta_key(channel));
        invocation.arg(new_epoch()).arg(CHANNEL_META_TTL_SECS);
        self.guarded(invocation.invoke_async::<(String, u64)>(&mut conn)).await
    }

    fn meta_key(&self, channel: &ChannelName) -> String {
        format!("{}hub:meta:{}", self.prefix, channel)
    }

    /// Publishes a message that takes no offset (aggregates, rule changes).
    pub async fn broadcast(&self, message: &BrokerMessage) -> Result<(), KvError> {
        let body = serde_json::to_string(message).unwrap_or_else(|_| "{}".into());
        let mut conn = self.conn.clone();
        let mut command = redis::cmd("PUBLISH");
        command.arg(self.pubsub_channel()).arg(body);
        self.guarded(command.query_async::<i64>(&mut conn)).await?;
        Ok(())
    }

    /// Reports this node's share of a room's presence; returns the sum over
    /// live nodes, the peak and the (HyperLogLog) unique viewer count.
    pub async fn aggregate_presence(&self, node_id: &str, local: &LocalPresence, now: i64) -> Result<Presence, KvError> {
        let base = format!("{}hub:presence:{}", self.prefix, local.room);
        let presence_script = redis::Script::new(PRESENCE_SCRIPT);
        let mut script = presence_script.prepare_invoke();
        script.key(format!("{base}:nodes")).key(format!("{base}:unique")).key(format!("{base}:peak"));
        script.arg(node_id).arg(local.concurrent).arg(now).arg(PRESENCE_STALE_MS);
        for viewer in &local.new_viewers {
            script.arg(viewer);
        }
        let mut conn = self.conn.clone();
        let (viewers, peak, unique) = self.guarded(script.invoke_async::<(u64, u64, u64)>(&mut conn)).await?;
        Ok(Presence { viewers, peak, unique })
    }

    /// Subscribes to the hub's pub/sub channel; returns once the subscription
    /// is active, then feeds every message to `deliver` until the process
    /// ends, reconnecting after failures (a gap is detected by offsets).
    pub async fn run_subscriber(&self, deliver: impl Fn(BrokerMessage) + Send + Sync + 'static) -> Result<tokio::task::JoinHandle<()>, KvError> {
        let client = redis::Client::open(self.url.as_str())?;
        let channel = self.pubsub_channel();
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&channel).await?;
        Ok(tokio::spawn(async move {
            loop {
                let mut messages = pubsub.into_on_message();
                while let Some(msg) = messages.next().await {
                    let Ok(payload) = msg.get_payload::<String>() else { continue };
                    match serde_json::from_str::<BrokerMessage>(&payload) {
                        Ok(message) => deliver(message),
                        Err(e) => tracing::warn!(error = %e, "ignoring a malformed hub message from Redis"),
                    }
                }
                tracing::warn!("the Redis hub subscription ended; reconnecting");
                pubsub = loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let attempt = async {
                        let mut p = client.get_async_pubsub().await?;
                        p.subscribe(&channel).await?;
                        Ok::<_, redis::RedisError>(p)
                    };
                    match attempt.await {
                        Ok(p) => break p,
                        Err(e) => tracing::warn!(error = %e, "cannot resubscribe to Redis yet"),
                    }
                };
            }
        }))
    }
}

fn new_epoch() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}
