//! Admission control: how much work the process takes on before it says
//! "not now" instead of queueing without bound.
//!
//! - HTTP: at most `max_in_flight` requests run at once; up to `max_queued`
//!   more wait at most `queue_timeout` for a slot; everything beyond is shed
//!   at once with 503 `overloaded` and `Retry-After`. Health and metrics are
//!   exempt, so an overloaded node still reports itself (`http.rs`).
//! - WebSocket: a cap on connections per node (503 before the upgrade), per
//!   client address (429 before the upgrade) and per room (a `room_full`
//!   refusal of the subscription), each held by an RAII [`Slot`].
//!
//! Counting is plain data behind a mutex or a semaphore; no clock is read
//! here except by the queue's timeout in the HTTP shell.

pub mod http;

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

/// `streamcart.admission` in the config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdmissionSettings {
    /// HTTP requests handled at once (health and metrics excluded).
    pub max_in_flight: usize,
    /// HTTP requests allowed to wait for a slot; beyond this they are shed at once.
    pub max_queued: usize,
    /// How long a queued request waits for a slot before it is shed.
    pub queue_timeout: Duration,
    /// The `Retry-After` a shed request or refused connection carries.
    pub retry_after_secs: u64,
    /// WebSocket connections one node accepts.
    pub ws_max_connections: usize,
    /// WebSocket connections one client address may hold.
    pub ws_max_per_ip: usize,
    /// Connections subscribed to one room's channel on this node.
    pub ws_max_per_room: usize,
}

impl Default for AdmissionSettings {
    fn default() -> Self {
        AdmissionSettings {
            // Requests in flight mostly wait on the store's pool (itself bounded
            // by its 5 s acquire timeout), so the slots are generous and the
            // queue's wait matches that timeout.
            max_in_flight: 1024,
            max_queued: 1024,
            queue_timeout: Duration::from_secs(5),
            retry_after_secs: 1,
            ws_max_connections: 50_000,
            ws_max_per_ip: 200,
            ws_max_per_room: 20_000,
        }
    }
}

/// Why a WebSocket connection or subscription was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The node holds `ws_max_connections` already.
    NodeFull,
    /// This client address holds `ws_max_per_ip` already.
    AddressFull,
    /// The room holds `ws_max_per_room` subscribers on this node already.
    RoomFull,
}

impl Refused {
    /// A label for metrics and logs.
    pub fn reason(self) -> &'static str {
        match self {
            Refused::NodeFull => "node_full",
            Refused::AddressFull => "address_full",
            Refused::RoomFull => "room_full",
        }
    }
}

/// The node's admission state; cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Admission {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: AdmissionSettings,
    http: Arc<Semaphore>,
    queued: AtomicUsize,
    ws_total: Arc<Counts<()>>,
    ws_per_ip: Arc<Counts<IpAddr>>,
    ws_per_room: Arc<Counts<String>>,
}

impl Admission {
    pub fn new(settings: &AdmissionSettings) -> Admission {
        let max_in_flight = settings.max_in_flight.clamp(1, Semaphore::MAX_PERMITS);
        Admission {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                http: Arc::new(Semaphore::new(max_in_flight)),
                queued: AtomicUsize::new(0),
                ws_total: Arc::default(),
                ws_per_ip: Arc::default(),
                ws_per_room: Arc::default(),
            }),
        }
    }

    pub fn settings(&self) -> &AdmissionSettings {
        &self.inner.settings
    }

    /// HTTP requests running now (health and metrics excluded).
    pub fn http_in_flight(&self) -> usize {
        let max = self.inner.settings.max_in_flight.clamp(1, Semaphore::MAX_PERMITS);
        max - self.inner.http.available_permits()
    }

    /// HTTP requests waiting for a slot now.
    pub fn http_queued(&self) -> usize {
        self.inner.queued.load(Ordering::SeqCst)
    }

    /// A WebSocket connection from `ip`: both the node's and the address's
    /// slot, or why not. The slot is held for the connection's life.
    ///
    /// A loopback address is not capped per address: it is a reverse proxy
    /// on this host (whose clients all share its address unless
    /// `trust_forwarded_for` names them) or a local tool, never one viewer.
    pub fn ws_connection(&self, ip: IpAddr) -> Result<Slot, Refused> {
        let s = &self.inner.settings;
        let total = Counts::take(&self.inner.ws_total, (), s.ws_max_connections).ok_or(Refused::NodeFull)?;
        let mut held = vec![total];
        if !ip.is_loopback() {
            held.push(Counts::take(&self.inner.ws_per_ip, ip, s.ws_max_per_ip).ok_or(Refused::AddressFull)?);
        }
        Ok(Slot { _held: held })
    }

    /// A subscription to a room's channel, held until unsubscribed or disconnected.
    pub fn room_subscription(&self, room: &str) -> Result<Slot, Refused> {
        let max = self.inner.settings.ws_max_per_room;
        let held = Counts::take(&self.inner.ws_per_room, room.to_string(), max).ok_or(Refused::RoomFull)?;
        Ok(Slot { _held: vec![held] })
    }

    /// Connections subscribed to `room` on this node.
    pub fn room_subscribers(&self, room: &str) -> usize {
        self.inner.ws_per_room.get(&room.to_string())
    }

    fn http_gate(&self) -> &Arc<Semaphore> {
        &self.inner.http
    }
}

