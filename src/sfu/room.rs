//! `Room`: one publisher's `Receiver`s fanned out to each viewer's `DownTrack`s.
//! Sans-IO: the shell feeds it frames, keyframe requests and bandwidth
//! estimates with `now`, and carries out the `RoomOutput`s it returns.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use str0m::media::{MediaKind, Mid};

use super::cap::{layers_within, CapWatch};
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

impl LayerStats {
    /// The last full window's bitrate; before the first one completes, an estimate from
    /// the window so far (as if its frames came at least 33 ms apart), so a viewer
    /// joining a fresh stream is not placed blindly. Never 0.
    fn bitrate(&self, now: Instant) -> u64 {
        if self.bitrate > 0 {
            return self.bitrate;
        }
        let elapsed_ms = (now.saturating_duration_since(self.window_start).as_millis() as u64).max(33);
        (self.window_bytes * 8 * 1000 / elapsed_ms).max(1)
    }
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
            .map(|l| (l.layer, l.bitrate(now)))
            .collect()
    }

    /// What this track brings in now, over its active layers (bits/s).
    fn bitrate(&self, now: Instant) -> u64 {
        self.active_layers(now).iter().map(|(_, bps)| bps).sum()
    }

    /// What it would bring in with every droppable layer dropped: its lowest active layer.
    fn minimum_bitrate(&self, now: Instant) -> u64 {
        self.active_layers(now).iter().map(|(_, bps)| *bps).min().unwrap_or(0)
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
    kind: MediaKind,
    /// The published track feeding it; None between a publisher's replacement and the
    /// new publisher's track of this kind.
    source: Option<Mid>,
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
    cap: Option<CapWatch>,
}

impl Room {
    pub fn publisher(&self) -> Option<PeerId> {
        self.publisher
    }

    /// Caps what the publisher may send (bits/s), from its next frame; `None` lifts the cap.
    pub fn set_bitrate_cap(&mut self, bits_per_second: Option<u64>) {
        self.cap = bits_per_second.map(CapWatch::new);
    }

    /// The layer of track `mid` a viewer with unlimited bandwidth would get now.
    pub fn top_layer(&self, mid: Mid, now: Instant) -> Option<Layer> {
        pick_layer(&self.receivers.get(&mid)?.active_layers(now), None)
    }

    /// The publisher's video tracks and layers (to tell each the cap).
    pub fn video_layers(&self) -> Vec<(Mid, Layer)> {
        self.receivers.iter().filter(|(_, r)| r.kind == MediaKind::Video).flat_map(|(mid, r)| r.layers.iter().map(|l| (*mid, l.layer))).collect()
    }

