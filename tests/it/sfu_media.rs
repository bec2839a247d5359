//! Media through the real SFU: str0m clients on their own UDP sockets publish
//! over WHIP and play over WHEP, through ICE, DTLS and SRTP on the server's one port.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer};

const LAYERS: [&str; 3] = ["l", "m", "h"];
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use crate::sfu_whip_whep::{post_sdp, room};
use crate::support::{spawn_app, TestApp};

/// What a viewer received.
#[derive(Debug)]
pub struct Received {
    pub kind: MediaKind,
    keyframe: bool,
    time: u64,
    data: Vec<u8>,
}

pub struct Client {
    server_port: u16,
    pub frames: mpsc::UnboundedReceiver<Received>,
    _stop: watch::Sender<bool>,
}

/// A VP8 frame: keyframes carry the start code and a 320x240 size; `tag` follows.
fn vp8_frame(keyframe: bool, tag: &[u8]) -> Vec<u8> {
    let mut data = if keyframe { vec![0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00] } else { vec![0x31, 0x02, 0x00] };
    data.extend_from_slice(tag);
    data.extend(std::iter::repeat_n(0u8, 200));
    data
}

/// Starts a str0m peer: a publisher (sending Opus and VP8 frames tagged `tag`, a keyframe
/// every 30 frames and when asked) or a viewer.
pub async fn connect(app: &TestApp, path: &str, token: Option<&str>, publisher: bool, tag: &'static [u8]) -> Client {
    connect_with(app, path, token, publisher, tag, 30).await
}

async fn connect_with(app: &TestApp, path: &str, token: Option<&str>, publisher: bool, tag: &'static [u8], keyframe_every: u64) -> Client {
    connect_full(app, path, token, publisher, tag, keyframe_every, false).await
}

/// Simulcast publishers send layers "l", "m" and "h" (frames of 300, 1200 and 5000
/// bytes), each frame tagged with `tag` and its layer name.
async fn connect_full(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    publisher: bool,
    tag: &'static [u8],
    keyframe_every: u64,
    simulcast: bool,
) -> Client {
    connect_junky(app, path, token, publisher, tag, keyframe_every, simulcast, false).await
}

/// `junk`: the peer also sends malformed DTLS-, RTP-, RTCP- and STUN-looking datagrams
/// from its own address to the server, every few frames.
#[allow(clippy::too_many_arguments)]
async fn connect_junky(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    publisher: bool,
    tag: &'static [u8],
    keyframe_every: u64,
    simulcast: bool,
    junk: bool,
) -> Client {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    let mut rtc = RtcConfig::new().clear_codecs().enable_opus(true, false).enable_vp8(true).build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
    let dir = if publisher { Direction::SendOnly } else { Direction::RecvOnly };
    let mut api = rtc.sdp_api();
    let audio = api.add_media(MediaKind::Audio, dir, None, None, None);
    let layers = simulcast.then(|| {
        let mut s = Simulcast::new();
        for rid in LAYERS {
            s.add_send_layer(SimulcastLayer::new(rid));
        }
        s
    });
    let video = api.add_media(MediaKind::Video, dir, None, None, layers);
    let (offer, pending) = api.apply().unwrap();
    let res = post_sdp(app, path, token, &offer.to_sdp_string()).await;
    assert_eq!(res.status(), 201, "{path}");
    let answer = res.text().await.unwrap();
    let server_port = answer
        .lines()
        .find_map(|l| l.strip_prefix("a=candidate:").filter(|l| l.contains(" 127.0.0.1 ")))
        .and_then(|l| l.split_whitespace().nth(5))
        .and_then(|p| p.parse().ok())
        .expect("a 127.0.0.1 candidate");
    rtc.sdp_api().accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap()).unwrap();
    let (frames_tx, frames) = mpsc::unbounded_channel();
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(drive(rtc, socket, local, publisher.then_some(Publish { audio, video, tag, keyframe_every, simulcast, junk }), frames_tx, stopped));
    Client { server_port, frames, _stop: stop }
}

