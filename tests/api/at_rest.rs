//! Promise D2 at rest: personal data sent through the API never reaches the storage in a
//! readable form. What an attacker with a database dump (PostgreSQL) or a copy of the data
//! directory (SQLite) would see is searched for the plaintext, while the same data still
//! reads back through the API and non-personal data (a course title) is visible in the very
//! same bytes, which proves the search can see stored data at all.

// Test code: a failed unwrap is a failed test with its reason, which is what we want.

use crate::both_backends;
use crate::support::{Backend, TestApp, spawn};
use reqwest::StatusCode;
use serde_json::json;
use std::path::Path;

both_backends!(promise_d2_personal_data_is_ciphertext_at_rest);

async fn promise_d2_personal_data_is_ciphertext_at_rest(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    let unique = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let name = format!("Zebulon Quartermaine-{unique}");
    // Mixed case, so that the normalised (lower-case) form used for lookups is a distinct
    // plaintext that must not be stored either.
    let email = format!("ZQ-{unique}@Example.org");
    let digits: String = unique
        .bytes()
        .map(|b| char::from(b'1' + b % 9))
        .take(6)
        .collect();
    let phone = format!("+441632{digits}");
    // Its own random part: the title must not contain any of the secrets searched for.
    let title = format!(
        "Visible Course Title {}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );

    let course = app
        .post(
            "/v1/courses",
            token,
            json!({"code": "VIS-1", "title": title}),
        )
        .await;
    assert_eq!(course.status, StatusCode::CREATED, "{}", course.body);
    let created = app
        .post(
            "/v1/contacts",
            token,
            json!({"role": "data_protection_officer", "name": name, "email": email, "phone": phone}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();

    // It is still the institution's data: it reads back whole, and is found by email.
    let read = app.get(&format!("/v1/contacts/{id}"), token).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["name"], name);
    assert_eq!(read.body["email"], email);
    assert_eq!(read.body["phone"], phone);
    let found = app
        .get(
            &format!("/v1/contacts?email={}", email.to_lowercase()),
            token,
        )
        .await;
    assert_eq!(found.body["items"][0]["id"], id.as_str(), "{}", found.body);

    let secrets = [
        name.clone(),
        name.to_lowercase(),
        email.clone(),
        email.to_lowercase(),
        phone.clone(),
        phone.trim_start_matches('+').to_string(),
        unique.clone(),
    ];
    let tenant_id = uuid::Uuid::parse_str(&north.id).unwrap();
    let location = app.state.tenancy.tenant_location(tenant_id).await.unwrap();
    let schema = location.schema.as_str().to_string();

    let stores: Vec<(String, Vec<u8>)> = match backend {
        Backend::Postgres => vec![
            (
                format!("pg_dump --data-only --schema={schema}"),
                pg_dump(&app, &["--data-only", &format!("--schema={schema}")]).await,
            ),
            (
                "pg_dump of the whole database".into(),
                pg_dump(&app, &[]).await,
            ),
        ],
        Backend::Sqlite => {
            let tenant_files = app.data_dir().join("tenants");
            let mut tenant_bytes = Vec::new();
            for suffix in ["", "-wal"] {
                let file = tenant_files.join(format!("{schema}.db{suffix}"));
                if file.exists() {
                    tenant_bytes.extend(std::fs::read(&file).unwrap());
                }
            }
            assert!(!tenant_bytes.is_empty(), "no tenant file for {schema}");
            let mut everything = Vec::new();
            read_tree(app.data_dir(), &mut everything);
            vec![
                (format!("tenants/{schema}.db (+ -wal)"), tenant_bytes),
                ("every file in the data directory".into(), everything),
            ]
        }
    };

    for (what, bytes) in &stores {
        assert!(
            contains(bytes, title.as_bytes()),
            "{what}: the course title is not visible, so this check could not see stored data"
        );
        for secret in &secrets {
            // Plain bytes, and the hex form in which pg_dump writes `bytea` columns.
            let hexed = hex::encode(secret.as_bytes());
            assert!(
                !contains(bytes, secret.as_bytes()) && !contains(bytes, hexed.as_bytes()),
                "{what}: personal data `{secret}` is stored readable"
            );
        }
    }
}

async fn pg_dump(app: &TestApp, args: &[&str]) -> Vec<u8> {
    let url = app.database_url.as_deref().expect("a PostgreSQL test app");
    let output = tokio::process::Command::new("pg_dump")
        .args(args)
        .arg("--no-owner")
        .arg(format!("--dbname={url}"))
        .output()
        .await
        .expect("pg_dump runs (Debian: postgresql-client)");
    assert!(
        output.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn read_tree(dir: &Path, out: &mut Vec<u8>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_tree(&path, out);
        } else {
            out.extend(std::fs::read(&path).unwrap());
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
