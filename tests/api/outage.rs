//! Losing the database is an outage the client can wait out, never a fault: while PostgreSQL
//! ends the gateway's connections under steady reads and writes, every answer is 2xx or a
//! 503 problem with `Retry-After` (never 500), every write that was acknowledged is there
//! afterwards, and `/readyz` recovers once the database is back. A read whose connection is
//! ended mid-work is retried once on a fresh connection (`Tenancy::read`).
//!
//! PostgreSQL only: the outage is made by ending the test database's own backends with
//! `pg_terminate_backend` from an admin connection (as a restart or failover ends them), and
//! the embedded SQLite default has no server and no connections to lose. Its way of being
//! unavailable, a file that stays busy or locked past the busy timeout, is classified by the
//! same function, tested with a real locked SQLite file in `hub-tenant` (`error::tests`).

use crate::support::{Backend, Reply, admin_url, spawn};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// How many times the backends are ended at least, and the pause between two rounds. The
/// rounds go on (up to `MAX_ROUNDS`) until writes were acknowledged in between, so a slow
/// machine still tests writes under the outage.
const ROUNDS: usize = 15;
const MAX_ROUNDS: usize = 300;
const ACKNOWLEDGED_WRITES: usize = 10;
const PAUSE: Duration = Duration::from_millis(100);

/// What one client saw: every answer, and the ids of the courses it was told were created.
#[derive(Default)]
struct Seen {
    answers: Vec<(String, Reply)>,
    created: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_drops_its_connections_answers_503_and_loses_no_acknowledged_write() {
    let app = Arc::new(spawn(Backend::Postgres).await);
    let north = app.create_institution("north").await;
    let token = Arc::new(north.admin_token);
    let database = app
        .database_url
        .as_deref()
        .and_then(|u| u.rsplit('/').next())
        .map(|name| name.split('?').next().unwrap_or(name).to_string())
        .expect("the test's own database");
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicUsize::new(0));

    let mut clients = Vec::new();
    for writer in 0..2 {
        let (app, token, stop) = (app.clone(), token.clone(), stop.clone());
        let acknowledged = acknowledged.clone();
        clients.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let code = format!("W{writer}-{i}");
                let reply = app
                    .post(
                        "/v1/courses",
                        &token,
                        json!({ "code": code, "title": format!("Course {code}") }),
                    )
                    .await;
                if reply.status == StatusCode::CREATED {
                    seen.created
                        .push(reply.body["id"].as_str().expect("an id").to_string());
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                }
                seen.answers
                    .push((format!("POST /v1/courses ({code})"), reply));
            }
            seen
        }));
    }
    for _reader in 0..2 {
        let (app, token, stop) = (app.clone(), token.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            while !stop.load(Ordering::Relaxed) {
                for path in ["/v1/courses?limit=20", "/v1/me"] {
                    let reply = app.get(path, &token).await;
                    seen.answers.push((format!("GET {path}"), reply));
                }
            }
            seen
        }));
    }

    let admin = Database::connect(admin_url())
        .await
        .expect("admin connection");
    let mut ended = 0i64;
    let mut rounds = 0;
    while rounds < ROUNDS
        || (acknowledged.load(Ordering::Relaxed) < ACKNOWLEDGED_WRITES && rounds < MAX_ROUNDS)
    {
        rounds += 1;
        tokio::time::sleep(PAUSE).await;
        let row = admin
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::bigint AS n \
                 FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                [database.clone().into()],
            ))
            .await
            .expect("terminate")
            .expect("a row");
        ended += row.try_get::<i64>("", "n").expect("a count");
    }
    stop.store(true, Ordering::Relaxed);
    let mut answers = Vec::new();
    let mut created = Vec::new();
    for client in clients {
        let seen = client.await.expect("client task");
        answers.extend(seen.answers);
        created.extend(seen.created);
    }

    assert!(
        ended > 0,
        "no backend of {database} was ended: the test tested nothing"
    );
    let mut unavailable = 0;
    for (request, reply) in &answers {
        let status = reply.status.as_u16();
        if status == 503 {
            unavailable += 1;
            reply.assert_problem(503, "storage_unavailable");
            let retry_after: u64 = reply
                .header("retry-after")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{request}: 503 without Retry-After"));
            assert!(retry_after >= 1, "{request}: Retry-After {retry_after}");
        } else {
            assert!(
                reply.status.is_success(),
                "{request}: {status} while the database dropped connections: {}",
                reply.body
            );
        }
    }
    assert!(
        answers.len() > unavailable,
        "nothing succeeded in {} answers",
        answers.len()
    );
    assert!(!created.is_empty(), "no write was acknowledged");
    println!(
        "{} backends ended in {rounds} rounds; {} answers, {unavailable} of them 503; {} writes acknowledged",
        ended,
        answers.len(),
        created.len()
    );

    // The database is back: readiness recovers (bounded wait), and every acknowledged write
    // is there.
    let mut ready = None;
    for _ in 0..100 {
        let reply = app.call(reqwest::Method::GET, "/readyz", None, None).await;
        if reply.status == StatusCode::OK {
            ready = Some(reply);
            break;
        }
        reply.assert_problem(503, "database_unavailable");
        assert!(
            reply.header("retry-after").is_some(),
            "readiness 503 without Retry-After"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready.is_some(), "/readyz did not recover");
    for id in &created {
        let reply = app.get(&format!("/v1/courses/{id}"), &token).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "acknowledged course {id} is missing: {}",
            reply.body
        );
    }
}

