//! `Room`: one publisher's `Receiver`s fanned out to each viewer's `DownTrack`s.
//! Sans-IO: the shell feeds it frames, keyframe requests and bandwidth
//! estimates with `now`, and carries out the `RoomOutput`s it returns.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use str0m::media::{MediaKind, Mid};

use super::forwarder::{pick_layer, Forwarder, Layer, Verdict};
use super::keyframe::KeyframeThrottle;

/// A peer connection (publisher or viewer), unique in the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u64);

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomOutput {
    /// Write the frame being handled to this viewer's track, stamped `time`.
    Forward { viewer: PeerId, mid: Mid, time: u64 },
    /// Ask the publisher for a keyframe on its track `mid`, layer `layer`.
    RequestKeyframe { mid: Mid, layer: Layer },
}

/// One frame from the publisher, as the shell saw it.
#[derive(Debug, Clone, Copy)]
pub struct FrameIn {
    pub mid: Mid,
    pub layer: Layer,
    pub keyframe: bool,
    /// False when packets were lost before this frame.
    pub contiguous: bool,
    pub time: u64,
    pub clock_rate: u32,
    pub bytes: usize,
}

/// Window over which a layer's bitrate is measured; a layer silent for two is inactive.
const BITRATE_WINDOW: Duration = Duration::from_secs(1);
/// How often a viewer's layer choice is revisited as layer bitrates move.
const REEVALUATE_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct LayerStats {
    layer: Layer,
    window_start: Instant,
    window_bytes: u64,
    bitrate: u64,
    last_frame: Instant,
    throttle: KeyframeThrottle,
}

/// One published track.
#[derive(Debug)]
struct Receiver {
    kind: MediaKind,
    layers: Vec<LayerStats>,
}

impl Receiver {
    fn active_layers(&self, now: Instant) -> Vec<(Layer, u64)> {
        self.layers
            .iter()
            .filter(|l| now.saturating_duration_since(l.last_frame) < 2 * BITRATE_WINDOW)
            .map(|l| (l.layer, l.bitrate.max(1)))
            .collect()
    }

    fn layer_mut(&mut self, layer: Layer, now: Instant) -> &mut LayerStats {
        let index = match self.layers.iter().position(|l| l.layer == layer) {
            Some(i) => i,
            None => {
                self.layers.push(LayerStats {
                    layer,
                    window_start: now,
                    window_bytes: 0,
                    bitrate: 0,
                    last_frame: now,
                    throttle: KeyframeThrottle::default(),
                });
                self.layers.len() - 1
            }
        };
        &mut self.layers[index]
    }

    fn request_keyframe(&mut self, mid: Mid, layer: Layer, now: Instant) -> Option<RoomOutput> {
        let stats = self.layer_mut(layer, now);
        stats.throttle.try_request(now).then_some(RoomOutput::RequestKeyframe { mid, layer })
    }
}

/// One viewer's copy of one published track.
#[derive(Debug)]
struct DownTrack {
    viewer: PeerId,
    mid: Mid,
    source: Mid,
    forwarder: Option<Forwarder>,
    last_evaluated: Option<Instant>,
}

#[derive(Debug, Default)]
struct Viewer {
    bandwidth: Option<u64>,
}

/// How long a live publisher may send nothing before its stream counts as stalled.
pub const STALL_AFTER: Duration = Duration::from_secs(5);

/// Changes in a live stream's flow, for the room's observers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvent {
    /// No media from the publisher for `STALL_AFTER`.
    Stalled,
    /// Media flows again after a stall.
    Resumed,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RoomError {
    #[error("the room already has a publisher")]
    PublisherExists,
}

#[derive(Debug, Default)]
pub struct Room {
    publisher: Option<PeerId>,
    receivers: BTreeMap<Mid, Receiver>,
    viewers: BTreeMap<PeerId, Viewer>,
    down_tracks: Vec<DownTrack>,
    last_media: Option<Instant>,
    stalled: bool,
}

impl Room {
    pub fn publisher(&self) -> Option<PeerId> {
        self.publisher
    }

    pub fn viewer_count(&self) -> usize {
        self.viewers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.publisher.is_none() && self.viewers.is_empty()
    }

