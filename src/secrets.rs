//! Secrets generated on first run and kept in the data dir (mode 0600): the JWT
//! signing key and, when `livekit.yaml` configures no `keys:`, one API key pair.
//! Nothing is ever hard-coded.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::distributions::Alphanumeric;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

pub const SECRETS_FILE: &str = "secrets.json";

#[derive(Clone, Serialize, Deserialize)]
pub struct Secrets {
    /// HMAC key for our access tokens (hex, 64 bytes of entropy).
    pub jwt_signing_key: String,
    /// LiveKit-style API keys generated for this install (used only if none configured).
    #[serde(default)]
    pub api_keys: BTreeMap<String, String>,
    /// HMAC key payment webhooks are signed with (hex); generated when missing.
    #[serde(default)]
    pub payment_webhook_secret: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").field("api_keys", &self.api_keys.keys().collect::<Vec<_>>()).finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot create data dir {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("cannot read or write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid secrets file ({source}); move it away to generate new secrets")]
    Corrupt { path: PathBuf, source: serde_json::Error },
}

impl Secrets {
    /// Loads `secrets.json` from `data_dir`, generating it (0600) on first run.
    /// `need_api_key` generates an API key pair if the file has none.
    pub fn load_or_create(data_dir: &Path, need_api_key: bool) -> Result<Secrets, SecretsError> {
        fs::create_dir_all(data_dir).map_err(|source| SecretsError::DataDir { path: data_dir.into(), source })?;
        let path = data_dir.join(SECRETS_FILE);
        let io = |source| SecretsError::Io { path: path.clone(), source };
        let mut secrets = match fs::read(&path) {
            Ok(bytes) => {
                let mode = fs::metadata(&path).map_err(io)?.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "secrets file was readable by others; tightening to 0600");
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io)?;
                }
                serde_json::from_slice(&bytes).map_err(|source| SecretsError::Corrupt { path: path.clone(), source })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Secrets {
                jwt_signing_key: random_hex(64),
                api_keys: BTreeMap::new(),
                payment_webhook_secret: String::new(),
            },
            Err(e) => return Err(io(e)),
        };
        let generate_key = need_api_key && secrets.api_keys.is_empty();
        if generate_key {
            secrets.api_keys.insert(format!("API{}", random_alphanumeric(12)), random_alphanumeric(48));
        }
        let generate_webhook_secret = secrets.payment_webhook_secret.is_empty();
        if generate_webhook_secret {
            secrets.payment_webhook_secret = random_hex(32);
        }
        if generate_key || generate_webhook_secret || !path.exists() {
            write_private(&path, &serde_json::to_vec_pretty(&secrets).map_err(|e| io(e.into()))?).map_err(io)?;
        }
        Ok(secrets)
    }
}

/// Writes via a 0600 temp file and an atomic rename, so a crash never leaves a torn file.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

pub fn random_alphanumeric(len: usize) -> String {
    rand::rngs::OsRng.sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_run_writes_a_private_file_and_second_run_reads_the_same_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let first = Secrets::load_or_create(dir.path(), true).unwrap();
        let mode = fs::metadata(dir.path().join(SECRETS_FILE)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let second = Secrets::load_or_create(dir.path(), true).unwrap();
        assert_eq!(first.jwt_signing_key, second.jwt_signing_key);
        assert_eq!(first.api_keys, second.api_keys);
        assert_eq!(first.api_keys.len(), 1);
    }

    #[test]
    fn no_api_key_is_generated_when_the_config_has_keys() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Secrets::load_or_create(dir.path(), false).unwrap();
        assert!(secrets.api_keys.is_empty());
        assert_eq!(secrets.jwt_signing_key.len(), 128);
    }
}
