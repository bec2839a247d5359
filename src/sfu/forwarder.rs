//! `Forwarder`: what one viewer's video `DownTrack` sends of a simulcast
//! publication. It switches layers only on a keyframe of the target layer and
//! rewrites RTP timestamps so the viewer sees one continuous stream. Sans-IO.
//!
//! Sequence numbers need no rewriting here: the engine (str0m, frame mode)
//! re-packetizes every forwarded frame and numbers each viewer's packets itself,
//! so a layer switch never shows as a gap or jump in sequence numbers.

use std::time::Instant;

use str0m::media::Rid;

/// A simulcast layer, by its RTP stream id; `None` when the track has no simulcast.
pub type Layer = Option<Rid>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the frame with this (rewritten) RTP timestamp.
    Forward { time: u64 },
    /// Do not send. `needs_keyframe` asks the publisher for a keyframe of the frame's layer.
    Drop { needs_keyframe: bool },
}

#[derive(Debug)]
pub struct Forwarder {
    clock_rate: u64,
    current: Option<Layer>,
    target: Option<Layer>,
    /// out = in + offset (wrapping, in RTP clock ticks).
    offset: u64,
    last_out: Option<(u64, Instant)>,
}

impl Forwarder {
    pub fn new(clock_rate: u32) -> Self {
        Forwarder { clock_rate: u64::from(clock_rate.max(1)), current: None, target: None, offset: 0, last_out: None }
    }

    pub fn current(&self) -> Option<Layer> {
        self.current
    }

    pub fn target(&self) -> Option<Layer> {
        self.target
    }

    /// Switch to `layer` at its next keyframe. Returns true when this changes the target.
    pub fn set_target(&mut self, layer: Layer) -> bool {
        if self.target == Some(layer) {
            return false;
        }
        self.target = Some(layer);
        true
    }

    /// The track's source changed (a replacing publisher): forward nothing until the
    /// new source's first keyframe, then continue the viewer's timeline from there.
    pub fn restart_source(&mut self) {
        self.current = None;
        self.target = None;
    }

    /// Decide what to do with a frame that arrived on `layer` at RTP `time`.
    pub fn on_frame(&mut self, layer: Layer, keyframe: bool, time: u64, now: Instant) -> Verdict {
        if self.current == Some(layer) {
            // The current layer keeps flowing until the target's keyframe arrives.
            return self.forward(time, now);
        }
        if self.target != Some(layer) {
            return Verdict::Drop { needs_keyframe: false };
        }
        if !keyframe {
            return Verdict::Drop { needs_keyframe: true };
        }
        // A keyframe of the target layer: switch here, continuing the viewer's timeline.
        self.offset = match self.last_out {
            Some((last_time, last_at)) => {
                let elapsed_ticks = (now.saturating_duration_since(last_at).as_micros() as u64)
                    .saturating_mul(self.clock_rate)
                    / 1_000_000;
                last_time.wrapping_add(elapsed_ticks.max(1)).wrapping_sub(time)
            }
            None => 0,
        };
        self.current = Some(layer);
        self.forward(time, now)
    }

    fn forward(&mut self, time: u64, now: Instant) -> Verdict {
        let out = time.wrapping_add(self.offset);
        self.last_out = Some((out, now));
        Verdict::Forward { time: out }
    }
}

