//! Typed configuration: defaults, then an optional TOML file (`HUB_CONFIG`, default
//! `hub.toml` if present), then environment variables (`HUB_<KEY>`, nested with `__`, plus the
//! conventional `DATABASE_URL` and `REDIS_URL`). Validated once at start; every bad value is
//! reported with its own message.
//!
//! An unknown key in the file is an error (the file is ours, so a typo there is a mistake). An
//! unknown `HUB_*` variable is only a warning naming the closest setting: other programs share
//! the prefix (the GitHub CLI `hub` reads `HUB_PROTOCOL`, `HUB_VERBOSE`, …), and a machine
//! where one of them is configured must still be able to start the server.

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use hub_kernel::Secret;
use hub_kernel::pii::Pii;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// `Debug` is written out below: URLs in any setting print without their password.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// PostgreSQL URL; absent means the embedded SQLite data plane.
    pub database_url: Option<String>,
    /// The key store: a database apart from the data, holding the wrapped tenant keys, so a
    /// backup of the data never carries them (`postgres://…` or `sqlite://<file>`). Unset:
    /// database `<database_url's name>_keys` on the same PostgreSQL server (created on first
    /// start), or `<data_dir>/keys.db` for the embedded data plane. Back it up apart.
    pub key_database_url: Option<String>,
    /// Pool size per PostgreSQL cluster.
    pub database_max_connections: u32,
    /// Lanes (small pools) each cluster's connections are split into; a tenant's work runs
    /// on two of them, so each PostgreSQL backend caches the catalogs of fewer tenants.
    pub database_lanes: u32,
    /// Further PostgreSQL clusters for tenant schemas, by name (`HUB_CLUSTERS__<NAME>=url`).
    /// The primary cluster (`database_url`) is always there under the name `primary`.
    pub clusters: BTreeMap<String, String>,
    /// Where new tenants are placed unless the operator names a cluster.
    pub default_cluster: String,
    /// Redis URL; absent means in-process rate limiting.
    pub redis_url: Option<String>,
    /// Where the embedded data plane keeps its files (and a development KEK if none is set).
    pub data_dir: PathBuf,
    /// Key-encryption key as 64 hex characters or base64 (development; prefer `kek_file`).
    pub kek: Option<Secret>,
    /// File holding the key-encryption key.
    pub kek_file: Option<PathBuf>,
    /// `text` or `json` log lines.
    pub log_format: String,
    /// `tracing` filter, e.g. `info` or `hub_gateway=debug,info`.
    pub log_level: String,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// Requests per minute per API key.
    pub rate_limit_per_key: u64,
    /// Requests per minute per client IP.
    pub rate_limit_per_ip: u64,
    /// How often each replica sends its rate-limit counts to Redis and learns the shared
    /// totals, in milliseconds; 0 = on every request (exact across replicas, slower).
    pub rate_limit_sync_ms: u64,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// TLS certificate chain (PEM); with `tls_key_file`, serves HTTPS and sends HSTS.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// The URL clients and identity providers reach this service at (SSO callbacks are built
    /// from it). Defaults to `http(s)://<listen>`.
    pub public_url: Option<String>,
    /// Absolute lifetime of a signed-in person's session, in seconds.
    pub session_lifetime_secs: u64,
    /// Tolerated clock difference with identity providers for token times, in seconds.
    pub sso_clock_skew_secs: u64,
    /// How often due deadlines (access reviews) are swept, in seconds.
    pub deadline_sweep_secs: u64,
    /// How often each institution's retention profile is applied (the sweeper's due
    /// period), in seconds; 0 switches the scheduled sweep off (`hub retention run` and
    /// `POST /v1/privacy/retention-runs` still run it).
    pub retention_sweep_secs: u64,
    /// The pause between two steps (one source and category) of a retention run, so a sweep
    /// leaves room for serving traffic.
    pub retention_batch_pause_ms: u64,
    /// Drills and tests only: the sweeper applies the profile as if this many seconds later
    /// than the wall clock (ages data without waiting). 0 in production.
    pub retention_clock_offset_secs: i64,
    /// How long a retention run's lease lasts unless renewed (at every step); a run whose
    /// process died is resumed by another once it lapses.
    pub retention_lease_secs: u64,
    /// Drills only: a retention run stops after this many steps as if its process had died
    /// (0: never).
    pub retention_stop_after_steps: u64,
    /// DNS server (`ip:port`, UDP) for verifying institutions' email domains; unset means
    /// Cloudflare's public resolvers.
    pub dns_nameserver: Option<std::net::SocketAddr>,
    /// SMTP server that delivers the outbox (host name); unset: every message is written as
    /// an `.eml` file to `mail_dir` instead (said once at start).
    pub smtp_host: Option<String>,
    /// Defaults by `smtp_tls`: 587 (`starttls`), 465 (`tls`), 25 (`none`).
    pub smtp_port: Option<u16>,
    /// `starttls` (upgrade, required), `tls` (TLS from the first byte) or `none` (a trusted
    /// relay only).
    pub smtp_tls: String,
    pub smtp_username: Option<String>,
    /// Never printed (redacted in `Debug`).
    pub smtp_password: Option<Pii<String>>,
    /// Seconds an SMTP command may take before the attempt fails and is retried.
    pub smtp_timeout_secs: u64,
    /// The platform's sender address. Institutions send from it under their own name unless
    /// their admin sets their own From (`PUT /v1/messaging/sender`).
    pub mail_from: String,
    /// Where mail goes without SMTP; default `<data_dir>/mail`.
    pub mail_dir: Option<PathBuf>,
    /// How often due mail is looked for, in seconds.
    pub mail_poll_secs: u64,
    /// The platform's Stripe secret key (`sk_…` or a restricted `rk_…`); unset: billing is
    /// switched off (its operations answer 409 `billing_not_configured`). Never printed.
    pub stripe_api_key: Option<Secret>,
    /// Stripe's API; only a loopback host may be plain `http://` (a local emulator, T6).
    pub stripe_api_base: String,
    /// Every signing secret (`whsec_…`) of the platform's Connect webhook endpoint: two
    /// while one is rotated. Never printed.
    pub stripe_webhook_secrets: Vec<Secret>,
    /// Seconds one Stripe HTTP attempt may take.
    pub stripe_timeout_secs: u64,
    /// How often the webhook inbox is looked at for due events, in milliseconds.
    pub billing_poll_ms: u64,
    /// Attempts before a webhook event is a dead letter.
    pub billing_webhook_max_attempts: u32,
    /// The first retry of a failed event after this many seconds, doubling up to an hour.
    pub billing_webhook_retry_base_secs: u64,
    /// The plans institutions may subscribe to, by code: the Stripe price (`price_…`) of one
    /// seat per interval on the platform's account (`HUB_BILLING_PLANS__<CODE>=price_…`).
    pub billing_plans: BTreeMap<String, String>,
    /// How often each institution's seats in use are measured and billed, in seconds.
    pub billing_seat_usage_secs: u64,
    /// How often each institution's ledger is reconciled with its Stripe account (the
    /// scheduled reconciliation's period), in seconds; 0 switches the scheduled runs off
    /// (`hub billing reconcile` and `POST /v1/billing/reconciliations` still run one).
    pub billing_reconcile_every_secs: u64,
    /// Attempts before a message is given up (`dead`).
    pub mail_max_attempts: u32,
    /// First retry after this many seconds, doubling each time up to `mail_retry_max_secs`
    /// (plus up to a quarter of jitter).
    pub mail_retry_base_secs: u64,
    pub mail_retry_max_secs: u64,
    /// Load balancers and proxies (CIDR ranges or addresses) whose `Forwarded` /
    /// `X-Forwarded-For` headers name the client; from any other peer they are ignored.
    /// In the environment a list `[a, b]` or `a,b`.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub trusted_proxies: Vec<String>,
    /// Personal-data sources (by name, as the data map lists them) switched off: their
    /// tasks in data-subject requests are `skipped` and reported, never an error.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub privacy_switched_off_sources: Vec<String>,
    /// Drills only: personal-data sources whose request tasks fail as an unreachable source
    /// does (to rehearse per-task retry). Empty in production.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub privacy_drill_failing_sources: Vec<String>,
    /// Records per part of an export's bundle: the most records of one source held at once
    /// while an export is written or downloaded (tests set it small to page).
    pub privacy_export_page_size: u64,
}

