//! The platform's own billing through the public API against a local Stripe: an
//! institution's admin subscribes to a plan with seats (a recurring price the operator made
//! at Stripe), Stripe invoices and charges the institution, the invoice arrives by a signed
//! webhook routed by its customer, finance reads it; seats in use above the commitment are
//! billed, measured once across two gateways; what goes to Stripe is billing data only.

use crate::billing::{SECRET, app_with_stripe_and, webhook_url};
use crate::both_backends;
use crate::privacy_requests::signed_in;
use crate::progress::course;
use crate::stripe_fake::{StripeFake, event, send_webhook};
use crate::support::{Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    promise_d7_an_institution_subscribes_with_seats_and_finance_reads_the_platforms_invoices,
    promise_d7_seats_in_use_above_the_commitment_are_billed_once_across_two_gateways,
);

/// A recurring price of one seat a month, made at Stripe as the operator makes it.
async fn seat_price(fake: &StripeFake, name: &str, unit_amount: i64) -> String {
    let unit_amount = unit_amount.to_string();
    let made = stripe_post(
        fake,
        "/v1/prices",
        &[
            ("currency", "eur"),
            ("unit_amount", &unit_amount),
            ("recurring[interval]", "month"),
            ("product_data[name]", name),
        ],
    )
    .await;
    made["id"].as_str().expect("a price id").to_string()
}