    pub fn set_publisher(&mut self, peer: PeerId) -> Result<(), RoomError> {
        if self.publisher.is_some() {
            return Err(RoomError::PublisherExists);
        }
        self.publisher = Some(peer);
        Ok(())
    }

    /// The publisher announced a track.
    pub fn add_receiver(&mut self, mid: Mid, kind: MediaKind) {
        self.receivers.entry(mid).or_insert(Receiver { kind, layers: Vec::new() });
    }

    /// A viewer joined with these send tracks; each is fed from the first published
    /// track of its kind. Video tracks get a keyframe requested so the first frame comes soon.
    pub fn add_viewer(&mut self, viewer: PeerId, tracks: &[(Mid, MediaKind)], now: Instant) -> Vec<RoomOutput> {
        self.viewers.insert(viewer, Viewer::default());
        let mut out = Vec::new();
        for (mid, kind) in tracks {
            let Some((&source, receiver)) = self.receivers.iter_mut().find(|(_, r)| r.kind == *kind) else { continue };
            self.down_tracks.push(DownTrack { viewer, mid: *mid, source, forwarder: None, last_evaluated: None });
            if *kind == MediaKind::Video {
                let layer = pick_layer(&receiver.active_layers(now), None).unwrap_or(None);
                out.extend(receiver.request_keyframe(source, layer, now));
            }
        }
        out
    }

    /// Which viewers get this frame, and any keyframe requests it causes.
    pub fn on_frame(&mut self, frame: FrameIn, now: Instant, out: &mut Vec<RoomOutput>) {
        let Some(receiver) = self.receivers.get_mut(&frame.mid) else { return };
        self.last_media = Some(now);
        let kind = receiver.kind;
        let stats = receiver.layer_mut(frame.layer, now);
        stats.last_frame = now;
        stats.window_bytes += frame.bytes as u64;
        let elapsed = now.saturating_duration_since(stats.window_start);
        if elapsed >= BITRATE_WINDOW {
            stats.bitrate = stats.window_bytes * 8 * 1000 / (elapsed.as_millis().max(1) as u64);
            stats.window_bytes = 0;
            stats.window_start = now;
        }
        if !frame.contiguous && kind == MediaKind::Video {
            out.extend(receiver.request_keyframe(frame.mid, frame.layer, now));
        }
        for track in self.down_tracks.iter_mut().filter(|t| t.source == frame.mid) {
            if kind == MediaKind::Audio {
                // Audio has no layers and needs no keyframes: pass it through.
                out.push(RoomOutput::Forward { viewer: track.viewer, mid: track.mid, time: frame.time });
                continue;
            }
            let forwarder = track.forwarder.get_or_insert_with(|| Forwarder::new(frame.clock_rate));
            let due = track.last_evaluated.is_none_or(|at| now.saturating_duration_since(at) >= REEVALUATE_EVERY);
            if due {
                track.last_evaluated = Some(now);
                let estimate = self.viewers.get(&track.viewer).and_then(|v| v.bandwidth);
                let best = pick_layer(&receiver.active_layers(now), estimate).unwrap_or(frame.layer);
                if forwarder.set_target(best) {
                    out.extend(receiver.request_keyframe(frame.mid, best, now));
                }
            }
            match forwarder.on_frame(frame.layer, frame.keyframe, frame.time, now) {
                Verdict::Forward { time } => out.push(RoomOutput::Forward { viewer: track.viewer, mid: track.mid, time }),
                Verdict::Drop { needs_keyframe: true } => out.extend(receiver.request_keyframe(frame.mid, frame.layer, now)),
                Verdict::Drop { needs_keyframe: false } => {}
            }
        }
    }

    /// The layer a viewer's track is receiving now (None before its first keyframe).
    pub fn current_layer(&self, viewer: PeerId, mid: Mid) -> Option<Layer> {
        self.down_tracks.iter().find(|t| t.viewer == viewer && t.mid == mid)?.forwarder.as_ref()?.current()
    }

