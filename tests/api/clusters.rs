//! Tenant schemas spread over two PostgreSQL clusters: the registry records each tenant's
//! cluster, the scope opens its transaction there, and provisioning, isolation, migration
//! and offboarding all follow. The second cluster is a real one on another loopback port,
//! created by `scripts/ensure-second-cluster.sh` (`make test` runs it).

use crate::support::{Backend, create_database_on, spawn_with};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::json;

fn second_cluster_admin_url() -> String {
    std::env::var("HUB_TEST_SECOND_DATABASE_URL")
        .expect("HUB_TEST_SECOND_DATABASE_URL must point at the second PostgreSQL cluster (make test sets it)")
}

async fn schema_exists(database_url: &str, schema: &str) -> bool {
    let db = Database::connect(database_url).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(*)::bigint AS n FROM pg_namespace WHERE nspname = $1",
            [schema.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap() == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_on_two_clusters_are_provisioned_isolated_migrated_and_offboarded() {
    let second_url = create_database_on(&second_cluster_admin_url()).await;
    let app = spawn_with(Backend::Postgres, |c| {
        c.clusters.insert("second".into(), second_url.clone());
    })
    .await;
    let primary_url = app.database_url.clone().unwrap();

    let north = app.create_institution("north").await;
    let south_reply = app
        .post(
            "/v1/tenants",
            &app.operator_token,
            json!({"slug": "south", "name": "South College", "cluster": "second"}),
        )
        .await;
    assert_eq!(
        south_reply.status,
        StatusCode::CREATED,
        "{}",
        south_reply.body
    );
    assert_eq!(south_reply.body["tenant"]["cluster"], "second");
    let south_id: uuid::Uuid = south_reply.body["tenant"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let south_token = south_reply.body["admin_api_key"]["token"]
        .as_str()
        .unwrap()
        .to_string();

    // The registry says where each schema lives, and it is there and only there.
    let south_location = app.state.tenancy.tenant_location(south_id).await.unwrap();
    let north_location = app
        .state
        .tenancy
        .tenant_location(north.id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(south_location.cluster, "second");
    assert_eq!(north_location.cluster, "primary");
    assert!(schema_exists(&second_url, south_location.schema.as_str()).await);
    assert!(!schema_exists(&primary_url, south_location.schema.as_str()).await);
    assert!(schema_exists(&primary_url, north_location.schema.as_str()).await);
    assert!(!schema_exists(&second_url, north_location.schema.as_str()).await);

    // Both tenants work, each only with its own data.
    let south_course = app
        .post(
            "/v1/courses",
            &south_token,
            json!({"code": "S-1", "title": "South course"}),
        )
        .await;
    assert_eq!(
        south_course.status,
        StatusCode::CREATED,
        "{}",
        south_course.body
    );
    let south_course_id = south_course.body["id"].as_str().unwrap();
    let south_contact = app
        .post(
            "/v1/contacts",
            &south_token,
            json!({"role": "billing", "name": "Sam South", "email": "sam@south.example"}),
        )
        .await;
    assert_eq!(
        south_contact.status,
        StatusCode::CREATED,
        "{}",
        south_contact.body
    );
    let north_course = app
        .post(
            "/v1/courses",
            &north.admin_token,
            json!({"code": "N-1", "title": "North course"}),
        )
        .await;
    let north_course_id = north_course.body["id"].as_str().unwrap();

    app.get(
        &format!("/v1/courses/{south_course_id}"),
        &north.admin_token,
    )
    .await
    .assert_problem(404, "course_not_found");
    app.get(&format!("/v1/courses/{north_course_id}"), &south_token)
        .await
        .assert_problem(404, "course_not_found");
    let south_list = app.get("/v1/courses", &south_token).await;
    assert_eq!(south_list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(south_list.body["items"][0]["code"], "S-1");
    assert_eq!(
        app.get("/readyz", &south_token).await.status,
        StatusCode::OK
    );

    // `hub migrate` reaches tenants on both clusters.
    let outcomes = app
        .state
        .tenancy
        .migrate_all_tenants(1, |_, _, _| {})
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");

    // Placement on a cluster nobody configured is refused, and creates nothing.
    let unknown = app
        .post(
            "/v1/tenants",
            &app.operator_token,
            json!({"slug": "west", "name": "West", "cluster": "mars"}),
        )
        .await;
    unknown.assert_problem(422, "validation_failed");
    assert_eq!(unknown.body["errors"][0]["field"], "cluster");
    let listed = app.get("/v1/tenants", &app.operator_token).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);

    // Offboarding drops the schema on the tenant's own cluster, keys first.
    let offboarded = app
        .call(
            Method::POST,
            &format!("/v1/tenants/{south_id}/offboard"),
            Some(&app.operator_token),
            Some(json!({"confirm_slug": "south", "reason": "test"})),
        )
        .await;
    assert_eq!(offboarded.status, StatusCode::OK, "{}", offboarded.body);
    assert!(!schema_exists(&second_url, south_location.schema.as_str()).await);
    assert_eq!(
        app.state.tenancy.stored_key_count(south_id).await.unwrap(),
        0
    );
    assert_eq!(
        app.get("/v1/courses", &north.admin_token).await.status,
        StatusCode::OK
    );
}
