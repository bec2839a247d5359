//! ICE over TCP (RFC 6544, RFC 4571 framing): a player whose network lets only TCP
//! through connects to the passive TCP candidate of the answer and gets media.
//! The player is a str0m peer with a single TCP candidate, so UDP cannot be used.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::{Candidate, Event, Input, Output, RtcConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::sfu_media::connect;
use crate::sfu_whip_whep::{post_sdp, room};
use crate::support::{spawn_app, spawn_app_with};

/// `(address, tcptype)` of the TCP candidates of an SDP.
fn tcp_candidates(sdp: &str) -> Vec<(SocketAddr, String)> {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=candidate:"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let tcptype = f.iter().position(|w| *w == "tcptype").and_then(|i| f.get(i + 1))?;
            if !f.get(2)?.eq_ignore_ascii_case("tcp") {
                return None;
            }
            let addr = format!("{}:{}", f.get(4)?, f.get(5)?).parse().ok()?;
            Some((addr, tcptype.to_string()))
        })
        .collect()
}

#[tokio::test]
async fn answers_offer_a_passive_tcp_candidate_on_the_tcp_port() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    let answer = post_sdp(&app, "/whip/spring", Some(&token), &crate::sfu_whip_whep::publisher_offer()).await.text().await.unwrap();
    let tcp = tcp_candidates(&answer);
    assert!(tcp.iter().any(|(addr, kind)| addr.ip().is_loopback() && kind == "passive"), "{answer}");
    let udp_port = answer.lines().find(|l| l.contains(" udp ") || l.contains(" UDP ")).and_then(|l| l.split_whitespace().nth(5)).unwrap();
    assert!(tcp.iter().all(|(addr, _)| addr.port() != 0 && addr.port().to_string() != udp_port), "its own port: {tcp:?}");
}

#[tokio::test]
async fn a_player_that_can_only_use_tcp_gets_media_over_ice_tcp() {
    let app = spawn_app().await;
    let (token, _) = room(&app, "spring", "public").await;
    let _publisher = connect(&app, "/whip/spring", Some(&token), true, b"over-tcp").await;
    tcp_only_player_gets_the_stream(&app).await;
}

#[tokio::test]
async fn a_tcp_only_player_placed_on_an_egress_shard_gets_media_too() {
    let app = spawn_app_with(|s| s.sfu_egress_shards = 1).await;
    let (token, _) = room(&app, "spring", "public").await;
    let _publisher = connect(&app, "/whip/spring", Some(&token), true, b"over-tcp").await;
    // The driver has a viewer already, so the next one goes to the shard.
    let _udp_viewer = connect(&app, "/whep/spring", None, false, b"").await;
    tcp_only_player_gets_the_stream(&app).await;
}

/// A player with only an active TCP candidate joins `spring` and must get 10 audio
/// and 10 video frames, all tagged `over-tcp`, over ICE-TCP.
async fn tcp_only_player_gets_the_stream(app: &crate::support::TestApp) {

    // RFC 6544: an active candidate carries the discard port 9; it never listens.
    let local: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut rtc = RtcConfig::new().clear_codecs().enable_opus(true, false).enable_vp8(true).build(Instant::now());
    rtc.add_local_candidate(Candidate::builder().tcp().host(local).tcptype(TcpType::Active).build().unwrap());
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    let res = post_sdp(app, "/whep/spring", None, &offer.to_sdp_string()).await;
    assert_eq!(res.status(), 201);
    let answer = res.text().await.unwrap();
    rtc.sdp_api().accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap()).unwrap();

    let mut stream: Option<(TcpStream, SocketAddr)> = None;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 4096];
    let (mut audio, mut video, mut tagged) = (0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(20); // a bound, not a timing assertion
    while Instant::now() < deadline && !(audio >= 10 && video >= 10) {
        let timeout = loop {
            match rtc.poll_output().unwrap() {
                Output::Timeout(t) => break t,
                Output::Transmit(t) => {
                    assert_eq!(t.proto, Protocol::Tcp, "nothing goes out over UDP");
                    if stream.as_ref().is_none_or(|(_, to)| *to != t.destination) {
                        stream = Some((TcpStream::connect(t.destination).await.unwrap(), t.destination));
                    }
                    let (s, _) = stream.as_mut().unwrap();
                    let mut frame = (t.contents.len() as u16).to_be_bytes().to_vec();
                    frame.extend_from_slice(&t.contents);
                    s.write_all(&frame).await.unwrap();
                }
                Output::Event(Event::MediaData(d)) => {
                    if d.params.spec().codec.is_audio() {
                        audio += 1;
                    } else {
                        video += 1;
                    }
                    if d.data.windows(8).any(|w| w == b"over-tcp") {
                        tagged += 1;
                    }
                }
                Output::Event(_) => {}
            }
        };
        let wait = timeout.max(Instant::now()).min(Instant::now() + Duration::from_millis(50));
        if let Some((s, server)) = stream.as_mut() {
            let server = *server;
            if let Ok(Ok(n)) = tokio::time::timeout_at(wait.into(), s.read(&mut chunk)).await {
                assert!(n > 0, "the server closed the connection");
                buf.extend_from_slice(&chunk[..n]);
            }
            // Unframe every complete RFC 4571 frame.
            while buf.len() >= 2 && buf.len() >= 2 + usize::from(u16::from_be_bytes([buf[0], buf[1]])) {
                let len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
                let packet: Vec<u8> = buf.drain(..2 + len).skip(2).collect();
                let receive = Receive::new(Protocol::Tcp, server, local, &packet).unwrap();
                rtc.handle_input(Input::Receive(Instant::now(), receive)).unwrap();
            }
        } else {
            tokio::time::sleep_until(wait.into()).await;
        }
        rtc.handle_input(Input::Timeout(Instant::now())).unwrap();
    }
    assert!(audio >= 10, "audio over TCP: {audio}");
    assert!(video >= 10, "video over TCP: {video}");
    assert_eq!(tagged, audio + video, "all of it from the room's publisher");
}
