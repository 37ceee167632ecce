//! The audit trail (S2): admin actions, sign-ins, failed sign-ins and reads of other people's
//! personal data are recorded with who, what, whom, when and from where; the trail is
//! append-only (triggers) and hash-chained, so an entry changed or removed behind the
//! database's back is reported by the verification endpoint, with the first broken entry.

use crate::both_backends;
use crate::idp::{Forgery, RogueIdp, UserAgent};
use crate::support::{Backend, TestApp, spawn};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
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

both_backends!(promise_s2_an_audit_dump_does_not_confirm_an_ip_guess);

/// One entry as a dump shows it: every stored column, nothing opened.
#[derive(Debug, Clone)]
struct DumpedEntry {
    seq: i64,
    at: chrono::DateTime<chrono::Utc>,
    actor: String,
    action: String,
    subject: Option<String>,
    detail: String,
    ip_address_sealed: Option<Vec<u8>>,
    ip_commitment: Option<String>,
    chain_version: i32,
    actor_commitment: Option<String>,
    subject_commitment: Option<String>,
    detail_commitment: Option<String>,
    prev_hash: String,
    hash: String,
}

async fn dump(db: &DatabaseConnection, table: &str) -> Vec<DumpedEntry> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT seq, at, actor, action, subject, detail, ip_address_sealed, \
                 ip_commitment, chain_version, actor_commitment, subject_commitment, \
                 detail_commitment, prev_hash, hash FROM {table} ORDER BY seq"
            ),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| DumpedEntry {
            seq: r.try_get("", "seq").unwrap(),
            at: r.try_get("", "at").unwrap(),
            actor: r.try_get("", "actor").unwrap(),
            action: r.try_get("", "action").unwrap(),
            subject: r.try_get("", "subject").unwrap(),
            detail: r.try_get("", "detail").unwrap(),
            ip_address_sealed: r.try_get("", "ip_address_sealed").unwrap(),
            ip_commitment: r.try_get("", "ip_commitment").unwrap(),
            chain_version: r.try_get("", "chain_version").unwrap(),
            actor_commitment: r.try_get("", "actor_commitment").unwrap(),
            subject_commitment: r.try_get("", "subject_commitment").unwrap(),
            detail_commitment: r.try_get("", "detail_commitment").unwrap(),
            prev_hash: r.try_get("", "prev_hash").unwrap(),
            hash: r.try_get("", "hash").unwrap(),
        })
        .collect()
}

