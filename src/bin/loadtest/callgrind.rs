//! `loadtest sfu --callgrind`: the server runs under `valgrind --tool=callgrind`
//! with instrumentation off until the measured window, so the window's
//! instruction count (repeatable on a shared machine, unlike CPU time) can be
//! divided by the datagrams the viewers received. Valgrind keeps the server's
//! pid, so `callgrind_control` finds it by pid.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, Context};

/// Where the dumps go, when the server is to run under callgrind.
static OUT_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Makes every server this run starts run under callgrind, dumping into `dir`.
pub fn enable(dir: PathBuf) -> anyhow::Result<()> {
    std::fs::create_dir_all(&dir)?;
    let _ = OUT_DIR.set(dir);
    Ok(())
}

pub fn enabled() -> bool {
    OUT_DIR.get().is_some()
}

/// `valgrind … <binary>` when enabled, else the binary itself.
pub fn command(binary: &Path) -> Command {
    match OUT_DIR.get() {
        Some(dir) => {
            let mut c = Command::new("valgrind");
            c.arg("--tool=callgrind")
                .arg("--instr-atstart=no")
                .arg(format!("--callgrind-out-file={}/callgrind.out.%p", dir.display()))
                .arg(binary);
            c
        }
        None => Command::new(binary),
    }
}

fn control(args: &[&str], pid: u32) -> anyhow::Result<()> {
    let status = Command::new("callgrind_control").args(args).arg(pid.to_string()).stdout(std::process::Stdio::null()).status().context("callgrind_control")?;
    if !status.success() {
        bail!("callgrind_control {args:?} failed");
    }
    Ok(())
}

/// Starts counting (the window begins).
pub fn start(pid: u32) -> anyhow::Result<()> {
    control(&["--zero"], pid)?;
    control(&["--instr=on"], pid)
}

/// Stops counting and returns the instructions executed since `start`.
pub fn stop(pid: u32) -> anyhow::Result<u64> {
    control(&["--dump=window"], pid)?;
    control(&["--instr=off"], pid)?;
    let dir = OUT_DIR.get().context("callgrind not enabled")?;
    // Dumps are `callgrind.out.<pid>.<n>`; the newest of this pid is the window's.
    let prefix = format!("callgrind.out.{pid}.");
    let newest = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let n: u32 = name.strip_prefix(&prefix)?.parse().ok()?;
            Some((n, e.path()))
        })
        .max_by_key(|(n, _)| *n)
        .context("no callgrind dump")?;
    let text = std::fs::read_to_string(&newest.1)?;
    let total = text
        .lines()
        .find_map(|l| l.strip_prefix("totals:").or_else(|| l.strip_prefix("summary:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no totals in the callgrind dump")?;
    Ok(total)
}
