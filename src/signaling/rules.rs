//! Who may say what in a room, and how often: sanctions (ban, timeout,
//! shadow-ban), slow mode, blocked words, a per-user token bucket and the
//! length limit. Sans-IO: the rules are loaded from the store by the shell,
//! time comes in as unix milliseconds.

use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SanctionKind {
    Ban,
    Timeout,
    Shadow,
}

impl SanctionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SanctionKind::Ban => "ban",
            SanctionKind::Timeout => "timeout",
            SanctionKind::Shadow => "shadow",
        }
    }

    pub fn parse(raw: &str) -> Option<SanctionKind> {
        match raw {
            "ban" => Some(SanctionKind::Ban),
            "timeout" => Some(SanctionKind::Timeout),
            "shadow" => Some(SanctionKind::Shadow),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sanction {
    pub user_id: String,
    pub kind: SanctionKind,
    /// Unix ms; `None` lasts until lifted.
    pub until: Option<i64>,
}

/// A room's moderation settings, as the store holds them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomRules {
    pub slow_mode_secs: u64,
    /// Lower-case; a message containing one is refused.
    pub blocked_words: Vec<String>,
    /// Hold messages with a blocked word for review instead of refusing them.
    pub hold_blocked: bool,
    pub sanctions: Vec<Sanction>,
}

impl RoomRules {
    fn active(&self, user_id: &str, kind: SanctionKind, now: i64) -> Option<&Sanction> {
        self.sanctions.iter().find(|s| s.user_id == user_id && s.kind == kind && s.until.is_none_or(|until| until > now))
    }

    pub fn is_banned(&self, user_id: &str, now: i64) -> bool {
        self.active(user_id, SanctionKind::Ban, now).is_some()
    }
}

#[derive(Clone, Copy, Debug)]
pub struct ChatLimits {
    pub max_chars: usize,
    /// Messages a user may send at once before the bucket runs dry.
    pub burst: f64,
    pub refill_per_sec: f64,
}

impl Default for ChatLimits {
    fn default() -> Self {
        ChatLimits { max_chars: 500, burst: 10.0, refill_per_sec: 2.0 }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatRefusal {
    Empty,
    TooLong { max_chars: usize },
    Banned,
    TimedOut { retry_after_ms: u64 },
    BlockedWord,
    SlowMode { retry_after_ms: u64 },
    RateLimited { retry_after_ms: u64 },
}

impl ChatRefusal {
    /// The same snake_case vocabulary as the HTTP API's error codes.
    pub fn code(&self) -> &'static str {
        match self {
            ChatRefusal::Empty => "empty_message",
            ChatRefusal::TooLong { .. } => "message_too_long",
            ChatRefusal::Banned => "banned",
            ChatRefusal::TimedOut { .. } => "timed_out",
            ChatRefusal::BlockedWord => "message_blocked",
            ChatRefusal::SlowMode { .. } => "slow_mode",
            ChatRefusal::RateLimited { .. } => "rate_limited",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ChatRefusal::Empty => "the message is empty".into(),
            ChatRefusal::TooLong { max_chars } => format!("messages are limited to {max_chars} characters"),
            ChatRefusal::Banned => "you are banned from this room's chat".into(),
            ChatRefusal::TimedOut { .. } => "a moderator has timed you out; wait before sending again".into(),
            ChatRefusal::BlockedWord => "the message contains a word this room does not allow".into(),
            ChatRefusal::SlowMode { .. } => "slow mode is on; wait before sending again".into(),
            ChatRefusal::RateLimited { .. } => "you are sending too fast; wait a moment".into(),
        }
    }

    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            ChatRefusal::TimedOut { retry_after_ms } | ChatRefusal::SlowMode { retry_after_ms } | ChatRefusal::RateLimited { retry_after_ms } => {
                Some(*retry_after_ms)
            }
            _ => None,
        }
    }
}

/// An accepted message: `shadow` means only its author may see it; `held`
/// means it waits for a moderator's approval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChatVerdict {
    pub shadow: bool,
    pub held: bool,
}

#[derive(Debug)]
struct Sender {
    tokens: f64,
    refilled_at: i64,
    last_sent_at: i64,
}

/// Per-room gate every chat message passes. Staff (the room's seller,
/// moderators, admins) skip sanctions, slow mode and the rate limit.
#[derive(Debug, Default)]
pub struct ChatGate {
    senders: HashMap<String, Sender>,
}

