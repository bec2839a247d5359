//! `spawn_app()` and helpers shared by every integration test.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use streamcart::{Application, Settings};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// Which back-ends this run uses, from the environment the test script sets.
pub fn postgres_url() -> Option<String> {
    std::env::var("STREAMCART_TEST_DATABASE_URL").ok().filter(|v| !v.is_empty())
}

pub fn redis_url() -> Option<String> {
    std::env::var("STREAMCART_TEST_REDIS_URL").ok().filter(|v| !v.is_empty())
}

pub struct TestApp {
    pub address: String,
    /// Closed when the TestApp is dropped, so a test that starts many servers
    /// does not exhaust PostgreSQL's connection slots.
    store: Option<streamcart::store::Store>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub client: reqwest::Client,
    pub setup_token: Option<String>,
    pub data_dir: tempfile::TempDir,
    pub settings: Settings,
    /// The in-process server's admission counters (None for an external process).
    pub admission: Option<streamcart::admission::Admission>,
}


/// A fresh server on the back-ends this run selects.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::for_data_dir(data_dir.path());
    settings.bind_address = [127, 0, 0, 1].into();
    settings.http_port = 0;
    settings.rtc_udp_port = 0;
    settings.rtc_tcp_port = 0;
    if let Some(url) = postgres_url() {
        settings.database_url = Some(fresh_postgres_schema(&url).await);
    }
    if let Some(url) = redis_url() {
        settings.redis_url = Some(url);
        settings.redis_prefix = format!("test:{}:", uuid::Uuid::new_v4());
    }
    configure(&mut settings);
    launch(settings, data_dir).await
}

pub async fn launch(settings: Settings, data_dir: tempfile::TempDir) -> TestApp {
    let app = Application::build(settings.clone()).await.expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let setup_token = app.setup_token().map(str::to_string);
    let store = app.state().store.clone();
    let admission = Some(app.state().admission.clone());
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp { address, store: Some(store), shutdown: Some(shutdown), client: reqwest::Client::new(), setup_token, data_dir, settings, admission }
}

/// Creates an empty schema and returns a URL whose connections use it.
pub async fn fresh_postgres_schema(base_url: &str) -> String {
    use sqlx::Connection;
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(base_url).await.expect("connect to test PostgreSQL");
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut conn).await.expect("create schema");
    let sep = if base_url.contains('?') { '&' } else { '?' };
    format!("{base_url}{sep}options=-c%20search_path%3D{schema}")
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let (Some(store), Ok(runtime)) = (self.store.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(async move { store.close().await });
        }
    }
}

impl TestApp {
    /// The in-process server's own store (None for an external process).
    pub fn store(&self) -> Option<streamcart::store::Store> {
        self.store.clone()
    }

    /// A handle on a server running in another process (the test owns its lifetime).
    pub fn external(address: String, data_dir: tempfile::TempDir, settings: Settings) -> TestApp {
        TestApp { address, store: None, shutdown: None, client: reqwest::Client::new(), setup_token: None, data_dir, settings, admission: None }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request")
    }

    pub async fn get_authed(&self, path: &str, token: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request")
    }

    /// Registers a customer; returns the whole 201 body.
    pub async fn register(&self, email: &str) -> Value {
        let res = self
            .post_json("/api/v1/auth/register", &json!({"email": email, "password": PASSWORD, "display_name": "Test User"}))
            .await;
        assert_eq!(res.status(), 201, "register {email}");
        res.json().await.expect("json")
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json("/api/v1/auth/login", &json!({"email": email, "password": password})).await
    }

    /// Creates the first admin through the setup token; returns the 201 body.
    pub async fn create_admin(&self) -> Value {
        let token = self.setup_token.as_deref().expect("a fresh store prints a setup token");
        let res = self
            .post_json(
                "/api/v1/setup",
                &json!({"setup_token": token, "email": "admin@example.com", "password": PASSWORD, "display_name": "Admin"}),
            )
            .await;
        assert_eq!(res.status(), 201);
        res.json().await.expect("json")
    }
}

pub const PASSWORD: &str = "correct horse battery staple";

/// Asserts the standard error body and returns its code.
pub async fn error_code(res: reqwest::Response) -> String {
    let body: Value = res.json().await.expect("error bodies are JSON");
    let code = body["error"]["code"].as_str().expect("error.code").to_string();
    assert!(!body["error"]["message"].as_str().unwrap_or("").is_empty(), "error.message is set: {body}");
    code
}

/// A TCP forwarder the test can cut and restore, to make a real dependency
/// unreachable without stopping it for the other tests.
pub struct CuttableProxy {
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    cut_now: Arc<Notify>,
}

impl CuttableProxy {
    pub async fn start(target: SocketAddr) -> CuttableProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let cut = Arc::new(AtomicBool::new(false));
        let cut_now = Arc::new(Notify::new());
        let (flag, notify) = (cut.clone(), cut_now.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let notify = notify.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = notify.notified() => {}
                    }
                });
            }
        });
        CuttableProxy { addr, cut, cut_now }
    }

    /// Closes every forwarded connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.cut_now.notify_waiters();
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// A second server process sharing `other`'s store, Redis prefix and
/// secrets: another node of the same deployment (or the same one restarted).
pub async fn spawn_app_sharing(other: &TestApp) -> TestApp {
    let mut settings = other.settings.clone();
    settings.http_port = 0;
    launch(settings, tempfile::tempdir().expect("temp dir")).await
}
