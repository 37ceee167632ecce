//! The LRS's hot paths are served by indexes: no write or read of the xAPI resources reads a
//! statement or document table whole. A write once asked an unindexed column (`voids`) on
//! every batch, and ingest slowed as the LRS grew; `make bench` found it, which is late. This
//! check finds that class at once: on PostgreSQL with `enable_seqscan = off` the planner
//! still scans a table sequentially only when no index can serve the query at all, and
//! `pg_stat_user_tables.seq_scan` counts each such scan. It drives every statement filter,
//! voiding, re-sent statements, `more` paging and the three document resources, then
//! reads the counters of the LRS's tables in the institution's schema. A second check bounds
//! the rows a filtered read fetches: a plan that walks the whole `stored` order to find a few
//! old statements is no sequential scan, but reads the table whole all the same.
//!
//! PostgreSQL only: SQLite has no planner switch or scan counters to read (its queries are
//! the same sea-orm queries over the same indexes, created by the same migrations).

use crate::support::{
    Backend, TestApp, admin_url, spawn_on_same_storage, spawn_with, with_database,
};
use crate::xapi::{Lrs, doc, encode, lrs_credential, xapi};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The tables of the LRS's statements and documents (credentials are looked up by their key,
/// once per request, through the control plane's own index).
const LRS_TABLES: [&str; 4] = [
    "xapi_statements",
    "xapi_statement_agents",
    "xapi_statement_activities",
    "xapi_documents",
];

/// What a sequential scan counts of a table: the scans themselves.
const SCANS: &str = "seq_scan";
/// The rows a table gave, read sequentially or fetched through an index.
const FETCHED: &str = "seq_tup_read + COALESCE(idx_tup_fetch, 0)";

/// Per LRS table in the institution's schema, the `measure` (an expression over
/// `pg_stat_user_tables`: [`SCANS`], [`FETCHED`]) and the rows inserted.
async fn counters(db: &DatabaseConnection, measure: &str) -> BTreeMap<String, (i64, i64)> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT relname, ({measure})::bigint AS measured, n_tup_ins FROM pg_stat_user_tables \
                 WHERE schemaname LIKE 't\\_%' AND relname LIKE 'xapi\\_%'"
            ),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            (
                row.try_get::<String>("", "relname").unwrap(),
                (
                    row.try_get::<i64>("", "measured").unwrap(),
                    row.try_get::<i64>("", "n_tup_ins").unwrap(),
                ),
            )
        })
        .filter(|(name, _)| LRS_TABLES.contains(&name.as_str()))
        .collect()
}

fn statement(n: usize, registration: &str) -> Value {
    json!({
        "actor": {"objectType": "Agent", "mbox": format!("mailto:learner{}@plans.test", n % 5)},
        "verb": {"id": format!("http://adlnet.gov/expapi/verbs/{}",
                               if n.is_multiple_of(2) { "experienced" } else { "attempted" })},
        "object": {"objectType": "Activity", "id": format!("http://plans.test/activity/{}", n % 7)},
        "context": {
            "registration": registration,
            "instructor": {"objectType": "Agent", "mbox": "mailto:teacher@plans.test"},
            "contextActivities": {"parent": [{"id": "http://plans.test/course"}]}
        },
    })
}

async fn ok(app: &TestApp, lrs: &Lrs, method: Method, path: &str, body: Option<Value>) -> Value {
    let reply = xapi(app, lrs, method, path, body, Some("1.0.3")).await;
    assert!(
        reply.status.is_success(),
        "{path}: {} {}",
        reply.status,
        reply.body
    );
    reply.body
}

