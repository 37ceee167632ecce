//! Finance's history and reconciliation (D7) through the public API against a local Stripe
//! (tests/api/stripe_fake.rs): each institution with a connected account is reconciled once
//! per period across two gateways on one database, over windows that overlap, every run is
//! recorded with its differences (listed in cursor pages, audited when there are any), a run
//! Stripe cannot answer is recorded failed and retried next period; Stripe's payouts arrive
//! through `payout.*` events and are listed to finance with period and status filters.

use crate::billing::{
    ACCOUNT, SECRET, app_with_stripe_and, buy, ledger_only_payment, shop, until_enrolled,
    webhook_url,
};
use crate::both_backends;
use crate::privacy_requests::signed_in;
use crate::stripe_fake::{StripeFake, event, send_webhook};
use crate::support::{Backend, TestApp};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;

both_backends!(
    promise_d7_each_institution_is_reconciled_once_per_period_across_two_gateways,
    promise_d7_a_run_stripe_cannot_answer_is_recorded_failed_and_retried_next_period,
    promise_d7_finance_lists_stripe_payouts_with_period_and_status_filters,
);

const DAY: i64 = 86_400;

/// A reconciliation run with one difference, stored directly as a run leaves it: a seed
/// where no Stripe runs (tests/api/personal_reads.rs).
pub(crate) async fn recorded_run(app: &TestApp, admin: &str) -> String {
    use hub_billing::reconciliation_runs::entity::{discrepancy, run};
    use sea_orm::{ActiveValue::Set, EntityTrait};
    let id = uuid::Uuid::now_v7();
    let now = Utc::now();
    let scope = app.tenant_scope(admin).await;
    run::Entity::insert(run::ActiveModel {
        id: Set(id),
        origin: Set("scheduled".into()),
        status: Set("succeeded".into()),
        since: Set(now - Duration::days(1)),
        started_at: Set(now),
        finished_at: Set(Some(now)),
        payments_checked: Set(0),
        refunds_checked: Set(0),
        transactions_checked: Set(1),
        discrepancies: Set(1),
        error: Set(None),
    })
    .exec_without_returning(scope.db())
    .await
    .unwrap();
    discrepancy::Entity::insert(discrepancy::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        run_id: Set(id),
        kind: Set("unknown_at_stripe".into()),
        stripe_object: Set("ch_seeded".into()),
        payment_id: Set(None),
        refund_id: Set(None),
        ledger_amount: Set(None),
        stripe_amount: Set(Some(700)),
        currency: Set("eur".into()),
    })
    .exec_without_returning(scope.db())
    .await
    .unwrap();
    scope.commit().await.unwrap();
    id.to_string()
}

async fn app(backend: Backend, fake: &StripeFake) -> TestApp {
    app_with_stripe_and(backend, fake, |_| {}).await
}

/// One pass of the scheduled job as of `now` on both replicas at once (on SQLite, two
/// passes in the one gateway): the runs made, whichever replica made them.
async fn pass(first: &TestApp, other: &TestApp, now: DateTime<Utc>) -> Vec<(String, Value)> {
    let every = Duration::seconds(DAY);
    let (a, b) = tokio::join!(
        first.state.billing.reconcile_due_tenants(now, every),
        other.state.billing.reconcile_due_tenants(now, every)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.failed.is_empty() && b.failed.is_empty(), "{a:?} {b:?}");
    a.runs
        .into_iter()
        .chain(b.runs)
        .map(|(tenant, run)| {
            (
                tenant.to_string(),
                json!({"id": run.id.to_string(), "status": run.status, "since": run.since,
                       "error": run.error, "discrepancies": run.discrepancies}),
            )
        })
        .collect()
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// Every page of a listing, following `next_cursor` with pages of `limit`.
async fn all_pages(app: &TestApp, path: &str, token: &str, limit: u32) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let page = app.get(&url, token).await;
        assert_eq!(page.status, StatusCode::OK, "{url}: {}", page.body);
        items.extend(page.body["items"].as_array().unwrap().iter().cloned());
        pages += 1;
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return (items, pages),
        }
    }
}

