//! Sans-IO: turns successive snapshots of the SFU's sessions into LiveKit's room,
//! participant and track lifecycle events (for webhooks). A session counts once it
//! has connected; a room starts with its first such session and finishes with its last.

use std::collections::BTreeMap;

use crate::sfu::{SessionInfo, TrackSummary};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    RoomStarted { room_id: String, room_name: String },
    RoomFinished { room_id: String, room_name: String },
    ParticipantJoined(SessionInfo),
    ParticipantLeft(SessionInfo),
    TrackPublished(SessionInfo, TrackSummary),
    TrackUnpublished(SessionInfo, TrackSummary),
}

#[derive(Default)]
pub struct Observer {
    /// Connected sessions per room id, as last seen.
    rooms: BTreeMap<String, BTreeMap<String, SessionInfo>>,
}

impl Observer {
    /// The changes since the previous snapshot, in the order LiveKit sends them.
    pub fn observe(&mut self, sessions: &[SessionInfo]) -> Vec<Change> {
        let mut now: BTreeMap<String, BTreeMap<String, SessionInfo>> = BTreeMap::new();
        for s in sessions.iter().filter(|s| s.connected) {
            now.entry(s.room_id.clone()).or_default().insert(s.session.clone(), s.clone());
        }
        let mut changes = Vec::new();
        for (room_id, before) in &self.rooms {
            let after = now.get(room_id);
            for (id, gone) in before {
                if after.is_some_and(|a| a.contains_key(id)) {
                    continue;
                }
                if gone.publisher {
                    changes.extend(gone.tracks.iter().map(|t| Change::TrackUnpublished(gone.clone(), t.clone())));
                }
                changes.push(Change::ParticipantLeft(gone.clone()));
            }
            if after.is_none() {
                let room_name = before.values().next().map(|s| s.room_name.clone()).unwrap_or_default();
                changes.push(Change::RoomFinished { room_id: room_id.clone(), room_name });
            }
        }
        for (room_id, after) in &now {
            let before = self.rooms.get(room_id);
            if before.is_none() {
                let room_name = after.values().next().map(|s| s.room_name.clone()).unwrap_or_default();
                changes.push(Change::RoomStarted { room_id: room_id.clone(), room_name });
            }
            for (id, new) in after {
                if before.is_some_and(|b| b.contains_key(id)) {
                    continue;
                }
                changes.push(Change::ParticipantJoined(new.clone()));
                if new.publisher {
                    changes.extend(new.tracks.iter().map(|t| Change::TrackPublished(new.clone(), t.clone())));
                }
            }
        }
        self.rooms = now;
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, publisher: bool, connected: bool) -> SessionInfo {
        SessionInfo {
            session: id.into(),
            room_id: "r1".into(),
            room_name: "show".into(),
            publisher,
            connected,
            created_unix_ms: 0,
            tracks: vec![TrackSummary { mid: "0".into(), kind: "video", muted: false }],
        }
    }

    fn names(changes: &[Change]) -> Vec<&'static str> {
        changes
            .iter()
            .map(|c| match c {
                Change::RoomStarted { .. } => "room_started",
                Change::RoomFinished { .. } => "room_finished",
                Change::ParticipantJoined(_) => "participant_joined",
                Change::ParticipantLeft(_) => "participant_left",
                Change::TrackPublished(..) => "track_published",
                Change::TrackUnpublished(..) => "track_unpublished",
            })
            .collect()
    }

    #[test]
    fn a_session_counts_only_once_it_has_connected() {
        let mut o = Observer::default();
        assert!(o.observe(&[session("p", true, false)]).is_empty());
        assert_eq!(names(&o.observe(&[session("p", true, true)])), ["room_started", "participant_joined", "track_published"]);
    }

    #[test]
    fn a_viewer_joining_and_leaving_is_reported_once_each() {
        let mut o = Observer::default();
        o.observe(&[session("p", true, true)]);
        assert_eq!(names(&o.observe(&[session("p", true, true), session("v", false, true)])), ["participant_joined"]);
        assert!(o.observe(&[session("p", true, true), session("v", false, true)]).is_empty());
        assert_eq!(names(&o.observe(&[session("p", true, true)])), ["participant_left"]);
    }

    #[test]
    fn a_session_that_ends_before_connecting_is_never_reported() {
        let mut o = Observer::default();
        assert!(o.observe(&[session("p", true, false)]).is_empty());
        assert!(o.observe(&[]).is_empty());
    }

    #[test]
    fn the_last_session_leaving_finishes_the_room_after_its_tracks() {
        let mut o = Observer::default();
        o.observe(&[session("p", true, true)]);
        assert_eq!(names(&o.observe(&[])), ["track_unpublished", "participant_left", "room_finished"]);
    }
}
