//! The test harness: every test gets its own app on port 0, its own PostgreSQL database (or
//! SQLite data directory), a fresh key-encryption key and an operator key, and talks to it
//! over real HTTP. Tests therefore run in parallel without sharing state.

// Test code: a failed unwrap is a failed test with its reason, which is what we want.

use hub_gateway::app;
use hub_gateway::config::Config;
use hub_gateway::state::AppState;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub operator_token: String,
    pub state: Arc<AppState>,
    pub backend: Backend,
    /// The PostgreSQL URL of this test's own database.
    pub database_url: Option<String>,
    _data_dir: tempfile::TempDir,
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The `field` of every per-field error in a problem answer, in order.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts an RFC 9457 answer with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "not a problem answer: {}",
            self.body
        );
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status);
    }
}

pub struct Institution {
    pub id: String,
    pub slug: String,
    pub admin_token: String,
}

pub fn admin_url() -> String {
    std::env::var("HUB_TEST_DATABASE_URL")
        .expect("HUB_TEST_DATABASE_URL must point at PostgreSQL (make test sets it)")
}

pub fn redis_url() -> String {
    std::env::var("HUB_TEST_REDIS_URL")
        .expect("HUB_TEST_REDIS_URL must point at Redis (make test sets it)")
}

/// Replaces the database name in a PostgreSQL URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (head, tail) = url.split_once("://").expect("a URL");
    let (authority, rest) = tail.split_once('/').unwrap_or((tail, ""));
    let query = rest
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{head}://{authority}/{name}{query}")
}

/// Clusters already swept of databases left by earlier runs.
static SWEPT: tokio::sync::Mutex<Vec<String>> = tokio::sync::Mutex::const_new(Vec::new());

/// Drops databases left by earlier runs of this suite on one cluster (a panicking test
/// cannot clean up), once per process and cluster.
async fn drop_stale_databases(admin_url: &str) {
    let mut swept = SWEPT.lock().await;
    if swept.iter().any(|u| u == admin_url) {
        return;
    }
    let admin = Database::connect(admin_url)
        .await
        .expect("PostgreSQL reachable");
    let rows = admin
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT datname FROM pg_database WHERE datname LIKE 'hub_t_%' \
             AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = pg_database.datname)",
        ))
        .await
        .expect("list databases");
    for row in rows {
        let name: String = row.try_get("", "datname").expect("datname");
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\""))
            .await;
    }
    swept.push(admin_url.to_string());
}

/// A fresh database of this test's own on the primary test cluster.
pub async fn create_database() -> String {
    create_database_on(&admin_url()).await
}

/// A fresh database of this test's own on the cluster `admin_url` points at.
pub async fn create_database_on(admin_url: &str) -> String {
    drop_stale_databases(admin_url).await;
    let name = format!("hub_t_{}", uuid::Uuid::now_v7().simple());
    let admin = Database::connect(admin_url)
        .await
        .expect("PostgreSQL reachable");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create database");
    with_database(admin_url, &name)
}

pub fn test_config(
    backend: Backend,
    data_dir: &std::path::Path,
    database_url: Option<String>,
) -> Config {
    let mut kek = [0u8; 32];
    rand_fill(&mut kek);
    Config {
        listen: "127.0.0.1:0".into(),
        database_url: if backend == Backend::Postgres {
            database_url
        } else {
            None
        },
        database_max_connections: 8,
        redis_url: if backend == Backend::Postgres {
            Some(redis_url())
        } else {
            None
        },
        data_dir: data_dir.to_path_buf(),
        kek: Some(hex::encode(kek).into()),
        // Shared loopback IP across parallel tests: only the dedicated test lowers these.
        rate_limit_per_ip: 1_000_000,
        rate_limit_per_key: 1_000_000,
        // Tests never query the internet's DNS; the one test that verifies a domain runs
        // its own nameserver. Nothing listens on the discard port.
        dns_nameserver: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9))),
        ..Config::default()
    }
}

fn rand_fill(bytes: &mut [u8]) {
    let material = hub_kernel::crypto::KeyMaterial::generate();
    bytes.copy_from_slice(&material.expose()[..bytes.len()]);
}

pub async fn spawn(backend: Backend) -> TestApp {
    spawn_with(backend, |_| {}).await
}

pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    hub_identity::oidc::install_tls_provider();
    let data_dir = tempfile::tempdir().expect("temp dir");
    let database_url = match backend {
        Backend::Postgres => Some(create_database().await),
        Backend::Sqlite => None,
    };
    let config = test_config(backend, data_dir.path(), database_url.clone());
    serve(
        config,
        adjust,
        "test operator",
        backend,
        database_url,
        data_dir,
    )
    .await
}

/// A second process on the first one's storage (same database or data directory, same key-
/// encryption key, same key store), as after a restart. The first keeps its data directory
/// alive.
pub async fn spawn_on_same_storage(first: &TestApp) -> TestApp {
    spawn_on_same_storage_with(first, |_| {}).await
}

/// [`spawn_on_same_storage`] with the configuration adjusted first (a restored database, say).
pub async fn spawn_on_same_storage_with(
    first: &TestApp,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let mut config = first.state.config.clone();
    adjust(&mut config);
    let database_url = config.database_url.clone();
    serve(
        config,
        |_| {},
        "test operator (restarted)",
        first.backend,
        database_url,
        // Unused: the storage is the first app's (`data_dir` answers for the first's path).
        tempfile::tempdir().expect("temp dir"),
    )
    .await
}