#[derive(Clone, Copy)]
struct Publish {
    audio: Mid,
    video: Mid,
    tag: &'static [u8],
    keyframe_every: u64,
    simulcast: bool,
    junk: bool,
}

async fn drive(
    mut rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    publish: Option<Publish>,
    frames: mpsc::UnboundedSender<Received>,
    mut stopped: watch::Receiver<bool>,
) {
    let start = Instant::now();
    let mut connected = false;
    let mut next_frame = Instant::now();
    let mut count: u64 = 0;
    let mut keyframe_wanted = true;
    let mut server: Option<SocketAddr> = None;
    let mut buf = vec![0u8; 2000];
    loop {
        let timeout = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Transmit(t)) => {
                    server = Some(t.destination);
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Ok(Output::Event(Event::Connected)) => connected = true,
                Ok(Output::Event(Event::KeyframeRequest(_))) => keyframe_wanted = true,
                Ok(Output::Event(Event::MediaData(d))) => {
                    let kind = if d.params.spec().codec.is_audio() { MediaKind::Audio } else { MediaKind::Video };
                    let _ = frames.send(Received { kind, keyframe: d.is_keyframe(), time: d.time.numer(), data: d.data.to_vec() });
                }
                Ok(Output::Event(_)) => {}
                Err(_) => return,
            }
        };
        if !rtc.is_alive() {
            return;
        }
        let wake = if publish.is_some() && connected { timeout.min(next_frame) } else { timeout };
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                if let Ok((n, source)) = received {
                    if let Ok(r) = Receive::new(Protocol::Udp, source, local, &buf[..n]) {
                        let _ = rtc.handle_input(Input::Receive(Instant::now(), r));
                    }
                }
            }
            _ = tokio::time::sleep_until(wake.max(Instant::now()).into()) => {}
            _ = stopped.changed() => return,
        }
        let now = Instant::now();
        let _ = rtc.handle_input(Input::Timeout(now));
        if let (Some(Publish { audio, video, tag, keyframe_every, simulcast, junk }), true) = (publish, connected) {
            if now >= next_frame {
                next_frame = now + Duration::from_millis(33);
                count += 1;
                let elapsed = now.duration_since(start);
                if let Some(w) = rtc.writer(audio) {
                    let pt = w.payload_params().next().unwrap().pt();
                    let _ = w.write(pt, now, MediaTime::from_micros(elapsed.as_micros() as u64).rebase(str0m::media::Frequency::FORTY_EIGHT_KHZ), tag.to_vec());
                }
                if let (true, Some(server)) = (junk && count % 5 == 0, server) {
                    for datagram in junk_datagrams(count) {
                        let _ = socket.send_to(&datagram, server).await;
                    }
                }
                let keyframe = keyframe_wanted || count % keyframe_every == 0;
                keyframe_wanted = false;
                let time = MediaTime::from_micros(elapsed.as_micros() as u64).rebase(str0m::media::Frequency::NINETY_KHZ);
                if !simulcast {
                    if let Some(w) = rtc.writer(video) {
                        let pt = w.payload_params().next().unwrap().pt();
                        let _ = w.write(pt, now, time, vp8_frame(keyframe, tag));
                    }
                }
                for (i, rid) in LAYERS.iter().enumerate().filter(|_| simulcast) {
                    if let Some(w) = rtc.writer(video) {
                        let pt = w.payload_params().next().unwrap().pt();
                        let mut data = vp8_frame(keyframe, &[tag, b"/layer-", rid.as_bytes()].concat());
                        data.resize([300, 1200, 5000][i], 0);
                        let _ = w.rid(Rid::from(*rid)).write(pt, now, time, data);
                    }
                }
            }
        }
    }
}

/// Malformed datagrams of every kind the server demultiplexes.
fn junk_datagrams(seed: u64) -> Vec<Vec<u8>> {
    let noise: Vec<u8> = (0..300u64).map(|i| (i.wrapping_mul(31).wrapping_add(seed) % 251) as u8).collect();
    vec![
        [&[22u8, 0xfe, 0xfd, 0, 0][..], &noise[..40]].concat(), // DTLS handshake header, garbage body
        [&[23u8, 0xfe, 0xfd][..], &noise[..100]].concat(),     // DTLS application data, garbage
        [&[0x80u8, 96, 0, 1, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef][..], &noise].concat(), // RTP, bad SRTP
        [&[0x81u8, 200, 0, 6][..], &noise[..24]].concat(),     // RTCP sender report, bad SRTCP
        vec![0, 1, 0, 8, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 6, 0, 4], // STUN, bad attribute
        vec![0x80],
        vec![],
    ]
}

