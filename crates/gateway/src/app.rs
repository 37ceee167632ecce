//! Builds the application: configuration → services → routes and middleware. Used by the
//! `hub` binary and by the black-box tests, which bind it to port 0.

use crate::caching::Caching;
use crate::client_ip::{ResolveClientIp, TrustedProxies};
use crate::config::Config;
use crate::input_guard::{InputGuard, PathTemplates};
use crate::limiter::RateLimiter;
use crate::middleware::{BodyLimit, IpRateLimit, RequestTracing, SecurityHeaders};
use crate::modules;
use crate::problem::ProblemResponses;
use crate::state::AppState;
use hub_identity::{Identity, IdentitySettings};
use hub_kernel::crypto::{KeyEncryptionKey, KeyMaterial, KeyedDigest, LocalKek};
use hub_privacy_addenda::Privacy;
use hub_tenant::{StorageConfig, Tenancy};
use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::OpenApiService;
use std::sync::Arc;
use std::time::Duration;

/// Every API group, one per domain section of [`crate::modules`] (a tuple because
/// poem-openapi composes tuples of at most 16 `OpenApi`s; each group is within that).
pub type Api = (
    modules::operator::Api,
    modules::learning::Api,
    modules::institution::Api,
    modules::identity::Api,
    modules::privacy::Api,
    modules::billing::Api,
);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("cannot open the data plane: {0}")]
    Storage(#[from] hub_tenant::TenantError),
    #[error("cannot set up Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("cannot set up sign-in: {0}")]
    Identity(#[from] hub_identity::IdentityError),
}

/// The key-encryption key: configured, or for the embedded default a development key kept
/// in the data directory (created on first start, readable by the owner only).
pub fn load_kek(config: &Config) -> Result<Arc<dyn KeyEncryptionKey>, StartError> {
    let material = load_kek_material(config)?;
    let kek = LocalKek::new(&material).map_err(|e| StartError::Config(e.to_string()))?;
    Ok(Arc::new(kek))
}

/// The key that names what this process writes to Redis from personal data (rate-limit
/// buckets): derived from the key-encryption key under `label`, so every replica with the
/// same configuration derives the same one and Redis never holds it.
pub fn redis_names(config: &Config, label: &str) -> Result<KeyedDigest, StartError> {
    let material = load_kek_material(config)?;
    KeyedDigest::derive(&material, label).map_err(|e| StartError::Config(e.to_string()))
}

fn load_kek_material(config: &Config) -> Result<KeyMaterial, StartError> {
    let text = if let Some(kek) = &config.kek {
        kek.clone()
    } else if let Some(path) = &config.kek_file {
        std::fs::read_to_string(path)
            .map_err(|e| StartError::Config(format!("kek_file {}: {e}", path.display())))?
            .into()
    } else {
        let path = config.data_dir.join("dev-kek.hex");
        if !path.exists() {
            std::fs::create_dir_all(&config.data_dir)
                .map_err(|e| StartError::Config(e.to_string()))?;
            let material = KeyMaterial::generate();
            write_private(&path, &hex::encode(material.expose()))?;
            tracing::warn!(path = %path.display(), "generated a development key-encryption key; configure HUB_KEK_FILE in production");
        }
        std::fs::read_to_string(&path)
            .map_err(|e| StartError::Config(format!("{}: {e}", path.display())))?
            .into()
    };
    LocalKek::parse_key_text(text.expose())
        .map_err(|e| StartError::Config(format!("key-encryption key: {e}")))
}

fn write_private(path: &std::path::Path, text: &str) -> Result<(), StartError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| StartError::Config(format!("{}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(|e| StartError::Config(e.to_string()))
}

pub fn storage_config(config: &Config) -> StorageConfig {
    match &config.database_url {
        Some(url) => StorageConfig::Postgres {
            url: url.clone(),
            max_connections: config.database_max_connections,
            lanes: config.database_lanes,
            clusters: config
                .clusters
                .iter()
                .map(|(name, url)| (name.clone(), url.clone()))
                .collect(),
            default_cluster: config.default_cluster.clone(),
        },
        None => StorageConfig::Sqlite {
            data_dir: config.data_dir.clone(),
        },
    }
}

/// Opens the data plane and the cache. Redis connects lazily and reconnects by itself, so a
/// Redis outage at start or later degrades rate limiting instead of stopping the server.
pub async fn build_state(config: Config) -> Result<Arc<AppState>, StartError> {
    modules::install().map_err(StartError::Config)?;
    let kek = load_kek(&config)?;
    let rate_limit_names = redis_names(&config, crate::limiter::REDIS_KEY_LABEL)?;
    let key_store = config
        .key_store()
        .map_err(|e| StartError::Config(format!("key_database_url: {e}")))?;
    let mut tenancy = Tenancy::open(&storage_config(&config), &key_store, kek).await?;
    // Offboarding erases what every domain crate keeps about a tenant in the control plane.
    tenancy.register_control_footprints(hub_identity::CONTROL_FOOTPRINT);
    tenancy.register_control_footprints(hub_billing::CONTROL_FOOTPRINT);
    // Key rotation re-seals what every domain crate declares as sealed.
    for module in modules::DOMAIN_MODULES {
        tenancy.register_sealed_columns(module.sealed_columns().map_err(StartError::Config)?);
        tenancy.register_indexed_columns(module.indexed_columns().map_err(StartError::Config)?);
    }
    // A restored backup of the data must not bring offboarded institutions back: every
    // journaled offboarding is re-applied before this process serves or migrates anything.
    tenancy.reapply_tombstones().await?;
    let tenancy = Arc::new(tenancy);
    let redis = match &config.redis_url {
        Some(url) => {
            let client = redis::Client::open(url.as_str())?;
            let options = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_millis(500)))
                .set_response_timeout(Some(Duration::from_millis(500)))
                .set_number_of_retries(1);
            Some(redis::aio::ConnectionManager::new_lazy_with_config(
                client, options,
            )?)
        }
        None => None,
    };
    let rate_limit_sync_ms = config.rate_limit_sync_ms;
    let identity = Identity::new(
        tenancy.clone(),
        redis.clone(),
        IdentitySettings {
            callback_url: format!("{}/v1/sso/oidc/callback", config.public_url()),
            public_url: config.public_url(),
            saml_acs_url: format!("{}/v1/sso/saml/acs", config.public_url()),
            session_lifetime: Duration::from_secs(config.session_lifetime_secs),
            clock_skew: Duration::from_secs(config.sso_clock_skew_secs),
            dns_nameserver: config.dns_nameserver,
            mail: config.mail_settings(),
        },
    )?;
    // Offboarding ends the institution's sessions in the session store too.
    tenancy.register_ephemeral_footprint(identity.sessions.tenant_footprint());
    // Privacy reaches people only through identity's ports, and their data only through the
    // registered sources (a misregistration stops the start here, not a request later).
    tenancy.personal_data_sources()?;
    let (directory, messages) = identity.privacy_ports();
    // The learning crate looks people up, and hears of SCIM group changes, through ports.
    tenancy.register_people_directory(directory.clone());
    tenancy.register_group_observer(Arc::new(hub_course::enrollment::groups::GroupEnrollments));
    tenancy.register_group_directory(Arc::new(hub_identity::scim::ScimGroupDirectory));
    tenancy.register_people_by_email(Arc::new(hub_identity::people::PeopleByEmailIndex));
    let privacy = Privacy::new(tenancy.clone(), directory, messages);
    // Every processor of a consentable purpose (identity's outbox) asks privacy's gate.
    tenancy.register_consent_gate(Arc::new(hub_privacy_addenda::consent::Gate));
    tenancy.register_minor_directory(Arc::new(hub_identity::minors::Minors));
    privacy.configure_retention(config.retention_settings());
    privacy.set_switched_off_sources(config.privacy_switched_off_sources.clone());
    privacy.set_failing_sources(config.privacy_drill_failing_sources.clone());
    privacy.set_export_page_size(config.privacy_export_page_size);
    // The duties of each institution's privacy addendum reach the profile and the incident
    // clock through this port (A2).
    tenancy.register_addendum_duties(Arc::new(hub_privacy_addenda::addenda::DutiesPort));
    // Billing sells courses through the learning crate's port and registers its
    // personal-data source (it deletes Stripe customers) when built.
    tenancy.register_course_sales(Arc::new(hub_course::enrollment::purchases::CourseShop));
    let billing = hub_billing::Billing::new(
        tenancy.clone(),
        config.stripe_settings(),
        hub_billing::InboxSettings {
            max_attempts: config.billing_webhook_max_attempts as i32,
            first_retry_secs: config.billing_webhook_retry_base_secs as i64,
        },
    )
    .map_err(StartError::Config)?
    .with_platform_plans(hub_billing::subscriptions::PlatformPlans {
        prices: config.billing_plans.clone(),
        seat_usage_every: chrono::Duration::seconds(config.billing_seat_usage_secs as i64),
    });
    let state = Arc::new(AppState {
        config,
        tenancy,
        identity,
        privacy,
        billing,
        limiter: RateLimiter::new(
            redis,
            Duration::from_millis(rate_limit_sync_ms),
            rate_limit_names,
        ),
    });
    Ok(state)
}