/// Starts the app with `config` on a port of its own and makes it an operator key.
async fn serve(
    mut config: Config,
    adjust: impl FnOnce(&mut Config),
    operator_name: &str,
    backend: Backend,
    database_url: Option<String>,
    data_dir: tempfile::TempDir,
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    // SSO callbacks are built from the public URL: the port is known only now.
    config.public_url = Some(format!("http://{addr}"));
    adjust(&mut config);
    config.validate().expect("test configuration is valid");
    let state = app::build_state(config).await.expect("app starts");
    // A re-sealing job waits out every replica's key-ring cache (5 min) before it destroys
    // the retired key and reports success; tests that rotate keys wait for that end.
    state
        .tenancy
        .set_key_cache_ttl(std::time::Duration::from_secs(1));
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).expect("acceptor");
    app::spawn_background_jobs(&state);
    let endpoint = app::build_app(state.clone());
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor)
            .run(endpoint)
            .await;
    });
    let operator = state
        .tenancy
        .create_operator_key(operator_name)
        .await
        .expect("operator key");
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        operator_token: operator.token.expose().to_string(),
        state,
        backend,
        database_url,
        _data_dir: data_dir,
    }
}

impl TestApp {
    /// A unit of work in the institution whose tenant key `token` is, as the domain sees
    /// it (for calling a personal-data source or reading the tenant's own tables).
    pub async fn tenant_scope(&self, token: &str) -> hub_tenant::TenantScope {
        let hub_tenant::Principal::Tenant(principal) =
            self.state.tenancy.authenticate(token).await.unwrap()
        else {
            panic!("not a tenant key");
        };
        self.state.tenancy.scope(&principal).await.unwrap()
    }

    /// The app's data directory (the SQLite control plane and `tenants/*.db` live here).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.state.config.data_dir
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.call_with(method, path, token, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Switches local accounts (passwords) on for the institution whose admin key this is.
    pub async fn allow_local_accounts(&self, admin: &str) {
        let settings = self.get("/v1/sign-in-settings", admin).await;
        let enabled = self
            .call_with(
                Method::PUT,
                "/v1/sign-in-settings",
                Some(admin),
                Some(serde_json::json!({"local_accounts": true})),
                &[("If-Match", &settings.header("etag").unwrap())],
            )
            .await;
        assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn create_institution(&self, slug: &str) -> Institution {
        let reply = self
            .post(
                "/v1/tenants",
                &self.operator_token,
                serde_json::json!({ "slug": slug, "name": format!("{slug} institute") }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        Institution {
            id: reply.body["tenant"]["id"].as_str().expect("id").to_string(),
            slug: slug.to_string(),
            admin_token: reply.body["admin_api_key"]["token"]
                .as_str()
                .expect("token")
                .to_string(),
        }
    }
}

/// Runs an async test body once per backend: `both_backends!(name)` expects
/// `async fn name(backend: Backend)` in the same module.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::support::Backend::Postgres).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            }
        )+
    };
}

/// A SCIM 2.0 request (`/v1/scim/v2{path}`, `application/scim+json`) with the identity
/// provider's bearer `token`; `body` is a JSON value or `None`.
pub async fn scim(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: impl Into<Option<Value>>,
) -> Reply {
    app.call_with(
        method,
        &format!("/v1/scim/v2{path}"),
        Some(token),
        body.into(),
        &[("Content-Type", "application/scim+json")],
    )
    .await
}

/// Every line the gateways of this test process log, as the gateway writes them (its own
/// subscriber, [`hub_gateway::telemetry::subscriber`], JSON lines, debug level), from the first
/// call of this on. The subscriber is process-wide, so the file holds the lines of every app
/// of the process: a test finds its own by request id, or checks what no line may hold.
pub fn captured_logs() -> &'static std::path::Path {
    static FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("hub-test-logs-{}.jsonl", std::process::id()));
        // Appending: lines written from several threads at once stay whole.
        let _ = std::fs::remove_file(&path);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("log file");
        hub_gateway::telemetry::try_init_with_writer(
            "json",
            "debug,hyper=info,hyper_util=info,h2=info,rustls=info,reqwest=info",
            Arc::new(file),
        )
        .expect("no other subscriber is installed in the test process");
        path
    })
}

/// Every key of the test Redis with its value (strings, and the members of sets, lists,
/// hashes and sorted sets, joined by spaces). The Redis of the tests is shared by every test
/// running: a caller looks for what only it could have written.
pub async fn redis_entries(app: &TestApp) -> Vec<(String, String)> {
    use redis::AsyncCommands as _;
    let client = redis::Client::open(app.state.config.redis_url.clone().unwrap()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = {
        let mut iter = redis.scan::<String>().await.unwrap();
        let mut keys = Vec::new();
        while let Some(key) = iter.next_item().await {
            keys.push(key.unwrap());
        }
        keys
    };
    let text = |items: Vec<Vec<u8>>| {
        items
            .iter()
            .map(|i| String::from_utf8_lossy(i).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut entries = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .unwrap();
        // A key that expires meanwhile reads as nothing.
        let content = match kind.as_str() {
            "string" => redis
                .get::<_, Option<Vec<u8>>>(&key)
                .await
                .ok()
                .flatten()
                .map(|v| text(vec![v])),
            "set" => redis.smembers(&key).await.ok().map(text),
            "list" => redis.lrange(&key, 0, -1).await.ok().map(text),
            "zset" => redis.zrange(&key, 0, -1).await.ok().map(text),
            "hash" => redis.hgetall::<_, Vec<Vec<u8>>>(&key).await.ok().map(text),
            _ => None,
        }
        .unwrap_or_default();
        entries.push((key, content));
    }
    entries
}
