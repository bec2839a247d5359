//! The HTTP load shedder: a middleware in front of every route except health
//! and metrics. A request takes a slot at once, or waits in a bounded queue
//! for at most `queue_timeout`, or is answered 503 `overloaded` with
//! `Retry-After` without touching a handler.

use std::sync::atomic::Ordering;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::OwnedSemaphorePermit;

use super::Admission;
use crate::error::ApiError;

/// Paths that never wait and are never shed: an overloaded node must still
/// say so to its load balancer and its monitoring.
pub fn is_exempt(path: &str) -> bool {
    matches!(path, "/health/live" | "/health/ready" | "/metrics")
}

/// The middleware (`axum::middleware::from_fn_with_state`).
pub async fn shed(State(admission): State<Admission>, request: Request, next: Next) -> Response {
    if is_exempt(request.uri().path()) {
        return next.run(request).await;
    }
    match admission.admit().await {
        Some(_permit) => next.run(request).await,
        None => {
            metrics::counter!("streamcart_http_shed_total").increment(1);
            ApiError::Overloaded { retry_after_secs: admission.settings().retry_after_secs }.into_response()
        }
    }
}

/// Decrements the queue length however the wait ends (slot, timeout, or the
/// client going away and the future being dropped).
struct InQueue<'a>(&'a Admission);

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.0.inner.queued.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Admission {
    /// A slot for one HTTP request, or `None` when it is to be shed.
    pub async fn admit(&self) -> Option<OwnedSemaphorePermit> {
        let gate = self.http_gate().clone();
        if let Ok(permit) = gate.clone().try_acquire_owned() {
            return Some(permit);
        }
        let settings = self.settings();
        let before = self.inner.queued.fetch_add(1, Ordering::SeqCst);
        let _in_queue = InQueue(self);
        if before >= settings.max_queued {
            return None;
        }
        match tokio::time::timeout(settings.queue_timeout, gate.acquire_owned()).await {
            Ok(Ok(permit)) => Some(permit),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::admission::AdmissionSettings;

    fn gate(max_in_flight: usize, max_queued: usize) -> Admission {
        Admission::new(&AdmissionSettings { max_in_flight, max_queued, queue_timeout: Duration::from_secs(60), ..Default::default() })
    }

    #[tokio::test]
    async fn beyond_the_slots_and_the_queue_a_request_is_shed_at_once() {
        let admission = gate(1, 0);
        let held = admission.admit().await.expect("the first request runs");
        assert!(admission.admit().await.is_none(), "no slot and no queue: shed");
        assert_eq!(admission.http_queued(), 0, "a shed request leaves the queue empty");
        drop(held);
        assert!(admission.admit().await.is_some(), "capacity comes back when a request ends");
    }

    #[tokio::test]
    async fn a_queued_request_runs_when_a_slot_frees_and_the_queue_is_bounded() {
        let admission = gate(1, 1);
        let held = admission.admit().await.unwrap();
        let waiting = tokio::spawn({
            let admission = admission.clone();
            async move { admission.admit().await.is_some() }
        });
        while admission.http_queued() == 0 {
            tokio::task::yield_now().await;
        }
        assert!(admission.admit().await.is_none(), "the queue holds one: the next is shed");
        drop(held);
        assert!(waiting.await.unwrap(), "the queued request got the freed slot");
        assert_eq!((admission.http_in_flight(), admission.http_queued()), (0, 0));
    }

    #[test]
    fn health_and_metrics_are_exempt_and_the_api_is_not() {
        assert!(is_exempt("/health/ready") && is_exempt("/health/live") && is_exempt("/metrics"));
        assert!(!is_exempt("/api/v1/auth/login") && !is_exempt("/ws") && !is_exempt("/health/ready/x"));
    }
}