async fn stripe_get(fake: &StripeFake, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", fake.base_url()))
        .bearer_auth(fake.api_key())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn stripe_post(fake: &StripeFake, path: &str, form: &[(&str, &str)]) -> Value {
    reqwest::Client::new()
        .post(format!("{}{path}", fake.base_url()))
        .bearer_auth(fake.api_key())
        .form(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn app_with_plans(
    backend: Backend,
    fake: &StripeFake,
    plans: &[(&str, &str)],
    adjust: impl FnOnce(&mut hub_gateway::config::Config) + Send + 'static,
) -> TestApp {
    let plans: std::collections::BTreeMap<String, String> = plans
        .iter()
        .map(|(code, price)| (code.to_string(), price.to_string()))
        .collect();
    app_with_stripe_and(backend, fake, move |config| {
        config.billing_plans = plans;
        adjust(config);
    })
    .await
}

async fn subscription(app: &TestApp, token: &str) -> Value {
    let read = app.get("/v1/billing/subscription", token).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    read.body
}

async fn subscribe(app: &TestApp, token: &str, body: Value) -> crate::support::Reply {
    app.call(
        Method::PUT,
        "/v1/billing/subscription",
        Some(token),
        Some(body),
    )
    .await
}

/// Waits (up to 30 s) for the platform's invoices to the institution to satisfy `check`.
async fn until_invoices(
    app: &TestApp,
    token: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..300 {
        let listed = app.get("/v1/billing/platform-invoices", token).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        last = listed.body["items"].as_array().unwrap().clone();
        if check(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = app
        .get("/v1/operator/billing/events", &app.operator_token)
        .await;
    panic!(
        "the platform's invoices never came to what was expected: {last:?}; the inbox: {}",
        events.body
    );
}

async fn promise_d7_an_institution_subscribes_with_seats_and_finance_reads_the_platforms_invoices(
    backend: Backend,
) {
    let fake = StripeFake::start().await;
    let price = seat_price(&fake, "Campus", 400).await;
    let app = app_with_plans(backend, &fake, &[("campus", &price)], |_| {}).await;
    fake.register_webhook(&webhook_url(&app), SECRET).await;
    let inst = app.create_institution("uni").await;
    let admin = inst.admin_token.as_str();
    let (_, finance) = signed_in(&app, &inst, "ledger", &["finance"]).await;
    let (_, learner) = signed_in(&app, &inst, "lea", &["learner"]).await;

    // The plans, as Stripe prices them.
    let plans = app.get("/v1/billing/plans", &finance).await;
    assert_eq!(plans.status, StatusCode::OK, "{}", plans.body);
    assert_eq!(
        plans.body["items"],
        json!([{
            "code": "campus", "name": "Campus", "currency": "eur", "currency_exponent": 2,
            "unit_amount": 400, "interval": "month", "interval_count": 1
        }])
    );
    let before = subscription(&app, admin).await;
    assert_eq!(before["subscribed"], false, "{before}");

    // Bad input changes nothing: an unknown plan, no card the first time, no seats, a
    // learner or finance subscribing.
    subscribe(
        &app,
        admin,
        json!({"plan": "gold", "seats": 5, "payment_method": "pm_card_visa"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    subscribe(&app, admin, json!({"plan": "campus", "seats": 5}))
        .await
        .assert_problem(422, "validation_failed");
    let zero = subscribe(&app, admin, json!({"plan": "campus", "seats": 0})).await;
    assert!(zero.status.is_client_error(), "{}", zero.body);
    subscribe(
        &app,
        &learner,
        json!({"plan": "campus", "seats": 5, "payment_method": "pm_card_visa"}),
    )
    .await
    .assert_problem(403, "insufficient_scope");
    subscribe(
        &app,
        &finance,
        json!({"plan": "campus", "seats": 5, "payment_method": "pm_card_visa"}),
    )
    .await
    .assert_problem(403, "insufficient_scope");
    app.get("/v1/billing/subscription", &learner)
        .await
        .assert_problem(403, "insufficient_scope");
    let unsubscribed = subscription(&app, admin).await;
    assert_eq!(unsubscribed["subscribed"], false, "{unsubscribed}");

    fake.reset().await;
    let made = subscribe(
        &app,
        admin,
        json!({"plan": "campus", "seats": 5, "payment_method": "pm_card_visa"}),
    )
    .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    assert_eq!(made.body["status"], "active", "{}", made.body);
    assert_eq!(made.body["plan"], "campus");
    assert_eq!(made.body["seats_committed"], 5);
    assert_eq!(made.body["seats_billed"], 5);
    assert_eq!(made.body["seats_used"], 0);
    assert_eq!(made.body["cancel_at_period_end"], false);
    let stripe_subscription = made.body["stripe_subscription"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(made.body["current_period_end"].is_string(), "{}", made.body);

    // What went to Stripe (T3): the institution's name and id, the plan and seats.
    let sent = fake.requests().await;
    assert!(!sent.is_empty());
    for request in &sent {
        let form = request["form"].as_object().cloned().unwrap_or_default();
        for key in form.keys() {
            assert!(
                [
                    "name",
                    "customer",
                    "items[0][price]",
                    "items[0][quantity]",
                    "payment_behavior",
                    "invoice_settings[default_payment_method]",
                ]
                .contains(&key.as_str())
                    || key.starts_with("metadata[hub_"),
                "{key} was sent to Stripe: {request}"
            );
        }
        assert!(request["headers"]["Stripe-Account"].is_null(), "{request}");
    }
    let customer = sent
        .iter()
        .find(|r| r["path"] == "/v1/customers")
        .expect("the institution became a customer");
    assert_eq!(customer["form"]["name"], "uni institute");

    // Stripe invoiced the five seats and took the money; its signed events bring the
    // invoice (routed by its customer: it names no institution itself).
    let invoices = until_invoices(&app, &finance, |items| {
        items.iter().any(|i| i["status"] == "paid")
    })
    .await;
    assert_eq!(invoices.len(), 1, "{invoices:?}");
    let invoice = &invoices[0];
    assert_eq!(invoice["amount_paid"], 2000, "{invoice}");
    assert_eq!(invoice["total"], 2000);
    assert_eq!(invoice["amount_remaining"], 0);
    assert_eq!(invoice["currency"], "eur");
    assert_eq!(invoice["currency_exponent"], 2);
    assert_eq!(invoice["seats"], 5);
    assert!(invoice["paid_at"].is_string(), "{invoice}");
    app.get("/v1/billing/platform-invoices", &learner)
        .await
        .assert_problem(403, "insufficient_scope");
    app.get("/v1/billing/platform-invoices?cursor=in_unknown1", &finance)
        .await
        .assert_problem(422, "validation_failed");

    // Another institution sees none of it.
    let other = app.create_institution("college").await;
    let theirs = subscription(&app, &other.admin_token).await;
    assert_eq!(theirs["subscribed"], false, "{theirs}");
    let their_invoices = app
        .get("/v1/billing/platform-invoices", &other.admin_token)
        .await;
    assert_eq!(
        their_invoices.body["items"],
        json!([]),
        "{}",
        their_invoices.body
    );

    // More seats: Stripe's subscription has the new quantity.
    let grown = subscribe(&app, admin, json!({"plan": "campus", "seats": 8})).await;
    assert_eq!(grown.status, StatusCode::OK, "{}", grown.body);
    assert_eq!(grown.body["seats_billed"], 8);
    assert_eq!(
        grown.body["stripe_subscription"],
        stripe_subscription.as_str()
    );
    let at_stripe = stripe_get(&fake, &format!("/v1/subscriptions/{stripe_subscription}")).await;
    assert_eq!(at_stripe["items"]["data"][0]["quantity"], 8, "{at_stripe}");
    assert_eq!(at_stripe["metadata"]["hub_tenant"], inst.id.as_str());

    // Cancelled at the period's end, then taken back by subscribing again.
    let cancelled = app
        .call(
            Method::DELETE,
            "/v1/billing/subscription",
            Some(admin),
            None,
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["cancel_at_period_end"], true);
    assert_eq!(cancelled.body["status"], "active");
    let resumed = subscribe(&app, admin, json!({"plan": "campus", "seats": 8})).await;
    assert_eq!(
        resumed.body["cancel_at_period_end"], false,
        "{}",
        resumed.body
    );
    other_customer_invoice_is_parked(&app, &fake, &inst.id).await;
    let after = app.get("/v1/billing/platform-invoices", &finance).await;
    assert!(
        after.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["stripe_invoice"] != "in_1Pgc6tB7WZ01zgkWu9fdqL6I"),
        "{}",
        after.body
    );

    // The changes are in the institution's audit trail.
    let trail = app
        .get(
            "/v1/audit/events?limit=200&action=billing.subscription_changed",
            admin,
        )
        .await;
    let changes = trail.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "billing.subscription_changed")
        .count();
    assert_eq!(changes, 3, "{}", trail.body);
}

/// An invoice event of a customer no institution is: parked for operators. One whose
/// metadata names the institution but whose invoice is no invoice of its customer at
/// Stripe: applied to nothing. Either way the institution's invoices are unchanged.
async fn other_customer_invoice_is_parked(app: &TestApp, fake: &StripeFake, tenant: &str) {
    let stranger = stripe_post(fake, "/v1/customers", &[("name", "Someone else")]).await;
    let mut invoice = crate::stripe_fake::fixture("invoice");
    invoice["customer"] = stranger["id"].clone();
    invoice["metadata"] = json!({});
    let unknown = event("invoice.paid", invoice.clone());
    let mut naming_invoice = invoice;
    naming_invoice["metadata"] = json!({"hub_tenant": tenant});
    let naming = event("invoice.paid", naming_invoice);
    for e in [&unknown, &naming] {
        assert_eq!(
            send_webhook(&webhook_url(app), e, SECRET).await.status(),
            StatusCode::OK
        );
    }
    let operator = app.operator_token.clone();
    for (e, state) in [(&unknown, "parked"), (&naming, "ignored")] {
        let id = e["id"].as_str().unwrap();
        let mut found = Value::Null;
        for _ in 0..300 {
            let listed = app
                .get("/v1/operator/billing/events?limit=200", &operator)
                .await;
            found = listed.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["event_id"] == id)
                .cloned()
                .unwrap_or(Value::Null);
            if found["state"] != "pending" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(found["state"], state, "{found}");
    }
}

async fn promise_d7_seats_in_use_above_the_commitment_are_billed_once_across_two_gateways(
    backend: Backend,
) {
    let fake = StripeFake::start().await;
    let price = seat_price(&fake, "Academy", 300).await;
    let first = app_with_plans(backend, &fake, &[("academy", &price)], |config| {
        config.billing_seat_usage_secs = 1;
        config.deadline_sweep_secs = 1;
    })
    .await;
    // PostgreSQL: a second replica on the same storage; SQLite (one process): the same
    // gateway's job twice at once.
    let second = match backend {
        Backend::Postgres => Some(crate::support::spawn_on_same_storage(&first).await),
        Backend::Sqlite => None,
    };
    let other = second.as_ref().unwrap_or(&first);
    let inst = first.create_institution("academy").await;
    let admin = inst.admin_token.as_str();
    let made = subscribe(
        &first,
        admin,
        json!({"plan": "academy", "seats": 1, "payment_method": "pm_card_visa"}),
    )
    .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    assert_eq!(made.body["seats_billed"], 1);
    let stripe_subscription = made.body["stripe_subscription"]
        .as_str()
        .unwrap()
        .to_string();

    // Three learners enrolled (one of them twice, in two courses): three seats in use.
    let algebra = course(&first, admin, "ALG-1").await;
    let biology = course(&first, admin, "BIO-1").await;
    let mut people = Vec::new();
    for name in ["ana", "ben", "cai"] {
        let (person, _) = signed_in(&first, &inst, name, &["learner"]).await;
        people.push(person);
    }
    for (course, person) in [
        (&algebra, &people[0]),
        (&algebra, &people[1]),
        (&algebra, &people[2]),
        (&biology, &people[0]),
    ] {
        let enrolled = first
            .post(
                &format!("/v1/courses/{course}/enrollments"),
                admin,
                json!({"person_id": person}),
            )
            .await;
        assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.body);
    }
    assert_eq!(
        subscription(&first, admin).await["subscription"]["seats_used"],
        3
    );

    // Besides each replica's own sweep, both measure at the same moment.
    let mut billed = Value::Null;
    for _ in 0..300 {
        let now = chrono::Utc::now();
        let (a, b) = tokio::join!(
            first.state.billing.measure_seat_usage(now),
            other.state.billing.measure_seat_usage(now)
        );
        a.unwrap();
        b.unwrap();
        billed = subscription(&first, admin).await;
        if billed["subscription"]["seats_billed"] == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(billed["subscription"]["seats_billed"], 3, "{billed}");
    assert_eq!(billed["subscription"]["seats_committed"], 1);
    assert!(
        billed["subscription"]["usage_measured_at"].is_string(),
        "{billed}"
    );
    let at_stripe = stripe_get(&fake, &format!("/v1/subscriptions/{stripe_subscription}")).await;
    assert_eq!(at_stripe["items"]["data"][0]["quantity"], 3, "{at_stripe}");
    // Measured again and again, billed once: one change in the audit trail.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let now = chrono::Utc::now();
    let (a, b) = tokio::join!(
        first.state.billing.measure_seat_usage(now),
        other.state.billing.measure_seat_usage(now)
    );
    a.unwrap();
    b.unwrap();
    let trail = first
        .get(
            "/v1/audit/events?limit=200&action=billing.seats_billed",
            admin,
        )
        .await;
    let changes: Vec<&Value> = trail.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "billing.seats_billed")
        .collect();
    assert_eq!(changes.len(), 1, "{}", trail.body);
    assert_eq!(changes[0]["detail"]["seats_billed"], 3);
    assert_eq!(changes[0]["detail"]["seats_used"], 3);
    assert_eq!(changes[0]["detail"]["seats_billed_before"], 1);
}
