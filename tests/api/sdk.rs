//! Promise D5 as integrators see it: an SDK generated from the committed spec works.
//! scripts/sdk-smoke.sh generates a Python client from openapi/openapi.json with
//! openapi-python-client (failing on any operation or schema it cannot handle) and drives
//! this server with it: provision an institution, create (idempotently), list, read and
//! update (If-Match) a course, and read 412 and 404 answers as parsed problems.

// Test code: a failed unwrap is a failed test with its reason, which is what we want.

use crate::both_backends;
use crate::support::{Backend, spawn};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Instant;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

both_backends!(promise_d5_generated_python_sdk_drives_the_api);

async fn promise_d5_generated_python_sdk_drives_the_api(backend: Backend) {
    let app = spawn(backend).await;
    let root = root();
    let venv_bin = root.join(".venv/bin");
    let path = std::env::join_paths(std::iter::once(venv_bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let started = Instant::now();
    // tokio's process keeps the runtime free, so the in-process server answers meanwhile.
    let output = tokio::process::Command::new("bash")
        .arg("scripts/sdk-smoke.sh")
        .current_dir(&root)
        .env("PATH", path)
        .env("HUB_URL", &app.base)
        .env("HUB_OPERATOR_TOKEN", &app.operator_token)
        .kill_on_drop(true)
        .output()
        .await
        .expect("bash runs scripts/sdk-smoke.sh");
    let elapsed = started.elapsed();

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Shown with --nocapture (or on failure).
    println!(
        "sdk-smoke: {} in {:.1} s\n{stdout}",
        output.status,
        elapsed.as_secs_f64()
    );
    assert!(
        output.status.success(),
        "the generated Python SDK failed against the API ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

/// A field of a named type is written `allOf: [{$ref}]` with its description beside it
/// (`api::described::Described`), never with a second, inline `allOf` entry: generators read
/// that as a new type (openapi-python-client dropped `createCourse` over it).
#[test]
fn promise_d5_spec_refers_to_named_schemas_without_inline_copies() {
    let json = std::fs::read_to_string(root().join("openapi/openapi.json")).unwrap();
    let spec: Value = serde_json::from_str(&json).unwrap();
    let mut found = Vec::new();
    collect_all_of(&spec, "#", &mut found);
    let bad: Vec<_> = found
        .iter()
        .filter(|(_, all_of)| !is_single_ref(all_of))
        .map(|(at, _)| at.as_str())
        .collect();
    assert!(
        bad.is_empty(),
        "allOf with more than a single $ref (wrap the field's type in Described):\n  {}",
        bad.join("\n  ")
    );
}

/// `[{"$ref": …}]` and nothing else.
fn is_single_ref(all_of: &[Value]) -> bool {
    match all_of {
        [only] => only
            .as_object()
            .is_some_and(|o| o.len() == 1 && o.contains_key("$ref")),
        _ => false,
    }
}

fn collect_all_of(value: &Value, at: &str, found: &mut Vec<(String, Vec<Value>)>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(all_of)) = map.get("allOf") {
                found.push((at.to_string(), all_of.clone()));
            }
            for (key, child) in map {
                collect_all_of(child, &format!("{at}/{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                collect_all_of(child, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}
