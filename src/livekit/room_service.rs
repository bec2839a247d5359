//! LiveKit's RoomService over our rooms. A LiveKit room is one of our rooms (same
//! name); rooms created here belong to `streamcart.livekit.default_shop` or the
//! built-in "LiveKit API rooms" shop. Participants are the room's live SFU sessions
//! (see `participants`). Grants are checked as LiveKit does: roomCreate for
//! CreateRoom/DeleteRoom, roomList for ListRooms, roomAdmin + room for the rest;
//! a missing grant is `unauthenticated` (401), as LiveKit answers.

use axum::response::Response;
use base64::Engine;
use livekit_api::access_token::Claims;
use livekit_protocol as proto;
use serde_json::json;

use super::participants::{self, participant_info, track_info, track_sid};
use super::store::{RoomSettings, SYSTEM_SHOP_ID};
use super::twirp::{Codec, TwirpCode, TwirpError};
use crate::app::AppState;
use crate::sfu::SessionInfo;
use crate::signaling::{ChannelName, Event};
use crate::store::RoomRow;

/// The methods served, in LiveKit's order.
pub const METHODS: &[&str] = &[
    "CreateRoom",
    "ListRooms",
    "DeleteRoom",
    "ListParticipants",
    "GetParticipant",
    "RemoveParticipant",
    "MutePublishedTrack",
    "UpdateParticipant",
    "UpdateSubscriptions",
    "SendData",
    "UpdateRoomMetadata",
];

/// Decodes the request of `method`, checks the grant, runs it, encodes the answer.
pub async fn call(state: &AppState, claims: &Claims, method: &str, codec: Codec, body: &[u8]) -> Result<Response, TwirpError> {
    match method {
        "CreateRoom" => {
            let request: proto::CreateRoomRequest = codec.decode(body)?;
            require(claims.video.room_create, "roomCreate")?;
            Ok(codec.encode(&create_room(state, request).await?))
        }
        "ListRooms" => {
            let request: proto::ListRoomsRequest = codec.decode(body)?;
            require(claims.video.room_list, "roomList")?;
            Ok(codec.encode(&list_rooms(state, request).await?))
        }
        "DeleteRoom" => {
            let request: proto::DeleteRoomRequest = codec.decode(body)?;
            require(claims.video.room_create, "roomCreate")?;
            delete_room(state, &request.room).await?;
            Ok(codec.encode(&proto::DeleteRoomResponse {}))
        }
        "ListParticipants" => {
            let request: proto::ListParticipantsRequest = codec.decode(body)?;
            let (_, sessions) = admin_room(state, claims, &request.room).await?;
            let mut participants: Vec<proto::ParticipantInfo> = sessions.iter().map(|s| participant_info(s, &state.livekit_rooms.directory.get(&s.session))).collect();
            participants.extend(state.livekit_rooms.roster.all(&request.room));
            Ok(codec.encode(&proto::ListParticipantsResponse { participants }))
        }
        "GetParticipant" => {
            let request: proto::RoomParticipantIdentity = codec.decode(body)?;
            let (_, sessions) = admin_room(state, claims, &request.room).await?;
            if let Some(signalled) = state.livekit_rooms.roster.find(&request.room, &request.identity) {
                return Ok(codec.encode(&signalled));
            }
            let session = participant(state, &sessions, &request.identity)?;
            Ok(codec.encode(&participant_info(session, &state.livekit_rooms.directory.get(&session.session))))
        }
        "RemoveParticipant" => {
            let request: proto::RoomParticipantIdentity = codec.decode(body)?;
            let (room, sessions) = admin_room(state, claims, &request.room).await?;
            if state.livekit_rooms.roster.remove(&request.room, &request.identity) {
                return Ok(codec.encode(&proto::RemoveParticipantResponse {}));
            }
            let session = participant(state, &sessions, &request.identity)?;
            end_session(state, &room, session).await?;
            Ok(codec.encode(&proto::RemoveParticipantResponse {}))
        }
        "MutePublishedTrack" => {
            let request: proto::MuteRoomTrackRequest = codec.decode(body)?;
            let (room, sessions) = admin_room(state, claims, &request.room).await?;
            let track = mute(state, &room, &sessions, &request).await?;
            Ok(codec.encode(&proto::MuteRoomTrackResponse { track: Some(track) }))
        }
        "UpdateParticipant" => {
            let request: proto::UpdateParticipantRequest = codec.decode(body)?;
            let (_, sessions) = admin_room(state, claims, &request.room).await?;
            let session = participant(state, &sessions, &request.identity)?;
            let overrides = state.livekit_rooms.directory.update(&session.session, |o| {
                o.apply(&request.metadata, &request.name, &request.attributes, request.permission.as_ref())
            });
            Ok(codec.encode(&participant_info(session, &overrides)))
        }
        "UpdateSubscriptions" => {
            let request: proto::UpdateSubscriptionsRequest = codec.decode(body)?;
            let (_, sessions) = admin_room(state, claims, &request.room).await?;
            update_subscriptions(state, &sessions, &request)?;
            Ok(codec.encode(&proto::UpdateSubscriptionsResponse {}))
        }
        "SendData" => {
            let request: proto::SendDataRequest = codec.decode(body)?;
            let (room, _) = admin_room(state, claims, &request.room).await?;
            send_data(state, &room, &request).await?;
            Ok(codec.encode(&proto::SendDataResponse {}))
        }
        "UpdateRoomMetadata" => {
            let request: proto::UpdateRoomMetadataRequest = codec.decode(body)?;
            let (room, sessions) = admin_room(state, claims, &request.room).await?;
            let mut settings = state.store.livekit_room_settings(&room.id).await?;
            settings.metadata = request.metadata.clone();
            state.store.set_livekit_room_settings(&room.id, &settings).await?;
            let _ = state
                .hub
                .publish_ephemeral(&ChannelName::Room(room.name.clone()), Event::new("livekit.room_metadata", json!({"metadata": request.metadata})))
                .await;
            Ok(codec.encode(&room_info(&room, &settings, &sessions)))
        }
        _ => Err(TwirpError::new(TwirpCode::BadRoute, format!("livekit.RoomService has no method {method:?}")).with_meta("method", method)),
    }
}

