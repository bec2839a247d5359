//! Overload: what the API's admission limit (`streamcart.admission`) does for the
//! requests it admits. Clients loop on a catalog search (`GET /api/v1/search`, a
//! read on the store) for a fixed time; each step counts the answers, the ones shed
//! with `503 overloaded` (and whether they carried `Retry-After`), and the latency
//! of the admitted (200) ones. Steps: under capacity, then many times over it with
//! the limit, then the same load with the limit raised out of the way (requests
//! queue in the server instead of being shed). A shed client waits as `Retry-After`
//! says (at most 2 s) before it tries again, as a well-behaved client would.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::Api;
use crate::report::{f1, n, Samples, Table};
use crate::server::{Backend, Deps, Server};

/// The limit under test: this many requests run at once, this many more may wait.
const IN_FLIGHT: usize = 16;
const QUEUED: usize = 16;

pub struct Plan {
    pub seconds: u64,
    pub over: usize,
}

struct Step {
    label: &'static str,
    clients: usize,
    ok: u64,
    shed: u64,
    shed_with_retry_after: u64,
    other: u64,
    admitted: Samples,
    elapsed: Duration,
}

pub async fn run(deps: &Deps, plan: &Plan) -> anyhow::Result<bool> {
    let limited = format!("  admission:\n    max_in_flight: {IN_FLIGHT}\n    max_queued: {QUEUED}\n    queue_timeout_ms: 1000\n");
    let unlimited = "  admission:\n    max_in_flight: 100000\n    max_queued: 100000\n".to_string();
    let steps = [("limit 16 + 16 queued", IN_FLIGHT / 2, &limited), ("limit 16 + 16 queued", plan.over, &limited), ("no effective limit", plan.over, &unlimited)];
    let mut table = Table::new(
        &format!("Overload: clients looping on GET /api/v1/search for {} s each, SQLite", plan.seconds),
        &["admission", "clients", "admitted/s", "shed (503)", "shed with Retry-After", "other", "admitted p50 (ms)", "admitted p99 (ms)", "admitted max (ms)"],
    );
    for (label, clients, config) in steps {
        let mut step = measure(deps, label, clients, config, Duration::from_secs(plan.seconds)).await?;
        table.row(vec![
            step.label.to_string(),
            n(step.clients as f64),
            n(step.ok as f64 / step.elapsed.as_secs_f64()),
            n(step.shed as f64),
            n(step.shed_with_retry_after as f64),
            n(step.other as f64),
            f1(step.admitted.ms(0.50)),
            f1(step.admitted.ms(0.99)),
            f1(step.admitted.max_ms()),
        ]);
    }
    table.print();
    Ok(true)
}

async fn measure(deps: &Deps, label: &'static str, clients: usize, config: &str, length: Duration) -> anyhow::Result<Step> {
    let server = Server::start_with(Backend::Sqlite, deps, config).await?;
    let api = Api::new(&server.url);
    let shop = api.shop().await?;
    api.product(&shop, "LAMP", 2500, 10).await?;
    let url = api.url("/api/v1/search?q=lamp");
    let (ok, shed, with_retry, other) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = Instant::now();
    let until = start + length;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, url) = (api.http.clone(), url.clone());
            let (ok, shed, with_retry, other) = (ok.clone(), shed.clone(), with_retry.clone(), other.clone());
            tokio::spawn(async move {
                let mut admitted = Samples::default();
                while Instant::now() < until {
                    let sent = Instant::now();
                    match http.get(&url).send().await {
                        Ok(res) if res.status() == 200 => {
                            let _ = res.bytes().await;
                            admitted.push(sent.elapsed().as_micros() as u64);
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(res) if res.status() == 503 => {
                            let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                            if retry_after.is_some() {
                                with_retry.fetch_add(1, Ordering::Relaxed);
                            }
                            shed.fetch_add(1, Ordering::Relaxed);
                            // A well-behaved client waits as told (at most 2 s here) before retrying.
                            tokio::time::sleep(Duration::from_secs(retry_after.unwrap_or(1).min(2))).await;
                        }
                        _ => {
                            other.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                admitted
            })
        })
        .collect();
    let mut admitted = Samples::default();
    for task in tasks {
        admitted.extend(task.await?);
    }
    let elapsed = start.elapsed();
    drop(server);
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    Ok(Step { label, clients, ok: load(&ok), shed: load(&shed), shed_with_retry_after: load(&with_retry), other: load(&other), admitted, elapsed })
}
