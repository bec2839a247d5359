//! The per-publisher bitrate cap (`streamcart.sfu.max_publisher_bitrate_kbps`).
//! The publisher is told the cap (`b=AS` in the WHIP answer, REMB while it
//! sends); a publisher that sends more anyway has its top simulcast layers left
//! unforwarded until what remains fits, and one that cannot be brought under the cap
//! that way (one layer, or its lowest layer alone is too much) for `CLOSE_AFTER` is
//! disconnected. Sans-IO: bitrates and `now` come in, decisions go out.

use std::time::{Duration, Instant};

use super::forwarder::Layer;

/// How far over the cap a publisher's lowest layers may be before the clock starts.
const CLOSE_ABOVE_PERCENT: u64 = 150;
/// How long a publisher may stay that far over the cap before it is disconnected.
pub const CLOSE_AFTER: Duration = Duration::from_secs(10);

/// The layers of one video track that fit `budget` bits/s together, lowest first.
/// The lowest layer is always kept (a cap never blacks out a stream by itself).
pub fn layers_within(layers: &[(Layer, u64)], budget: u64) -> Vec<(Layer, u64)> {
    let mut sorted = layers.to_vec();
    sorted.sort_by_key(|(_, bps)| *bps);
    let mut total = 0u64;
    let mut kept = Vec::with_capacity(sorted.len());
    for (i, (layer, bps)) in sorted.into_iter().enumerate() {
        total = total.saturating_add(bps);
        if i > 0 && total > budget {
            break;
        }
        kept.push((layer, bps));
    }
    kept
}

/// Watches whether a publisher stays over its cap even with its top layers dropped.
#[derive(Debug)]
pub struct CapWatch {
    cap_bps: u64,
    over_since: Option<Instant>,
    reported: bool,
}

impl CapWatch {
    pub fn new(cap_bps: u64) -> Self {
        CapWatch { cap_bps, over_since: None, reported: false }
    }

    pub fn cap_bps(&self) -> u64 {
        self.cap_bps
    }

    /// `minimum_bps`: what the publisher sends with every droppable layer dropped (its
    /// audio plus the lowest layer of each video track). True once, when the publisher
    /// has been too far over the cap for `CLOSE_AFTER`: it must be disconnected.
    pub fn check(&mut self, minimum_bps: u64, now: Instant) -> bool {
        if minimum_bps.saturating_mul(100) <= self.cap_bps.saturating_mul(CLOSE_ABOVE_PERCENT) {
            self.over_since = None;
            return false;
        }
        let since = *self.over_since.get_or_insert(now);
        if !self.reported && now.saturating_duration_since(since) >= CLOSE_AFTER {
            self.reported = true;
            return true;
        }
        false
    }
}

/// The WHIP answer with the cap announced on every video section as `b=AS` (kbit/s,
/// what Chrome, Firefox and GStreamer read), after the section's `c=` line as RFC 8866
/// orders them. Only one `b=` line: some stacks (str0m among them) parse no more, so
/// `b=TIAS` is left out.
pub fn announce_in_answer(answer_sdp: &str, cap_bps: u64) -> String {
    let mut out = String::with_capacity(answer_sdp.len() + 64);
    let mut pending = false;
    for line in answer_sdp.lines() {
        let line = line.trim_end();
        if line.starts_with("m=") {
            if pending {
                push_bandwidth(&mut out, cap_bps);
            }
            pending = line.starts_with("m=video");
            out.push_str(line);
            out.push_str("\r\n");
            continue;
        }
        if pending && line.starts_with("b=") {
            continue; // ours replace any
        }
        if pending && !line.starts_with("i=") && !line.starts_with("c=") {
            push_bandwidth(&mut out, cap_bps);
            pending = false;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    if pending {
        push_bandwidth(&mut out, cap_bps);
    }
    out
}

fn push_bandwidth(out: &mut String, cap_bps: u64) {
    out.push_str(&format!("b=AS:{}\r\n", cap_bps.div_ceil(1000)));
}

#[cfg(test)]
mod tests {
    use str0m::media::Rid;

    use super::*;

    fn rid(s: &str) -> Layer {
        Some(Rid::from(s))
    }

    #[test]
    fn the_top_layers_that_do_not_fit_the_cap_are_dropped() {
        let layers = [(rid("h"), 2_500_000), (rid("l"), 150_000), (rid("m"), 600_000)];
        assert_eq!(layers_within(&layers, 1_000_000), vec![(rid("l"), 150_000), (rid("m"), 600_000)]);
        assert_eq!(layers_within(&layers, 5_000_000).len(), 3);
    }

    #[test]
    fn the_lowest_layer_is_kept_even_over_the_cap() {
        let layers = [(rid("l"), 150_000), (rid("m"), 600_000)];
        assert_eq!(layers_within(&layers, 10_000), vec![(rid("l"), 150_000)]);
        assert_eq!(layers_within(&[(None, 3_000_000)], 1_000_000), vec![(None, 3_000_000)]);
    }

    #[test]
    fn a_publisher_far_over_the_cap_for_ten_seconds_is_closed_once() {
        let t0 = Instant::now();
        let mut watch = CapWatch::new(1_000_000);
        assert!(!watch.check(1_400_000, t0), "within the tolerance");
        assert!(!watch.check(2_000_000, t0));
        assert!(!watch.check(2_000_000, t0 + CLOSE_AFTER - Duration::from_millis(1)));
        assert!(watch.check(2_000_000, t0 + CLOSE_AFTER));
        assert!(!watch.check(2_000_000, t0 + CLOSE_AFTER * 2), "reported once");
    }

    #[test]
    fn coming_back_under_the_cap_resets_the_clock() {
        let t0 = Instant::now();
        let mut watch = CapWatch::new(1_000_000);
        watch.check(2_000_000, t0);
        watch.check(900_000, t0 + Duration::from_secs(9));
        assert!(!watch.check(2_000_000, t0 + Duration::from_secs(11)));
        assert!(watch.check(2_000_000, t0 + Duration::from_secs(21)));
    }

    #[test]
    fn the_cap_is_announced_on_video_sections_only() {
        let answer = "v=0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n";
        let capped = announce_in_answer(answer, 2_500_000);
        assert_eq!(
            capped,
            "v=0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\nb=AS:2500\r\na=mid:1\r\n"
        );
    }
}
