//! SFU fan-out: one synthetic publisher (WHIP) and N str0m viewers (WHEP)
//! over real ICE/DTLS/SRTP through the server's one UDP port, N stepped until
//! a viewer loses more than 1 % of the video frames or the server's CPU
//! saturates. The measuring half (`measure_step`) is shared with the Janus run.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;

use crate::api::Api;
use crate::report::{f1, f2, n, Samples, Table};
use crate::rtc::{Peer, PublisherStats, Stream, ViewerStats, RECORDING};
use crate::server::{rss_kib, Backend, CpuMark, Deps, Server};

#[derive(Clone)]
pub struct Plan {
    pub steps: Vec<usize>,
    pub stream: Stream,
    pub warmup: Duration,
    pub measure: Duration,
    /// The server's `streamcart.sfu.egress_shards`; `None`: its default (cores − 1).
    pub egress_shards: Option<usize>,
}

impl Plan {
    pub fn small() -> Plan {
        Plan { steps: vec![10, 50, 100, 200], stream: Stream { video_kbps: 2500 }, warmup: Duration::from_secs(3), measure: Duration::from_secs(8), egress_shards: None }
    }

    pub fn full() -> Plan {
        Plan { steps: vec![10, 100, 500, 1000, 2000, 4000], stream: Stream { video_kbps: 2500 }, warmup: Duration::from_secs(5), measure: Duration::from_secs(20), egress_shards: None }
    }
}

/// One step's figures.
pub struct Step {
    pub viewers: usize,
    pub connected: usize,
    pub server_cpu: f64,
    pub rss_mib: f64,
    pub datagrams_per_sec: f64,
    pub loss_avg: f64,
    pub loss_worst: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub client_cpu: f64,
    /// Server instructions over the window, when it ran under callgrind.
    pub instructions: Option<u64>,
    /// Datagrams the viewers received over the window.
    pub datagrams: u64,
}

impl Step {
    pub fn ok(&self) -> bool {
        self.connected == self.viewers && self.loss_worst <= 1.0
    }

    pub fn saturated(&self) -> bool {
        self.server_cpu >= 90.0 * cores() as f64
    }

    /// Viewers per fully used core at this step.
    pub fn viewers_per_core(&self) -> f64 {
        self.viewers as f64 / (self.server_cpu / 100.0).max(1e-3)
    }

