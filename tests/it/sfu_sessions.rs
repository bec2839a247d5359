//! What happens to a live session after its answer: ICE restarts over PATCH
//! (RFC 9725 §4.4), a publisher replacing the room's publisher, the per-publisher
//! bitrate cap and the viewer limit. Real str0m peers through the real server.

use reqwest::header::CONTENT_TYPE;
use str0m::media::MediaKind;

use crate::sfu_media::{connect, connect_full, receive, Received};
use crate::sfu_whip_whep::{post_sdp, publisher_offer, room, viewer_offer};
use crate::support::{error_code, spawn_app, spawn_app_with, TestApp};

fn attribute(sdp: &str, name: &str) -> String {
    streamcart::sfu::ice::sdp_attribute(sdp, name).unwrap_or_default()
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

async fn patch(app: &TestApp, location: &str, if_match: &str, fragment: &str) -> reqwest::Response {
    app.client
        .patch(app.url(location))
        .header(CONTENT_TYPE, "application/trickle-ice-sdpfrag")
        .header("if-match", if_match)
        .body(fragment.to_string())
        .send()
        .await
        .unwrap()
}

fn has_tag(frame: &Received, tag: &[u8]) -> bool {
    frame.data.windows(tag.len()).any(|w| w == tag)
}

#[tokio::test]
async fn a_publisher_that_moves_address_and_restarts_ice_keeps_its_viewers_watching() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    let publisher = connect(&app, "/whip/spring", Some(&token), true, b"spring").await;
    let mut viewer = connect(&app, "/whep/spring", None, false, b"").await;
    receive(&mut viewer, 5, 5).await;

    let fragment = publisher.start_ice_restart().await;
    let res = patch(&app, &publisher.location, "*", &fragment).await;
    assert_eq!(res.status(), 200, "an ICE restart is answered with content");
    assert_eq!(header(&res, "content-type"), "application/trickle-ice-sdpfrag");
    let etag = header(&res, "etag");
    assert!(!etag.is_empty());
    let body = res.text().await.unwrap();
    let (ufrag, pwd) = (attribute(&body, "ice-ufrag"), attribute(&body, "ice-pwd"));
    assert!(!ufrag.is_empty() && !pwd.is_empty(), "{body}");
    assert_ne!(ufrag, attribute(&publisher.answer, "ice-ufrag"), "the server's credentials are new");
    assert!(body.contains("a=candidate:"), "with its candidates under them: {body}");
    publisher.finish_ice_restart(&body);

    // The old socket is closed, so everything from here on came over the restarted path.
    while viewer.frames.try_recv().is_ok() {}
    let after = receive(&mut viewer, 10, 60).await;
    assert!(after.iter().filter(|f| f.kind == MediaKind::Video).count() >= 60, "video flows again after the restart");
    assert!(after.iter().filter(|f| f.kind == MediaKind::Audio).count() >= 10, "and audio");
}

#[tokio::test]
async fn after_an_ice_restart_the_old_etag_is_stale_and_the_new_one_matches() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    let res = post_sdp(&app, "/whip/spring", Some(&token), &publisher_offer()).await;
    let (location, first_etag) = (header(&res, "location"), header(&res, "etag"));
    let restart = "a=ice-ufrag:brandnew\r\na=ice-pwd:aFreshPasswordOf24Chars!\r\n";
    let res = patch(&app, &location, &first_etag, restart).await;
    assert_eq!(res.status(), 200);
    let new_etag = header(&res, "etag");
    assert_ne!(new_etag, first_etag, "a restart makes a new ETag");
    let trickle = "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n";
    let res = patch(&app, &location, &first_etag, trickle).await;
    assert_eq!(res.status(), 412);
    assert_eq!(error_code(res).await, "etag_mismatch");
    assert_eq!(patch(&app, &location, &new_etag, trickle).await.status(), 204);
    let same_credentials_again = patch(&app, &location, "*", restart).await;
    assert_eq!(same_credentials_again.status(), 204, "credentials already in use are no restart");
}

#[tokio::test]
async fn a_restart_fragment_with_a_ufrag_but_no_password_is_a_bad_request_and_changes_nothing() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    let res = post_sdp(&app, "/whip/spring", Some(&token), &publisher_offer()).await;
    let (location, etag) = (header(&res, "location"), header(&res, "etag"));
    let res = patch(&app, &location, "*", "a=ice-ufrag:brandnew\r\n").await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "invalid_sdp");
    let trickle = "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n";
    assert_eq!(patch(&app, &location, &etag, trickle).await.status(), 204, "the ETag is unchanged");
}

