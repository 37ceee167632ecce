//! Configuration at start-up: the real `hub` binary, with other programs' `HUB_*` variables in
//! its environment (the GitHub CLI `hub` reads `HUB_PROTOCOL`, `HUB_VERBOSE`), still serves
//! and names each ignored variable in a warning.

use crate::support::{self, Backend};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn server_starts_with_foreign_hub_variables(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_hub"));
    command
        .arg("serve")
        .env_clear()
        .env("HUB_CONFIG", dir.path().join("absent.toml"))
        .env("HUB_LISTEN", format!("127.0.0.1:{port}"))
        .env("HUB_DATA_DIR", dir.path().join("data"))
        .env("HUB_DNS_NAMESERVER", "127.0.0.1:9")
        .env("HUB_PROTOCOL", "https")
        .env("HUB_VERBOSE", "1");
    if backend == Backend::Postgres {
        command
            .env("DATABASE_URL", support::create_database().await)
            .env("REDIS_URL", support::redis_url())
            .env("HUB_KEK", "ab".repeat(32));
    }
    let mut server = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    hub_identity::oidc::install_tls_provider();
    let client = reqwest::Client::new();
    let mut status = None;
    for _ in 0..300 {
        if let Ok(reply) = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
        {
            status = Some(reply.status().as_u16());
            break;
        }
        if server.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.start_kill().unwrap();
    let output = server.wait_with_output().await.unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(status, Some(200), "server did not serve; output:\n{logs}");
    for variable in ["HUB_PROTOCOL", "HUB_VERBOSE"] {
        assert!(
            logs.contains(&format!("{variable} is not a Hub setting and is ignored")),
            "no warning for {variable}:\n{logs}"
        );
    }
}

crate::both_backends!(server_starts_with_foreign_hub_variables);
