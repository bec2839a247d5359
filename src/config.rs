//! Settings: `livekit.yaml` (LiveKit's format where the fields overlap, plus a
//! `streamcart:` section of our own), overlaid by environment, overlaid by CLI.
//!
//! Precedence, lowest first: built-in defaults, the YAML file, `DATABASE_URL` /
//! `REDIS_URL` / `STREAMCART_*` environment variables, command-line flags.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Everything the application needs to start. Built by [`Settings::load`] or,
/// in tests, by hand from [`Settings::for_data_dir`].
#[derive(Clone, Debug)]
pub struct Settings {
    pub bind_address: IpAddr,
    /// HTTP port (LiveKit's `port`); 0 picks a free port.
    pub http_port: u16,
    /// WebRTC UDP port (LiveKit's `rtc.udp_port`), used by the SFU.
    pub rtc_udp_port: u16,
    /// ICE-TCP port (LiveKit's `rtc.tcp_port`).
    pub rtc_tcp_port: u16,
    /// STUN servers advertised to WHIP/WHEP clients (LiveKit's `rtc.stun_servers`, `host:port`).
    pub rtc_stun_servers: Vec<String>,
    /// LiveKit-style API keys (`keys:`); empty means "generate one on first run".
    pub api_keys: BTreeMap<String, String>,
    pub data_dir: PathBuf,
    /// `None` selects the embedded SQLite store under `data_dir`.
    pub database_url: Option<String>,
    pub database_max_connections: u32,
    /// `None` keeps presence and reservations in process.
    pub redis_url: Option<String>,
    /// Prefix for every Redis key, so several deployments (or tests) can share a server.
    pub redis_prefix: String,
    pub auth: AuthSettings,
    pub max_body_bytes: usize,
    /// Trust `X-Forwarded-For` for the client address (only behind a proxy you run).
    pub trust_forwarded_for: bool,
    pub shop: ShopSettings,
    /// Viewers (WHEP sessions) one room accepts (`streamcart.sfu.max_viewers_per_room`).
    pub sfu_max_viewers_per_room: usize,
    /// A second WHIP publish replaces the room's publisher instead of a 409
    /// (`streamcart.sfu.replace_publisher`, default false).
    pub sfu_replace_publisher: bool,
    /// Most a publisher may send, in kbit/s over all its tracks (`streamcart.sfu.max_publisher_bitrate_kbps`,
    /// default 0: no cap).
    pub sfu_max_publisher_bitrate_kbps: u32,
    /// Record every publish under `<data_dir>/recordings` (`streamcart.sfu.record`, default false).
    pub sfu_record: bool,
    /// Threads besides the SFU driver that encrypt and send to WHEP viewers
    /// (`streamcart.sfu.egress_shards`, default: one fewer than the machine's cores).
    pub sfu_egress_shards: usize,
    /// Signaling hub limits (queues, heartbeats, session re-checks); defaults only for now.
    pub hub: crate::signaling::hub::ShellConfig,
    /// `None`: order emails go to the log.
    pub smtp: Option<SmtpSettings>,
    /// Origins whose pages may call `/api/` from a browser (CORS); empty: same origin only.
    pub cors_allowed_origins: Vec<String>,
    /// Load shedding and connection caps (`streamcart.admission`; src/admission).
    pub admission: crate::admission::AdmissionSettings,
    /// LiveKit webhooks (LiveKit's `webhook: {api_key, urls}`) and the RoomService's room mapping.
    pub livekit: LiveKitSettings,
}

#[derive(Clone, Debug, Default)]
pub struct LiveKitSettings {
    /// The API key whose secret signs webhooks (LiveKit's `webhook.api_key`); `None`: the first key.
    pub webhook_api_key: Option<String>,
    /// Where LiveKit webhooks go (LiveKit's `webhook.urls`); empty sends none.
    pub webhook_urls: Vec<String>,
    /// Slug of the shop that owns rooms created through the RoomService
    /// (`streamcart.livekit.default_shop`); `None`: the built-in "LiveKit API" shop.
    pub default_shop: Option<String>,
}

#[derive(Clone, Debug)]
pub struct AuthSettings {
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub login_attempts_per_ip_per_minute: u32,
    pub login_attempts_per_account_per_minute: u32,
}

#[derive(Clone, Debug)]
pub struct ShopSettings {
    /// ISO 4217 code used when a shop does not set its own.
    pub default_currency: String,
    /// The platform's commission on a completed order, in basis points (`streamcart.shop.platform_fee_bps`).
    pub platform_fee_bps: u32,
}

