//! Liveness, readiness and Prometheus metrics.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;

#[derive(Serialize, ToSchema)]
pub struct LiveResponse {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct ReadyResponse {
    /// `ready` when every dependency answers, `degraded` otherwise.
    pub status: &'static str,
    pub checks: ReadyChecks,
}

#[derive(Serialize, ToSchema)]
pub struct ReadyChecks {
    pub store: DependencyCheck,
    /// Absent when no Redis is configured (presence and reservations are in process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<DependencyCheck>,
}

#[derive(Serialize, ToSchema)]
pub struct DependencyCheck {
    /// `up` or `down`.
    pub status: &'static str,
    /// `sqlite`, `postgres` or `redis`.
    pub backend: &'static str,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The process is running (no dependency checks).
#[utoipa::path(get, path = "/health/live", tag = "operations", responses((status = 200, body = LiveResponse)))]
pub async fn live() -> Json<LiveResponse> {
    Json(LiveResponse { status: "ok" })
}

/// 200 only when the store, and Redis if configured, answer; the body names what is degraded.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses((status = 200, body = ReadyResponse), (status = 503, body = ReadyResponse)))]
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    const LIMIT: Duration = Duration::from_secs(2);
    let started = Instant::now();
    let store_result = match tokio::time::timeout(LIMIT, state.store.ping()).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {} s", LIMIT.as_secs())),
    };
    let store = check(state.store.backend().name(), started, store_result);
    let redis = if state.kv.is_redis() {
        let started = Instant::now();
        Some(check("redis", started, state.kv.ping().await.map_err(|e| e.to_string())))
    } else {
        None
    };
    let all_up = store.status == "up" && redis.as_ref().is_none_or(|r| r.status == "up");
    metrics::gauge!("streamcart_ready").set(if all_up { 1.0 } else { 0.0 });
    let (status, word) = if all_up { (StatusCode::OK, "ready") } else { (StatusCode::SERVICE_UNAVAILABLE, "degraded") };
    (status, Json(ReadyResponse { status: word, checks: ReadyChecks { store, redis } }))
}

fn check(backend: &'static str, started: Instant, result: Result<(), String>) -> DependencyCheck {
    let latency_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(()) => DependencyCheck { status: "up", backend, latency_ms, error: None },
        Err(error) => DependencyCheck { status: "down", backend, latency_ms, error: Some(error) },
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