/// A read whose connection the server ends mid-work (after `begin`, between two statements)
/// runs again, once, on a fresh connection (`Tenancy::read`), so the reader gets its answer
/// instead of a 503; a read that fails for any other reason is not repeated. Deterministic:
/// the work ends its own backend on its first attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_loses_its_connection_mid_work_is_retried_once_on_a_fresh_one() {
    use hub_tenant::{Principal, TenantError};
    let app = spawn(Backend::Postgres).await;
    let north = app.create_institution("north").await;
    let Principal::Tenant(principal) = app
        .state
        .tenancy
        .authenticate(&north.admin_token)
        .await
        .unwrap()
    else {
        panic!("an institution's key")
    };
    let admin = Database::connect(admin_url()).await.unwrap();
    let pid_query =
        || Statement::from_string(DbBackend::Postgres, "SELECT pg_backend_pid() AS pid");
    let attempts = AtomicUsize::new(0);
    let (attempts_ref, admin_ref) = (&attempts, &admin);
    let pids = app
        .state
        .tenancy
        .read(&principal, move |scope| async move {
            let pid: i32 = scope
                .db()
                .query_one_raw(pid_query())
                .await?
                .expect("a row")
                .try_get("", "pid")?;
            if attempts_ref.fetch_add(1, Ordering::SeqCst) == 0 {
                admin_ref
                    .execute_raw(Statement::from_string(
                        DbBackend::Postgres,
                        format!("SELECT pg_terminate_backend({pid})"),
                    ))
                    .await?;
                // The next statement of this unit of work meets the ended connection.
                scope.db().query_one_raw(pid_query()).await?;
                panic!("a statement on an ended backend succeeded");
            }
            Ok::<_, TenantError>(pid)
        })
        .await;
    assert!(pids.is_ok(), "{pids:?}");
    assert_eq!(attempts.load(Ordering::SeqCst), 2, "one retry");

    // Any other failure is the answer: not repeated.
    let attempts = AtomicUsize::new(0);
    let attempts_ref = &attempts;
    let refused = app
        .state
        .tenancy
        .read(&principal, move |_scope| async move {
            attempts_ref.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(TenantError::NotFound("course"))
        })
        .await;
    assert!(matches!(refused, Err(TenantError::NotFound(_))));
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
}
