//! Glass-to-glass on loopback: one WHIP publisher and one WHEP viewer (both
//! str0m); each video frame carries its write time, read back when the
//! viewer has the whole frame. No encoder, decoder or browser jitter buffer.

use std::time::Duration;

use crate::report::{f1, f2, n, Table};
use crate::rtc::Stream;
use crate::server::Deps;
use crate::sfu::{streamcart_step, Plan};

pub async fn run(deps: &Deps, seconds: u64) -> anyhow::Result<()> {
    let plan = Plan { steps: vec![1], stream: Stream { video_kbps: 2500 }, warmup: Duration::from_secs(2), measure: Duration::from_secs(seconds), egress_shards: None };
    let step = streamcart_step(deps, 1, &plan).await?;
    let mut t = Table::new(
        &format!("Glass-to-glass (WHIP → streamcart → WHEP, loopback, {} kbps, {seconds} s)", plan.stream.video_kbps),
        &["frames", "frame loss %", "delay p50 (ms)", "delay p99 (ms)"],
    );
    t.row(vec![n((seconds * 30) as f64), f2(step.loss_avg), f1(step.p50_ms), f1(step.p99_ms)]);
    t.print();
    Ok(())
}
