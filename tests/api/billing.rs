//! Billing through the public API against a local Stripe (localstripe behind the project's
//! own front, tests/api/stripe_fake.rs): a purchase enrolls the learner only once a signed
//! webhook says Stripe took the money; forged, stale and redelivered events change
//! nothing; events for an account no institution connected are parked for operators;
//! finance reads the history, totals and CSV export and refunds idempotently; finance
//! reaches no learning record and a learner no billing history.

use crate::both_backends;
use crate::privacy_requests::signed_in;
use crate::progress::course;
use crate::stripe_fake::{StripeFake, event, send_webhook, stripe_signature};
use crate::support::{Backend, Institution, TestApp, spawn_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    promise_d4_a_paid_enrollment_is_active_only_once_a_signed_webhook_confirms_it,
    promise_t3_stripe_gets_billing_fields_only_and_its_own_signed_delivery_enrolls_the_buyer,
    promise_d7_finance_reads_history_totals_and_export_and_refunds_once,
    events_of_an_account_no_institution_connected_are_parked_and_replayable,
    promise_c4_erasing_a_buyer_keeps_their_payments_pseudonymised_and_deletes_them_at_stripe,
    promise_d7_reconciliation_lists_every_difference_with_stripe,
    promise_d4_events_apply_once_across_two_gateways_whatever_their_order,
    events_route_by_account_or_metadata_and_park_when_they_disagree,
    an_event_stripe_cannot_answer_for_is_retried_then_a_dead_letter_and_replayable,
    promise_d4_a_course_full_when_stripe_confirms_refunds_the_payment_and_enrolls_nobody,
    promise_d4_a_full_refund_withdraws_the_purchased_enrollment_and_a_partial_one_keeps_it,
    promise_d4_a_full_refund_keeps_an_enrollment_an_admin_made,
    promise_d4_prerequisites_are_asked_at_sale_and_again_when_stripe_confirms,
);

pub(crate) const SECRET: &str = "whsec_test_billing";
pub(crate) const ACCOUNT: &str = "acct_1TestInstitution";

async fn app_with_stripe(backend: Backend, fake: &StripeFake) -> TestApp {
    app_with_stripe_and(backend, fake, |_| {}).await
}

/// [`app_with_stripe`] with the configuration adjusted further.
pub(crate) async fn app_with_stripe_and(
    backend: Backend,
    fake: &StripeFake,
    adjust: impl FnOnce(&mut hub_gateway::config::Config) + Send + 'static,
) -> TestApp {
    let base = format!("{}/", fake.base_url());
    let key = fake.api_key().to_string();
    spawn_with(backend, move |config| {
        config.stripe_api_key = Some(key.into());
        config.stripe_api_base = base;
        config.stripe_webhook_secrets = vec!["whsec_test_old".into(), SECRET.into()];
        config.billing_poll_ms = 100;
        adjust(config);
    })
    .await
}

pub(crate) fn webhook_url(app: &TestApp) -> String {
    format!("{}/v1/billing/stripe/webhook", app.base)
}

/// An institution with its Stripe account connected and one priced, published course.
pub(crate) async fn shop(app: &TestApp, slug: &str) -> (Institution, String) {
    let inst = app.create_institution(slug).await;
    let admin = inst.admin_token.as_str();
    let connected = app
        .call(
            Method::PUT,
            "/v1/billing/account",
            Some(admin),
            Some(json!({"stripe_account": format!("{ACCOUNT}{slug}").replace('-', "")})),
        )
        .await;
    assert_eq!(connected.status, StatusCode::OK, "{}", connected.body);
    let course = course(app, admin, "PAID-1").await;
    let priced = app
        .call(
            Method::PUT,
            &format!("/v1/courses/{course}/price"),
            Some(admin),
            Some(json!({"amount": 4900, "currency": "eur"})),
        )
        .await;
    assert_eq!(priced.status, StatusCode::OK, "{}", priced.body);
    assert_eq!(priced.body["currency_exponent"], 2);
    let sale = app.get(&format!("/v1/courses/{course}/price"), admin).await;
    assert_eq!(sale.body["for_sale"], true, "{}", sale.body);
    assert_eq!(sale.body["price"]["amount"], 4900);
    (inst, course)
}