/// The best layer for a bandwidth `estimate` (bits/s): the highest whose bitrate
/// fits, else the lowest. `layers` are the active ones with their measured bitrates.
/// Without an estimate, the highest.
pub fn pick_layer(layers: &[(Layer, u64)], estimate: Option<u64>) -> Option<Layer> {
    let mut sorted: Vec<(Layer, u64)> = layers.to_vec();
    sorted.sort_by_key(|(_, bps)| *bps);
    let highest = sorted.last().map(|(l, _)| *l);
    let Some(estimate) = estimate else { return highest };
    sorted.iter().rev().find(|(_, bps)| *bps <= estimate).map(|(l, _)| *l).or_else(|| sorted.first().map(|(l, _)| *l))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn rid(name: &str) -> Layer {
        Some(Rid::from(name))
    }

    #[test]
    fn the_first_frame_forwarded_is_a_keyframe_of_the_target_layer() {
        let now = Instant::now();
        let mut fwd = Forwarder::new(90_000);
        fwd.set_target(rid("h"));
        assert_eq!(fwd.on_frame(rid("l"), true, 1000, now), Verdict::Drop { needs_keyframe: false });
        assert_eq!(fwd.on_frame(rid("h"), false, 1000, now), Verdict::Drop { needs_keyframe: true });
        assert_eq!(fwd.on_frame(rid("h"), true, 4000, now), Verdict::Forward { time: 4000 });
        assert_eq!(fwd.on_frame(rid("h"), false, 7000, now), Verdict::Forward { time: 7000 });
    }

    #[test]
    fn a_layer_switch_waits_for_a_keyframe_and_keeps_the_old_layer_flowing_until_then() {
        let t0 = Instant::now();
        let mut fwd = Forwarder::new(90_000);
        fwd.set_target(rid("h"));
        fwd.on_frame(rid("h"), true, 0, t0);
        assert!(fwd.set_target(rid("l")));
        // The old layer keeps flowing while the new one has no keyframe.
        assert!(matches!(fwd.on_frame(rid("h"), false, 3000, t0 + Duration::from_millis(33)), Verdict::Forward { .. }));
        assert_eq!(fwd.on_frame(rid("l"), false, 500_000, t0 + Duration::from_millis(33)), Verdict::Drop { needs_keyframe: true });
        // Keyframe on the new layer: switch, and the old layer stops.
        assert!(matches!(fwd.on_frame(rid("l"), true, 503_000, t0 + Duration::from_millis(66)), Verdict::Forward { .. }));
        assert_eq!(fwd.current(), Some(rid("l")));
        assert_eq!(fwd.on_frame(rid("h"), false, 6000, t0 + Duration::from_millis(66)), Verdict::Drop { needs_keyframe: false });
    }

    #[test]
    fn timestamps_stay_continuous_across_a_switch_to_a_layer_with_another_timestamp_base() {
        let t0 = Instant::now();
        let mut fwd = Forwarder::new(90_000);
        fwd.set_target(rid("h"));
        assert_eq!(fwd.on_frame(rid("h"), true, 10_000, t0), Verdict::Forward { time: 10_000 });
        assert_eq!(fwd.on_frame(rid("h"), false, 13_000, t0 + Duration::from_millis(33)), Verdict::Forward { time: 13_000 });
        fwd.set_target(rid("l"));
        // 33 ms later (2970 ticks at 90 kHz) a keyframe arrives on "l", whose clock is elsewhere.
        let Verdict::Forward { time } = fwd.on_frame(rid("l"), true, 7_777_777, t0 + Duration::from_millis(66)) else { panic!("forwarded") };
        assert_eq!(time, 13_000 + 2_970);
        // Later frames of "l" keep the same offset.
        assert_eq!(fwd.on_frame(rid("l"), false, 7_777_777 + 3000, t0 + Duration::from_millis(99)), Verdict::Forward { time: 15_970 + 3000 });
    }

    #[test]
    fn timestamps_wrap_instead_of_overflowing() {
        let t0 = Instant::now();
        let mut fwd = Forwarder::new(90_000);
        fwd.set_target(rid("h"));
        fwd.on_frame(rid("h"), true, u64::MAX - 10, t0);
        fwd.set_target(rid("l"));
        assert!(matches!(fwd.on_frame(rid("l"), true, 5, t0 + Duration::from_millis(10)), Verdict::Forward { .. }));
    }

    #[test]
    fn without_simulcast_frames_pass_through_unchanged() {
        let t0 = Instant::now();
        let mut fwd = Forwarder::new(90_000);
        fwd.set_target(None);
        assert_eq!(fwd.on_frame(None, true, 42, t0), Verdict::Forward { time: 42 });
        assert_eq!(fwd.on_frame(None, false, 3042, t0), Verdict::Forward { time: 3042 });
    }

    #[test]
    fn a_new_source_continues_the_viewers_timeline_from_its_first_keyframe() {
        let t0 = Instant::now();
        let mut fwd = Forwarder::new(90_000);
        fwd.set_target(None);
        assert_eq!(fwd.on_frame(None, true, 1_000, t0), Verdict::Forward { time: 1_000 });
        fwd.restart_source();
        fwd.set_target(None);
        let later = t0 + Duration::from_millis(100);
        assert_eq!(fwd.on_frame(None, false, 555, later), Verdict::Drop { needs_keyframe: true }, "no delta frame of the new source before its keyframe");
        assert_eq!(fwd.on_frame(None, true, 555, later), Verdict::Forward { time: 1_000 + 9_000 }, "100 ms after the last frame sent");
    }

    #[test]
    fn the_highest_layer_that_fits_the_estimate_is_picked() {
        let layers = [(rid("l"), 150_000), (rid("h"), 2_500_000), (rid("m"), 600_000)];
        assert_eq!(pick_layer(&layers, None), Some(rid("h")));
        assert_eq!(pick_layer(&layers, Some(3_000_000)), Some(rid("h")));
        assert_eq!(pick_layer(&layers, Some(1_000_000)), Some(rid("m")));
        assert_eq!(pick_layer(&layers, Some(200_000)), Some(rid("l")));
        assert_eq!(pick_layer(&layers, Some(10_000)), Some(rid("l")), "the lowest when nothing fits");
        assert_eq!(pick_layer(&[], Some(10_000)), None);
    }
}