/// Collects frames until `audio` audio frames and one video keyframe plus `video` video frames arrived.
pub async fn receive(client: &mut Client, audio: usize, video: usize) -> Vec<Received> {
    let mut got = Vec::new();
    let wait = async {
        while let Some(frame) = client.frames.recv().await {
            got.push(frame);
            let audio_n = got.iter().filter(|f| f.kind == MediaKind::Audio).count();
            let video_n = got.iter().filter(|f| f.kind == MediaKind::Video).count();
            if audio_n >= audio && video_n >= video && got.iter().any(|f| f.keyframe) {
                break;
            }
        }
    };
    // A generous bound so a broken path fails instead of hanging; not a timing assertion.
    let _ = tokio::time::timeout(Duration::from_secs(20), wait).await;
    got
}

#[tokio::test]
async fn media_reaches_the_viewers_of_its_room_and_no_other() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "one", "public").await;
    let (_, key_two) = room(&app, "two", "public").await;
    let _pub_one = connect(&app, "/whip/one", Some(&token), true, b"room-one").await;
    let _pub_two = connect(&app, "/whip/two", Some(&key_two), true, b"room-two").await;
    let mut view_one = connect(&app, "/whep/one", None, false, b"").await;
    let mut view_two = connect(&app, "/whep/two", None, false, b"").await;
    for (viewer, tag) in [(&mut view_one, b"room-one"), (&mut view_two, b"room-two")] {
        let frames = receive(viewer, 10, 10).await;
        assert!(frames.iter().filter(|f| f.kind == MediaKind::Audio).count() >= 10, "audio arrives");
        assert!(frames.iter().filter(|f| f.kind == MediaKind::Video).count() >= 10, "video arrives");
        let first_video = frames.iter().find(|f| f.kind == MediaKind::Video).unwrap();
        assert!(first_video.keyframe, "the first video frame a viewer gets is a keyframe");
        for frame in &frames {
            assert!(frame.data.windows(tag.len()).any(|w| w == tag), "only its own room's media");
        }
    }
}

#[tokio::test]
async fn garbage_datagrams_on_the_media_port_do_not_disturb_a_live_session() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    let _publisher = connect(&app, "/whip/spring", Some(&token), true, b"spring").await;
    let mut viewer = connect(&app, "/whep/spring", None, false, b"").await;
    assert!(!receive(&mut viewer, 5, 5).await.is_empty());

    let attacker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target: SocketAddr = ([127, 0, 0, 1], viewer.server_port).into();
    let mut junk: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0xff; 1500], vec![0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 99]];
    // STUN-looking header with a bogus length, RTP- and RTCP-looking packets with bogus contents.
    junk.push(vec![0x00, 0x01, 0x00, 0x50, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    junk.push([vec![0x80, 0x60, 0x00, 0x01], vec![0xaa; 60]].concat());
    junk.push([vec![0x81, 0xc8, 0x00, 0x06], vec![0xbb; 8]].concat());
    for i in 0..500u32 {
        junk.push(i.to_be_bytes().iter().cycle().take((i as usize * 7) % 1400).copied().collect());
    }
    for datagram in &junk {
        let _ = attacker.send_to(datagram, target).await;
    }
    // Drain what arrived meanwhile, then the session must still be delivering.
    while viewer.frames.try_recv().is_ok() {}
    let after = receive(&mut viewer, 10, 10).await;
    assert!(after.iter().filter(|f| f.kind == MediaKind::Audio).count() >= 10, "audio still flows after the garbage");
    assert!(after.iter().filter(|f| f.kind == MediaKind::Video).count() >= 10, "video still flows after the garbage");
}

#[tokio::test]
async fn each_joining_viewer_gets_a_keyframe_requested_from_the_publisher() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    // This publisher sends a keyframe only at its start and when asked.
    let _publisher = connect_with(&app, "/whip/spring", Some(&token), true, b"spring", u64::MAX).await;
    let mut first = connect(&app, "/whep/spring", None, false, b"").await;
    assert!(receive(&mut first, 1, 1).await.iter().any(|f| f.keyframe), "the first viewer's join asked for one");
    let mut second = connect(&app, "/whep/spring", None, false, b"").await;
    let frames = receive(&mut second, 1, 1).await;
    assert!(frames.iter().any(|f| f.kind == MediaKind::Video && f.keyframe), "so did the second's");
}

