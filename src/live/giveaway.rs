//! Live giveaways, sans-IO: an entry window, an optional buyers-only rule,
//! and a draw anyone can verify. At the start the server commits to a secret
//! seed by publishing `seed_hash = hex(SHA-256(seed))`; at the draw it reveals
//! the seed, and the winner is a deterministic function of the seed and the
//! sorted entrant list (`winner_index`), so anyone holding the seed, the hash
//! and the entrants can recompute it and see that the seed was fixed before
//! anyone entered. The engine takes `now` and the seed as inputs; the shell
//! generates the seed and keeps the entries (one per user, by primary key).

use sha2::{Digest, Sha256};

use super::Millis;

pub const MAX_PRIZE_CHARS: usize = 120;
/// The entry window runs 10 s to 24 h.
pub const WINDOW_SECS: std::ops::RangeInclusive<i64> = 10..=24 * 3600;

/// Who may enter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eligibility {
    Everyone,
    /// Customers with a paid order from the room's shop.
    Buyers,
}

impl Eligibility {
    pub fn parse(raw: Option<&str>) -> Option<Eligibility> {
        match raw {
            None | Some("everyone") => Some(Eligibility::Everyone),
            Some("buyers") => Some(Eligibility::Buyers),
            Some(_) => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Eligibility::Everyone => "everyone",
            Eligibility::Buyers => "buyers",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewGiveaway {
    pub prize: String,
    pub window_ms: Millis,
    pub eligibility: Eligibility,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GiveawayError {
    #[error("the prize is 1 to {MAX_PRIZE_CHARS} characters")]
    Prize,
    #[error("the entry window is 10 seconds to 24 hours")]
    Window,
    #[error("eligibility is everyone or buyers")]
    Eligibility,
}

impl NewGiveaway {
    pub fn parse(prize: &str, window_secs: i64, eligibility: Option<&str>) -> Result<NewGiveaway, GiveawayError> {
        let prize = prize.trim();
        if prize.is_empty() || prize.chars().count() > MAX_PRIZE_CHARS {
            return Err(GiveawayError::Prize);
        }
        if !WINDOW_SECS.contains(&window_secs) {
            return Err(GiveawayError::Window);
        }
        let eligibility = Eligibility::parse(eligibility).ok_or(GiveawayError::Eligibility)?;
        Ok(NewGiveaway { prize: prize.to_string(), window_ms: window_secs * 1000, eligibility })
    }
}

/// The public commitment to a seed: lowercase hex of SHA-256 over its bytes.
pub fn commitment(seed: &str) -> String {
    hex::encode(Sha256::digest(seed.as_bytes()))
}

/// The entrants in the order the draw uses: sorted, duplicates removed.
pub fn draw_order(entrants: &[String]) -> Vec<String> {
    let mut sorted = entrants.to_vec();
    sorted.sort();
    sorted.dedup();
    sorted
}

/// The winner's index in `draw_order(entrants)`: the first 16 bytes of
/// SHA-256(seed + "\n" + the sorted entrants joined by "\n"), read as a
/// big-endian integer, modulo the number of entrants. `None` without entrants.
pub fn winner_index(seed: &str, sorted_entrants: &[String]) -> Option<usize> {
    if sorted_entrants.is_empty() {
        return None;
    }
    let mut hasher = Sha256::new();
    hasher.update(seed.as_bytes());
    hasher.update(b"\n");
    hasher.update(sorted_entrants.join("\n").as_bytes());
    let digest = hasher.finalize();
    let mut head = [0u8; 16];
    head.copy_from_slice(&digest[..16]);
    let n = u128::from_be_bytes(head) % sorted_entrants.len() as u128;
    usize::try_from(n).ok()
}

/// The winner among `entrants` (any order) for this seed.
pub fn winner(seed: &str, entrants: &[String]) -> Option<String> {
    let sorted = draw_order(entrants);
    winner_index(seed, &sorted).and_then(|i| sorted.get(i).cloned())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveawayPhase {
    Open,
    Drawn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryRefused {
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveawayInput {
    /// Time passed.
    Tick,
    /// Staff draw now (closing entries early).
    DrawNow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Giveaway {
    pub phase: GiveawayPhase,
    pub entries_close_at: Millis,
}

impl Giveaway {
    pub fn new(entries_close_at: Millis, phase: GiveawayPhase) -> Giveaway {
        Giveaway { phase, entries_close_at }
    }

    pub fn check_entry(&self, now: Millis) -> Result<(), EntryRefused> {
        if self.phase != GiveawayPhase::Open || now >= self.entries_close_at {
            return Err(EntryRefused::Closed);
        }
        Ok(())
    }

    /// True when the draw happens now: at the end of the window, or when staff ask.
    pub fn handle(&mut self, input: GiveawayInput, now: Millis) -> bool {
        if self.phase != GiveawayPhase::Open {
            return false;
        }
        let due = match input {
            GiveawayInput::DrawNow => true,
            GiveawayInput::Tick => now >= self.entries_close_at,
        };
        if due {
            self.phase = GiveawayPhase::Drawn;
        }
        due
    }

    pub fn next_deadline(&self) -> Option<Millis> {
        (self.phase == GiveawayPhase::Open).then_some(self.entries_close_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_700_000_000_000;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_commitment_is_the_hex_sha256_of_the_seed() {
        assert_eq!(commitment("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn the_winner_does_not_depend_on_the_order_entries_arrived_in() {
        let a = winner("seed-1", &ids(&["u3", "u1", "u2"]));
        let b = winner("seed-1", &ids(&["u2", "u3", "u1", "u1"]));
        assert_eq!(a, b);
        assert!(a.is_some());
    }

    #[test]
    fn the_winner_is_recomputable_from_the_published_recipe() {
        let sorted = ids(&["alice", "bob", "carol"]);
        let digest = Sha256::digest(b"s33d\nalice\nbob\ncarol");
        let expected = (u128::from_be_bytes(digest[..16].try_into().unwrap()) % 3) as usize;
        assert_eq!(winner_index("s33d", &sorted), Some(expected));
    }

    #[test]
    fn different_seeds_pick_different_winners_across_many_draws() {
        let entrants: Vec<String> = (0..10).map(|i| format!("user-{i}")).collect();
        let winners: std::collections::HashSet<String> = (0..200).filter_map(|s| winner(&format!("seed-{s}"), &entrants)).collect();
        assert!(winners.len() >= 8, "the draw spreads over the entrants: {winners:?}");
    }

    #[test]
    fn nobody_wins_without_entrants() {
        assert_eq!(winner("seed", &[]), None);
    }

    #[test]
    fn entries_are_accepted_only_inside_the_window() {
        let g = Giveaway::new(T0 + 60_000, GiveawayPhase::Open);
        assert_eq!(g.check_entry(T0), Ok(()));
        assert_eq!(g.check_entry(T0 + 60_000), Err(EntryRefused::Closed));
        assert_eq!(Giveaway::new(T0 + 60_000, GiveawayPhase::Drawn).check_entry(T0), Err(EntryRefused::Closed));
    }

    #[test]
    fn the_draw_happens_once_at_the_end_of_the_window_or_when_staff_ask() {
        let mut g = Giveaway::new(T0 + 60_000, GiveawayPhase::Open);
        assert!(!g.handle(GiveawayInput::Tick, T0 + 59_999));
        assert_eq!(g.next_deadline(), Some(T0 + 60_000));
        assert!(g.handle(GiveawayInput::Tick, T0 + 60_000));
        assert!(!g.handle(GiveawayInput::DrawNow, T0 + 60_001));
        let mut early = Giveaway::new(T0 + 60_000, GiveawayPhase::Open);
        assert!(early.handle(GiveawayInput::DrawNow, T0 + 1));
        assert_eq!(early.next_deadline(), None);
    }

    #[test]
    fn eligibility_is_everyone_by_default_or_buyers() {
        assert_eq!(NewGiveaway::parse("Hat", 60, None).unwrap().eligibility, Eligibility::Everyone);
        assert_eq!(NewGiveaway::parse("Hat", 60, Some("buyers")).unwrap().eligibility, Eligibility::Buyers);
        assert_eq!(NewGiveaway::parse("Hat", 60, Some("followers")), Err(GiveawayError::Eligibility));
        assert_eq!(NewGiveaway::parse("", 60, None), Err(GiveawayError::Prize));
        assert_eq!(NewGiveaway::parse("Hat", 5, None), Err(GiveawayError::Window));
    }
}