    /// True once, when the publisher has stayed too far over its cap, even with its top
    /// layers dropped, for `cap::CLOSE_AFTER`: the shell disconnects it.
    pub fn poll_over_cap(&mut self, now: Instant) -> bool {
        let Some(cap) = self.cap.as_mut() else { return false };
        if self.publisher.is_none() {
            return false;
        }
        let minimum: u64 = self
            .receivers
            .values()
            .map(|r| if r.kind == MediaKind::Video { r.minimum_bitrate(now) } else { r.bitrate(now) })
            .sum();
        cap.check(minimum, now)
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

    /// A new publisher takes over the room; returns the one it replaced. Viewers stay:
    /// their tracks are fed from the new publisher's tracks as they are added, starting
    /// at each one's first keyframe, on the same timeline they were watching.
    pub fn replace_publisher(&mut self, peer: PeerId) -> Option<PeerId> {
        let old = self.publisher.replace(peer);
        self.receivers.clear();
        self.last_media = None;
        self.stalled = false;
        for track in &mut self.down_tracks {
            if let Some(forwarder) = track.forwarder.as_mut() {
                forwarder.restart_source();
            }
            track.last_evaluated = None;
            track.source = None;
        }
        old
    }

    /// The publisher announced a track. Viewer tracks left without a source (after a
    /// replacement) are fed from it if it is the first of their kind.
    pub fn add_receiver(&mut self, mid: Mid, kind: MediaKind) {
        self.receivers.entry(mid).or_insert(Receiver { kind, layers: Vec::new() });
        for track in self.down_tracks.iter_mut().filter(|t| t.kind == kind && t.source.is_none()) {
            track.source = Some(mid);
        }
    }

    /// A viewer joined with these send tracks; each is fed from the first published
    /// track of its kind. Video tracks get a keyframe requested so the first frame comes soon.
    pub fn add_viewer(&mut self, viewer: PeerId, tracks: &[(Mid, MediaKind)], now: Instant) -> Vec<RoomOutput> {
        self.viewers.insert(viewer, Viewer::default());
        let mut out = Vec::new();
        for (mid, kind) in tracks {
            let Some((&source, receiver)) = self.receivers.iter_mut().find(|(_, r)| r.kind == *kind) else { continue };
            self.down_tracks.push(DownTrack { viewer, mid: *mid, kind: *kind, source: Some(source), forwarder: None, last_evaluated: None });
            if *kind == MediaKind::Video {
                let layer = pick_layer(&receiver.active_layers(now), None).unwrap_or(None);
                out.extend(receiver.request_keyframe(source, layer, now));
            }
        }
        out
    }

    /// Which viewers get this frame, and any keyframe requests it causes.
    pub fn on_frame(&mut self, frame: FrameIn, now: Instant, out: &mut Vec<RoomOutput>) {
        // What this track may use of the cap: the cap less what the others bring in.
        let budget = self.cap.as_ref().map(|cap| {
            let others: u64 = self.receivers.iter().filter(|(mid, _)| **mid != frame.mid).map(|(_, r)| r.bitrate(now)).sum();
            cap.cap_bps().saturating_sub(others)
        });
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
        for track in self.down_tracks.iter_mut().filter(|t| t.source == Some(frame.mid)) {
            let forwarder = track.forwarder.get_or_insert_with(|| Forwarder::new(frame.clock_rate));
            if kind == MediaKind::Audio {
                // Audio has no layers and every frame stands alone: pass it through, on one
                // timeline even when the publisher is replaced.
                forwarder.set_target(frame.layer);
                if let Verdict::Forward { time } = forwarder.on_frame(frame.layer, true, frame.time, now) {
                    out.push(RoomOutput::Forward { viewer: track.viewer, mid: track.mid, time });
                }
                continue;
            }
            let due = track.last_evaluated.is_none_or(|at| now.saturating_duration_since(at) >= REEVALUATE_EVERY);
            if due {
                track.last_evaluated = Some(now);
                let estimate = self.viewers.get(&track.viewer).and_then(|v| v.bandwidth);
                let layers = match budget {
                    Some(budget) => layers_within(&receiver.active_layers(now), budget),
                    None => receiver.active_layers(now),
                };
                let best = pick_layer(&layers, estimate).unwrap_or(frame.layer);
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
        let source = track.source?;
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
    fn a_capped_publishers_top_layer_is_not_forwarded() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut room = room_with_publisher();
        // l ≈ 144 kbps, m ≈ 600 kbps, h ≈ 2.4 Mbps: l + m fit 1 Mbps, h does not.
        room.set_bitrate_cap(Some(1_000_000));
        room.add_viewer(VIEWER, &[(Mid::from("v"), MediaKind::Video)], t0);
        for s in 0..4u32 {
            one_second_of_simulcast(&mut room, t0 + second * s, u64::from(s) * 90_000, &[0]);
        }
        assert_eq!(room.current_layer(VIEWER, Mid::from("v")), Some(rid("m")), "the best layer within the cap");
        assert!(!room.poll_over_cap(t0 + second * 4), "dropping h brings it under the cap");
    }

    #[test]
    fn a_publisher_whose_lowest_layer_exceeds_the_cap_is_closed_after_a_while() {
        let t0 = Instant::now();
        let mut room = room_with_publisher();
        room.set_bitrate_cap(Some(100_000));
        let mut out = Vec::new();
        // One layer at ≈ 2.4 Mbps for twelve seconds.
        let mut closed_at = None;
        for i in 0..360u64 {
            let now = t0 + Duration::from_millis(i * 33);
            room.on_frame(frame(None, i % 30 == 0, i * 3000, 10_000), now, &mut out);
            if room.poll_over_cap(now) {
                closed_at.get_or_insert(now);
            }
        }
        let closed_at = closed_at.expect("closed");
        assert!(closed_at.duration_since(t0) >= super::super::cap::CLOSE_AFTER, "not before the grace period");
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
    fn a_replacing_publisher_feeds_the_same_viewers_from_its_first_keyframe_on_one_timeline() {
        let t0 = Instant::now();
        let mut room = room_with_publisher();
        room.add_viewer(VIEWER, &[(Mid::from("a"), MediaKind::Audio), (Mid::from("v"), MediaKind::Video)], t0);
        let mut out = Vec::new();
        room.on_frame(frame(None, true, 90_000, 1000), t0, &mut out);
        assert_eq!(forwarded_to(&out, VIEWER), vec![90_000]);

        assert_eq!(room.replace_publisher(PeerId(7)), Some(PUBLISHER));
        // The newcomer numbers its sections the other way round: video "0", audio "1".
        room.add_receiver(Mid::from("0"), MediaKind::Video);
        room.add_receiver(Mid::from("1"), MediaKind::Audio);
        let later = t0 + Duration::from_millis(100);
        let mut out = Vec::new();
        let new_video = |keyframe, time| FrameIn { mid: Mid::from("0"), ..frame(None, keyframe, time, 1000) };
        room.on_frame(new_video(false, 5), later, &mut out);
        assert!(forwarded_to(&out, VIEWER).is_empty(), "nothing before the newcomer's keyframe");
        assert!(keyframe_requests(&out) >= 1, "and the newcomer is asked for one");
        out.clear();
        room.on_frame(new_video(true, 5), later, &mut out);
        let audio = FrameIn { mid: Mid::from("1"), layer: None, keyframe: false, contiguous: true, time: 77, clock_rate: 48_000, bytes: 80 };
        room.on_frame(audio, later, &mut out);
        let video_out: Vec<_> = out.iter().filter(|o| matches!(o, RoomOutput::Forward { mid, .. } if *mid == Mid::from("v"))).collect();
        let audio_out: Vec<_> = out.iter().filter(|o| matches!(o, RoomOutput::Forward { mid, .. } if *mid == Mid::from("a"))).collect();
        assert_eq!(video_out, vec![&RoomOutput::Forward { viewer: VIEWER, mid: Mid::from("v"), time: 90_000 + 9_000 }], "video continues the timeline");
        assert_eq!(audio_out.len(), 1, "audio goes to the audio track only");
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
