//! Settings: defaults, then a TOML file, then `SCIMLEDGER_*` environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use bus::nats::{RelaySettings, StreamSettings};
use scim::cursor::CursorKey;
use scim::limits::Limits;
use serde::Deserialize;
use store::shred::master::KeyFile;
use store::{Backend, DatabaseUrl};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// What a group PATCH answers when the request names no attributes (ADR 0031).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupPatchResponse {
    /// 204 No Content: the resource would list every member.
    NoContent,
    /// 200 with the resource, for clients that insist on it.
    Resource,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server binds (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// `postgres://…`; absent means the embedded SQLite file in `data_dir`. Its password
    /// never shows in Debug output or logs.
    pub database_url: Option<DatabaseUrl>,
    pub data_dir: PathBuf,
    /// PostgreSQL connections in the pool.
    pub pool_size: usize,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Largest resource, serialized and `members` aside; larger ones get 413 before anything
    /// is appended (docs/scim.md, Limits).
    pub max_resource_bytes: usize,
    /// What a PATCH /Groups/{id} without `attributes`/`excludedAttributes` answers.
    pub group_patch_response: GroupPatchResponse,
    /// The externally visible origin (`https://scim.example.com`), for `meta.location` and the
    /// base URLs the CLI prints. Defaults to `http://<Host header>`.
    pub public_url: Option<String>,
    pub log_format: LogFormat,
    /// Seconds a request may take before it is answered 503.
    pub request_timeout_secs: u64,
    /// Most operations in one /Bulk request (maxOperations); 0 turns /Bulk off.
    pub bulk_max_operations: usize,
    /// Largest /Bulk request body (maxPayloadSize), apart from `max_body_bytes`.
    pub bulk_max_payload_bytes: usize,
    /// `nats://…` (or several, comma-separated, for a cluster): events also go to NATS JetStream
    /// (the relay runs in `serve`).
    pub nats_url: Option<String>,
    /// The JetStream stream, created or updated at start-up.
    pub nats_stream: String,
    pub nats_subjects: Vec<String>,
    pub nats_replicas: usize,
    pub nats_max_age_secs: u64,
    /// Must outlast a relay's restart: re-publishes within it are dropped by JetStream.
    pub nats_duplicate_window_secs: u64,
    /// How often the relay saves its checkpoint; 0 saves after every batch.
    pub relay_checkpoint_ms: u64,
    /// How long an OAuth access token from `/oauth/{tenant}/token` lives.
    pub oauth_token_ttl_secs: u64,
    /// How long an authorization code from `/oauth/{tenant}/authorize` may be exchanged.
    pub oauth_code_ttl_secs: u64,
    /// The key that seals list cursors (64 hex digits), the same on every server of the
    /// deployment; absent, one is made and kept in the database (ADR 0045).
    #[serde(deserialize_with = "cursor_key")]
    pub cursor_key: Option<CursorKey>,
    /// Where `/metrics` (Prometheus text) is served, apart from the API; unset serves none.
    pub metrics_listen: Option<SocketAddr>,
    /// How many tenants get a `tenant` label of their own in the request metrics.
    pub metrics_tenant_labels: usize,
    /// Where the enrollment mailer sends (`smtp://host:port`, `smtps://`, `?tls=required` for
    /// STARTTLS, `user:password@`); unset, the mailer waits with its events in the log.
    pub smtp_url: Option<SmtpUrl>,
    /// The file holding the master key that wraps every user's data key (64 hex digits,
    /// ADR 0069). Unset: `<data_dir>/master.key`, made at the first start (mode 0600); every
    /// server of a PostgreSQL deployment must then be given the same file.
    pub master_key_file: Option<PathBuf>,
    /// The enrollment emails' sender.
    pub mail_from: String,
    /// How long an enrollment link works.
    pub enrollment_ttl_secs: u64,
}

/// An SMTP URL, whose password never shows in Debug output or logs.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.0.split("://").next().unwrap_or("smtp");
        write!(f, "{scheme}://…")
    }
}