/// Background work of a serving process (not of `hub migrate` or `hub operator-key`):
/// resuming jobs whose process died, expiring access reviews whose deadline passed, running
/// approved privacy requests, alerting privacy officers about due ones and sending course
/// reminders, every
/// `deadline_sweep_secs`; applying retention profiles, every `retention_sweep_secs`; and
/// delivering due mail from the outbox, every `mail_poll_secs`. Holds the state weakly, so it
/// stops when the application is dropped (tests start many).
pub fn spawn_background_jobs(state: &Arc<AppState>) {
    let sweep = Duration::from_secs(state.config.deadline_sweep_secs.max(1));
    let now = tokio::time::Instant::now();
    // At start and then every sweep: a job whose process died is resumed by whichever
    // replica takes its lapsed lease.
    repeat(
        state,
        now,
        sweep,
        "could not resume the jobs of a stopped process",
        |s| async move { s.tenancy.resume_jobs().await },
    );
    repeat(
        state,
        now,
        sweep,
        "deadline sweep failed; retrying next tick",
        |s| async move { s.identity.sweep_due_access_reviews().await },
    );
    // Retention: every replica visits the tenants; each due period of a tenant is claimed by
    // one of them (hub_privacy_addenda::retention), and a run whose process died is resumed.
    // The first visit waits one tick, so a process that restarts often still sweeps on time
    // (the due period is kept per tenant, not per process).
    if state.config.retention_sweep_secs > 0 {
        let every = Duration::from_secs(state.config.retention_sweep_secs.clamp(1, 600));
        repeat(
            state,
            now + every,
            every,
            "retention sweep failed; retrying next tick",
            |s| async move { s.privacy.sweep_due_tenants().await },
        );
    }
    // Data-subject requests: approved requests' tasks, and those a stopped process left
    // (their deadline comes due again when its lease lapses).
    repeat(
        state,
        now,
        sweep,
        "running privacy requests failed; retrying next tick",
        |s| async move { s.privacy.run_due_requests().await },
    );
    // Alerts for privacy requests due soon or overdue: every replica looks every sweep;
    // each institution's hourly pass is claimed by one of them, and each alert is sent once
    // (hub_privacy_addenda::requests::alerts).
    repeat(
        state,
        now,
        sweep,
        "privacy request alerts failed; retrying next tick",
        |s| async move { s.privacy.send_request_alerts().await },
    );
    // The profile's reports, each for its latest period that is over: every replica looks
    // every sweep; each report and period is produced once (hub_tenant::reports::runs).
    repeat(
        state,
        now,
        sweep,
        "scheduled reports failed; retrying next tick",
        |s| async move { s.tenancy.run_scheduled_reports(chrono::Utc::now()).await },
    );
    // Course reminders through the essential channel: every replica looks every sweep; each
    // institution's hourly pass is claimed by one of them, and each reminder is sent once
    // (hub_course::reminders).
    repeat(
        state,
        now,
        sweep,
        "course reminders failed; retrying next tick",
        |s| async move {
            hub_course::reminders::send_due(
                &s.tenancy,
                s.privacy.messages().as_ref(),
                chrono::Utc::now(),
            )
            .await
        },
    );
    // StatementRefs stored before their targets were recorded: opened and filled in, once
    // each (hub_course::xapi::targets); nothing to do once none is left.
    repeat(
        state,
        now,
        sweep,
        "StatementRef targets failed; retrying next tick",
        |s| async move { hub_course::xapi::targets::fill_pending(&s.tenancy).await },
    );
    // Seats in use, measured and billed: every replica looks every sweep; each
    // institution's pass is claimed by one of them (hub_billing::subscriptions).
    repeat(
        state,
        now,
        sweep,
        "seat usage failed; retrying next tick",
        |s| async move { s.billing.measure_seat_usage(chrono::Utc::now()).await },
    );
    // Scheduled reconciliation with Stripe: every replica looks (every period, at most
    // every 10 min, the first look one interval after start, as retention's); each
    // institution's period is claimed by one of them and recorded as a run
    // (hub_billing::reconciliation_runs).
    if state.config.billing_reconcile_every_secs > 0 {
        let period = state.config.billing_reconcile_every_secs;
        let look = Duration::from_secs(period.clamp(1, 600));
        repeat(
            state,
            now + look,
            look,
            "scheduled reconciliation failed; retrying next look",
            move |s| async move {
                s.billing
                    .reconcile_due_tenants(
                        chrono::Utc::now(),
                        chrono::Duration::seconds(period as i64),
                    )
                    .await
            },
        );
    }
    // Stripe's webhook events: every replica looks; each event is claimed by one of them
    // (hub_billing::inbox). A full batch means more are due: carry on at once.
    let weak_billing = Arc::downgrade(state);
    let every = Duration::from_millis(state.config.billing_poll_ms.max(10));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            loop {
                let Some(state) = weak_billing.upgrade() else {
                    return;
                };
                match state.billing.process_due_events(chrono::Utc::now()).await {
                    Ok(run) if run.total() as u64 >= hub_billing::inbox::BATCH => continue,
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(%error, "Stripe events failed; retrying next tick");
                        break;
                    }
                }
            }
        }
    });
    if let Some(dir) = state.identity.mail_directory() {
        tracing::warn!(
            path = %dir.display(),
            "no SMTP server configured (smtp_host): mail is written as .eml files to this directory, not sent"
        );
    }
    let weak = Arc::downgrade(state);
    let every = Duration::from_secs(state.config.mail_poll_secs.max(1));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // A full batch means more may be due: carry on without waiting for the tick.
            loop {
                let Some(state) = weak.upgrade() else { return };
                match state.identity.deliver_due_mail().await {
                    Ok(run) if run.total() as u64 >= hub_identity::outbox::delivery::BATCH => {
                        continue;
                    }
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(%error, "mail delivery failed; retrying next tick");
                        break;
                    }
                }
            }
        }
    });
}

