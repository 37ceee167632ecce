//! Delivery of the outbox (C2, U4: essential messages reach people): a real SMTP server on
//! loopback (aiosmtpd, tests/api/smtp.rs) receives the mail and the tests read it. A reset
//! code arrives by mail from the sender identity the institution's admin set, and the code
//! from the mail resets the password; a refused recipient and a server that is down are
//! retried with backoff until the mail is taken; without SMTP the mail lands as files in the
//! mail directory; two gateways on one database deliver each message exactly once.

use crate::both_backends;
use crate::smtp::{Delivered, SmtpSink, read_mail_files};
use crate::support::{Backend, Institution, Reply, TestApp, spawn, spawn_with};
use hub_gateway::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    promise_u4_a_reset_code_arrives_by_mail_from_the_institution_and_resets_the_password,
    mail_is_retried_with_backoff_until_the_server_takes_it,
    without_smtp_mail_is_written_to_the_mail_directory,
    each_message_is_delivered_exactly_once_by_concurrent_senders,
);

pub(crate) fn smtp_config(config: &mut Config, port: u16) {
    config.smtp_host = Some("127.0.0.1".into());
    config.smtp_port = Some(port);
    config.smtp_tls = "none".into();
    config.smtp_timeout_secs = 5;
    config.mail_from = "no-reply@hub.test".into();
    // Short, so a retry comes within a test; the doubling and jitter are as in production.
    config.mail_retry_base_secs = 1;
    config.mail_retry_max_secs = 4;
    config.mail_poll_secs = 1;
}

