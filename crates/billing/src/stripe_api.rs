//! The Stripe client: async-stripe's HTTP client (authentication, the `Stripe-Account`
//! header of Connect, idempotency keys, retries), with requests built from billing's own
//! parameters and answers read into structs of only the fields billing keeps (a field
//! Stripe adds or an emulator omits changes nothing here).
//!
//! What is sent is billing data only (T3): amounts, currencies, the course's title as the
//! product name, the buyer's email and name on their customer, and ids (tenant, payment,
//! course, person) in metadata. Never a learning record. Outbound calls go over HTTPS
//! (T6): [`StripeSettings::check`] refuses any other base URL except a loopback host, which
//! only tests and local emulators use.

use crate::error::BillingError;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::time::Duration;
use stripe_client_core::{IdempotencyKey, RequestBuilder, RequestStrategy, StripeMethod};

/// Where the platform's Stripe account is and how to reach it.
#[derive(Clone)]
pub struct StripeSettings {
    /// The platform's secret key (`sk_live_…`, `sk_test_…` or a restricted `rk_…`).
    pub api_key: String,
    /// `https://api.stripe.com/` in production.
    pub api_base: String,
    /// Every endpoint secret (`whsec_…`) a webhook may be signed with: two during a rotation.
    pub webhook_secrets: Vec<String>,
    /// Per HTTP attempt.
    pub timeout: Duration,
}

impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSettings")
            .field("api_base", &self.api_base)
            .field("webhook_secrets", &self.webhook_secrets.len())
            .finish_non_exhaustive()
    }
}

impl StripeSettings {
    /// Refuses a base URL that is not HTTPS, unless its host is a loopback address (a local
    /// emulator: nothing leaves the machine).
    pub fn check(&self) -> Result<(), String> {
        let url = url::Url::parse(&self.api_base)
            .map_err(|e| format!("stripe_api_base {}: {e}", self.api_base))?;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        if url.scheme() != "https" && !loopback {
            return Err(format!(
                "stripe_api_base must be an https:// URL (only a loopback host may use http): {}",
                self.api_base
            ));
        }
        if !self.api_base.ends_with('/') {
            return Err("stripe_api_base must end with /".into());
        }
        if self.api_key.trim().is_empty() {
            return Err("stripe_api_key is empty".into());
        }
        Ok(())
    }
}

#[derive(Clone)]
pub struct StripeApi {
    client: stripe::Client,
    timeout: Duration,
}

/// A list answer.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct List<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct PaymentIntent {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub customer: Option<String>,
    /// An id, or the charge itself (some emulators expand it).
    pub latest_charge: Option<serde_json::Value>,
    pub payment_method: Option<serde_json::Value>,
    pub metadata: BTreeMap<String, String>,
    /// For Stripe's payment element on the buyer's device: a credential, never stored.
    pub client_secret: Option<hub_kernel::Secret>,
    pub created: i64,
}

impl PaymentIntent {
    pub fn latest_charge_id(&self) -> Option<String> {
        id_of(self.latest_charge.as_ref())
    }
    pub fn payment_method_id(&self) -> Option<String> {
        id_of(self.payment_method.as_ref())
    }
}

