//! Lightweight real WebRTC peers (str0m, one UDP socket each) for the SFU,
//! Janus and glass-to-glass scenarios: a synthetic publisher (Opus +
//! VP8-shaped frames carrying their send time) and viewers that complete
//! ICE/DTLS/SRTP, count what arrives and measure each frame's delay.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;

use crate::now_us;
use crate::report::Samples;

/// Where in a video frame's payload the send time (µs, big-endian) sits:
/// after the 10-byte VP8 keyframe header, so both frame kinds carry it.
pub const STAMP_AT: usize = 16;

/// The synthetic stream: video bitrate at 30 fps, a keyframe every 60 frames.
#[derive(Clone, Copy)]
pub struct Stream {
    pub video_kbps: u64,
}

impl Stream {
    pub fn frame_bytes(&self) -> usize {
        (self.video_kbps * 1000 / 8 / 30) as usize
    }

    /// Frame `n` (1-based) stamped with the current time.
    pub fn video_frame(&self, n: u64) -> Vec<u8> {
        let mut data = if n % 60 == 1 { vec![0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02] } else { vec![0x31, 0x02, 0x00] };
        data.resize(self.frame_bytes().max(STAMP_AT + 8), 0x55);
        data[STAMP_AT..STAMP_AT + 8].copy_from_slice(&now_us().to_be_bytes());
        data
    }
}

pub fn opus_frame() -> Vec<u8> {
    vec![0xf8u8; 80]
}

/// What one viewer has seen so far (read by the scenario while it runs).
#[derive(Default)]
pub struct ViewerStats {
    pub connected: AtomicU64,
    pub datagrams: AtomicU64,
    pub video_frames: AtomicU64,
    /// Frame delays (publisher write → complete frame here), while `recording`.
    pub delays: Mutex<Samples>,
}

/// The process-wide switch for recording delays (off during connect and warm-up).
pub static RECORDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[derive(Default)]
pub struct PublisherStats {
    pub connected: AtomicU64,
    pub video_frames: AtomicU64,
}

pub struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    audio: Option<Mid>,
    video: Option<Mid>,
}

fn config() -> RtcConfig {
    RtcConfig::new().clear_codecs().enable_opus(true, false).enable_vp8(true)
}

async fn socket_on(ip: IpAddr) -> anyhow::Result<(UdpSocket, Candidate)> {
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
    let candidate = Candidate::host(socket.local_addr()?, "udp")?;
    Ok((socket, candidate))
}

