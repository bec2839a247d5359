//! Every peer's next engine timeout, ordered, so a wake-up touches only the
//! peers that are due instead of scanning them all (the scan was O(peers) per
//! wake-up, and with str0m pacing each viewer there is a wake-up per few
//! packets). Sans-IO.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::sfu::room::PeerId;

#[derive(Debug, Default)]
pub(super) struct Timers {
    due: BTreeSet<(Instant, PeerId)>,
}

impl Timers {
    /// `peer`'s timeout is now `new`; `old` is the one it had (if it is still here).
    pub fn reschedule(&mut self, peer: PeerId, old: Option<Instant>, new: Instant) {
        if let Some(old) = old {
            self.due.remove(&(old, peer));
        }
        self.due.insert((new, peer));
    }

    /// `peer` is gone; its timeout was `at`.
    pub fn remove(&mut self, peer: PeerId, at: Instant) {
        self.due.remove(&(at, peer));
    }

    /// The earliest timeout of any peer.
    pub fn next(&self) -> Option<Instant> {
        self.due.first().map(|(at, _)| *at)
    }

    /// Moves every peer due at `now` into `out` (each once) and forgets their timeouts:
    /// the caller handles them and reschedules them with their new ones.
    pub fn take_due(&mut self, now: Instant, out: &mut Vec<(PeerId, Instant)>) {
        while let Some(&(at, peer)) = self.due.first() {
            if at > now {
                break;
            }
            self.due.pop_first();
            out.push((peer, at));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn only_peers_due_are_taken_in_deadline_order() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut timers = Timers::default();
        timers.reschedule(PeerId(1), None, t0 + ms(30));
        timers.reschedule(PeerId(2), None, t0 + ms(10));
        timers.reschedule(PeerId(3), None, t0 + ms(20));
        assert_eq!(timers.next(), Some(t0 + ms(10)));
        let mut due = Vec::new();
        timers.take_due(t0 + ms(20), &mut due);
        assert_eq!(due, vec![(PeerId(2), t0 + ms(10)), (PeerId(3), t0 + ms(20))]);
        assert_eq!(timers.next(), Some(t0 + ms(30)));
    }

    #[test]
    fn a_rescheduled_peer_keeps_only_its_new_timeout() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut timers = Timers::default();
        timers.reschedule(PeerId(1), None, t0 + ms(5));
        timers.reschedule(PeerId(1), Some(t0 + ms(5)), t0 + ms(50));
        let mut due = Vec::new();
        timers.take_due(t0 + ms(10), &mut due);
        assert!(due.is_empty(), "the old timeout is gone");
        timers.remove(PeerId(1), t0 + ms(50));
        assert_eq!(timers.next(), None);
    }

    #[test]
    fn a_peer_taken_as_due_is_scheduled_again_even_at_the_same_instant() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.reschedule(PeerId(1), None, t0);
        let mut due = Vec::new();
        timers.take_due(t0, &mut due);
        timers.reschedule(PeerId(1), Some(t0), t0);
        assert_eq!(timers.next(), Some(t0));
    }
}