#[tokio::test]
async fn a_simulcast_viewer_gets_one_layer_as_one_continuous_stream() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    let _publisher = connect_full(&app, "/whip/spring", Some(&token), true, b"spring", 30, true).await;
    let mut viewer = connect(&app, "/whep/spring", None, false, b"").await;
    // Long enough for layer bitrates to be measured and the viewer moved to the top layer.
    let frames = receive(&mut viewer, 1, 75).await;
    let video: Vec<&Received> = frames.iter().filter(|f| f.kind == MediaKind::Video).collect();
    assert!(video.len() >= 75, "video arrives: {}", video.len());
    let layer_of = |f: &Received| LAYERS.iter().position(|l| f.data.windows(8).any(|w| w == [b"/layer-", l.as_bytes()].concat().as_slice()));
    for pair in video.windows(2) {
        assert!(pair[1].time > pair[0].time, "timestamps strictly increase: one frame per instant, never three");
        if layer_of(pair[0]) != layer_of(pair[1]) {
            assert!(pair[1].keyframe, "a layer switch happens only at a keyframe");
        }
    }
    assert_eq!(layer_of(video[video.len() - 1]), Some(2), "with no bandwidth limit the viewer ends on the top layer");
}

#[tokio::test]
async fn a_live_room_exposes_its_media_clock_from_the_publishers_sender_reports() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    let clock_url = app.url("/api/v1/rooms/spring/media-clock");
    assert_eq!(app.client.get(&clock_url).send().await.unwrap().status(), 409, "not live yet");
    let _publisher = connect(&app, "/whip/spring", Some(&token), true, b"spring").await;
    let mut viewer = connect(&app, "/whep/spring", None, false, b"").await;
    receive(&mut viewer, 5, 5).await;
    // Sender reports come about once a second; wait (bounded) for the first.
    let mut clock = serde_json::Value::Null;
    for _ in 0..100 {
        let res = app.client.get(&clock_url).send().await.unwrap();
        if res.status() == 200 {
            clock = res.json().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(clock["track"], "video", "{clock}");
    assert_eq!(clock["clock_rate"], 90_000);
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!((now_ms - clock["ntp_unix_ms"].as_i64().unwrap()).abs() < 60_000, "{clock}");
}

#[tokio::test]
async fn malformed_datagrams_from_a_peers_own_address_do_not_end_its_session_or_disturb_others() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "noisy", "public").await;
    let (_, quiet_key) = room(&app, "quiet", "public").await;
    let _noisy = connect_junky(&app, "/whip/noisy", Some(&token), true, b"noisy", 30, false, true).await;
    let _quiet = connect(&app, "/whip/quiet", Some(&quiet_key), true, b"quiet").await;
    let mut noisy_viewer = connect(&app, "/whep/noisy", None, false, b"").await;
    let mut quiet_viewer = connect(&app, "/whep/quiet", None, false, b"").await;
    // Over a hundred frames: the junky publisher has sent junk twenty times meanwhile.
    let noisy = receive(&mut noisy_viewer, 10, 100).await;
    assert!(noisy.iter().filter(|f| f.kind == MediaKind::Video).count() >= 100, "the junky publisher's stream keeps flowing");
    let quiet = receive(&mut quiet_viewer, 10, 30).await;
    assert!(quiet.iter().filter(|f| f.kind == MediaKind::Video).count() >= 30, "the other room is undisturbed");
}