    /// A viewer sent PLI/FIR on one of its tracks: ask the publisher, throttled per track layer.
    pub fn on_keyframe_request(&mut self, viewer: PeerId, mid: Mid, now: Instant) -> Option<RoomOutput> {
        let track = self.down_tracks.iter().find(|t| t.viewer == viewer && t.mid == mid)?;
        let layer = track.forwarder.as_ref().and_then(|f| f.current().or(f.target())).unwrap_or(None);
        let source = track.source;
        self.receivers.get_mut(&source)?.request_keyframe(source, layer, now)
    }

    /// The viewer's available outgoing bandwidth (bits/s), from the engine's estimator.
    /// Takes effect at the viewer's next frame.
    pub fn on_bandwidth_estimate(&mut self, viewer: PeerId, bits_per_second: u64) {
        if let Some(v) = self.viewers.get_mut(&viewer) {
            v.bandwidth = Some(bits_per_second);
            for track in self.down_tracks.iter_mut().filter(|t| t.viewer == viewer) {
                track.last_evaluated = None;
            }
        }
    }

    /// Whether the stream just stalled or resumed; the shell calls this at least every
    /// second or so. A stream that never sent media has not stalled: it has not started.
    pub fn poll_stream_event(&mut self, now: Instant) -> Option<StreamEvent> {
        let last = self.last_media.filter(|_| self.publisher.is_some())?;
        let silent = now.saturating_duration_since(last) >= STALL_AFTER;
        match (self.stalled, silent) {
            (false, true) => {
                self.stalled = true;
                Some(StreamEvent::Stalled)
            }
            (true, false) => {
                self.stalled = false;
                Some(StreamEvent::Resumed)
            }
            _ => None,
        }
    }

    /// A peer left. Returns true when it was the publisher (the room goes dark).
    pub fn remove_peer(&mut self, peer: PeerId) -> bool {
        if self.publisher == Some(peer) {
            self.publisher = None;
            self.receivers.clear();
            self.down_tracks.clear();
            self.last_media = None;
            self.stalled = false;
            return true;
        }
        self.viewers.remove(&peer);
        self.down_tracks.retain(|t| t.viewer != peer);
        false
    }
}

#[cfg(test)]
mod tests {
    use str0m::media::Rid;

    use super::*;

    const PUBLISHER: PeerId = PeerId(1);
    const VIEWER: PeerId = PeerId(2);

    fn video_mid() -> Mid {
        Mid::from("1")
    }
    fn audio_mid() -> Mid {
        Mid::from("0")
    }
    fn rid(s: &str) -> Layer {
        Some(Rid::from(s))
    }

    fn frame(layer: Layer, keyframe: bool, time: u64, bytes: usize) -> FrameIn {
        FrameIn { mid: video_mid(), layer, keyframe, contiguous: true, time, clock_rate: 90_000, bytes }
    }

    fn room_with_publisher() -> Room {
        let mut room = Room::default();
        room.set_publisher(PUBLISHER).unwrap();
        room.add_receiver(audio_mid(), MediaKind::Audio);
        room.add_receiver(video_mid(), MediaKind::Video);
        room
    }

    fn forwarded_to(out: &[RoomOutput], viewer: PeerId) -> Vec<u64> {
        out.iter()
            .filter_map(|o| match o {
                RoomOutput::Forward { viewer: v, time, .. } if *v == viewer => Some(*time),
                _ => None,
            })
            .collect()
    }

    fn keyframe_requests(out: &[RoomOutput]) -> usize {
        out.iter().filter(|o| matches!(o, RoomOutput::RequestKeyframe { .. })).count()
    }

    #[test]
    fn a_second_publisher_is_refused() {
        let mut room = room_with_publisher();
        assert_eq!(room.set_publisher(PeerId(9)), Err(RoomError::PublisherExists));
    }

    #[test]
    fn a_joining_viewer_triggers_a_keyframe_request() {
        let now = Instant::now();
        let mut room = room_with_publisher();
        let out = room.add_viewer(VIEWER, &[(Mid::from("a"), MediaKind::Audio), (Mid::from("v"), MediaKind::Video)], now);
        assert_eq!(out, vec![RoomOutput::RequestKeyframe { mid: video_mid(), layer: None }]);
    }