#[tokio::test]
async fn with_replace_publisher_a_second_publish_takes_over_and_viewers_keep_watching() {
    let app = spawn_app_with(|s| s.sfu_replace_publisher = true).await;
    let (token, key) = room(&app, "spring", "public").await;
    let first = connect(&app, "/whip/spring", Some(&token), true, b"first-publisher").await;
    let mut viewer = connect(&app, "/whep/spring", None, false, b"").await;
    let before = receive(&mut viewer, 5, 5).await;
    assert!(before.iter().any(|f| has_tag(f, b"first-publisher")));

    let _second = connect(&app, "/whip/spring", Some(&key), true, b"second-publisher").await;
    let mut frames: Vec<Received> = Vec::new();
    let wait = async {
        while let Some(frame) = viewer.frames.recv().await {
            frames.push(frame);
            if frames.iter().filter(|f| f.kind == MediaKind::Video && has_tag(f, b"second-publisher")).count() >= 30 {
                break;
            }
        }
    };
    // A bound so a broken path fails instead of hanging; not a timing assertion.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), wait).await;
    let video: Vec<&Received> = frames.iter().filter(|f| f.kind == MediaKind::Video).collect();
    let switch = video.iter().position(|f| has_tag(f, b"second-publisher")).expect("the same viewer session gets the newcomer's video");
    assert!(video[switch].keyframe, "starting at a keyframe");
    assert!(video[switch..].iter().all(|f| has_tag(f, b"second-publisher")), "and nothing of the first publisher after that");
    assert!(video.len() - switch >= 30);
    for pair in video.windows(2) {
        assert!(pair[1].time > pair[0].time, "one timeline across the two publishers");
    }
    assert_eq!(app.client.delete(app.url(&first.location)).send().await.unwrap().status(), 404, "the first session ended");
    let body: serde_json::Value = app.client.get(app.url("/api/v1/rooms/spring")).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["status"], "live", "the room stayed live");
}

#[tokio::test]
async fn replace_publisher_the_bitrate_cap_and_recording_are_read_from_the_config_file() {
    let yaml = "streamcart:\n  sfu:\n    replace_publisher: true\n    max_publisher_bitrate_kbps: 2500\n    record: true\n";
    let settings = streamcart::Settings::from_yaml(yaml, "/tmp/unused").unwrap();
    assert!(settings.sfu_replace_publisher);
    assert!(settings.sfu_record);
    assert_eq!(settings.sfu_max_publisher_bitrate_kbps, 2500);
    let defaults = streamcart::Settings::from_yaml("", "/tmp/unused").unwrap();
    assert!(!defaults.sfu_replace_publisher, "refusing a second publisher is the default");
    assert_eq!(defaults.sfu_max_publisher_bitrate_kbps, 0, "no cap by default");
    assert!(!defaults.sfu_record, "no recording by default");
}

#[tokio::test]
async fn a_capped_publisher_is_told_its_cap_in_the_answer() {
    let app = spawn_app_with(|s| s.sfu_max_publisher_bitrate_kbps = 2500).await;
    let (token, _) = room(&app, "spring", "public").await;
    let answer = post_sdp(&app, "/whip/spring", Some(&token), &publisher_offer()).await.text().await.unwrap();
    let video = &answer[answer.find("m=video").expect("a video section")..];
    assert!(video.contains("b=AS:2500\r\n"), "{answer}");
    let uncapped = spawn_app().await;
    let (token, _) = room(&uncapped, "spring", "public").await;
    let answer = post_sdp(&uncapped, "/whip/spring", Some(&token), &publisher_offer()).await.text().await.unwrap();
    assert!(!answer.contains("b=AS"), "no cap, no bandwidth line: {answer}");
}

#[tokio::test]
async fn a_capped_simulcast_publishers_top_layer_is_not_forwarded() {
    // Layers of about 72 kbps, 290 kbps and 1.2 Mbps: with a 500 kbps cap "h" does not fit.
    let app = spawn_app_with(|s| s.sfu_max_publisher_bitrate_kbps = 500).await;
    let (token, _) = room(&app, "spring", "public").await;
    let _publisher = connect_full(&app, "/whip/spring", Some(&token), true, b"spring", 30, true).await;
    let mut viewer = connect(&app, "/whep/spring", None, false, b"").await;
    let frames = receive(&mut viewer, 1, 90).await;
    let video: Vec<&Received> = frames.iter().filter(|f| f.kind == MediaKind::Video).collect();
    assert!(video.len() >= 90, "video arrives: {}", video.len());
    assert!(!video.iter().any(|f| has_tag(f, b"/layer-h")), "the layer over the cap never reaches a viewer");
    assert!(has_tag(video[video.len() - 1], b"/layer-m"), "the best layer within the cap does");
}