/// Every setting, each through [`Redacting`]: a URL anywhere in a value (a database or Redis
/// URL, a cluster's, a list's) prints without its password, whatever the setting is called.
/// Secrets print as their types do (`<redacted>`). tests/api/secrets.rs checks that every
/// setting appears here and that no URL password does.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &Redacting(&self.listen))
            .field("database_url", &Redacting(&self.database_url))
            .field("key_database_url", &Redacting(&self.key_database_url))
            .field(
                "database_max_connections",
                &Redacting(&self.database_max_connections),
            )
            .field("database_lanes", &Redacting(&self.database_lanes))
            .field("clusters", &Redacting(&self.clusters))
            .field("default_cluster", &Redacting(&self.default_cluster))
            .field("redis_url", &Redacting(&self.redis_url))
            .field("data_dir", &Redacting(&self.data_dir))
            .field("kek", &Redacting(&self.kek))
            .field("kek_file", &Redacting(&self.kek_file))
            .field("log_format", &Redacting(&self.log_format))
            .field("log_level", &Redacting(&self.log_level))
            .field("body_limit_bytes", &Redacting(&self.body_limit_bytes))
            .field("rate_limit_per_key", &Redacting(&self.rate_limit_per_key))
            .field("rate_limit_per_ip", &Redacting(&self.rate_limit_per_ip))
            .field("rate_limit_sync_ms", &Redacting(&self.rate_limit_sync_ms))
            .field("shutdown_grace_secs", &Redacting(&self.shutdown_grace_secs))
            .field("tls_cert_file", &Redacting(&self.tls_cert_file))
            .field("tls_key_file", &Redacting(&self.tls_key_file))
            .field("public_url", &Redacting(&self.public_url))
            .field(
                "session_lifetime_secs",
                &Redacting(&self.session_lifetime_secs),
            )
            .field("sso_clock_skew_secs", &Redacting(&self.sso_clock_skew_secs))
            .field("deadline_sweep_secs", &Redacting(&self.deadline_sweep_secs))
            .field(
                "retention_sweep_secs",
                &Redacting(&self.retention_sweep_secs),
            )
            .field(
                "retention_batch_pause_ms",
                &Redacting(&self.retention_batch_pause_ms),
            )
            .field(
                "retention_clock_offset_secs",
                &Redacting(&self.retention_clock_offset_secs),
            )
            .field(
                "retention_lease_secs",
                &Redacting(&self.retention_lease_secs),
            )
            .field(
                "retention_stop_after_steps",
                &Redacting(&self.retention_stop_after_steps),
            )
            .field("dns_nameserver", &Redacting(&self.dns_nameserver))
            .field("smtp_host", &Redacting(&self.smtp_host))
            .field("smtp_port", &Redacting(&self.smtp_port))
            .field("smtp_tls", &Redacting(&self.smtp_tls))
            .field("smtp_username", &Redacting(&self.smtp_username))
            .field("smtp_password", &Redacting(&self.smtp_password))
            .field("smtp_timeout_secs", &Redacting(&self.smtp_timeout_secs))
            .field("mail_from", &Redacting(&self.mail_from))
            .field("mail_dir", &Redacting(&self.mail_dir))
            .field("mail_poll_secs", &Redacting(&self.mail_poll_secs))
            .field("stripe_api_key", &Redacting(&self.stripe_api_key))
            .field("stripe_api_base", &Redacting(&self.stripe_api_base))
            .field(
                "stripe_webhook_secrets",
                &Redacting(&self.stripe_webhook_secrets),
            )
            .field("stripe_timeout_secs", &Redacting(&self.stripe_timeout_secs))
            .field("billing_poll_ms", &Redacting(&self.billing_poll_ms))
            .field(
                "billing_webhook_max_attempts",
                &Redacting(&self.billing_webhook_max_attempts),
            )
            .field(
                "billing_webhook_retry_base_secs",
                &Redacting(&self.billing_webhook_retry_base_secs),
            )
            .field("billing_plans", &Redacting(&self.billing_plans))
            .field(
                "billing_seat_usage_secs",
                &Redacting(&self.billing_seat_usage_secs),
            )
            .field(
                "billing_reconcile_every_secs",
                &Redacting(&self.billing_reconcile_every_secs),
            )
            .field("mail_max_attempts", &Redacting(&self.mail_max_attempts))
            .field(
                "mail_retry_base_secs",
                &Redacting(&self.mail_retry_base_secs),
            )
            .field("mail_retry_max_secs", &Redacting(&self.mail_retry_max_secs))
            .field("trusted_proxies", &Redacting(&self.trusted_proxies))
            .field(
                "privacy_switched_off_sources",
                &Redacting(&self.privacy_switched_off_sources),
            )
            .field(
                "privacy_drill_failing_sources",
                &Redacting(&self.privacy_drill_failing_sources),
            )
            .field(
                "privacy_export_page_size",
                &Redacting(&self.privacy_export_page_size),
            )
            .finish()
    }
}