    #[test]
    fn a_viewer_gets_video_from_the_first_keyframe_on() {
        let now = Instant::now();
        let mut room = room_with_publisher();
        room.add_viewer(VIEWER, &[(Mid::from("v"), MediaKind::Video)], now);
        let mut out = Vec::new();
        room.on_frame(frame(None, false, 100, 1000), now, &mut out);
        assert!(forwarded_to(&out, VIEWER).is_empty(), "a delta frame before any keyframe is useless");
        out.clear();
        room.on_frame(frame(None, true, 3100, 1000), now, &mut out);
        room.on_frame(frame(None, false, 6100, 1000), now, &mut out);
        assert_eq!(forwarded_to(&out, VIEWER), vec![3100, 6100]);
    }

    #[test]
    fn audio_is_forwarded_to_every_viewer_as_it_comes() {
        let now = Instant::now();
        let mut room = room_with_publisher();
        room.add_viewer(VIEWER, &[(Mid::from("a"), MediaKind::Audio)], now);
        room.add_viewer(PeerId(3), &[(Mid::from("a"), MediaKind::Audio)], now);
        let mut out = Vec::new();
        room.on_frame(FrameIn { mid: audio_mid(), layer: None, keyframe: false, contiguous: true, time: 960, clock_rate: 48_000, bytes: 80 }, now, &mut out);
        assert_eq!(forwarded_to(&out, VIEWER), vec![960]);
        assert_eq!(forwarded_to(&out, PeerId(3)), vec![960]);
    }

    #[test]
    fn keyframe_requests_from_many_viewers_reach_the_publisher_at_most_once_per_500ms() {
        let t0 = Instant::now();
        let mut room = room_with_publisher();
        for v in 10..20 {
            room.add_viewer(PeerId(v), &[(Mid::from("v"), MediaKind::Video)], t0);
        }
        // The joins themselves asked once.
        let later = t0 + Duration::from_millis(600);
        let requests: Vec<_> = (10..20).filter_map(|v| room.on_keyframe_request(PeerId(v), Mid::from("v"), later)).collect();
        assert_eq!(requests.len(), 1);
        assert!(room.on_keyframe_request(PeerId(10), Mid::from("v"), later + Duration::from_millis(499)).is_none());
        assert!(room.on_keyframe_request(PeerId(10), Mid::from("v"), later + Duration::from_millis(500)).is_some());
    }

    #[test]
    fn packet_loss_from_the_publisher_asks_it_for_a_keyframe() {
        let now = Instant::now();
        let mut room = room_with_publisher();
        let mut out = Vec::new();
        room.on_frame(FrameIn { contiguous: false, ..frame(None, false, 100, 1000) }, now, &mut out);
        assert_eq!(keyframe_requests(&out), 1);
    }

    /// Feeds one second of three simulcast layers at 30 fps; returns all outputs.
    fn one_second_of_simulcast(room: &mut Room, start: Instant, first_time: u64, keyframes_at: &[usize]) -> Vec<RoomOutput> {
        let mut out = Vec::new();
        for i in 0..30usize {
            let now = start + Duration::from_millis(i as u64 * 33);
            let key = keyframes_at.contains(&i);
            let time = first_time + i as u64 * 3000;
            // Each layer with its own timestamp base, as some encoders do.
            room.on_frame(frame(rid("l"), key, time, 600), now, &mut out);
            room.on_frame(frame(rid("m"), key, time + 1_000_000, 2500), now, &mut out);
            room.on_frame(frame(rid("h"), key, time + 2_000_000, 10_000), now, &mut out);
        }
        out
    }

