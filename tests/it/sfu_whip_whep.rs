//! WHIP ingest and WHEP playback over HTTP: who may publish and watch, what the
//! answers carry, and the errors RFC 9725 asks for. Offers come from a str0m
//! client, so they are what a real WebRTC stack sends.

use std::time::Instant;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};
use str0m::media::{Direction, MediaKind};
use str0m::RtcConfig;

use crate::rooms::seller_with_shop;
use crate::support::{error_code, spawn_app, TestApp};

/// An SDP offer from a str0m client with `configure`d codecs and these sections.
pub fn offer_with(configure: impl FnOnce(RtcConfig) -> RtcConfig, sections: &[(MediaKind, Direction)]) -> String {
    let mut client = configure(RtcConfig::new()).build(Instant::now());
    let mut api = client.sdp_api();
    for (kind, dir) in sections {
        api.add_media(*kind, *dir, None, None, None);
    }
    api.apply().expect("an offer").0.to_sdp_string()
}

pub fn publisher_offer() -> String {
    offer_with(
        |c| c.clear_codecs().enable_opus(true, false).enable_vp8(true),
        &[(MediaKind::Audio, Direction::SendOnly), (MediaKind::Video, Direction::SendOnly)],
    )
}

pub fn viewer_offer() -> String {
    offer_with(
        |c| c.clear_codecs().enable_opus(true, false).enable_vp8(true).enable_h264(true),
        &[(MediaKind::Audio, Direction::RecvOnly), (MediaKind::Video, Direction::RecvOnly)],
    )
}

/// A seller, a shop `acme` and a room; returns (seller token, stream key).
pub async fn room(app: &TestApp, name: &str, visibility: &str) -> (String, String) {
    let token = match app.login("sam@example.com", crate::support::PASSWORD).await {
        res if res.status() == 200 => res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string(),
        _ => seller_with_shop(app, "sam@example.com", "acme").await,
    };
    let res = app
        .client
        .post(app.url("/api/v1/shops/acme/rooms"))
        .bearer_auth(&token)
        .json(&json!({"name": name, "title": "Live", "visibility": visibility}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    (token, body["stream_key"].as_str().unwrap().to_string())
}

pub async fn post_sdp(app: &TestApp, path: &str, token: Option<&str>, sdp: &str) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).header(CONTENT_TYPE, "application/sdp").body(sdp.to_string());
    if let Some(token) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    req.send().await.unwrap()
}

