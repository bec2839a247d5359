//! LiveKit compatibility over HTTP: the Twirp RoomService (JSON and protobuf
//! bodies, LiveKit's grants and statuses, rooms and participants) and LiveKit-signed
//! webhooks checked with LiveKit's own `WebhookReceiver`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use livekit_api::access_token::{AccessToken, TokenVerifier, VideoGrants};
use prost::Message;
use serde_json::{json, Value};

use crate::sfu_media::{connect, receive};
use crate::sfu_whip_whep::{post_sdp, publisher_offer, room, viewer_offer};
use crate::support::{spawn_app_with, TestApp};

const KEY: &str = "APIstreamcart";
const SECRET: &str = "test-secret-test-secret-test-secret-0001";

async fn app() -> TestApp {
    app_with_webhooks(Vec::new()).await
}

/// A server with our API key that sends LiveKit webhooks to `urls`.
async fn app_with_webhooks(urls: Vec<String>) -> TestApp {
    spawn_app_with(|s| {
        s.api_keys.insert(KEY.into(), SECRET.into());
        s.livekit.webhook_urls = urls;
    })
    .await
}

fn token(grants: VideoGrants) -> String {
    AccessToken::with_api_key(KEY, SECRET).with_identity("backend").with_grants(grants).to_jwt().unwrap()
}

fn admin_of(room: &str) -> String {
    token(VideoGrants { room_admin: true, room: room.into(), ..Default::default() })
}

fn creator() -> String {
    token(VideoGrants { room_create: true, room_list: true, ..Default::default() })
}

