//! A local Stripe for the billing tests: localstripe (PyPI, pinned in
//! scripts/requirements-test.txt, installed into .venv by scripts/test-tools.sh), a stateful
//! emulator of customers, PaymentIntents, charges, refunds, invoices, subscriptions and
//! events that delivers signed webhooks, behind the project's own front
//! (tests/stripe/stripe_front.py), which adds what localstripe lacks: Idempotency-Key replay,
//! `Stripe-Account` (Connect) scoping, disputes, Checkout Sessions, the fields Stripe always
//! sends (so a typed client such as async-stripe reads every answer and webhook) and a log
//! of every request. Both run per test (the front on loopback) and die with `StripeFake`.
//!
//! Also here: `stripe_signature` (the `Stripe-Signature` header exactly as Stripe computes
//! it, for webhooks a test sends itself) and `fixture` (Stripe's own example objects,
//! tests/stripe/fixtures/stripe-objects.json).

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The secret key the tests use; localstripe accepts any `sk_…` key.
const API_KEY: &str = "sk_test_hub_localstripe";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub struct StripeFake {
    localstripe: Child,
    front: Child,
    localstripe_url: String,
    base_url: String,
    client: reqwest::Client,
}

impl Drop for StripeFake {
    fn drop(&mut self) {
        for child in [&mut self.front, &mut self.localstripe] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl StripeFake {
    /// Installs the test tools if needed, starts localstripe on a free port and the front
    /// before it, and returns once both answer.
    pub async fn start() -> Self {
        let status = tokio::task::spawn_blocking(|| {
            Command::new("bash")
                .arg("scripts/test-tools.sh")
                .current_dir(root())
                .status()
                .expect("bash runs scripts/test-tools.sh")
        })
        .await
        .unwrap();
        assert!(status.success(), "scripts/test-tools.sh failed");
        // reqwest's rustls needs the process-wide provider (the same one the app installs).
        hub_identity::oidc::install_tls_provider();
        let client = reqwest::Client::new();
        let (localstripe, localstripe_url) = start_localstripe(&client).await;
        let (front, base_url) = start_front(&localstripe_url);
        Self {
            localstripe,
            front,
            localstripe_url,
            base_url,
            client,
        }
    }

    /// The Stripe API base URL for the client under test (the front), no trailing slash.
    /// async-stripe's `ClientBuilder::url` joins `{url}v1/…`, so give it `base_url() + "/"`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// localstripe itself, bypassing the front (no idempotency, no request log).
    pub fn localstripe_url(&self) -> &str {
        &self.localstripe_url
    }

    /// A secret key both accept (`sk_test_…`).
    pub fn api_key(&self) -> &str {
        API_KEY
    }

    /// Registers a webhook endpoint for every event type: about a second after each event,
    /// localstripe delivers it once (to the front, which completes its object as it
    /// completes every answer, adds `account` for a connected account's object, and delivers
    /// it to `url` signed with `secret` (`whsec_…`) at the time of sending).
    pub async fn register_webhook(&self, url: &str, secret: &str) {
        self.register_webhook_for(url, secret, &[]).await;
    }

    /// As `register_webhook`, for the given event types only (none: all of them).
    pub async fn register_webhook_for(&self, url: &str, secret: &str, events: &[&str]) {
        self.control_post(
            "/_fake/webhooks",
            &json!({ "url": url, "secret": secret, "events": events }),
            None,
        )
        .await;
    }

    /// Every Stripe request the front received since the start or the last `reset`, in
    /// order: `{"method", "path", "query", "headers": {"Stripe-Account", "Idempotency-Key",
    /// "Stripe-Version"}, "api_key", "form"}`; `query` and `form` map each key as sent
    /// (`metadata[tenant]`) to its value (a list when the key repeats).
    pub async fn requests(&self) -> Vec<Value> {
        self.control_get("/_fake/requests")
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    /// Clears the request log (objects, Connect owners and idempotency keys stay).
    pub async fn reset(&self) {
        self.control_post("/_fake/reset", &json!({}), None).await;
    }

    /// Creates a dispute: Stripe's example dispute with `fields` deep-merged onto it (`id`,
    /// `charge`, `amount`, `currency`, `status`, `reason`, `payment_intent`, `metadata`,
    /// `evidence_details.due_by`, …). A fresh `dp_…` id and `created` = now unless given.
    /// Returns the dispute as `GET /v1/disputes/{id}` shows it.
    pub async fn create_dispute(&self, fields: Value) -> Value {
        self.control_post("/_fake/disputes", &fields, None).await
    }

    /// As `create_dispute`, on a connected account's charge (`Stripe-Account: account`).
    pub async fn create_dispute_on(&self, account: &str, fields: Value) -> Value {
        self.control_post("/_fake/disputes", &fields, Some(account))
            .await
    }

    /// The buyer pays an open `mode=payment` Checkout Session: a PaymentIntent for its
    /// amount, currency, customer and metadata (or `payment_intent_data[metadata]`) is
    /// confirmed in localstripe with `pm_card_visa` (so `payment_intent.succeeded` follows
    /// by webhook); the session becomes `complete`/`paid` with that `payment_intent`.
    /// localstripe has no `checkout.session.completed` event: build one with
    /// `fixture("event")` and `stripe_signature` if the code under test needs it.
    pub async fn complete_checkout_session(&self, id: &str) -> Value {
        let response = self
            .client
            .post(format!(
                "{}/_fake/checkout/sessions/{id}/complete",
                self.base_url
            ))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "completing {id} failed: {body}");
        body
    }

    /// Object id → the `Stripe-Account` it was created under (platform objects absent).
    pub async fn accounts(&self) -> Value {
        self.control_get("/_fake/accounts").await
    }

    async fn control_get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.base_url))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "GET {path}");
        response.json().await.unwrap()
    }

    async fn control_post(&self, path: &str, body: &Value, account: Option<&str>) -> Value {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base_url))
            .json(body);
        if let Some(account) = account {
            request = request.header("Stripe-Account", account);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "POST {path}: {body}");
        body
    }
}

