//! Where a peer's str0m `Rtc` lives (on the driver, or on an egress shard), the
//! one UDP socket's send side, and the poll step the driver and the shards share:
//! run the engine until it has an event for its owner or waits on a future timeout.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use str0m::net::Protocol;
use str0m::{Event, Input, Output, Rtc};

use super::shard::{Control, ShardLink};
use super::timers::Timers;
use crate::sfu::room::PeerId;

/// A peer's engine: here, on the driver, or handed to an egress shard, where the
/// driver knows only whether it is still alive; or dropped after it panicked.
pub(super) enum Engine {
    Here(Box<Rtc>),
    Sharded { id: PeerId, link: ShardLink, alive: bool },
    Failed,
}

impl Engine {
    pub fn here(rtc: Rtc) -> Engine {
        Engine::Here(Box::new(rtc))
    }

    pub fn is_alive(&self) -> bool {
        match self {
            Engine::Here(rtc) => rtc.is_alive(),
            Engine::Sharded { alive, .. } => *alive,
            Engine::Failed => false,
        }
    }

    /// Ends the peer: at once here, by a message to its shard otherwise.
    pub fn disconnect(&mut self) {
        match self {
            Engine::Here(rtc) => rtc.disconnect(),
            Engine::Sharded { id, link, alive } => {
                if std::mem::take(alive) {
                    link.control(Control::Disconnect(*id));
                }
            }
            Engine::Failed => {}
        }
    }

    /// The `Rtc` when it is on the driver (participants' peers and publishers always are).
    pub fn local(&mut self) -> Option<&mut Rtc> {
        match self {
            Engine::Here(rtc) => Some(&mut **rtc),
            Engine::Sharded { .. } | Engine::Failed => None,
        }
    }

    pub fn local_ref(&self) -> Option<&Rtc> {
        match self {
            Engine::Here(rtc) => Some(&**rtc),
            Engine::Sharded { .. } | Engine::Failed => None,
        }
    }

    pub fn shard(&self) -> Option<&ShardLink> {
        match self {
            Engine::Sharded { link, alive: true, .. } => Some(link),
            _ => None,
        }
    }
}

/// The send side of the one UDP socket (a duplicate of its descriptor, so the driver
/// and every shard send from the same address and port).
///
/// Consecutive datagrams to one address (a frame's packets to one viewer: str0m does
/// not pace viewers without bandwidth estimation) leave in one UDP GSO send: the
/// kernel is crossed once per frame instead of once per packet. The caller flushes
/// whenever it stops polling an engine.
pub(super) struct UdpOut {
    socket: std::net::UdpSocket,
    state: Arc<quinn_udp::UdpSocketState>,
    batch: Vec<u8>,
    route: Option<(SocketAddr, IpAddr)>,
    segment: usize,
    segments: usize,
}

/// Most bytes in one GSO send (the kernel's limit is 64 KiB).
const MAX_BATCH_BYTES: usize = 60_000;

impl UdpOut {
    pub fn new(socket: &std::net::UdpSocket, state: Arc<quinn_udp::UdpSocketState>) -> std::io::Result<UdpOut> {
        Ok(UdpOut { socket: socket.try_clone()?, state, batch: Vec::with_capacity(MAX_BATCH_BYTES), route: None, segment: 0, segments: 0 })
    }

    /// Queues one datagram; it goes out with the datagrams to the same address right
    /// after it, or alone.
    pub fn send(&mut self, destination: SocketAddr, source: SocketAddr, contents: &[u8]) {
        let route = (destination, source.ip());
        let max_segments = self.state.max_gso_segments();
        // GSO cuts the buffer into equal segments; only the last may be shorter.
        let joins = self.route == Some(route) && contents.len() <= self.segment && self.segments < max_segments && self.batch.len() + contents.len() <= MAX_BATCH_BYTES;
        if !joins {
            self.flush();
        }
        if self.segments == 0 {
            self.route = Some(route);
            self.segment = contents.len();
        }
        self.batch.extend_from_slice(contents);
        self.segments += 1;
        if contents.len() < self.segment || max_segments <= 1 {
            self.flush();
        }
    }

    /// Sends what is queued; dropped (and counted) when the socket buffer is full.
    pub fn flush(&mut self) {
        let Some((destination, src_ip)) = self.route.take() else { return };
        let segment_size = (self.segments > 1).then_some(self.segment);
        let transmit = quinn_udp::Transmit { destination, ecn: None, contents: &self.batch, segment_size, src_ip: Some(src_ip) };
        if self.state.try_send((&self.socket).into(), &transmit).is_err() {
            metrics::counter!("sfu_udp_send_dropped_total").increment(self.segments as u64);
        }
        self.batch.clear();
        self.segments = 0;
    }
}

/// How many times one drain hands a peer an already-due timeout (str0m's pacer asks
/// for one after every packet) before leaving the rest to the next wake-up.
const IMMEDIATE_TIMEOUTS: usize = 64;

/// What one peer's engine has for its owner.
pub(super) enum Step {
    Event(Event),
    /// It waits on a timeout in the future, now filed in the timers.
    Waiting,
    /// It is no longer alive (or just failed and was disconnected).
    Dead,
    /// It panicked: its owner must drop it (and nothing else is disturbed).
    Panicked,
}

