//! Who is in each room over `/rtc`: every signalled participant's `ParticipantInfo`
//! and the queue its session reads, so sessions can see each other and relay data
//! packets. In process; the SFU's own sessions (WHIP/WHEP) are listed by the SFU.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use livekit_protocol::{data_packet, DataPacket, ParticipantInfo};
use tokio::sync::mpsc;

/// What one session hands another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relay {
    /// An encoded `DataPacket` for the client's `_reliable` or `_lossy` channel.
    Data { reliable: bool, bytes: Vec<u8> },
    /// The same identity joined again: this session must leave.
    Replaced,
    /// `RemoveParticipant`: this session must leave.
    Removed,
}

struct Member {
    info: ParticipantInfo,
    queue: mpsc::Sender<Relay>,
}

#[derive(Clone, Default)]
pub struct Roster {
    rooms: Arc<Mutex<HashMap<String, Vec<Member>>>>,
}

impl Roster {
    /// Adds `info` to `room`; a member with the same identity is told to leave and removed.
    pub fn join(&self, room: &str, info: ParticipantInfo, queue: mpsc::Sender<Relay>) {
        let mut rooms = self.lock();
        let members = rooms.entry(room.to_string()).or_default();
        members.retain(|m| {
            let same = m.info.identity == info.identity;
            if same {
                let _ = m.queue.try_send(Relay::Replaced);
            }
            !same
        });
        members.push(Member { info, queue });
    }

    /// Replaces the member's info (by sid).
    pub fn update(&self, room: &str, info: &ParticipantInfo) {
        if let Some(member) = self
            .lock()
            .get_mut(room)
            .and_then(|ms| ms.iter_mut().find(|m| m.info.sid == info.sid))
        {
            member.info = info.clone();
        }
    }

    pub fn leave(&self, room: &str, sid: &str) {
        let mut rooms = self.lock();
        if let Some(members) = rooms.get_mut(room) {
            members.retain(|m| m.info.sid != sid);
            if members.is_empty() {
                rooms.remove(room);
            }
        }
    }

    /// The member of `room` with `identity`.
    pub fn find(&self, room: &str, identity: &str) -> Option<ParticipantInfo> {
        self.lock().get(room).and_then(|ms| {
            ms.iter()
                .find(|m| m.info.identity == identity)
                .map(|m| m.info.clone())
        })
    }

    /// Tells the member with `identity` to leave (its session closes); false if none.
    pub fn remove(&self, room: &str, identity: &str) -> bool {
        self.lock()
            .get(room)
            .and_then(|ms| ms.iter().find(|m| m.info.identity == identity))
            .is_some_and(|m| m.queue.try_send(Relay::Removed).is_ok())
    }