fn cursor_key<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<CursorKey>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    text.map(|t| CursorKey::from_hex(&t).map_err(serde::de::Error::custom)).transpose()
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            data_dir: PathBuf::from("data"),
            pool_size: 16,
            max_body_bytes: 1024 * 1024,
            max_resource_bytes: scim::limits::DEFAULT_MAX_RESOURCE_BYTES,
            group_patch_response: GroupPatchResponse::NoContent,
            public_url: None,
            log_format: LogFormat::Text,
            request_timeout_secs: 30,
            bulk_max_operations: 1000,
            bulk_max_payload_bytes: 1024 * 1024,
            nats_url: None,
            nats_stream: "SCIMLEDGER".to_owned(),
            nats_subjects: vec![format!("{}.>", bus::subject::PREFIX)],
            nats_replicas: 1,
            nats_max_age_secs: 7 * 24 * 3600,
            nats_duplicate_window_secs: 600,
            relay_checkpoint_ms: 1000,
            oauth_token_ttl_secs: 3600,
            oauth_code_ttl_secs: 60,
            cursor_key: None,
            metrics_listen: None,
            metrics_tenant_labels: telemetry::tenants::DEFAULT_LIMIT,
            smtp_url: None,
            master_key_file: None,
            mail_from: "scimledger <noreply@localhost>".to_owned(),
            enrollment_ttl_secs: 7 * 24 * 3600,
        }
    }
}

