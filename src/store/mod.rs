//! The durable store: one repository API over SQLite (embedded default) and
//! PostgreSQL, through sqlx's `Any` driver so every query is written once.
//!
//! Portability rules the queries follow: `$1` placeholders (both engines accept
//! them), ids are UUID text, instants are `BIGINT` unix milliseconds, money is
//! `BIGINT` minor units, flags are integers. Where the engines differ (full-text
//! search), the repository branches on [`Backend`].
//!
//! SQLite allows one writer at a time, so its writes go through a pool of one
//! connection (no `SQLITE_BUSY` under contention) while reads use a separate
//! pool; on PostgreSQL both are the same pool.

mod rooms;
mod sessions;
mod setup;
mod shops;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use rooms::{NewRoom, RoomRights, RoomRow};
pub use sessions::{RefreshOutcome, SessionRow};
pub use setup::SetupTokenOutcome;
pub use shops::{MembershipRow, ShopRole, ShopRow};
pub use users::{NewUser, UserRow};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database did not answer (down, restarting, pool exhausted).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("unique constraint violated: {0}")]
    UniqueViolation(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::UniqueViolation(db.constraint().unwrap_or(db.message()).to_string())
            }
            sqlx::Error::Database(db) if is_connection_lost(db.code().as_deref()) => {
                StoreError::Unavailable(sqlx::Error::Database(db))
            }
            other => StoreError::Database(other),
        }
    }
}

/// PostgreSQL SQLSTATE classes 08 (connection exception) and 57P0x (shutdown).
fn is_connection_lost(code: Option<&str>) -> bool {
    matches!(code, Some(c) if c.starts_with("08") || c.starts_with("57P0"))
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    reader: AnyPool,
    writer: AnyPool,
}

static INSTALL_DRIVERS: Once = Once::new();

impl Store {
    /// Opens the SQLite file `streamcart.db` under `data_dir`.
    pub async fn open_sqlite(data_dir: &Path) -> StoreResult<Store> {
        let path = data_dir.join("streamcart.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Store::connect(&url, 4).await
    }

    /// Connects to `postgres://…` or `sqlite:…` and runs the migrations.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Store> {
        INSTALL_DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        let options = AnyConnectOptions::from_str(url)?;
        let store = match backend {
            Backend::Sqlite => {
                let writer = sqlite_pool(1).connect_with(options.clone()).await?;
                let reader = sqlite_pool(max_connections.max(1)).connect_with(options).await?;
                Store { backend, reader, writer }
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(max_connections.max(2))
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await?;
                Store { backend, reader: pool.clone(), writer: pool }
            }
        };
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Pool for reads. On SQLite it never blocks behind the writer (WAL).
    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// Pool for writes and read-modify-write transactions.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    async fn migrate(&self) -> StoreResult<()> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.writer).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&self.writer).await?,
        }
        Ok(())
    }

    /// Closes every connection; later queries fail with `StoreError::Unavailable`.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Round-trips a trivial query on both pools; used by readiness.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        if self.backend == Backend::Sqlite {
            sqlx::query("SELECT 1").execute(&self.writer).await?;
        }
        Ok(())
    }
}

fn sqlite_pool(max_connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // WAL lets readers run beside the single writer; FULL makes every
                // committed transaction durable before we acknowledge it.
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = FULL").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                Ok(())
            })
        })
}

/// Milliseconds since the Unix epoch: the one representation of instants in the store.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