fn at_text(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The attack on the old chain: the hash was SHA-256 over the fields and the plaintext IP.
fn old_rule_hash(e: &DumpedEntry, ip_guess: &str) -> String {
    let text = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n{ip_guess}\n{}",
        e.seq,
        at_text(&e.at),
        e.actor,
        e.action,
        e.subject.as_deref().unwrap_or(""),
        e.detail,
        e.prev_hash
    );
    sha256_hex(text.as_bytes())
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The chain rule as documented (version 3), computed from the dumped columns alone (no key,
/// no IP, and not the actor, subject or detail text: their commitments).
fn dump_only_hash(e: &DumpedEntry) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(b"dxh-audit-v3");
    let seq = e.seq.to_string();
    let at = at_text(&e.at);
    for part in [
        Some(seq.as_str()),
        Some(at.as_str()),
        e.actor_commitment.as_deref(),
        Some(e.action.as_str()),
        e.subject_commitment.as_deref(),
        e.detail_commitment.as_deref(),
        e.ip_commitment.as_deref(),
        Some(e.prev_hash.as_str()),
    ] {
        match part {
            None => hash.update([0u8]),
            Some(text) => {
                hash.update([1u8]);
                hash.update((text.len() as u64).to_be_bytes());
                hash.update(text.as_bytes());
            }
        }
    }
    hex::encode(hash.finalize())
}

async fn promise_s2_an_audit_dump_does_not_confirm_an_ip_guess(backend: Backend) {
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
    let created = app
        .post("/v1/people", admin, json!({"name": "Grace Hopper"}))
        .await;
    let grace = created.body["id"].as_str().unwrap().to_string();
    for _ in 0..3 {
        assert_eq!(
            app.get(&format!("/v1/people/{grace}"), admin).await.status,
            StatusCode::OK
        );
    }
    let trail = entries(&app, &auditor).await;
    let ip_guess = "127.0.0.1";
    assert!(
        trail.iter().all(|e| e["ip_address"] == ip_guess),
        "every entry came from loopback: {trail:#?}"
    );

    let (db, table) = raw_tenant_db(&app, backend, &north.id).await;
    let rows = dump(&db, &table).await;
    // The listing showed IPs, so it recorded itself (`audit.events.listed`) after the page.
    assert_eq!(rows.len(), trail.len() + 1);
    let mut commitments = std::collections::HashSet::new();
    let mut ciphertexts = std::collections::HashSet::new();
    for row in &rows {
        // The old attack (recompute the hash with the guessed IP) confirms nothing now…
        assert_ne!(row.hash, old_rule_hash(row, ip_guess), "seq {}", row.seq);
        // …because the hash is a function of the other dumped columns: it adds nothing.
        assert_eq!(row.chain_version, 3);
        assert_eq!(row.hash, dump_only_hash(row), "seq {}", row.seq);
        // The commitment and ciphertext differ between entries from the same IP, so neither
        // is a function of the IP alone, and neither is the plain hash of the guess.
        let commitment = row.ip_commitment.clone().expect("an IP was recorded");
        assert_ne!(commitment, sha256_hex(ip_guess.as_bytes()));
        assert!(commitments.insert(commitment), "seq {}", row.seq);
        let sealed = row.ip_address_sealed.clone().unwrap();
        assert!(
            !sealed
                .windows(ip_guess.len())
                .any(|w| w == ip_guess.as_bytes())
        );
        assert!(ciphertexts.insert(sealed), "seq {}", row.seq);
    }
    // With the tenant's key the commitments check out against the sealed IPs.
    assert_eq!(verification(&app, &auditor).await["intact"], true);

    // The triggers allow re-sealing the IP (one ciphertext for another) and expiring it
    // (to NULL where a commitment exists), and nothing else.
    let blob = |bytes: &[u8]| match backend {
        Backend::Postgres => format!("'\\x{}'::bytea", hex::encode(bytes)),
        Backend::Sqlite => format!("X'{}'", hex::encode(bytes)),
    };
    for statement in [
        format!("UPDATE {table} SET ip_commitment = NULL WHERE seq = 2"),
        format!("UPDATE {table} SET ip_commitment = 'x' WHERE seq = 2"),
        format!("UPDATE {table} SET ip_address_sealed = NULL, actor = 'x' WHERE seq = 2"),
        format!("UPDATE {table} SET hash = prev_hash WHERE seq = 2"),
        format!("UPDATE {table} SET chain_version = 1 WHERE seq = 2"),
        format!("UPDATE {table} SET at = at, detail = '{{}}' WHERE seq = 2"),
        // A reference changes only with its salt removed, and a removed salt stays removed.
        format!("UPDATE {table} SET actor = 'x' WHERE seq = 2"),
        format!("UPDATE {table} SET actor_commitment = NULL, actor_salt = NULL WHERE seq = 2"),
        format!(
            "UPDATE {table} SET actor = 'x', actor_salt = NULL, ip_address_sealed = NULL WHERE seq = 2"
        ),
        format!("DELETE FROM {table} WHERE seq = 2"),
    ] {
        let refused = db.execute_unprepared(&statement).await;
        assert!(refused.is_err(), "{statement} was allowed");
    }
    // A ciphertext moved from another entry is allowed in, but does not open there.
    let (second, third) = (&rows[1], &rows[2]);
    let swap = |from: &DumpedEntry, to: &DumpedEntry| {
        format!(
            "UPDATE {table} SET ip_address_sealed = {} WHERE seq = {}",
            blob(from.ip_address_sealed.as_ref().unwrap()),
            to.seq
        )
    };
    db.execute_unprepared(&swap(third, second)).await.unwrap();
    let v = verification(&app, &auditor).await;
    assert_eq!(v["intact"], false, "{v}");
    assert_eq!(v["first_broken_seq"], second.seq, "{v}");
    db.execute_unprepared(&swap(second, second)).await.unwrap();
    assert_eq!(verification(&app, &auditor).await["intact"], true);

    // Expiry by hand for one entry, then by the domain function for all: the chain holds.
    db.execute_unprepared(&format!(
        "UPDATE {table} SET ip_address_sealed = NULL WHERE seq = 2"
    ))
    .await
    .unwrap();
    let restore = db.execute_unprepared(&swap(second, second)).await;
    assert!(restore.is_err(), "an expired IP was put back");
    assert_eq!(verification(&app, &auditor).await["intact"], true);
    let location = app
        .state
        .tenancy
        .tenant_location(north.id.parse().unwrap())
        .await
        .unwrap();
    let head_before = rows.last().unwrap().seq;
    let cutoff = rows.last().unwrap().at + chrono::Duration::microseconds(1);
    let expired = app
        .state
        .tenancy
        .expire_audit_ips_before(&location, cutoff)
        .await
        .unwrap();
    assert_eq!(
        expired,
        rows.len() as u64 - 1,
        "all but the one expired by hand"
    );
    let v = verification(&app, &auditor).await;
    assert_eq!(v["intact"], true, "{v}");
    let after = dump(&db, &table).await;
    for row in after.iter().filter(|r| r.seq <= head_before) {
        assert_eq!(row.ip_address_sealed, None, "seq {}", row.seq);
        assert_eq!(row.ip_commitment, rows[row.seq as usize - 1].ip_commitment);
        assert_eq!(row.hash, rows[row.seq as usize - 1].hash);
    }
    let listed = entries(&app, &auditor).await;
    assert!(
        listed
            .iter()
            .filter(|e| e["seq"].as_i64().unwrap() <= head_before)
            .all(|e| e["ip_address"].is_null()),
        "{listed:#?}"
    );

    // Verification still detects an edit and a deletion after expiry (behind the triggers).
    let bypass = match backend {
        Backend::Postgres => vec![format!(
            "ALTER TABLE {table} DISABLE TRIGGER audit_events_append_only"
        )],
        Backend::Sqlite => vec![
            "DROP TRIGGER audit_events_no_update".into(),
            "DROP TRIGGER audit_events_no_delete".into(),
        ],
    };
    for statement in bypass {
        db.execute_unprepared(&statement).await.unwrap();
    }
    let original = rows[2].ip_commitment.clone().unwrap();
    db.execute_unprepared(&format!(
        "UPDATE {table} SET ip_commitment = '{}' WHERE seq = 3",
        sha256_hex(b"another guess")
    ))
    .await
    .unwrap();
    let v = verification(&app, &auditor).await;
    assert_eq!(v["intact"], false, "{v}");
    assert_eq!(v["first_broken_seq"], 3, "{v}");
    db.execute_unprepared(&format!(
        "UPDATE {table} SET ip_commitment = '{original}' WHERE seq = 3"
    ))
    .await
    .unwrap();
    assert_eq!(verification(&app, &auditor).await["intact"], true);
    db.execute_unprepared(&format!("DELETE FROM {table} WHERE seq = 4"))
        .await
        .unwrap();
    let v = verification(&app, &auditor).await;
    assert_eq!(v["intact"], false, "{v}");
    assert_eq!(v["first_broken_seq"], 4, "{v}");
}