impl Settings {
    /// Loads the settings: `file` (or `SCIMLEDGER_CONFIG`) over the defaults, then the
    /// environment over both.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let env_file = std::env::var_os("SCIMLEDGER_CONFIG").map(PathBuf::from);
        let mut settings = match file.map(Path::to_path_buf).or(env_file) {
            Some(path) => {
                let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => Settings::default(),
        };
        settings.apply_env(|name| std::env::var(name).ok())?;
        Ok(settings)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        fn parse<T: std::str::FromStr>(name: &str, value: String) -> anyhow::Result<T>
        where
            T::Err: std::fmt::Display,
        {
            value.parse().map_err(|e| anyhow::anyhow!("{name}={value:?}: {e}"))
        }
        if let Some(v) = var("SCIMLEDGER_LISTEN") {
            self.listen = parse("SCIMLEDGER_LISTEN", v)?;
        }
        if let Some(v) = var("SCIMLEDGER_DATABASE_URL") {
            self.database_url = Some(v).filter(|v| !v.is_empty()).map(DatabaseUrl::new);
        }
        if let Some(v) = var("SCIMLEDGER_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = var("SCIMLEDGER_POOL_SIZE") {
            self.pool_size = parse("SCIMLEDGER_POOL_SIZE", v)?;
        }
        if let Some(v) = var("SCIMLEDGER_MAX_BODY_BYTES") {
            self.max_body_bytes = parse("SCIMLEDGER_MAX_BODY_BYTES", v)?;
        }
        if let Some(v) = var("SCIMLEDGER_MAX_RESOURCE_BYTES") {
            self.max_resource_bytes = parse("SCIMLEDGER_MAX_RESOURCE_BYTES", v)?;
        }
        if let Some(v) = var("SCIMLEDGER_GROUP_PATCH_RESPONSE") {
            self.group_patch_response = match v.as_str() {
                "no-content" => GroupPatchResponse::NoContent,
                "resource" => GroupPatchResponse::Resource,
                other => bail!("SCIMLEDGER_GROUP_PATCH_RESPONSE={other:?}: use no-content or resource"),
            };
        }
        if let Some(v) = var("SCIMLEDGER_PUBLIC_URL") {
            self.public_url = Some(v.trim_end_matches('/').to_owned()).filter(|v| !v.is_empty());
        }
        if let Some(v) = var("SCIMLEDGER_LOG_FORMAT") {
            self.log_format = match v.as_str() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                other => bail!("SCIMLEDGER_LOG_FORMAT={other:?}: use text or json"),
            };
        }
        if let Some(v) = var("SCIMLEDGER_REQUEST_TIMEOUT_SECS") {
            self.request_timeout_secs = parse("SCIMLEDGER_REQUEST_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = var("SCIMLEDGER_BULK_MAX_OPERATIONS") {
            self.bulk_max_operations = parse("SCIMLEDGER_BULK_MAX_OPERATIONS", v)?;
        }
        if let Some(v) = var("SCIMLEDGER_BULK_MAX_PAYLOAD_BYTES") {
            self.bulk_max_payload_bytes = parse("SCIMLEDGER_BULK_MAX_PAYLOAD_BYTES", v)?;
        }
        if let Some(v) = var("SCIMLEDGER_NATS_URL") {
            self.nats_url = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = var("SCIMLEDGER_NATS_STREAM") {
            self.nats_stream = v;
        }
        if let Some(v) = var("SCIMLEDGER_NATS_SUBJECTS") {
            self.nats_subjects = v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
        }
        if let Some(v) = var("SCIMLEDGER_NATS_REPLICAS") {
            self.nats_replicas = parse("SCIMLEDGER_NATS_REPLICAS", v)?;
        }
        if let Some(v) = var("SCIMLEDGER_NATS_MAX_AGE_SECS") {
            self.nats_max_age_secs = parse("SCIMLEDGER_NATS_MAX_AGE_SECS", v)?;
        }
        if let Some(v) = var("SCIMLEDGER_NATS_DUPLICATE_WINDOW_SECS") {
            self.nats_duplicate_window_secs = parse("SCIMLEDGER_NATS_DUPLICATE_WINDOW_SECS", v)?;
        }
        if let Some(v) = var("SCIMLEDGER_RELAY_CHECKPOINT_MS") {
            self.relay_checkpoint_ms = parse("SCIMLEDGER_RELAY_CHECKPOINT_MS", v)?;
        }
        if let Some(v) = var("SCIMLEDGER_OAUTH_TOKEN_TTL_SECS") {
            self.oauth_token_ttl_secs = parse("SCIMLEDGER_OAUTH_TOKEN_TTL_SECS", v)?;
        }
        if let Some(v) = var("SCIMLEDGER_OAUTH_CODE_TTL_SECS") {
            self.oauth_code_ttl_secs = parse("SCIMLEDGER_OAUTH_CODE_TTL_SECS", v)?;
        }
        if let Some(v) = var("SCIMLEDGER_CURSOR_KEY") {
            // The value is a secret: the error names the variable, never what it holds.
            self.cursor_key = Some(CursorKey::from_hex(&v).map_err(|e| anyhow::anyhow!("SCIMLEDGER_CURSOR_KEY: {e}"))?);
        }
        if let Some(v) = var("SCIMLEDGER_METRICS_LISTEN") {
            self.metrics_listen = if v.is_empty() { None } else { Some(parse("SCIMLEDGER_METRICS_LISTEN", v)?) };
        }
        if let Some(v) = var("SCIMLEDGER_METRICS_TENANT_LABELS") {
            self.metrics_tenant_labels = parse("SCIMLEDGER_METRICS_TENANT_LABELS", v)?;
        }
        if let Some(v) = var("SCIMLEDGER_SMTP_URL") {
            self.smtp_url = Some(v).filter(|v| !v.is_empty()).map(SmtpUrl);
        }
        if let Some(v) = var("SCIMLEDGER_MASTER_KEY_FILE") {
            self.master_key_file = Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        if let Some(v) = var("SCIMLEDGER_MAIL_FROM") {
            self.mail_from = v;
        }
        if let Some(v) = var("SCIMLEDGER_ENROLLMENT_TTL_SECS") {
            self.enrollment_ttl_secs = parse("SCIMLEDGER_ENROLLMENT_TTL_SECS", v)?;
        }
        Ok(())
    }

    pub fn backend(&self) -> anyhow::Result<Backend> {
        Ok(match &self.database_url {
            Some(url) if url.expose().starts_with("postgres://") || url.expose().starts_with("postgresql://") => {
                Backend::Postgres { url: url.clone(), pool_size: self.pool_size }
            }
            Some(_) => bail!("SCIMLEDGER_DATABASE_URL must be a postgres:// URL (leave it unset for the embedded database)"),
            None => Backend::Sqlite { data_dir: self.data_dir.clone() },
        })
    }

    /// The store with user events' personal fields encrypted under the master keys (ADR 0068,
    /// 0069), once they are checked against the database.
    pub async fn open_store(&self, options: &store::Options) -> anyhow::Result<std::sync::Arc<dyn store::Store>> {
        self.open_store_with(options, self.master_keys()?).await
    }

    /// The master keys: the file configured, else one beside the embedded database, made if missing.
    pub fn master_keys(&self) -> anyhow::Result<std::sync::Arc<KeyFile>> {
        let keys = match &self.master_key_file {
            Some(path) => KeyFile::open(path)?,
            None => {
                if matches!(self.backend()?, Backend::Postgres { .. }) {
                    tracing::warn!("SCIMLEDGER_MASTER_KEY_FILE is not set: using one beside data_dir; every server must share it");
                }
                std::fs::create_dir_all(&self.data_dir).with_context(|| format!("creating {}", self.data_dir.display()))?;
                KeyFile::open_or_create(&self.data_dir.join(store::shred::master::DEFAULT_FILE))?
            }
        };
        Ok(std::sync::Arc::new(keys))
    }

    /// [`Self::open_store`] with these master keys.
    pub async fn open_store_with(
        &self,
        options: &store::Options,
        keys: std::sync::Arc<KeyFile>,
    ) -> anyhow::Result<std::sync::Arc<dyn store::Store>> {
        let backend = self.backend()?;
        let inner = store::open_with(&backend, options).await.with_context(|| format!("opening the {}", backend.describe()))?;
        Ok(std::sync::Arc::new(store::shred::Shredding::open(inner, keys).await?))
    }

    /// No statement outlives the request it serves.
    pub fn store_options(&self) -> store::Options {
        store::Options { statement_timeout: Duration::from_secs(self.request_timeout_secs) }
    }

    /// The relay's settings, when a NATS URL is configured.
    pub fn relay(&self) -> Option<RelaySettings> {
        let url = self.nats_url.clone()?;
        Some(RelaySettings {
            url,
            stream: StreamSettings {
                name: self.nats_stream.clone(),
                subjects: self.nats_subjects.clone(),
                replicas: self.nats_replicas,
                max_age: Duration::from_secs(self.nats_max_age_secs),
                duplicate_window: Duration::from_secs(self.nats_duplicate_window_secs),
            },
            checkpoint_every: Duration::from_millis(self.relay_checkpoint_ms),
            max_resource_bytes: self.max_resource_bytes,
        })
    }

    /// The limits of `scim::limits` that are settings.
    pub fn limits(&self) -> Limits {
        Limits { max_resource_bytes: self.max_resource_bytes }
    }

    /// The origin clients reach this server at, when configured.
    pub fn public_origin(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.listen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn environment_overrides_file_and_defaults() {
        let mut settings: Settings = toml::from_str("listen = \"0.0.0.0:9000\"\npool_size = 4").unwrap();
        let env = HashMap::from([("SCIMLEDGER_POOL_SIZE", "8"), ("SCIMLEDGER_DATABASE_URL", "postgres://x@h/db")]);
        settings.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(settings.listen.port(), 9000);
        assert_eq!(settings.pool_size, 8);
        assert!(matches!(settings.backend().unwrap(), Backend::Postgres { pool_size: 8, .. }));
    }

    #[test]
    fn bulk_limits_default_to_the_documented_values_and_follow_the_environment() {
        let mut settings = Settings::default();
        assert_eq!((settings.bulk_max_operations, settings.bulk_max_payload_bytes), (1000, 1024 * 1024));
        let env = HashMap::from([("SCIMLEDGER_BULK_MAX_OPERATIONS", "50"), ("SCIMLEDGER_BULK_MAX_PAYLOAD_BYTES", "65536")]);
        settings.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!((settings.bulk_max_operations, settings.bulk_max_payload_bytes), (50, 65536));
        let from_file: Settings = toml::from_str("bulk_max_operations = 0").unwrap();
        assert_eq!(from_file.bulk_max_operations, 0);
    }

    #[test]
    fn a_nats_url_turns_the_relay_on() {
        assert!(Settings::default().relay().is_none());
        let env = HashMap::from([
            ("SCIMLEDGER_NATS_URL", "nats://127.0.0.1:4222"),
            ("SCIMLEDGER_NATS_SUBJECTS", "scimledger.acme.>, scimledger.beta.>"),
            ("SCIMLEDGER_NATS_DUPLICATE_WINDOW_SECS", "900"),
        ]);
        let mut settings = Settings::default();
        settings.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        let relay = settings.relay().unwrap();
        assert_eq!(relay.stream.subjects, ["scimledger.acme.>", "scimledger.beta.>"]);
        assert_eq!(relay.stream.duplicate_window, Duration::from_secs(900));
        assert_eq!((relay.stream.name.as_str(), relay.job()), ("SCIMLEDGER", "nats-relay:SCIMLEDGER".to_owned()));
    }

    #[test]
    fn the_database_password_never_shows_in_debug_output() {
        let env = HashMap::from([("SCIMLEDGER_DATABASE_URL", "postgres://app:s3cr%2Ft@db.internal:5432/scim?sslmode=require")]);
        let mut settings = Settings::default();
        settings.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        let shown = format!("{settings:?} {}", settings.database_url.as_ref().unwrap());
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(shown.contains("postgres://app:***@db.internal:5432/scim?sslmode=require"), "{shown}");
        let backend = settings.backend().unwrap();
        assert!(!format!("{backend:?}").contains("s3cr"), "{backend:?}");
        assert!(matches!(backend, Backend::Postgres { url, .. } if url.expose().contains("s3cr%2Ft")));
    }

    #[test]
    fn the_resource_size_limit_defaults_to_256_kib_and_follows_the_environment() {
        let mut settings = Settings::default();
        assert_eq!(settings.limits().max_resource_bytes, 256 * 1024);
        settings.apply_env(|k| (k == "SCIMLEDGER_MAX_RESOURCE_BYTES").then(|| "4096".to_owned())).unwrap();
        assert_eq!(settings.limits(), Limits { max_resource_bytes: 4096 });
    }

    #[test]
    fn group_patches_answer_no_content_unless_set_otherwise() {
        let mut settings = Settings::default();
        assert_eq!(settings.group_patch_response, GroupPatchResponse::NoContent);
        settings.apply_env(|k| (k == "SCIMLEDGER_GROUP_PATCH_RESPONSE").then(|| "resource".to_owned())).unwrap();
        assert_eq!(settings.group_patch_response, GroupPatchResponse::Resource);
        let from_file: Settings = toml::from_str("group_patch_response = \"resource\"").unwrap();
        assert_eq!(from_file.group_patch_response, GroupPatchResponse::Resource);
        assert!(settings.apply_env(|k| (k == "SCIMLEDGER_GROUP_PATCH_RESPONSE").then(|| "200".to_owned())).is_err());
    }

    #[test]
    fn a_cursor_key_comes_as_hex_and_is_never_shown() {
        let hex = "0f".repeat(32);
        let from_file: Settings = toml::from_str(&format!("cursor_key = \"{hex}\"")).unwrap();
        assert_eq!(from_file.cursor_key, Some(CursorKey::from_hex(&hex).unwrap()));
        assert!(!format!("{from_file:?}").contains(&hex));
        let mut settings = Settings::default();
        let err = settings.apply_env(|k| (k == "SCIMLEDGER_CURSOR_KEY").then(|| "secretish".to_owned())).unwrap_err();
        assert!(err.to_string().contains("SCIMLEDGER_CURSOR_KEY") && !err.to_string().contains("secretish"), "{err}");
        assert!(toml::from_str::<Settings>("cursor_key = \"abc\"").is_err());
    }

    #[test]
    fn metrics_are_served_only_where_asked() {
        assert_eq!(Settings::default().metrics_listen, None);
        let env = HashMap::from([("SCIMLEDGER_METRICS_LISTEN", "0.0.0.0:9464"), ("SCIMLEDGER_METRICS_TENANT_LABELS", "500")]);
        let mut settings = Settings::default();
        settings.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(settings.metrics_listen, Some(SocketAddr::from(([0, 0, 0, 0], 9464))));
        assert_eq!(settings.metrics_tenant_labels, 500);
    }

    #[test]
    fn no_database_url_means_the_embedded_file() {
        assert!(matches!(Settings::default().backend().unwrap(), Backend::Sqlite { .. }));
    }

    #[test]
    fn bad_values_are_named() {
        let err = Settings::default().apply_env(|k| (k == "SCIMLEDGER_LISTEN").then(|| "nowhere".to_owned())).unwrap_err();
        assert!(err.to_string().contains("SCIMLEDGER_LISTEN"));
    }
}