/// Runs one call into a peer's engine, turning a panic into `None` (logged and
/// counted): a bug reached by one peer's input must cost that peer only, never the
/// driver or shard with every other peer on it.
pub(super) fn guarded<T>(call: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(value) => Some(value),
        Err(_) => {
            tracing::error!("a peer's WebRTC engine panicked; dropping that peer");
            metrics::counter!("sfu_engine_panics_total").increment(1);
            None
        }
    }
}

/// One peer being polled: its id, engine, filed timeout and how many due timeouts
/// this drain already handed it.
pub(super) struct Polled<'a> {
    pub id: PeerId,
    pub rtc: &'a mut Rtc,
    pub timeout: &'a mut Instant,
    pub immediate: &'a mut usize,
}

/// Polls the engine until it has an event, waits, or dies. UDP transmits go out
/// through `udp`; others (ICE-TCP) to `tcp`.
pub(super) fn step(peer: Polled<'_>, timers: &mut Timers, udp: &mut UdpOut, tcp: impl FnMut(SocketAddr, &[u8])) -> Step {
    let step = guarded(|| poll(peer, timers, udp, tcp)).unwrap_or(Step::Panicked);
    udp.flush();
    step
}

fn poll(peer: Polled<'_>, timers: &mut Timers, udp: &mut UdpOut, mut tcp: impl FnMut(SocketAddr, &[u8])) -> Step {
    let Polled { id, rtc, timeout, immediate } = peer;
    for _ in 0..100_000 {
        if !rtc.is_alive() {
            return Step::Dead;
        }
        match rtc.poll_output() {
            Ok(Output::Timeout(t)) => {
                // Already due (the pacer asks for one after each packet it releases):
                // hand it over now instead of waking up again for it.
                let now = Instant::now();
                if t <= now && *immediate < IMMEDIATE_TIMEOUTS {
                    *immediate += 1;
                    hand(rtc, Input::Timeout(now));
                    continue;
                }
                timers.reschedule(id, Some(*timeout), t);
                *timeout = t;
                return Step::Waiting;
            }
            Ok(Output::Transmit(t)) if t.proto != Protocol::Udp => tcp(t.destination, &t.contents),
            Ok(Output::Transmit(t)) => udp.send(t.destination, t.source, &t.contents),
            Ok(Output::Event(event)) => return Step::Event(event),
            Err(e) => {
                tracing::debug!(error = %e, "peer failed; disconnecting it");
                rtc.disconnect();
                return Step::Dead;
            }
        }
    }
    // Still busy after that many outputs: come back to it at the next wake-up.
    let now = Instant::now();
    timers.reschedule(id, Some(*timeout), now);
    *timeout = now;
    Step::Waiting
}

/// Hands input (a datagram or a due timeout) to the engine; one that fails on it is
/// disconnected. False if it panicked (its owner drops it).
pub(super) fn feed(rtc: &mut Rtc, input: Input<'_>) -> bool {
    guarded(|| hand(rtc, input)).is_some()
}

/// `feed` without the panic guard (for callers already under one).
fn hand(rtc: &mut Rtc, input: Input<'_>) {
    if let Err(e) = rtc.handle_input(input) {
        tracing::debug!(error = %e, "peer input failed; disconnecting it");
        rtc.disconnect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver() -> std::net::UdpSocket {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        socket
    }

    fn received(socket: &std::net::UdpSocket, count: usize) -> Vec<Vec<u8>> {
        let mut buf = [0u8; 2048];
        (0..count).map(|_| socket.recv(&mut buf).map(|n| buf[..n].to_vec()).unwrap()).collect()
    }

    #[test]
    fn a_panic_inside_an_engine_call_becomes_none_and_the_caller_goes_on() {
        assert_eq!(guarded(|| 7), Some(7));
        let panicked: Option<()> = guarded(|| panic!("a bug reached by one peer's input"));
        assert_eq!(panicked, None);
        assert_eq!(guarded(|| "still serving"), Some("still serving"));
    }

    #[test]
    fn batched_datagrams_arrive_one_by_one_in_order_at_each_address() {
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let state = Arc::new(quinn_udp::UdpSocketState::new((&sender).into()).unwrap());
        let mut out = UdpOut::new(&sender, state).unwrap();
        let (a, b) = (receiver(), receiver());
        let source = sender.local_addr().unwrap();
        // A frame to `a` (three full packets and a short last one), audio to `b`, more to `a`.
        let to_a: Vec<Vec<u8>> = vec![vec![1; 1000], vec![2; 1000], vec![3; 1000], vec![4; 300], vec![5; 1000]];
        for datagram in &to_a[..4] {
            out.send(a.local_addr().unwrap(), source, datagram);
        }
        out.send(b.local_addr().unwrap(), source, &[9; 80]);
        out.send(a.local_addr().unwrap(), source, &to_a[4]);
        out.flush();
        assert_eq!(received(&a, 5), to_a);
        assert_eq!(received(&b, 1), vec![vec![9; 80]]);
    }
}
