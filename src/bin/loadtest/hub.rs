//! Hub fan-out: N WebSocket viewers in one room (source addresses spread over
//! 127.0.0.x so the client side never runs out of ports), a stock-band-sized
//! update published through `POST /api/v1/rooms/{room}/events` at 4/s.
//! Every viewer must receive every update, with no offset gap.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpSocket;
use tokio::sync::{Barrier, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use crate::api::Api;
use crate::report::{f1, f2, n, Samples, Table};
use crate::server::{Backend, CpuMark, Deps, Server};
use crate::now_us;

#[derive(Clone, Copy)]
pub struct Size {
    pub viewers: usize,
    pub updates: usize,
}

impl Size {
    pub fn small() -> Vec<Size> {
        vec![Size { viewers: 1_000, updates: 40 }]
    }

    /// 10k fits the default 20,000-descriptor limit; larger steps need `ulimit -n` raised.
    pub fn full() -> Vec<Size> {
        [10_000, 50_000, 100_000].into_iter().map(|viewers| Size { viewers, updates: 40 }).collect()
    }
}

const KIND: &str = "bench.stock";
const PER_SOURCE_ADDRESS: usize = 20_000;

/// What one viewer saw.
#[derive(Default)]
struct Seen {
    updates: usize,
    gaps: u64,
    latency: Samples,
    error: Option<String>,
}

pub struct Outcome {
    pub viewers: usize,
    pub connected: usize,
    pub expected: usize,
    pub delivered: usize,
    pub gaps: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub kib_per_connection: f64,
    pub server_cpu: f64,
    pub client_cpu: f64,
}

impl Outcome {
    /// No update lost: every viewer connected and got every update without a gap.
    pub fn lossless(&self) -> bool {
        self.connected == self.viewers && self.delivered == self.expected && self.gaps == 0
    }
}

async fn viewer(ws_url: String, addr: SocketAddr, index: usize, updates: usize, ready: Arc<Barrier>, gate: Arc<Semaphore>) -> Seen {
    let mut seen = Seen::default();
    let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (index / PER_SOURCE_ADDRESS) as u8));
    let connected = async {
        let _permit = gate.acquire().await?;
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        let stream = socket.connect(addr).await?;
        let (mut ws, _) = tokio_tungstenite::client_async(ws_url, stream).await?;
        ws.send(Message::Text(json!({"type": "subscribe", "id": 1, "channel": "room:show"}).to_string().into())).await?;
        // Until the subscription's ack: its offset is where this viewer starts.
        loop {
            let frame = next_json(&mut ws).await?;
            if frame["type"] == "ack" && frame["id"] == 1 {
                let offset = frame["result"]["offset"].as_u64().context("ack without offset")?;
                return anyhow::Ok((ws, offset));
            }
            if frame["type"] == "error" {
                bail!("subscribe refused: {frame}");
            }
        }
    }
    .await;
    let (mut ws, mut offset) = match connected {
        Ok(c) => c,
        Err(e) => {
            seen.error = Some(e.to_string());
            ready.wait().await;
            return seen;
        }
    };
    ready.wait().await;
    while seen.updates < updates {
        let frame = match tokio::time::timeout(Duration::from_secs(15), next_json(&mut ws)).await {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => {
                seen.error = Some(e.to_string());
                break;
            }
            Err(_) => {
                seen.error = Some("no update for 15 s".into());
                break;
            }
        };
        if frame["type"] != "pub" {
            continue;
        }
        // Ephemeral aggregates (presence, reactions) repeat the current offset.
        if frame["ephemeral"] == true {
            continue;
        }
        if let Some(o) = frame["offset"].as_u64() {
            if o != offset + 1 {
                seen.gaps += o.saturating_sub(offset + 1).max(1);
            }
            offset = o;
        }
        if frame["event"]["kind"] == KIND {
            if let Some(sent) = frame["event"]["data"]["t_us"].as_u64() {
                seen.latency.push(now_us().saturating_sub(sent));
            }
            seen.updates += 1;
        }
    }
    let _ = ws.close(None).await;
    seen
}

async fn next_json<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> anyhow::Result<Value>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match ws.next().await.context("connection closed")?? {
            Message::Text(text) => return Ok(serde_json::from_str(text.as_str())?),
            Message::Close(frame) => bail!("closed by the server: {frame:?}"),
            _ => continue,
        }
    }
}