/// Runs `work` at `first` and then every `period` while the application lives: the task
/// holds the state weakly and stops once it is dropped (tests start many). A failure is
/// logged with `failure` and the next tick tries again.
fn repeat<F, Fut, T, E>(
    state: &Arc<AppState>,
    first: tokio::time::Instant,
    period: Duration,
    failure: &'static str,
    work: F,
) where
    F: Fn(Arc<AppState>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, E>> + Send,
    E: std::fmt::Display,
{
    let weak = Arc::downgrade(state);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(first, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(state) = weak.upgrade() else { return };
            if let Err(error) = work(state).await {
                tracing::warn!(%error, "{failure}");
            }
        }
    });
}

pub fn api_service() -> OpenApiService<Api, ()> {
    // Every API group is a unit struct, so the tuple is built from the type alone.
    let api = Api::default();
    // No `.summary(…)`: `info.summary` exists only in OpenAPI 3.1, and the document is 3.0.
    OpenApiService::new(api, "Dexsoftlex Hub API", env!("CARGO_PKG_VERSION"))
        .description(include_str!("../../../openapi/description.md"))
        .server("/")
}

/// The OpenAPI document as served and committed under `openapi/` (JSON, YAML): the
/// generated one, finished by [`crate::spec::finish`].
pub fn spec_documents() -> (String, String) {
    finished_documents(&api_service())
}

