//! LiveKit webhooks: `POST` of a protobuf-JSON `WebhookEvent` to each URL of
//! livekit.yaml's `webhook.urls`, with `Content-Type: application/webhook+json` and
//! `Authorization: <JWT>` signed with an API secret whose `sha256` claim is the
//! base64 SHA-256 of the body (what LiveKit's `WebhookReceiver`s check).
//!
//! Events are written to the `livekit_webhook_deliveries` table first (durable), then
//! a worker sends due rows and retries failures with exponential backoff.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use livekit_api::access_token::AccessToken;
use livekit_protocol::{ParticipantInfo, Room, TrackInfo, WebhookEvent};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use super::LiveKitKeys;
use crate::config::LiveKitSettings;
use crate::store::{now_ms, Store, StoreResult};

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: u32 = 10;
/// How long a claimed delivery is reserved for one attempt.
const LEASE_MS: i64 = 30_000;
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The `Authorization` value for `body`: a JWT by `api_key` carrying the body's hash.
pub fn sign(body: &str, api_key: &str, secret: &str) -> Result<String, String> {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body.as_bytes()));
    AccessToken::with_api_key(api_key, secret)
        .with_sha256(&hash)
        .with_ttl(Duration::from_secs(5 * 60))
        .to_jwt()
        .map_err(|e| e.to_string())
}

/// Delay before attempt `attempts + 1` after `attempts` failures: 1 s, 2 s, 4 s … 256 s.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(8)).min(Duration::from_secs(300))
}

#[derive(Clone)]
pub struct Webhooks {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    urls: Vec<String>,
    /// (API key, secret) that signs; `None` when no key exists (nothing is sent).
    signer: Option<(String, String)>,
    /// Rooms announced with room_started and not yet finished (this node).
    started: Mutex<HashSet<String>>,
    wake: Notify,
    http: reqwest::Client,
}

impl Webhooks {
    pub fn new(store: Store, settings: &LiveKitSettings, keys: &LiveKitKeys) -> Webhooks {
        let signer = match &settings.webhook_api_key {
            Some(key) => keys.secret(key).map(|s| (key.clone(), s.to_string())),
            None => keys.signing_key().map(|(k, s)| (k.to_string(), s.to_string())),
        };
        let http = reqwest::Client::builder().timeout(SEND_TIMEOUT).build().unwrap_or_default();
        Webhooks {
            inner: Arc::new(Inner {
                store,
                urls: settings.webhook_urls.clone(),
                signer,
                started: Mutex::new(HashSet::new()),
                wake: Notify::new(),
                http,
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.inner.urls.is_empty() && self.inner.signer.is_some()
    }

    /// Queues `event` for every URL (durably), then wakes the sender.
    pub async fn send(&self, event: &str, room: Option<Room>, participant: Option<ParticipantInfo>, track: Option<TrackInfo>) {
        if !self.enabled() {
            return;
        }
        let event = WebhookEvent {
            event: event.to_string(),
            room,
            participant,
            track,
            id: format!("EV_{}", uuid::Uuid::new_v4().simple()),
            created_at: now_ms() / 1000,
            ..Default::default()
        };
        let body = match serde_json::to_string(&event) {
            Ok(body) => body,
            Err(e) => return tracing::error!(error = %e, "cannot encode a LiveKit webhook"),
        };
        if let Err(e) = self.inner.store.enqueue_livekit_webhooks(&self.inner.urls, &body).await {
            tracing::warn!(error = %e, event = %event.event, "could not queue a LiveKit webhook");
        }
        self.inner.wake.notify_one();
    }

    /// room_started, once per room until it finishes.
    pub async fn room_started(&self, room: Room) {
        if self.lock_started().insert(room.name.clone()) {
            self.send("room_started", Some(room), None, None).await;
        }
    }

    /// room_finished, only for a room that was announced as started.
    pub async fn room_finished(&self, room: Room) {
        if self.lock_started().remove(&room.name) {
            self.send("room_finished", Some(room), None, None).await;
        }
    }

    fn lock_started(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.inner.started.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends every due delivery once; returns how many were delivered. The worker
    /// loops on this; tests call it to step the queue.
    pub async fn deliver_due(&self) -> StoreResult<usize> {
        let Some((key, secret)) = &self.inner.signer else { return Ok(0) };
        let due = self.inner.store.claim_livekit_webhooks(now_ms(), LEASE_MS, 50).await?;
        let mut delivered = 0;
        for delivery in due {
            let outcome = match sign(&delivery.body, key, secret) {
                Ok(token) => self.post(&delivery.url, &delivery.body, &token).await,
                Err(e) => Err(format!("cannot sign: {e}")),
            };
            match outcome {
                Ok(()) => {
                    self.inner.store.livekit_webhook_delivered(&delivery.id).await?;
                    delivered += 1;
                }
                Err(error) => {
                    let attempts = delivery.attempts + 1;
                    let retry_at = (attempts < MAX_ATTEMPTS).then(|| now_ms() + backoff(attempts - 1).as_millis() as i64);
                    tracing::warn!(url = %delivery.url, attempts, error = %error, "LiveKit webhook delivery failed");
                    self.inner.store.livekit_webhook_failed(&delivery.id, &error, retry_at).await?;
                }
            }
        }
        Ok(delivered)
    }

    async fn post(&self, url: &str, body: &str, token: &str) -> Result<(), String> {
        let response = self
            .inner
            .http
            .post(url)
            .header("Content-Type", "application/webhook+json")
            .header("Authorization", token)
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", response.status().as_u16()))
        }
    }

    /// The sender: runs `deliver_due` when woken and at least every second.
    pub fn spawn_worker(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            if this.inner.urls.is_empty() {
                return;
            }
            loop {
                if let Err(e) = this.deliver_due().await {
                    tracing::warn!(error = %e, "LiveKit webhook queue unavailable");
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), this.inner.wake.notified()).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use livekit_api::access_token::TokenVerifier;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn livekits_own_receiver_accepts_our_signature() {
        let body = r#"{"event":"room_started","room":{"name":"show"}}"#;
        let token = sign(body, "APIkey", SECRET).unwrap();
        let receiver = livekit_api::webhooks::WebhookReceiver::new(TokenVerifier::with_api_key("APIkey", SECRET));
        let event = receiver.receive(body, &token).unwrap();
        assert_eq!(event.event, "room_started");
        assert_eq!(event.room.unwrap().name, "show");
    }

    #[test]
    fn a_changed_body_fails_livekits_check() {
        let token = sign(r#"{"event":"room_started"}"#, "APIkey", SECRET).unwrap();
        let receiver = livekit_api::webhooks::WebhookReceiver::new(TokenVerifier::with_api_key("APIkey", SECRET));
        assert!(receiver.receive(r#"{"event":"room_finished"}"#, &token).is_err());
    }

    #[test]
    fn retries_back_off_exponentially_up_to_256_seconds() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(20), Duration::from_secs(256));
    }
}
