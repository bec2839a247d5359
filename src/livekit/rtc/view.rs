//! What one client was told of its room, and what it must be told now: the sans-IO
//! core of a session's sync (`participant_update`, `room_update`, and the tracks its
//! subscriber connection should carry).

use std::collections::{HashMap, HashSet};

use livekit_protocol::{participant_info, ParticipantInfo, Room, TrackType};
use prost::Message as _;

use crate::sfu::participant::DownTrackSpec;

#[derive(Debug, Default)]
pub struct RoomView {
    told: HashMap<String, ParticipantInfo>,
    told_room: Vec<u8>,
}

impl RoomView {
    /// Records what the join response said.
    pub fn joined(&mut self, room: &Room, others: &[ParticipantInfo]) {
        self.told_room = room.encode_to_vec();
        self.told = others.iter().map(|p| (p.sid.clone(), p.clone())).collect();
    }

    /// The participants to send in a `participant_update`: new or changed ones, and
    /// departed ones (their last info, `DISCONNECTED`).
    pub fn participants(&mut self, others: &[ParticipantInfo]) -> Vec<ParticipantInfo> {
        let mut changed = Vec::new();
        for p in others {
            if self.told.get(&p.sid) != Some(p) {
                self.told.insert(p.sid.clone(), p.clone());
                changed.push(p.clone());
            }
        }
        let gone: Vec<String> = self
            .told
            .keys()
            .filter(|sid| !others.iter().any(|p| &p.sid == *sid))
            .cloned()
            .collect();
        for sid in gone {
            if let Some(mut last) = self.told.remove(&sid) {
                last.state = participant_info::State::Disconnected as i32;
                last.version += 1;
                changed.push(last);
            }
        }
        changed
    }

    /// The room, if it changed since the client was last told.
    pub fn room(&mut self, room: Room) -> Option<Room> {
        let encoded = room.encode_to_vec();
        if encoded == self.told_room {
            return None;
        }
        self.told_room = encoded;
        Some(room)
    }
}

/// The tracks a subscriber receives: every track the others publish but those it
/// unsubscribed from, each as LiveKit's SDKs find it (`a=msid:PA_…|TR_… TR_…`).
pub fn down_tracks(
    others: &[ParticipantInfo],
    unsubscribed: &HashSet<String>,
) -> Vec<DownTrackSpec> {
    others
        .iter()
        .flat_map(|p| {
            p.tracks
                .iter()
                .filter(|t| !unsubscribed.contains(&t.sid))
                .map(move |t| DownTrackSpec {
                    kind: if t.r#type == TrackType::Audio as i32 {
                        "audio"
                    } else {
                        "video"
                    },
                    stream_id: format!("{}|{}", p.sid, t.sid),
                    track_id: t.sid.clone(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use livekit_protocol::TrackInfo;

    use super::*;

    fn person(sid: &str, identity: &str) -> ParticipantInfo {
        ParticipantInfo {
            sid: sid.into(),
            identity: identity.into(),
            state: participant_info::State::Active as i32,
            ..Default::default()
        }
    }

    #[test]
    fn a_participant_is_announced_when_new_and_again_only_when_changed() {
        let mut view = RoomView::default();
        let ann = person("PA_a", "ann");
        assert_eq!(
            view.participants(std::slice::from_ref(&ann)),
            vec![ann.clone()]
        );
        assert!(view.participants(std::slice::from_ref(&ann)).is_empty());
        let renamed = ParticipantInfo {
            metadata: "on stage".into(),
            ..ann
        };
        assert_eq!(
            view.participants(std::slice::from_ref(&renamed)),
            vec![renamed]
        );
    }

    #[test]
    fn a_departed_participant_is_announced_disconnected_with_its_identity() {
        let mut view = RoomView::default();
        view.joined(&Room::default(), &[person("PA_a", "ann")]);
        let gone = view.participants(&[]);
        assert_eq!(gone.len(), 1);
        assert_eq!(
            (gone[0].identity.as_str(), gone[0].state),
            ("ann", participant_info::State::Disconnected as i32)
        );
        assert!(view.participants(&[]).is_empty());
    }

    #[test]
    fn the_room_is_announced_only_when_it_changed() {
        let mut view = RoomView::default();
        let room = Room {
            name: "show".into(),
            num_participants: 2,
            ..Default::default()
        };
        view.joined(&room, &[]);
        assert_eq!(view.room(room.clone()), None);
        let more = Room {
            num_participants: 3,
            ..room
        };
        assert_eq!(view.room(more.clone()), Some(more));
    }

    #[test]
    fn down_tracks_carry_livekit_stream_ids_and_skip_unsubscribed_tracks() {
        let mut publisher = person("PA_p", "obs");
        publisher.tracks = vec![
            TrackInfo {
                sid: "TR_a".into(),
                r#type: TrackType::Audio as i32,
                ..Default::default()
            },
            TrackInfo {
                sid: "TR_v".into(),
                r#type: TrackType::Video as i32,
                ..Default::default()
            },
        ];
        let tracks = down_tracks(
            &[publisher, person("PA_x", "viewer")],
            &HashSet::from(["TR_a".to_string()]),
        );
        assert_eq!(
            tracks,
            vec![DownTrackSpec {
                kind: "video",
                stream_id: "PA_p|TR_v".into(),
                track_id: "TR_v".into()
            }]
        );
    }
}