/// A value's `Debug` form with every URL's credentials redacted ([`redact_urls`]).
struct Redacting<'a, T: std::fmt::Debug>(&'a T);

impl<T: std::fmt::Debug> std::fmt::Debug for Redacting<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_urls(&format!("{:?}", self.0)))
    }
}

/// Query parameters of a URL that carry credentials (PostgreSQL takes `?password=`).
const CREDENTIAL_QUERY_WORDS: &[&str] = &["password", "passwd", "secret", "token", "key"];

/// `text` with the password of every `scheme://user:password@host` URL in it, and every
/// query value whose name says credential, replaced by `<redacted>`. A URL's user name and
/// host stay: they say which server is meant, and are not secrets.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        // The URL runs to the first character that cannot be in one (a Debug quote, space).
        let end = after
            .find(|c: char| c == '"' || c == '\\' || c.is_whitespace() || c == ',')
            .unwrap_or(after.len());
        let (url, tail) = after.split_at(end);
        let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
        let (authority, path) = url.split_at(authority_end);
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":<redacted>");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        match path.split_once('?') {
            Some((before_query, query)) => {
                out.push_str(before_query);
                out.push('?');
                let pairs: Vec<String> = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((name, _))
                            if CREDENTIAL_QUERY_WORDS
                                .iter()
                                .any(|w| name.to_ascii_lowercase().contains(w)) =>
                        {
                            format!("{name}=<redacted>")
                        }
                        _ => pair.to_string(),
                    })
                    .collect();
                out.push_str(&pairs.join("&"));
            }
            None => out.push_str(path),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// A list, or (as an environment variable most naturally gives it) one comma-separated text.
