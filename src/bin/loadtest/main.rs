//! `loadtest`: streamcart's benchmarks (docs/BENCHMARKS.md). Each scenario
//! starts the real `streamcart` binary (the one next to this binary, or
//! `$STREAMCART_BIN`) as a child process on loopback with a temp data dir,
//! drives it through its public HTTP, WebSocket and WebRTC interfaces and
//! prints a Markdown table. Figures are never pass/fail; the exit status is
//! non-zero only when a correctness invariant breaks (a flash sale oversold
//! or lost an acknowledgement, the hub lost an update, checkouts failed).
//!
//! `scripts/bench` builds in release and runs `loadtest all`.

mod api;
mod callgrind;
mod checkout;
mod flash_sale;
mod glass;
mod hub;
mod janus;
mod report;
mod rtc;
mod overload;
mod server;
mod sfu;

use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Instant;

use clap::{Parser, Subcommand};

use server::{Backend, Deps};

/// Microseconds since this process's first call: the clock every embedded
/// timestamp uses (publisher and receiver are both in this process).
pub fn now_us() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

#[derive(Parser)]
#[command(about = "streamcart benchmarks against the real binary on loopback")]
struct Cli {
    /// Bigger steps (10k buyers, 10k+ hub viewers, SFU up to 4,000 viewers).
    #[arg(long, global = true)]
    full: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Buyers racing for a few flash-sale units (cap 1) on every back-end.
    FlashSale {
        #[arg(long)]
        buyers: Option<usize>,
        #[arg(long)]
        units: Option<i64>,
        /// Only SQLite (no PostgreSQL / Redis runs).
        #[arg(long)]
        sqlite_only: bool,
    },
    /// Paid checkouts of carts with several SKUs, per back-end.
    Checkout {
        #[arg(long)]
        buyers: Option<usize>,
    },
    /// WebSocket viewers in one room, a stock update at 4/s.
    Hub {
        #[arg(long)]
        viewers: Option<usize>,
        /// Updates to publish (at 4/s).
        #[arg(long)]
        updates: Option<usize>,
        /// Through the Redis broker (PostgreSQL store) instead of the in-process one.
        #[arg(long)]
        redis: bool,
    },
    /// WHEP viewers of one synthetic publisher, stepped.
    Sfu {
        /// Comma-separated viewer counts (overrides the plan).
        #[arg(long, value_delimiter = ',')]
        steps: Option<Vec<usize>>,
        /// Video bitrate of the synthetic stream (kbit/s).
        #[arg(long)]
        kbps: Option<u64>,
        /// Length of each step's measured window (seconds).
        #[arg(long)]
        seconds: Option<u64>,
        /// Run the server under `valgrind --tool=callgrind`, counting only the
        /// measured window, and print its instructions per delivered datagram
        /// (dumps go to this directory).
        #[arg(long)]
        callgrind: Option<std::path::PathBuf>,
        /// The server's egress shards (`streamcart.sfu.egress_shards`; default: cores − 1).
        #[arg(long)]
        egress_shards: Option<usize>,
    },
    /// The same fan-out against Janus's streaming plugin, and the ratio.
    Janus {
        #[arg(long, value_delimiter = ',')]
        steps: Option<Vec<usize>>,
    },
    /// The API's admission limit under many times its capacity: shed requests and admitted latency.
    Overload {
        /// Clients in the overloaded steps.
        #[arg(long, default_value_t = 256)]
        clients: usize,
        /// Length of each step (seconds).
        #[arg(long, default_value_t = 8)]
        seconds: u64,
    },
    /// WHIP publish → WHEP receive delay on loopback.
    Glass {
        #[arg(long, default_value_t = 15)]
        seconds: u64,
    },
    /// Every scenario in turn (SFU and Janus side by side).
    All,
    /// Correctness only (for scripts/test): flash sale and hub at a small size; exit 1 on oversold, lost acks or lost hub updates.
    Check {
        #[arg(long, default_value_t = 150)]
        buyers: usize,
        #[arg(long, default_value_t = 300)]
        viewers: usize,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    now_us();
    match run(cli).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("loadtest: a correctness invariant broke (see the tables above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn header(full: bool) {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|m| m.trim().to_string()))
        .unwrap_or_default();
    println!(
        "loadtest ({} size) on {} cores ({model}), load average {}, streamcart binary {}",
        if full { "full" } else { "small" },
        sfu::cores(),
        server::load_average(),
        server::server_binary().map(|p| p.display().to_string()).unwrap_or_else(|e| e.to_string())
    );
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    let deps = Deps::from_env();
    let full = cli.full;
    header(full);
    let flash = if full { flash_sale::Size::full() } else { flash_sale::Size::small() };
    let shop = if full { checkout::Size::full() } else { checkout::Size::small() };
    let hub_sizes = if full { hub::Size::full() } else { hub::Size::small() };
    let plan = if full { sfu::Plan::full() } else { sfu::Plan::small() };
    match cli.scenario {
        Scenario::FlashSale { buyers, units, sqlite_only } => {
            let size = flash_sale::Size { buyers: buyers.unwrap_or(flash.buyers), units: units.unwrap_or(flash.units), ..flash };
            let deps = if sqlite_only { Deps { postgres: None, redis: None } } else { deps };
            flash_sale::run(&deps, size).await
        }
        Scenario::Checkout { buyers } => checkout::run(&deps, checkout::Size { buyers: buyers.unwrap_or(shop.buyers), ..shop }).await,
        Scenario::Hub { viewers, updates, redis } => {
            let sizes = match viewers {
                Some(v) => vec![hub::Size { viewers: v, updates: updates.unwrap_or(40) }],
                None => hub_sizes.into_iter().map(|s| hub::Size { updates: updates.unwrap_or(s.updates), ..s }).collect(),
            };
            hub::run(&deps, sizes, if redis { Backend::PostgresRedis } else { Backend::Sqlite }).await
        }
        Scenario::Sfu { steps, kbps, seconds, callgrind, egress_shards } => {
            if let Some(dir) = callgrind {
                callgrind::enable(dir)?;
            }
            let stream = rtc::Stream { video_kbps: kbps.unwrap_or(plan.stream.video_kbps) };
            let measure = seconds.map(std::time::Duration::from_secs).unwrap_or(plan.measure);
            let plan = sfu::Plan { steps: steps.unwrap_or(plan.steps.clone()), stream, measure, egress_shards, ..plan };
            sfu::run(&deps, &plan).await?;
            Ok(true)
        }
        Scenario::Janus { steps } => {
            let plan = sfu::Plan { steps: steps.unwrap_or(plan.steps.clone()), ..plan };
            let ours = sfu::run(&deps, &plan).await?;
            if let Some(theirs) = janus::run(&plan).await? {
                ratio(&ours, &theirs);
            }
            Ok(true)
        }
        Scenario::Overload { clients, seconds } => overload::run(&deps, &overload::Plan { seconds, over: clients }).await,
        Scenario::Glass { seconds } => {
            glass::run(&deps, seconds).await?;
            Ok(true)
        }
        Scenario::All => {
            let mut ok = flash_sale::run(&deps, flash).await?;
            ok &= checkout::run(&deps, shop).await?;
            ok &= hub::run(&deps, hub_sizes, Backend::Sqlite).await?;
            let ours = sfu::run(&deps, &plan).await?;
            match janus::run(&plan).await {
                Ok(Some(theirs)) => ratio(&ours, &theirs),
                Ok(None) => {}
                Err(e) => println!("\nJanus run failed: {e:#}"),
            }
            glass::run(&deps, if full { 60 } else { 15 }).await?;
            ok &= overload::run(&deps, &overload::Plan { seconds: 8, over: 256 }).await?;
            Ok(ok)
        }
        Scenario::Check { buyers, viewers } => {
            let mut ok = flash_sale::run(&deps, flash_sale::Size { buyers, units: 20, concurrency: 64 }).await?;
            ok &= hub::run(&deps, vec![hub::Size { viewers, updates: 12 }], Backend::Sqlite).await?;
            println!("\ncorrectness: {}", if ok { "no oversell, no lost acknowledgement, no lost hub update" } else { "BROKEN" });
            Ok(ok)
        }
    }
}

/// streamcart / Janus at the best step each kept under 1 % loss.
fn ratio(ours: &[sfu::Step], theirs: &[sfu::Step]) {
    match (sfu::best(ours), sfu::best(theirs)) {
        (Some(o), Some(t)) => println!(
            "\nstreamcart / Janus: viewers per core at < 1 % loss {:.0} / {:.0} = {:.2}x; CPU per viewer {:.3} % / {:.3} % = {:.2}x (lower is better); largest clean step {} / {}",
            o.viewers_per_core(),
            t.viewers_per_core(),
            o.viewers_per_core() / t.viewers_per_core(),
            o.cpu_per_viewer(),
            t.cpu_per_viewer(),
            o.cpu_per_viewer() / t.cpu_per_viewer(),
            o.viewers,
            t.viewers
        ),
        _ => println!("\nstreamcart / Janus: no ratio (a side had no step under 1 % loss)"),
    }
}
