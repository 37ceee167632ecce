//! `hub`: serve the API, migrate every tenant, write the OpenAPI spec, run retention now,
//! create operator keys.

use clap::{Parser, Subcommand};
use hub_gateway::app::{self, StartError};
use hub_gateway::config::Config;
use hub_gateway::progress::Progress;
use poem::listener::{Listener, RustlsCertificate, RustlsConfig, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "hub",
    about = "Dexsoftlex Hub: multi-tenant learning platform API",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply control-plane migrations, re-apply journaled offboardings a restored data backup
    /// brought back (as every start does), move wrapped keys an older version left in the
    /// control plane to the key store, then apply every tenant's migrations; safe to re-run.
    Migrate {
        /// Tenants migrated at once (1-16). The default, 1, keeps serving gateways on the
        /// same database responsive; more finishes sooner in a quiet window.
        #[arg(long, default_value_t = hub_tenant::registry::DEFAULT_MIGRATION_CONCURRENCY,
              value_parser = concurrency_in_range)]
        concurrency: usize,
    },
    /// Write openapi/openapi.json and openapi/openapi.yaml from the code.
    Spec {
        #[arg(long, default_value = "openapi")]
        out: PathBuf,
    },
    /// The retention sweeper: apply institutions' retention profiles.
    Retention {
        #[command(subcommand)]
        action: RetentionAction,
    },
    /// Billing: reconciliation with Stripe.
    Billing {
        #[command(subcommand)]
        action: BillingAction,
    },
    /// Platform-operator credentials.
    OperatorKey {
        #[command(subcommand)]
        action: OperatorKeyAction,
    },
}

#[derive(Subcommand)]
enum OperatorKeyAction {
    /// Create an operator key and print its token (shown once).
    Create {
        #[arg(long, default_value = "operator")]
        name: String,
    },
}

#[derive(Subcommand)]
enum BillingAction {
    /// Compare every institution's ledger (or one's) with its Stripe account since a date,
    /// with a progress bar; prints every discrepancy and exits 1 when there is any.
    Reconcile {
        /// RFC 3339 (`2026-11-01T00:00:00Z`) or a date (`2026-11-01`, midnight UTC).
        #[arg(long, value_parser = since_value)]
        since: chrono::DateTime<chrono::Utc>,
        /// The institution's slug; absent: every active institution with a connected account.
        #[arg(long)]
        tenant: Option<String>,
    },
}

fn since_value(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .ok_or_else(|| format!("`{text}` is neither RFC 3339 nor YYYY-MM-DD"))
}

#[derive(Subcommand)]
enum RetentionAction {
    /// Run it now on every active institution (or one), with a progress bar; resumes a run
    /// whose process died. Safe to re-run: a second run expires nothing.
    Run {
        /// The institution's slug; absent: every active institution.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Spec { out }) = &cli.command {
        return write_spec(out);
    }
    let (config, warnings) = match Config::load() {
        Ok(loaded) => (loaded.config, loaded.warnings),
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::from(2);
        }
    };
    hub_gateway::telemetry::init(&config.log_format, &config.log_level);
    for warning in &warnings {
        tracing::warn!("configuration: {warning}");
    }
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate { concurrency } => migrate(config, concurrency).await,
        Command::Retention {
            action: RetentionAction::Run { tenant },
        } => run_retention(config, tenant).await,
        Command::OperatorKey {
            action: OperatorKeyAction::Create { name },
        } => create_operator_key(config, &name).await,
        Command::Billing {
            action: BillingAction::Reconcile { since, tenant },
        } => reconcile(config, since, tenant).await,
        Command::Spec { .. } => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hub: {error}");
            ExitCode::FAILURE
        }
    }
}

