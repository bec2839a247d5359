use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use streamcart::config::{Overrides, Settings};
use streamcart::{demo, telemetry, Application};

/// streamcart: live shopping in one binary (SFU, signaling hub, commerce).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// livekit.yaml-format config file (plus a `streamcart:` section).
    #[arg(long, env = "STREAMCART_CONFIG")]
    config: Option<PathBuf>,
    /// HTTP port (default 7880; 0 picks a free one).
    #[arg(long, env = "STREAMCART_PORT")]
    port: Option<u16>,
    /// Where the SQLite store and generated secrets live (default ./data).
    #[arg(long, env = "STREAMCART_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL; without it the embedded SQLite store is used.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Redis URL; without it presence and reservations stay in process.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Seed a demo shop with a seller, a moderator and a viewer (passwords printed once).
    #[arg(long)]
    demo: bool,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "STREAMCART_LOG_JSON")]
    log_json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init_tracing(cli.log_json);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let overrides = Overrides {
        config_path: cli.config,
        port: cli.port,
        data_dir: cli.data_dir,
        database_url: cli.database_url,
        redis_url: cli.redis_url,
    };
    let settings = Settings::load(&overrides)?;
    let currency = settings.shop.default_currency.clone();
    let app = Application::build(settings).await?;
    let url = app.http_url();
    let state = app.state();
    tracing::info!(
        store = state.store.backend().name(),
        presence = state.kv.backend_name(),
        "streamcart listening on {url}"
    );
    if let Some(token) = app.setup_token() {
        println!("\n  No admin account yet. Create it within 24 h at:\n    {url}/setup#token={token}\n");
    }
    if cli.demo {
        match demo::seed(&state.store, &currency).await? {
            Some(accounts) => {
                println!("\n  Demo shop seeded. These passwords are shown only now:");
                for a in accounts {
                    println!("    {:<10} {:<34} {}", a.role, a.email, a.password);
                }
                println!("  Go live as the seller at {url}/studio (room {}), watch and buy at {url}/live/{}.\n", demo::DEMO_ROOM, demo::DEMO_ROOM);
            }
            None => println!("\n  Demo shop already seeded; its passwords were printed on the first --demo run.\n"),
        }
    }
    app.run_until_stopped(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}