impl ChatGate {
    pub fn check(&mut self, rules: &RoomRules, limits: &ChatLimits, user_id: &str, staff: bool, text: &str, now: i64) -> Result<ChatVerdict, ChatRefusal> {
        if text.trim().is_empty() {
            return Err(ChatRefusal::Empty);
        }
        if text.chars().count() > limits.max_chars {
            return Err(ChatRefusal::TooLong { max_chars: limits.max_chars });
        }
        if staff {
            return Ok(ChatVerdict::default());
        }
        if rules.is_banned(user_id, now) {
            return Err(ChatRefusal::Banned);
        }
        if let Some(timeout) = rules.active(user_id, SanctionKind::Timeout, now) {
            let retry_after_ms = timeout.until.map(|until| (until - now).max(0) as u64).unwrap_or(u64::MAX);
            return Err(ChatRefusal::TimedOut { retry_after_ms });
        }
        let lowered = text.to_lowercase();
        let has_blocked_word = rules.blocked_words.iter().any(|word| lowered.contains(word.as_str()));
        if has_blocked_word && !rules.hold_blocked {
            return Err(ChatRefusal::BlockedWord);
        }
        let sender = self.senders.entry(user_id.to_string()).or_insert(Sender { tokens: limits.burst, refilled_at: now, last_sent_at: i64::MIN });
        if rules.slow_mode_secs > 0 && sender.last_sent_at != i64::MIN {
            let next_allowed = sender.last_sent_at.saturating_add(rules.slow_mode_secs as i64 * 1000);
            if now < next_allowed {
                return Err(ChatRefusal::SlowMode { retry_after_ms: (next_allowed - now) as u64 });
            }
        }
        let elapsed_secs = (now - sender.refilled_at).max(0) as f64 / 1000.0;
        sender.tokens = (sender.tokens + elapsed_secs * limits.refill_per_sec).min(limits.burst);
        sender.refilled_at = now;
        if sender.tokens < 1.0 {
            let retry_after_ms = ((1.0 - sender.tokens) / limits.refill_per_sec * 1000.0).ceil() as u64;
            return Err(ChatRefusal::RateLimited { retry_after_ms });
        }
        sender.tokens -= 1.0;
        sender.last_sent_at = now;
        let shadow = rules.active(user_id, SanctionKind::Shadow, now).is_some();
        Ok(ChatVerdict { shadow, held: has_blocked_word })
    }

    /// Forgets senders idle for longer than any window that could still apply.
    pub fn forget_idle(&mut self, now: i64, idle_ms: i64) {
        self.senders.retain(|_, s| now - s.last_sent_at.max(s.refilled_at) < idle_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_with(sanctions: Vec<Sanction>) -> RoomRules {
        RoomRules { sanctions, ..RoomRules::default() }
    }

    fn send(gate: &mut ChatGate, rules: &RoomRules, now: i64) -> Result<ChatVerdict, ChatRefusal> {
        gate.check(rules, &ChatLimits::default(), "u1", false, "hello", now)
    }

    #[test]
    fn a_timed_out_user_can_send_again_when_the_timeout_ends() {
        let rules = rules_with(vec![Sanction { user_id: "u1".into(), kind: SanctionKind::Timeout, until: Some(2_000) }]);
        let mut gate = ChatGate::default();
        assert_eq!(send(&mut gate, &rules, 1_000), Err(ChatRefusal::TimedOut { retry_after_ms: 1_000 }));
        assert!(send(&mut gate, &rules, 2_000).is_ok());
    }

    #[test]
    fn a_banned_user_cannot_send_but_staff_always_can() {
        let rules = rules_with(vec![Sanction { user_id: "u1".into(), kind: SanctionKind::Ban, until: None }]);
        let mut gate = ChatGate::default();
        assert_eq!(send(&mut gate, &rules, 0), Err(ChatRefusal::Banned));
        assert!(gate.check(&rules, &ChatLimits::default(), "u1", true, "hi", 0).is_ok());
    }

    #[test]
    fn slow_mode_spaces_one_users_messages() {
        let rules = RoomRules { slow_mode_secs: 10, ..RoomRules::default() };
        let mut gate = ChatGate::default();
        assert!(send(&mut gate, &rules, 0).is_ok());
        assert_eq!(send(&mut gate, &rules, 4_000), Err(ChatRefusal::SlowMode { retry_after_ms: 6_000 }));
        assert!(send(&mut gate, &rules, 10_000).is_ok());
    }

    #[test]
    fn the_token_bucket_refuses_a_burst_and_refills() {
        let rules = RoomRules::default();
        let mut gate = ChatGate::default();
        for _ in 0..10 {
            assert!(send(&mut gate, &rules, 0).is_ok());
        }
        assert_eq!(send(&mut gate, &rules, 0), Err(ChatRefusal::RateLimited { retry_after_ms: 500 }));
        assert!(send(&mut gate, &rules, 500).is_ok());
    }

    #[test]
    fn a_shadow_banned_users_message_is_accepted_as_shadow() {
        let rules = rules_with(vec![Sanction { user_id: "u1".into(), kind: SanctionKind::Shadow, until: None }]);
        assert_eq!(send(&mut ChatGate::default(), &rules, 0), Ok(ChatVerdict { shadow: true, held: false }));
    }

    #[test]
    fn in_hold_mode_a_blocked_word_holds_the_message_for_review() {
        let rules = RoomRules { blocked_words: vec!["scam".into()], hold_blocked: true, ..RoomRules::default() };
        let verdict = ChatGate::default().check(&rules, &ChatLimits::default(), "u1", false, "a scam?", 0);
        assert_eq!(verdict, Ok(ChatVerdict { shadow: false, held: true }));
    }

    #[test]
    fn blocked_words_and_length_are_enforced() {
        let rules = RoomRules { blocked_words: vec!["scam".into()], ..RoomRules::default() };
        let mut gate = ChatGate::default();
        assert_eq!(gate.check(&rules, &ChatLimits::default(), "u1", false, "total SCAM here", 0), Err(ChatRefusal::BlockedWord));
        let long = "x".repeat(501);
        assert_eq!(gate.check(&rules, &ChatLimits::default(), "u1", false, &long, 0), Err(ChatRefusal::TooLong { max_chars: 500 }));
        assert_eq!(gate.check(&rules, &ChatLimits::default(), "u1", false, "  ", 0), Err(ChatRefusal::Empty));
    }
}