fn write_spec(out: &PathBuf) -> ExitCode {
    let (json, yaml) = app::spec_documents();
    let written = std::fs::create_dir_all(out)
        .and_then(|_| std::fs::write(out.join("openapi.json"), json + "\n"))
        .and_then(|_| std::fs::write(out.join("openapi.yaml"), yaml));
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hub spec: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), StartError> {
    let listen = config.listen.clone();
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let tls = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => Some(
            RustlsConfig::new().fallback(
                RustlsCertificate::new()
                    .cert(
                        std::fs::read(cert)
                            .map_err(|e| StartError::Config(format!("tls_cert_file: {e}")))?,
                    )
                    .key(
                        std::fs::read(key)
                            .map_err(|e| StartError::Config(format!("tls_key_file: {e}")))?,
                    ),
            ),
        ),
        _ => None,
    };
    let backend = if config.database_url.is_some() {
        "PostgreSQL"
    } else {
        "embedded SQLite"
    };
    let data_dir = config.data_dir.display().to_string();
    let state = app::build_state(config).await?;
    // Keys left in the control plane by an older version would look like shredded tenants
    // to this one: `hub migrate` moves them first.
    let left = state.tenancy.keys_left_in_control_plane().await?;
    if left > 0 {
        return Err(StartError::Config(format!(
            "{left} wrapped tenant key(s) are still in the control plane; run `hub migrate` to move them to the key store"
        )));
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("Dexsoftlex Hub listening on {scheme}://{listen} ({backend})");
    println!("  API docs:      {scheme}://{listen}/docs");
    println!("  OpenAPI spec:  {scheme}://{listen}/openapi.json");
    println!(
        "  Operator key:  cargo run -p hub-gateway --bin hub -- operator-key create --name you"
    );
    if backend == "embedded SQLite" {
        println!("  Data:          {data_dir}/ (one SQLite file per institution)");
    }
    app::spawn_background_jobs(&state);
    let app = app::build_app(state);
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        return;
                    }
                };
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down: finishing in-flight requests");
    };
    let listener = TcpListener::bind(listen);
    let served = match tls {
        Some(tls) => {
            poem::Server::new(listener.rustls(tls))
                .run_with_graceful_shutdown(app, shutdown, Some(grace))
                .await
        }
        None => {
            poem::Server::new(listener)
                .run_with_graceful_shutdown(app, shutdown, Some(grace))
                .await
        }
    };
    served.map_err(|e| StartError::Config(format!("cannot serve: {e}")))
}

fn concurrency_in_range(text: &str) -> Result<usize, String> {
    let max = hub_tenant::registry::MAX_MIGRATION_CONCURRENCY;
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to {max}")),
    }
}

async fn migrate(config: Config, concurrency: usize) -> Result<(), StartError> {
    let state = app::build_state(config).await?;
    println!("control plane: up to date");
    let moved = state.tenancy.move_keys_to_key_store().await?;
    println!("key store: up to date ({moved} wrapped key(s) moved from the control plane)");
    // The total is known once the pass has listed the tenants, at the first outcome.
    let mut progress: Option<Progress> = None;
    let outcomes = state
        .tenancy
        .migrate_all_tenants(concurrency, |_done, total, outcome| {
            let progress = progress.get_or_insert_with(|| Progress::new("tenants", total as u64));
            progress.advance(&outcome.slug);
            if let Err(e) = &outcome.result {
                progress.note(&format!("{}: FAILED: {e}", outcome.slug));
            }
        })
        .await?;
    progress
        .unwrap_or_else(|| Progress::new("tenants", 0))
        .finish();
    let failed: Vec<_> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    println!(
        "tenants: {} migrated, {} failed",
        outcomes.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        for outcome in &failed {
            eprintln!(
                "  {} ({}): {}",
                outcome.slug,
                outcome.tenant_id,
                outcome.result.as_ref().err().cloned().unwrap_or_default()
            );
        }
        Err(StartError::Config(format!(
            "{} tenant(s) failed to migrate; fix and re-run",
            failed.len()
        )))
    }
}

