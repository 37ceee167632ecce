//! The audit trail (S2): admin actions, sign-ins, failed sign-ins and reads of other people's
//! personal data are recorded with who, what, whom, when and from where; the trail is
//! append-only (triggers) and hash-chained, so an entry changed or removed behind the
//! database's back is reported by the verification endpoint, with the first broken entry.

use crate::both_backends;
use crate::idp::{Forgery, RogueIdp, UserAgent};
use crate::support::{Backend, TestApp, spawn};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};

both_backends!(promise_s2_every_access_to_personal_data_is_in_a_verifiable_audit_trail);

async fn entries(app: &TestApp, auditor: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/audit/events?limit=7&cursor={c}"),
            None => "/v1/audit/events?limit=7".into(),
        };
        let page = app.get(&path, auditor).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        all.extend(page.body["items"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return all,
        }
    }
}

async fn verification(app: &TestApp, auditor: &str) -> Value {
    let reply = app.get("/v1/audit/verification", auditor).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// A raw connection to the tenant's storage, bypassing the application.
async fn raw_tenant_db(
    app: &TestApp,
    backend: Backend,
    tenant_id: &str,
) -> (DatabaseConnection, String) {
    let location = app
        .state
        .tenancy
        .tenant_location(tenant_id.parse().unwrap())
        .await
        .unwrap();
    let schema = location.schema.as_str().to_string();
    match backend {
        Backend::Postgres => (
            Database::connect(app.database_url.clone().unwrap())
                .await
                .unwrap(),
            format!("\"{schema}\".audit_events"),
        ),
        Backend::Sqlite => {
            let file = app.data_dir().join("tenants").join(format!("{schema}.db"));
            (
                Database::connect(format!("sqlite://{}?mode=rw", file.display()))
                    .await
                    .unwrap(),
                "audit_events".into(),
            )
        }
    }
}

async fn promise_s2_every_access_to_personal_data_is_in_a_verifiable_audit_trail(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let auditor_key = app
        .post(
            "/v1/api-keys",
            admin,
            json!({"name": "auditor", "scopes": ["audit:read"]}),
        )
        .await;
    let auditor = auditor_key.body["token"].as_str().unwrap().to_string();

    // Admin actions and reads of other people's data.
    let created = app
        .post(
            "/v1/people",
            admin,
            json!({"name": "Grace Hopper", "email": "grace@north.test", "roles": ["learner"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let grace = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&format!("/v1/people/{grace}"), admin).await.status,
        StatusCode::OK
    );
    assert_eq!(app.get("/v1/people", admin).await.status, StatusCode::OK);
    let contact = app
        .post(
            "/v1/contacts",
            admin,
            json!({"role": "billing", "name": "Bill Payer", "email": "bill@north.test"}),
        )
        .await;
    let contact_id = contact.body["id"].as_str().unwrap().to_string();
    app.get(&format!("/v1/contacts/{contact_id}"), admin).await;

    // A sign-in and a failed one (a forged token).
    let rogue = RogueIdp::start("hub-north", "mallory", "mallory@north.test").await;
    let connection = app
        .post(
            "/v1/sso/connections",
            admin,
            json!({"name": "IdP", "issuer": rogue.issuer, "client_id": "hub-north", "client_secret": "x"}),
        )
        .await;
    let login = format!(
        "{}{}",
        app.base,
        connection.body["login_path"].as_str().unwrap()
    );
    let callback = format!("{}/v1/sso/oidc/callback", app.base);
    for forgery in [Forgery::Honest, Forgery::ForeignKey] {
        rogue.forge_next(forgery);
        let agent = UserAgent::new();
        let (url, _, _) = agent.follow(login.clone(), Some(&callback)).await;
        agent.callback(&url).await;
    }

    let trail = entries(&app, &auditor).await;
    let find = |action: &str| {
        trail
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {trail:#?}"))
            .clone()
    };
    let read = find("person.read");
    assert_eq!(read["subject"], format!("person:{grace}"));
    assert!(
        read["actor"].as_str().unwrap().starts_with("api-key:"),
        "{read}"
    );
    assert_eq!(read["ip_address"], "127.0.0.1");
    assert_eq!(find("person.created")["subject"], format!("person:{grace}"));
    assert!(
        find("people.listed")["detail"]["person_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(grace))
    );
    assert_eq!(
        find("contact.read")["subject"],
        format!("contact:{contact_id}")
    );
    assert_eq!(
        find("api_key.issued")["detail"]["scopes"],
        json!(["audit:read"])
    );
    let signed_in = find("sign_in.succeeded");
    assert!(
        signed_in["subject"]
            .as_str()
            .unwrap()
            .starts_with("person:")
    );
    assert_eq!(signed_in["ip_address"], "127.0.0.1");
    assert_eq!(
        find("sign_in.failed")["detail"]["code"],
        "sso_token_signature_invalid"
    );
    let seqs: Vec<i64> = trail.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "gaps or disorder"
    );

    // Concurrent writers still form one chain.
    let writes =
        (0..12).map(|i| app.post("/v1/people", admin, json!({"name": format!("Person {i}")})));
    for reply in futures::future::join_all(writes).await {
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let v = verification(&app, &auditor).await;
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["entries_checked"], v["head_seq"]);
    assert!(v["head_seq"].as_i64().unwrap() >= seqs.len() as i64 + 12);

    // Append-only: the database itself refuses to change or remove an entry.
    let (db, table) = raw_tenant_db(&app, backend, &north.id).await;
    for statement in [
        format!("UPDATE {table} SET actor = 'nobody' WHERE seq = 2"),
        format!("DELETE FROM {table} WHERE seq = 2"),
    ] {
        let refused = db.execute_unprepared(&statement).await;
        assert!(refused.is_err(), "{statement} was allowed");
    }

    // Behind the triggers' back (a superuser, the disk): the chain shows where.
    let bypass = match backend {
        Backend::Postgres => vec![
            format!("ALTER TABLE {table} DISABLE TRIGGER audit_events_append_only"),
            format!("UPDATE {table} SET actor = 'nobody' WHERE seq = 3"),
        ],
        Backend::Sqlite => vec![
            "DROP TRIGGER audit_events_no_update".into(),
            "DROP TRIGGER audit_events_no_delete".into(),
            format!("UPDATE {table} SET actor = 'nobody' WHERE seq = 3"),
        ],
    };
    for statement in bypass {
        db.execute_unprepared(&statement).await.unwrap();
    }
    let v = verification(&app, &auditor).await;
    assert_eq!(v["intact"], false, "{v}");
    assert_eq!(v["first_broken_seq"], 3, "{v}");

    // Restoring that entry but removing the newest one is caught too.
    let original_actor = trail[2]["actor"].as_str().unwrap().replace('\'', "''");
    db.execute_unprepared(&format!(
        "UPDATE {table} SET actor = '{original_actor}' WHERE seq = 3"
    ))
    .await
    .unwrap();
    assert_eq!(verification(&app, &auditor).await["intact"], true);
    let head = v["head_seq"].as_i64().unwrap();
    db.execute_unprepared(&format!("DELETE FROM {table} WHERE seq = {head}"))
        .await
        .unwrap();
    let v = verification(&app, &auditor).await;
    assert_eq!(v["intact"], false, "{v}");
    assert_eq!(v["first_broken_seq"], head, "{v}");

    // Without `audit:read` the trail stays closed.
    app.call(Method::GET, "/v1/audit/events", Some(admin), None)
        .await;
    let learner_key = app
        .post(
            "/v1/api-keys",
            admin,
            json!({"name": "reader", "scopes": ["courses:read"]}),
        )
        .await;
    app.get(
        "/v1/audit/verification",
        learner_key.body["token"].as_str().unwrap(),
    )
    .await
    .assert_problem(403, "insufficient_scope");
}
