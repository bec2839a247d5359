//! Dependency outages: PostgreSQL cut off (through a cuttable proxy), a private
//! PostgreSQL server really stopped and started again, and a private Redis
//! stopped mid-sale. The shared servers are never touched.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::commerce::{buyer, buyers, post};
use crate::hub::WsClient;
use crate::live::{immediate_sale, live_room, product};
use crate::operations::socket_of;
use crate::support::{error_code, fresh_postgres_schema, postgres_url, spawn_app_with, CuttableProxy, TestApp, PASSWORD};

/// A client that gives up after 20 s, so a hang fails the test instead of stalling it.
fn impatient() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

async fn until_status(app: &TestApp, path: &str, token: &str, want: u16) -> bool {
    for _ in 0..100 {
        if app.client.get(app.url(path)).bearer_auth(token).send().await.unwrap().status() == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn while_postgresql_is_cut_reads_and_writes_fail_with_503_store_unavailable_and_work_again_after_restore() {
    let Some(base) = postgres_url() else {
        eprintln!("skipped: STREAMCART_TEST_DATABASE_URL is not set (SQLite run)");
        return;
    };
    let target = socket_of(&base, 5432);
    let proxy = CuttableProxy::start(target).await;
    let via_proxy = base.replacen(&target.to_string(), &proxy.addr.to_string(), 1).replacen("localhost:5432", &proxy.addr.to_string(), 1);
    let url = fresh_postgres_schema(&via_proxy).await;
    let mut app = spawn_app_with(move |s| s.database_url = Some(url)).await;
    app.client = impatient();
    let ann = app.register("ann@example.com").await;
    let token = ann["access_token"].as_str().unwrap().to_string();

    proxy.cut();
    let me = app.get_authed("/api/v1/me", &token).await;
    assert_eq!(me.status(), 503, "an authenticated read fails clearly, it does not hang");
    assert!(me.headers().contains_key("retry-after"), "the client is told when to retry");
    assert_eq!(error_code(me).await, "store_unavailable");
    let login = app.login("ann@example.com", PASSWORD).await;
    assert_eq!(login.status(), 503);
    assert_eq!(error_code(login).await, "store_unavailable");
    let ready: Value = app.client.get(app.url("/health/ready")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["checks"]["store"]["status"], "down", "{ready}");

    proxy.restore();
    assert!(until_status(&app, "/api/v1/me", &token, 200).await, "the same token works again without restarting streamcart");
    app.register("bob@example.com").await;
    assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), 200);
}

/// A private `redis-server` on a free port, stopped by the test (never the shared one).
struct PrivateRedis {
    child: Child,
    url: String,
}

impl PrivateRedis {
    async fn start() -> Option<PrivateRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let redis = PrivateRedis { child, url: format!("redis://127.0.0.1:{port}") };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Some(redis);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn with_redis_stopped_mid_sale_readiness_names_redis_and_the_sale_continues_on_sql_without_overselling() {
    let Some(mut redis) = PrivateRedis::start().await else {
        eprintln!("skipped: redis-server is not installed or did not start");
        return;
    };
    let url = redis.url.clone();
    let mut app = spawn_app_with(move |s| {
        s.redis_url = Some(url);
        s.redis_prefix = format!("outage:{}:", uuid::Uuid::new_v4());
    })
    .await;
    app.client = impatient();
    let seller = live_room(&app).await;
    let (_, variant) = product(&app, &seller, "TEE-1", 2000, 100).await;
    let sale = immediate_sale(&app, &seller, &variant, 10, 1).await;
    crate::hub::create_room(&app, &seller, "encore", "public").await;
    let sale_id = sale["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/rooms/show/sales/{sale_id}/reserve");
    let early = buyers(&app, "early", 4).await;
    for token in &early {
        assert_eq!(post(&app, token, &path, json!({"quantity": 1})).await.status(), 201);
    }
    let late = buyers(&app, "late", 12).await;
    let (chatter, _) = crate::hub::user(&app, "chatter@example.com").await;
    let mut chatting = WsClient::connect(&app, Some(&chatter)).await;
    chatting.subscribe("room:show", None).await;

    redis.stop();
    let res = app.client.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let ready: Value = res.json().await.unwrap();
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["checks"]["redis"]["status"], "down", "{ready}");
    assert_eq!(ready["checks"]["store"]["status"], "up", "{ready}");