impl Peer {
    /// WHIP (`publisher`) or WHEP: our offer, the server's answer.
    pub async fn offer_to(http: &reqwest::Client, url: &str, token: Option<&str>, publisher: bool) -> anyhow::Result<Peer> {
        let (socket, candidate) = socket_on([127, 0, 0, 1].into()).await?;
        let mut rtc = config().build(Instant::now());
        rtc.add_local_candidate(candidate);
        let dir = if publisher { Direction::SendOnly } else { Direction::RecvOnly };
        let mut api = rtc.sdp_api();
        let audio = api.add_media(MediaKind::Audio, dir, None, None, None);
        let video = api.add_media(MediaKind::Video, dir, None, None, None);
        let (offer, pending) = api.apply().context("no offer")?;
        let mut req = http.post(url).header("content-type", "application/sdp").body(offer.to_sdp_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await?;
        if res.status() != 201 {
            bail!("{url}: {} {}", res.status(), res.text().await.unwrap_or_default());
        }
        let answer = SdpAnswer::from_sdp_string(&res.text().await?)?;
        rtc.sdp_api().accept_answer(pending, answer)?;
        Ok(Peer { rtc, socket, audio: Some(audio), video: Some(video) })
    }

    /// A viewer answering a server's offer (Janus's streaming plugin), on `ip`.
    pub async fn answer(offer: &str, ip: IpAddr) -> anyhow::Result<(Peer, String)> {
        let (socket, candidate) = socket_on(ip).await?;
        let mut rtc = config().build(Instant::now());
        rtc.add_local_candidate(candidate);
        let answer = rtc.sdp_api().accept_offer(SdpOffer::from_sdp_string(offer)?)?;
        Ok((Peer { rtc, socket, audio: None, video: None }, answer.to_sdp_string()))
    }

    /// Runs a viewer until `until`.
    pub async fn view(self, stats: Arc<ViewerStats>, until: Instant) {
        self.drive(None, Some(stats), None, until).await
    }

    /// Runs a publisher of `stream` until `until`.
    pub async fn publish(self, stream: Stream, stats: Arc<PublisherStats>, until: Instant) {
        self.drive(Some(stream), None, Some(stats), until).await
    }

    async fn drive(mut self, stream: Option<Stream>, viewer: Option<Arc<ViewerStats>>, publisher: Option<Arc<PublisherStats>>, until: Instant) {
        let Ok(local) = self.socket.local_addr() else { return };
        let mut connected = false;
        let start = Instant::now();
        let mut next_frame = Instant::now();
        let mut n: u64 = 0;
        let mut buf = vec![0u8; 2000];
        while Instant::now() < until && self.rtc.is_alive() {
            let timeout = loop {
                match self.rtc.poll_output() {
                    Ok(Output::Timeout(t)) => break t,
                    Ok(Output::Transmit(t)) => {
                        let _ = self.socket.send_to(&t.contents, t.destination).await;
                    }
                    Ok(Output::Event(Event::Connected)) => {
                        connected = true;
                        if let Some(v) = &viewer {
                            v.connected.store(1, Ordering::Relaxed);
                        }
                        if let Some(p) = &publisher {
                            p.connected.store(1, Ordering::Relaxed);
                        }
                    }
                    Ok(Output::Event(Event::MediaData(d))) if d.params.spec().codec.is_video() => {
                        if let Some(v) = &viewer {
                            v.video_frames.fetch_add(1, Ordering::Relaxed);
                            if RECORDING.load(Ordering::Relaxed) && d.data.len() >= STAMP_AT + 8 {
                                let mut stamp = [0u8; 8];
                                stamp.copy_from_slice(&d.data[STAMP_AT..STAMP_AT + 8]);
                                let delay = now_us().saturating_sub(u64::from_be_bytes(stamp));
                                if let Ok(mut s) = v.delays.lock() {
                                    s.push(delay);
                                }
                            }
                        }
                    }
                    Ok(Output::Event(_)) => {}
                    Err(_) => return,
                }
            };
            let publishing = stream.is_some() && connected;
            let wake = (if publishing { timeout.min(next_frame) } else { timeout }).min(until);
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => if let Ok((len, source)) = r {
                    if let Some(v) = &viewer {
                        v.datagrams.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Ok(r) = Receive::new(Protocol::Udp, source, local, &buf[..len]) {
                        let _ = self.rtc.handle_input(Input::Receive(Instant::now(), r));
                    }
                },
                _ = tokio::time::sleep_until(wake.max(Instant::now()).into()) => {}
            }
            let now = Instant::now();
            let _ = self.rtc.handle_input(Input::Timeout(now));
            if let (Some(stream), true) = (stream, publishing) {
                if now >= next_frame {
                    next_frame += Duration::from_micros(33_333);
                    n += 1;
                    let t = MediaTime::from_micros(now.duration_since(start).as_micros() as u64);
                    if let Some(w) = self.audio.and_then(|m| self.rtc.writer(m)) {
                        let pt = w.payload_params().next().map(|p| p.pt());
                        if let Some(pt) = pt {
                            let _ = w.write(pt, now, t.rebase(Frequency::FORTY_EIGHT_KHZ), opus_frame());
                        }
                    }
                    if let Some(w) = self.video.and_then(|m| self.rtc.writer(m)) {
                        let pt = w.payload_params().next().map(|p| p.pt());
                        if let Some(pt) = pt {
                            if w.write(pt, now, t.rebase(Frequency::NINETY_KHZ), stream.video_frame(n)).is_ok() {
                                if let Some(p) = &publisher {
                                    p.video_frames.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Hand-made RTP for an SFU that takes plain RTP in (Janus's streaming
/// plugin): the same frames, cut into packets of at most `mtu` bytes.
pub struct RtpFeed {
    socket: std::net::UdpSocket,
    video_to: SocketAddr,
    audio_to: SocketAddr,
    seq_v: u16,
    seq_a: u16,
}

impl RtpFeed {
    pub const VIDEO_PT: u8 = 96;
    pub const AUDIO_PT: u8 = 111;
    const VIDEO_SSRC: u32 = 0x5eed_0001;
    const AUDIO_SSRC: u32 = 0x5eed_0002;

    pub fn new(video_to: SocketAddr, audio_to: SocketAddr) -> anyhow::Result<RtpFeed> {
        Ok(RtpFeed { socket: std::net::UdpSocket::bind("127.0.0.1:0")?, video_to, audio_to, seq_v: 0, seq_a: 0 })
    }

    fn header(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut h = Vec::with_capacity(1300);
        h.push(0x80);
        h.push(pt | if marker { 0x80 } else { 0 });
        h.extend_from_slice(&seq.to_be_bytes());
        h.extend_from_slice(&ts.to_be_bytes());
        h.extend_from_slice(&ssrc.to_be_bytes());
        h
    }

    /// Sends frame `n` (video in 1200-byte packets, VP8 payload descriptor) and one Opus packet.
    pub fn send(&mut self, stream: Stream, n: u64, mtu: usize) -> usize {
        let ts_v = (n * 3000) as u32;
        let frame = stream.video_frame(n);
        let chunk = mtu - 12 - 1;
        let parts: Vec<&[u8]> = frame.chunks(chunk).collect();
        let mut sent = 0;
        for (i, part) in parts.iter().enumerate() {
            let mut p = Self::header(Self::VIDEO_PT, i + 1 == parts.len(), self.seq_v, ts_v, Self::VIDEO_SSRC);
            p.push(if i == 0 { 0x10 } else { 0x00 });
            p.extend_from_slice(part);
            self.seq_v = self.seq_v.wrapping_add(1);
            if self.socket.send_to(&p, self.video_to).is_ok() {
                sent += 1;
            }
        }
        let mut a = Self::header(Self::AUDIO_PT, false, self.seq_a, (n * 1600) as u32, Self::AUDIO_SSRC);
        a.extend_from_slice(&opus_frame());
        self.seq_a = self.seq_a.wrapping_add(1);
        let _ = self.socket.send_to(&a, self.audio_to);
        sent
    }
}