async fn room_status(app: &TestApp, name: &str) -> String {
    let body: Value = app.client.get(app.url(&format!("/api/v1/rooms/{name}"))).send().await.unwrap().json().await.unwrap();
    body["status"].as_str().unwrap().to_string()
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// The addresses of the UDP `a=candidate` lines of an SDP.
fn candidate_addrs(sdp: &str) -> Vec<(String, u16)> {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=candidate:"))
        .filter(|l| l.split_whitespace().nth(2).is_some_and(|proto| proto.eq_ignore_ascii_case("udp")))
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            (fields[4].to_string(), fields[5].parse().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn a_seller_publishes_over_whip_and_gets_an_answer_with_a_session_and_host_candidates() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    let res = post_sdp(&app, "/whip/spring", Some(&token), &publisher_offer()).await;
    assert_eq!(res.status(), 201);
    assert_eq!(header(&res, "content-type"), "application/sdp");
    assert!(header(&res, "location").starts_with("/whip/spring/"));
    assert!(!header(&res, "etag").is_empty());
    assert_eq!(header(&res, "accept-patch"), "application/trickle-ice-sdpfrag");
    let answer = res.text().await.unwrap();
    let candidates = candidate_addrs(&answer);
    assert!(candidates.iter().any(|(ip, _)| ip == "127.0.0.1"), "{answer}");
    assert!(candidates.iter().all(|(_, port)| *port != 0 && *port == candidates[0].1), "one bound port: {candidates:?}");
    assert!(answer.contains("a=ice-lite"));
    assert_eq!(room_status(&app, "spring").await, "live");
}

#[tokio::test]
async fn the_rooms_stream_key_publishes_like_obs_does() {
    let app = spawn_app().await;
    let (_, key) = room(&app, "spring", "public").await;
    let res = post_sdp(&app, "/whip/spring", Some(&key), &publisher_offer()).await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn a_second_publisher_in_the_same_room_is_a_conflict() {
    let app = spawn_app().await;
    let (token, key) = room(&app, "spring", "public").await;
    assert_eq!(post_sdp(&app, "/whip/spring", Some(&token), &publisher_offer()).await.status(), 201);
    let res = post_sdp(&app, "/whip/spring", Some(&key), &publisher_offer()).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "room_has_publisher");
}

#[tokio::test]
async fn deleting_the_publish_session_ends_the_stream_and_frees_the_room() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    let res = post_sdp(&app, "/whip/spring", Some(&token), &publisher_offer()).await;
    let location = header(&res, "location");
    let res = app.client.delete(app.url(&location)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(room_status(&app, "spring").await, "ended");
    assert_eq!(app.client.delete(app.url(&location)).send().await.unwrap().status(), 404, "the session is gone");
    assert_eq!(post_sdp(&app, "/whip/spring", Some(&token), &publisher_offer()).await.status(), 201);
    assert_eq!(room_status(&app, "spring").await, "live");
}

#[tokio::test]
async fn publishing_without_a_token_is_unauthorized() {
    let app = spawn_app().await;
    room(&app, "spring", "public").await;
    let res = post_sdp(&app, "/whip/spring", None, &publisher_offer()).await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(res).await, "missing_token");
    let res = post_sdp(&app, "/whip/spring", Some("sk_not-a-real-key"), &publisher_offer()).await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn another_shops_seller_and_another_rooms_key_cannot_publish() {
    let app = spawn_app().await;
    room(&app, "spring", "public").await;
    let (_, other_key) = room(&app, "autumn", "public").await;
    let rival = seller_with_shop(&app, "rita@example.com", "rival").await;
    let res = post_sdp(&app, "/whip/spring", Some(&rival), &publisher_offer()).await;
    assert_eq!(res.status(), 403);
    assert_eq!(error_code(res).await, "not_room_seller");
    let res = post_sdp(&app, "/whip/spring", Some(&other_key), &publisher_offer()).await;
    assert_eq!(res.status(), 403);
    assert_eq!(error_code(res).await, "wrong_stream_key");
    assert_eq!(room_status(&app, "spring").await, "scheduled");
}

#[tokio::test]
async fn publishing_to_an_unknown_room_is_not_found() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    let res = post_sdp(&app, "/whip/nowhere", Some(&token), &publisher_offer()).await;
    assert_eq!(res.status(), 404);
    assert_eq!(error_code(res).await, "room_not_found");
}

#[tokio::test]
async fn an_offer_that_is_not_application_sdp_is_unsupported_media_type() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    let res = app
        .client
        .post(app.url("/whip/spring"))
        .bearer_auth(&token)
        .json(&json!({"sdp": publisher_offer()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert_eq!(error_code(res).await, "unsupported_media_type");
}

#[tokio::test]
async fn malformed_sdp_is_a_bad_request_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    let mut truncated = publisher_offer();
    truncated.truncate(truncated.len() / 2);
    for garbage in ["", "hello", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "v=0\r\no=- 1 1 IN IP4 0\r\ns=-\r\nt=0 0\r\nm=audio x y z\r\n", truncated.as_str()] {
        let res = post_sdp(&app, "/whip/spring", Some(&token), garbage).await;
        assert!(matches!(res.status().as_u16(), 400 | 422), "{garbage:?} gave {}", res.status());
    }
    let res = post_sdp(&app, "/whip/spring", Some(&token), "v=0\r\nnot sdp at all").await;
    assert_eq!(error_code(res).await, "invalid_sdp");
    assert_eq!(post_sdp(&app, "/whip/spring", Some(&token), &publisher_offer()).await.status(), 201);
}

#[tokio::test]
async fn a_publisher_offering_only_codecs_we_do_not_forward_is_unprocessable() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    let h265_only = offer_with(
        |c| c.clear_codecs().enable_opus(true, false).enable_h265(true),
        &[(MediaKind::Audio, Direction::SendOnly), (MediaKind::Video, Direction::SendOnly)],
    );
    let res = post_sdp(&app, "/whip/spring", Some(&token), &h265_only).await;
    assert_eq!(res.status(), 422);
    assert_eq!(error_code(res).await, "unsupported_codec");
    assert_eq!(room_status(&app, "spring").await, "scheduled");
}

#[tokio::test]
async fn anyone_can_watch_a_live_public_room_over_whep() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    post_sdp(&app, "/whip/spring", Some(&token), &publisher_offer()).await;
    let res = post_sdp(&app, "/whep/spring", None, &viewer_offer()).await;
    assert_eq!(res.status(), 201);
    assert!(header(&res, "location").starts_with("/whep/spring/"));
    let answer = res.text().await.unwrap();
    assert!(answer.contains("VP8"), "the viewer is answered with the publisher's codec: {answer}");
    assert!(!answer.contains("H264"), "and only that one");
}