#[tokio::test]
async fn a_full_room_says_when_to_retry() {
    let app = spawn_app_with(|s| s.sfu_max_viewers_per_room = 1).await;
    let (token, _) = room(&app, "spring", "public").await;
    post_sdp(&app, "/whip/spring", Some(&token), &publisher_offer()).await;
    assert_eq!(post_sdp(&app, "/whep/spring", None, &viewer_offer()).await.status(), 201);
    let res = post_sdp(&app, "/whep/spring", None, &viewer_offer()).await;
    assert_eq!(res.status(), 503);
    let retry_after: u64 = header(&res, "retry-after").parse().expect("a Retry-After in seconds");
    assert!(retry_after > 0);
    assert_eq!(error_code(res).await, "room_full");
}

#[tokio::test]
async fn the_rooms_channel_hears_when_the_stream_starts_stalls_and_ends() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    let mut channel = crate::hub::WsClient::connect(&app, None).await;
    channel.subscribe("room:spring", None).await;
    let publisher = connect(&app, "/whip/spring", Some(&token), true, b"spring").await;
    let started = channel.next_pub("stream.started").await;
    assert_eq!(started["event"]["data"]["replaced"], false, "{started}");
    let mut viewer = connect(&app, "/whep/spring", None, false, b"").await;
    receive(&mut viewer, 3, 3).await;

    let location = publisher.location.clone();
    drop(publisher); // its media stops; its session lives on until it is deleted or times out
    channel.next_pub("stream.stalled").await;
    assert_eq!(app.client.delete(app.url(&location)).send().await.unwrap().status(), 200);
    let ended = channel.next_pub("stream.ended").await;
    assert_eq!(ended["event"]["data"]["reason"], "publisher_ended", "{ended}");
}

/// The files of the one recording made in `room`.
fn recording_files(app: &TestApp, room: &str) -> Vec<std::path::PathBuf> {
    let dir = app.data_dir.path().join("recordings").join(room);
    let Ok(publishes) = std::fs::read_dir(dir) else { return Vec::new() };
    publishes.flatten().flat_map(|p| std::fs::read_dir(p.path()).into_iter().flatten().flatten().map(|f| f.path())).collect()
}

#[tokio::test]
async fn with_recording_on_a_publish_is_written_as_ivf_video_and_ogg_opus_audio() {
    let app = spawn_app_with(|s| s.sfu_record = true).await;
    let (token, _) = room(&app, "spring", "public").await;
    let publisher = connect(&app, "/whip/spring", Some(&token), true, b"recorded").await;
    let mut viewer = connect(&app, "/whep/spring", None, false, b"").await;
    receive(&mut viewer, 20, 20).await;
    assert_eq!(app.client.delete(app.url(&publisher.location)).send().await.unwrap().status(), 200);

    // The recorder closes its files after the publish ends, one after the other; wait
    // (bounded) until both are closed: the IVF frame count written, the audio flushed.
    let read = |ext: &str| {
        let files = recording_files(&app, "spring");
        files.iter().find(|p| p.extension().is_some_and(|e| e == ext)).map(|p| std::fs::read(p).unwrap()).unwrap_or_default()
    };
    let (mut ivf, mut opus) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        (ivf, opus) = (read("ivf"), read("opus"));
        if ivf.len() >= 32 && u32::from_le_bytes(ivf[24..28].try_into().unwrap()) > 0 && opus.windows(8).filter(|w| *w == b"recorded").count() >= 10 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(&ivf[0..4], b"DKIF", "an IVF file");
    assert_eq!(&ivf[8..12], b"VP80", "of the published VP8, not transcoded");
    let frames = u32::from_le_bytes(ivf[24..28].try_into().unwrap());
    assert!(frames >= 10, "{frames} frames");
    let first_size = u32::from_le_bytes(ivf[32..36].try_into().unwrap()) as usize;
    let first = &ivf[44..44 + first_size];
    assert_eq!(&first[3..6], &[0x9d, 0x01, 0x2a], "it starts at a keyframe");
    assert!(first.windows(8).any(|w| w == b"recorded"), "with the publisher's own bytes");

    assert_eq!(&opus[0..4], b"OggS", "an Ogg file");
    assert!(opus.windows(8).any(|w| w == b"OpusHead"));
    assert!(opus.windows(8).filter(|w| *w == b"recorded").count() >= 10, "audio packets as published");
}

fn count(frames: &[Received], kind: MediaKind) -> usize {
    frames.iter().filter(|f| f.kind == kind).count()
}