/// An expandable field: its id, whether Stripe sent the id or the object.
fn id_of(value: Option<&serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::String(id) => Some(id.clone()),
        serde_json::Value::Object(object) => object
            .get("id")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        _ => None,
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Card {
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: Option<i32>,
    pub exp_year: Option<i32>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct PaymentMethodDetails {
    pub card: Option<Card>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    pub amount_refunded: i64,
    pub currency: String,
    pub status: String,
    pub payment_intent: Option<String>,
    pub payment_method: Option<String>,
    pub payment_method_details: Option<PaymentMethodDetails>,
    pub created: i64,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct PaymentMethod {
    pub id: String,
    pub card: Option<Card>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub charge: Option<String>,
    pub payment_intent: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub created: i64,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct EvidenceDetails {
    pub due_by: Option<i64>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Dispute {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub reason: String,
    pub charge: Option<serde_json::Value>,
    pub payment_intent: Option<serde_json::Value>,
    pub evidence_details: Option<EvidenceDetails>,
    pub created: i64,
}

impl Dispute {
    pub fn charge_id(&self) -> Option<String> {
        id_of(self.charge.as_ref())
    }
    pub fn payment_intent_id(&self) -> Option<String> {
        id_of(self.payment_intent.as_ref())
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Customer {
    pub id: String,
    pub deleted: bool,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct BalanceTransaction {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub source: Option<serde_json::Value>,
    pub created: i64,
}

impl BalanceTransaction {
    pub fn source_id(&self) -> Option<String> {
        id_of(self.source.as_ref())
    }
}

/// What a Stripe call came to.
#[derive(Debug)]
pub enum StripeFailure {
    /// Stripe answered with a client error (4xx): its status and message.
    Refused { status: u16, message: String },
    /// Not reached, timed out, a server error, or an answer that is not JSON.
    Unavailable(String),
}

impl StripeFailure {
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Refused { status: 404, .. })
    }
}

impl From<StripeFailure> for BillingError {
    fn from(failure: StripeFailure) -> Self {
        match failure {
            StripeFailure::Refused { message, .. } => BillingError::StripeRefused(message),
            StripeFailure::Unavailable(message) => BillingError::StripeUnavailable(message),
        }
    }
}

impl std::fmt::Display for StripeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused { status, message } => write!(f, "Stripe answered {status}: {message}"),
            Self::Unavailable(message) => write!(f, "Stripe unavailable: {message}"),
        }
    }
}

/// The connected account a request acts on (`None`: the platform's own account).
pub type OnAccount<'a> = Option<&'a str>;

impl StripeApi {
    pub fn new(settings: &StripeSettings) -> Result<Self, String> {
        settings.check()?;
        let client = stripe::ClientBuilder::new(settings.api_key.clone())
            .url(settings.api_base.clone())
            .timeout(settings.timeout)
            .build()
            .map_err(|e| format!("Stripe client: {e}"))?;
        Ok(Self {
            client,
            timeout: settings.timeout,
        })
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        account: OnAccount<'_>,
        strategy: RequestStrategy,
    ) -> Result<T, StripeFailure> {
        let mut request = request
            .customize::<miniserde::json::Value>()
            .request_strategy(strategy)
            .timeout(self.timeout);
        if let Some(account) = account {
            request = request.account_id(stripe::AccountId::from(account));
        }
        let value = request.send(&self.client).await.map_err(|e| match e {
            stripe::StripeError::Stripe(errors, status) if (400..500).contains(&status) => {
                StripeFailure::Refused {
                    status,
                    message: errors.message.clone().unwrap_or_else(|| "refused".into()),
                }
            }
            other => StripeFailure::Unavailable(other.to_string()),
        })?;
        serde_json::from_str(&miniserde::json::to_string(&value))
            .map_err(|e| StripeFailure::Unavailable(format!("unexpected answer: {e}")))
    }

    fn idempotent(key: &str) -> Result<RequestStrategy, StripeFailure> {
        IdempotencyKey::new(key)
            .map(RequestStrategy::Idempotent)
            .map_err(|e| StripeFailure::Unavailable(e.to_string()))
    }

    /// Reads are retried on Stripe's transient statuses (twice, with backoff).
    fn read() -> RequestStrategy {
        RequestStrategy::ExponentialBackoff(3)
    }

    pub async fn create_customer(
        &self,
        account: OnAccount<'_>,
        params: &CustomerParams,
        idempotency_key: &str,
    ) -> Result<Customer, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Post, "/customers").form(params);
        self.send(request, account, Self::idempotent(idempotency_key)?)
            .await
    }

    /// Deletes a customer (Stripe removes their details; payments stay, unlinked).
    pub async fn delete_customer(
        &self,
        account: OnAccount<'_>,
        customer: &str,
    ) -> Result<Customer, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Delete, format!("/customers/{customer}"));
        self.send(request, account, Self::read()).await
    }

    pub async fn create_payment_intent(
        &self,
        account: OnAccount<'_>,
        params: &PaymentIntentParams,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Post, "/payment_intents").form(params);
        self.send(request, account, Self::idempotent(idempotency_key)?)
            .await
    }

    pub async fn payment_intent(
        &self,
        account: OnAccount<'_>,
        id: &str,
    ) -> Result<PaymentIntent, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Get, format!("/payment_intents/{id}"));
        self.send(request, account, Self::read()).await
    }

    pub async fn charge(&self, account: OnAccount<'_>, id: &str) -> Result<Charge, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Get, format!("/charges/{id}"));
        self.send(request, account, Self::read()).await
    }

    pub async fn payment_method(
        &self,
        account: OnAccount<'_>,
        id: &str,
    ) -> Result<PaymentMethod, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Get, format!("/payment_methods/{id}"));
        self.send(request, account, Self::read()).await
    }

    pub async fn create_refund(
        &self,
        account: OnAccount<'_>,
        params: &RefundParams,
        idempotency_key: &str,
    ) -> Result<Refund, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Post, "/refunds").form(params);
        self.send(request, account, Self::idempotent(idempotency_key)?)
            .await
    }

    pub async fn refund(&self, account: OnAccount<'_>, id: &str) -> Result<Refund, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Get, format!("/refunds/{id}"));
        self.send(request, account, Self::read()).await
    }

    pub async fn dispute(
        &self,
        account: OnAccount<'_>,
        id: &str,
    ) -> Result<Dispute, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Get, format!("/disputes/{id}"));
        self.send(request, account, Self::read()).await
    }

    /// One page of balance transactions created at or after `since` (unix seconds).
    pub async fn balance_transactions(
        &self,
        account: OnAccount<'_>,
        since: i64,
        starting_after: Option<&str>,
    ) -> Result<List<BalanceTransaction>, StripeFailure> {
        let mut query: BTreeMap<&str, String> = BTreeMap::new();
        query.insert("limit", "100".into());
        query.insert("created[gte]", since.to_string());
        if let Some(after) = starting_after {
            query.insert("starting_after", after.to_string());
        }
        let request = RequestBuilder::new(StripeMethod::Get, "/balance_transactions").query(&query);
        self.send(request, account, Self::read()).await
    }

    /// One payout of the account to its bank.
    pub async fn payout(&self, account: OnAccount<'_>, id: &str) -> Result<Payout, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Get, format!("/payouts/{id}"));
        self.send(request, account, Self::read()).await
    }
}