/// A held admission; dropping it gives the capacity back.
#[derive(Debug)]
pub struct Slot {
    _held: Vec<Box<dyn Release>>,
}

trait Release: std::fmt::Debug + Send + Sync {}

/// Counts per key, with the key removed at zero so the map stays small.
#[derive(Debug)]
struct Counts<K: Eq + Hash> {
    map: Mutex<HashMap<K, usize>>,
}

impl<K: Eq + Hash> Default for Counts<K> {
    fn default() -> Self {
        Counts { map: Mutex::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash + Clone + std::fmt::Debug + Send + Sync + 'static> Counts<K> {
    fn take(counts: &Arc<Counts<K>>, key: K, max: usize) -> Option<Box<dyn Release>> {
        let mut map = counts.map.lock().unwrap_or_else(|e| e.into_inner());
        let count = map.entry(key.clone()).or_insert(0);
        if *count >= max {
            if *count == 0 {
                map.remove(&key);
            }
            return None;
        }
        *count += 1;
        Some(Box::new(Held { counts: Arc::clone(counts), key }))
    }

    fn get(&self, key: &K) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).get(key).copied().unwrap_or(0)
    }

    fn give_back(&self, key: &K) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = map.get_mut(key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(key);
            }
        }
    }
}

struct Held<K: Eq + Hash + Clone + std::fmt::Debug + Send + Sync + 'static> {
    counts: Arc<Counts<K>>,
    key: K,
}

impl<K: Eq + Hash + Clone + std::fmt::Debug + Send + Sync + 'static> std::fmt::Debug for Held<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").field("key", &self.key).finish()
    }
}

impl<K: Eq + Hash + Clone + std::fmt::Debug + Send + Sync + 'static> Release for Held<K> {}

impl<K: Eq + Hash + Clone + std::fmt::Debug + Send + Sync + 'static> Drop for Held<K> {
    fn drop(&mut self) {
        self.counts.give_back(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(per_ip: usize, per_room: usize, total: usize) -> Admission {
        Admission::new(&AdmissionSettings { ws_max_per_ip: per_ip, ws_max_per_room: per_room, ws_max_connections: total, ..Default::default() })
    }

    #[test]
    fn an_address_at_its_cap_is_refused_until_one_of_its_connections_ends() {
        let admission = caps(2, 10, 10);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let first = admission.ws_connection(ip).unwrap();
        let _second = admission.ws_connection(ip).unwrap();
        assert_eq!(admission.ws_connection(ip).unwrap_err(), Refused::AddressFull);
        assert!(admission.ws_connection([10, 0, 0, 2].into()).is_ok(), "another address is not affected");
        drop(first);
        assert!(admission.ws_connection(ip).is_ok());
    }

    #[test]
    fn a_loopback_address_is_capped_only_by_the_node() {
        let admission = caps(1, 10, 3);
        let local: IpAddr = [127, 0, 0, 1].into();
        let _held: Vec<Slot> = (0..3).map(|_| admission.ws_connection(local).unwrap()).collect();
        assert_eq!(admission.ws_connection(local).unwrap_err(), Refused::NodeFull);
    }

    #[test]
    fn the_node_cap_counts_every_address_and_a_refusal_holds_nothing() {
        let admission = caps(10, 10, 2);
        let _a = admission.ws_connection([10, 0, 0, 1].into()).unwrap();
        let _b = admission.ws_connection([10, 0, 0, 2].into()).unwrap();
        assert_eq!(admission.ws_connection([10, 0, 0, 3].into()).unwrap_err(), Refused::NodeFull);
        assert_eq!(admission.ws_connection([10, 0, 0, 3].into()).unwrap_err(), Refused::NodeFull, "a refusal did not leak a slot");
    }

    #[test]
    fn a_refused_address_gives_back_its_node_slot() {
        let admission = caps(1, 10, 2);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let _held = admission.ws_connection(ip).unwrap();
        assert_eq!(admission.ws_connection(ip).unwrap_err(), Refused::AddressFull);
        assert!(admission.ws_connection([10, 0, 0, 2].into()).is_ok(), "the refused attempt did not keep the node's second slot");
    }

    #[test]
    fn a_full_room_refuses_subscribers_and_other_rooms_are_not_affected() {
        let admission = caps(10, 1, 10);
        let held = admission.room_subscription("show").unwrap();
        assert_eq!(admission.room_subscription("show").unwrap_err(), Refused::RoomFull);
        assert!(admission.room_subscription("other").is_ok());
        assert_eq!(admission.room_subscribers("show"), 1);
        drop(held);
        assert_eq!(admission.room_subscribers("show"), 0);
        assert!(admission.room_subscription("show").is_ok());
    }
}
