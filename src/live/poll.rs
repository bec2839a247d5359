//! Live polls, sans-IO: a question with 2 to 4 answers, open until the room's
//! staff close it or its deadline passes. The engine checks votes and decides
//! when the poll closes, from `now`; the store keeps one vote per viewer (its
//! primary key) and refuses votes after the deadline in the same statement,
//! so the SQL store stays the arbiter of what counted.

use super::Millis;

pub const MIN_ANSWERS: usize = 2;
pub const MAX_ANSWERS: usize = 4;
pub const MAX_QUESTION_CHARS: usize = 200;
pub const MAX_ANSWER_CHARS: usize = 80;
/// A poll with a deadline runs 10 s to 1 h.
pub const DURATION_SECS: std::ops::RangeInclusive<i64> = 10..=3600;

/// A validated poll, before it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPoll {
    pub question: String,
    pub answers: Vec<String>,
    /// Closes by itself this long after it starts; `None`: only staff close it.
    pub duration_ms: Option<Millis>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    #[error("the question is 1 to {MAX_QUESTION_CHARS} characters")]
    Question,
    #[error("a poll has {MIN_ANSWERS} to {MAX_ANSWERS} distinct answers of 1 to {MAX_ANSWER_CHARS} characters")]
    Answers,
    #[error("a poll runs 10 to 3600 seconds (or until closed)")]
    Duration,
}

impl NewPoll {
    pub fn parse(question: &str, answers: &[String], duration_secs: Option<i64>) -> Result<NewPoll, PollError> {
        let question = question.trim();
        if question.is_empty() || question.chars().count() > MAX_QUESTION_CHARS {
            return Err(PollError::Question);
        }
        let answers: Vec<String> = answers.iter().map(|a| a.trim().to_string()).collect();
        let distinct = answers.iter().enumerate().all(|(i, a)| !answers[..i].iter().any(|b| b.to_lowercase() == a.to_lowercase()));
        let sized = answers.iter().all(|a| !a.is_empty() && a.chars().count() <= MAX_ANSWER_CHARS);
        if !(MIN_ANSWERS..=MAX_ANSWERS).contains(&answers.len()) || !distinct || !sized {
            return Err(PollError::Answers);
        }
        let duration_ms = match duration_secs {
            Some(s) if DURATION_SECS.contains(&s) => Some(s * 1000),
            Some(_) => return Err(PollError::Duration),
            None => None,
        };
        Ok(NewPoll { question: question.to_string(), answers, duration_ms })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollPhase {
    Open,
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    Deadline,
    /// The seller or a moderator closed it.
    Staff,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteRefused {
    Closed,
    InvalidAnswer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollInput {
    /// Time passed.
    Tick,
    /// Staff close it now.
    Close,
}

/// A poll's rules: how many answers, until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Poll {
    pub phase: PollPhase,
    pub answers: usize,
    pub closes_at: Option<Millis>,
}

impl Poll {
    pub fn new(answers: usize, closes_at: Option<Millis>, phase: PollPhase) -> Poll {
        Poll { phase, answers, closes_at }
    }

    /// Whether a vote for answer `answer` (0-based) may count now.
    pub fn check_vote(&self, answer: usize, now: Millis) -> Result<(), VoteRefused> {
        if self.phase == PollPhase::Closed || self.closes_at.is_some_and(|at| now >= at) {
            return Err(VoteRefused::Closed);
        }
        if answer >= self.answers {
            return Err(VoteRefused::InvalidAnswer);
        }
        Ok(())
    }

    /// Closes the poll when its deadline passed or staff close it; says why, once.
    pub fn handle(&mut self, input: PollInput, now: Millis) -> Option<CloseReason> {
        if self.phase == PollPhase::Closed {
            return None;
        }
        let reason = match input {
            PollInput::Close => CloseReason::Staff,
            PollInput::Tick if self.closes_at.is_some_and(|at| now >= at) => CloseReason::Deadline,
            PollInput::Tick => return None,
        };
        self.phase = PollPhase::Closed;
        Some(reason)
    }

    /// When the shell should tick it: its deadline while open.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.closes_at.filter(|_| self.phase == PollPhase::Open)
    }
}

/// Votes per answer (0-based) from the store's counts, one slot per answer.
pub fn tallies(answers: usize, counts: &[(i64, i64)]) -> Vec<i64> {
    let mut out = vec![0; answers];
    for &(answer, n) in counts {
        if let Some(slot) = usize::try_from(answer).ok().and_then(|a| out.get_mut(a)) {
            *slot += n;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_700_000_000_000;

    fn answers(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_poll_has_two_to_four_distinct_answers() {
        assert!(NewPoll::parse("Which colour?", &answers(&["Red", "Blue"]), None).is_ok());
        assert!(NewPoll::parse("Which colour?", &answers(&["A", "B", "C", "D"]), Some(60)).is_ok());
        assert_eq!(NewPoll::parse("Which colour?", &answers(&["Red"]), None), Err(PollError::Answers));
        assert_eq!(NewPoll::parse("Which colour?", &answers(&["A", "B", "C", "D", "E"]), None), Err(PollError::Answers));
        assert_eq!(NewPoll::parse("Which colour?", &answers(&["Red", " red "]), None), Err(PollError::Answers));
        assert_eq!(NewPoll::parse("Which colour?", &answers(&["Red", ""]), None), Err(PollError::Answers));
        assert_eq!(NewPoll::parse("  ", &answers(&["Red", "Blue"]), None), Err(PollError::Question));
        assert_eq!(NewPoll::parse("Q", &answers(&["Red", "Blue"]), Some(5)), Err(PollError::Duration));
    }

    #[test]
    fn a_vote_counts_only_while_open_and_for_an_existing_answer() {
        let poll = Poll::new(3, Some(T0 + 60_000), PollPhase::Open);
        assert_eq!(poll.check_vote(2, T0), Ok(()));
        assert_eq!(poll.check_vote(3, T0), Err(VoteRefused::InvalidAnswer));
        assert_eq!(poll.check_vote(0, T0 + 60_000), Err(VoteRefused::Closed), "the deadline itself is too late");
        assert_eq!(Poll::new(3, None, PollPhase::Closed).check_vote(0, T0), Err(VoteRefused::Closed));
    }

    #[test]
    fn the_deadline_closes_the_poll_once() {
        let mut poll = Poll::new(2, Some(T0 + 30_000), PollPhase::Open);
        assert_eq!(poll.next_deadline(), Some(T0 + 30_000));
        assert_eq!(poll.handle(PollInput::Tick, T0 + 29_999), None);
        assert_eq!(poll.handle(PollInput::Tick, T0 + 30_000), Some(CloseReason::Deadline));
        assert_eq!(poll.handle(PollInput::Tick, T0 + 31_000), None);
        assert_eq!(poll.next_deadline(), None);
    }

    #[test]
    fn staff_close_a_poll_without_a_deadline() {
        let mut poll = Poll::new(2, None, PollPhase::Open);
        assert_eq!(poll.handle(PollInput::Tick, T0 + 10_000_000), None, "no deadline, no closing by time");
        assert_eq!(poll.handle(PollInput::Close, T0), Some(CloseReason::Staff));
        assert_eq!(poll.handle(PollInput::Close, T0), None);
    }

    #[test]
    fn tallies_have_one_slot_per_answer_and_ignore_unknown_answers() {
        assert_eq!(tallies(3, &[(0, 4), (2, 1), (7, 9)]), vec![4, 0, 1]);
    }
}