/// A buyer's customer: their email and name only (what a receipt is addressed to).
#[derive(Debug, serde::Serialize)]
pub struct CustomerParams {
    pub email: String,
    pub name: String,
    pub metadata: BTreeMap<&'static str, String>,
}

#[derive(Debug, serde::Serialize)]
pub struct PaymentIntentParams {
    pub amount: i64,
    pub currency: String,
    pub customer: String,
    pub description: String,
    pub metadata: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<bool>,
}

#[derive(Debug, serde::Serialize)]
pub struct RefundParams {
    pub payment_intent: String,
    pub amount: i64,
    pub metadata: BTreeMap<&'static str, String>,
}

/// A payout as billing reads it (the destination bank account is not read).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Payout {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    /// `pending`, `in_transit`, `paid`, `failed` or `canceled`.
    pub status: String,
    /// Unix seconds: when the money is expected in (or reached) the bank.
    pub arrival_date: i64,
    pub automatic: bool,
    pub failure_code: Option<String>,
    pub created: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(base: &str) -> StripeSettings {
        StripeSettings {
            api_key: "sk_test_x".into(),
            api_base: base.into(),
            webhook_secrets: vec![],
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn promise_t6_outbound_stripe_calls_are_https_except_to_loopback() {
        assert!(settings("https://api.stripe.com/").check().is_ok());
        assert!(settings("http://127.0.0.1:12111/").check().is_ok());
        assert!(settings("http://localhost:12111/").check().is_ok());
        assert!(settings("http://[::1]:12111/").check().is_ok());
        assert!(settings("http://api.stripe.com/").check().is_err());
        assert!(settings("http://10.0.0.5/").check().is_err());
        assert!(settings("ftp://api.stripe.com/").check().is_err());
        assert!(settings("https://api.stripe.com").check().is_err());
    }

    #[test]
    fn metadata_is_form_encoded_as_stripe_reads_it() {
        let params = PaymentIntentParams {
            amount: 4900,
            currency: "eur".into(),
            customer: "cus_1".into(),
            description: "Course".into(),
            metadata: BTreeMap::from([("hub_payment", "p1".to_string())]),
            payment_method: None,
            confirm: None,
        };
        let body = RequestBuilder::new(StripeMethod::Post, "/x")
            .form(&params)
            .body;
        assert_eq!(
            body.as_deref(),
            Some(
                "amount=4900&currency=eur&customer=cus_1&description=Course&metadata[hub_payment]=p1"
            )
        );
    }
}
