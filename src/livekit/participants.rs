//! LiveKit's view of our rooms' people: each live SFU session is a participant (the
//! WHIP publisher with its tracks, each WHEP viewer), with LiveKit-style ids derived
//! from the session, plus what `UpdateParticipant` set on it (kept in memory for the
//! session's lifetime). Pure conversions; no IO.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use livekit_protocol::{participant_info, ParticipantInfo, ParticipantPermission, TrackInfo, TrackSource, TrackType};

use crate::sfu::{SessionInfo, TrackSummary};

/// What `UpdateParticipant` changed on a participant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// The identity of the LiveKit token the WHIP/WHEP client used, if it used one.
    pub identity: Option<String>,
    pub name: Option<String>,
    pub metadata: String,
    pub attributes: HashMap<String, String>,
    pub permission: Option<ParticipantPermission>,
}

impl Overrides {
    /// LiveKit's rules: empty metadata or name leave the value as is; an attribute set
    /// to "" is removed; a permission replaces the old one.
    pub fn apply(&mut self, metadata: &str, name: &str, attributes: &HashMap<String, String>, permission: Option<&ParticipantPermission>) {
        if !metadata.is_empty() {
            self.metadata = metadata.to_string();
        }
        if !name.is_empty() {
            self.name = Some(name.to_string());
        }
        for (key, value) in attributes {
            if value.is_empty() {
                self.attributes.remove(key);
            } else {
                self.attributes.insert(key.clone(), value.clone());
            }
        }
        if let Some(permission) = permission {
            self.permission = Some(permission.clone());
        }
    }
}

/// Overrides per SFU session, shared by every handler.
#[derive(Clone, Default)]
pub struct Directory {
    overrides: Arc<Mutex<HashMap<String, Overrides>>>,
}

impl Directory {
    pub fn get(&self, session: &str) -> Overrides {
        self.lock().get(session).cloned().unwrap_or_default()
    }

    pub fn update(&self, session: &str, f: impl FnOnce(&mut Overrides)) -> Overrides {
        let mut map = self.lock();
        let entry = map.entry(session.to_string()).or_default();
        f(entry);
        entry.clone()
    }

