//! The same fan-out against Janus (Debian's `janus` 1.1.2): its own config
//! dir in a temp dir (HTTP transport on a free loopback port, only the
//! streaming plugin, one RTP mountpoint), fed the same synthetic frames as
//! plain RTP on loopback; the same str0m viewers, signalled through Janus's
//! HTTP API (create → attach → watch → Janus's offer → our answer → start).

use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::rtc::{Peer, PublisherStats, RtpFeed, ViewerStats};
use crate::sfu::{measure_step, stepped, Plan, Step};

const PLUGINS: &str = "/usr/lib/x86_64-linux-gnu/janus";

pub struct Janus {
    child: Child,
    pub pid: u32,
    url: String,
    pub video_port: u16,
    pub audio_port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Janus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_tcp_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn free_udp_port() -> anyhow::Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Why Janus cannot run here, if it cannot.
pub fn unavailable() -> Option<String> {
    match Command::new("janus").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(_) if std::path::Path::new(PLUGINS).join("plugins/libjanus_streaming.so").exists() => None,
        Ok(_) => Some(format!("janus is installed but {PLUGINS}/plugins/libjanus_streaming.so is missing")),
        Err(_) => Some("janus is not installed (apt-get install -y janus)".into()),
    }
}

impl Janus {
    pub async fn start() -> anyhow::Result<Janus> {
        let dir = tempfile::tempdir()?;
        let (http_port, video_port, audio_port) = (free_tcp_port()?, free_udp_port()?, free_udp_port()?);
        let d = dir.path().display();
        let disabled_plugins = ["audiobridge", "duktape", "echotest", "lua", "nosip", "recordplay", "sip", "textroom", "videocall", "videoroom", "voicemail"]
            .map(|p| format!("libjanus_{p}.so"))
            .join(",");
        let core = format!(
            "general: {{\n configs_folder = \"{d}\"\n plugins_folder = \"{PLUGINS}/plugins\"\n transports_folder = \"{PLUGINS}/transports\"\n \
             events_folder = \"{PLUGINS}/events\"\n loggers_folder = \"{PLUGINS}/loggers\"\n debug_level = 2\n session_timeout = 0\n}}\n\
             media: {{\n rtp_port_range = \"40000-59999\"\n}}\n\
             plugins: {{\n disable = \"{disabled_plugins}\"\n}}\n\
             transports: {{\n disable = \"libjanus_websockets.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so\"\n}}\n\
             events: {{\n broadcast = false\n disable = \"libjanus_gelfevh.so,libjanus_mqttevh.so,libjanus_nanomsgevh.so,libjanus_rabbitmqevh.so,libjanus_sampleevh.so,libjanus_wsevh.so\"\n}}\n\
             loggers: {{\n disable = \"libjanus_jsonlog.so\"\n}}\n"
        );
        std::fs::write(dir.path().join("janus.jcfg"), core)?;
        std::fs::write(
            dir.path().join("janus.transport.http.jcfg"),
            format!("general: {{\n json = \"compact\"\n base_path = \"/janus\"\n http = true\n port = {http_port}\n ip = \"127.0.0.1\"\n https = false\n}}\nadmin: {{\n admin_http = false\n}}\n"),
        )?;
        std::fs::write(
            dir.path().join("janus.plugin.streaming.jcfg"),
            format!(
                "general: {{\n}}\nbench: {{\n type = \"rtp\"\n id = 1\n description = \"bench\"\n media = (\n  {{ type = \"audio\" mid = \"a\" label = \"audio\" port = {audio_port} pt = {} codec = \"opus\" }},\n  {{ type = \"video\" mid = \"v\" label = \"video\" port = {video_port} pt = {} codec = \"vp8\" }}\n )\n}}\n",
                RtpFeed::AUDIO_PT,
                RtpFeed::VIDEO_PT
            ),
        )?;
        let child = Command::new("janus")
            .arg("-F")
            .arg(dir.path())
            .arg("-C")
            .arg(dir.path().join("janus.jcfg"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting janus")?;
        let janus = Janus { pid: child.id(), child, url: format!("http://127.0.0.1:{http_port}/janus"), video_port, audio_port, _dir: dir };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if http.get(format!("{}/info", janus.url)).send().await.is_ok_and(|r| r.status() == 200) {
                return Ok(janus);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("janus did not answer on its HTTP API within 20 s")
    }

    async fn call(&self, http: &reqwest::Client, path: &str, body: Value) -> anyhow::Result<Value> {
        let v: Value = http.post(format!("{}{path}", self.url)).json(&body).send().await?.json().await?;
        if v["janus"] == "error" {
            bail!("janus: {v}");
        }
        Ok(v)
    }

    /// One viewer: a session and a streaming handle watching mountpoint 1, answered by str0m.
    pub async fn viewer(&self, http: &reqwest::Client) -> anyhow::Result<Peer> {
        let session = self.call(http, "", json!({"janus": "create", "transaction": "c"})).await?["data"]["id"].as_u64().context("session id")?;
        let handle = self
            .call(http, &format!("/{session}"), json!({"janus": "attach", "plugin": "janus.plugin.streaming", "transaction": "a"}))
            .await?["data"]["id"]
            .as_u64()
            .context("handle id")?;
        self.call(http, &format!("/{session}/{handle}"), json!({"janus": "message", "transaction": "w", "body": {"request": "watch", "id": 1}})).await?;
        let offer = loop {
            let events: Value = http.get(format!("{}/{session}?maxev=1", self.url)).send().await?.json().await?;
            let event = if events.is_array() { events[0].clone() } else { events };
            if let Some(sdp) = event["jsep"]["sdp"].as_str() {
                break sdp.to_string();
            }
            if event["janus"] == "error" || event["plugindata"]["data"]["error"].is_string() {
                bail!("janus refused watch: {event}");
            }
        };
        let (peer, answer) = Peer::answer(&offer, candidate_ip(&offer)?).await?;
        self.call(
            http,
            &format!("/{session}/{handle}"),
            json!({"janus": "message", "transaction": "s", "body": {"request": "start"}, "jsep": {"type": "answer", "sdp": answer}}),
        )
        .await?;
        Ok(peer)
    }
}

/// Janus does not gather loopback candidates: viewers bind to the IPv4 address it offers.
fn candidate_ip(sdp: &str) -> anyhow::Result<IpAddr> {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=candidate:"))
        .filter_map(|c| c.split_whitespace().nth(4)?.parse::<IpAddr>().ok())
        .find(IpAddr::is_ipv4)
        .context("no IPv4 candidate in Janus's offer")
}

/// Feeds the mountpoint at 30 fps on a thread of its own until `stop`.
fn feed(janus: &Janus, plan: &Plan, stats: Arc<PublisherStats>, stop: Arc<AtomicBool>) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let mut rtp = RtpFeed::new(SocketAddr::from(([127, 0, 0, 1], janus.video_port)), SocketAddr::from(([127, 0, 0, 1], janus.audio_port)))?;
    let stream = plan.stream;
    Ok(std::thread::spawn(move || {
        let start = Instant::now();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            rtp.send(stream, n, 1200);
            stats.video_frames.fetch_add(1, Ordering::Relaxed);
            let next = start + Duration::from_micros(33_333 * n);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    }))
}

pub async fn janus_step(viewers: usize, plan: &Plan) -> anyhow::Result<Step> {
    let janus = Janus::start().await?;
    let published = Arc::new(PublisherStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = feed(&janus, plan, published.clone(), stop.clone())?;
    let http = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs(600);
    let peers: Vec<anyhow::Result<Peer>> = futures::stream::iter(0..viewers).map(|_| janus.viewer(&http)).buffer_unordered(8).collect().await;
    let mut tasks = Vec::new();
    let mut stats = Vec::with_capacity(viewers);
    for peer in peers {
        let s = Arc::new(ViewerStats::default());
        tasks.push(tokio::spawn(peer?.view(s.clone(), until)));
        stats.push(s);
    }
    let step = measure_step(janus.pid, &stats, &published, plan).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.abort();
    }
    let _ = feeder.join();
    drop(janus);
    Ok(step)
}

pub async fn run(plan: &Plan) -> anyhow::Result<Option<Vec<Step>>> {
    if let Some(why) = unavailable() {
        println!("\nJanus SKIPPED: {why}");
        return Ok(None);
    }
    let title = format!(
        "SFU fan-out (Janus 1.1.2 streaming plugin, plain RTP in): {} kbps video at 30 fps in 1200-byte RTP + Opus, {} s windows after {} s warm-up",
        plan.stream.video_kbps,
        plan.measure.as_secs(),
        plan.warmup.as_secs()
    );
    let steps = stepped("janus", &title, plan, |viewers| janus_step(viewers, plan)).await?;
    Ok(Some(steps))
}
