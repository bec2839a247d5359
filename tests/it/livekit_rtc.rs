//! LiveKit client signaling at `/rtc`, spoken by a Rust client as LiveKit's SDKs do:
//! protobuf `SignalRequest`/`SignalResponse` over a WebSocket, the token as
//! `Authorization: Bearer` or `access_token`. Media and data channels between real
//! SDKs are covered by tests/interop (stage livekit-sdk).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use livekit_api::access_token::{AccessToken, Claims, VideoGrants};
use livekit_protocol::{signal_request, signal_response, SignalRequest, SignalResponse};
use prost::Message as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::support::{spawn_app_with, TestApp};

const KEY: &str = "APIstreamcart";
const SECRET: &str = "test-secret-test-secret-test-secret-0001";

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn app() -> TestApp {
    spawn_app_with(|s| {
        s.api_keys.insert(KEY.into(), SECRET.into());
    })
    .await
}

fn join_token(room: &str, identity: &str) -> String {
    AccessToken::with_api_key(KEY, SECRET)
        .with_identity(identity)
        .with_name(identity)
        .with_grants(VideoGrants {
            room_join: true,
            room: room.into(),
            ..Default::default()
        })
        .to_jwt()
        .unwrap()
}

fn ws_url(app: &TestApp, path_and_query: &str) -> String {
    app.url(path_and_query).replacen("http://", "ws://", 1)
}

/// Opens `/rtc` with the token as a bearer header (Python/Rust SDKs) or refuses with the HTTP status.
async fn open(app: &TestApp, path_and_query: &str, bearer: Option<&str>) -> Result<Socket, u16> {
    let mut request = ws_url(app, path_and_query).into_client_request().unwrap();
    if let Some(token) = bearer {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("unexpected websocket error: {e}"),
    }
}

async fn join(
    app: &TestApp,
    room: &str,
    identity: &str,
) -> (Socket, livekit_protocol::JoinResponse) {
    let mut socket = open(
        app,
        "/rtc?protocol=18&auto_subscribe=1",
        Some(&join_token(room, identity)),
    )
    .await
    .expect("join refused");
    let Some(signal_response::Message::Join(join)) = next(&mut socket).await else {
        panic!("the first message is not a JoinResponse")
    };
    (socket, join)
}

async fn send(socket: &mut Socket, message: signal_request::Message) {
    let bytes = SignalRequest {
        message: Some(message),
    }
    .encode_to_vec();
    socket.send(Message::Binary(bytes.into())).await.unwrap();
}

