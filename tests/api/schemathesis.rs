//! Promise D5 from the outside: schemathesis reads the served spec, generates requests for
//! every operation and fails on a server error, an undocumented status, a wrong content type
//! or a body that breaks the documented schema (scripts/run-schemathesis.sh).

// Test code: a failed unwrap is a failed test with its reason, which is what we want.

use crate::both_backends;
use crate::support::{Backend, TestApp, spawn};
use std::path::PathBuf;
use std::time::Instant;

both_backends!(schemathesis_finds_no_server_errors_and_no_spec_violations);

async fn schemathesis_finds_no_server_errors_and_no_spec_violations(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    // An institution's admin key reaches every institution operation; the operator key
    // reaches the operator ones (each only gets 403 with the other key).
    run_schemathesis(&app, "institution admin", &north.admin_token).await;
    run_schemathesis(&app, "platform operator", &app.operator_token).await;
}

async fn run_schemathesis(app: &TestApp, who: &str, token: &str) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Each run writes its report apart, never over a concurrent run's.
    let report_dir = std::env::temp_dir().join(format!(
        "hub-schemathesis-{}",
        uuid::Uuid::now_v7().simple()
    ));
    let started = Instant::now();
    // tokio's process keeps the runtime free, so the in-process server answers meanwhile.
    let output = tokio::process::Command::new("bash")
        .arg("scripts/run-schemathesis.sh")
        .current_dir(&root)
        .env("HUB_URL", &app.base)
        .env("HUB_TOKEN", token)
        .env("ST_REPORT_DIR", &report_dir)
        .kill_on_drop(true)
        .output()
        .await
        .expect("bash runs scripts/run-schemathesis.sh");
    let elapsed = started.elapsed();
    let _ = std::fs::remove_dir_all(&report_dir);

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Shown with --nocapture (or on failure): the run's summary and warnings.
    println!(
        "schemathesis as {who}: {} in {:.1} s\n{stdout}",
        output.status,
        elapsed.as_secs_f64()
    );
    assert!(
        output.status.success(),
        "schemathesis as {who} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