/// localstripe on a free port. It takes no port 0, so a port freed a moment ago can be taken
/// by someone else in between: then it exits and another port is tried.
async fn start_localstripe(client: &reqwest::Client) -> (Child, String) {
    let program = root().join(".venv/bin/localstripe");
    for _ in 0..5 {
        let port = crate::smtp::free_port();
        let mut child = Command::new(&program)
            .args(["--port", &port.to_string(), "--from-scratch"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("localstripe starts (bash scripts/test-tools.sh installs it)");
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..200 {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            // A Stripe list from this very process (not just any listener on the port).
            let ready = client
                .get(format!("{url}/v1/customers?limit=1"))
                .bearer_auth(API_KEY)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if let Ok(response) = ready
                && response.status().is_success()
                && child.try_wait().unwrap().is_none()
                && let Ok(list) = response.json::<Value>().await
                && list["object"] == "list"
            {
                return (child, url);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("localstripe did not start");
}

/// The front on a port it picks itself; it prints `READY <url>` once it listens and exits
/// when its stdin (held by the `Child`) closes.
fn start_front(localstripe_url: &str) -> (Child, String) {
    let mut child = Command::new(root().join(".venv/bin/python"))
        .arg(root().join("tests/stripe/stripe_front.py"))
        .arg(localstripe_url)
        .arg(root().join("tests/stripe/fixtures/stripe-objects.json"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python runs tests/stripe/stripe_front.py");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("the Stripe front did not start: {line:?}"))
        .to_string();
    (child, url)
}

/// The `Stripe-Signature` header Stripe sends with a webhook: `t=<timestamp>,v1=<hex
/// HMAC-SHA256 of "<timestamp>.<payload>" keyed with the endpoint secret>`.
pub fn stripe_signature(payload: &[u8], secret: &str, timestamp: i64) -> String {
    stripe_signature_with(payload, &[secret], timestamp)
}

/// The header while an endpoint secret is being rolled: one `v1=` per secret, in order (a
/// receiver must accept the event when any of them matches).
pub fn stripe_signature_with(payload: &[u8], secrets: &[&str], timestamp: i64) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        header.push_str(",v1=");
        header.push_str(&hex::encode(mac.finalize().into_bytes()));
    }
    header
}

/// A Stripe event of `event_type` about `object` (e.g. `charge.refunded` with a charge, or
/// `charge.dispute.created` with a dispute: the events localstripe never sends), built on
/// Stripe's example event: `id` `evt_test_<n>` (n counts per process, so ids are unique
/// and reproducible), `created` now, `data.object` = `object`, no `previous_attributes`.
pub fn event(event_type: &str, object: Value) -> Value {
    static EVENTS: AtomicU32 = AtomicU32::new(0);
    let mut event = fixture("event");
    event["id"] = json!(format!(
        "evt_test_{:06}",
        EVENTS.fetch_add(1, Ordering::Relaxed)
    ));
    event["type"] = json!(event_type);
    event["created"] = json!(chrono::Utc::now().timestamp());
    event["data"] = json!({ "object": object });
    event
}

/// Delivers `event` to a webhook endpoint as Stripe does: a JSON POST signed with
/// `secret` at the current time. Returns the endpoint's answer.
pub async fn send_webhook(url: &str, event: &Value, secret: &str) -> reqwest::Response {
    let payload = serde_json::to_vec_pretty(event).unwrap();
    let signature = stripe_signature(&payload, secret, chrono::Utc::now().timestamp());
    hub_identity::oidc::install_tls_provider();
    reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("Stripe-Signature", signature)
        .body(payload)
        .send()
        .await
        .unwrap()
}

/// Stripe's example object of a type (`"event"`, `"payment_intent"`, `"charge"`, `"refund"`,
/// `"dispute"`, `"checkout.session"`, `"customer"`, `"balance_transaction"`, `"invoice"`),
/// from tests/stripe/fixtures/stripe-objects.json (see SOURCE.md there).
pub fn fixture(object: &str) -> Value {
    let path = root().join("tests/stripe/fixtures/stripe-objects.json");
    let all: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let example = all["resources"][object].clone();
    assert!(
        !example.is_null(),
        "no example {object} in {}",
        path.display()
    );
    example
}

#[cfg(test)]
mod tests {
    //! The harness itself, without the gateway: what the billing tests rely on it for.

    use super::*;
    use poem::http::{HeaderMap, StatusCode};
    use poem::web::Data;
    use poem::{EndpointExt, Route, handler, post};
    use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

    type Delivery = (Option<String>, Vec<u8>);

    #[handler]
    async fn receive(
        headers: &HeaderMap,
        body: Vec<u8>,
        deliveries: Data<&UnboundedSender<Delivery>>,
    ) -> StatusCode {
        let signature = headers
            .get("Stripe-Signature")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        deliveries.send((signature, body)).unwrap();
        StatusCode::OK
    }

    /// A webhook receiver on loopback: its URL and what it receives.
    async fn webhook_receiver() -> (String, UnboundedReceiver<Delivery>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (tx, rx) = unbounded_channel();
        let app = Route::new().at("/hook", post(receive)).data(tx);
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
        tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        (url, rx)
    }

    /// A form POST to the fake; the status, the `Idempotent-Replayed` header and the body.
    async fn post_form(
        stripe: &StripeFake,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (u16, bool, Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", stripe.base_url()))
            .bearer_auth(stripe.api_key())
            .form(form);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let replayed = response
            .headers()
            .get("Idempotent-Replayed")
            .is_some_and(|v| v == "true");
        (status, replayed, response.json().await.unwrap())
    }

    async fn get(stripe: &StripeFake, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .get(format!("{}{path}", stripe.base_url()))
            .bearer_auth(stripe.api_key());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn paid_intent(stripe: &StripeFake, customer: &str, tenant: &str) -> Value {
        let (status, _, intent) = post_form(
            stripe,
            "/v1/payment_intents",
            &[
                ("amount", "4900"),
                ("currency", "eur"),
                ("customer", customer),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
                ("metadata[tenant]", tenant),
            ],
            &[],
        )
        .await;
        assert_eq!(status, 200, "{intent}");
        intent
    }

    async fn customer(stripe: &StripeFake, headers: &[(&str, &str)]) -> Value {
        let (status, _, customer) = post_form(
            stripe,
            "/v1/customers",
            &[
                ("email", "billing@school.test"),
                ("metadata[tenant]", "t-1"),
            ],
            headers,
        )
        .await;
        assert_eq!(status, 200, "{customer}");
        customer
    }

    #[tokio::test]
    async fn a_confirmed_payment_intent_succeeds_and_can_be_refunded_through_the_front() {
        let stripe = StripeFake::start().await;
        let customer = customer(&stripe, &[]).await;
        assert_eq!(customer["metadata"]["tenant"], "t-1");
        let intent = paid_intent(&stripe, customer["id"].as_str().unwrap(), "t-1").await;
        assert_eq!(intent["status"], "succeeded");
        assert_eq!(intent["amount"], 4900);
        assert_eq!(intent["customer"], customer["id"]);
        assert_eq!(intent["metadata"]["tenant"], "t-1");
        // Fields Stripe always sends and localstripe omits, as Stripe would set them.
        assert_eq!(intent["amount_received"], 4900);
        assert_eq!(intent["amount_capturable"], 0);
        assert_eq!(intent["payment_method_types"], json!(["card"]));
        assert_eq!(intent["canceled_at"], Value::Null);
        let charge_id = intent["latest_charge"]["id"]
            .as_str()
            .or(intent["latest_charge"].as_str())
            .unwrap()
            .to_string();

        let (status, charge) = get(&stripe, &format!("/v1/charges/{charge_id}"), &[]).await;
        assert_eq!(status, 200, "{charge}");
        assert_eq!(charge["paid"], true);
        assert_eq!(charge["payment_intent"], intent["id"]);
        assert_eq!(charge["amount_captured"], 4900);
        assert_eq!(charge["disputed"], false);

        let (status, _, refund) = post_form(
            &stripe,
            "/v1/refunds",
            &[("charge", &charge_id), ("amount", "900")],
            &[],
        )
        .await;
        assert_eq!(status, 200, "{refund}");
        assert_eq!(refund["status"], "succeeded");
        let (_, charge) = get(&stripe, &format!("/v1/charges/{charge_id}"), &[]).await;
        assert_eq!(charge["amount_refunded"], 900);

        // A card whose charge fails is declined as Stripe declines it (402, card_error).
        let (status, _, declined) = post_form(
            &stripe,
            "/v1/payment_intents",
            &[
                ("amount", "4900"),
                ("currency", "eur"),
                ("payment_method", "pm_card_chargeCustomerFail"),
                ("confirm", "true"),
            ],
            &[],
        )
        .await;
        assert_eq!(status, 402, "{declined}");
        assert_eq!(declined["error"]["type"], "card_error");
        assert_eq!(declined["error"]["code"], "card_declined");
    }

    #[tokio::test]
    async fn webhooks_arrive_signed_the_way_stripe_signs_them() {
        let stripe = StripeFake::start().await;
        let (url, mut deliveries) = webhook_receiver().await;
        let secret = "whsec_test_harness_0123456789";
        stripe.register_webhook(&url, secret).await;
        let customer = customer(&stripe, &[]).await;
        let intent = paid_intent(&stripe, customer["id"].as_str().unwrap(), "t-1").await;

        let (header, body) = succeeded(&mut deliveries).await;
        let event: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(event["object"], "event");
        assert_eq!(event["data"]["object"]["id"], intent["id"]);
        assert_eq!(event["data"]["object"]["amount_received"], 4900);
        assert!(event.get("account").is_none(), "a platform event: {event}");

        let header = header.expect("a Stripe-Signature header");
        let timestamp: i64 = header
            .split(',')
            .find_map(|p| p.strip_prefix("t="))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(stripe_signature(&body, secret, timestamp), header);
        // The signature covers the secret, the time and every byte of the payload.
        assert_ne!(stripe_signature(&body, "whsec_other", timestamp), header);
        assert_ne!(stripe_signature(&body, secret, timestamp + 1), header);
        let mut tampered = body.clone();
        tampered.push(b' ');
        assert_ne!(stripe_signature(&tampered, secret, timestamp), header);

        // While a secret is rolled, one v1 per secret, the single-secret one among them.
        let rolled = stripe_signature_with(&body, &["whsec_new", secret], timestamp);
        let v1 = header.split_once(",v1=").unwrap().1;
        assert_eq!(rolled.matches(",v1=").count(), 2);
        assert!(rolled.ends_with(&format!(",v1={v1}")), "{rolled}");
        assert!(rolled.starts_with(&format!("t={timestamp},v1=")));

        // A connected account's event names the account, as Connect webhooks do.
        let connected = [("Stripe-Account", "acct_hooks")];
        let (status, _, theirs) = post_form(
            &stripe,
            "/v1/payment_intents",
            &[
                ("amount", "1200"),
                ("currency", "eur"),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
            ],
            &connected,
        )
        .await;
        assert_eq!(status, 200, "{theirs}");
        let (_, body) = succeeded(&mut deliveries).await;
        let event: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(event["data"]["object"]["id"], theirs["id"]);
        assert_eq!(event["account"], "acct_hooks");
    }

    /// The next `payment_intent.succeeded` delivery (others, like `customer.created`, skipped).
    async fn succeeded(deliveries: &mut UnboundedReceiver<Delivery>) -> (Option<String>, Vec<u8>) {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let (header, body) = deliveries.recv().await.unwrap();
                let event: Value = serde_json::from_slice(&body).unwrap();
                if event["type"] == "payment_intent.succeeded" {
                    return (header, body);
                }
            }
        })
        .await
        .expect("payment_intent.succeeded delivered within 20 s")
    }

    #[tokio::test]
    async fn an_idempotency_key_replays_the_first_answer_and_refuses_other_parameters() {
        let stripe = StripeFake::start().await;
        let form = [("email", "a@school.test"), ("metadata[tenant]", "t-1")];
        let key = [("Idempotency-Key", "checkout-42")];
        let (status, replayed, first) = post_form(&stripe, "/v1/customers", &form, &key).await;
        assert_eq!((status, replayed), (200, false), "{first}");
        let (status, replayed, again) = post_form(&stripe, "/v1/customers", &form, &key).await;
        assert_eq!((status, replayed), (200, true));
        assert_eq!(again, first, "the very first answer again");

        let other = [("email", "b@school.test"), ("metadata[tenant]", "t-1")];
        let (status, _, refused) = post_form(&stripe, "/v1/customers", &other, &key).await;
        assert_eq!(status, 400, "{refused}");
        assert_eq!(refused["error"]["type"], "idempotency_error");
        let (status, _, refused) = post_form(&stripe, "/v1/payment_intents", &form, &key).await;
        assert_eq!(status, 400, "{refused}");
        assert_eq!(refused["error"]["type"], "idempotency_error");

        // Keys are per secret key: another key's request with it is a new request.
        let response = reqwest::Client::new()
            .post(format!("{}/v1/customers", stripe.base_url()))
            .bearer_auth("sk_test_another_platform")
            .header("Idempotency-Key", "checkout-42")
            .form(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert!(response.headers().get("Idempotent-Replayed").is_none());
        let another: Value = response.json().await.unwrap();
        assert_ne!(another["id"], first["id"]);

        // Keys are per connected account: the same key there is a new request.
        let connected = [
            ("Idempotency-Key", "checkout-42"),
            ("Stripe-Account", "acct_1"),
        ];
        let (status, replayed, theirs) =
            post_form(&stripe, "/v1/customers", &form, &connected).await;
        assert_eq!((status, replayed), (200, false), "{theirs}");
        assert_ne!(theirs["id"], first["id"]);

        // localstripe itself holds exactly the three customers; the front shows the platform
        // (one Stripe account, whichever secret key) and the connected account each its own.
        let response = reqwest::Client::new()
            .get(format!("{}/v1/customers", stripe.localstripe_url()))
            .bearer_auth(stripe.api_key())
            .send()
            .await
            .unwrap();
        let all: Value = response.json().await.unwrap();
        assert_eq!(all["data"].as_array().unwrap().len(), 3, "{all}");
        let (_, platform) = get(&stripe, "/v1/customers", &[]).await;
        let (_, account) = get(&stripe, "/v1/customers", &[("Stripe-Account", "acct_1")]).await;
        let platform_ids: Vec<&Value> = platform["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["id"])
            .collect();
        assert_eq!(platform_ids.len(), 2, "{platform}");
        assert!(platform_ids.contains(&&first["id"]) && platform_ids.contains(&&another["id"]));
        assert_eq!(account["data"].as_array().unwrap().len(), 1, "{account}");
        assert_eq!(account["data"][0]["id"], theirs["id"]);
    }

    #[tokio::test]
    async fn a_connected_accounts_objects_are_its_own() {
        let stripe = StripeFake::start().await;
        let theirs = customer(&stripe, &[("Stripe-Account", "acct_school_a")]).await;
        let id = theirs["id"].as_str().unwrap();
        let path = format!("/v1/customers/{id}");

        let (status, _) = get(&stripe, &path, &[("Stripe-Account", "acct_school_a")]).await;
        assert_eq!(status, 200);
        for headers in [vec![], vec![("Stripe-Account", "acct_school_b")]] {
            let (status, missing) = get(&stripe, &path, &headers).await;
            assert_eq!(status, 404, "{missing}");
            assert_eq!(missing["error"]["code"], "resource_missing");
        }
        let dispute = stripe
            .create_dispute_on("acct_school_a", json!({ "charge": "ch_school_a" }))
            .await;
        let dispute_id = dispute["id"].as_str().unwrap();
        let (_, platform) = get(&stripe, "/v1/disputes", &[]).await;
        assert_eq!(platform["data"], json!([]));
        let (_, own) = get(
            &stripe,
            "/v1/disputes",
            &[("Stripe-Account", "acct_school_a")],
        )
        .await;
        assert_eq!(own["data"][0]["id"], dispute_id);
        let (status, _) = get(&stripe, &format!("/v1/disputes/{dispute_id}"), &[]).await;
        assert_eq!(status, 404);

        assert_eq!(
            stripe.accounts().await,
            json!({ id: "acct_school_a", dispute_id: "acct_school_a" })
        );
    }

    #[tokio::test]
    async fn disputes_are_stripes_example_with_the_tests_fields() {
        let stripe = StripeFake::start().await;
        let first = stripe
            .create_dispute(json!({
                "id": "dp_test_first", "charge": "ch_test_1", "amount": 4900,
                "currency": "eur", "status": "needs_response", "created": 1_800_000_000,
                "evidence_details": { "due_by": 1_800_600_000 },
            }))
            .await;
        let (status, fetched) = get(&stripe, "/v1/disputes/dp_test_first", &[]).await;
        assert_eq!(status, 200);
        assert_eq!(fetched, first);
        assert_eq!(fetched["charge"], "ch_test_1");
        assert_eq!(fetched["amount"], 4900);
        assert_eq!(fetched["currency"], "eur");
        assert_eq!(fetched["status"], "needs_response");
        assert_eq!(fetched["evidence_details"]["due_by"], 1_800_600_000);
        // Everything else is Stripe's own example, nested objects merged, not replaced.
        let example = fixture("dispute");
        assert_eq!(fetched["object"], "dispute");
        assert_eq!(fetched["reason"], example["reason"]);
        assert_eq!(fetched["evidence"], example["evidence"]);
        assert_eq!(
            fetched["evidence_details"]["has_evidence"],
            example["evidence_details"]["has_evidence"]
        );

        let second = stripe
            .create_dispute(json!({ "charge": "ch_test_2", "created": 1_800_000_100 }))
            .await;
        let third = stripe
            .create_dispute(json!({ "charge": "ch_test_3", "created": 1_800_000_200 }))
            .await;
        assert!(second["id"].as_str().unwrap().starts_with("dp_"));
        assert_ne!(second["id"], third["id"]);

        let ids = |list: &Value| -> Vec<String> {
            list["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_string())
                .collect()
        };
        let (_, all) = get(&stripe, "/v1/disputes", &[]).await;
        assert_eq!(
            ids(&all),
            [
                third["id"].as_str().unwrap(),
                second["id"].as_str().unwrap(),
                "dp_test_first"
            ]
        );
        let (_, recent) = get(&stripe, "/v1/disputes?created[gte]=1800000100&limit=1", &[]).await;
        assert_eq!(ids(&recent), [third["id"].as_str().unwrap()]);
        assert_eq!(recent["has_more"], true);
        let after = format!(
            "/v1/disputes?created[gte]=1800000100&limit=1&starting_after={}",
            third["id"].as_str().unwrap()
        );
        let (_, next) = get(&stripe, &after, &[]).await;
        assert_eq!(ids(&next), [second["id"].as_str().unwrap()]);
        assert_eq!(next["has_more"], false);

        let (status, missing) = get(&stripe, "/v1/disputes/dp_nope", &[]).await;
        assert_eq!(status, 404);
        assert_eq!(missing["error"]["code"], "resource_missing");
        assert_eq!(missing["error"]["type"], "invalid_request_error");
    }

    #[tokio::test]
    async fn checkout_sessions_are_created_retrieved_and_paid() {
        let stripe = StripeFake::start().await;
        let customer = customer(&stripe, &[]).await;
        let customer_id = customer["id"].as_str().unwrap();
        let (status, _, session) = post_form(
            &stripe,
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("customer", customer_id),
                ("success_url", "https://hub.test/billing/done"),
                ("line_items[0][price_data][currency]", "eur"),
                ("line_items[0][price_data][unit_amount]", "2500"),
                ("line_items[0][price_data][product_data][name]", "Seats"),
                ("line_items[0][quantity]", "3"),
                ("metadata[tenant]", "t-1"),
            ],
            &[],
        )
        .await;
        assert_eq!(status, 200, "{session}");
        let id = session["id"].as_str().unwrap();
        assert!(id.starts_with("cs_test_"), "{id}");
        assert_eq!(session["object"], "checkout.session");
        assert_eq!(session["amount_total"], 7500);
        assert_eq!(session["currency"], "eur");
        assert_eq!(session["customer"], customer_id);
        assert_eq!(session["metadata"], json!({ "tenant": "t-1" }));
        assert_eq!(session["success_url"], "https://hub.test/billing/done");
        assert_eq!(session["mode"], "payment");
        assert_eq!(session["status"], "open");
        assert_eq!(session["payment_status"], "unpaid");
        assert!(session["url"].as_str().unwrap().ends_with(id));

        let (status, fetched) = get(&stripe, &format!("/v1/checkout/sessions/{id}"), &[]).await;
        assert_eq!(status, 200);
        assert_eq!(fetched, session);

        let (status, _, refused) = post_form(
            &stripe,
            "/v1/checkout/sessions",
            &[("success_url", "https://hub.test/x")],
            &[],
        )
        .await;
        assert_eq!(status, 400, "{refused}");
        assert_eq!(refused["error"]["param"], "mode");

        let paid = stripe.complete_checkout_session(id).await;
        assert_eq!(paid["status"], "complete");
        assert_eq!(paid["payment_status"], "paid");
        let intent_id = paid["payment_intent"].as_str().unwrap();
        let (status, intent) = get(&stripe, &format!("/v1/payment_intents/{intent_id}"), &[]).await;
        assert_eq!(status, 200, "{intent}");
        assert_eq!(intent["status"], "succeeded");
        assert_eq!(intent["amount"], 7500);
        assert_eq!(intent["customer"], customer_id);
        assert_eq!(intent["metadata"]["tenant"], "t-1");
    }

    #[tokio::test]
    async fn requests_lists_what_the_client_sent_in_order() {
        let stripe = StripeFake::start().await;
        customer(
            &stripe,
            &[("Stripe-Account", "acct_x"), ("Idempotency-Key", "k-1")],
        )
        .await;
        get(&stripe, "/v1/customers?limit=3&expand[]=data.sources", &[]).await;
        let requests = stripe.requests().await;
        assert_eq!(
            requests,
            [
                json!({
                    "method": "POST", "path": "/v1/customers", "query": {},
                    "headers": {
                        "Stripe-Account": "acct_x", "Idempotency-Key": "k-1",
                        "Stripe-Version": null,
                    },
                    "api_key": API_KEY,
                    "form": { "email": "billing@school.test", "metadata[tenant]": "t-1" },
                }),
                json!({
                    "method": "GET", "path": "/v1/customers",
                    "query": { "limit": "3", "expand[]": "data.sources" },
                    "headers": {
                        "Stripe-Account": null, "Idempotency-Key": null, "Stripe-Version": null,
                    },
                    "api_key": API_KEY,
                    "form": {},
                }),
            ]
        );
        stripe.reset().await;
        assert_eq!(stripe.requests().await, Vec::<Value>::new());
        // A request without a key is logged and refused as Stripe refuses it.
        let response = reqwest::Client::new()
            .get(format!("{}/v1/customers", stripe.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(stripe.requests().await.len(), 1);
    }

    #[tokio::test]
    async fn send_webhook_delivers_an_event_signed_like_stripes_own() {
        let (url, mut deliveries) = webhook_receiver().await;
        let refunded = event("charge.refunded", fixture("charge"));
        assert_eq!(refunded["object"], "event");
        assert_eq!(refunded["data"]["object"]["object"], "charge");
        assert_ne!(event("charge.refunded", json!({}))["id"], refunded["id"]);
        let response = send_webhook(&url, &refunded, "whsec_test_1").await;
        assert_eq!(response.status().as_u16(), 200);
        let (header, body) = deliveries.recv().await.unwrap();
        let header = header.unwrap();
        let timestamp: i64 = header[2..header.find(',').unwrap()].parse().unwrap();
        assert_eq!(stripe_signature(&body, "whsec_test_1", timestamp), header);
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), refunded);
    }

    #[test]
    fn fixtures_hold_every_object_the_billing_tests_use() {
        for object in [
            "event",
            "payment_intent",
            "charge",
            "refund",
            "dispute",
            "checkout.session",
            "customer",
            "balance_transaction",
            "invoice",
        ] {
            assert_eq!(fixture(object)["object"], object);
        }
    }
}
