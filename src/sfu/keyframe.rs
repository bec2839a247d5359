//! `KeyframeThrottle`: at most one keyframe request per track (and layer)
//! per interval, however many viewers ask. Sans-IO: the caller passes `now`.

use std::time::{Duration, Instant};

/// How often a publisher may be asked for a keyframe on one track layer.
pub const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
pub struct KeyframeThrottle {
    last_sent: Option<Instant>,
}

impl KeyframeThrottle {
    /// True when a request may go out now (and records that it did).
    pub fn try_request(&mut self, now: Instant) -> bool {
        match self.last_sent {
            Some(last) if now.saturating_duration_since(last) < KEYFRAME_REQUEST_INTERVAL => false,
            _ => {
                self.last_sent = Some(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_within_the_interval_are_coalesced_into_one() {
        let start = Instant::now();
        let mut throttle = KeyframeThrottle::default();
        assert!(throttle.try_request(start));
        assert!(!throttle.try_request(start + Duration::from_millis(100)));
        assert!(!throttle.try_request(start + Duration::from_millis(499)));
        assert!(throttle.try_request(start + Duration::from_millis(500)));
    }
}