/// A Twirp call with a protobuf-JSON body, as LiveKit's Node SDK sends.
async fn twirp(app: &TestApp, method: &str, token: &str, body: Value) -> (u16, Value) {
    let res = app
        .client
        .post(app.url(&format!("/twirp/livekit.RoomService/{method}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A Twirp call as the room creator with any content type and body.
async fn twirp_raw(app: &TestApp, method: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    let url = app.url(&format!("/twirp/livekit.RoomService/{method}"));
    app.client.post(url).bearer_auth(creator()).header("content-type", content_type).body(body).send().await.unwrap()
}

#[tokio::test]
async fn create_room_makes_a_room_that_our_api_and_list_rooms_show() {
    let app = app().await;
    let (status, room) = twirp(&app, "CreateRoom", &creator(), json!({"name": "launch", "metadata": "m0", "emptyTimeout": 300})).await;
    assert_eq!(status, 200, "{room}");
    assert_eq!(room["name"], "launch");
    assert_eq!(room["metadata"], "m0");
    assert_eq!(room["emptyTimeout"], 300);
    assert!(room["sid"].as_str().unwrap().starts_with("RM_"));
    let ours: Value = app.client.get(app.url("/api/v1/rooms/launch")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ours["name"], "launch");
    let (status, list) = twirp(&app, "ListRooms", &creator(), json!({})).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["rooms"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["launch"]);
}

#[tokio::test]
async fn creating_an_existing_room_returns_it_unchanged() {
    let app = app().await;
    let (_, first) = twirp(&app, "CreateRoom", &creator(), json!({"name": "launch", "metadata": "first"})).await;
    let (status, again) = twirp(&app, "CreateRoom", &creator(), json!({"name": "launch", "metadata": "second"})).await;
    assert_eq!(status, 200);
    assert_eq!((again["sid"].clone(), again["metadata"].clone()), (first["sid"].clone(), json!("first")));
}

#[tokio::test]
async fn protobuf_bodies_get_protobuf_answers() {
    let app = app().await;
    let request = livekit_protocol::CreateRoomRequest { name: "proto".into(), max_participants: 7, ..Default::default() };
    let res = twirp_raw(&app, "CreateRoom", "application/protobuf", request.encode_to_vec()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/protobuf");
    let room = livekit_protocol::Room::decode(res.bytes().await.unwrap()).unwrap();
    assert_eq!((room.name.as_str(), room.max_participants), ("proto", 7));
}

#[tokio::test]
async fn delete_room_ends_its_stream_and_drops_it_from_list_rooms() {
    let app = app().await;
    room(&app, "spring", "public").await;
    let res = post_sdp(&app, "/whip/spring", Some(&publisher_token("spring")), &publisher_offer()).await;
    assert_eq!(res.status(), 201);
    let (status, _) = twirp(&app, "DeleteRoom", &creator(), json!({"room": "spring"})).await;
    assert_eq!(status, 200);
    let ours: Value = app.client.get(app.url("/api/v1/rooms/spring")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ours["status"], "ended");
    let (_, list) = twirp(&app, "ListRooms", &creator(), json!({})).await;
    assert_eq!(list["rooms"], Value::Null, "an empty list is omitted in protobuf-JSON: {list}");
    let res = post_sdp(&app, "/whep/spring", None, &viewer_offer()).await;
    assert_eq!(res.status(), 409, "nobody publishes after DeleteRoom");
}

#[tokio::test]
async fn deleting_a_room_that_does_not_exist_is_not_found() {
    let app = app().await;
    let (status, body) = twirp(&app, "DeleteRoom", &creator(), json!({"room": "nowhere"})).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
}

fn publisher_token(room: &str) -> String {
    token(VideoGrants { room_join: true, room: room.into(), ..Default::default() })
}

#[tokio::test]
async fn a_whip_publisher_and_a_whep_viewer_are_the_rooms_participants() {
    let app = app().await;
    room(&app, "spring", "public").await;
    let _publisher = connect(&app, "/whip/spring", Some(&publisher_token("spring")), true, b"spring").await;
    let _viewer = connect(&app, "/whep/spring", None, false, b"").await;
    let (status, body) = twirp(&app, "ListParticipants", &admin_of("spring"), json!({"room": "spring"})).await;
    assert_eq!(status, 200, "{body}");
    let participants = body["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 2);
    let publisher = participants.iter().find(|p| p["isPublisher"] == true).expect("the WHIP publisher");
    // Published with a LiveKit token: listed under the token's identity.
    assert_eq!(publisher["identity"], "backend");
    let viewer = participants.iter().find(|p| p["isPublisher"] != true).expect("the WHEP viewer");
    assert!(viewer["identity"].as_str().unwrap().starts_with("whep-"), "a session without a LiveKit token gets a derived identity");
    // protobuf-JSON leaves out default values, and AUDIO is TrackType 0.
    let kinds: Vec<&str> = publisher["tracks"].as_array().unwrap().iter().map(|t| t["type"].as_str().unwrap_or("AUDIO")).collect();
    assert_eq!(kinds, vec!["AUDIO", "VIDEO"]);
    let (status, one) = twirp(&app, "GetParticipant", &admin_of("spring"), json!({"room": "spring", "identity": publisher["identity"]})).await;
    assert_eq!((status, &one["sid"]), (200, &publisher["sid"]));
}

#[tokio::test]
async fn update_participant_sets_metadata_name_and_attributes_that_listing_then_shows() {
    let app = app().await;
    room(&app, "spring", "public").await;
    post_sdp(&app, "/whip/spring", Some(&publisher_token("spring")), &publisher_offer()).await;
    let (_, list) = twirp(&app, "ListParticipants", &admin_of("spring"), json!({"room": "spring"})).await;
    let identity = list["participants"][0]["identity"].as_str().unwrap().to_string();
    let update = json!({"room": "spring", "identity": identity, "metadata": "host", "name": "Sam", "attributes": {"role": "seller"}});
    let (status, updated) = twirp(&app, "UpdateParticipant", &admin_of("spring"), update).await;
    assert_eq!(status, 200, "{updated}");
    let (_, again) = twirp(&app, "GetParticipant", &admin_of("spring"), json!({"room": "spring", "identity": identity})).await;
    assert_eq!((again["metadata"].as_str(), again["name"].as_str()), (Some("host"), Some("Sam")));
    assert_eq!(again["attributes"], json!({"role": "seller"}));
}

#[tokio::test]
async fn muting_a_published_track_stops_its_frames_reaching_viewers() {
    let app = app().await;
    room(&app, "spring", "public").await;
    let _publisher = connect(&app, "/whip/spring", Some(&publisher_token("spring")), true, b"spring").await;
    let mut viewer = connect(&app, "/whep/spring", None, false, b"").await;
    assert!(receive(&mut viewer, 1, 1).await.iter().any(|f| f.kind == str0m::media::MediaKind::Video));
    let (_, list) = twirp(&app, "ListParticipants", &admin_of("spring"), json!({"room": "spring"})).await;
    let publisher = list["participants"].as_array().unwrap().iter().find(|p| p["isPublisher"] == true).unwrap().clone();
    let video = publisher["tracks"].as_array().unwrap().iter().find(|t| t["type"] == "VIDEO").unwrap()["sid"].clone();
    let mute = json!({"room": "spring", "identity": publisher["identity"], "trackSid": video, "muted": true});
    let (status, muted) = twirp(&app, "MutePublishedTrack", &admin_of("spring"), mute).await;
    assert_eq!((status, &muted["track"]["muted"]), (200, &json!(true)), "{muted}");
    // Frames queued before the mute may still be waiting; drop them, then only audio arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    while viewer.frames.try_recv().is_ok() {}
    let mut after = Vec::new();
    while after.len() < 20 {
        match tokio::time::timeout(Duration::from_secs(10), viewer.frames.recv()).await {
            Ok(Some(frame)) => after.push(frame.kind),
            _ => break,
        }
    }
    assert!(after.len() >= 20, "audio stopped too");
    assert!(after.iter().all(|k| *k == str0m::media::MediaKind::Audio), "video kept flowing after mute: {after:?}");
}

#[tokio::test]
async fn remove_participant_ends_the_publishers_session_and_the_stream() {
    let app = app().await;
    room(&app, "spring", "public").await;
    post_sdp(&app, "/whip/spring", Some(&publisher_token("spring")), &publisher_offer()).await;
    let (_, list) = twirp(&app, "ListParticipants", &admin_of("spring"), json!({"room": "spring"})).await;
    let identity = list["participants"][0]["identity"].clone();
    let (status, _) = twirp(&app, "RemoveParticipant", &admin_of("spring"), json!({"room": "spring", "identity": identity})).await;
    assert_eq!(status, 200);
    let (_, list) = twirp(&app, "ListParticipants", &admin_of("spring"), json!({"room": "spring"})).await;
    assert_eq!(list["participants"], Value::Null);
    let (status, body) = twirp(&app, "GetParticipant", &admin_of("spring"), json!({"room": "spring", "identity": identity})).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn send_data_reaches_the_rooms_signaling_channel_and_update_metadata_the_room() {
    let app = app().await;
    room(&app, "spring", "public").await;
    let (status, _) = twirp(&app, "SendData", &admin_of("spring"), json!({"room": "spring", "data": "aGk=", "kind": "RELIABLE", "topic": "chat"})).await;
    assert_eq!(status, 200);
    let (status, room) = twirp(&app, "UpdateRoomMetadata", &admin_of("spring"), json!({"room": "spring", "metadata": "{\"sale\":1}"})).await;
    assert_eq!((status, room["metadata"].as_str()), (200, Some("{\"sale\":1}")));
}

#[tokio::test]
async fn subscribing_is_accepted_and_unsubscribing_a_whep_viewer_is_unimplemented() {
    let app = app().await;
    room(&app, "spring", "public").await;
    let _publisher = connect(&app, "/whip/spring", Some(&publisher_token("spring")), true, b"spring").await;
    let _viewer = connect(&app, "/whep/spring", None, false, b"").await;
    let (_, list) = twirp(&app, "ListParticipants", &admin_of("spring"), json!({"room": "spring"})).await;
    let people = list["participants"].as_array().unwrap();
    let publisher = people.iter().find(|p| p["isPublisher"] == true).unwrap();
    let viewer = people.iter().find(|p| p["isPublisher"] != true).unwrap();
    let tracks: Vec<Value> = publisher["tracks"].as_array().unwrap().iter().map(|t| t["sid"].clone()).collect();
    let request = |subscribe: bool| json!({"room": "spring", "identity": viewer["identity"], "trackSids": tracks, "subscribe": subscribe});
    assert_eq!(twirp(&app, "UpdateSubscriptions", &admin_of("spring"), request(true)).await.0, 200);
    let (status, body) = twirp(&app, "UpdateSubscriptions", &admin_of("spring"), request(false)).await;
    assert_eq!((status, body["code"].as_str()), (501, Some("unimplemented")));
}

#[tokio::test]
async fn tokens_with_the_wrong_key_expired_or_for_another_room_are_unauthenticated() {
    let app = app().await;
    room(&app, "spring", "public").await;
    let wrong_key = AccessToken::with_api_key(KEY, "another-secret-another-secret-another-1")
        .with_grants(VideoGrants { room_admin: true, room: "spring".into(), ..Default::default() })
        .to_jwt()
        .unwrap();
    let claims = livekit_api::access_token::Claims {
        exp: 1_000,
        iss: KEY.into(),
        sub: "old".into(),
        video: VideoGrants { room_admin: true, room: "spring".into(), ..Default::default() },
        ..Default::default()
    };
    let expired = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes())).unwrap();
    for (what, token) in [("wrong key", wrong_key), ("expired", expired), ("other room", admin_of("autumn")), ("no grant", publisher_token("spring"))] {
        let (status, body) = twirp(&app, "ListParticipants", &token, json!({"room": "spring"})).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("unauthenticated")), "{what}: {body}");
    }
    let (status, _) = twirp(&app, "CreateRoom", &admin_of("spring"), json!({"name": "new"})).await;
    assert_eq!(status, 401, "roomAdmin is not roomCreate");
    let (status, _) = twirp(&app, "ListRooms", &admin_of("spring"), json!({})).await;
    assert_eq!(status, 401, "roomAdmin is not roomList");
}

#[tokio::test]
async fn our_own_account_tokens_do_not_open_the_room_service() {
    let app = app().await;
    let (seller, _) = room(&app, "spring", "public").await;
    let (status, body) = twirp(&app, "ListParticipants", &seller, json!({"room": "spring"})).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthenticated")));
}

#[tokio::test]
async fn unknown_methods_and_content_types_are_twirp_bad_routes() {
    let app = app().await;
    let (status, body) = twirp(&app, "ForwardParticipant", &creator(), json!({})).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("bad_route")));
    let res = twirp_raw(&app, "ListRooms", "text/plain", b"{}".to_vec()).await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "bad_route");
    assert!(body["msg"].as_str().unwrap().contains("Content-Type"));
}

