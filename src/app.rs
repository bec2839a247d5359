//! `Application`: builds every part from `Settings`, binds the listener (port 0
//! works, for tests), and serves until a shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

use crate::auth::{hash_opaque_token, new_opaque_token, LoginLimiter, TokenKeys};
use crate::config::{redact, Settings};
use crate::kv::Kv;
use crate::livekit::LiveKitKeys;
use crate::secrets::Secrets;
use crate::store::Store;

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub kv: Kv,
    pub tokens: TokenKeys,
    pub login_limiter: LoginLimiter,
    pub metrics: PrometheusHandle,
    /// LiveKit API keys (from `keys:`, else generated on first run): token minting and checks.
    pub livekit: LiveKitKeys,
    /// Commerce: payment provider, webhook key, order hold time.
    pub commerce: crate::commerce::Commerce,
    /// The signaling hub: `/ws`, and `publish` / `push_to_user` for other modules.
    pub hub: crate::signaling::Hub,
    /// The embedded SFU (WHIP/WHEP, one UDP socket).
    pub sfu: crate::sfu::Sfu,
    /// Live commerce: pinned products, flash sales, one-tap reservations (src/live/).
    pub live: crate::live::Live,
    /// Load shedding and WebSocket caps (src/admission).
    pub admission: crate::admission::Admission,
    /// LiveKit RoomService state and webhooks (src/livekit/).
    pub livekit_rooms: crate::livekit::LiveKitRooms,
    /// Live analytics per room and minute (src/live/analytics*.rs).
    pub analytics: crate::live::Analytics,
}

impl AppState {
    pub fn refresh_ttl_ms(&self) -> i64 {
        (self.settings.auth.refresh_token_ttl_secs as i64).saturating_mul(1000)
    }
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    setup_token: Option<String>,
}

const SETUP_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let secrets = Secrets::load_or_create(&settings.data_dir, settings.api_keys.is_empty())?;
        let store = match &settings.database_url {
            Some(url) => Store::connect(url, settings.database_max_connections)
                .await
                .with_context(|| format!("cannot open the database at {}", redact(url)))?,
            None => Store::open_sqlite(&settings.data_dir)
                .await
                .with_context(|| format!("cannot open the SQLite store in {}", settings.data_dir.display()))?,
        };
        let kv = match &settings.redis_url {
            Some(url) => Kv::connect_redis(url, &settings.redis_prefix)
                .await
                .with_context(|| format!("cannot reach Redis at {}", redact(url)))?,
            None => Kv::Memory,
        };
        let api_keys = if settings.api_keys.is_empty() { secrets.api_keys.clone() } else { settings.api_keys.clone() };
        let setup_token = if store.any_admin_exists().await? {
            None
        } else {
            let token = new_opaque_token();
            store.issue_setup_token(&hash_opaque_token(&token), SETUP_TOKEN_TTL.as_millis() as i64).await?;
            Some(token)
        };
        let hub = crate::signaling::Hub::start(
            store.clone(),
            crate::signaling::Broker::for_kv(&kv, settings.redis_url.as_deref()),
            Default::default(),
            settings.hub.clone(),
        )
        .await
        .context("cannot start the signaling hub")?;
        let listener = TcpListener::bind((settings.bind_address, settings.http_port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", settings.bind_address, settings.http_port))?;
        let sfu = crate::sfu::Sfu::start(
            crate::sfu::SfuSettings::from_settings(&settings),
            store.clone(),
            hub.clone(),
        )
        .await?;
        let front = crate::live::front::ReservationFront::new(&kv);
        let live = crate::live::Live::with_services(store.clone(), hub.clone(), Default::default(), front, Some(sfu.clone()));
        let livekit_keys = LiveKitKeys::new(api_keys);
        let livekit_rooms = crate::livekit::LiveKitRooms::new(store.clone(), &settings.livekit, &livekit_keys);
        let analytics = crate::live::Analytics::new(store.clone(), hub.clone());
        let state = AppState {
            admission: crate::admission::Admission::new(&settings.admission),
            livekit_rooms,
            live,
            analytics,
            sfu,
            tokens: TokenKeys::new(&secrets.jwt_signing_key, settings.auth.access_token_ttl_secs),
            login_limiter: LoginLimiter::new(
                settings.auth.login_attempts_per_ip_per_minute,
                settings.auth.login_attempts_per_account_per_minute,
            ),
            metrics: crate::telemetry::metrics_handle(),
            livekit: livekit_keys,
            commerce: crate::commerce::Commerce::with_test_payments(&secrets.payment_webhook_secret),
            settings: Arc::new(settings),
            store,
            kv,
            hub,
        };
        Ok(Application { listener, state, setup_token })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// A URL a person on this machine can open.
    pub fn http_url(&self) -> String {
        let addr = self.local_addr();
        let host = if addr.ip().is_unspecified() { "localhost".to_string() } else { addr.ip().to_string() };
        format!("http://{host}:{}", addr.port())
    }

    /// The one-time token for creating the first admin, when no admin exists yet.
    pub fn setup_token(&self) -> Option<&str> {
        self.setup_token.as_deref()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let commerce_sweeper = crate::commerce::spawn_sweeper(self.state.store.clone(), self.state.commerce.payments.clone());
        let notification_pusher = crate::commerce::push::spawn_pusher(self.state.store.clone(), self.state.hub.clone());
        let mailer = crate::commerce::outbox::Mailer::from_settings(self.state.settings.smtp.as_ref()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "SMTP settings unusable; order emails go to the log");
            crate::commerce::outbox::Mailer::Log
        });
        let email_dispatcher = crate::commerce::outbox::spawn_dispatcher(self.state.store.clone(), mailer);
        let limiter = self.state.login_limiter.clone();
        let sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                limiter.forget_idle();
            }
        });
        let hub = self.state.hub.clone();
        let live = self.state.live.clone();
        live.start().await;
        let livekit_tasks = crate::livekit::LiveKitRooms::start(&self.state);
        let analytics = self.state.analytics.clone();
        analytics.start();
        let router = crate::api::router(self.state);
        // WebSocket connections are told to reconnect elsewhere (3001) as soon as shutdown starts.
        let shutdown = async move {
            shutdown.await;
            hub.close_all(crate::signaling::protocol::Disconnect::Shutdown);
        };
        let result = axum::serve(self.listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await;
        sweeper.abort();
        commerce_sweeper.abort();
        notification_pusher.abort();
        email_dispatcher.abort();
        live.stop();
        livekit_tasks.iter().for_each(|t| t.abort());
        analytics.stop();
        result
    }
}