/// Outgoing email for order notifications (`streamcart.smtp`); without it
/// emails are written to the log.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct SmtpSettings {
    pub host: String,
    /// Default 587 (STARTTLS); 465 uses implicit TLS; `tls: false` sends in clear (a local relay).
    pub port: Option<u16>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `From:` address, e.g. `Streamcart <orders@example.com>`.
    pub from: String,
    pub tls: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {source}")]
    Parse { path: PathBuf, source: serde_yaml::Error },
    #[error("invalid setting {field}: {message}")]
    Invalid { field: &'static str, message: String },
}

/// Values that can come from the environment or the command line.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub config_path: Option<PathBuf>,
    pub port: Option<u16>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
}

impl Settings {
    /// Defaults for a data directory, no file, no environment: what tests start from.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Settings {
            bind_address: IpAddr::from([0, 0, 0, 0]),
            http_port: 7880,
            rtc_udp_port: 7882,
            rtc_tcp_port: 7881,
            rtc_stun_servers: Vec::new(),
            api_keys: BTreeMap::new(),
            data_dir: data_dir.into(),
            database_url: None,
            database_max_connections: 10,
            redis_url: None,
            redis_prefix: "streamcart:".into(),
            auth: AuthSettings {
                access_token_ttl_secs: 15 * 60,
                refresh_token_ttl_secs: 30 * 24 * 3600,
                login_attempts_per_ip_per_minute: 20,
                login_attempts_per_account_per_minute: 5,
            },
            max_body_bytes: 1024 * 1024,
            trust_forwarded_for: false,
            sfu_max_viewers_per_room: 1000,
            sfu_replace_publisher: false,
            sfu_max_publisher_bitrate_kbps: 0,
            sfu_record: false,
            sfu_egress_shards: std::thread::available_parallelism().map_or(0, |n| n.get() - 1),
            shop: ShopSettings { default_currency: "USD".into(), platform_fee_bps: 500 },
            hub: Default::default(),
            smtp: None,
            admission: Default::default(),
            cors_allowed_origins: Vec::new(),
            livekit: LiveKitSettings::default(),
        }
    }

    /// Defaults, then the YAML file (if any), then the overrides.
    pub fn load(overrides: &Overrides) -> Result<Self, ConfigError> {
        let file = match &overrides.config_path {
            Some(path) => FileConfig::read(path)?,
            None => FileConfig::default(),
        };
        let data_dir = overrides
            .data_dir
            .clone()
            .or_else(|| file.streamcart.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("data"));
        let mut settings = Settings::for_data_dir(data_dir);
        file.apply_to(&mut settings)?;
        if let Some(port) = overrides.port {
            settings.http_port = port;
        }
        if let Some(url) = non_empty(&overrides.database_url) {
            settings.database_url = Some(url);
        }
        if let Some(url) = non_empty(&overrides.redis_url) {
            settings.redis_url = Some(url);
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Parses settings from YAML text (used by `load` and by the config fuzz target).
    pub fn from_yaml(text: &str, data_dir: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        let file: FileConfig = serde_yaml::from_str(text).map_err(|source| ConfigError::Parse {
            path: PathBuf::from("<inline>"),
            source,
        })?;
        let mut settings = Settings::for_data_dir(data_dir);
        file.apply_to(&mut settings)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.database_url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://") || url.starts_with("sqlite:")) {
                return Err(ConfigError::Invalid {
                    field: "database_url",
                    message: format!("expected a postgres:// or sqlite: URL, got {:?}", redact(url)),
                });
            }
        }
        if let Some(url) = &self.redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(ConfigError::Invalid {
                    field: "redis",
                    message: "expected a redis:// or rediss:// URL".into(),
                });
            }
        }
        if self.auth.login_attempts_per_ip_per_minute == 0 || self.auth.login_attempts_per_account_per_minute == 0 {
            return Err(ConfigError::Invalid {
                field: "auth.login_attempts_*",
                message: "login limits must be at least 1 per minute".into(),
            });
        }
        for url in &self.livekit.webhook_urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid { field: "webhook.urls", message: format!("{url:?} is not an http:// or https:// URL") });
            }
        }
        if let Some(key) = &self.livekit.webhook_api_key {
            if !self.api_keys.is_empty() && !self.api_keys.contains_key(key) {
                return Err(ConfigError::Invalid { field: "webhook.api_key", message: format!("{key:?} is not one of the keys: configured") });
            }
        }
        for (key, secret) in &self.api_keys {
            if secret.len() < 32 {
                return Err(ConfigError::Invalid {
                    field: "keys",
                    message: format!("the secret of API key {key:?} is shorter than 32 characters"),
                });
            }
        }
        Ok(())
    }
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value.as_ref().filter(|v| !v.trim().is_empty()).cloned()
}