    #[test]
    fn a_viewer_with_little_bandwidth_is_switched_down_at_a_keyframe_and_sees_continuous_timestamps() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut room = room_with_publisher();
        room.add_viewer(VIEWER, &[(Mid::from("v"), MediaKind::Video)], t0);
        // Warm up: layer bitrates get measured (l ≈ 144 kbps, m ≈ 600 kbps, h ≈ 2.4 Mbps)
        // and the viewer, with no estimate yet, settles on the highest layer.
        one_second_of_simulcast(&mut room, t0, 0, &[0]);
        one_second_of_simulcast(&mut room, t0 + second, 90_000, &[0]);
        one_second_of_simulcast(&mut room, t0 + 2 * second, 180_000, &[0]);
        let out = one_second_of_simulcast(&mut room, t0 + 3 * second, 270_000, &[0]);
        let before = forwarded_to(&out, VIEWER);
        assert_eq!(before.len(), 30, "one layer only: 30 frames in a second");
        assert_eq!(room.current_layer(VIEWER, Mid::from("v")), Some(rid("h")));

        room.on_bandwidth_estimate(VIEWER, 300_000);
        let out = one_second_of_simulcast(&mut room, t0 + 4 * second, 360_000, &[10]);
        assert!(keyframe_requests(&out) >= 1, "the switch asks for a keyframe on the new layer");
        let after = forwarded_to(&out, VIEWER);
        assert_eq!(after.len(), 30, "exactly one frame per tick, even while switching");
        assert_eq!(room.current_layer(VIEWER, Mid::from("v")), Some(rid("l")));
        let all: Vec<u64> = before.iter().chain(after.iter()).copied().collect();
        for pair in all.windows(2) {
            let step = pair[1].wrapping_sub(pair[0]);
            assert!((1..=6000).contains(&step), "timestamps advance smoothly across the switch: {pair:?}");
        }
    }

    #[test]
    fn viewers_are_switched_independently() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut room = room_with_publisher();
        room.add_viewer(VIEWER, &[(Mid::from("v"), MediaKind::Video)], t0);
        room.add_viewer(PeerId(3), &[(Mid::from("v"), MediaKind::Video)], t0);
        one_second_of_simulcast(&mut room, t0, 0, &[0]);
        one_second_of_simulcast(&mut room, t0 + second, 90_000, &[0]);
        room.on_bandwidth_estimate(VIEWER, 300_000);
        one_second_of_simulcast(&mut room, t0 + 2 * second, 180_000, &[0]);
        let out = one_second_of_simulcast(&mut room, t0 + 3 * second, 270_000, &[0]);
        let low: Vec<u64> = forwarded_to(&out, VIEWER);
        let high: Vec<u64> = forwarded_to(&out, PeerId(3));
        assert_eq!(low.len(), 30);
        assert_eq!(high.len(), 30);
        assert_eq!(room.current_layer(VIEWER, Mid::from("v")), Some(rid("l")), "the constrained viewer is on l");
        assert_eq!(room.current_layer(PeerId(3), Mid::from("v")), Some(rid("h")), "the other is on h");
    }

    #[test]
    fn a_silent_publisher_stalls_the_stream_once_and_media_resumes_it_once() {
        let t0 = Instant::now();
        let mut room = room_with_publisher();
        assert_eq!(room.poll_stream_event(t0 + Duration::from_secs(60)), None, "no media yet: not started, not stalled");
        let mut out = Vec::new();
        room.on_frame(frame(None, true, 0, 100), t0, &mut out);
        assert_eq!(room.poll_stream_event(t0 + Duration::from_millis(4_999)), None);
        assert_eq!(room.poll_stream_event(t0 + STALL_AFTER), Some(StreamEvent::Stalled));
        assert_eq!(room.poll_stream_event(t0 + Duration::from_secs(30)), None, "reported once");
        let back = t0 + Duration::from_secs(31);
        room.on_frame(frame(None, false, 90_000, 100), back, &mut out);
        assert_eq!(room.poll_stream_event(back), Some(StreamEvent::Resumed));
        assert_eq!(room.poll_stream_event(back + Duration::from_secs(1)), None);
    }

    #[test]
    fn when_the_publisher_leaves_nothing_more_is_forwarded() {
        let now = Instant::now();
        let mut room = room_with_publisher();
        room.add_viewer(VIEWER, &[(Mid::from("v"), MediaKind::Video)], now);
        assert!(room.remove_peer(PUBLISHER));
        let mut out = Vec::new();
        room.on_frame(frame(None, true, 1, 10), now, &mut out);
        assert!(out.is_empty());
        assert!(room.publisher().is_none());
    }
}
