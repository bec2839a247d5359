//! The system under test: the real `streamcart` binary as a child process on
//! loopback (free HTTP port, UDP port 0, temp data dir), on the chosen
//! back-end, plus what the scenarios read about it from `/proc`.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Which stores the server runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    PostgresRedis,
}

impl Backend {
    pub fn label(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::PostgresRedis => "PostgreSQL + Redis",
        }
    }
}

/// Where the shared PostgreSQL and Redis are (the same variables the tests use).
#[derive(Clone, Debug)]
pub struct Deps {
    pub postgres: Option<String>,
    pub redis: Option<String>,
}

impl Deps {
    pub fn from_env() -> Deps {
        let var = |name: &str, default: &str| match std::env::var(name) {
            Ok(v) if v.is_empty() || v == "none" => None,
            Ok(v) => Some(v),
            Err(_) => Some(default.to_string()),
        };
        Deps {
            postgres: var("STREAMCART_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
            redis: var("STREAMCART_TEST_REDIS_URL", "redis://127.0.0.1:6379"),
        }
    }

    /// The back-ends this machine can run, SQLite always first.
    pub async fn backends(&self) -> Vec<Backend> {
        let mut out = vec![Backend::Sqlite];
        if let Some(url) = &self.postgres {
            match sqlx_connect(url).await {
                Ok(_) => {
                    out.push(Backend::Postgres);
                    if self.redis.as_deref().is_some_and(redis_answers) {
                        out.push(Backend::PostgresRedis);
                    } else {
                        println!("(PostgreSQL + Redis skipped: nothing answers at the Redis URL)");
                    }
                }
                Err(e) => println!("(PostgreSQL skipped: {e})"),
            }
        }
        out
    }
}

async fn sqlx_connect(url: &str) -> anyhow::Result<sqlx::PgConnection> {
    use sqlx::Connection;
    Ok(tokio::time::timeout(Duration::from_secs(3), sqlx::PgConnection::connect(url)).await.context("PostgreSQL did not answer")??)
}

fn redis_answers(url: &str) -> bool {
    let Some(hostport) = url.strip_prefix("redis://").map(|r| r.trim_end_matches('/').rsplit('@').next().unwrap_or(r).to_string()) else {
        return false;
    };
    std::net::TcpStream::connect_timeout(&match hostport.parse() {
        Ok(a) => a,
        Err(_) => return false,
    }, Duration::from_secs(2))
    .is_ok()
}

pub struct Server {
    child: Child,
    pub url: String,
    pub pid: u32,
    _data_dir: tempfile::TempDir,
    /// The PostgreSQL schema this run created (dropped again on stop).
    schema: Option<(String, String)>,
}

/// The `streamcart` binary next to this one (same cargo profile), or `$STREAMCART_BIN`.
pub fn server_binary() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("STREAMCART_BIN") {
        return Ok(PathBuf::from(path));
    }
    let me = std::env::current_exe()?;
    let path = me.with_file_name("streamcart");
    if !path.exists() {
        bail!("{} not found; build it first (cargo build --release --bin streamcart)", path.display());
    }
    Ok(path)
}

impl Server {
    pub async fn start(backend: Backend, deps: &Deps) -> anyhow::Result<Server> {
        Server::start_with(backend, deps, "").await
    }

    /// `extra`: more configuration lines, appended inside the `streamcart` section
    /// right after its `sfu` map: indented four spaces they add to `streamcart.sfu`,
    /// two spaces start another `streamcart` key (e.g. `admission`).
    pub async fn start_with(backend: Backend, deps: &Deps, extra: &str) -> anyhow::Result<Server> {
        let data_dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut config = format!("bind_addresses: [\"127.0.0.1\"]\nrtc:\n  udp_port: 0\nstreamcart:\n  sfu:\n    max_viewers_per_room: 100000\n{extra}");
        let mut schema = None;
        let mut command = crate::callgrind::command(&server_binary()?);
        if backend != Backend::Sqlite {
            let base = deps.postgres.as_deref().context("no PostgreSQL URL")?;
            let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx_connect(base).await?;
            sqlx::query(&format!("CREATE SCHEMA {name}")).execute(&mut conn).await?;
            let sep = if base.contains('?') { '&' } else { '?' };
            command.arg("--database-url").arg(format!("{base}{sep}options=-c%20search_path%3D{name}"));
            config.push_str("  database_max_connections: 16\n");
            schema = Some((base.to_string(), name));
        }
        if backend == Backend::PostgresRedis {
            command.arg("--redis-url").arg(deps.redis.as_deref().context("no Redis URL")?);
            config.push_str(&format!("  redis_prefix: \"bench:{}:\"\n", uuid::Uuid::new_v4().simple()));
        }
        let config_path = data_dir.path().join("bench.yaml");
        std::fs::write(&config_path, config)?;
        command
            .arg("--config")
            .arg(&config_path)
            .args(["--port", &port.to_string(), "--data-dir"])
            .arg(data_dir.path())
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = command.spawn().context("starting streamcart")?;
        let pid = child.id();
        let server = Server { child, url: format!("http://127.0.0.1:{port}"), pid, _data_dir: data_dir, schema };
        let client = reqwest::Client::new();
        // Under valgrind the binary starts an order of magnitude slower.
        let patience = if crate::callgrind::enabled() { 180 } else { 30 };
        let deadline = Instant::now() + Duration::from_secs(patience);
        while Instant::now() < deadline {
            if client.get(format!("{}/health/live", server.url)).send().await.is_ok_and(|r| r.status() == 200) {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the server did not answer /health/live within {patience} s")
    }

    pub fn cpu(&self) -> CpuMark {
        CpuMark::of(self.pid)
    }

    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid)
    }

    /// Stops the server and drops the schema this run created.
    pub async fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some((base, name)) = self.schema.take() {
            if let Ok(mut conn) = sqlx_connect(&base).await {
                let _ = sqlx::query(&format!("DROP SCHEMA {name} CASCADE")).execute(&mut conn).await;
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of a process in clock ticks (USER_HZ = 100 on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

/// A process's CPU time at an instant; `percent_since` gives % of one core.
#[derive(Clone, Copy)]
pub struct CpuMark {
    pid: u32,
    ticks: u64,
    at: Instant,
}

impl CpuMark {
    pub fn of(pid: u32) -> CpuMark {
        CpuMark { pid, ticks: cpu_ticks(pid), at: Instant::now() }
    }

    pub fn me() -> CpuMark {
        CpuMark::of(std::process::id())
    }

    pub fn percent_since(&self) -> f64 {
        let secs = self.at.elapsed().as_secs_f64().max(1e-3);
        100.0 * (cpu_ticks(self.pid).saturating_sub(self.ticks)) as f64 / 100.0 / secs
    }
}

/// The 1-minute load average, to print beside every table.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").ok().and_then(|l| l.split_whitespace().next().map(str::to_string)).unwrap_or_default()
}