async fn add_person(app: &TestApp, admin: &str, username: &str, email: &str) -> String {
    let reply = app
        .post(
            "/v1/people",
            admin,
            json!({"name": format!("{username} Person"), "username": username, "email": email, "roles": ["learner"]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_string()
}

async fn request_reset(app: &TestApp, tenant: &str, email: &str) {
    let reply = app
        .call(
            Method::POST,
            "/v1/auth/password-reset-requests",
            None,
            Some(json!({"tenant": tenant, "email": email})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
}

async fn deliveries(app: &TestApp, inst: &Institution) -> Vec<Value> {
    let reply = app.get("/v1/messaging/deliveries", &inst.admin_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"].as_array().unwrap().clone()
}

/// Runs delivery (as the background job does) until `done` holds; gives up after a bound
/// far beyond the backoff configured above.
async fn deliver_until<F>(app: &TestApp, inst: &Institution, what: &str, done: F) -> Vec<Value>
where
    F: Fn(&[Value]) -> bool,
{
    for _ in 0..150 {
        app.state.identity.deliver_due_mail().await.unwrap();
        let items = deliveries(app, inst).await;
        if done(&items) {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("never reached: {what}: {:?}", deliveries(app, inst).await);
}

async fn put_sender(app: &TestApp, admin: &str, body: Value) -> Reply {
    let current = app.get("/v1/messaging/sender", admin).await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.body);
    app.call_with(
        Method::PUT,
        "/v1/messaging/sender",
        Some(admin),
        Some(body),
        &[("If-Match", &current.header("etag").unwrap())],
    )
    .await
}

async fn promise_u4_a_reset_code_arrives_by_mail_from_the_institution_and_resets_the_password(
    backend: Backend,
) {
    let sink = SmtpSink::start();
    let port = sink.port;
    let app = spawn_with(backend, |c| smtp_config(c, port)).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();

    // The sender identity: only the institution's admin sets it, validated, audited.
    let sender = app.get("/v1/messaging/sender", admin).await;
    assert_eq!(sender.body["from_address"], Value::Null);
    put_sender(&app, admin, json!({"from_address": "ceo@bank.example"}))
        .await
        .assert_problem(422, "validation_failed");
    let refused = put_sender(
        &app,
        admin,
        json!({"from_name": "North\r\nBcc: victim@example.com", "reply_to": "not an address"}),
    )
    .await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.error_fields(), vec!["from_name", "reply_to"]);
    let set = put_sender(
        &app,
        admin,
        json!({"from_name": "North Registrar", "from_address": "registrar@hub.test", "reply_to": "help@north.test"}),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["from_name"], "North Registrar");
    let audit = app
        .get("/v1/audit/events?action=message_sender.updated", admin)
        .await;
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        audit.body
    );

    app.allow_local_accounts(admin).await;
    add_person(&app, admin, "ada", "ada@north.test").await;
    request_reset(&app, "north", "ada@north.test").await;

    let items = deliver_until(&app, &north, "the reset mail is sent", |items| {
        items
            .iter()
            .any(|d| d["kind"] == "password_reset" && d["status"] == "sent")
    })
    .await;
    // The status an admin sees names no recipient and shows no text.
    let listed = serde_json::to_string(&items).unwrap();
    assert!(
        !listed.contains("ada@north.test") && !listed.contains("minutes"),
        "{listed}"
    );
    assert_eq!(items[0]["attempts"], 1);
    assert_eq!(items[0]["purpose"], "essential");

    let mail: Vec<Delivered> = sink.delivered();
    assert_eq!(mail.len(), 1, "{mail:?}");
    let reset_mail = &mail[0];
    assert_eq!(reset_mail.from, "\"North Registrar\" <registrar@hub.test>");
    assert_eq!(reset_mail.to, "ada@north.test");
    assert_eq!(
        reset_mail.reply_to.as_deref(),
        Some("\"North Registrar\" <help@north.test>")
    );
    assert_eq!(reset_mail.subject, "Your password reset code");

    // The code from the mail sets the password, and the password signs in.
    let code = reset_mail.reset_code();
    let reset = app
        .call(
            Method::POST,
            "/v1/auth/password-resets",
            None,
            Some(
                json!({"tenant": "north", "token": code, "new_password": "meadow-kettle-orbit-42"}),
            ),
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
    let signed_in = app
        .call(
            Method::POST,
            "/v1/auth/password",
            None,
            Some(json!({"tenant": "north", "login": "ada", "password": "meadow-kettle-orbit-42"})),
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);

    // Without the sender identity, mail is from the platform's address under the
    // institution's name.
    let cleared = put_sender(&app, admin, json!({})).await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    request_reset(&app, "north", "ada@north.test").await;
    deliver_until(&app, &north, "the second mail is sent", |items| {
        items.iter().filter(|d| d["status"] == "sent").count() == 2
    })
    .await;
    let mail = sink.delivered();
    assert_eq!(mail.len(), 2);
    assert!(
        mail.iter()
            .any(|m| m.from == "\"north institute\" <no-reply@hub.test>" && m.reply_to.is_none()),
        "{mail:?}"
    );

    // Only a tenant admin sees the sender and the deliveries.
    app.get("/v1/messaging/deliveries?limit=0", admin)
        .await
        .assert_problem(422, "validation_failed");
}

async fn mail_is_retried_with_backoff_until_the_server_takes_it(backend: Backend) {
    // The SMTP server is down at first.
    let mut sink = SmtpSink::reserved();
    let port = sink.port;
    let app = spawn_with(backend, |c| {
        smtp_config(c, port);
        c.mail_max_attempts = 5;
    })
    .await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    app.allow_local_accounts(admin).await;
    add_person(&app, admin, "ada", "ada@north.test").await;
    add_person(&app, admin, "bob", "bob@north.test").await;
    request_reset(&app, "north", "bob@north.test").await;
    request_reset(&app, "north", "ada@north.test").await;
    // Newest first: ada's message, then bob's.
    let ada = |items: &[Value]| items[0].clone();
    let bob = |items: &[Value]| items[1].clone();

    let items = deliver_until(&app, &north, "a failed attempt", |items| {
        ada(items)["status"] == "failed"
    })
    .await;
    assert_eq!(ada(&items)["last_error"], "connection_failed");
    assert!(
        ada(&items)["next_attempt_at"].as_str().unwrap()
            > ada(&items)["created_at"].as_str().unwrap()
    );

    // The server is up but refuses the recipients: still retried, with the reply code.
    sink.refuse(&["ada@north.test", "bob@north.test"]);
    sink.run();
    let items = deliver_until(&app, &north, "a refused attempt", |items| {
        ada(items)["last_error"] == "smtp_550"
    })
    .await;
    assert_eq!(ada(&items)["status"], "failed");
    let attempts_refused = ada(&items)["attempts"].as_i64().unwrap();
    assert!(attempts_refused >= 2);
    assert!(sink.delivered().is_empty());

    // Then it takes ada: delivered once. Bob stays refused and is given up after the last
    // allowed attempt.
    sink.refuse(&["bob@north.test"]);
    let items = deliver_until(&app, &north, "ada's mail sent, bob's dead", |items| {
        ada(items)["status"] == "sent" && bob(items)["status"] == "dead"
    })
    .await;
    assert!(ada(&items)["attempts"].as_i64().unwrap() > attempts_refused);
    assert!(ada(&items)["sent_at"].is_string());
    assert_eq!(bob(&items)["attempts"], 5);
    assert_eq!(bob(&items)["last_error"], "smtp_550");
    assert_eq!(bob(&items)["next_attempt_at"], Value::Null);
    let dead = app.get("/v1/messaging/deliveries?status=dead", admin).await;
    assert_eq!(
        dead.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        dead.body
    );
    let mail = sink.delivered();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to, "ada@north.test");
}

async fn without_smtp_mail_is_written_to_the_mail_directory(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    app.allow_local_accounts(admin).await;
    add_person(&app, admin, "ada", "ada@north.test").await;
    request_reset(&app, "north", "ada@north.test").await;
    deliver_until(&app, &north, "the mail is written", |items| {
        items[0]["status"] == "sent"
    })
    .await;
    let mail = read_mail_files(&app.data_dir().join("mail"));
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to, "ada@north.test");
    assert_eq!(mail[0].subject, "Your password reset code");
    assert_eq!(mail[0].from, "\"north institute\" <no-reply@localhost>");
    assert!(!mail[0].reset_code().is_empty());
}

async fn each_message_is_delivered_exactly_once_by_concurrent_senders(backend: Backend) {
    let sink = SmtpSink::start();
    let port = sink.port;
    let first = spawn_with(backend, |c| smtp_config(c, port)).await;
    // PostgreSQL: a second gateway on the same database and key. SQLite (one process):
    // two senders in the same gateway.
    let second = match backend {
        Backend::Postgres => Some(
            spawn_with(backend, |c| {
                smtp_config(c, port);
                c.database_url = first.database_url.clone();
                c.kek = first.state.config.kek.clone();
            })
            .await,
        ),
        Backend::Sqlite => None,
    };
    let north = first.create_institution("north").await;
    let admin = north.admin_token.as_str();
    first.allow_local_accounts(admin).await;
    const PEOPLE: usize = 12;
    for n in 0..PEOPLE {
        let email = format!("person{n}@north.test");
        add_person(&first, admin, &format!("person{n}"), &email).await;
        request_reset(&first, "north", &email).await;
    }
    let other = second.as_ref().unwrap_or(&first);
    for _ in 0..150 {
        let (a, b) = tokio::join!(
            first.state.identity.deliver_due_mail(),
            other.state.identity.deliver_due_mail()
        );
        a.unwrap();
        b.unwrap();
        if deliveries(&first, &north)
            .await
            .iter()
            .all(|d| d["status"] == "sent")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let items = deliveries(&first, &north).await;
    assert_eq!(items.len(), PEOPLE);
    assert!(
        items
            .iter()
            .all(|d| d["status"] == "sent" && d["attempts"] == 1),
        "{items:?}"
    );
    let mail = sink.delivered();
    let mut ids: Vec<&str> = mail.iter().map(|m| m.message_id.as_str()).collect();
    ids.dedup();
    assert_eq!(mail.len(), PEOPLE, "each message once: {ids:?}");
    assert_eq!(ids.len(), PEOPLE);
}