    /// Everyone in `room` but `except` (a sid).
    pub fn others(&self, room: &str, except: &str) -> Vec<ParticipantInfo> {
        self.lock()
            .get(room)
            .map(|ms| {
                ms.iter()
                    .filter(|m| m.info.sid != except)
                    .map(|m| m.info.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Everyone in `room` (hidden participants included).
    pub fn all(&self, room: &str) -> Vec<ParticipantInfo> {
        self.others(room, "")
    }

    /// Stamps `packet` as sent by `from` and queues it for its recipients: everyone
    /// else in the room, or only the identities/sids it names. Returns how many. A
    /// recipient whose queue is full misses it (nobody waits for a slow participant).
    pub fn relay(
        &self,
        room: &str,
        from: &ParticipantInfo,
        packet: DataPacket,
        reliable: bool,
    ) -> usize {
        let (packet, identities, sids) = stamp(packet, from);
        let bytes = prost::Message::encode_to_vec(&packet);
        let rooms = self.lock();
        let Some(members) = rooms.get(room) else {
            return 0;
        };
        let mut sent = 0;
        for member in members.iter().filter(|m| m.info.sid != from.sid) {
            let named = identities.is_empty() && sids.is_empty()
                || identities.contains(&member.info.identity)
                || sids.contains(&member.info.sid);
            if named
                && member
                    .queue
                    .try_send(Relay::Data {
                        reliable,
                        bytes: bytes.clone(),
                    })
                    .is_ok()
            {
                sent += 1;
            }
        }
        sent
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Member>>> {
        self.rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The server's view of a data packet: the sender's identity and sid are set by us,
/// never taken from the client; returns the packet and its named recipients. The
/// user packet's own (deprecated) sender and recipient fields are kept for older SDKs.
#[allow(deprecated)]
pub fn stamp(
    mut packet: DataPacket,
    from: &ParticipantInfo,
) -> (DataPacket, Vec<String>, Vec<String>) {
    packet.participant_identity = from.identity.clone();
    packet.participant_sid = from.sid.clone();
    let mut identities = std::mem::take(&mut packet.destination_identities);
    let mut sids = Vec::new();
    match packet.value.as_mut() {
        Some(data_packet::Value::User(user)) => {
            user.participant_identity = from.identity.clone();
            user.participant_sid = from.sid.clone();
            identities.append(&mut user.destination_identities);
            sids.append(&mut user.destination_sids);
        }
        Some(data_packet::Value::ChatMessage(_)) | Some(data_packet::Value::StreamHeader(_)) => {}
        _ => {}
    }
    (packet, identities, sids)
}

#[cfg(test)]
mod tests {
    use livekit_protocol::UserPacket;

    use super::*;

    fn member(sid: &str, identity: &str) -> ParticipantInfo {
        ParticipantInfo {
            sid: sid.into(),
            identity: identity.into(),
            ..Default::default()
        }
    }

    #[allow(deprecated)] // UserPacket's own identity field: old SDKs still read it
    fn user_packet(to: &[&str]) -> DataPacket {
        DataPacket {
            participant_identity: "forged".into(),
            destination_identities: to.iter().map(|s| s.to_string()).collect(),
            value: Some(data_packet::Value::User(UserPacket {
                payload: b"hi".to_vec(),
                participant_identity: "forged".into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    #[allow(deprecated)]
    fn a_relayed_packet_carries_the_senders_identity_not_the_one_it_claims() {
        let (packet, _, _) = stamp(user_packet(&[]), &member("PA_a", "ann"));
        assert_eq!(
            (
                packet.participant_identity.as_str(),
                packet.participant_sid.as_str()
            ),
            ("ann", "PA_a")
        );
        let Some(data_packet::Value::User(user)) = packet.value else {
            panic!("not a user packet")
        };
        assert_eq!(user.participant_identity, "ann");
    }

    #[test]
    fn a_packet_goes_to_everyone_else_or_only_to_the_named_identities() {
        let roster = Roster::default();
        let (tx_a, mut rx_a) = mpsc::channel(8);
        let (tx_b, mut rx_b) = mpsc::channel(8);
        let (tx_c, mut rx_c) = mpsc::channel(8);
        roster.join("show", member("PA_a", "ann"), tx_a);
        roster.join("show", member("PA_b", "bob"), tx_b);
        roster.join("show", member("PA_c", "cy"), tx_c);
        assert_eq!(
            roster.relay("show", &member("PA_a", "ann"), user_packet(&[]), true),
            2
        );
        assert!(rx_a.try_recv().is_err() && rx_b.try_recv().is_ok() && rx_c.try_recv().is_ok());
        assert_eq!(
            roster.relay("show", &member("PA_a", "ann"), user_packet(&["cy"]), true),
            1
        );
        assert!(rx_b.try_recv().is_err() && rx_c.try_recv().is_ok());
    }

    #[test]
    fn joining_again_with_the_same_identity_replaces_the_first_session() {
        let roster = Roster::default();
        let (tx1, mut rx1) = mpsc::channel(8);
        let (tx2, _rx2) = mpsc::channel(8);
        roster.join("show", member("PA_1", "ann"), tx1);
        roster.join("show", member("PA_2", "ann"), tx2);
        assert_eq!(rx1.try_recv(), Ok(Relay::Replaced));
        assert_eq!(roster.all("show").len(), 1);
    }
}