/// A URL with its password replaced, safe for logs and error messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// The subset of `livekit.yaml` we read. Unknown fields are ignored so an
/// existing LiveKit config loads as is.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FileConfig {
    port: Option<u16>,
    bind_addresses: Vec<String>,
    rtc: RtcSection,
    keys: BTreeMap<String, String>,
    redis: RedisSection,
    webhook: WebhookSection,
    streamcart: StreamcartSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WebhookSection {
    api_key: Option<String>,
    urls: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LiveKitSection {
    default_shop: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RtcSection {
    udp_port: Option<u16>,
    tcp_port: Option<u16>,
    stun_servers: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RedisSection {
    address: Option<String>,
    username: Option<String>,
    password: Option<String>,
    db: Option<u32>,
    use_tls: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StreamcartSection {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_max_connections: Option<u32>,
    redis_prefix: Option<String>,
    max_body_bytes: Option<usize>,
    trust_forwarded_for: Option<bool>,
    auth: AuthSection,
    shop: ShopSection,
    sfu: SfuSection,
    smtp: Option<SmtpSettings>,
    livekit: LiveKitSection,
    admission: AdmissionSection,
    cors_allowed_origins: Vec<String>,
}

/// `streamcart.admission`: every field optional, defaults in `AdmissionSettings`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AdmissionSection {
    max_in_flight: Option<usize>,
    max_queued: Option<usize>,
    queue_timeout_ms: Option<u64>,
    retry_after_secs: Option<u64>,
    ws_max_connections: Option<usize>,
    ws_max_per_ip: Option<usize>,
    ws_max_per_room: Option<usize>,
}

impl AdmissionSection {
    fn apply_to(self, a: &mut crate::admission::AdmissionSettings) -> Result<(), ConfigError> {
        let positive = |field: &'static str, v: Option<usize>| match v {
            Some(0) => Err(ConfigError::Invalid { field, message: "must be at least 1".into() }),
            other => Ok(other),
        };
        if let Some(v) = positive("streamcart.admission.max_in_flight", self.max_in_flight)? {
            a.max_in_flight = v;
        }
        if let Some(v) = self.max_queued {
            a.max_queued = v;
        }
        if let Some(ms) = self.queue_timeout_ms {
            a.queue_timeout = std::time::Duration::from_millis(ms);
        }
        if let Some(v) = self.retry_after_secs {
            a.retry_after_secs = v.max(1);
        }
        if let Some(v) = positive("streamcart.admission.ws_max_connections", self.ws_max_connections)? {
            a.ws_max_connections = v;
        }
        if let Some(v) = positive("streamcart.admission.ws_max_per_ip", self.ws_max_per_ip)? {
            a.ws_max_per_ip = v;
        }
        if let Some(v) = positive("streamcart.admission.ws_max_per_room", self.ws_max_per_room)? {
            a.ws_max_per_room = v;
        }
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SfuSection {
    max_viewers_per_room: Option<usize>,
    replace_publisher: Option<bool>,
    max_publisher_bitrate_kbps: Option<u32>,
    record: Option<bool>,
    egress_shards: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AuthSection {
    access_token_ttl_secs: Option<u64>,
    refresh_token_ttl_secs: Option<u64>,
    login_attempts_per_ip_per_minute: Option<u32>,
    login_attempts_per_account_per_minute: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ShopSection {
    default_currency: Option<String>,
    platform_fee_bps: Option<u32>,
}

impl FileConfig {
    fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if text.trim().is_empty() {
            return Ok(FileConfig::default());
        }
        serde_yaml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    fn apply_to(self, s: &mut Settings) -> Result<(), ConfigError> {
        if let Some(port) = self.port {
            s.http_port = port;
        }
        if let Some(first) = self.bind_addresses.iter().find(|a| !a.is_empty()) {
            s.bind_address = first.parse().map_err(|_| ConfigError::Invalid {
                field: "bind_addresses",
                message: format!("{first:?} is not an IP address"),
            })?;
        }
        if let Some(port) = self.rtc.udp_port {
            s.rtc_udp_port = port;
        }
        if !self.rtc.stun_servers.is_empty() {
            s.rtc_stun_servers = self.rtc.stun_servers.clone();
        }
        if let Some(port) = self.rtc.tcp_port {
            s.rtc_tcp_port = port;
        }
        s.api_keys.extend(self.keys);
        if let Some(address) = self.redis.address.clone().filter(|a| !a.is_empty()) {
            s.redis_url = Some(self.redis.redis_url(&address));
        }
        s.livekit.webhook_api_key = self.webhook.api_key.filter(|k| !k.is_empty());
        s.livekit.webhook_urls = self.webhook.urls.into_iter().filter(|u| !u.trim().is_empty()).collect();
        let ours = self.streamcart;
        if let Some(slug) = ours.livekit.default_shop.clone().filter(|s| !s.is_empty()) {
            s.livekit.default_shop = Some(slug);
        }
        if let Some(url) = ours.database_url.filter(|u| !u.is_empty()) {
            s.database_url = Some(url);
        }
        if let Some(n) = ours.database_max_connections {
            s.database_max_connections = n.max(1);
        }
        if let Some(prefix) = ours.redis_prefix {
            s.redis_prefix = prefix;
        }
        if let Some(n) = ours.max_body_bytes {
            s.max_body_bytes = n;
        }
        if let Some(trust) = ours.trust_forwarded_for {
            s.trust_forwarded_for = trust;
        }
        if let Some(n) = ours.sfu.max_viewers_per_room {
            s.sfu_max_viewers_per_room = n;
        }
        ours.admission.apply_to(&mut s.admission)?;
        for origin in &ours.cors_allowed_origins {
            let valid = origin == "*" || ((origin.starts_with("https://") || origin.starts_with("http://")) && !origin.ends_with('/'));
            if !valid {
                return Err(ConfigError::Invalid {
                    field: "streamcart.cors_allowed_origins",
                    message: format!("{origin:?} is not an origin such as https://shop.example (scheme and host, no path)"),
                });
            }
        }
        s.cors_allowed_origins = ours.cors_allowed_origins;
        if let Some(replace) = ours.sfu.replace_publisher {
            s.sfu_replace_publisher = replace;
        }
        if let Some(kbps) = ours.sfu.max_publisher_bitrate_kbps {
            s.sfu_max_publisher_bitrate_kbps = kbps;
        }
        if let Some(record) = ours.sfu.record {
            s.sfu_record = record;
        }
        if let Some(n) = ours.sfu.egress_shards {
            if n > 64 {
                return Err(ConfigError::Invalid { field: "streamcart.sfu.egress_shards", message: format!("{n} is too many; at most 64 (one per core beyond the first is plenty)") });
            }
            s.sfu_egress_shards = n;
        }
        let auth = ours.auth;
        if let Some(v) = auth.access_token_ttl_secs {
            s.auth.access_token_ttl_secs = v;
        }
        if let Some(v) = auth.refresh_token_ttl_secs {
            s.auth.refresh_token_ttl_secs = v;
        }
        if let Some(v) = auth.login_attempts_per_ip_per_minute {
            s.auth.login_attempts_per_ip_per_minute = v;
        }
        if let Some(v) = auth.login_attempts_per_account_per_minute {
            s.auth.login_attempts_per_account_per_minute = v;
        }
        if let Some(currency) = ours.shop.default_currency {
            if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
                return Err(ConfigError::Invalid {
                    field: "streamcart.shop.default_currency",
                    message: format!("{currency:?} is not an ISO 4217 code such as USD"),
                });
            }
            s.shop.default_currency = currency;
        }
        if let Some(bps) = ours.shop.platform_fee_bps {
            if bps > 10_000 {
                return Err(ConfigError::Invalid { field: "streamcart.shop.platform_fee_bps", message: format!("{bps} is above 10000 (100 %)") });
            }
            s.shop.platform_fee_bps = bps;
        }
        if let Some(smtp) = ours.smtp.filter(|m| !m.host.trim().is_empty()) {
            if !smtp.from.contains('@') {
                return Err(ConfigError::Invalid { field: "streamcart.smtp.from", message: "the From address must be an email address".into() });
            }
            s.smtp = Some(smtp);
        }
        Ok(())
    }
}

impl RedisSection {
    fn redis_url(&self, address: &str) -> String {
        let scheme = if self.use_tls { "rediss" } else { "redis" };
        let auth = match (&self.username, &self.password) {
            (Some(user), Some(pass)) => format!("{user}:{pass}@"),
            (None, Some(pass)) => format!(":{pass}@"),
            _ => String::new(),
        };
        let db = self.db.map(|db| format!("/{db}")).unwrap_or_default();
        format!("{scheme}://{auth}{address}{db}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_livekit_yaml_sets_ports_keys_and_redis() {
        let yaml = "port: 9000\nrtc:\n  udp_port: 9002\n  tcp_port: 9001\n  use_external_ip: false\nkeys:\n  APIkey: 0123456789abcdef0123456789abcdef\nredis:\n  address: localhost:6379\n  db: 2\nlogging:\n  level: info\n";
        let s = Settings::from_yaml(yaml, "d").unwrap();
        assert_eq!((s.http_port, s.rtc_udp_port, s.rtc_tcp_port), (9000, 9002, 9001));
        assert_eq!(s.api_keys.get("APIkey").map(String::as_str), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(s.redis_url.as_deref(), Some("redis://localhost:6379/2"));
    }

    #[test]
    fn livekit_webhook_urls_and_key_are_read_as_livekit_writes_them() {
        let yaml = "keys:\n  APIkey: 0123456789abcdef0123456789abcdef\nwebhook:\n  api_key: APIkey\n  urls:\n    - https://example.com/lk\nstreamcart:\n  livekit:\n    default_shop: acme\n";
        let s = Settings::from_yaml(yaml, "d").unwrap();
        assert_eq!(s.livekit.webhook_urls, vec!["https://example.com/lk".to_string()]);
        assert_eq!(s.livekit.webhook_api_key.as_deref(), Some("APIkey"));
        assert_eq!(s.livekit.default_shop.as_deref(), Some("acme"));
    }

    #[test]
    fn a_webhook_api_key_that_is_not_configured_is_refused() {
        let yaml = "keys:\n  APIkey: 0123456789abcdef0123456789abcdef\nwebhook:\n  api_key: Other\n  urls: [\"http://x\"]\n";
        assert!(matches!(Settings::from_yaml(yaml, "d"), Err(ConfigError::Invalid { field: "webhook.api_key", .. })));
    }

    #[test]
    fn an_empty_config_keeps_livekit_default_ports() {
        let s = Settings::from_yaml("{}", "d").unwrap();
        assert_eq!((s.http_port, s.rtc_udp_port, s.rtc_tcp_port), (7880, 7882, 7881));
        assert!(s.database_url.is_none() && s.redis_url.is_none());
    }

    #[test]
    fn a_short_api_secret_is_refused() {
        let err = Settings::from_yaml("keys:\n  k: short\n", "d").unwrap_err();
        assert!(err.to_string().contains("shorter than 32"), "{err}");
    }

    #[test]
    fn the_streamcart_section_sets_admission_limits_and_refuses_a_zero_cap() {
        let yaml = "streamcart:\n  admission:\n    max_in_flight: 64\n    max_queued: 0\n    queue_timeout_ms: 250\n    ws_max_per_ip: 5\n    ws_max_per_room: 300\n";
        let a = Settings::from_yaml(yaml, "d").unwrap().admission;
        assert_eq!((a.max_in_flight, a.max_queued, a.ws_max_per_ip, a.ws_max_per_room), (64, 0, 5, 300));
        assert_eq!(a.queue_timeout, std::time::Duration::from_millis(250));
        let err = Settings::from_yaml("streamcart:\n  admission:\n    max_in_flight: 0\n", "d").unwrap_err();
        assert!(err.to_string().contains("max_in_flight"), "{err}");
    }

    #[test]
    fn the_sfu_section_sets_egress_shards_and_refuses_more_than_64() {
        let s = Settings::from_yaml("streamcart:\n  sfu:\n    egress_shards: 3\n", "d").unwrap();
        assert_eq!(s.sfu_egress_shards, 3);
        assert_eq!(Settings::from_yaml("streamcart:\n  sfu:\n    egress_shards: 0\n", "d").unwrap().sfu_egress_shards, 0);
        let err = Settings::from_yaml("streamcart:\n  sfu:\n    egress_shards: 65\n", "d").unwrap_err();
        assert!(err.to_string().contains("egress_shards"), "{err}");
    }

    #[test]
    fn cors_origins_must_be_bare_origins() {
        let s = Settings::from_yaml("streamcart:\n  cors_allowed_origins: [\"https://shop.example\"]\n", "d").unwrap();
        assert_eq!(s.cors_allowed_origins, ["https://shop.example"]);
        let err = Settings::from_yaml("streamcart:\n  cors_allowed_origins: [\"https://shop.example/path/\"]\n", "d").unwrap_err();
        assert!(err.to_string().contains("cors_allowed_origins"), "{err}");
    }

    #[test]
    fn redacting_a_url_hides_the_password() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }
}