fn list_or_comma_separated<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrText {
        List(Vec<String>),
        Text(String),
    }
    Ok(match ListOrText::deserialize(deserializer)? {
        ListOrText::List(list) => list,
        ListOrText::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: None,
            key_database_url: None,
            database_max_connections: 32,
            database_lanes: 16,
            clusters: BTreeMap::new(),
            default_cluster: "primary".into(),
            redis_url: None,
            data_dir: PathBuf::from("data"),
            kek: None,
            kek_file: None,
            log_format: "text".into(),
            log_level: "info".into(),
            body_limit_bytes: 1024 * 1024,
            rate_limit_per_key: 6_000,
            rate_limit_per_ip: 12_000,
            rate_limit_sync_ms: 100,
            shutdown_grace_secs: 20,
            tls_cert_file: None,
            tls_key_file: None,
            public_url: None,
            session_lifetime_secs: 8 * 3600,
            sso_clock_skew_secs: 60,
            deadline_sweep_secs: 60,
            retention_sweep_secs: 24 * 3600,
            retention_batch_pause_ms: 100,
            retention_clock_offset_secs: 0,
            retention_lease_secs: 60,
            retention_stop_after_steps: 0,
            dns_nameserver: None,
            smtp_host: None,
            smtp_port: None,
            smtp_tls: "starttls".into(),
            smtp_username: None,
            smtp_password: None,
            smtp_timeout_secs: 30,
            mail_from: "no-reply@localhost".into(),
            mail_dir: None,
            mail_poll_secs: 5,
            stripe_api_key: None,
            stripe_api_base: "https://api.stripe.com/".into(),
            stripe_webhook_secrets: Vec::new(),
            stripe_timeout_secs: 30,
            billing_poll_ms: 1000,
            billing_webhook_max_attempts: 8,
            billing_webhook_retry_base_secs: 10,
            billing_plans: BTreeMap::new(),
            billing_seat_usage_secs: 3600,
            billing_reconcile_every_secs: 24 * 3600,
            mail_max_attempts: 8,
            mail_retry_base_secs: 60,
            mail_retry_max_secs: 6 * 3600,
            trusted_proxies: Vec::new(),
            privacy_switched_off_sources: Vec::new(),
            privacy_drill_failing_sources: Vec::new(),
            privacy_export_page_size: 1000,
        }
    }
}