#[tokio::test]
async fn watching_a_room_nobody_publishes_in_is_a_conflict() {
    let app = spawn_app().await;
    room(&app, "spring", "public").await;
    let res = post_sdp(&app, "/whep/spring", None, &viewer_offer()).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "room_not_live");
}

#[tokio::test]
async fn a_viewer_that_cannot_decode_the_published_codec_is_unprocessable() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    post_sdp(&app, "/whip/spring", Some(&token), &publisher_offer()).await;
    let h264_only = offer_with(
        |c| c.clear_codecs().enable_opus(true, false).enable_h264(true),
        &[(MediaKind::Audio, Direction::RecvOnly), (MediaKind::Video, Direction::RecvOnly)],
    );
    let res = post_sdp(&app, "/whep/spring", None, &h264_only).await;
    assert_eq!(res.status(), 422);
    assert_eq!(error_code(res).await, "unsupported_codec");
}

#[tokio::test]
async fn a_private_room_needs_a_staff_token_to_watch() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "backstage", "private").await;
    post_sdp(&app, "/whip/backstage", Some(&token), &publisher_offer()).await;
    let res = post_sdp(&app, "/whep/backstage", None, &viewer_offer()).await;
    assert_eq!(res.status(), 401);
    let stranger = app.register("stranger@example.com").await["access_token"].as_str().unwrap().to_string();
    let res = post_sdp(&app, "/whep/backstage", Some(&stranger), &viewer_offer()).await;
    assert_eq!(res.status(), 403);
    assert_eq!(post_sdp(&app, "/whep/backstage", Some(&token), &viewer_offer()).await.status(), 201);
}

#[tokio::test]
async fn trickled_candidates_are_accepted_stale_etags_refused_and_unknown_sessions_not_found() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    let res_etag = post_sdp(&app, "/whip/spring", Some(&token), &publisher_offer()).await;
    let location = header(&res_etag, "location");
    let fragment = "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\na=end-of-candidates\r\n";
    let patch = |path: String, content_type: &'static str| {
        app.client.patch(app.url(&path)).header(CONTENT_TYPE, content_type).body(fragment).send()
    };
    assert_eq!(patch(location.clone(), "application/trickle-ice-sdpfrag").await.unwrap().status(), 204);
    let etag = header(&res_etag, "etag");
    let with_etag = |tag: String| {
        app.client.patch(app.url(&location)).header(CONTENT_TYPE, "application/trickle-ice-sdpfrag").header("if-match", tag).body(fragment).send()
    };
    assert_eq!(with_etag(etag).await.unwrap().status(), 204, "the session's ETag matches");
    let res = with_etag("\"stale\"".into()).await.unwrap();
    assert_eq!(res.status(), 412);
    assert_eq!(error_code(res).await, "etag_mismatch");
    assert_eq!(patch(location.clone(), "text/plain").await.unwrap().status(), 415);
    let res = patch("/whip/spring/no-such-session".into(), "application/trickle-ice-sdpfrag").await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(error_code(res).await, "session_not_found");
}