    let attempts = late.iter().map(|token| post(&app, token, &path, json!({"quantity": 1})));
    let statuses: Vec<u16> = futures::future::join_all(attempts).await.iter().map(|r| r.status().as_u16()).collect();
    let won = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(won, 6, "exactly the 6 units left are reserved, on SQL alone: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "the rest are refused as sold out: {statuses:?}");

    let store = crate::commerce::same_store(&app).await;
    let sold: i64 = sqlx::query_scalar("SELECT sold FROM flash_sales WHERE id = $1").bind(&sale_id).fetch_one(store.reader()).await.unwrap();
    assert_eq!(sold, 10, "the store counts exactly the sale's quantity");
    // The hub keeps serving this node: chat is stored in SQL and delivered
    // to this node's viewers, and a new viewer still gets the room's snapshot.
    let (mut watching, snapshot) = crate::live::viewer(&app).await;
    assert_eq!(snapshot["room"]["name"], "show", "a viewer joining during the outage gets the snapshot");
    let mut first_on_encore = WsClient::connect(&app, None).await;
    let (_, encore) = first_on_encore.subscribe("room:encore", None).await;
    assert_eq!(encore["state"]["room"]["name"], "encore", "a channel first opened during the outage is followed locally");
    let ack = chatting.chat("show", "still here").await;
    assert_eq!(ack["type"], "ack", "chat is acknowledged on SQL alone: {ack}");
    let seen = watching.next_pub("chat.message").await;
    assert_eq!(seen["event"]["data"]["text"], "still here");
    let newcomer = buyer(&app, "newcomer@example.com").await;
    assert_eq!(app.get_authed("/api/v1/me", &newcomer).await.status(), 200, "accounts and sessions keep working");
}

/// A private PostgreSQL cluster (initdb in a temp dir, its own port), so a test
/// can really stop and restart the server. As root, the cluster runs as the
/// `postgres` system user (PostgreSQL refuses to run as root).
struct PrivatePostgres {
    bin: std::path::PathBuf,
    data: tempfile::TempDir,
    run_as: Option<String>,
    port: u16,
}

impl PrivatePostgres {
    fn bin_dir() -> Option<std::path::PathBuf> {
        let from_pg_config = Command::new("pg_config").arg("--bindir").output().ok().map(|o| std::path::PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        let candidates = from_pg_config.into_iter().chain(std::fs::read_dir("/usr/lib/postgresql").into_iter().flatten().flatten().map(|e| e.path().join("bin")));
        candidates.into_iter().find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(path);
                command
            }
            None => Command::new(path),
        }
    }

    fn start() -> Result<PrivatePostgres, String> {
        let bin = Self::bin_dir().ok_or("no PostgreSQL server binaries (initdb, pg_ctl) are installed")?;
        let is_root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false);
        let data = tempfile::Builder::new().prefix("streamcart-pg-").tempdir().map_err(|e| e.to_string())?;
        let run_as = if is_root {
            let uid = Command::new("id").args(["-u", "postgres"]).output().map_err(|e| e.to_string())?;
            let gid = Command::new("id").args(["-g", "postgres"]).output().map_err(|e| e.to_string())?;
            let parse = |o: std::process::Output| String::from_utf8_lossy(&o.stdout).trim().parse::<u32>().map_err(|_| "no `postgres` system user to run the cluster as".to_string());
            std::os::unix::fs::chown(data.path(), Some(parse(uid)?), Some(parse(gid)?)).map_err(|e| e.to_string())?;
            Some("postgres".to_string())
        } else {
            None
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let pg = PrivatePostgres { bin, data, run_as, port };
        let cluster = pg.cluster_dir();
        let initdb = pg.command("initdb").args(["-D", &cluster, "-A", "trust", "-U", "postgres", "--no-sync"]).stdout(Stdio::null()).stderr(Stdio::null()).status().map_err(|e| e.to_string())?;
        if !initdb.success() {
            return Err(format!("initdb failed ({initdb})"));
        }
        pg.pg_ctl("start")?;
        Ok(pg)
    }

    fn cluster_dir(&self) -> String {
        self.data.path().join("cluster").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `start` waits until the server accepts connections; `stop` is an immediate
    /// shutdown (no checkpoint: what a crash leaves behind).
    fn pg_ctl(&self, action: &str) -> Result<(), String> {
        let cluster = self.cluster_dir();
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.data.path().display());
        let mut command = self.command("pg_ctl");
        command.args(["-D", &cluster, "-w", "-t", "60"]);
        match action {
            "start" => command.args(["-o", &options, "-l", &self.data.path().join("server.log").display().to_string(), "start"]),
            _ => command.args(["-m", "immediate", "stop"]),
        };
        let status = command.stdout(Stdio::null()).stderr(Stdio::null()).status().map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("pg_ctl {action} failed ({status})"))
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.pg_ctl("stop");
    }
}

#[tokio::test]
async fn a_real_postgresql_restart_fails_requests_with_503_while_down_and_streamcart_recovers_without_restarting() {
    if postgres_url().is_none() {
        eprintln!("skipped: STREAMCART_TEST_DATABASE_URL is not set (SQLite run)");
        return;
    }
    let pg = match tokio::task::spawn_blocking(PrivatePostgres::start).await.unwrap() {
        Ok(pg) => pg,
        Err(why) => {
            eprintln!("skipped: a private PostgreSQL server could not be started: {why}");
            return;
        }
    };
    let url = pg.url();
    let mut app = spawn_app_with(move |s| {
        s.database_url = Some(url);
        s.redis_url = None;
    })
    .await;
    app.client = impatient();
    let ann = app.register("ann@example.com").await;
    let token = ann["access_token"].as_str().unwrap().to_string();

    let pg = tokio::task::spawn_blocking(move || pg.pg_ctl("stop").map(|()| pg)).await.unwrap().expect("stop the private PostgreSQL");
    let me = app.get_authed("/api/v1/me", &token).await;
    assert_eq!(me.status(), 503, "a read while PostgreSQL is down fails clearly, it does not hang");
    assert_eq!(error_code(me).await, "store_unavailable");
    let register = app.client.post(app.url("/api/v1/auth/register")).json(&json!({"email": "bob@example.com", "password": PASSWORD, "display_name": "Bob"})).send().await.unwrap();
    assert_eq!(register.status(), 503, "a write while PostgreSQL is down is refused, not acknowledged");
    assert_eq!(error_code(register).await, "store_unavailable");

    let pg = tokio::task::spawn_blocking(move || pg.pg_ctl("start").map(|()| pg)).await.unwrap().expect("start the private PostgreSQL again");
    assert!(until_status(&app, "/api/v1/me", &token, 200).await, "ann's session, written before the restart, works again without restarting streamcart");
    assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), 200, "the account acknowledged before the restart survived it");
    app.register("bob@example.com").await;
    drop(app);
    drop(pg);
}
