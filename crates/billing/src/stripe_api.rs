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
#[derive(Debug, Deserialize, Default, Clone)]
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

/// The platform's own billing of institutions (their subscriptions on the platform's own
/// account: `account` is always `None` here).
impl StripeApi {
    pub async fn price(&self, id: &str) -> Result<Price, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Get, format!("/prices/{id}"));
        self.send(request, None, Self::read()).await
    }

    pub async fn product(&self, id: &str) -> Result<Product, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Get, format!("/products/{id}"));
        self.send(request, None, Self::read()).await
    }

    pub async fn create_institution_customer(
        &self,
        params: &InstitutionCustomerParams,
        idempotency_key: &str,
    ) -> Result<Customer, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Post, "/customers").form(params);
        self.send(request, None, Self::idempotent(idempotency_key)?)
            .await
    }

    /// Attaches a PaymentMethod from Stripe's element to the customer and makes it the one
    /// its invoices are paid with.
    pub async fn set_invoice_payment_method(
        &self,
        customer: &str,
        payment_method: &str,
    ) -> Result<(), StripeFailure> {
        let attach = RequestBuilder::new(
            StripeMethod::Post,
            format!("/payment_methods/{payment_method}/attach"),
        )
        .form(&BTreeMap::from([("customer", customer)]));
        self.send::<PaymentMethod>(attach, None, Self::read())
            .await?;
        let default = RequestBuilder::new(StripeMethod::Post, format!("/customers/{customer}"))
            .form(&BTreeMap::from([(
                "invoice_settings",
                BTreeMap::from([("default_payment_method", payment_method)]),
            )]));
        self.send::<Customer>(default, None, Self::read()).await?;
        Ok(())
    }

    pub async fn create_subscription(
        &self,
        params: &SubscriptionParams,
        idempotency_key: &str,
    ) -> Result<Subscription, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Post, "/subscriptions").form(params);
        self.send(request, None, Self::idempotent(idempotency_key)?)
            .await
    }

    /// Sets the plan, quantity or cancellation of a subscription: the same request twice
    /// leaves the same subscription, so a retry needs no key of its own.
    pub async fn update_subscription(
        &self,
        id: &str,
        params: &SubscriptionUpdateParams,
    ) -> Result<Subscription, StripeFailure> {
        let request =
            RequestBuilder::new(StripeMethod::Post, format!("/subscriptions/{id}")).form(params);
        self.send(request, None, Self::read()).await
    }

    pub async fn subscription(&self, id: &str) -> Result<Subscription, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Get, format!("/subscriptions/{id}"));
        self.send(request, None, Self::read()).await
    }

    pub async fn invoice(&self, id: &str) -> Result<Invoice, StripeFailure> {
        let request = RequestBuilder::new(StripeMethod::Get, format!("/invoices/{id}"));
        self.send(request, None, Self::read()).await
    }
}

/// A recurring price of the platform's (a plan: per seat and interval).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Price {
    pub id: String,
    pub active: Option<bool>,
    pub currency: String,
    pub unit_amount: Option<i64>,
    pub nickname: Option<String>,
    pub product: Option<serde_json::Value>,
    pub recurring: Option<Recurring>,
}