async fn promise_d7_each_institution_is_reconciled_once_per_period_across_two_gateways(
    backend: Backend,
) {
    let fake = StripeFake::start().await;
    let first = app(backend, &fake).await;
    // PostgreSQL: a second replica on the same database. SQLite (one process): two passes
    // in the same gateway at once.
    let second = match backend {
        Backend::Postgres => Some(crate::support::spawn_on_same_storage(&first).await),
        Backend::Sqlite => None,
    };
    let other = second.as_ref().unwrap_or(&first);
    fake.register_webhook(&webhook_url(&first), SECRET).await;
    let (inst, course) = shop(&first, "shop").await;
    // An institution with no connected account has nothing to reconcile.
    let plain = first.create_institution("plain").await;
    let (buyer, learner) = signed_in(&first, &inst, "buyer", &["learner"]).await;
    let (_, finance) = signed_in(&first, &inst, "ledger", &["finance"]).await;
    let (_, other_finance) = signed_in(&first, &plain, "books", &["finance"]).await;
    buy(&first, &learner, &course, "buy-s").await;
    until_enrolled(&first, &learner).await;

    // PostgreSQL keeps microseconds.
    let start = Utc::now().trunc_subsecs(6);
    let runs = pass(&first, other, start).await;
    assert_eq!(runs.len(), 1, "one run across both replicas: {runs:?}");
    let (tenant, run) = &runs[0];
    assert_eq!(tenant, &inst.id);
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["discrepancies"], 0, "{run}");
    // The first run looks one period and the overlap back.
    assert_eq!(
        at(&run["since"]),
        start - Duration::seconds(DAY) - Duration::minutes(60)
    );
    let first_run = run["id"].as_str().unwrap().to_string();
    // Within the period: nothing more, on either replica.
    assert!(
        pass(&first, other, start + Duration::hours(1))
            .await
            .is_empty()
    );

    // Money Stripe moved outside the product, and a payment only the ledger holds.
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
    let lost = ledger_only_payment(&first, &inst.admin_token, &buyer, "ch_1NeverAtStripe").await;

    // The next period: one run again, its window from the previous run's start minus the
    // overlap.
    let next = start + Duration::seconds(DAY + 1);
    let runs = pass(&first, other, next).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0].1;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["discrepancies"], 2, "{run}");
    assert_eq!(at(&run["since"]), start - Duration::minutes(60));
    let second_run = run["id"].as_str().unwrap().to_string();

    // Finance lists the runs, newest first, in cursor pages.
    let (listed, pages) = all_pages(&first, "/v1/billing/reconciliations", &finance, 1).await;
    assert_eq!(pages, 2);
    let ids: Vec<&str> = listed.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![second_run.as_str(), first_run.as_str()]);
    assert!(listed.iter().all(|r| r["origin"] == "scheduled"));
    assert_eq!(listed[0]["payments_checked"], 2, "{}", listed[0]);
    assert!(listed[0]["transactions_checked"].as_i64().unwrap() >= 2);
    assert!(listed[0]["finished_at"].is_string(), "{}", listed[0]);
    // And one run's differences, a page at a time.
    let (found, pages) = all_pages(
        &first,
        &format!("/v1/billing/reconciliations/{second_run}/discrepancies"),
        &finance,
        1,
    )
    .await;
    assert_eq!(pages, 2);
    let kinds: BTreeSet<(String, String)> = found
        .iter()
        .map(|d| {
            assert_eq!(d["run_id"], second_run.as_str());
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
        BTreeSet::from([
            ("missing_at_stripe".to_string(), lost),
            ("unknown_at_stripe".to_string(), outside_charge.clone()),
        ])
    );
    let clean = first
        .get(
            &format!("/v1/billing/reconciliations/{first_run}/discrepancies"),
            &finance,
        )
        .await;
    assert_eq!(clean.body["items"], json!([]), "{}", clean.body);
    // The run with differences is in the audit trail; the clean one is not.
    let trail = first
        .get(
            "/v1/audit/events?limit=200&action=billing.reconciled",
            &inst.admin_token,
        )
        .await;
    let audited: Vec<&Value> = trail.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "billing.reconciled")
        .collect();
    assert_eq!(audited.len(), 1, "{}", trail.body);
    assert_eq!(audited[0]["detail"]["run_id"], second_run.as_str());
    assert_eq!(audited[0]["detail"]["discrepancies"], 2);

    // Finance's own request is recorded the same way.
    let asked = first
        .post(
            "/v1/billing/reconciliations",
            &finance,
            json!({"since": (start - Duration::hours(1)).to_rfc3339()}),
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    let asked_id = asked.body["id"].as_str().unwrap().to_string();
    let one = first
        .get(&format!("/v1/billing/reconciliations/{asked_id}"), &finance)
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert_eq!(one.body["origin"], "on_demand");
    assert_eq!(one.body["status"], "succeeded");
    assert_eq!(one.body["discrepancies"], 2);
    // An on-demand run leaves the schedule alone: the next period's window still starts at
    // the last scheduled run.
    let runs = pass(&first, other, start + Duration::seconds(2 * DAY + 2)).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(at(&runs[0].1["since"]), next - Duration::minutes(60));

    // Another institution sees none of it; a learner reads nothing; bad input is a 400.
    let theirs = first
        .get("/v1/billing/reconciliations", &other_finance)
        .await;
    assert_eq!(theirs.body["items"], json!([]), "{}", theirs.body);
    first
        .get(
            &format!("/v1/billing/reconciliations/{second_run}"),
            &other_finance,
        )
        .await
        .assert_problem(404, "reconciliation_not_found");
    first
        .get(
            &format!("/v1/billing/reconciliations/{second_run}/discrepancies"),
            &other_finance,
        )
        .await
        .assert_problem(404, "reconciliation_not_found");
    first
        .get("/v1/billing/reconciliations", &learner)
        .await
        .assert_problem(403, "insufficient_scope");
    first
        .get("/v1/billing/reconciliations?cursor=not-a-cursor", &finance)
        .await
        .assert_problem(422, "invalid_cursor");
    let bad = first
        .get("/v1/billing/reconciliations?limit=0", &finance)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
}