#[tokio::test]
async fn viewers_on_every_egress_shard_get_the_stream_and_end_with_the_publisher() {
    let app = spawn_app_with(|s| s.sfu_egress_shards = 2).await;
    let (token, _) = room(&app, "spring", "public").await;
    let publisher = connect(&app, "/whip/spring", Some(&token), true, b"spring").await;
    // Each goes to the least loaded engine: the driver, shard 1, shard 2, the driver again.
    let mut viewers = Vec::new();
    for _ in 0..4 {
        viewers.push(connect(&app, "/whep/spring", None, false, b"").await);
    }
    for (i, viewer) in viewers.iter_mut().enumerate() {
        let frames = receive(viewer, 10, 10).await;
        assert!(count(&frames, MediaKind::Audio) >= 10, "viewer {i} hears the publisher");
        assert!(count(&frames, MediaKind::Video) >= 10, "viewer {i} sees the publisher");
        assert!(frames.iter().find(|f| f.kind == MediaKind::Video).is_some_and(|f| f.keyframe), "viewer {i} starts on a keyframe");
        assert!(frames.iter().all(|f| has_tag(f, b"spring")), "viewer {i} gets this room's media only");
    }
    assert_eq!(app.client.delete(app.url(&publisher.location)).send().await.unwrap().status(), 200);
    for (i, viewer) in viewers.iter().enumerate() {
        let res = app.client.delete(app.url(&viewer.location)).send().await.unwrap();
        assert_eq!(res.status(), 404, "viewer {i}'s session ended with the stream");
    }
}

#[tokio::test]
async fn a_viewer_on_an_egress_shard_that_moves_address_and_restarts_ice_keeps_watching() {
    let app = spawn_app_with(|s| s.sfu_egress_shards = 1).await;
    let (token, _) = room(&app, "spring", "public").await;
    let _publisher = connect(&app, "/whip/spring", Some(&token), true, b"spring").await;
    let mut on_driver = connect(&app, "/whep/spring", None, false, b"").await;
    let mut on_shard = connect(&app, "/whep/spring", None, false, b"").await;
    assert!(count(&receive(&mut on_shard, 5, 5).await, MediaKind::Video) >= 5, "it watches from its shard");

    let fragment = on_shard.start_ice_restart().await;
    let res = patch(&app, &on_shard.location, "*", &fragment).await;
    assert_eq!(res.status(), 200, "the restart is answered");
    let body = res.text().await.unwrap();
    assert_ne!(attribute(&body, "ice-ufrag"), attribute(&on_shard.answer, "ice-ufrag"), "with new credentials");
    on_shard.finish_ice_restart(&body);

    // Its old socket is closed: these frames came over the restarted path.
    while on_shard.frames.try_recv().is_ok() {}
    let after = receive(&mut on_shard, 10, 30).await;
    assert!(count(&after, MediaKind::Video) >= 30, "video flows again after the restart");
    assert!(count(&after, MediaKind::Audio) >= 10, "and audio");
    let other = receive(&mut on_driver, 10, 10).await;
    assert!(count(&other, MediaKind::Video) >= 10, "the other viewer never noticed");
}

#[tokio::test]
async fn suspending_the_shop_ends_its_live_stream_and_its_viewers_sessions() {
    let app = spawn_app().await;
    let admin = app.create_admin().await["access_token"].as_str().unwrap().to_string();
    let (token, _) = room(&app, "spring", "public").await;
    let mut channel = crate::hub::WsClient::connect(&app, None).await;
    channel.subscribe("room:spring", None).await;
    let publisher = connect(&app, "/whip/spring", Some(&token), true, b"spring").await;
    let mut viewer = connect(&app, "/whep/spring", None, false, b"").await;
    receive(&mut viewer, 3, 3).await;

    let suspend = app.client.post(app.url("/api/v1/admin/shops/acme/suspend")).bearer_auth(&admin).json(&serde_json::json!({"reason": "counterfeit goods"}));
    assert_eq!(suspend.send().await.unwrap().status(), 200);
    let ended = channel.next_pub("stream.ended").await;
    assert_eq!(ended["event"]["data"]["reason"], "shop_suspended", "{ended}");
    for location in [&publisher.location, &viewer.location] {
        assert_eq!(app.client.delete(app.url(location)).send().await.unwrap().status(), 404, "{location} ended with the stream");
    }
    let room: serde_json::Value = app.client.get(app.url("/api/v1/rooms/spring")).send().await.unwrap().json().await.unwrap();
    assert_eq!(room["status"], "ended", "{room}");
    let again = post_sdp(&app, "/whip/spring", Some(&token), &publisher_offer()).await;
    assert_eq!(again.status(), 403, "and it cannot go live again while suspended");
}