/// A PostgreSQL gateway whose scheduled sweeps and jobs stay off the LRS's tables while they
/// are measured, an institution `slug` and an LRS credential of every scope.
async fn quiet_lrs(slug: &str) -> (TestApp, Lrs) {
    let quiet = |config: &mut hub_gateway::config::Config| {
        config.retention_sweep_secs = 0;
        config.deadline_sweep_secs = 86_400;
    };
    let first = spawn_with(Backend::Postgres, quiet).await;
    let institution = first.create_institution(slug).await;
    let lrs = lrs_credential(&first, &institution.admin_token, &["all"]).await;
    (first, lrs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lrs_reads_and_writes_never_scan_a_table_whole() {
    let (first, lrs) = quiet_lrs("plans").await;

    // Sessions opened from now on plan without sequential scans wherever an index can serve;
    // a second gateway on the same database (and the first's quiet jobs) opens its own, fresh
    // connections.
    let url = first.database_url.clone().unwrap();
    let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let admin = Database::connect(admin_url()).await.unwrap();
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{name}\" SET enable_seqscan = off"
        ))
        .await
        .unwrap();
    // The first gateway's sessions report what setting up the institution scanned when they
    // end: end them now and wait for their counters, so only what follows is measured.
    end_sessions(&admin, name).await;
    let db = Database::connect(with_database(&admin_url(), name))
        .await
        .unwrap();
    let before = settled(&db, SCANS, |_| true).await;
    let app = spawn_on_same_storage(&first).await;

    let registration = "6f1cbd3a-5a7c-4b0a-9d4e-0a1b2c3d4e5f";
    let batch: Vec<Value> = (0..50).map(|n| statement(n, registration)).collect();
    let ids = ok(
        &app,
        &lrs,
        Method::POST,
        "/xapi/statements",
        Some(json!(batch)),
    )
    .await;
    let first_id = ids[0].as_str().unwrap().to_string();
    // The same statements again (a no-op), one by id, and a voiding statement.
    let mut again = statement(0, registration);
    again["id"] = json!(first_id);
    let resent = xapi(
        &app,
        &lrs,
        Method::POST,
        "/xapi/statements",
        Some(json!([again])),
        Some("1.0.3"),
    )
    .await;
    assert!(resent.status.is_success(), "{}", resent.body);
    let put_id = "0b6f9c1e-2d3a-4f5b-8c7d-9e0f1a2b3c4d";
    let put = xapi(
        &app,
        &lrs,
        Method::PUT,
        &format!("/xapi/statements?statementId={put_id}"),
        Some(statement(51, registration)),
        Some("1.0.3"),
    )
    .await;
    assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.body);
    let voiding = json!({
        "actor": {"objectType": "Agent", "mbox": "mailto:admin@plans.test"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
        "object": {"objectType": "StatementRef", "id": first_id},
    });
    ok(&app, &lrs, Method::POST, "/xapi/statements", Some(voiding)).await;

    // Every filter, alone and together, both orders, paged.
    let agent = encode(&json!({"mbox": "mailto:learner1@plans.test"}).to_string());
    let teacher = encode(&json!({"mbox": "mailto:teacher@plans.test"}).to_string());
    let verb = encode("http://adlnet.gov/expapi/verbs/attempted");
    let activity = encode("http://plans.test/activity/3");
    let parent = encode("http://plans.test/course");
    let queries = [
        String::new(),
        format!("?agent={agent}"),
        format!("?agent={teacher}&related_agents=true"),
        format!("?verb={verb}"),
        format!("?activity={activity}"),
        format!("?activity={parent}&related_activities=true"),
        format!("?registration={registration}"),
        format!("?agent={agent}&verb={verb}&activity={activity}&ascending=true"),
        "?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z".into(),
        "?format=ids&limit=5".into(),
        format!("?statementId={put_id}"),
        format!("?voidedStatementId={first_id}"),
    ];
    for query in &queries {
        ok(
            &app,
            &lrs,
            Method::GET,
            &format!("/xapi/statements{query}"),
            None,
        )
        .await;
    }
    let page = ok(&app, &lrs, Method::GET, "/xapi/statements?limit=10", None).await;
    let more = page["more"].as_str().unwrap().to_string();
    assert!(!more.is_empty(), "{page}");
    ok(&app, &lrs, Method::GET, &more, None).await;

    // The document resources: write, read, list, delete.
    let activity_id = encode("http://plans.test/activity/1");
    let state = format!(
        "/xapi/activities/state?activityId={activity_id}&agent={agent}&registration={registration}"
    );
    let profile = format!("/xapi/activities/profile?activityId={activity_id}");
    let agent_profile = format!("/xapi/agents/profile?agent={agent}");
    for base in [&state, &profile, &agent_profile] {
        let id = if base == &state {
            "stateId"
        } else {
            "profileId"
        };
        let path = format!("{base}&{id}=bookmark");
        let put = doc(
            &app,
            &lrs,
            Method::PUT,
            &path,
            Some(("application/json", br#"{"page": 3}"#)),
            &[("If-None-Match", "*")],
        )
        .await;
        assert_eq!(put.status, StatusCode::NO_CONTENT, "{path}: {}", put.body);
        let read = doc(&app, &lrs, Method::GET, &path, None, &[]).await;
        assert_eq!(read.status, StatusCode::OK, "{path}: {}", read.body);
        let list = doc(&app, &lrs, Method::GET, base, None, &[]).await;
        assert_eq!(list.status, StatusCode::OK, "{base}: {}", list.body);
        let etag = read.header("etag").unwrap();
        let delete = doc(
            &app,
            &lrs,
            Method::DELETE,
            &path,
            None,
            &[("If-Match", &etag)],
        )
        .await;
        assert_eq!(
            delete.status,
            StatusCode::NO_CONTENT,
            "{path}: {}",
            delete.body
        );
    }
    let agents = doc(
        &app,
        &lrs,
        Method::GET,
        &format!("/xapi/agents?agent={agent}"),
        None,
        &[],
    )
    .await;
    assert_eq!(agents.status, StatusCode::OK, "{}", agents.body);
    let activities = doc(
        &app,
        &lrs,
        Method::GET,
        &format!("/xapi/activities?activityId={activity_id}"),
        None,
        &[],
    )
    .await;
    assert_eq!(activities.status, StatusCode::OK, "{}", activities.body);

    // Backends report their counters when idle or when they end: end every one but ours, then
    // read until the statements inserted above are all counted (so the writers' reports are
    // in: 50, the one put by id and the voiding statement) and two reads agree.
    end_sessions(&admin, name).await;
    let expected = before.get("xapi_statements").map_or(0, |c| c.1) + 52;
    let after = settled(&db, SCANS, |now| {
        now.get("xapi_statements").map_or(0, |c| c.1) >= expected
    })
    .await;
    let scanned: Vec<String> = LRS_TABLES
        .iter()
        .filter_map(|table| {
            let was = before.get(*table).map_or(0, |c| c.0);
            let now = after.get(*table).map_or(0, |c| c.0);
            (now > was).then(|| format!("{table}: {} sequential scans", now - was))
        })
        .collect();
    assert!(
        scanned.is_empty(),
        "queries of the LRS that no index serves (find them with EXPLAIN under \
         enable_seqscan = off): {scanned:?}"
    );
}

/// Ends every session of database `name` but the caller's.
async fn end_sessions(admin: &DatabaseConnection, name: &str) {
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .await
        .unwrap();
}

/// The `measure` counters once `complete` holds for them and two reads 300 ms apart agree (ended
/// sessions report theirs as they exit); a test failure if that never happens.
async fn settled(
    db: &DatabaseConnection,
    measure: &str,
    complete: impl Fn(&BTreeMap<String, (i64, i64)>) -> bool,
) -> BTreeMap<String, (i64, i64)> {
    let mut last = counters(db, measure).await;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let now = counters(db, measure).await;
        if now == last && complete(&now) {
            return now;
        }
        last = now;
    }
    panic!("the statistics never settled: {last:?}");
}

/// A filtered read fetches about the rows it answers, whatever their age. The five oldest of
/// 1,000 statements alone carry a rare agent, verb, activity and registration; each filter
/// for them, read newest first a page of 10, answers those five. A plan that walks the
/// `stored` order and tests each row (the `activity` filter did, on an unindexed column)
/// fetches all 1,000 rows before it can stop; with an index behind every filter a read fetches
/// a handful. The index-less way is made the planner's last resort (`enable_seqscan = off`)
/// and the statistics exact (`ANALYZE`), so the plans do not depend on a sampling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lrs_filtered_reads_touch_only_what_they_answer() {
    let (first, lrs) = quiet_lrs("touch").await;

    let rare_registration = "1b7e4c2a-0d3f-4a5b-9c8d-7e6f5a4b3c2d";
    let common_registration = "2c8f5d3b-1e4a-4b6c-8d9e-8f7a6b5c4d3e";
    let statement = |n: usize| {
        let rare = n < 5;
        json!({
            "actor": {"objectType": "Agent", "mbox": if rare {
                "mailto:rare@touch.test".to_string()
            } else {
                format!("mailto:learner{}@touch.test", n % 7)
            }},
            "verb": {"id": if rare {
                "http://adlnet.gov/expapi/verbs/mastered"
            } else {
                "http://adlnet.gov/expapi/verbs/experienced"
            }},
            "object": {"objectType": "Activity", "id": if rare {
                "http://touch.test/activity/rare".to_string()
            } else {
                format!("http://touch.test/activity/{}", n % 3)
            }},
            "context": {
                "registration": if rare { rare_registration } else { common_registration },
                "contextActivities": {"parent": [{"id": if rare {
                    "http://touch.test/course/rare"
                } else {
                    "http://touch.test/course"
                }}]}
            },
        })
    };
    for start in (0..1000).step_by(50) {
        let batch: Vec<Value> = (start..start + 50).map(statement).collect();
        ok(
            &first,
            &lrs,
            Method::POST,
            "/xapi/statements",
            Some(json!(batch)),
        )
        .await;
    }

    let url = first.database_url.clone().unwrap();
    let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let admin = Database::connect(admin_url()).await.unwrap();
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{name}\" SET enable_seqscan = off"
        ))
        .await
        .unwrap();
    let db = Database::connect(with_database(&admin_url(), name))
        .await
        .unwrap();
    db.execute_unprepared("ANALYZE").await.unwrap();
    end_sessions(&admin, name).await;
    let before = settled(&db, FETCHED, |now| {
        now.get("xapi_statements").map_or(0, |c| c.1) >= 1000
    })
    .await;
    let app = spawn_on_same_storage(&first).await;

    let rare_agent = encode(&json!({"mbox": "mailto:rare@touch.test"}).to_string());
    let queries = [
        format!("?agent={rare_agent}"),
        format!("?agent={rare_agent}&related_agents=true"),
        format!(
            "?verb={}",
            encode("http://adlnet.gov/expapi/verbs/mastered")
        ),
        format!("?activity={}", encode("http://touch.test/activity/rare")),
        format!(
            "?activity={}&related_activities=true",
            encode("http://touch.test/course/rare")
        ),
        format!("?registration={rare_registration}"),
    ];
    for query in &queries {
        let page = ok(
            &app,
            &lrs,
            Method::GET,
            &format!("/xapi/statements{query}&limit=10"),
            None,
        )
        .await;
        assert_eq!(
            page["statements"].as_array().unwrap().len(),
            5,
            "{query}: {page}"
        );
    }
    // A marker write, so the readers' counters are known to be in once it is counted.
    ok(
        &app,
        &lrs,
        Method::POST,
        "/xapi/statements",
        Some(statement(1000)),
    )
    .await;
    end_sessions(&admin, name).await;
    let after = settled(&db, FETCHED, |now| {
        now.get("xapi_statements").map_or(0, |c| c.1) >= 1001
    })
    .await;

    // Five rows a read and their index rows, with room for the marker's own lookups; a
    // walk of the whole table fetches 1,000 rows in one read.
    let budget = 40 * queries.len() as i64;
    let over: Vec<String> = LRS_TABLES
        .iter()
        .filter_map(|table| {
            let fetched =
                after.get(*table).map_or(0, |c| c.0) - before.get(*table).map_or(0, |c| c.0);
            (fetched > budget).then(|| format!("{table}: {fetched} rows fetched"))
        })
        .collect();
    assert!(
        over.is_empty(),
        "{} filtered reads of five statements each fetched more than {budget} rows of a \
         table (find the plan with EXPLAIN ANALYZE): {over:?}",
        queries.len()
    );
}