async fn promise_d7_a_run_stripe_cannot_answer_is_recorded_failed_and_retried_next_period(
    backend: Backend,
) {
    let fake = StripeFake::start().await;
    let app = app(backend, &fake).await;
    let (inst, _) = shop(&app, "shop").await;
    let (_, finance) = signed_in(&app, &inst, "ledger", &["finance"]).await;
    // PostgreSQL keeps microseconds.
    let start = Utc::now().trunc_subsecs(6);
    let runs = pass(&app, &app, start).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].1["status"], "succeeded", "{runs:?}");

    // Stripe goes away: the next period's run is recorded failed, with Stripe's error.
    drop(fake);
    let runs = pass(&app, &app, start + Duration::seconds(DAY + 1)).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    let failed = &runs[0].1;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("Stripe is unavailable"),
        "{failed}"
    );
    assert_eq!(at(&failed["since"]), start - Duration::minutes(60));
    let listed = app.get("/v1/billing/reconciliations", &finance).await;
    assert_eq!(
        listed.body["items"][0]["id"], failed["id"],
        "{}",
        listed.body
    );
    assert_eq!(listed.body["items"][0]["status"], "failed");
    assert!(listed.body["items"][0]["finished_at"].is_string());
    // Not again within the period; the next period tries again, from the last run that
    // succeeded, so the failed window is covered.
    assert!(
        pass(&app, &app, start + Duration::seconds(DAY + 3600))
            .await
            .is_empty()
    );
    let runs = pass(&app, &app, start + Duration::seconds(2 * DAY + 2)).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_ne!(runs[0].1["id"], failed["id"]);
    assert_eq!(at(&runs[0].1["since"]), start - Duration::minutes(60));
    let listed = app.get("/v1/billing/reconciliations", &finance).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 3);
}

/// Creates a payout on the connected account at Stripe (`status`: localstripe's way to make
/// one paid or failed at once).
async fn payout(fake: &StripeFake, account: &str, amount: &str, status: Option<&str>) -> Value {
    let mut form = vec![("amount", amount), ("currency", "eur")];
    if let Some(status) = status {
        form.push(("status", status));
    }
    let created = reqwest::Client::new()
        .post(format!("{}/v1/payouts", fake.base_url()))
        .bearer_auth(fake.api_key())
        .header("Stripe-Account", account)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    created.json().await.unwrap()
}

