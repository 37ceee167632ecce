//! Typed configuration: defaults, then an optional TOML file (`HUB_CONFIG`, default
//! `hub.toml` if present), then environment variables (`HUB_<KEY>`, nested with `__`, plus the
//! conventional `DATABASE_URL` and `REDIS_URL`). Validated once at start; every bad value is
//! reported with its own message.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use hub_kernel::pii::Pii;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// PostgreSQL URL; absent means the embedded SQLite data plane.
    pub database_url: Option<String>,
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
    pub kek: Option<String>,
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
    /// Attempts before a message is given up (`dead`).
    pub mail_max_attempts: u32,
    /// First retry after this many seconds, doubling each time up to `mail_retry_max_secs`
    /// (plus up to a quarter of jitter).
    pub mail_retry_base_secs: u64,
    pub mail_retry_max_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: None,
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
            mail_max_attempts: 8,
            mail_retry_base_secs: 60,
            mail_retry_max_secs: 6 * 3600,
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

    pub fn load() -> Result<Self, ConfigErrors> {
        let file = std::env::var("HUB_CONFIG").unwrap_or_else(|_| "hub.toml".into());
        let figment = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(&file))
            .merge(Env::raw().only(&["DATABASE_URL", "REDIS_URL"]))
            // HUB_TEST_*: the test suite's own settings, exported by the Makefile to every
            // recipe (`make run`, `make migrate`); not gateway settings.
            .merge(
                Env::prefixed("HUB_")
                    .ignore(&[
                        "CONFIG",
                        "TEST_DATABASE_URL",
                        "TEST_SECOND_DATABASE_URL",
                        "TEST_REDIS_URL",
                    ])
                    .split("__"),
            );
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigErrors(e.into_iter().map(|e| e.to_string()).collect()))?;
        config.validate()?;
        Ok(config)
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
            && hub_kernel::crypto::LocalKek::parse_key_text(kek).is_err()
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
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// How the outbox is delivered, from the `smtp_*` and `mail_*` settings.
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
}