    /// Server CPU per viewer, in % of one core.
    pub fn cpu_per_viewer(&self) -> f64 {
        self.server_cpu / self.viewers as f64
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Waits for the viewers to connect, warms up, then measures one window.
pub async fn measure_step(pid: u32, viewers: &[Arc<ViewerStats>], published: &PublisherStats, plan: &Plan) -> Step {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && viewers.iter().any(|v| v.connected.load(Ordering::Relaxed) == 0) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(plan.warmup).await;
    let frames0: Vec<u64> = viewers.iter().map(|v| v.video_frames.load(Ordering::Relaxed)).collect();
    let datagrams0: u64 = viewers.iter().map(|v| v.datagrams.load(Ordering::Relaxed)).sum();
    let sent0 = published.video_frames.load(Ordering::Relaxed);
    let callgrind = crate::callgrind::enabled() && crate::callgrind::start(pid).map_err(|e| eprintln!("callgrind: {e:#}")).is_ok();
    let (server_cpu, client_cpu, t0) = (CpuMark::of(pid), CpuMark::me(), Instant::now());
    RECORDING.store(true, Ordering::Relaxed);
    tokio::time::sleep(plan.measure).await;
    RECORDING.store(false, Ordering::Relaxed);
    let instructions = if callgrind { crate::callgrind::stop(pid).map_err(|e| eprintln!("callgrind: {e:#}")).ok() } else { None };
    let secs = t0.elapsed().as_secs_f64();
    let sent = published.video_frames.load(Ordering::Relaxed) - sent0;
    let datagrams: u64 = viewers.iter().map(|v| v.datagrams.load(Ordering::Relaxed)).sum::<u64>() - datagrams0;
    let losses: Vec<f64> = viewers
        .iter()
        .zip(frames0)
        .map(|(v, f0)| {
            let got = v.video_frames.load(Ordering::Relaxed) - f0;
            100.0 * sent.saturating_sub(got) as f64 / sent.max(1) as f64
        })
        .collect();
    let mut delays = Samples::default();
    for v in viewers {
        if let Ok(mut d) = v.delays.lock() {
            delays.extend(std::mem::take(&mut *d));
        }
    }
    Step {
        viewers: viewers.len(),
        connected: viewers.iter().filter(|v| v.connected.load(Ordering::Relaxed) == 1).count(),
        server_cpu: server_cpu.percent_since(),
        rss_mib: rss_kib(pid) as f64 / 1024.0,
        datagrams_per_sec: datagrams as f64 / secs,
        loss_avg: losses.iter().sum::<f64>() / losses.len().max(1) as f64,
        loss_worst: losses.iter().cloned().fold(0.0, f64::max),
        p50_ms: delays.ms(0.5),
        p99_ms: delays.ms(0.99),
        client_cpu: client_cpu.percent_since(),
        instructions,
        datagrams,
    }
}

/// One step against a fresh streamcart: publisher, `viewers` WHEP viewers, one window.
pub async fn streamcart_step(deps: &Deps, viewers: usize, plan: &Plan) -> anyhow::Result<Step> {
    let sfu_config = plan.egress_shards.map(|n| format!("    egress_shards: {n}\n")).unwrap_or_default();
    let server = Server::start_with(Backend::Sqlite, deps, &sfu_config).await?;
    let api = Api::new(&server.url);
    let shop = api.shop().await?;
    let until = Instant::now() + Duration::from_secs(600);
    let published = Arc::new(PublisherStats::default());
    let publisher = Peer::offer_to(&api.http, &api.url(&format!("/whip/{}", shop.room)), Some(&shop.seller), true).await.context("WHIP publish")?;
    let mut tasks = vec![tokio::spawn(publisher.publish(plan.stream, published.clone(), until))];
    let deadline = Instant::now() + Duration::from_secs(10);
    while published.connected.load(Ordering::Relaxed) == 0 {
        if Instant::now() > deadline {
            bail!("the publisher did not connect within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let whep = api.url(&format!("/whep/{}", shop.room));
    let peers: Vec<anyhow::Result<Peer>> = futures::stream::iter(0..viewers).map(|_| Peer::offer_to(&api.http, &whep, None, false)).buffer_unordered(8).collect().await;
    let mut stats = Vec::with_capacity(viewers);
    for peer in peers {
        let s = Arc::new(ViewerStats::default());
        tasks.push(tokio::spawn(peer.context("WHEP view")?.view(s.clone(), until)));
        stats.push(s);
    }
    let step = measure_step(server.pid, &stats, &published, plan).await;
    for t in tasks {
        t.abort();
    }
    server.stop().await;
    Ok(step)
}

pub fn table(title: &str) -> Table {
    Table::new(
        title,
        &["viewers", "connected", "server CPU % (1 core = 100)", "server RSS (MiB)", "datagrams/s to viewers", "frame loss avg %", "worst viewer %", "delay p50 (ms)", "delay p99 (ms)", "client CPU %"],
    )
}

pub fn row(table: &mut Table, s: &Step) {
    table.row(vec![
        n(s.viewers as f64),
        n(s.connected as f64),
        f1(s.server_cpu),
        f1(s.rss_mib),
        n(s.datagrams_per_sec),
        f2(s.loss_avg),
        f2(s.loss_worst),
        f1(s.p50_ms),
        f1(s.p99_ms),
        f1(s.client_cpu),
    ]);
}

/// The best step at < 1 % loss: (viewers per core, CPU per viewer).
pub fn best(steps: &[Step]) -> Option<&Step> {
    steps.iter().filter(|s| s.ok()).max_by_key(|s| s.viewers)
}

/// Runs the steps until loss or saturation; prints the table and returns the steps.
pub async fn run(deps: &Deps, plan: &Plan) -> anyhow::Result<Vec<Step>> {
    let title = format!(
        "SFU fan-out (streamcart): {} kbps VP8-shaped video at 30 fps + Opus, {} s windows after {} s warm-up",
        plan.stream.video_kbps,
        plan.measure.as_secs(),
        plan.warmup.as_secs()
    );
    stepped("streamcart", &title, plan, |viewers| streamcart_step(deps, viewers, plan)).await
}

/// Steps through `plan.steps` with `step` until a step loses more than 1 % or saturates.
pub async fn stepped<F, Fut>(name: &str, title: &str, plan: &Plan, mut step: F) -> anyhow::Result<Vec<Step>>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Step>>,
{
    let mut t = table(title);
    let mut steps = Vec::new();
    for &viewers in &plan.steps {
        let s = step(viewers).await?;
        row(&mut t, &s);
        let stop = !s.ok() || s.saturated();
        steps.push(s);
        if stop {
            break;
        }
    }
    t.print();
    for s in steps.iter().filter(|s| s.instructions.is_some()) {
        let ir = s.instructions.unwrap_or(0);
        println!(
            "{name} under callgrind, {} viewers, {} s: {ir} server instructions in the window, {} datagrams delivered; {:.0} instructions per delivered datagram, {:.2} M per viewer-second",
            s.viewers,
            plan.measure.as_secs(),
            s.datagrams,
            ir as f64 / s.datagrams.max(1) as f64,
            ir as f64 / 1e6 / (s.viewers as f64 * plan.measure.as_secs_f64()).max(1e-9)
        );
    }
    summary(name, &steps);
    Ok(steps)
}

pub fn summary(name: &str, steps: &[Step]) {
    match best(steps) {
        Some(s) => println!(
            "{name}: largest step at < 1 % loss: {} viewers, {:.0} viewers per core of server CPU, {:.3} % of a core per viewer",
            s.viewers,
            s.viewers_per_core(),
            s.cpu_per_viewer()
        ),
        None => println!("{name}: no step stayed under 1 % loss"),
    }
}
