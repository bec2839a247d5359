//! Checkout throughput: many buyers, each with a cart of two SKUs out of a
//! catalog, check out with the test card at the same time. One
//! `POST /api/v1/checkout` with an `Idempotency-Key` is the whole path:
//! key claim, order placed and stock held in one transaction, the charge,
//! payment settled and stock committed. Cart filling is not timed.

use std::time::Instant;

use anyhow::Context;
use futures::StreamExt;
use serde_json::json;

use crate::api::{Api, GOOD_CARD};
use crate::report::{f1, n, Samples, Table};
use crate::server::{Backend, Deps, Server};

#[derive(Clone, Copy)]
pub struct Size {
    pub buyers: usize,
    pub skus: usize,
    pub concurrency: usize,
}

impl Size {
    pub fn small() -> Size {
        Size { buyers: 300, skus: 20, concurrency: 64 }
    }

    pub fn full() -> Size {
        Size { buyers: 3_000, skus: 200, concurrency: 128 }
    }
}

const STOCK: i64 = 1_000_000;

struct Outcome {
    orders_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    paid: usize,
    failed: usize,
    units_committed: i64,
}

async fn measure(backend: Backend, deps: &Deps, size: Size) -> anyhow::Result<Outcome> {
    let server = Server::start(backend, deps).await?;
    let api = Api::new(&server.url);
    let shop = api.shop().await?;
    let mut variants = Vec::with_capacity(size.skus);
    for i in 0..size.skus {
        variants.push(api.product(&shop, &format!("SKU-{i}"), 1000 + i as i64, STOCK).await?.1);
    }
    let buyers = api.register_many("shopper", size.buyers).await?;
    let carts = buyers.iter().enumerate().map(|(i, token)| {
        let api = api.clone();
        let lines = [variants[i % size.skus].clone(), variants[(i + 1 + (i / size.skus) % (size.skus - 1)) % size.skus].clone()];
        async move {
            for v in lines.iter() {
                let res = api.http.put(api.url(&format!("/api/v1/cart/items/{v}"))).bearer_auth(token).json(&json!({"quantity": 1})).send().await?;
                anyhow::ensure!(res.status() == 200, "cart: {}", res.status());
            }
            Ok(())
        }
    });
    for r in futures::stream::iter(carts).buffer_unordered(32).collect::<Vec<anyhow::Result<()>>>().await {
        r?;
    }

    let url = api.url("/api/v1/checkout");
    let started = Instant::now();
    let results: Vec<(bool, u64)> = futures::stream::iter(buyers.iter().enumerate())
        .map(|(i, token)| {
            let (http, url) = (api.http.clone(), url.clone());
            async move {
                let t0 = Instant::now();
                let res = http
                    .post(&url)
                    .bearer_auth(token)
                    .header("Idempotency-Key", format!("bench-{i}"))
                    .json(&json!({"payment": {"card_number": GOOD_CARD}}))
                    .send()
                    .await;
                let ok = res.is_ok_and(|r| r.status() == 201);
                (ok, t0.elapsed().as_micros() as u64)
            }
        })
        .buffer_unordered(size.concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut latency = Samples::default();
    let paid = results.iter().filter(|(ok, _)| *ok).count();
    for (_, us) in &results {
        latency.push(*us);
    }
    let mut committed = 0;
    for v in &variants {
        let level = api.stock(&shop, v).await?;
        committed += STOCK - level["available"].as_i64().context("available")? - level["reserved"].as_i64().context("reserved")?;
    }
    server.stop().await;
    Ok(Outcome {
        orders_per_sec: paid as f64 / elapsed.as_secs_f64(),
        p50_ms: latency.ms(0.5),
        p99_ms: latency.ms(0.99),
        paid,
        failed: results.len() - paid,
        units_committed: committed,
    })
}

pub async fn run(deps: &Deps, size: Size) -> anyhow::Result<bool> {
    let mut table = Table::new(
        &format!(
            "Checkout throughput: {} buyers with 2 of {} SKUs each, paid with the test card, {} checkouts in flight",
            n(size.buyers as f64),
            size.skus,
            size.concurrency
        ),
        &["back-end", "paid checkouts/s", "p50 (ms)", "p99 (ms)", "paid", "failed", "units committed (expected)"],
    );
    let mut correct = true;
    for backend in deps.backends().await {
        let o = measure(backend, deps, size).await?;
        correct &= o.failed == 0 && o.units_committed == 2 * size.buyers as i64;
        table.row(vec![
            backend.label().into(),
            n(o.orders_per_sec),
            f1(o.p50_ms),
            f1(o.p99_ms),
            o.paid.to_string(),
            o.failed.to_string(),
            format!("{} ({})", o.units_committed, 2 * size.buyers),
        ]);
    }
    table.print();
    Ok(correct)
}