async fn my_enrollments(app: &TestApp, token: &str) -> Vec<Value> {
    let listed = app.get("/v1/me/enrollments", token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    listed.body["items"].as_array().unwrap().clone()
}

/// Waits (up to 30 s) until `check` holds for the learner's enrollments.
pub(crate) async fn until_enrolled(app: &TestApp, token: &str) -> Vec<Value> {
    for _ in 0..300 {
        let items = my_enrollments(app, token).await;
        if !items.is_empty() {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the learner was never enrolled");
}

async fn payment(app: &TestApp, token: &str, id: &str) -> Value {
    let _ = crate::support::captured_logs();
    let found = app.get(&format!("/v1/billing/payments/{id}"), token).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    found.body
}

async fn until_payment(app: &TestApp, token: &str, id: &str, status: &str) -> Value {
    for _ in 0..300 {
        let found = payment(app, token, id).await;
        if found["status"] == status {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("payment {id} never became {status}");
}

pub(crate) async fn buy(app: &TestApp, token: &str, course: &str, key: &str) -> Value {
    let bought = app
        .call_with(
            Method::POST,
            "/v1/me/purchases",
            Some(token),
            Some(json!({"course_id": course, "payment_method": "pm_card_visa"})),
            &[("Idempotency-Key", key)],
        )
        .await;
    assert_eq!(bought.status, StatusCode::CREATED, "{}", bought.body);
    bought.body
}

async fn fetch_intent(fake: &StripeFake, id: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}/v1/payment_intents/{id}", fake.base_url()))
        .bearer_auth(fake.api_key())
        .header("Stripe-Account", format!("{ACCOUNT}shop").as_str())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn promise_d4_a_paid_enrollment_is_active_only_once_a_signed_webhook_confirms_it(
    backend: Backend,
) {
    let fake = StripeFake::start().await;
    let app = app_with_stripe(backend, &fake).await;
    let (inst, course) = shop(&app, "shop").await;
    let (_, learner) = signed_in(&app, &inst, "buyer", &["learner"]).await;
    let (_, finance) = signed_in(&app, &inst, "ledger", &["finance"]).await;

    let bought = buy(&app, &learner, &course, "buy-1").await;
    let payment_id = bought["payment"]["id"].as_str().unwrap().to_string();
    let intent_id = bought["payment"]["stripe_payment_intent"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(bought["stripe_account"], format!("{ACCOUNT}shop"));
    assert!(
        bought["client_secret"]
            .as_str()
            .unwrap()
            .starts_with(&intent_id)
    );
    // Stripe took the money synchronously, but no webhook said so: not enrolled.
    assert!(my_enrollments(&app, &learner).await.is_empty());
    let again = app
        .call_with(
            Method::POST,
            "/v1/me/purchases",
            Some(&learner),
            Some(json!({"course_id": course, "payment_method": "pm_card_visa"})),
            &[("Idempotency-Key", "buy-1")],
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["payment"]["id"], payment_id.as_str());

    let mut succeeded = event(
        "payment_intent.succeeded",
        fetch_intent(&fake, &intent_id).await,
    );
    succeeded["account"] = json!(format!("{ACCOUNT}shop"));
    // Forged (another secret), stale (400 s old) and altered-after-signing deliveries.
    let forged = send_webhook(&webhook_url(&app), &succeeded, "whsec_not_ours").await;
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    let payload = serde_json::to_vec(&succeeded).unwrap();
    let stale_at = chrono::Utc::now().timestamp() - 400;
    let stale = reqwest::Client::new()
        .post(webhook_url(&app))
        .header("Content-Type", "application/json")
        .header(
            "Stripe-Signature",
            stripe_signature(&payload, SECRET, stale_at),
        )
        .body(payload.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::BAD_REQUEST);
    let mut altered = payload.clone();
    altered.extend_from_slice(b" ");
    let altered = reqwest::Client::new()
        .post(webhook_url(&app))
        .header("Content-Type", "application/json")
        .header(
            "Stripe-Signature",
            stripe_signature(&payload, SECRET, chrono::Utc::now().timestamp()),
        )
        .body(altered)
        .send()
        .await
        .unwrap();
    assert_eq!(altered.status(), StatusCode::BAD_REQUEST);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(my_enrollments(&app, &learner).await.is_empty());
    let listed = app
        .get("/v1/operator/billing/events", &app.operator_token)
        .await;
    assert_eq!(
        listed.body["items"],
        json!([]),
        "refused deliveries store nothing"
    );

    // The genuine delivery, signed with the second of the endpoint's two secrets.
    let delivered = send_webhook(&webhook_url(&app), &succeeded, SECRET).await;
    assert_eq!(delivered.status(), StatusCode::OK);
    let enrolled = until_enrolled(&app, &learner).await;
    assert_eq!(enrolled.len(), 1);
    assert_eq!(enrolled[0]["course_id"], course.as_str());
    assert_eq!(enrolled[0]["source"], "purchase");
    assert_eq!(enrolled[0]["state"], "active");
    let paid = until_payment(&app, &finance, &payment_id, "succeeded").await;
    assert_eq!(paid["card_last4"], "4242");
    assert_eq!(paid["card_brand"], "visa");
    assert_eq!(paid["enrollment_id"], enrolled[0]["id"]);

    // Redelivered: acknowledged as a duplicate, applied once.
    let twice = send_webhook(&webhook_url(&app), &succeeded, "whsec_test_old").await;
    assert_eq!(twice.status(), StatusCode::OK);
    let body: Value = twice.json().await.unwrap();
    assert_eq!(body["duplicate"], true);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(my_enrollments(&app, &learner).await.len(), 1);
    let events = app
        .get("/v1/operator/billing/events", &app.operator_token)
        .await;
    assert_eq!(events.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(events.body["items"][0]["state"], "applied");
    assert_eq!(events.body["items"][0]["tenant_id"], inst.id.as_str());
}

async fn promise_t3_stripe_gets_billing_fields_only_and_its_own_signed_delivery_enrolls_the_buyer(
    backend: Backend,
) {
    let fake = StripeFake::start().await;
    let app = app_with_stripe(backend, &fake).await;
    fake.register_webhook(&webhook_url(&app), SECRET).await;
    let (inst, course) = shop(&app, "shop").await;
    let (_, learner) = signed_in(&app, &inst, "buyer", &["learner"]).await;
    buy(&app, &learner, &course, "buy-real").await;
    let enrolled = until_enrolled(&app, &learner).await;
    assert_eq!(enrolled[0]["source"], "purchase");
    // What went to Stripe (T3): billing fields only.
    for request in fake.requests().await {
        let form = request["form"].as_object().cloned().unwrap_or_default();
        for key in form.keys() {
            assert!(
                [
                    "amount",
                    "currency",
                    "customer",
                    "description",
                    "email",
                    "name",
                    "payment_method",
                    "confirm",
                ]
                .contains(&key.as_str())
                    || key.starts_with("metadata[hub_"),
                "{key} was sent to Stripe: {request}"
            );
        }
    }
}

async fn promise_d7_finance_reads_history_totals_and_export_and_refunds_once(backend: Backend) {
    let fake = StripeFake::start().await;
    let app = app_with_stripe(backend, &fake).await;
    fake.register_webhook(&webhook_url(&app), SECRET).await;
    let (inst, course) = shop(&app, "shop").await;
    let (buyer_id, learner) = signed_in(&app, &inst, "buyer", &["learner"]).await;
    let (_, finance) = signed_in(&app, &inst, "ledger", &["finance"]).await;
    let bought = buy(&app, &learner, &course, "buy-f").await;
    let payment_id = bought["payment"]["id"].as_str().unwrap().to_string();
    until_enrolled(&app, &learner).await;
    until_payment(&app, &finance, &payment_id, "succeeded").await;

    // A learner has no billing history; finance no learning records.
    app.get("/v1/billing/payments", &learner)
        .await
        .assert_problem(403, "insufficient_scope");
    let learning = app
        .get(&format!("/v1/courses/{course}/enrollments"), &finance)
        .await;
    assert_eq!(learning.status, StatusCode::FORBIDDEN, "{}", learning.body);

    let listed = app
        .get(
            &format!("/v1/billing/payments?person_id={buyer_id}&currency=eur"),
            &finance,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    // Another institution's finance: this payment does not exist for it.
    let other = app.create_institution("other").await;
    let (_, other_finance) = signed_in(&app, &other, "ledger2", &["finance"]).await;
    app.get(
        &format!("/v1/billing/payments/{payment_id}"),
        &other_finance,
    )
    .await
    .assert_problem(404, "payment_not_found");
    app.call_with(
        Method::POST,
        &format!("/v1/billing/payments/{payment_id}/refunds"),
        Some(&other_finance),
        Some(json!({"reason": "not ours"})),
        &[("Idempotency-Key", "cross-1")],
    )
    .await
    .assert_problem(404, "payment_not_found");
    // Finance's reads of buyers' payments are in the audit trail (S2).
    let trail = app
        .get(
            "/v1/audit/events?limit=200&action=billing.payments_read",
            &inst.admin_token,
        )
        .await;
    let reads: Vec<&Value> = trail.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "billing.payments_read")
        .collect();
    assert!(
        reads
            .iter()
            .any(|e| e["detail"]["payment_ids"] == json!([payment_id])),
        "{}",
        trail.body
    );
    let none = app.get("/v1/billing/payments?currency=jpy", &finance).await;
    assert_eq!(none.body["items"], json!([]));
    let totals = app.get("/v1/billing/totals", &finance).await;
    assert_eq!(
        totals.body["currencies"],
        json!([{"currency": "eur", "currency_exponent": 2, "payments": 1, "gross": 4900,
                "refunded": 0, "net": 4900}])
    );
    let csv = app
        .client
        .get(format!(
            "{}/v1/billing/payments/export?status=succeeded",
            app.base
        ))
        .bearer_auth(&finance)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("payment_id,created_at,status,amount"));
    assert!(lines[1].starts_with(&payment_id) && lines[1].contains(",4900,0,eur,2,"));

    // A partial refund, idempotent; more than is left is refused and changes nothing.
    let refund = |key: &'static str, body: Value| {
        let app = &app;
        let finance = finance.clone();
        let payment_id = payment_id.clone();
        async move {
            app.call_with(
                Method::POST,
                &format!("/v1/billing/payments/{payment_id}/refunds"),
                Some(&finance),
                Some(body),
                &[("Idempotency-Key", key)],
            )
            .await
        }
    };
    let first = refund(
        "refund-1",
        json!({"amount": 1500, "reason": "one session cancelled"}),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["status"], "pending");
    let replay = refund(
        "refund-1",
        json!({"amount": 1500, "reason": "one session cancelled"}),
    )
    .await;
    assert_eq!(replay.status, StatusCode::OK, "{}", replay.body);
    assert_eq!(replay.body["id"], first.body["id"]);
    let too_much = refund("refund-2", json!({"amount": 3401, "reason": "too much"})).await;
    too_much.assert_problem(422, "refund_too_large");
    let learner_refund = app
        .call_with(
            Method::POST,
            &format!("/v1/billing/payments/{payment_id}/refunds"),
            Some(&learner),
            Some(json!({"reason": "mine"})),
            &[("Idempotency-Key", "refund-3")],
        )
        .await;
    learner_refund.assert_problem(403, "insufficient_scope");
    let refunds_at_stripe = fake
        .requests()
        .await
        .into_iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/v1/refunds")
        .count();
    assert_eq!(
        refunds_at_stripe, 1,
        "a replayed refund reaches Stripe once"
    );

    // Stripe's word on the refund (an event localstripe does not send itself).
    let stripe_refund = first.body["stripe_refund"].as_str().unwrap();
    let object: Value = reqwest::Client::new()
        .get(format!("{}/v1/refunds/{stripe_refund}", fake.base_url()))
        .bearer_auth(fake.api_key())
        .header("Stripe-Account", format!("{ACCOUNT}shop").as_str())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut updated = event("refund.updated", object);
    updated["account"] = json!(format!("{ACCOUNT}shop"));
    assert_eq!(
        send_webhook(&webhook_url(&app), &updated, SECRET)
            .await
            .status(),
        StatusCode::OK
    );
    let refunded = until_payment(&app, &finance, &payment_id, "partially_refunded").await;
    assert_eq!(refunded["amount_refunded"], 1500);
    let refunds = app
        .get(
            &format!("/v1/billing/refunds?payment_id={payment_id}"),
            &finance,
        )
        .await;
    assert_eq!(refunds.body["items"][0]["status"], "succeeded");
    let totals = app.get("/v1/billing/totals", &finance).await;
    assert_eq!(totals.body["currencies"][0]["net"], 3400);
}

async fn events_of_an_account_no_institution_connected_are_parked_and_replayable(backend: Backend) {
    let fake = StripeFake::start().await;
    let app = app_with_stripe(backend, &fake).await;
    let (inst, course) = shop(&app, "shop").await;
    let (_, learner) = signed_in(&app, &inst, "buyer", &["learner"]).await;
    let bought = buy(&app, &learner, &course, "buy-p").await;
    let intent_id = bought["payment"]["stripe_payment_intent"]
        .as_str()
        .unwrap()
        .to_string();
    let mut stray = event(
        "payment_intent.succeeded",
        fetch_intent(&fake, &intent_id).await,
    );
    stray["account"] = json!("acct_1NobodyConnectedIt");
    assert_eq!(
        send_webhook(&webhook_url(&app), &stray, SECRET)
            .await
            .status(),
        StatusCode::OK
    );
    let event_id = stray["id"].as_str().unwrap();
    let mut parked = Value::Null;
    for _ in 0..100 {
        let listed = app
            .get(
                "/v1/operator/billing/events?state=parked",
                &app.operator_token,
            )
            .await;
        if let Some(first) = listed.body["items"].as_array().and_then(|a| a.first()) {
            parked = first.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(parked["event_id"], event_id, "{parked}");
    assert!(
        parked["last_error"]
            .as_str()
            .unwrap()
            .contains("no institution")
    );
    assert_eq!(parked["tenant_id"], Value::Null);
    // Never applied to the institution the metadata names.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(my_enrollments(&app, &learner).await.is_empty());
    // An institution may not read the platform's inbox; operators replay.
    let denied = app
        .get("/v1/operator/billing/events", &inst.admin_token)
        .await;
    denied.assert_problem(403, "operator_only");
    let replayed = app
        .post(
            &format!("/v1/operator/billing/events/{event_id}/replay"),
            &app.operator_token,
            json!({}),
        )
        .await;
    assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.body);
    assert_eq!(replayed.body["state"], "pending");
    let applied_twice = app
        .post(
            "/v1/operator/billing/events/evt_unknown/replay",
            &app.operator_token,
            json!({}),
        )
        .await;
    applied_twice.assert_problem(404, "webhook_event_not_found");
}

async fn promise_c4_erasing_a_buyer_keeps_their_payments_pseudonymised_and_deletes_them_at_stripe(
    backend: Backend,
) {
    use hub_kernel::Pii;
    use hub_tenant::personal_data::DataSubject;
    let fake = StripeFake::start().await;
    let app = app_with_stripe(backend, &fake).await;
    fake.register_webhook(&webhook_url(&app), SECRET).await;
    let (inst, course) = shop(&app, "shop").await;
    let (buyer, learner) = signed_in(&app, &inst, "buyer", &["learner"]).await;
    let (_, finance) = signed_in(&app, &inst, "ledger", &["finance"]).await;
    let bought = buy(&app, &learner, &course, "buy-e").await;
    let payment_id = bought["payment"]["id"].as_str().unwrap().to_string();
    until_enrolled(&app, &learner).await;
    let customer = fake
        .requests()
        .await
        .into_iter()
        .find(|r| r["method"] == "POST" && r["path"] == "/v1/customers")
        .expect("a customer was made");
    assert_eq!(
        customer["form"]["email"],
        format!("buyer@{}.test", inst.slug)
    );

    let source = app
        .state
        .tenancy
        .personal_data_sources()
        .unwrap()
        .into_iter()
        .find(|s| s.name() == "billing")
        .unwrap();
    let subject = DataSubject::person(
        buyer.parse().unwrap(),
        vec![Pii::new(format!("buyer@{}.test", inst.slug))],
    );
    let scope = app.tenant_scope(&inst.admin_token).await;
    let exported = source.export(&scope, &subject).await.unwrap();
    let payment_record = exported.iter().find(|r| r["record"] == "payment").unwrap();
    assert_eq!(payment_record["legal_basis"], "legal_obligation");
    assert_eq!(payment_record["card_last4"], "4242");
    let erased = source.erase(&scope, &subject).await.unwrap();
    scope.commit().await.unwrap();
    assert!(
        matches!(erased, hub_tenant::personal_data::Outcome::Anonymised { records } if records >= 2)
    );

    // The payment stays for the tax period, naming nobody.
    let kept = payment(&app, &finance, &payment_id).await;
    assert_eq!(kept["pseudonymised"], true);
    assert_ne!(kept["person_id"], buyer.as_str());
    assert_eq!(kept["amount"], 4900);
    let mine = app
        .get(&format!("/v1/billing/payments?person_id={buyer}"), &finance)
        .await;
    assert_eq!(mine.body["items"], json!([]));
    // Stripe was asked to delete the customer (its email and name go with it).
    let deleted = fake
        .requests()
        .await
        .into_iter()
        .filter(|r| {
            r["method"] == "DELETE" && r["path"].as_str().unwrap().starts_with("/v1/customers/")
        })
        .count();
    assert_eq!(deleted, 1);
    // Erasing again changes nothing and asks Stripe nothing.
    let scope = app.tenant_scope(&inst.admin_token).await;
    let again = source.erase(&scope, &subject).await.unwrap();
    scope.commit().await.unwrap();
    assert_eq!(
        again,
        hub_tenant::personal_data::Outcome::Anonymised { records: 0 }
    );
    // When the tax period ends, retention (category `payment`) deletes the payment; a
    // second run at the same cutoff changes nothing, nor does another category.
    use hub_kernel::classification::DataCategory;
    let cutoff = chrono::Utc::now() + chrono::Duration::seconds(1);
    for (category, records) in [
        (DataCategory::Payment, 1),
        (DataCategory::Learning, 0),
        (DataCategory::Payment, 0),
    ] {
        let scope = app.tenant_scope(&inst.admin_token).await;
        let expired = source.expire(&scope, category, cutoff, &[]).await.unwrap();
        scope.commit().await.unwrap();
        assert_eq!(
            expired,
            hub_tenant::personal_data::Outcome::Deleted { records },
            "{category:?}"
        );
    }
    let gone = app
        .get(&format!("/v1/billing/payments/{payment_id}"), &finance)
        .await;
    gone.assert_problem(404, "payment_not_found");
}

/// A payment the ledger holds as taken, stored directly: as a lost or mistaken record would
/// be (Stripe has no money for it), or as a seed where no Stripe runs
/// (tests/api/personal_reads.rs).
pub(crate) async fn ledger_only_payment(
    app: &TestApp,
    admin: &str,
    person: &str,
    charge: &str,
) -> String {
    use hub_billing::entities::payment;
    use sea_orm::{ActiveValue::Set, EntityTrait};
    let id = uuid::Uuid::now_v7();
    let now = chrono::Utc::now();
    let scope = app.tenant_scope(admin).await;
    payment::Entity::insert(payment::ActiveModel {
        id: Set(id),
        person_id: Set(person.parse().unwrap()),
        course_id: Set(None),
        description: Set("Course".into()),
        amount: Set(1200),
        currency: Set("eur".into()),
        status: Set("succeeded".into()),
        amount_refunded: Set(0),
        stripe_payment_intent: Set(format!("pi_{charge}")),
        stripe_charge: Set(Some(charge.into())),
        card_sealed: Set(None),
        enrollment_id: Set(None),
        fulfilled_at: Set(None),
        fulfilment: Set("pending".into()),
        fulfilment_reason: Set(None),
        pseudonymised_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(scope.db())
    .await
    .unwrap();
    scope.commit().await.unwrap();
    id.to_string()
}

async fn promise_d7_reconciliation_lists_every_difference_with_stripe(backend: Backend) {
    let fake = StripeFake::start().await;
    let app = app_with_stripe(backend, &fake).await;
    fake.register_webhook(&webhook_url(&app), SECRET).await;
    let (inst, course) = shop(&app, "shop").await;
    let (buyer, learner) = signed_in(&app, &inst, "buyer", &["learner"]).await;
    let (_, finance) = signed_in(&app, &inst, "ledger", &["finance"]).await;
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let bought = buy(&app, &learner, &course, "buy-r").await;
    let payment_id = bought["payment"]["id"].as_str().unwrap().to_string();
    until_enrolled(&app, &learner).await;
    let reconcile = || {
        app.post(
            "/v1/billing/reconciliations",
            &finance,
            json!({"since": since}),
        )
    };
    let clean = reconcile().await;
    assert_eq!(clean.status, StatusCode::OK, "{}", clean.body);
    assert_eq!(clean.body["discrepancies"], json!([]), "{}", clean.body);
    assert_eq!(clean.body["payments_checked"], 1);
    assert!(clean.body["transactions_checked"].as_u64().unwrap() >= 1);

    // Money Stripe moved outside the product, on the institution's account.
    let outside: Value = reqwest::Client::new()
        .post(format!("{}/v1/payment_intents", fake.base_url()))
        .bearer_auth(fake.api_key())
        .header("Stripe-Account", format!("{ACCOUNT}shop").as_str())
        .form(&[
            ("amount", "700"),
            ("currency", "eur"),
            ("payment_method", "pm_card_visa"),
            ("confirm", "true"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let outside_charge = outside["latest_charge"]
        .as_str()
        .map(str::to_string)
        .or_else(|| outside["latest_charge"]["id"].as_str().map(str::to_string))
        .unwrap();
    // The ledger's amount drifted; a payment the ledger holds that Stripe never took.
    let scope = app.tenant_scope(&inst.admin_token).await;
    {
        use hub_billing::entities::payment;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        payment::Entity::update_many()
            .col_expr(payment::Column::Amount, Expr::value(5000))
            .filter(payment::Column::Id.eq(payment_id.parse::<uuid::Uuid>().unwrap()))
            .exec(scope.db())
            .await
            .unwrap();
    }
    scope.commit().await.unwrap();
    let lost = ledger_only_payment(&app, &inst.admin_token, &buyer, "ch_1NeverAtStripe").await;

    let drifted = reconcile().await;
    assert_eq!(drifted.status, StatusCode::OK, "{}", drifted.body);
    let kinds: Vec<(String, String)> = drifted.body["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["payment_id"]
                    .as_str()
                    .unwrap_or(d["stripe_object"].as_str().unwrap())
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("amount_mismatch".to_string(), payment_id.clone()),
            ("missing_at_stripe".to_string(), lost),
            ("unknown_at_stripe".to_string(), outside_charge.clone()),
        ],
        "{}",
        drifted.body
    );
    // A learner reconciles nothing.
    app.post(
        "/v1/billing/reconciliations",
        &learner,
        json!({"since": since}),
    )
    .await
    .assert_problem(403, "insufficient_scope");

    // The same from the command line, with its progress on standard error.
    let config = &app.state.config;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hub"));
    command
        .args([
            "billing",
            "reconcile",
            "--since",
            &since,
            "--tenant",
            "shop",
        ])
        .env_clear()
        .current_dir(app.data_dir())
        .env("HUB_CONFIG", app.data_dir().join("no-such-hub.toml"))
        .env("HUB_DATA_DIR", app.data_dir())
        .env("HUB_STRIPE_API_KEY", fake.api_key())
        .env("HUB_STRIPE_API_BASE", format!("{}/", fake.base_url()))
        .env("HUB_STRIPE_WEBHOOK_SECRETS", format!("[\"{SECRET}\"]"))
        .env(
            "HUB_KEK",
            config.kek.as_ref().map(hub_kernel::Secret::expose).unwrap(),
        );
    if let Some(url) = &app.database_url {
        command.env("DATABASE_URL", url);
    }
    if let Some(url) = &config.redis_url {
        command.env("REDIS_URL", url);
    }
    let output = command.output().await.expect("the hub binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("shop: 2 payment(s)") && stdout.contains("3 discrepancies"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "unknown_at_stripe {outside_charge} ledger=- stripe=700 eur"
        )),
        "{stdout}"
    );
    assert!(
        stderr.contains("institutions") && stderr.contains("discrepanc"),
        "{stderr}"
    );
}

async fn promise_d4_events_apply_once_across_two_gateways_whatever_their_order(backend: Backend) {
    let fake = StripeFake::start().await;
    let first = app_with_stripe(backend, &fake).await;
    // PostgreSQL: a second replica on the same storage (its configuration, Stripe's
    // included, copied). SQLite (one process): two processors in the same gateway.
    let second = match backend {
        Backend::Postgres => Some(crate::support::spawn_on_same_storage(&first).await),
        Backend::Sqlite => None,
    };
    let other = second.as_ref().unwrap_or(&first);
    let (inst, course) = shop(&first, "shop").await;
    let (_, learner) = signed_in(&first, &inst, "buyer", &["learner"]).await;
    let bought = buy(&first, &learner, &course, "buy-2").await;
    let intent_id = bought["payment"]["stripe_payment_intent"]
        .as_str()
        .unwrap()
        .to_string();
    let intent = fetch_intent(&fake, &intent_id).await;

    // Stripe's later event first, its earlier one (the object as it was, unpaid) after,
    // each to another replica, then a redelivery: the payment converges to Stripe's state.
    let mut succeeded = event("payment_intent.succeeded", intent.clone());
    succeeded["account"] = json!(format!("{ACCOUNT}shop"));
    let mut earlier_object = intent.clone();
    earlier_object["status"] = json!("requires_payment_method");
    earlier_object["latest_charge"] = Value::Null;
    let mut created = event("payment_intent.created", earlier_object);
    created["account"] = json!(format!("{ACCOUNT}shop"));
    created["created"] = json!(succeeded["created"].as_i64().unwrap() - 5);
    for (app, e) in [(&first, &succeeded), (other, &created), (other, &succeeded)] {
        assert_eq!(
            send_webhook(&webhook_url(app), e, SECRET).await.status(),
            StatusCode::OK
        );
    }
    // Besides each replica's own polling, both claim at the same moment.
    for _ in 0..5 {
        let now = chrono::Utc::now();
        let (a, b) = tokio::join!(
            first.state.billing.process_due_events(now),
            other.state.billing.process_due_events(now)
        );
        a.unwrap();
        b.unwrap();
    }
    until_enrolled(&first, &learner).await;
    let mut events = Value::Null;
    for _ in 0..100 {
        events = first
            .get("/v1/operator/billing/events", &first.operator_token)
            .await
            .body;
        let items = events["items"].as_array().unwrap();
        if items.len() == 2 && items.iter().all(|e| e["state"] == "applied") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "one row per event id: {events}");
    for e in items {
        assert_eq!(e["state"], "applied", "{events}");
        assert_eq!(e["attempts"], 1, "claimed by one replica, once: {events}");
    }
    // (On the embedded default sessions live in the gateway's memory: read on the first.)
    assert_eq!(my_enrollments(&first, &learner).await.len(), 1);
    let (_, finance) = signed_in(&first, &inst, "ledger", &["finance"]).await;
    let payment_id = bought["payment"]["id"].as_str().unwrap();
    assert_eq!(
        payment(&first, &finance, payment_id).await["status"],
        "succeeded"
    );
}

/// Waits until the inbox holds `event_id` in a final state, and returns it.
async fn settled(app: &TestApp, event_id: &str) -> Value {
    for _ in 0..100 {
        let listed = app
            .get("/v1/operator/billing/events?limit=200", &app.operator_token)
            .await;
        if let Some(found) = listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event_id"] == event_id && e["state"] != "pending")
        {
            return found.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{event_id} never settled");
}

async fn events_route_by_account_or_metadata_and_park_when_they_disagree(backend: Backend) {
    let fake = StripeFake::start().await;
    let app = app_with_stripe(backend, &fake).await;
    let (inst, course) = shop(&app, "shop").await;
    let other = app.create_institution("other").await;
    let (_, learner) = signed_in(&app, &inst, "buyer", &["learner"]).await;
    let bought = buy(&app, &learner, &course, "buy-m").await;
    let intent_id = bought["payment"]["stripe_payment_intent"]
        .as_str()
        .unwrap()
        .to_string();
    let intent = fetch_intent(&fake, &intent_id).await;
    assert_eq!(intent["metadata"]["hub_tenant"], inst.id.as_str());

    // The account's institution and the metadata's disagree: parked, applied nowhere.
    let mut disagreeing = intent.clone();
    disagreeing["metadata"]["hub_tenant"] = json!(other.id);
    let mut crossed = event("payment_intent.succeeded", disagreeing);
    crossed["account"] = json!(format!("{ACCOUNT}shop"));
    // Neither an account nor an institution in the metadata; metadata that is no id.
    let mut nameless = intent.clone();
    nameless["metadata"] = json!({});
    let unnamed = event("payment_intent.succeeded", nameless);
    let mut garbled = intent.clone();
    garbled["metadata"]["hub_tenant"] = json!("not-an-id");
    let garbled = event("payment_intent.succeeded", garbled);
    // The platform's own account: routed by the metadata (the object is not on the
    // platform's account, so Stripe has no such object there and nothing is applied).
    let platform = event("payment_intent.succeeded", intent.clone());
    for e in [&crossed, &unnamed, &garbled, &platform] {
        assert_eq!(
            send_webhook(&webhook_url(&app), e, SECRET).await.status(),
            StatusCode::OK
        );
    }
    let crossed = settled(&app, crossed["id"].as_str().unwrap()).await;
    assert_eq!(crossed["state"], "parked", "{crossed}");
    assert!(
        crossed["last_error"]
            .as_str()
            .unwrap()
            .contains("another institution")
    );
    for e in [&unnamed, &garbled] {
        let found = settled(&app, e["id"].as_str().unwrap()).await;
        assert_eq!(found["state"], "parked", "{found}");
        assert_eq!(found["tenant_id"], Value::Null);
    }
    let routed = settled(&app, platform["id"].as_str().unwrap()).await;
    assert_eq!(routed["tenant_id"], inst.id.as_str(), "{routed}");
    assert_eq!(routed["state"], "ignored", "{routed}");
    // None of them enrolled anyone, here or in the other institution.
    assert!(my_enrollments(&app, &learner).await.is_empty());
}

async fn an_event_stripe_cannot_answer_for_is_retried_then_a_dead_letter_and_replayable(
    backend: Backend,
) {
    let fake = StripeFake::start().await;
    let app = app_with_stripe_and(backend, &fake, |config| {
        config.billing_webhook_max_attempts = 2;
        config.billing_webhook_retry_base_secs = 1;
    })
    .await;
    let (inst, course) = shop(&app, "shop").await;
    let (_, learner) = signed_in(&app, &inst, "buyer", &["learner"]).await;
    let bought = buy(&app, &learner, &course, "buy-d").await;
    let intent_id = bought["payment"]["stripe_payment_intent"]
        .as_str()
        .unwrap()
        .to_string();
    let mut succeeded = event(
        "payment_intent.succeeded",
        fetch_intent(&fake, &intent_id).await,
    );
    succeeded["account"] = json!(format!("{ACCOUNT}shop"));
    // Stripe goes away: the event is stored and acknowledged, and cannot be applied.
    drop(fake);
    assert_eq!(
        send_webhook(&webhook_url(&app), &succeeded, SECRET)
            .await
            .status(),
        StatusCode::OK
    );
    let event_id = succeeded["id"].as_str().unwrap();
    let mut dead = Value::Null;
    for _ in 0..300 {
        let listed = app
            .get(
                "/v1/operator/billing/events?state=dead",
                &app.operator_token,
            )
            .await;
        if let Some(found) = listed.body["items"].as_array().and_then(|a| a.first()) {
            dead = found.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead["event_id"], event_id, "never a dead letter");
    assert_eq!(dead["attempts"], 2, "retried once, then given up: {dead}");
    assert_eq!(dead["tenant_id"], inst.id.as_str());
    assert!(
        dead["last_error"]
            .as_str()
            .unwrap()
            .contains("Stripe is unavailable"),
        "{dead}"
    );
    assert!(my_enrollments(&app, &learner).await.is_empty());
    // An operator puts it back in the queue, its attempts reset.
    let replayed = app
        .post(
            &format!("/v1/operator/billing/events/{event_id}/replay"),
            &app.operator_token,
            json!({}),
        )
        .await;
    assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.body);
    assert_eq!(replayed.body["state"], "pending");
    assert_eq!(replayed.body["attempts"], 0);
    // An applied or pending event is not replayed.
    let again = app
        .post(
            &format!("/v1/operator/billing/events/{event_id}/replay"),
            &app.operator_token,
            json!({}),
        )
        .await;
    assert!(
        again.status == StatusCode::CONFLICT || again.status == StatusCode::OK,
        "{}",
        again.body
    );
}

/// Edits a course as its admin (with the `If-Match` of a fresh read).
async fn patch_course(app: &TestApp, admin: &str, course: &str, body: Value) {
    let read = app.get(&format!("/v1/courses/{course}"), admin).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let patched = app
        .call_with(
            Method::PATCH,
            &format!("/v1/courses/{course}"),
            Some(admin),
            Some(body),
            &[("If-Match", &read.header("etag").unwrap())],
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
}

/// The admin enrolls a person in a course; returns the enrollment.
async fn admin_enrolls(app: &TestApp, admin: &str, course: &str, person: &str) -> Value {
    let made = app
        .post(
            &format!("/v1/courses/{course}/enrollments"),
            admin,
            json!({"person_id": person}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body
}

/// An event about `object`, of the shop's connected account, delivered signed; its id.
async fn deliver(app: &TestApp, event_type: &str, object: Value) -> String {
    let mut sent = event(event_type, object);
    sent["account"] = json!(format!("{ACCOUNT}shop"));
    let answer = send_webhook(&webhook_url(app), &sent, SECRET).await;
    assert_eq!(answer.status(), StatusCode::OK);
    sent["id"].as_str().unwrap().to_string()
}

/// Stripe's current copy of an object of the shop's account (`refunds`, `charges` …).
async fn fetch_object(fake: &StripeFake, collection: &str, id: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}/v1/{collection}/{id}", fake.base_url()))
        .bearer_auth(fake.api_key())
        .header("Stripe-Account", format!("{ACCOUNT}shop").as_str())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until the payment's `fulfilment` (and, when given, its reason) is as expected.
async fn until_fulfilment(
    app: &TestApp,
    token: &str,
    id: &str,
    fulfilment: &str,
    reason: Option<&str>,
) -> Value {
    let mut found = Value::Null;
    for _ in 0..300 {
        found = payment(app, token, id).await;
        if found["fulfilment"] == fulfilment
            && reason.is_none_or(|r| found["fulfilment_reason"] == r)
        {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("payment {id} never became {fulfilment} ({reason:?}): {found}");
}

/// The audit events of one action, as the tenant admin reads them.
async fn audited(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let trail = app
        .get(
            &format!("/v1/audit/events?limit=200&action={action}"),
            admin,
        )
        .await;
    assert_eq!(trail.status, StatusCode::OK, "{}", trail.body);
    trail.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

/// The requests that reached Stripe at `path` by `POST`.
async fn posted(fake: &StripeFake, path: &str) -> Vec<Value> {
    fake.requests()
        .await
        .into_iter()
        .filter(|r| r["method"] == "POST" && r["path"] == path)
        .collect()
}

/// Buys the course and returns (payment id, PaymentIntent id); Stripe takes the money at
/// once, but no webhook is delivered until the test sends one.
async fn bought(app: &TestApp, token: &str, course: &str, key: &str) -> (String, String) {
    let body = buy(app, token, course, key).await;
    (
        body["payment"]["id"].as_str().unwrap().to_string(),
        body["payment"]["stripe_payment_intent"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

async fn promise_d4_a_course_full_when_stripe_confirms_refunds_the_payment_and_enrolls_nobody(
    backend: Backend,
) {
    let fake = StripeFake::start().await;
    let app = app_with_stripe(backend, &fake).await;
    let (inst, course) = shop(&app, "shop").await;
    let admin = inst.admin_token.as_str();
    patch_course(&app, admin, &course, json!({"seat_limit": 1})).await;
    let (_, ada) = signed_in(&app, &inst, "ada", &["learner"]).await;
    let (bob_id, _) = signed_in(&app, &inst, "bob", &["learner"]).await;
    let (_, cyd) = signed_in(&app, &inst, "cyd", &["learner"]).await;
    let (_, finance) = signed_in(&app, &inst, "ledger", &["finance"]).await;

    // Ada pays while a seat is free; the last seat goes to Bob before Stripe's word arrives.
    let (payment_id, intent_id) = bought(&app, &ada, &course, "buy-ada").await;
    admin_enrolls(&app, admin, &course, &bob_id).await;
    // The sale itself refuses a full course, before anything reaches Stripe.
    let intents_before = posted(&fake, "/v1/payment_intents").await.len();
    app.call_with(
        Method::POST,
        "/v1/me/purchases",
        Some(&cyd),
        Some(json!({"course_id": course, "payment_method": "pm_card_visa"})),
        &[("Idempotency-Key", "buy-cyd")],
    )
    .await
    .assert_problem(409, "seats_exhausted");
    assert_eq!(
        posted(&fake, "/v1/payment_intents").await.len(),
        intents_before
    );

    let succeeded = deliver(
        &app,
        "payment_intent.succeeded",
        fetch_intent(&fake, &intent_id).await,
    )
    .await;
    // Applied, not retried towards a dead letter.
    let settled_event = settled(&app, &succeeded).await;
    assert_eq!(settled_event["state"], "applied", "{settled_event}");
    let refused = until_fulfilment(
        &app,
        &finance,
        &payment_id,
        "refused",
        Some("seats_exhausted"),
    )
    .await;
    assert_eq!(refused["enrollment_id"], Value::Null);
    assert!(my_enrollments(&app, &ada).await.is_empty());
    // Refunded in full at Stripe, keyed and labelled by the payment.
    let refunds_at_stripe = posted(&fake, "/v1/refunds").await;
    assert_eq!(refunds_at_stripe.len(), 1, "{refunds_at_stripe:?}");
    let asked = &refunds_at_stripe[0];
    assert_eq!(asked["form"]["amount"], "4900", "{asked}");
    assert_eq!(asked["form"]["payment_intent"], intent_id.as_str());
    assert_eq!(asked["form"]["metadata[hub_payment]"], payment_id.as_str());
    assert_eq!(
        asked["form"]["metadata[hub_unfulfilled]"],
        "seats_exhausted"
    );
    assert!(
        asked["headers"]["Idempotency-Key"]
            .as_str()
            .unwrap()
            .starts_with("hub-re-unfulfilled-"),
        "{asked}"
    );
    // On record as a refund nobody asked for, pending until Stripe's webhook says more.
    let refunds = app
        .get(
            &format!("/v1/billing/refunds?payment_id={payment_id}"),
            &finance,
        )
        .await;
    let items = refunds.body["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{}", refunds.body);
    assert_eq!(items[0]["status"], "pending");
    assert_eq!(items[0]["amount"], 4900);
    assert_eq!(items[0]["requested_by"], Value::Null);
    assert!(
        items[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("automatic:"),
        "{}",
        items[0]
    );
    let trail = audited(&app, admin, "billing.purchase_refused").await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0]["detail"]["reason"], "seats_exhausted");
    assert_eq!(trail[0]["detail"]["refund_id"], items[0]["id"]);
    assert!(
        audited(&app, admin, "billing.purchase_fulfilled")
            .await
            .is_empty()
    );

    // Stripe says it again (a second event about the same payment): nothing twice.
    let again = deliver(
        &app,
        "payment_intent.succeeded",
        fetch_intent(&fake, &intent_id).await,
    )
    .await;
    assert_eq!(settled(&app, &again).await["state"], "applied");
    assert_eq!(posted(&fake, "/v1/refunds").await.len(), 1);
    assert_eq!(
        audited(&app, admin, "billing.purchase_refused").await.len(),
        1
    );

    // The refund's final state is Stripe's word.
    let stripe_refund = items[0]["stripe_refund"].as_str().unwrap();
    let updated = deliver(
        &app,
        "refund.updated",
        fetch_object(&fake, "refunds", stripe_refund).await,
    )
    .await;
    assert_eq!(settled(&app, &updated).await["state"], "applied");
    let refunded = until_payment(&app, &finance, &payment_id, "refunded").await;
    assert_eq!(refunded["amount_refunded"], 4900);
    assert_eq!(refunded["fulfilment"], "refused");
    let refunds = app
        .get(
            &format!("/v1/billing/refunds?payment_id={payment_id}"),
            &finance,
        )
        .await;
    assert_eq!(refunds.body["items"][0]["status"], "succeeded");
    assert_eq!(refunds.body["items"].as_array().unwrap().len(), 1);
    assert!(my_enrollments(&app, &ada).await.is_empty());
    // Finance tells it from an ordinary refund in the list and the export too.
    let listed = app
        .get(
            &format!("/v1/billing/payments?course_id={course}"),
            &finance,
        )
        .await;
    assert_eq!(listed.body["items"][0]["fulfilment"], "refused");
    assert_eq!(
        listed.body["items"][0]["fulfilment_reason"],
        "seats_exhausted"
    );
    let csv = app
        .client
        .get(format!("{}/v1/billing/payments/export", app.base))
        .bearer_auth(&finance)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].ends_with(",fulfilment,fulfilment_reason"), "{csv}");
    assert!(
        lines[1].starts_with(&payment_id) && lines[1].ends_with(",refused,seats_exhausted"),
        "{csv}"
    );
}

async fn promise_d4_a_full_refund_withdraws_the_purchased_enrollment_and_a_partial_one_keeps_it(
    backend: Backend,
) {
    let fake = StripeFake::start().await;
    let app = app_with_stripe(backend, &fake).await;
    fake.register_webhook(&webhook_url(&app), SECRET).await;
    let (inst, course) = shop(&app, "shop").await;
    let admin = inst.admin_token.as_str();
    let (_, learner) = signed_in(&app, &inst, "buyer", &["learner"]).await;
    let (_, finance) = signed_in(&app, &inst, "ledger", &["finance"]).await;
    let bought = buy(&app, &learner, &course, "buy-w").await;
    let payment_id = bought["payment"]["id"].as_str().unwrap().to_string();
    let enrolled = until_enrolled(&app, &learner).await;
    let enrollment_id = enrolled[0]["id"].as_str().unwrap().to_string();
    until_fulfilment(&app, &finance, &payment_id, "enrolled", None).await;

    let refund = |key: &'static str, body: Value| {
        let app = &app;
        let finance = finance.clone();
        let payment_id = payment_id.clone();
        async move {
            let asked = app
                .call_with(
                    Method::POST,
                    &format!("/v1/billing/payments/{payment_id}/refunds"),
                    Some(&finance),
                    Some(body),
                    &[("Idempotency-Key", key)],
                )
                .await;
            assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
            asked.body["stripe_refund"].as_str().unwrap().to_string()
        }
    };
    // A partial refund keeps the enrollment.
    let partial = refund(
        "part-1",
        json!({"amount": 1500, "reason": "a session cancelled"}),
    )
    .await;
    deliver(
        &app,
        "refund.updated",
        fetch_object(&fake, "refunds", &partial).await,
    )
    .await;
    let partly = until_payment(&app, &finance, &payment_id, "partially_refunded").await;
    assert_eq!(partly["fulfilment"], "enrolled");
    assert_eq!(partly["fulfilment_reason"], Value::Null);
    assert_eq!(my_enrollments(&app, &learner).await[0]["state"], "active");

    // The rest refunded: the enrollment the payment made is withdrawn.
    let rest = refund("rest-1", json!({"reason": "course cancelled"})).await;
    let rest_object = fetch_object(&fake, "refunds", &rest).await;
    let first = deliver(&app, "refund.updated", rest_object.clone()).await;
    assert_eq!(settled(&app, &first).await["state"], "applied");
    let withdrawn =
        until_fulfilment(&app, &finance, &payment_id, "withdrawn", Some("refunded")).await;
    assert_eq!(withdrawn["status"], "refunded");
    assert_eq!(withdrawn["enrollment_id"], enrollment_id.as_str());
    let mine = my_enrollments(&app, &learner).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["state"], "withdrawn", "{mine:?}");

    // Duplicates and stragglers in any order: once withdrawn, nothing more happens.
    let charge = withdrawn["stripe_charge"].as_str().unwrap().to_string();
    let late_partial = deliver(
        &app,
        "refund.updated",
        fetch_object(&fake, "refunds", &partial).await,
    )
    .await;
    let again = deliver(&app, "refund.updated", rest_object).await;
    let charge_refunded = deliver(
        &app,
        "charge.refunded",
        fetch_object(&fake, "charges", &charge).await,
    )
    .await;
    for id in [late_partial, again, charge_refunded] {
        assert_eq!(settled(&app, &id).await["state"], "applied");
    }
    let trail = audited(&app, admin, "billing.purchase_withdrawn").await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0]["detail"]["enrollment_id"], enrollment_id.as_str());
    let history = app
        .get(&format!("/v1/enrollments/{enrollment_id}/history"), admin)
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    let entries = history.body["items"].as_array().unwrap();
    let withdrawals: Vec<&Value> = entries.iter().filter(|e| e["to"] == "withdrawn").collect();
    assert_eq!(withdrawals.len(), 1, "{}", history.body);
    assert_eq!(
        withdrawals[0]["reason"],
        format!("refunded: payment {payment_id}").as_str()
    );
    assert_eq!(
        payment(&app, &finance, &payment_id).await["fulfilment"],
        "withdrawn"
    );
}

async fn promise_d4_a_full_refund_keeps_an_enrollment_an_admin_made(backend: Backend) {
    let fake = StripeFake::start().await;
    let app = app_with_stripe(backend, &fake).await;
    let (inst, course) = shop(&app, "shop").await;
    let admin = inst.admin_token.as_str();
    let (learner_id, learner) = signed_in(&app, &inst, "buyer", &["learner"]).await;
    let (_, finance) = signed_in(&app, &inst, "ledger", &["finance"]).await;
    // The learner pays; before Stripe's word arrives an admin enrolls them separately.
    let (payment_id, intent_id) = bought(&app, &learner, &course, "buy-k").await;
    let by_admin = admin_enrolls(&app, admin, &course, &learner_id).await;
    deliver(
        &app,
        "payment_intent.succeeded",
        fetch_intent(&fake, &intent_id).await,
    )
    .await;
    let paid = until_fulfilment(&app, &finance, &payment_id, "enrolled", None).await;
    assert_eq!(paid["enrollment_id"], by_admin["id"]);

    let asked = app
        .call_with(
            Method::POST,
            &format!("/v1/billing/payments/{payment_id}/refunds"),
            Some(&finance),
            Some(json!({"reason": "paid twice"})),
            &[("Idempotency-Key", "refund-k")],
        )
        .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
    let stripe_refund = asked.body["stripe_refund"].as_str().unwrap();
    deliver(
        &app,
        "refund.updated",
        fetch_object(&fake, "refunds", stripe_refund).await,
    )
    .await;
    let kept = until_fulfilment(
        &app,
        &finance,
        &payment_id,
        "enrolled",
        Some("not_from_purchase"),
    )
    .await;
    assert_eq!(kept["status"], "refunded");
    let mine = my_enrollments(&app, &learner).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["state"], "active");
    assert_eq!(mine[0]["source"], "admin");
    assert!(
        audited(&app, admin, "billing.purchase_withdrawn")
            .await
            .is_empty()
    );
    assert_eq!(
        audited(&app, admin, "billing.purchase_enrollment_kept")
            .await
            .len(),
        1
    );
}

async fn promise_d4_prerequisites_are_asked_at_sale_and_again_when_stripe_confirms(
    backend: Backend,
) {
    let fake = StripeFake::start().await;
    let app = app_with_stripe(backend, &fake).await;
    let (inst, course) = shop(&app, "shop").await;
    let admin = inst.admin_token.as_str();
    let basics = crate::progress::course(&app, admin, "BASICS-1").await;
    let (_, early) = signed_in(&app, &inst, "early", &["learner"]).await;
    let (_, newcomer) = signed_in(&app, &inst, "newcomer", &["learner"]).await;
    let (ready_id, ready) = signed_in(&app, &inst, "ready", &["learner"]).await;
    let (_, finance) = signed_in(&app, &inst, "ledger", &["finance"]).await;

    // Bought before the course asked for a prerequisite; Stripe's word comes after.
    let (early_payment, early_intent) = bought(&app, &early, &course, "buy-early").await;
    patch_course(&app, admin, &course, json!({"prerequisites": [basics]})).await;

    // A learner who has not completed it is refused at sale, as self-enrollment's rule
    // says, and nothing reaches Stripe.
    let intents_before = posted(&fake, "/v1/payment_intents").await.len();
    app.call_with(
        Method::POST,
        "/v1/me/purchases",
        Some(&newcomer),
        Some(json!({"course_id": course, "payment_method": "pm_card_visa"})),
        &[("Idempotency-Key", "buy-new")],
    )
    .await
    .assert_problem(409, "prerequisites_not_completed");
    assert_eq!(
        posted(&fake, "/v1/payment_intents").await.len(),
        intents_before
    );
    let theirs = app.get("/v1/me/payments", &newcomer).await;
    assert_eq!(theirs.body["items"], json!([]), "{}", theirs.body);

    // One who completed it buys and is enrolled once Stripe confirms.
    let basic = admin_enrolls(&app, admin, &basics, &ready_id).await;
    let completed = app
        .call_with(
            Method::PATCH,
            &format!("/v1/enrollments/{}", basic["id"].as_str().unwrap()),
            Some(admin),
            Some(json!({"state": "completed"})),
            &[("If-Match", &format!("\"{}\"", basic["revision"]))],
        )
        .await;
    assert_eq!(completed.status, StatusCode::OK, "{}", completed.body);
    let (ready_payment, ready_intent) = bought(&app, &ready, &course, "buy-ready").await;

    for intent in [&early_intent, &ready_intent] {
        let id = deliver(
            &app,
            "payment_intent.succeeded",
            fetch_intent(&fake, intent).await,
        )
        .await;
        assert_eq!(settled(&app, &id).await["state"], "applied");
    }
    until_fulfilment(&app, &finance, &ready_payment, "enrolled", None).await;
    assert_eq!(my_enrollments(&app, &ready).await.len(), 2);
    // The early buyer's payment meets the rule at fulfilment: refunded, nobody enrolled.
    let refused = until_fulfilment(
        &app,
        &finance,
        &early_payment,
        "refused",
        Some("prerequisites_not_completed"),
    )
    .await;
    assert_eq!(refused["enrollment_id"], Value::Null);
    assert!(my_enrollments(&app, &early).await.is_empty());
    let refunds_at_stripe = posted(&fake, "/v1/refunds").await;
    assert_eq!(refunds_at_stripe.len(), 1, "{refunds_at_stripe:?}");
    assert_eq!(
        refunds_at_stripe[0]["form"]["metadata[hub_payment]"],
        early_payment.as_str()
    );
    assert_eq!(
        refunds_at_stripe[0]["form"]["metadata[hub_unfulfilled]"],
        "prerequisites_not_completed"
    );
}