#[tokio::test]
async fn browsers_may_call_whip_cross_origin_and_read_the_location() {
    let app = spawn_app().await;
    room(&app, "spring", "public").await;
    let res = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/whip/spring"))
        .header("origin", "http://localhost:8000")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
    let (token, _) = room(&app, "autumn", "public").await;
    let res = app
        .client
        .post(app.url("/whip/autumn"))
        .header("origin", "http://localhost:8000")
        .header(CONTENT_TYPE, "application/sdp")
        .bearer_auth(&token)
        .body(publisher_offer())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let exposed = header(&res, "access-control-expose-headers").to_lowercase();
    assert!(exposed.contains("location") && exposed.contains("etag") && exposed.contains("link"), "{exposed}");
    // The session resource is PATCHed (trickle ICE) and DELETEd cross-origin too.
    let location = header(&res, "location");
    let res = app
        .client
        .request(reqwest::Method::OPTIONS, app.url(&location))
        .header("origin", "http://localhost:8000")
        .header("access-control-request-method", "PATCH")
        .header("access-control-request-headers", "content-type, if-match")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
}

#[tokio::test]
async fn configured_stun_servers_are_advertised_as_ice_server_links() {
    let settings = streamcart::Settings::from_yaml("rtc:\n  stun_servers: [\"stun.example.com:3478\"]\n", "/tmp/unused").unwrap();
    assert_eq!(settings.rtc_stun_servers, vec!["stun.example.com:3478".to_string()]);
    let app = crate::support::spawn_app_with(|s| s.rtc_stun_servers = vec!["stun.example.com:3478".into()]).await;
    let (token, _) = room(&app, "spring", "public").await;
    let res = post_sdp(&app, "/whip/spring", Some(&token), &publisher_offer()).await;
    assert_eq!(res.status(), 201);
    assert_eq!(header(&res, "link"), "<stun:stun.example.com:3478>; rel=\"ice-server\"");
    let res = app.client.request(reqwest::Method::OPTIONS, app.url("/whip/spring")).send().await.unwrap();
    assert_eq!(header(&res, "link"), "<stun:stun.example.com:3478>; rel=\"ice-server\"");
    assert_eq!(header(&res, "accept-post"), "application/sdp");
}

/// A LiveKit-format token signed with the server's generated API key.
fn livekit_token(app: &TestApp, room: &str, can_publish: bool) -> String {
    let secrets: Value = serde_json::from_slice(&std::fs::read(app.data_dir.path().join("secrets.json")).unwrap()).unwrap();
    let keys = streamcart::livekit::LiveKitKeys::new(serde_json::from_value(secrets["api_keys"].clone()).unwrap());
    let grants = livekit_api::access_token::VideoGrants { room_join: true, room: room.into(), can_publish: Some(can_publish), ..Default::default() };
    keys.mint("sdk-user", "SDK user", grants, std::time::Duration::from_secs(600)).unwrap()
}

#[tokio::test]
async fn a_livekit_token_with_can_publish_for_the_room_publishes_over_whip() {
    let app = spawn_app().await;
    room(&app, "spring", "public").await;
    let res = post_sdp(&app, "/whip/spring", Some(&livekit_token(&app, "spring", true)), &publisher_offer()).await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn a_livekit_token_without_can_publish_or_for_another_room_cannot_publish() {
    let app = spawn_app().await;
    room(&app, "spring", "public").await;
    let subscribe_only = post_sdp(&app, "/whip/spring", Some(&livekit_token(&app, "spring", false)), &publisher_offer()).await;
    assert_eq!(subscribe_only.status(), 403);
    assert_eq!(error_code(subscribe_only).await, "publish_not_granted");
    let elsewhere = post_sdp(&app, "/whip/spring", Some(&livekit_token(&app, "other", true)), &publisher_offer()).await;
    assert_eq!(elsewhere.status(), 403);
    assert_eq!(error_code(elsewhere).await, "token_for_another_room");
}

#[tokio::test]
async fn sfu_sessions_and_live_rooms_show_in_metrics() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    assert_eq!(post_sdp(&app, "/whip/spring", Some(&token), &publisher_offer()).await.status(), 201);
    assert_eq!(post_sdp(&app, "/whep/spring", None, &viewer_offer()).await.status(), 201);
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("sfu_peers"), "{text}");
    assert!(text.contains("sfu_rooms_live"), "{text}");
    assert!(text.contains("sfu_viewers{engine=\"driver\"}"), "viewers per engine (driver, shard-1, …): {text}");
}