fn require(granted: bool, grant: &str) -> Result<(), TwirpError> {
    if granted {
        Ok(())
    } else {
        Err(TwirpError::unauthenticated(format!("permissions denied: this token lacks the {grant} grant")))
    }
}

/// The room of a roomAdmin request, checked against the token's `room`, with its live sessions.
async fn admin_room(state: &AppState, claims: &Claims, name: &str) -> Result<(RoomRow, Vec<SessionInfo>), TwirpError> {
    if !claims.video.room_admin || claims.video.room != name || name.is_empty() {
        return Err(TwirpError::unauthenticated(format!("permissions denied: this token lacks roomAdmin for room {name:?}")));
    }
    let room = state.store.room_by_name(name).await?.ok_or_else(|| TwirpError::not_found(format!("room {name:?} does not exist")))?;
    let sessions = state.sfu.sessions(Some(room.id.clone())).await?;
    Ok((room, sessions))
}

fn participant<'a>(state: &AppState, sessions: &'a [SessionInfo], identity: &str) -> Result<&'a SessionInfo, TwirpError> {
    participants::find(sessions, &state.livekit_rooms.directory, identity).ok_or_else(|| TwirpError::not_found(format!("participant {identity:?} is not in this room")))
}

/// LiveKit's Room for one of our rooms.
pub fn room_info(room: &RoomRow, settings: &RoomSettings, sessions: &[SessionInfo]) -> proto::Room {
    proto::Room {
        sid: room_sid(room),
        name: room.name.clone(),
        empty_timeout: settings.empty_timeout,
        departure_timeout: settings.departure_timeout,
        max_participants: settings.max_participants,
        creation_time: room.created_at / 1000,
        creation_time_ms: room.created_at,
        metadata: settings.metadata.clone(),
        num_participants: sessions.len() as u32,
        num_publishers: sessions.iter().filter(|s| s.publisher).count() as u32,
        ..Default::default()
    }
}

pub fn room_sid(room: &RoomRow) -> String {
    let compact: String = room.id.chars().filter(|c| *c != '-').take(12).collect();
    format!("RM_{compact}")
}

/// Room names become URL segments (`/whip/{room}`), so they follow our room-name rule.
fn parse_room_name(name: &str) -> Result<String, TwirpError> {
    crate::api::shops::parse_slug(name, "name")
        .map_err(|_| TwirpError::invalid("room names are 2 to 48 characters of a-z, 0-9, '-' or '_', starting with a letter or digit").with_meta("name", name))
}

pub(crate) async fn create_room(state: &AppState, request: proto::CreateRoomRequest) -> Result<proto::Room, TwirpError> {
    let name = parse_room_name(&request.name)?;
    let shop_id = match &state.settings.livekit.default_shop {
        Some(slug) => state
            .store
            .shop_by_slug(slug)
            .await?
            .ok_or_else(|| TwirpError::new(TwirpCode::FailedPrecondition, format!("streamcart.livekit.default_shop {slug:?} is not a shop")))?
            .id,
        None => SYSTEM_SHOP_ID.to_string(),
    };
    let stream_key_hash = crate::auth::hash_opaque_token(&crate::auth::new_opaque_token());
    let (room, opened) = state.store.open_livekit_room(&name, &shop_id, &stream_key_hash).await?;
    let settings = if opened {
        let settings = RoomSettings {
            metadata: request.metadata,
            empty_timeout: request.empty_timeout,
            departure_timeout: request.departure_timeout,
            max_participants: request.max_participants,
        };
        state.store.set_livekit_room_settings(&room.id, &settings).await?;
        settings
    } else {
        state.store.livekit_room_settings(&room.id).await?
    };
    let sessions = state.sfu.sessions(Some(room.id.clone())).await?;
    let info = room_info(&room, &settings, &sessions);
    if opened {
        state.livekit_rooms.webhooks.room_started(info.clone()).await;
    }
    Ok(info)
}