/// All problems found in one configuration, one line each.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for line in &self.0 {
            writeln!(f, "  - {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// Where this service is reached from outside, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let scheme = if self.tls_enabled() { "https" } else { "http" };
                format!("{scheme}://{}", self.listen)
            }
        }
    }

    /// Where the wrapped tenant keys are kept (see `key_database_url`).
    pub fn key_store(&self) -> Result<hub_tenant::KeyStoreLocation, String> {
        use hub_tenant::KeyStoreLocation;
        match (&self.key_database_url, &self.database_url) {
            (Some(url), _) => KeyStoreLocation::from_url(url),
            (None, Some(data_url)) => KeyStoreLocation::beside_postgres(data_url),
            (None, None) => Ok(KeyStoreLocation::beside_sqlite(&self.data_dir)),
        }
    }

    /// The process's configuration: `HUB_CONFIG` (or `hub.toml`) and the process environment.
    pub fn load() -> Result<Loaded, ConfigErrors> {
        Self::load_from(std::env::vars_os().map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        }))
    }

    /// The configuration these environment variables (and the file `HUB_CONFIG` among them
    /// names, else `hub.toml` if present) describe. Takes the variables as input so tests
    /// need not change the process-global environment.
    pub fn load_from(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Loaded, ConfigErrors> {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let file = vars
            .iter()
            .find(|(k, _)| k == "HUB_CONFIG")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "hub.toml".into());
        let (environment, warnings) = EnvSettings::from_vars(&vars);
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(&file))
            .merge(environment)
            .extract()
            .map_err(|e| ConfigErrors(e.into_iter().map(|e| e.to_string()).collect()))?;
        config.validate()?;
        Ok(Loaded { config, warnings })
    }

    /// The top-level setting names (`listen`, `clusters`, …), from the type itself so a new
    /// field is known to the environment check without being listed twice.
    pub fn setting_names() -> Vec<String> {
        match serde_json::to_value(Config::default()) {
            Ok(serde_json::Value::Object(fields)) => fields.keys().cloned().collect(),
            // A struct always serializes as an object.
            _ => Vec::new(),
        }
    }

    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        if self.listen.parse::<SocketAddr>().is_err() {
            errors.push(format!(
                "listen: `{}` is not an address such as 127.0.0.1:8080",
                self.listen
            ));
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            errors.push("database_url (DATABASE_URL): must start with postgres:// (leave it unset for the embedded SQLite data plane)".into());
        }
        if let Some(url) = &self.key_database_url {
            match hub_tenant::KeyStoreLocation::from_url(url) {
                Err(why) => errors.push(format!("key_database_url: {why}")),
                Ok(hub_tenant::KeyStoreLocation::Sqlite { .. }) if self.database_url.is_some() => {
                    errors.push("key_database_url: with PostgreSQL the key store is a postgres:// database every replica shares".into())
                }
                Ok(_) if self.database_url.as_deref() == Some(url.as_str()) => errors.push(
                    "key_database_url: must not be database_url; the keys need a database of their own".into(),
                ),
                Ok(_) => {}
            }
        }
        if !self.clusters.is_empty() && self.database_url.is_none() {
            errors.push(
                "clusters: need database_url (PostgreSQL); the embedded data plane has one cluster"
                    .into(),
            );
        }
        for (name, url) in &self.clusters {
            if name == "primary" || !hub_tenant::data_plane::is_valid_cluster_name(name) {
                errors.push(format!("clusters.{name}: names are 1-40 of a-z, 0-9, '-', '_' and `primary` is reserved"));
            }
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                errors.push(format!("clusters.{name}: must be a postgres:// URL"));
            }
        }
        if self.default_cluster != "primary" && !self.clusters.contains_key(&self.default_cluster) {
            errors.push(format!(
                "default_cluster: `{}` is not `primary` or a configured cluster",
                self.default_cluster
            ));
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            errors.push("public_url: must be an http:// or https:// URL".into());
        }
        if !(300..=30 * 24 * 3600).contains(&self.session_lifetime_secs) {
            errors.push(
                "session_lifetime_secs: must be between 300 (5 min) and 2592000 (30 days)".into(),
            );
        }
        if self.sso_clock_skew_secs > 300 {
            errors.push("sso_clock_skew_secs: must be at most 300".into());
        }
        if !(1..=1000).contains(&self.database_max_connections) {
            errors.push("database_max_connections: must be between 1 and 1000".into());
        }
        if !(1..=64).contains(&self.database_lanes) {
            errors.push("database_lanes: must be between 1 and 64".into());
        }
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            errors.push("redis_url (REDIS_URL): must start with redis:// or rediss://".into());
        }
        if self.kek.is_some() && self.kek_file.is_some() {
            errors.push("kek and kek_file: set one, not both".into());
        }
        if let Some(kek) = &self.kek
            && hub_kernel::crypto::LocalKek::parse_key_text(kek.expose()).is_err()
        {
            errors.push("kek (HUB_KEK): must be 32 bytes as 64 hex characters or base64".into());
        }
        if let Some(path) = &self.kek_file
            && !path.is_file()
        {
            errors.push(format!("kek_file: {} does not exist", path.display()));
        }
        if self.database_url.is_some() && self.kek.is_none() && self.kek_file.is_none() {
            errors.push("kek or kek_file: required with PostgreSQL; the development key is only generated for the embedded data plane".into());
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            errors.push(format!(
                "log_format: `{}` must be `text` or `json`",
                self.log_format
            ));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.body_limit_bytes) {
            errors.push("body_limit_bytes: must be between 1024 and 67108864".into());
        }
        if self.rate_limit_per_key == 0 || self.rate_limit_per_ip == 0 {
            errors.push("rate_limit_per_key and rate_limit_per_ip: must be at least 1".into());
        }
        if self.rate_limit_sync_ms > 10_000 {
            errors.push("rate_limit_sync_ms: must be at most 10000 (10 s)".into());
        }
        if let Err(bad) = crate::client_ip::TrustedProxies::parse(&self.trusted_proxies) {
            errors.extend(bad.into_iter().map(|why| format!("trusted_proxies: {why}")));
        }
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) | (None, Some(_)) => {
                errors.push("tls_cert_file and tls_key_file: set both or neither".into())
            }
            (Some(cert), Some(key)) => {
                for path in [cert, key] {
                    if !path.is_file() {
                        errors.push(format!("tls: {} does not exist", path.display()));
                    }
                }
            }
            (None, None) => {}
        }
        if !matches!(self.smtp_tls.as_str(), "starttls" | "tls" | "none") {
            errors.push(format!(
                "smtp_tls: `{}` must be `starttls`, `tls` or `none`",
                self.smtp_tls
            ));
        }
        if let Some(host) = &self.smtp_host
            && (host.is_empty() || host.contains(['/', ':', ' ']))
        {
            errors.push(
                "smtp_host: a host name or IP address, without scheme or port (set smtp_port)"
                    .into(),
            );
        }
        if self.smtp_username.is_some() != self.smtp_password.is_some() {
            errors.push("smtp_username and smtp_password: set both or neither".into());
        }
        if self.smtp_host.is_none() && (self.smtp_username.is_some() || self.smtp_port.is_some()) {
            errors.push("smtp_port, smtp_username, smtp_password: need smtp_host".into());
        }
        if !hub_identity::outbox::valid_address(&self.mail_from) {
            errors.push(format!(
                "mail_from: `{}` is not an email address",
                self.mail_from
            ));
        }
        if !(1..=3600).contains(&self.smtp_timeout_secs) {
            errors.push("smtp_timeout_secs: must be between 1 and 3600".into());
        }
        if !(1..=100_000).contains(&self.privacy_export_page_size) {
            errors.push("privacy_export_page_size: must be between 1 and 100000".into());
        }
        if !(1..=100).contains(&self.mail_max_attempts) {
            errors.push("mail_max_attempts: must be between 1 and 100".into());
        }
        if self.mail_retry_base_secs == 0 || self.mail_retry_base_secs > self.mail_retry_max_secs {
            errors.push(
                "mail_retry_base_secs: must be at least 1 and at most mail_retry_max_secs".into(),
            );
        }
        if self.mail_retry_max_secs > 7 * 24 * 3600 {
            errors.push("mail_retry_max_secs: must be at most 604800 (7 days)".into());
        }
        if self.mail_poll_secs == 0 || self.mail_poll_secs > 3600 {
            errors.push("mail_poll_secs: must be between 1 and 3600".into());
        }
        if let Some(settings) = self.stripe_settings()
            && let Err(e) = settings.check()
        {
            errors.push(e);
        }
        if self.stripe_api_key.is_some() && self.stripe_webhook_secrets.is_empty() {
            errors.push(
                "stripe_webhook_secrets: set the webhook endpoint's signing secret (whsec_…)"
                    .into(),
            );
        }
        if !(1..=300).contains(&self.stripe_timeout_secs) {
            errors.push("stripe_timeout_secs: must be between 1 and 300".into());
        }
        if !(10..=60_000).contains(&self.billing_poll_ms) {
            errors.push("billing_poll_ms: must be between 10 and 60000".into());
        }
        if !(1..=100).contains(&self.billing_webhook_max_attempts) {
            errors.push("billing_webhook_max_attempts: must be between 1 and 100".into());
        }
        if !(1..=3600).contains(&self.billing_webhook_retry_base_secs) {
            errors.push("billing_webhook_retry_base_secs: must be between 1 and 3600".into());
        }
        for (code, price) in &self.billing_plans {
            if !plan_code_ok(code) {
                errors.push(format!(
                    "billing_plans.{code}: plan codes are 1-32 of a-z, 0-9, '-' and '_', starting with a letter or digit"
                ));
            }
            let price_ok = price.strip_prefix("price_").is_some_and(|rest| {
                (1..=255).contains(&rest.len())
                    && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
            if !price_ok {
                errors.push(format!(
                    "billing_plans.{code}: must be a Stripe price id (price_…)"
                ));
            }
        }
        if !(1..=31 * 24 * 3600).contains(&self.billing_seat_usage_secs) {
            errors.push("billing_seat_usage_secs: must be between 1 and 2678400 (31 days)".into());
        }
        if self.billing_reconcile_every_secs != 0
            && !(60..=31 * 24 * 3600).contains(&self.billing_reconcile_every_secs)
        {
            errors.push(
                "billing_reconcile_every_secs: must be 0 (off) or between 60 and 2678400 (31 days)"
                    .into(),
            );
        }
        if self.retention_sweep_secs > 31 * 24 * 3600 {
            errors.push("retention_sweep_secs: must be at most 2678400 (31 days)".into());
        }
        if self.retention_batch_pause_ms > 60_000 {
            errors.push("retention_batch_pause_ms: must be at most 60000 (1 min)".into());
        }
        if !(0..=100 * 365 * 24 * 3600).contains(&self.retention_clock_offset_secs) {
            errors.push("retention_clock_offset_secs: must be between 0 and 100 years".into());
        }
        if self.retention_lease_secs > 3600 {
            errors.push("retention_lease_secs: must be at most 3600".into());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// How the outbox is delivered, from the `smtp_*` and `mail_*` settings.
    /// How the retention sweeper runs in this process.
    pub fn retention_settings(&self) -> hub_privacy_addenda::retention::RetentionSettings {
        hub_privacy_addenda::retention::RetentionSettings {
            every: std::time::Duration::from_secs(self.retention_sweep_secs.max(1)),
            pause: std::time::Duration::from_millis(self.retention_batch_pause_ms),
            clock_offset: chrono::Duration::seconds(self.retention_clock_offset_secs),
            lease: chrono::Duration::seconds(self.retention_lease_secs as i64),
            stop_after_steps: self.retention_stop_after_steps,
        }
    }

    /// The Stripe settings billing is built with; `None` when no key is configured.
    pub fn stripe_settings(&self) -> Option<hub_billing::stripe_api::StripeSettings> {
        self.stripe_api_key
            .as_ref()
            .map(|key| hub_billing::stripe_api::StripeSettings {
                api_key: key.expose().to_string(),
                api_base: self.stripe_api_base.clone(),
                webhook_secrets: self
                    .stripe_webhook_secrets
                    .iter()
                    .map(|s| s.expose().to_string())
                    .collect(),
                timeout: std::time::Duration::from_secs(self.stripe_timeout_secs),
            })
    }

    pub fn mail_settings(&self) -> hub_identity::outbox::delivery::MailSettings {
        use hub_identity::outbox::delivery::{MailSettings, SmtpSettings, SmtpTls};
        let tls = match self.smtp_tls.as_str() {
            "tls" => SmtpTls::Tls,
            "none" => SmtpTls::None,
            _ => SmtpTls::StartTls,
        };
        MailSettings {
            smtp: self.smtp_host.as_ref().map(|host| SmtpSettings {
                host: host.clone(),
                port: self.smtp_port.unwrap_or(match tls {
                    SmtpTls::StartTls => 587,
                    SmtpTls::Tls => 465,
                    SmtpTls::None => 25,
                }),
                tls,
                username: self.smtp_username.clone(),
                password: self.smtp_password.clone(),
                timeout: std::time::Duration::from_secs(self.smtp_timeout_secs),
            }),
            mail_dir: self
                .mail_dir
                .clone()
                .unwrap_or_else(|| self.data_dir.join("mail")),
            from_address: self.mail_from.clone(),
            max_attempts: self.mail_max_attempts,
            retry_base: std::time::Duration::from_secs(self.mail_retry_base_secs),
            retry_max: std::time::Duration::from_secs(self.mail_retry_max_secs),
            // Far longer than a send can take (`smtp_timeout_secs` per command).
            claim_lease: std::time::Duration::from_secs(self.smtp_timeout_secs * 10),
        }
    }

    pub fn tls_enabled(&self) -> bool {
        self.tls_cert_file.is_some() && self.tls_key_file.is_some()
    }
}

/// A loaded configuration and what the operator should be told about it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// One line per ignored environment variable, to log once logging is set up.
    pub warnings: Vec<String>,
}

/// `HUB_*` variables that are not settings and are ignored without a warning: `HUB_CONFIG`
/// names the file, and `HUB_TEST_*` are the test suite's own settings, exported by the
/// Makefile to every recipe (`make run`, `make migrate`).
/// A plan code as [`hub_billing::subscriptions::PLAN_CODE_PATTERN`] says.
fn plan_code_ok(code: &str) -> bool {
    let bytes = code.as_bytes();
    (1..=32).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase() | bytes[0].is_ascii_digit()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_')
}

fn is_reserved_variable(rest: &str) -> bool {
    rest == "CONFIG" || rest.starts_with("TEST_")
}

/// The settings given by environment variables: `HUB_<KEY>` (nested with `__`) for every known
/// top-level setting, and `DATABASE_URL` / `REDIS_URL`.
struct EnvSettings {
    settings: Dict,
}

impl EnvSettings {
    /// The known settings among `vars`, and a warning for each unknown `HUB_*` variable.
    fn from_vars(vars: &[(String, String)]) -> (Self, Vec<String>) {
        let known = Config::setting_names();
        let mut settings = Dict::new();
        let mut warnings = Vec::new();
        for (name, value) in vars {
            let path: Vec<String> = match name.as_str() {
                "DATABASE_URL" => vec!["database_url".into()],
                "REDIS_URL" => vec!["redis_url".into()],
                _ => match name.strip_prefix("HUB_") {
                    Some(rest) if !is_reserved_variable(rest) => {
                        rest.split("__").map(|s| s.to_ascii_lowercase()).collect()
                    }
                    _ => continue,
                },
            };
            if path.iter().any(String::is_empty) {
                warnings.push(format!("{name}: not a setting (empty key part); ignored"));
                continue;
            }
            if !known.contains(&path[0]) {
                warnings.push(unknown_variable_warning(name, &path[0], &known));
                continue;
            }
            // Like figment's own `Env`: "8", "true" and "[a, b]" become typed values.
            let value: Value = value.parse().unwrap_or_else(|_| Value::from(value.clone()));
            insert_path(&mut settings, &path, value);
        }
        (Self { settings }, warnings)
    }
}

fn unknown_variable_warning(name: &str, key: &str, known: &[String]) -> String {
    let closest = known
        .iter()
        .min_by_key(|candidate| edit_distance(key, candidate))
        .map(|candidate| format!("; the closest setting is HUB_{}", candidate.to_uppercase()))
        .unwrap_or_default();
    format!("{name} is not a Hub setting and is ignored{closest}")
}

/// Sets `path` (one key per nesting level) in `dict`, creating the levels on the way.
fn insert_path(dict: &mut Dict, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let level = dict
                .entry(first.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(level, Value::Dict(..)) {
                *level = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = level {
                insert_path(inner, rest, value);
            }
        }
    }
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

impl Provider for EnvSettings {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable").interpolater(|_, keys: &[&str]| match keys {
            ["database_url"] => "DATABASE_URL".into(),
            ["redis_url"] => "REDIS_URL".into(),
            _ => format!("HUB_{}", keys.join("__").to_uppercase()),
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.settings.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_each_bad_value_is_reported() {
        Config::default().validate().unwrap();
        let bad = Config {
            listen: "nowhere".into(),
            database_url: Some("mysql://x".into()),
            log_format: "xml".into(),
            kek: Some("short".into()),
            ..Config::default()
        };
        let errors = bad.validate().unwrap_err().0;
        assert_eq!(errors.len(), 4, "{errors:?}");
    }

    #[test]
    fn the_reconciliation_period_is_off_or_between_a_minute_and_a_month() {
        for (every, valid) in [
            (0, true),
            (59, false),
            (60, true),
            (86_400, true),
            (31 * 86_400, true),
            (31 * 86_400 + 1, false),
        ] {
            let config = Config {
                billing_reconcile_every_secs: every,
                ..Config::default()
            };
            match config.validate() {
                Ok(()) => assert!(valid, "{every} accepted"),
                Err(errors) => {
                    assert!(!valid, "{every} refused: {errors:?}");
                    assert!(errors.0[0].starts_with("billing_reconcile_every_secs"));
                }
            }
        }
    }

    /// The key store is a database apart from the data: by default beside it, never the
    /// data database itself, and with PostgreSQL one every replica shares.
    #[test]
    fn the_key_store_is_apart_from_the_data_and_checked() {
        use hub_tenant::KeyStoreLocation;
        let embedded = Config::default();
        match embedded.key_store().unwrap() {
            KeyStoreLocation::Sqlite { path } => assert_eq!(path, PathBuf::from("data/keys.db")),
            other => panic!("{other:?}"),
        }
        let postgres = Config {
            database_url: Some("postgres://hub@db:5432/hub?sslmode=require".into()),
            kek: Some("ab".repeat(32).into()),
            ..Config::default()
        };
        postgres.validate().unwrap();
        match postgres.key_store().unwrap() {
            KeyStoreLocation::Postgres { url, create_from } => {
                assert_eq!(url, "postgres://hub@db:5432/hub_keys?sslmode=require");
                assert_eq!(create_from.as_deref(), postgres.database_url.as_deref());
            }
            other => panic!("{other:?}"),
        }
        for (url, why) in [
            ("mysql://x/keys", "must be a postgres:// or sqlite:// URL"),
            (
                "sqlite:///var/keys.db",
                "a postgres:// database every replica shares",
            ),
            (
                "postgres://hub@db:5432/hub?sslmode=require",
                "must not be database_url",
            ),
        ] {
            let bad = Config {
                key_database_url: Some(url.into()),
                ..postgres.clone()
            };
            let errors = bad.validate().unwrap_err().0;
            assert!(
                errors.len() == 1
                    && errors[0].starts_with("key_database_url")
                    && errors[0].contains(why),
                "{url}: {errors:?}"
            );
        }
        let explicit = Config {
            key_database_url: Some("sqlite:///srv/keys/keys.db".into()),
            ..Config::default()
        };
        explicit.validate().unwrap();
        match explicit.key_store().unwrap() {
            KeyStoreLocation::Sqlite { path } => {
                assert_eq!(path, PathBuf::from("/srv/keys/keys.db"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn smtp_settings_are_checked_and_the_password_never_prints() {
        let config = Config {
            smtp_host: Some("smtp.example.edu".into()),
            smtp_username: Some("hub".into()),
            smtp_password: Some(Pii::new("hunter2-smtp-secret".into())),
            ..Config::default()
        };
        config.validate().unwrap();
        assert!(!format!("{config:?}").contains("hunter2-smtp-secret"));
        let mail = config.mail_settings();
        assert_eq!(mail.smtp.as_ref().unwrap().port, 587);
        assert!(!format!("{mail:?}").contains("hunter2-smtp-secret"));
        let bad = Config {
            smtp_host: Some("smtp://x:25".into()),
            smtp_tls: "ssl".into(),
            smtp_username: Some("hub".into()),
            mail_from: "nobody".into(),
            ..Config::default()
        };
        assert_eq!(bad.validate().unwrap_err().0.len(), 4);
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A file that does not exist: the environment alone decides.
    const NO_FILE: (&str, &str) = ("HUB_CONFIG", "/nonexistent/hub.toml");

    #[test]
    fn unknown_hub_variables_warn_with_the_closest_setting_and_do_not_stop_the_load() {
        let loaded = Config::load_from(vars(&[
            NO_FILE,
            ("HUB_PROTOCOL", "https"),
            ("HUB_VERBOSE", "1"),
            ("HUB_LOG_LEVL", "debug"),
            ("HUB_TEST_DATABASE_URL", "postgres://ignored"),
            ("HUB_LOG_FORMAT", "json"),
            ("HUB_CLUSTERS__EU2", "postgres://db/eu2"),
            ("DATABASE_URL", "postgres://db/hub"),
            ("HUB_KEK", &"ab".repeat(32)),
            ("PATH", "/usr/bin"),
        ]))
        .unwrap();
        assert_eq!(loaded.config.log_format, "json");
        assert_eq!(
            loaded.config.log_level, "info",
            "the misspelt key is not applied"
        );
        assert_eq!(
            loaded.config.database_url.as_deref(),
            Some("postgres://db/hub")
        );
        assert_eq!(loaded.config.clusters["eu2"], "postgres://db/eu2");
        assert_eq!(loaded.warnings.len(), 3, "{:?}", loaded.warnings);
        let warning = |name: &str| {
            loaded
                .warnings
                .iter()
                .find(|w| w.starts_with(name))
                .cloned()
                .unwrap_or_else(|| panic!("no warning for {name}: {:?}", loaded.warnings))
        };
        assert!(warning("HUB_LOG_LEVL").ends_with("the closest setting is HUB_LOG_LEVEL"));
        assert!(warning("HUB_PROTOCOL ").contains("is not a Hub setting and is ignored"));
        assert!(warning("HUB_VERBOSE ").contains("the closest setting is HUB_"));
    }

    #[test]
    fn unknown_keys_in_the_file_stay_errors_and_env_values_are_still_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hub.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nprotocol = \"https\"\n").unwrap();
        let errors = Config::load_from(vars(&[("HUB_CONFIG", file.to_str().unwrap())]))
            .unwrap_err()
            .0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("protocol"), "{errors:?}");

        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\n").unwrap();
        let loaded = Config::load_from(vars(&[("HUB_CONFIG", file.to_str().unwrap())])).unwrap();
        assert_eq!(loaded.config.listen, "127.0.0.1:9000");
        assert!(loaded.warnings.is_empty());

        // A known setting with a bad value is still an error, named by its variable.
        let errors = Config::load_from(vars(&[NO_FILE, ("HUB_RATE_LIMIT_PER_IP", "many")]))
            .unwrap_err()
            .0;
        assert!(errors[0].contains("HUB_RATE_LIMIT_PER_IP"), "{errors:?}");
    }

    #[test]
    fn trusted_proxies_come_as_a_list_or_comma_separated_and_are_checked() {
        let list = Config::load_from(vars(&[
            NO_FILE,
            ("HUB_TRUSTED_PROXIES", "[10.0.0.0/8, ::1]"),
        ]))
        .unwrap();
        assert_eq!(list.config.trusted_proxies, ["10.0.0.0/8", "::1"]);
        let text = Config::load_from(vars(&[
            NO_FILE,
            ("HUB_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
        ]))
        .unwrap();
        assert_eq!(text.config.trusted_proxies, ["10.0.0.0/8", "127.0.0.1"]);
        let errors = Config::load_from(vars(&[
            NO_FILE,
            ("HUB_TRUSTED_PROXIES", "10.0.0.0/40,proxy.internal"),
        ]))
        .unwrap_err()
        .0;
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().all(|e| e.starts_with("trusted_proxies: ")));
    }

    #[test]
    fn every_field_is_a_known_setting() {
        let names = Config::setting_names();
        for field in [
            "listen",
            "kek",
            "clusters",
            "dns_nameserver",
            "tls_key_file",
        ] {
            assert!(
                names.iter().any(|n| n == field),
                "{field} missing: {names:?}"
            );
        }
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("log_levl", "log_level"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