async fn reconcile(
    config: Config,
    since: chrono::DateTime<chrono::Utc>,
    slug: Option<String>,
) -> Result<(), StartError> {
    let state = app::build_state(config).await?;
    let tenants = match &slug {
        Some(slug) => vec![(
            state
                .tenancy
                .active_tenant_by_slug(slug)
                .await
                .map_err(|e| StartError::Config(format!("--tenant {slug}: {e}")))?
                .location
                .tenant_id,
            slug.clone(),
        )],
        None => state
            .tenancy
            .active_tenant_ids()
            .await?
            .into_iter()
            .map(|id| (id, id.to_string()))
            .collect(),
    };
    let mut progress = hub_gateway::progress::Progress::new("institutions", tenants.len() as u64);
    let (mut found, mut failed) = (0usize, 0usize);
    for (tenant, label) in &tenants {
        let scope = match state
            .tenancy
            .periodic_job_scope(*tenant, "billing.reconciliation")
            .await
        {
            Ok(Some(scope)) => scope,
            Ok(None) => {
                progress.note(&format!("{label}: not active; skipped"));
                progress.advance(label);
                continue;
            }
            Err(error) => {
                progress.note(&format!("{label}: FAILED: {error}"));
                failed += 1;
                progress.advance(label);
                continue;
            }
        };
        match state.billing.reconcile(&scope, since, &|_| {}).await {
            Ok(run) => {
                if let Err(error) = scope.commit().await {
                    progress.note(&format!("{label}: FAILED: {error}"));
                    failed += 1;
                } else {
                    println!(
                        "{label}: {} payment(s), {} refund(s), {} Stripe transaction(s), {} discrepanc{}",
                        run.payments_checked,
                        run.refunds_checked,
                        run.transactions_checked,
                        run.discrepancies.len(),
                        if run.discrepancies.len() == 1 {
                            "y"
                        } else {
                            "ies"
                        }
                    );
                    for d in &run.discrepancies {
                        println!(
                            "{label}: {} {} ledger={} stripe={} {}{}",
                            d.kind,
                            d.stripe_object,
                            d.ledger_amount
                                .map(|a| a.to_string())
                                .unwrap_or_else(|| "-".into()),
                            d.stripe_amount
                                .map(|a| a.to_string())
                                .unwrap_or_else(|| "-".into()),
                            d.currency,
                            d.payment_id
                                .map(|p| format!(" payment {p}"))
                                .unwrap_or_default(),
                        );
                    }
                    found += run.discrepancies.len();
                }
            }
            // An institution that connected no account has nothing to reconcile.
            Err(hub_billing::BillingError::NoConnectedAccount) if slug.is_none() => {}
            Err(error) => {
                progress.note(&format!("{label}: FAILED: {error}"));
                failed += 1;
            }
        }
        progress.advance(label);
    }
    progress.finish();
    if failed > 0 {
        return Err(StartError::Config(format!(
            "{failed} institution(s) failed"
        )));
    }
    if found > 0 {
        return Err(StartError::Config(format!("{found} discrepanc(ies) found")));
    }
    Ok(())
}

async fn run_retention(config: Config, slug: Option<String>) -> Result<(), StartError> {
    use hub_privacy_addenda::retention::{Start, Trigger};
    let state = app::build_state(config).await?;
    let tenants = match &slug {
        Some(slug) => vec![(
            state
                .tenancy
                .active_tenant_by_slug(slug)
                .await
                .map_err(|e| StartError::Config(format!("--tenant {slug}: {e}")))?
                .location
                .tenant_id,
            slug.clone(),
        )],
        None => {
            let mut all = Vec::new();
            for id in state.tenancy.active_tenant_ids().await? {
                all.push((id, id.to_string()));
            }
            all
        }
    };
    let mut failed = 0usize;
    let mut expired = 0u64;
    for (tenant, label) in &tenants {
        let start = state
            .privacy
            .start_retention_run(*tenant, Trigger::CommandLine, Some("command line".into()))
            .await;
        let run = match start {
            Ok(Start::Started(run) | Start::Resumed(run)) => run,
            Ok(Start::Busy(_)) => {
                eprintln!("{label}: a retention run is under way elsewhere; skipped");
                continue;
            }
            Ok(Start::NotDue | Start::Unavailable) => {
                eprintln!("{label}: not active; skipped");
                continue;
            }
            Err(error) => {
                eprintln!("{label}: FAILED: {error}");
                failed += 1;
                continue;
            }
        };
        let left = run.steps.iter().filter(|s| !s.done).count() as u64;
        let mut progress = Progress::new(&format!("{label} steps"), left);
        let done = state
            .privacy
            .continue_retention_run(*tenant, run.id, |_, step| {
                progress.advance(&format!("{} {}", step.source, step.category));
            })
            .await;
        progress.finish();
        match done {
            Ok(run) => {
                expired += run.records_expired();
                println!(
                    "{label}: run {} {} ({} record(s) expired, {}/{} steps)",
                    run.id,
                    run.state,
                    run.records_expired(),
                    run.steps_done(),
                    run.steps.len()
                );
            }
            Err(error) => {
                eprintln!("{label}: FAILED: {error}");
                failed += 1;
            }
        }
    }
    println!(
        "retention: {} tenant(s), {expired} record(s) expired, {failed} failed",
        tenants.len()
    );
    if failed == 0 {
        Ok(())
    } else {
        Err(StartError::Config(format!(
            "{failed} tenant(s) failed; re-run to resume"
        )))
    }
}

async fn create_operator_key(config: Config, name: &str) -> Result<(), StartError> {
    let state = app::build_state(config).await?;
    let key = state.tenancy.create_operator_key(name).await?;
    println!("{}", key.token.expose());
    eprintln!(
        "operator key {} created; the token above is shown only once",
        key.info.id
    );
    Ok(())
}