pub async fn measure(deps: &Deps, size: Size, backend: Backend) -> anyhow::Result<Outcome> {
    let server = Server::start(backend, deps).await?;
    let api = Api::new(&server.url);
    let shop = api.shop().await?;
    let (_, variant) = api.product(&shop, "PIN", 2500, 50).await?;
    let addr: SocketAddr = server.url.trim_start_matches("http://").parse()?;
    let ws_url = format!("ws://{addr}/ws");
    // One warm connection first, so the per-connection figure excludes one-off allocations.
    let (mut warm, _) = tokio_tungstenite::connect_async(&ws_url).await?;
    warm.send(Message::Text(json!({"type": "subscribe", "id": 1, "channel": "room:show"}).to_string().into())).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = server.rss_kib();

    let ready = Arc::new(Barrier::new(size.viewers + 1));
    let gate = Arc::new(Semaphore::new(256));
    let tasks: Vec<_> = (0..size.viewers)
        .map(|i| tokio::spawn(viewer(ws_url.clone(), addr, i, size.updates, ready.clone(), gate.clone())))
        .collect();
    ready.wait().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = server.rss_kib();

    let (server_cpu, client_cpu) = (server.cpu(), CpuMark::me());
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    for seq in 0..size.updates {
        ticker.tick().await;
        let data = json!({"t_us": now_us(), "seq": seq, "bands": [{"variant_id": variant, "stock": {"band": "low", "left": 50 - (seq % 50)}}]});
        api.post(Some(&shop.seller), "/api/v1/rooms/show/events", json!({"kind": KIND, "data": data}), 202).await?;
    }
    let mut outcome = Outcome {
        viewers: size.viewers,
        connected: 0,
        expected: size.viewers * size.updates,
        delivered: 0,
        gaps: 0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        max_ms: 0.0,
        kib_per_connection: rss_after.saturating_sub(rss_before) as f64 / size.viewers as f64,
        server_cpu: 0.0,
        client_cpu: 0.0,
    };
    let mut latency = Samples::default();
    let mut errors = Vec::new();
    for t in tasks {
        let seen = t.await?;
        if seen.error.is_none() || seen.updates > 0 {
            outcome.connected += 1;
        }
        if let Some(e) = seen.error {
            errors.push(e);
        }
        outcome.delivered += seen.updates;
        outcome.gaps += seen.gaps;
        latency.extend(seen.latency);
    }
    outcome.server_cpu = server_cpu.percent_since();
    outcome.client_cpu = client_cpu.percent_since();
    if !errors.is_empty() {
        eprintln!("hub: {} viewers ended early; first: {}", errors.len(), errors[0]);
    }
    outcome.p50_ms = latency.ms(0.5);
    outcome.p99_ms = latency.ms(0.99);
    outcome.max_ms = latency.max_ms();
    drop(warm);
    server.stop().await;
    Ok(outcome)
}

/// `Backend::Sqlite` runs the in-process broker; `Backend::PostgresRedis` the Redis
/// broker (every event through Redis and back through the node's subscription).
pub async fn run(deps: &Deps, sizes: Vec<Size>, backend: Backend) -> anyhow::Result<bool> {
    let updates = sizes.first().map(|s| s.updates).unwrap_or(0);
    let broker = match backend {
        Backend::PostgresRedis => "PostgreSQL, Redis broker",
        _ => "SQLite, in-process broker",
    };
    let mut table = Table::new(
        &format!("Hub fan-out: one room, a stock update published at 4/s ({updates} updates), {broker}"),
        &["viewers", "delivered (expected)", "gaps", "p50 (ms)", "p99 (ms)", "max (ms)", "server KiB/conn", "server CPU % (1 core = 100)", "client CPU %"],
    );
    let mut lossless = true;
    for size in sizes {
        let o = match measure(deps, size, backend).await {
            Ok(o) => o,
            Err(e) => {
                println!("hub fan-out at {} viewers could not run: {e:#}", size.viewers);
                break;
            }
        };
        lossless &= o.lossless();
        table.row(vec![
            n(o.viewers as f64),
            format!("{} ({})", n(o.delivered as f64), n(o.expected as f64)),
            o.gaps.to_string(),
            f2(o.p50_ms),
            f2(o.p99_ms),
            f2(o.max_ms),
            f1(o.kib_per_connection),
            f1(o.server_cpu),
            f1(o.client_cpu),
        ]);
    }
    table.print();
    Ok(lossless)
}