#[tokio::test]
async fn an_audio_only_stream_can_be_watched_by_a_player_that_also_offers_video() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "radio", "public").await;
    let audio_only = offer_with(|c| c.clear_codecs().enable_opus(true, false), &[(MediaKind::Audio, Direction::SendOnly)]);
    assert_eq!(post_sdp(&app, "/whip/radio", Some(&token), &audio_only).await.status(), 201);
    let res = post_sdp(&app, "/whep/radio", None, &viewer_offer()).await;
    assert_eq!(res.status(), 201);
    assert!(res.text().await.unwrap().to_lowercase().contains("opus/48000"));
}

#[tokio::test]
async fn a_room_refuses_viewers_beyond_its_configured_limit() {
    let app = crate::support::spawn_app_with(|s| s.sfu_max_viewers_per_room = 1).await;
    let (token, _) = room(&app, "spring", "public").await;
    post_sdp(&app, "/whip/spring", Some(&token), &publisher_offer()).await;
    assert_eq!(post_sdp(&app, "/whep/spring", None, &viewer_offer()).await.status(), 201);
    let res = post_sdp(&app, "/whep/spring", None, &viewer_offer()).await;
    assert_eq!(res.status(), 503);
    assert_eq!(error_code(res).await, "room_full");
    let settings = streamcart::Settings::from_yaml("streamcart:\n  sfu:\n    max_viewers_per_room: 7\n", "/tmp/unused").unwrap();
    assert_eq!(settings.sfu_max_viewers_per_room, 7);
}

/// VP9 and AV1 are passed through: the publisher's codec is what every viewer gets,
/// and a player that cannot decode it is told so.
async fn passthrough(codec: &str, configure: fn(RtcConfig) -> RtcConfig) {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    let publisher = offer_with(|c| configure(c.clear_codecs().enable_opus(true, false)), &[(MediaKind::Audio, Direction::SendOnly), (MediaKind::Video, Direction::SendOnly)]);
    let res = post_sdp(&app, "/whip/spring", Some(&token), &publisher).await;
    assert_eq!(res.status(), 201);
    assert!(res.text().await.unwrap().contains(&format!("{codec}/90000")), "the publisher is answered in {codec}");
    let recv = [(MediaKind::Audio, Direction::RecvOnly), (MediaKind::Video, Direction::RecvOnly)];
    let capable = offer_with(|c| configure(c.clear_codecs().enable_opus(true, false).enable_vp8(true).enable_h264(true)), &recv);
    let res = post_sdp(&app, "/whep/spring", None, &capable).await;
    assert_eq!(res.status(), 201);
    let answer = res.text().await.unwrap();
    assert!(answer.contains(&format!("{codec}/90000")) && !answer.contains("VP8/90000") && !answer.contains("H264/90000"), "{answer}");
    let incapable = offer_with(|c| c.clear_codecs().enable_opus(true, false).enable_vp8(true).enable_h264(true), &recv);
    let res = post_sdp(&app, "/whep/spring", None, &incapable).await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_codec");
    assert!(body["error"]["message"].as_str().unwrap().contains(codec), "the message names the codec: {body}");
}

#[tokio::test]
async fn a_vp9_stream_is_passed_through_and_a_player_without_vp9_is_unprocessable() {
    passthrough("VP9", |c| c.enable_vp9(true)).await;
}

#[tokio::test]
async fn an_av1_stream_is_passed_through_and_a_player_without_av1_is_unprocessable() {
    passthrough("AV1", |c| c.enable_av1(true)).await;
}