fn finished_documents(service: &OpenApiService<Api, ()>) -> (String, String) {
    let generated = service.spec();
    // Parsed into serde_yaml's order-keeping mapping, so both texts keep poem-openapi's layout.
    let finished = serde_json::from_str::<serde_yaml::Value>(&generated)
        .map_err(|e| e.to_string())
        .and_then(|mut document| {
            crate::spec::finish(&mut document);
            let json = serde_json::to_string_pretty(&document).map_err(|e| e.to_string())?;
            let yaml = serde_yaml::to_string(&document).map_err(|e| e.to_string())?;
            Ok((json, yaml))
        });
    // Cannot fail for poem-openapi's JSON (string keys, no tags); if it ever did, the
    // unfinished document is served and tests/api/spec.rs fails on it.
    finished.unwrap_or_else(|error| {
        tracing::error!(%error, "cannot finish the OpenAPI document; serving it unfinished");
        (generated, service.spec_yaml())
    })
}

fn serve_text(content_type: &'static str, text: String) -> impl Endpoint {
    poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type(content_type)
            .body(text.clone())
    })
}

pub fn build_app(state: Arc<AppState>) -> impl Endpoint {
    let service = api_service();
    let (json_text, yaml_text) = finished_documents(&service);
    // The documentation page embeds the document: the finished one, as served.
    let docs_html = service.rapidoc_html().replace(&service.spec(), &json_text);
    // The input guard reads the finished document: headers the finishing step declares
    // (`If-None-Match`) are parameters like any other.
    let templates = serde_json::from_str(&json_text)
        .map(|spec| PathTemplates::from_spec(&spec))
        .unwrap_or_default();
    let json = serve_text("application/json", json_text);
    let yaml = serve_text("application/x-yaml", yaml_text);
    let docs = serve_text("text/html; charset=utf-8", docs_html);
    let body_limit = state.config.body_limit_bytes;
    let hsts = state.config.tls_enabled();
    // Checked at load (`Config::validate`); an entry that does not parse trusts nobody.
    let trusted_proxies =
        Arc::new(TrustedProxies::parse(&state.config.trusted_proxies).unwrap_or_default());
    Route::new()
        .nest("/", service)
        .at("/openapi.json", json)
        .at("/openapi.yaml", yaml)
        .nest("/docs", docs)
        .with(InputGuard(templates))
        .with(BodyLimit(body_limit))
        .with(IpRateLimit)
        .with(ResolveClientIp(trusted_proxies))
        .data(state)
        .with(ProblemResponses)
        .with(crate::api::learning::xapi::XapiVersionHeader)
        .with(Caching)
        .with(SecurityHeaders { hsts })
        .with(RequestTracing)
}
