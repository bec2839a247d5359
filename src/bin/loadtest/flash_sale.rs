//! Flash-sale contention: many buyers race for a few units (cap 1 each)
//! through the real `POST /api/v1/rooms/{room}/sales/{id}/reserve`, on every
//! back-end. Every answer is classified; the store's own count afterwards
//! must equal the acknowledgements (no lost acks) and never exceed the sale
//! quantity (no oversell).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use serde_json::json;

use crate::api::Api;
use crate::report::{f1, f2, n, Samples, Table};
use crate::server::{Backend, Deps, Server};

#[derive(Clone, Copy)]
pub struct Size {
    pub buyers: usize,
    pub units: i64,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl Size {
    pub fn small() -> Size {
        Size { buyers: 1_000, units: 50, concurrency: 256 }
    }

    pub fn full() -> Size {
        Size { buyers: 10_000, units: 100, concurrency: 512 }
    }
}

/// What one race produced; `oversold` and `lost` must be 0.
pub struct Outcome {
    pub backend: Backend,
    pub answers_per_sec: f64,
    pub acked: i64,
    pub refused: usize,
    pub sold_out_after_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub oversold: i64,
    pub lost: i64,
}

impl Outcome {
    pub fn correct(&self) -> bool {
        self.oversold == 0 && self.lost == 0
    }
}

enum Answer {
    Acked,
    Refused,
    /// No definitive answer: transport error, 5xx, anything unexpected.
    Lost(String),
}

pub async fn race(backend: Backend, deps: &Deps, size: Size) -> anyhow::Result<Outcome> {
    let server = Server::start(backend, deps).await?;
    let api = Api::new(&server.url);
    let shop = api.shop().await?;
    let (_, variant) = api.product(&shop, "DROP", 2000, size.units * 10).await?;
    let buyers = api.register_many("buyer", size.buyers).await?;
    let sale = api
        .post(
            Some(&shop.seller),
            "/api/v1/rooms/show/sales",
            json!({"variant_id": variant, "sale_price": 990, "total_quantity": size.units, "per_buyer_cap": 1, "duration_secs": 600}),
            201,
        )
        .await?;
    let sale_id = sale["id"].as_str().context("sale id")?.to_string();
    wait_until_live(&api, &sale_id).await?;

    let path = api.url(&format!("/api/v1/rooms/{}/sales/{sale_id}/reserve", shop.room));
    let started = Instant::now();
    let answers: Vec<(Answer, u64, Instant)> = futures::stream::iter(buyers.iter())
        .map(|token| {
            let (http, path) = (api.http.clone(), path.clone());
            async move {
                let t0 = Instant::now();
                let answer = match http.post(&path).bearer_auth(token).json(&json!({"quantity": 1})).send().await {
                    Ok(res) if res.status() == 201 => Answer::Acked,
                    Ok(res) if res.status() == 409 => Answer::Refused,
                    Ok(res) => Answer::Lost(format!("{} {}", res.status(), res.text().await.unwrap_or_default())),
                    Err(e) => Answer::Lost(e.to_string()),
                };
                (answer, t0.elapsed().as_micros() as u64, Instant::now())
            }
        })
        .buffer_unordered(size.concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();

    let mut latency = Samples::default();
    let (mut acked, mut refused, mut lost) = (0i64, 0usize, 0i64);
    let mut last_ack = started;
    for (answer, us, at) in &answers {
        latency.push(*us);
        match answer {
            Answer::Acked => {
                acked += 1;
                last_ack = last_ack.max(*at);
            }
            Answer::Refused => refused += 1,
            Answer::Lost(why) => {
                if lost < 3 {
                    eprintln!("flash-sale [{}]: no answer: {why}", backend.label());
                }
                lost += 1;
            }
        }
    }
    // The store's view afterwards: the sale's count and the variant's holds.
    let sales = api.get(None, "/api/v1/rooms/show/sales").await?;
    let sold = sales.as_array().and_then(|a| a.iter().find(|s| s["id"] == sale_id.as_str())).and_then(|s| s["sold"].as_i64()).context("sale in list")?;
    let reserved = api.stock(&shop, &variant).await?["reserved"].as_i64().context("reserved")?;
    let oversold = (sold - size.units).max(0) + (acked - size.units).max(0) + (reserved - size.units).max(0);
    // A unit the store holds that nobody was told about, or an ack the store forgot.
    lost += (sold - acked).abs() + (reserved - acked).abs();
    server.stop().await;
    Ok(Outcome {
        backend,
        answers_per_sec: answers.len() as f64 / elapsed.as_secs_f64(),
        acked,
        refused,
        sold_out_after_ms: last_ack.duration_since(started).as_secs_f64() * 1000.0,
        p50_ms: latency.ms(0.5),
        p99_ms: latency.ms(0.99),
        oversold,
        lost,
    })
}

async fn wait_until_live(api: &Api, sale_id: &str) -> anyhow::Result<()> {
    for _ in 0..100 {
        let sales = api.get(None, "/api/v1/rooms/show/sales").await?;
        if sales.as_array().is_some_and(|a| a.iter().any(|s| s["id"] == sale_id && s["phase"] == "live")) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the sale did not go live within 5 s")
}

/// Runs the race on every available back-end and prints one table; errors if any run was incorrect.
pub async fn run(deps: &Deps, size: Size) -> anyhow::Result<bool> {
    let mut table = Table::new(
        &format!("Flash-sale contention: {} buyers, {} units, cap 1, {} requests in flight", n(size.buyers as f64), size.units, size.concurrency),
        &["back-end", "answers/s", "acked", "refused", "sold out after (ms)", "ack p50 (ms)", "ack p99 (ms)", "oversold", "lost acks"],
    );
    let mut all_correct = true;
    for backend in deps.backends().await {
        let o = race(backend, deps, size).await?;
        all_correct &= o.correct();
        table.row(vec![
            o.backend.label().into(),
            n(o.answers_per_sec),
            o.acked.to_string(),
            o.refused.to_string(),
            f1(o.sold_out_after_ms),
            f2(o.p50_ms),
            f2(o.p99_ms),
            o.oversold.to_string(),
            o.lost.to_string(),
        ]);
    }
    table.print();
    Ok(all_correct)
}