/// The next signal message (None if the socket closed), within 10 s.
async fn next(socket: &mut Socket) -> Option<signal_response::Message> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("no signal message within 10 s");
        match frame {
            Some(Ok(Message::Binary(bytes))) => {
                return SignalResponse::decode(bytes.as_ref()).unwrap().message
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// Skips messages until one `pick` accepts.
async fn next_matching<T>(
    socket: &mut Socket,
    mut pick: impl FnMut(signal_response::Message) -> Option<T>,
) -> T {
    for _ in 0..200 {
        let message = next(socket).await.expect("the socket closed");
        if let Some(found) = pick(message) {
            return found;
        }
    }
    panic!("no matching signal message");
}

#[tokio::test]
async fn a_valid_token_joins_and_gets_the_join_response_sdks_need() {
    let app = app().await;
    let (_socket, join) = join(&app, "studio", "ann").await;
    assert_eq!(join.room.as_ref().map(|r| r.name.as_str()), Some("studio"));
    assert!(join.room.as_ref().unwrap().sid.starts_with("RM_"));
    let me = join.participant.unwrap();
    assert_eq!(me.identity, "ann");
    assert!(me.sid.starts_with("PA_"));
    let server = join.server_info.unwrap();
    assert!(!server.version.is_empty() && !join.server_version.is_empty());
    assert!(
        !join.subscriber_primary,
        "the client offers its publisher connection first"
    );
    assert!(join.ping_interval > 0 && join.ping_timeout > join.ping_interval);
    assert!(join.other_participants.is_empty());
}

#[tokio::test]
async fn the_token_may_come_as_the_access_token_query_parameter() {
    let app = app().await;
    let token = join_token("studio", "js");
    let mut socket = open(
        &app,
        &format!("/rtc?access_token={token}&protocol=17"),
        None,
    )
    .await
    .expect("join refused");
    assert!(matches!(
        next(&mut socket).await,
        Some(signal_response::Message::Join(_))
    ));
}

#[tokio::test]
async fn a_token_with_an_unknown_key_a_wrong_secret_an_expiry_or_another_room_is_refused_with_401()
{
    let app = app().await;
    let grants = VideoGrants {
        room_join: true,
        room: "studio".into(),
        ..Default::default()
    };
    let unknown_key = AccessToken::with_api_key("APIother", SECRET)
        .with_identity("x")
        .with_grants(grants.clone())
        .to_jwt()
        .unwrap();
    let wrong_secret = AccessToken::with_api_key(KEY, "another-secret-another-secret-0000")
        .with_identity("x")
        .with_grants(grants.clone())
        .to_jwt()
        .unwrap();
    let claims = Claims {
        exp: 1_000,
        nbf: 0,
        iss: KEY.into(),
        sub: "x".into(),
        video: grants,
        ..Default::default()
    };
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    for token in [unknown_key, wrong_secret, expired] {
        assert_eq!(
            open(&app, "/rtc?protocol=18", Some(&token)).await.err(),
            Some(401)
        );
        let res = app
            .client
            .get(app.url("/rtc/validate"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 401);
    }
    let other_room = join_token("other", "x");
    assert_eq!(
        open(&app, "/rtc?room=studio", Some(&other_room))
            .await
            .err(),
        Some(401)
    );
    assert_eq!(open(&app, "/rtc", None).await.err(), Some(401));
}

#[tokio::test]
async fn validate_answers_200_for_a_valid_token_with_cors_for_browsers() {
    let app = app().await;
    let token = join_token("studio", "ann");
    let res = app
        .client
        .get(app.url(&format!("/rtc/validate?access_token={token}")))
        .header("origin", "http://example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers().get("access-control-allow-origin").unwrap(),
        "*"
    );
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/rtc/validate"))
        .header("origin", "http://example.test")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert!(preflight
        .headers()
        .get("access-control-allow-headers")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("authorization"));
}

#[tokio::test]
async fn the_single_peer_connection_paths_answer_404_so_sdks_fall_back_to_rtc() {
    let app = app().await;
    let token = join_token("studio", "ann");
    assert_eq!(
        open(
            &app,
            &format!("/rtc/v1?access_token={token}&join_request=AAAA"),
            None
        )
        .await
        .err(),
        Some(404)
    );
    assert_eq!(
        open(&app, "/rtc/v1?join_request=AAAA", Some(&token))
            .await
            .err(),
        Some(404)
    );
    let res = app
        .client
        .get(app.url(&format!("/rtc/v1/validate?access_token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    assert_eq!(
        res.headers().get("access-control-allow-origin").unwrap(),
        "*"
    );
}

#[tokio::test]
async fn a_ping_is_answered_with_a_pong_carrying_its_timestamp() {
    let app = app().await;
    let (mut socket, _) = join(&app, "studio", "ann").await;
    send(
        &mut socket,
        signal_request::Message::PingReq(livekit_protocol::Ping {
            timestamp: 1234,
            rtt: 0,
        }),
    )
    .await;
    let pong = next_matching(&mut socket, |m| match m {
        signal_response::Message::PongResp(p) => Some(p),
        _ => None,
    })
    .await;
    assert_eq!(pong.last_ping_timestamp, 1234);
    assert!(pong.timestamp > 0);
    send(&mut socket, signal_request::Message::Ping(77)).await;
    let legacy = next_matching(&mut socket, |m| match m {
        signal_response::Message::Pong(ts) => Some(ts),
        _ => None,
    })
    .await;
    assert_eq!(legacy, 77);
}

#[tokio::test]
async fn participants_see_each_other_join_change_metadata_and_leave() {
    let app = app().await;
    let (mut ann, _) = join(&app, "studio", "ann").await;
    let (mut bob, bob_join) = join(&app, "studio", "bob").await;
    assert_eq!(
        bob_join
            .other_participants
            .iter()
            .map(|p| p.identity.as_str())
            .collect::<Vec<_>>(),
        vec!["ann"]
    );
    let seen = next_matching(&mut ann, |m| match m {
        signal_response::Message::Update(u) => {
            u.participants.into_iter().find(|p| p.identity == "bob")
        }
        _ => None,
    })
    .await;
    assert_eq!(
        seen.state,
        livekit_protocol::participant_info::State::Active as i32
    );

    let update = livekit_protocol::UpdateParticipantMetadata {
        metadata: "on stage".into(),
        ..Default::default()
    };
    send(&mut bob, signal_request::Message::UpdateMetadata(update)).await;
    next_matching(&mut ann, |m| match m {
        signal_response::Message::Update(u) => u
            .participants
            .into_iter()
            .find(|p| p.identity == "bob" && p.metadata == "on stage"),
        _ => None,
    })
    .await;

    send(
        &mut bob,
        signal_request::Message::Leave(livekit_protocol::LeaveRequest::default()),
    )
    .await;
    let gone = next_matching(&mut ann, |m| match m {
        signal_response::Message::Update(u) => u.participants.into_iter().find(|p| {
            p.sid == seen.sid
                && p.state == livekit_protocol::participant_info::State::Disconnected as i32
        }),
        _ => None,
    })
    .await;
    assert_eq!(gone.sid, seen.sid);
}

#[tokio::test]
async fn add_track_is_answered_with_track_published_for_its_client_id() {
    let app = app().await;
    let (mut socket, _) = join(&app, "studio", "ann").await;
    let add = livekit_protocol::AddTrackRequest {
        cid: "local-cam".into(),
        name: "camera".into(),
        r#type: livekit_protocol::TrackType::Video as i32,
        source: livekit_protocol::TrackSource::Camera as i32,
        width: 640,
        height: 360,
        ..Default::default()
    };
    send(&mut socket, signal_request::Message::AddTrack(add)).await;
    let published = next_matching(&mut socket, |m| match m {
        signal_response::Message::TrackPublished(t) => Some(t),
        _ => None,
    })
    .await;
    assert_eq!(published.cid, "local-cam");
    let track = published.track.unwrap();
    assert!(track.sid.starts_with("TR_"));
    assert_eq!(
        (track.name.as_str(), track.width, track.height),
        ("camera", 640, 360)
    );
}

#[tokio::test]
async fn a_publisher_offer_with_data_channels_is_answered() {
    let app = app().await;
    let (mut socket, _) = join(&app, "studio", "ann").await;
    let mut rtc = str0m::Rtc::builder().build(std::time::Instant::now());
    let mut api = rtc.sdp_api();
    api.add_channel("_reliable".into());
    let (offer, _pending) = api.apply().unwrap();
    let sdp = offer.to_sdp_string();
    send(
        &mut socket,
        signal_request::Message::Offer(livekit_protocol::SessionDescription {
            r#type: "offer".into(),
            sdp,
            id: 7,
            ..Default::default()
        }),
    )
    .await;
    let answer = next_matching(&mut socket, |m| match m {
        signal_response::Message::Answer(a) => Some(a),
        _ => None,
    })
    .await;
    assert_eq!((answer.r#type.as_str(), answer.id), ("answer", 7));
    assert!(answer.sdp.contains("m=application") && answer.sdp.contains("a=candidate"));
}

async fn twirp(
    app: &TestApp,
    method: &str,
    room: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let admin = AccessToken::with_api_key(KEY, SECRET)
        .with_identity("backend")
        .with_grants(VideoGrants {
            room_admin: true,
            room: room.into(),
            ..Default::default()
        })
        .to_jwt()
        .unwrap();
    let res = app
        .client
        .post(app.url(&format!("/twirp/livekit.RoomService/{method}")))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn the_room_service_lists_gets_and_removes_signalled_participants() {
    let app = app().await;
    let (mut ann, join) = join(&app, "studio", "ann").await;
    let (status, list) = twirp(
        &app,
        "ListParticipants",
        "studio",
        serde_json::json!({"room": "studio"}),
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let identities: Vec<&str> = list["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["identity"].as_str())
        .collect();
    assert_eq!(identities, vec!["ann"]);
    let (status, one) = twirp(
        &app,
        "GetParticipant",
        "studio",
        serde_json::json!({"room": "studio", "identity": "ann"}),
    )
    .await;
    assert_eq!(
        (status, one["sid"].as_str()),
        (200, Some(join.participant.unwrap().sid.as_str()))
    );
    let (status, _) = twirp(
        &app,
        "RemoveParticipant",
        "studio",
        serde_json::json!({"room": "studio", "identity": "ann"}),
    )
    .await;
    assert_eq!(status, 200);
    let leave = next_matching(&mut ann, |m| match m {
        signal_response::Message::Leave(l) => Some(l),
        _ => None,
    })
    .await;
    assert_eq!(
        leave.reason,
        livekit_protocol::DisconnectReason::ParticipantRemoved as i32
    );
    assert!(
        next(&mut ann).await.is_none(),
        "the socket closes after the leave"
    );
}

#[tokio::test]
async fn a_room_at_its_max_participants_refuses_a_new_identity_with_429_but_lets_a_member_rejoin() {
    let app = app().await;
    let creator = AccessToken::with_api_key(KEY, SECRET)
        .with_identity("ops")
        .with_grants(VideoGrants { room_create: true, ..Default::default() })
        .to_jwt()
        .unwrap();
    let created = app
        .client
        .post(app.url("/twirp/livekit.RoomService/CreateRoom"))
        .bearer_auth(&creator)
        .json(&serde_json::json!({"name": "tiny", "maxParticipants": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let (_ann, _) = join(&app, "tiny", "ann").await;

    let refused = open(&app, "/rtc?protocol=18", Some(&join_token("tiny", "bob"))).await.err();
    assert_eq!(refused, Some(429), "the room holds one participant and ann is in it");
    let (_ann_again, join) = join(&app, "tiny", "ann").await;
    assert_eq!(join.participant.map(|p| p.identity).as_deref(), Some("ann"), "ann's rejoin replaces her first connection");
}