/// Waits (up to 30 s) until finance lists payouts matching `check`.
async fn until_payouts(app: &TestApp, token: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut items = Vec::new();
    for _ in 0..300 {
        let listed = app.get("/v1/billing/payouts?limit=200", token).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        items = listed.body["items"].as_array().unwrap().clone();
        if check(&items) {
            return items;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("payouts never as expected: {items:?}");
}

async fn promise_d7_finance_lists_stripe_payouts_with_period_and_status_filters(backend: Backend) {
    let fake = StripeFake::start().await;
    let app = app(backend, &fake).await;
    fake.register_webhook(&webhook_url(&app), SECRET).await;
    let (inst, _) = shop(&app, "shop").await;
    let (north, _) = shop(&app, "north").await;
    let (_, finance) = signed_in(&app, &inst, "ledger", &["finance"]).await;
    let (_, north_finance) = signed_in(&app, &north, "books", &["finance"]).await;
    let (_, learner) = signed_in(&app, &inst, "buyer", &["learner"]).await;
    let account = format!("{ACCOUNT}shop");
    let pending = payout(&fake, &account, "1000", None).await;
    let paid = payout(&fake, &account, "2500", Some("paid")).await;
    let failed = payout(&fake, &account, "300", Some("failed")).await;
    let theirs = payout(&fake, &format!("{ACCOUNT}north"), "999", Some("paid")).await;

    let items = until_payouts(&app, &finance, |items| {
        items.len() == 3 && items.iter().any(|p| p["status"] == "failed")
    })
    .await;
    let by_id = |id: &Value| items.iter().find(|p| p["stripe_payout"] == *id).cloned();
    let seen = by_id(&pending["id"]).unwrap();
    assert_eq!(seen["status"], "pending");
    assert_eq!(seen["amount"], 1000);
    assert_eq!(seen["currency"], "eur");
    assert_eq!(seen["currency_exponent"], 2);
    assert_eq!(
        at(&seen["arrival_date"]).timestamp(),
        pending["arrival_date"].as_i64().unwrap()
    );
    assert_eq!(by_id(&paid["id"]).unwrap()["status"], "paid");
    let failure = by_id(&failed["id"]).unwrap();
    assert_eq!(failure["status"], "failed");
    assert_eq!(failure["failure_code"], "could_not_process");
    // Another institution's payout is its own.
    let north_items = until_payouts(&app, &north_finance, |items| items.len() == 1).await;
    assert_eq!(north_items[0]["stripe_payout"], theirs["id"]);

    // Stripe cancels the pending one; a stale copy redelivered after changes nothing: the
    // payout is fetched again, one row per payout.
    let canceled = reqwest::Client::new()
        .post(format!(
            "{}/v1/payouts/{}/cancel",
            fake.base_url(),
            pending["id"].as_str().unwrap()
        ))
        .bearer_auth(fake.api_key())
        .header("Stripe-Account", account.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(canceled.status(), StatusCode::OK);
    until_payouts(&app, &finance, |items| {
        items
            .iter()
            .any(|p| p["stripe_payout"] == pending["id"] && p["status"] == "canceled")
    })
    .await;
    let mut stale = event("payout.updated", pending.clone());
    stale["account"] = json!(account);
    assert_eq!(
        send_webhook(&webhook_url(&app), &stale, SECRET)
            .await
            .status(),
        StatusCode::OK
    );
    let mut settled = Value::Null;
    for _ in 0..100 {
        let listed = app
            .get("/v1/operator/billing/events?limit=200", &app.operator_token)
            .await;
        if let Some(found) = listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event_id"] == stale["id"] && e["state"] != "pending")
        {
            settled = found.clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(settled["state"], "applied", "{settled}");
    let items = until_payouts(&app, &finance, |items| items.len() == 3).await;
    assert_eq!(
        items
            .iter()
            .find(|p| p["stripe_payout"] == pending["id"])
            .unwrap()["status"],
        "canceled"
    );

    // Filters: status, arrival period; cursor pages.
    let only_paid = app.get("/v1/billing/payouts?status=paid", &finance).await;
    let listed: Vec<&Value> = only_paid.body["items"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 1, "{}", only_paid.body);
    assert_eq!(listed[0]["stripe_payout"], paid["id"]);
    let arrival = at(&seen["arrival_date"]);
    let window = |from: DateTime<Utc>, to: DateTime<Utc>| {
        format!(
            "/v1/billing/payouts?from={}&to={}",
            urlencoding(&from.to_rfc3339()),
            urlencoding(&to.to_rfc3339())
        )
    };
    let later = app
        .get(
            &window(arrival + Duration::days(1), arrival + Duration::days(2)),
            &finance,
        )
        .await;
    assert_eq!(later.body["items"], json!([]), "{}", later.body);
    let around = app
        .get(
            &window(arrival - Duration::hours(1), arrival + Duration::hours(1)),
            &finance,
        )
        .await;
    assert_eq!(
        around.body["items"].as_array().unwrap().len(),
        3,
        "{}",
        around.body
    );
    let (paged, pages) = all_pages(&app, "/v1/billing/payouts", &finance, 2).await;
    assert_eq!((paged.len(), pages), (3, 2));
    let ids: BTreeSet<&str> = paged.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3);

    // Bad input is a 400 and a learner reads nothing.
    let bad = app.get("/v1/billing/payouts?status=lost", &finance).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    app.get(
        &window(arrival + Duration::hours(1), arrival - Duration::hours(1)),
        &finance,
    )
    .await
    .assert_problem(422, "validation_failed");
    app.get("/v1/billing/payouts", &learner)
        .await
        .assert_problem(403, "insufficient_scope");
}

fn urlencoding(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}
