//! SFU fan-out benchmark: one synthetic publisher (Opus + VP8-shaped frames at a
//! target bitrate) and N str0m WHEP viewers against a running streamcart server.
//! Prints packets/s delivered, frame loss, and the server's CPU use over the run.
//!
//! cargo run --release --example sfu_fanout -- --url http://localhost:7880 --pid <server pid> --viewers 50 --seconds 20
//!
//! The viewers run in this process, so on a small machine they compete with the
//! server for CPU; the figures are a floor, not the server's ceiling.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use str0m::change::SdpAnswer;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;

#[derive(Default)]
struct Counters {
    datagrams: AtomicU64,
    frames: AtomicU64,
    connected: AtomicU64,
}

struct Args {
    url: String,
    pid: Option<u32>,
    viewers: usize,
    seconds: u64,
    kbps: u64,
}

fn args() -> Args {
    let mut a = Args { url: "http://localhost:7880".into(), pid: None, viewers: 10, seconds: 15, kbps: 1500 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--url" => a.url = value,
            "--pid" => a.pid = value.parse().ok(),
            "--viewers" => a.viewers = value.parse().unwrap_or(a.viewers),
            "--seconds" => a.seconds = value.parse().unwrap_or(a.seconds),
            "--kbps" => a.kbps = value.parse().unwrap_or(a.kbps),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

async fn connect(client: &reqwest::Client, url: &str, token: Option<&str>, publisher: bool) -> (Rtc, UdpSocket, Mid, Mid) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    let mut rtc = RtcConfig::new().clear_codecs().enable_opus(true, false).enable_vp8(true).build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
    let dir = if publisher { Direction::SendOnly } else { Direction::RecvOnly };
    let mut api = rtc.sdp_api();
    let audio = api.add_media(MediaKind::Audio, dir, None, None, None);
    let video = api.add_media(MediaKind::Video, dir, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    let mut req = client.post(url).header("content-type", "application/sdp").body(offer.to_sdp_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 201, "{url}: {}", res.text().await.unwrap_or_default());
    let answer = res.text().await.unwrap();
    rtc.sdp_api().accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap()).unwrap();
    (rtc, socket, audio, video)
}

async fn drive(mut rtc: Rtc, socket: UdpSocket, publish: Option<(Mid, Mid, u64)>, counters: Arc<Counters>, until: Instant) {
    let local: SocketAddr = socket.local_addr().unwrap();
    let start = Instant::now();
    let mut connected = false;
    let mut next_frame = Instant::now();
    let mut n: u64 = 0;
    let mut buf = vec![0u8; 2000];
    while Instant::now() < until && rtc.is_alive() {
        let timeout = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Ok(Output::Event(Event::Connected)) => {
                    connected = true;
                    counters.connected.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Output::Event(Event::MediaData(d))) if d.params.spec().codec.is_video() => {
                    counters.frames.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Output::Event(_)) => {}
                Err(_) => return,
            }
        };
        let wake = if publish.is_some() && connected { timeout.min(next_frame) } else { timeout };
        tokio::select! {
            r = socket.recv_from(&mut buf) => if let Ok((len, source)) = r {
                counters.datagrams.fetch_add(1, Ordering::Relaxed);
                if let Ok(r) = Receive::new(Protocol::Udp, source, local, &buf[..len]) {
                    let _ = rtc.handle_input(Input::Receive(Instant::now(), r));
                }
            },
            _ = tokio::time::sleep_until(wake.max(Instant::now()).into()) => {}
        }
        let now = Instant::now();
        let _ = rtc.handle_input(Input::Timeout(now));
        if let (Some((audio, video, frame_bytes)), true) = (publish, connected) {
            if now >= next_frame {
                next_frame += Duration::from_millis(33);
                n += 1;
                let t = MediaTime::from_micros(now.duration_since(start).as_micros() as u64);
                if let Some(w) = rtc.writer(audio) {
                    let pt = w.payload_params().next().unwrap().pt();
                    let _ = w.write(pt, now, t.rebase(Frequency::FORTY_EIGHT_KHZ), vec![0xf8u8; 80]);
                }
                if let Some(w) = rtc.writer(video) {
                    let pt = w.payload_params().next().unwrap().pt();
                    let mut data = if n % 60 == 1 { vec![0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02] } else { vec![0x31, 0x02, 0x00] };
                    data.resize(frame_bytes as usize, 0x55);
                    counters.frames.fetch_add(1, Ordering::Relaxed);
                    let _ = w.write(pt, now, t.rebase(Frequency::NINETY_KHZ), data);
                }
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let a = args();
    let t_start = Instant::now();
    let http = reqwest::Client::new();
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let reg: Value = http
        .post(format!("{}/api/v1/auth/register", a.url))
        .json(&json!({"email": format!("bench-{suffix}@example.com"), "password": "correct horse battery staple", "display_name": "Bench"}))
        .send().await.unwrap().json().await.unwrap();
    let token = reg["access_token"].as_str().expect("registered").to_string();
    http.post(format!("{}/api/v1/shops", a.url)).bearer_auth(&token).json(&json!({"slug": format!("bench-{suffix}"), "name": "Bench"})).send().await.unwrap();
    let room: Value = http
        .post(format!("{}/api/v1/shops/bench-{suffix}/rooms", a.url))
        .bearer_auth(&token)
        .json(&json!({"name": format!("bench-{suffix}"), "title": "Bench"}))
        .send().await.unwrap().json().await.unwrap();
    let name = room["room"]["name"].as_str().unwrap().to_string();

    let warmup = Duration::from_secs(3);
    // Peers run until the process exits after printing.
    let end = Instant::now() + Duration::from_secs(3600);
    let frame_bytes = a.kbps * 1000 / 8 / 30;
    let sent = Arc::new(Counters::default());
    let (rtc, socket, audio, video) = connect(&http, &format!("{}/whip/{name}", a.url), Some(&token), true).await;
    tokio::spawn(drive(rtc, socket, Some((audio, video, frame_bytes)), sent.clone(), end));
    let received = Arc::new(Counters::default());
    for _ in 0..a.viewers {
        let (rtc, socket, _, _) = connect(&http, &format!("{}/whep/{name}", a.url), None, false).await;
        tokio::spawn(drive(rtc, socket, None, received.clone(), end));
    }
    let joined = Instant::now();
    tokio::time::sleep(warmup).await;
    let (d0, f0, s0, cpu0, t0) = (received.datagrams.load(Ordering::Relaxed), received.frames.load(Ordering::Relaxed), sent.frames.load(Ordering::Relaxed), a.pid.and_then(cpu_ticks), Instant::now());
    let me0 = cpu_ticks(std::process::id());
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    let (d1, f1, s1, cpu1, secs) = (received.datagrams.load(Ordering::Relaxed), received.frames.load(Ordering::Relaxed), sent.frames.load(Ordering::Relaxed), a.pid.and_then(cpu_ticks), t0.elapsed().as_secs_f64());
    let me1 = cpu_ticks(std::process::id());
    let expected = (s1 - s0) * a.viewers as u64;
    let got = f1 - f0;
    let ticks_per_sec = 100.0; // Linux USER_HZ
    println!("viewers: {} ({} connected)", a.viewers, received.connected.load(Ordering::Relaxed));
    println!("publisher: {} kbps video at 30 fps ({frame_bytes} B frames) + Opus", a.kbps);
    println!("measured over: {secs:.1} s (after {:.1} s to connect everyone and {} s of warm-up)", joined.duration_since(t_start).as_secs_f64(), warmup.as_secs());
    println!("datagrams delivered to viewers: {:.0}/s", (d1 - d0) as f64 / secs);
    println!("video frames delivered: {got} of {expected} ({:.2}% missing)", 100.0 * (expected.saturating_sub(got)) as f64 / expected.max(1) as f64);
    if let (Some(c0), Some(c1)) = (cpu0, cpu1) {
        println!("server CPU: {:.1}% of one core", 100.0 * (c1 - c0) as f64 / ticks_per_sec / secs);
    }
    if let (Some(c0), Some(c1)) = (me0, me1) {
        println!("benchmark client CPU (publisher + viewers): {:.1}% of one core", 100.0 * (c1 - c0) as f64 / ticks_per_sec / secs);
    }
}