#[tokio::test]
async fn invalid_room_names_and_malformed_bodies_change_nothing() {
    let app = app().await;
    let (status, body) = twirp(&app, "CreateRoom", &creator(), json!({"name": "Not A Slug!"})).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_argument")));
    let res = twirp_raw(&app, "CreateRoom", "application/protobuf", vec![0xff, 0xff, 0xff]).await;
    assert_eq!(res.status(), 400);
    let (_, list) = twirp(&app, "ListRooms", &creator(), json!({})).await;
    assert_eq!(list["rooms"], Value::Null);
}

/// A webhook endpoint on port 0 that answers 500 to the first `fail_first` requests.
async fn webhook_sink(fail_first: usize) -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let seen = received.clone();
    let calls = Arc::new(Mutex::new(0usize));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let seen = seen.clone();
            let calls = calls.clone();
            async move {
                let mut n = calls.lock().unwrap();
                *n += 1;
                if *n <= fail_first {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                assert_eq!(headers["content-type"], "application/webhook+json");
                let auth = headers["authorization"].to_str().unwrap().to_string();
                seen.lock().unwrap().push((auth, body));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// Waits until `n` webhooks arrived (bounded, so a broken queue fails rather than hangs).
async fn wait_for(received: &Arc<Mutex<Vec<(String, String)>>>, n: usize) -> Vec<(String, String)> {
    for _ in 0..200 {
        if received.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    received.lock().unwrap().clone()
}

fn events(received: &[(String, String)]) -> Vec<String> {
    let receiver = livekit_api::webhooks::WebhookReceiver::new(TokenVerifier::with_api_key(KEY, SECRET));
    received.iter().map(|(auth, body)| receiver.receive(body, auth).expect("LiveKit's receiver accepts our signature").event).collect()
}

#[tokio::test]
async fn room_webhooks_are_signed_so_livekits_receiver_accepts_them_and_retried_until_delivered() {
    let (url, received) = webhook_sink(2).await;
    let app = app_with_webhooks(vec![url]).await;
    twirp(&app, "CreateRoom", &creator(), json!({"name": "launch"})).await;
    twirp(&app, "DeleteRoom", &creator(), json!({"room": "launch"})).await;
    let got = wait_for(&received, 2).await;
    assert_eq!(sorted(events(&got)), vec!["room_finished", "room_started"]);
}

#[tokio::test]
async fn a_publisher_and_viewer_produce_participant_and_track_webhooks() {
    let (url, received) = webhook_sink(0).await;
    let app = app_with_webhooks(vec![url]).await;
    room(&app, "spring", "public").await;
    let _publisher = connect(&app, "/whip/spring", Some(&publisher_token("spring")), true, b"spring").await;
    let got = wait_for(&received, 4).await;
    assert_eq!(sorted(events(&got)), vec!["participant_joined", "room_started", "track_published", "track_published"]);
    let (_, list) = twirp(&app, "ListParticipants", &admin_of("spring"), json!({"room": "spring"})).await;
    let identity = list["participants"][0]["identity"].clone();
    twirp(&app, "RemoveParticipant", &admin_of("spring"), json!({"room": "spring", "identity": identity})).await;
    let got = wait_for(&received, 8).await;
    assert_eq!(sorted(events(&got[4..])), vec!["participant_left", "room_finished", "track_unpublished", "track_unpublished"]);
}

/// LiveKit does not promise an order between webhooks, so neither do these tests.
fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}
