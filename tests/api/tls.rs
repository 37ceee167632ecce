//! Encryption in transit (S1): with a certificate configured the real `hub` binary serves
//! HTTPS only and sends HSTS. Drives the binary with Debian's `openssl` (to make a throwaway
//! certificate) and `curl` (as the client), both on every machine this project runs on.

use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promise_s1_tls_listener_serves_https_with_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(made.success(), "openssl could not make a test certificate");

    let port = free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_hub"))
        .arg("serve")
        .env_clear()
        .env("HUB_LISTEN", format!("127.0.0.1:{port}"))
        .env("HUB_DATA_DIR", dir.path().join("data"))
        .env("HUB_TLS_CERT_FILE", &cert)
        .env("HUB_TLS_KEY_FILE", &key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let url = format!("https://localhost:{port}/healthz");
    let mut headers = String::new();
    for _ in 0..100 {
        let out = Command::new("curl")
            .args([
                "-sS",
                "-D",
                "-",
                "-o",
                "/dev/null",
                "--resolve",
                &format!("localhost:{port}:127.0.0.1"),
            ])
            .arg("--cacert")
            .arg(&cert)
            .arg(&url)
            .output()
            .await
            .unwrap();
        if out.status.success() {
            headers = String::from_utf8_lossy(&out.stdout).to_lowercase();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        headers.starts_with("http/1.1 200") || headers.starts_with("http/2 200"),
        "no HTTPS answer: {headers:?}"
    );
    assert!(
        headers.contains("strict-transport-security: max-age="),
        "HSTS missing: {headers}"
    );

    let plain = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
        ])
        .arg(format!("http://127.0.0.1:{port}/healthz"))
        .output()
        .await
        .unwrap();
    assert_ne!(
        String::from_utf8_lossy(&plain.stdout),
        "200",
        "plain HTTP must not be served when TLS is on"
    );

    server.kill().await.unwrap();
}
