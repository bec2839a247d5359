//! Figures, not specifications: ignored by default, run with
//! `cargo test --release --test it commerce::bench -- --ignored --nocapture`
//! (add the PostgreSQL/Redis variables for that back-end). Results go in
//! docs/BENCHMARKS.md.

use std::time::Instant;

use serde_json::Value;

use super::{add_to_cart, buyers, checkout, published_variant, seller_with_shop, stock, GOOD_CARD};
use crate::support::{postgres_url, spawn_app};

fn backend() -> &'static str {
    if postgres_url().is_some() {
        "postgresql"
    } else {
        "sqlite"
    }
}

/// Paid checkouts per second: `n` buyers with one item each, all at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark; prints figures"]
async fn bench_checkout_throughput() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "BENCH", 1000, 100_000).await;
    let n = 200;
    let tokens = buyers(&app, "tp", n).await;
    futures::future::join_all(tokens.iter().map(|t| add_to_cart(&app, t, &variant, 1))).await;
    let started = Instant::now();
    let results = futures::future::join_all(tokens.iter().enumerate().map(|(i, t)| {
        let app = &app;
        async move { checkout(app, t, &format!("tp-{i}"), Some(GOOD_CARD)).await.status().as_u16() }
    }))
    .await;
    let elapsed = started.elapsed();
    assert!(results.iter().all(|s| *s == 201));
    println!(
        "commerce bench [{}]: {n} concurrent paid checkouts in {:.0} ms = {:.0} checkouts/s",
        backend(),
        elapsed.as_secs_f64() * 1000.0,
        n as f64 / elapsed.as_secs_f64()
    );
}

/// The 200-buyer race for 10 units, timed from the first request to the last answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark; prints figures"]
async fn bench_two_hundred_buyer_race() {
    let app = spawn_app().await;
    let seller = seller_with_shop(&app, "sam@example.com", "acme").await;
    let variant = published_variant(&app, &seller, "acme", "DROP", 9900, 10).await;
    let tokens = buyers(&app, "race", 200).await;
    futures::future::join_all(tokens.iter().map(|t| add_to_cart(&app, t, &variant, 1))).await;
    let started = Instant::now();
    let results = futures::future::join_all(tokens.iter().enumerate().map(|(i, t)| {
        let app = &app;
        async move { checkout(app, t, &format!("r-{i}"), Some(GOOD_CARD)).await.status().as_u16() }
    }))
    .await;
    let elapsed = started.elapsed();
    assert_eq!(results.iter().filter(|s| **s == 201).count(), 10);
    let level: Value = stock(&app, &seller, "acme", &variant).await;
    assert_eq!(level["available"], 0);
    println!("commerce bench [{}]: 200-buyer race for 10 units settled in {:.0} ms", backend(), elapsed.as_secs_f64() * 1000.0);
}
