//! Coalesces per-key updates so a room gets at most one batch per interval,
//! however many purchases happen: the latest value per key wins.

use std::collections::BTreeMap;

use super::Millis;

#[derive(Debug)]
pub struct Coalescer<K, V> {
    interval_ms: Millis,
    pending: BTreeMap<K, V>,
    last_flush: Option<Millis>,
}

impl<K: Ord + Clone, V> Coalescer<K, V> {
    pub fn new(interval_ms: Millis) -> Self {
        Coalescer { interval_ms, pending: BTreeMap::new(), last_flush: None }
    }

    /// Records the newest value for `key`, replacing any pending one.
    pub fn update(&mut self, key: K, value: V) {
        self.pending.insert(key, value);
    }

    /// When the shell should call `flush` next; `None` while nothing is pending.
    pub fn next_deadline(&self) -> Option<Millis> {
        if self.pending.is_empty() {
            return None;
        }
        Some(self.last_flush.map_or(Millis::MIN, |t| t + self.interval_ms))
    }

    /// The pending batch if the interval since the last flush has passed.
    pub fn flush(&mut self, now: Millis) -> Option<Vec<(K, V)>> {
        match self.next_deadline() {
            Some(deadline) if now >= deadline => {
                self.last_flush = Some(now);
                Some(std::mem::take(&mut self.pending).into_iter().collect())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_update_is_sent_at_once() {
        let mut c = Coalescer::new(250);
        c.update("sku-1", 9);
        assert_eq!(c.flush(1_000), Some(vec![("sku-1", 9)]));
    }

    #[test]
    fn a_burst_within_the_interval_becomes_one_batch_with_the_latest_values() {
        let mut c = Coalescer::new(250);
        c.update("sku-1", 9);
        c.flush(1_000);
        for left in (0..9).rev() {
            c.update("sku-1", left);
        }
        c.update("sku-2", 4);
        assert_eq!(c.flush(1_100), None, "too soon after the last batch");
        assert_eq!(c.next_deadline(), Some(1_250));
        assert_eq!(c.flush(1_250), Some(vec![("sku-1", 0), ("sku-2", 4)]));
    }

    #[test]
    fn nothing_pending_means_no_deadline_and_no_batch() {
        let mut c: Coalescer<&str, i64> = Coalescer::new(250);
        assert_eq!(c.next_deadline(), None);
        assert_eq!(c.flush(5_000), None);
    }

    #[test]
    fn a_thousand_updates_in_a_second_send_at_most_five_batches() {
        let mut c = Coalescer::new(250);
        let mut batches = 0;
        for i in 0..1_000 {
            let now = 10_000 + i;
            c.update("sku", i);
            if c.flush(now).is_some() {
                batches += 1;
            }
        }
        assert!(batches <= 5, "{batches} batches");
    }
}