    /// Forgets sessions that no longer exist (`live` is every session on this node).
    pub fn retain_live(&self, live: &[SessionInfo]) {
        self.lock().retain(|session, _| live.iter().any(|s| &s.session == session));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Overrides>> {
        self.overrides.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn short(session: &str, n: usize) -> &str {
    session.get(..n).unwrap_or(session)
}

/// `whip-<8 chars of the session>` for the publisher, `whep-…` for a viewer.
pub fn identity(session: &SessionInfo) -> String {
    format!("{}-{}", if session.publisher { "whip" } else { "whep" }, short(&session.session, 8))
}

pub fn participant_sid(session: &SessionInfo) -> String {
    format!("PA_{}", short(&session.session, 12))
}

pub fn track_sid(session: &SessionInfo, track: &TrackSummary) -> String {
    format!("TR_{}{}", short(&session.session, 8), track.mid)
}

pub fn track_info(session: &SessionInfo, track: &TrackSummary) -> TrackInfo {
    let video = track.kind == "video";
    TrackInfo {
        sid: track_sid(session, track),
        r#type: (if video { TrackType::Video } else { TrackType::Audio }) as i32,
        name: track.kind.to_string(),
        muted: track.muted,
        source: (if video { TrackSource::Camera } else { TrackSource::Microphone }) as i32,
        mid: track.mid.clone(),
        ..Default::default()
    }
}

pub fn participant_info(session: &SessionInfo, overrides: &Overrides) -> ParticipantInfo {
    let default_name = if session.publisher { "WHIP publisher" } else { "WHEP viewer" };
    let permission = overrides.permission.clone().unwrap_or(ParticipantPermission {
        can_subscribe: !session.publisher,
        can_publish: session.publisher,
        can_publish_data: false,
        ..Default::default()
    });
    ParticipantInfo {
        sid: participant_sid(session),
        identity: overrides.identity.clone().unwrap_or_else(|| identity(session)),
        state: (if session.connected { participant_info::State::Active } else { participant_info::State::Joining }) as i32,
        tracks: if session.publisher { session.tracks.iter().map(|t| track_info(session, t)).collect() } else { Vec::new() },
        metadata: overrides.metadata.clone(),
        joined_at: session.created_unix_ms / 1000,
        joined_at_ms: session.created_unix_ms,
        name: overrides.name.clone().unwrap_or_else(|| default_name.to_string()),
        permission: Some(permission),
        is_publisher: session.publisher,
        kind: (if session.publisher { participant_info::Kind::Ingress } else { participant_info::Kind::Standard }) as i32,
        attributes: overrides.attributes.clone(),
        ..Default::default()
    }
}

/// The session of `identity` among `sessions` (its token's identity, or `whip-…`/`whep-…`).
pub fn find<'a>(sessions: &'a [SessionInfo], directory: &Directory, identity_wanted: &str) -> Option<&'a SessionInfo> {
    sessions.iter().find(|s| directory.get(&s.session).identity.unwrap_or_else(|| identity(s)) == identity_wanted)
}

/// Remembers the identity and name of the LiveKit token (`Authorization: Bearer`) a
/// WHIP/WHEP client created `session` with, so it is listed under that identity.
pub fn remember_token_identity(state: &crate::app::AppState, room: &str, headers: &axum::http::HeaderMap, session: &str) {
    let Some(token) = super::twirp::bearer(headers) else { return };
    let Ok(Some(grant)) = state.livekit.room_grant(token, room) else { return };
    state.livekit_rooms.directory.update(session, |o| {
        o.identity = Some(grant.identity.clone());
        if o.name.is_none() && !grant.name.is_empty() {
            o.name = Some(grant.name.clone());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publisher() -> SessionInfo {
        SessionInfo {
            session: "abcdefghijklmnopqrstuvwxyz".into(),
            room_id: "r1".into(),
            room_name: "show".into(),
            publisher: true,
            connected: true,
            created_unix_ms: 1_700_000_000_123,
            tracks: vec![
                TrackSummary { mid: "0".into(), kind: "audio", muted: false },
                TrackSummary { mid: "1".into(), kind: "video", muted: true },
            ],
        }
    }

    #[test]
    fn a_whip_publisher_is_an_ingress_participant_with_its_tracks() {
        let info = participant_info(&publisher(), &Overrides::default());
        assert_eq!(info.identity, "whip-abcdefgh");
        assert_eq!(info.sid, "PA_abcdefghijkl");
        assert_eq!(info.kind, participant_info::Kind::Ingress as i32);
        assert!(info.is_publisher);
        assert_eq!(info.joined_at, 1_700_000_000);
        let kinds: Vec<(i32, bool)> = info.tracks.iter().map(|t| (t.r#type, t.muted)).collect();
        assert_eq!(kinds, vec![(TrackType::Audio as i32, false), (TrackType::Video as i32, true)]);
    }

    #[test]
    fn a_whep_viewer_subscribes_and_publishes_nothing() {
        let viewer = SessionInfo { publisher: false, ..publisher() };
        let info = participant_info(&viewer, &Overrides::default());
        assert_eq!(info.identity, "whep-abcdefgh");
        assert!(info.tracks.is_empty());
        let permission = info.permission.unwrap();
        assert!(permission.can_subscribe && !permission.can_publish);
    }

    #[test]
    fn a_session_created_with_a_livekit_token_carries_its_identity() {
        let overrides = Overrides { identity: Some("obs-studio".into()), ..Default::default() };
        assert_eq!(participant_info(&publisher(), &overrides).identity, "obs-studio");
        let directory = Directory::default();
        directory.update("abcdefghijklmnopqrstuvwxyz", |o| o.identity = Some("obs-studio".into()));
        assert!(find(&[publisher()], &directory, "obs-studio").is_some());
        assert!(find(&[publisher()], &directory, "whip-abcdefgh").is_none());
    }

    #[test]
    fn updates_keep_unset_fields_and_remove_emptied_attributes() {
        let mut o = Overrides::default();
        o.apply("m1", "Ann", &HashMap::from([("a".to_string(), "1".to_string()), ("b".to_string(), "2".to_string())]), None);
        o.apply("", "", &HashMap::from([("a".to_string(), String::new())]), None);
        assert_eq!((o.metadata.as_str(), o.name.as_deref()), ("m1", Some("Ann")));
        assert_eq!(o.attributes, HashMap::from([("b".to_string(), "2".to_string())]));
    }
}