async fn list_rooms(state: &AppState, request: proto::ListRoomsRequest) -> Result<proto::ListRoomsResponse, TwirpError> {
    let rooms = state.store.active_rooms(&request.names).await?;
    let sessions = state.sfu.sessions(None).await?;
    let mut out = Vec::with_capacity(rooms.len());
    for room in rooms {
        let settings = state.store.livekit_room_settings(&room.id).await?;
        let mine: Vec<SessionInfo> = sessions.iter().filter(|s| s.room_id == room.id).cloned().collect();
        out.push(room_info(&room, &settings, &mine));
    }
    Ok(proto::ListRoomsResponse { rooms: out })
}

/// Ends every session of the room and marks it ended; LiveKit's clients see it gone.
async fn delete_room(state: &AppState, name: &str) -> Result<(), TwirpError> {
    let room = state.store.room_by_name(name).await?.ok_or_else(|| TwirpError::not_found(format!("room {name:?} does not exist")))?;
    let sessions = state.sfu.sessions(Some(room.id.clone())).await?;
    for session in sessions.iter().filter(|s| s.publisher).chain(sessions.iter().filter(|s| !s.publisher)) {
        match state.sfu.end(room.name.clone(), session.session.clone()).await {
            Ok(_) | Err(crate::sfu::SfuError::UnknownSession) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let settings = state.store.livekit_room_settings(&room.id).await?;
    if room.status != "ended" {
        state.store.set_room_status(&room.id, "ended").await?;
    }
    // With connected sessions the observer reports them leaving, then room_finished.
    if !sessions.iter().any(|s| s.connected) {
        state.livekit_rooms.webhooks.room_finished(room_info(&room, &settings, &[])).await;
    }
    Ok(())
}

/// RemoveParticipant: the session ends; a publisher's end ends the stream (as WHIP DELETE).
async fn end_session(state: &AppState, room: &RoomRow, session: &SessionInfo) -> Result<(), TwirpError> {
    let was_publisher = state.sfu.end(room.name.clone(), session.session.clone()).await?;
    if was_publisher {
        state.store.set_room_status(&room.id, "ended").await?;
    }
    Ok(())
}

async fn mute(state: &AppState, room: &RoomRow, sessions: &[SessionInfo], request: &proto::MuteRoomTrackRequest) -> Result<proto::TrackInfo, TwirpError> {
    let session = participant(state, sessions, &request.identity)?;
    let track = session
        .tracks
        .iter()
        .find(|t| session.publisher && track_sid(session, t) == request.track_sid)
        .ok_or_else(|| TwirpError::not_found(format!("track {:?} is not published by {:?}", request.track_sid, request.identity)))?;
    state.sfu.mute_track(room.id.clone(), track.mid.clone(), request.muted).await?;
    let mut muted = track.clone();
    muted.muted = request.muted;
    Ok(track_info(session, &muted))
}

/// A WHEP viewer receives every track of its room; its SDP fixes that, so
/// subscribing is a no-op and unsubscribing is not possible.
fn update_subscriptions(state: &AppState, sessions: &[SessionInfo], request: &proto::UpdateSubscriptionsRequest) -> Result<(), TwirpError> {
    participant(state, sessions, &request.identity)?;
    let published: Vec<String> = sessions.iter().filter(|s| s.publisher).flat_map(|s| s.tracks.iter().map(move |t| track_sid(s, t))).collect();
    let wanted = request.track_sids.iter().chain(request.participant_tracks.iter().flat_map(|p| p.track_sids.iter()));
    for sid in wanted {
        if !published.contains(sid) {
            return Err(TwirpError::not_found(format!("track {sid:?} is not published in this room")));
        }
    }
    if request.subscribe {
        Ok(())
    } else {
        Err(TwirpError::new(TwirpCode::Unimplemented, "a WHEP viewer cannot unsubscribe from single tracks; end its session instead"))
    }
}

/// SendData: relayed to the room's signaling channel as a `livekit.data` event.
async fn send_data(state: &AppState, room: &RoomRow, request: &proto::SendDataRequest) -> Result<(), TwirpError> {
    let kind = if request.kind == proto::data_packet::Kind::Lossy as i32 { "lossy" } else { "reliable" };
    // To the room's LiveKit SDK participants over their data channels, from the server.
    let packet = proto::DataPacket {
        destination_identities: request.destination_identities.clone(),
        value: Some(proto::data_packet::Value::User(proto::UserPacket { payload: request.data.clone(), topic: request.topic.clone(), ..Default::default() })),
        ..Default::default()
    };
    state.livekit_rooms.roster.relay(&room.name, &proto::ParticipantInfo::default(), packet, kind == "reliable");
    let event = Event::new(
        "livekit.data",
        json!({
            "data": base64::engine::general_purpose::STANDARD.encode(&request.data),
            "kind": kind,
            "topic": request.topic,
            "destination_identities": request.destination_identities,
        }),
    );
    state
        .hub
        .publish_ephemeral(&ChannelName::Room(room.name.clone()), event)
        .await
        .map_err(|e| TwirpError::new(TwirpCode::Unavailable, format!("the room's channel is unavailable: {e}")))
}
