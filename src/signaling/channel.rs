//! Channel names (parsed at the edge) and a channel's ordered log: epoch,
//! last offset and a bounded history. Sans-IO.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use super::protocol::{Event, Position, Publication};

/// `room:{name}` (a live room) or `user:{id}` (private pushes to one user).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelName {
    Room(String),
    User(String),
}

impl ChannelName {
    pub fn parse(raw: &str) -> Option<ChannelName> {
        let (namespace, name) = raw.split_once(':')?;
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return None;
        }
        match namespace {
            "room" => Some(ChannelName::Room(name.to_string())),
            "user" => Some(ChannelName::User(name.to_string())),
            _ => None,
        }
    }

    pub fn room(name: &str) -> ChannelName {
        ChannelName::Room(name.to_string())
    }

    pub fn user(id: &str) -> ChannelName {
        ChannelName::User(id.to_string())
    }

    pub fn room_name(&self) -> Option<&str> {
        match self {
            ChannelName::Room(name) => Some(name),
            ChannelName::User(_) => None,
        }
    }
}

impl fmt::Display for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelName::Room(name) => write!(f, "room:{name}"),
            ChannelName::User(id) => write!(f, "user:{id}"),
        }
    }
}

/// What a client resuming at a position gets.
#[derive(Debug, PartialEq)]
pub enum Recovery {
    /// Exactly the publications after the position, in order (maybe none).
    Missed(Vec<Arc<Publication>>),
    /// The position aged out of history or belongs to another epoch.
    Snapshot,
}

/// One channel's stream as this node has seen it. Offsets are allocated either
/// here (memory broker) or by Redis (every node sees the same numbers); a gap
/// or an epoch change resets the history, so recovery never skips an event.
#[derive(Debug)]
pub struct ChannelLog {
    pub epoch: String,
    pub offset: u64,
    history: VecDeque<Arc<Publication>>,
    capacity: usize,
}

impl ChannelLog {
    pub fn new(epoch: String, offset: u64, capacity: usize) -> ChannelLog {
        ChannelLog { epoch, offset, history: VecDeque::new(), capacity: capacity.max(1) }
    }

    pub fn position(&self) -> Position {
        Position { offset: self.offset, epoch: self.epoch.clone() }
    }

    /// Allocates the next offset (memory broker only).
    pub fn next(&self, channel: &ChannelName, event: Event) -> Publication {
        Publication { channel: channel.to_string(), offset: self.offset + 1, epoch: self.epoch.clone(), event, ephemeral: false }
    }

    /// Appends a publication that arrived in order; resets history on a gap
    /// or a new epoch. Returns false for a duplicate or stale publication.
    pub fn append(&mut self, publication: Arc<Publication>) -> bool {
        let continues = publication.epoch == self.epoch && publication.offset == self.offset + 1;
        if !continues {
            if publication.epoch == self.epoch && publication.offset <= self.offset {
                return false;
            }
            self.history.clear();
            self.epoch = publication.epoch.clone();
        }
        self.offset = publication.offset;
        self.history.push_back(publication);
        while self.history.len() > self.capacity {
            self.history.pop_front();
        }
        true
    }

    /// The publications after `since`, if history still covers them.
    pub fn recover(&self, since: &Position) -> Recovery {
        if since.epoch != self.epoch || since.offset > self.offset {
            return Recovery::Snapshot;
        }
        if since.offset == self.offset {
            return Recovery::Missed(Vec::new());
        }
        let oldest = self.history.front().map(|p| p.offset).unwrap_or(self.offset + 1);
        if since.offset + 1 < oldest {
            return Recovery::Snapshot;
        }
        Recovery::Missed(self.history.iter().filter(|p| p.offset > since.offset).cloned().collect())
    }

    /// Replaces a history entry's event in place (a deleted chat message
    /// becomes its tombstone, so later recoveries never serve its text).
    pub fn redact(&mut self, matches: impl Fn(&Event) -> bool, tombstone: &Event) {
        for entry in self.history.iter_mut() {
            if matches(&entry.event) {
                let mut redacted = (**entry).clone();
                redacted.event = tombstone.clone();
                *entry = Arc::new(redacted);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn log_with(n: u64, capacity: usize) -> (ChannelName, ChannelLog) {
        let channel = ChannelName::room("r");
        let mut log = ChannelLog::new("e1".into(), 0, capacity);
        for i in 0..n {
            let publication = log.next(&channel, Event::new("t", json!(i)));
            log.append(Arc::new(publication));
        }
        (channel, log)
    }

    #[test]
    fn channel_names_are_parsed_at_the_edge() {
        assert_eq!(ChannelName::parse("room:spring-drop"), Some(ChannelName::room("spring-drop")));
        assert_eq!(ChannelName::parse("user:0190"), Some(ChannelName::user("0190")));
        assert_eq!(ChannelName::parse("admin:x"), None);
        assert_eq!(ChannelName::parse("room:"), None);
        assert_eq!(ChannelName::parse("room:a b"), None);
        assert_eq!(ChannelName::room("x").to_string(), "room:x");
    }

    #[test]
    fn recovery_returns_exactly_the_missed_publications_in_order() {
        let (_, log) = log_with(10, 100);
        let Recovery::Missed(missed) = log.recover(&Position { offset: 7, epoch: "e1".into() }) else { panic!("recovers") };
        assert_eq!(missed.iter().map(|p| p.offset).collect::<Vec<_>>(), vec![8, 9, 10]);
    }

    #[test]
    fn a_position_older_than_history_gets_a_snapshot() {
        let (_, log) = log_with(10, 3);
        assert_eq!(log.recover(&Position { offset: 6, epoch: "e1".into() }), Recovery::Snapshot);
        assert!(matches!(log.recover(&Position { offset: 7, epoch: "e1".into() }), Recovery::Missed(v) if v.len() == 3));
    }

    #[test]
    fn another_epoch_or_a_future_offset_gets_a_snapshot() {
        let (_, log) = log_with(3, 10);
        assert_eq!(log.recover(&Position { offset: 2, epoch: "old".into() }), Recovery::Snapshot);
        assert_eq!(log.recover(&Position { offset: 9, epoch: "e1".into() }), Recovery::Snapshot);
    }

    #[test]
    fn a_gap_in_offsets_resets_history_so_recovery_cannot_skip_events() {
        let (channel, mut log) = log_with(3, 10);
        let mut jump = log.next(&channel, Event::new("t", json!(null)));
        jump.offset = 7;
        assert!(log.append(Arc::new(jump)));
        assert_eq!(log.recover(&Position { offset: 3, epoch: "e1".into() }), Recovery::Snapshot);
        assert!(matches!(log.recover(&Position { offset: 6, epoch: "e1".into() }), Recovery::Missed(v) if v.len() == 1));
    }

    #[test]
    fn a_duplicate_publication_is_ignored() {
        let (channel, mut log) = log_with(3, 10);
        let mut again = log.next(&channel, Event::new("t", json!(null)));
        again.offset = 2;
        assert!(!log.append(Arc::new(again)));
        assert_eq!(log.offset, 3);
    }
}