impl Price {
    pub fn product_id(&self) -> Option<String> {
        id_of(self.product.as_ref())
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Recurring {
    pub interval: String,
    pub interval_count: Option<i64>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Product {
    pub id: String,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Subscription {
    pub id: String,
    pub customer: Option<serde_json::Value>,
    pub status: String,
    pub items: List<SubscriptionItem>,
    /// Where Stripe's API before 2025-03-31 puts the period (newer ones: on each item).
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: Option<bool>,
    pub metadata: BTreeMap<String, String>,
}

impl Subscription {
    pub fn customer_id(&self) -> Option<String> {
        id_of(self.customer.as_ref())
    }
    /// The one item (a plan is one price per seat).
    pub fn item(&self) -> Option<&SubscriptionItem> {
        self.items.data.first()
    }
    pub fn period(&self) -> (Option<i64>, Option<i64>) {
        let item = self.item();
        (
            self.current_period_start
                .or_else(|| item.and_then(|i| i.current_period_start)),
            self.current_period_end
                .or_else(|| item.and_then(|i| i.current_period_end)),
        )
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct SubscriptionItem {
    pub id: String,
    pub quantity: Option<i64>,
    pub price: Option<serde_json::Value>,
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
}

impl SubscriptionItem {
    pub fn price_id(&self) -> Option<String> {
        id_of(self.price.as_ref())
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Invoice {
    pub id: String,
    pub customer: Option<serde_json::Value>,
    pub subscription: Option<serde_json::Value>,
    pub parent: Option<InvoiceParent>,
    pub number: Option<String>,
    pub status: Option<String>,
    pub currency: String,
    pub total: Option<i64>,
    pub amount_due: Option<i64>,
    pub amount_paid: Option<i64>,
    pub amount_remaining: Option<i64>,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub status_transitions: Option<StatusTransitions>,
    pub payment_intent: Option<serde_json::Value>,
    pub lines: List<InvoiceLine>,
    pub created: i64,
}

impl Invoice {
    pub fn customer_id(&self) -> Option<String> {
        id_of(self.customer.as_ref())
    }
    /// Its subscription: a field of its own before API 2025-03-31, under `parent` after.
    pub fn subscription_id(&self) -> Option<String> {
        id_of(self.subscription.as_ref()).or_else(|| {
            self.parent
                .as_ref()
                .and_then(|p| p.subscription_details.as_ref())
                .and_then(|d| id_of(d.subscription.as_ref()))
        })
    }
    pub fn payment_intent_id(&self) -> Option<String> {
        id_of(self.payment_intent.as_ref())
    }
    /// The seats billed: the largest quantity of its lines (a proration line counts the
    /// seats added).
    pub fn seats(&self) -> Option<i64> {
        self.lines.data.iter().filter_map(|l| l.quantity).max()
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct InvoiceParent {
    pub subscription_details: Option<SubscriptionDetails>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct SubscriptionDetails {
    pub subscription: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct StatusTransitions {
    pub paid_at: Option<i64>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct InvoiceLine {
    pub quantity: Option<i64>,
}

/// An institution as the platform's customer: its name, and its id in metadata.
#[derive(Debug, serde::Serialize)]
pub struct InstitutionCustomerParams {
    pub name: String,
    pub metadata: BTreeMap<&'static str, String>,
}

#[derive(Debug, serde::Serialize)]
pub struct SubscriptionParams {
    pub customer: String,
    pub items: Vec<SubscriptionItemParams>,
    pub metadata: BTreeMap<&'static str, String>,
    /// The first invoice is attempted at once; a failed payment leaves the subscription
    /// `incomplete` rather than refusing it.
    pub payment_behavior: &'static str,
}

#[derive(Debug, serde::Serialize)]
pub struct SubscriptionItemParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub price: String,
    pub quantity: i64,
}

#[derive(Debug, serde::Serialize)]
pub struct SubscriptionUpdateParams {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<SubscriptionItemParams>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proration_behavior: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_at_period_end: Option<bool>,
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
    fn subscription_items_are_form_encoded_as_stripe_reads_them() {
        let params = SubscriptionParams {
            customer: "cus_1".into(),
            items: vec![SubscriptionItemParams {
                id: None,
                price: "price_1".into(),
                quantity: 12,
            }],
            metadata: BTreeMap::from([("hub_tenant", "t1".to_string())]),
            payment_behavior: "allow_incomplete",
        };
        let body = RequestBuilder::new(StripeMethod::Post, "/x")
            .form(&params)
            .body;
        assert_eq!(
            body.as_deref(),
            Some(
                "customer=cus_1&items[0][price]=price_1&items[0][quantity]=12&metadata[hub_tenant]=t1&payment_behavior=allow_incomplete"
            )
        );
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
