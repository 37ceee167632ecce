//! A learner buys a course: billing checks the course is for sale and that the learner may
//! take it now (the learning crate answers, [`hub_tenant::course_sales`]: not enrolled or
//! restricted, every prerequisite completed, a seat free; nothing reaches Stripe
//! otherwise), finds or creates the learner's Stripe customer on the institution's
//! connected account (email and name only), and creates a PaymentIntent there for the
//! course's price. The answer carries the PaymentIntent's `client_secret`, for Stripe's
//! own payment element on the learner's device; a client that already holds a
//! PaymentMethod from that element (`pm_…`) may send it and have the PaymentIntent
//! confirmed at once. Either way the payment is only
//! `requires_payment` or `processing` here: the learner is enrolled when a signed webhook
//! says Stripe took the money ([`crate::sync`]).
//!
//! The unit of work is held across the Stripe calls, so the customer, the payment and the
//! idempotency record commit together or not at all; Stripe's own idempotency keys (derived
//! from the institution and the client's key, or the new payment's id) make a retried call
//! create nothing twice at Stripe either.

use crate::entities::{customer, payment};
use crate::error::BillingError;
use crate::prices::price_of;
use crate::stripe_api::{CustomerParams, PaymentIntentParams};
use crate::sync::payment_status;
use crate::{Billing, history::Payment};
use chrono::Utc;
use hub_kernel::FieldViolation;
use hub_tenant::TenantScope;
use hub_tenant::course_sales::SaleRefusal;
use hub_tenant::idempotency::{self, IdempotencyKey};
use hub_tenant::personal_data::emails_of;
use sea_orm::ActiveValue::Set;
use sea_orm::EntityTrait;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use uuid::Uuid;

/// What a purchase asks.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PurchaseRequest {
    pub course_id: Uuid,
    /// A PaymentMethod id from Stripe's element on the learner's device (`pm_…`): confirm
    /// at once. Never card data.
    pub payment_method: Option<String>,
}

/// A started purchase.
#[derive(Debug, Clone)]
pub struct Purchase {
    pub payment: Payment,
    /// For Stripe's payment element on the learner's device (never stored here).
    pub client_secret: Option<hub_kernel::Secret>,
    /// The connected account the element must be initialised for.
    pub stripe_account: String,
    /// `false` when an earlier request with the same Idempotency-Key made it.
    pub created: bool,
}

pub const OPERATION: &str = "billing.purchase";

fn check_payment_method(id: &str) -> Result<(), BillingError> {
    let ok = id.strip_prefix("pm_").is_some_and(|rest| {
        (1..=64).contains(&rest.len())
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if ok {
        Ok(())
    } else {
        Err(BillingError::Invalid(vec![FieldViolation::new(
            "payment_method",
            "must be a Stripe PaymentMethod id: pm_ and 1–64 letters, digits or _",
        )]))
    }
}

/// A Stripe idempotency key for `what`, from the institution and the client's key: a retry
/// after a lost answer asks Stripe again with the same key and gets the same object.
pub(crate) fn stripe_key(scope: &TenantScope, what: &str, client_key: &str) -> String {
    let digest = Sha256::digest(format!("{}:{what}:{client_key}", scope.tenant_id()));
    format!("hub-{what}-{}", hex::encode(&digest[..16]))
}

impl Billing {
    pub async fn purchase(
        &self,
        scope: &TenantScope,
        request: &PurchaseRequest,
        idempotency_key: Option<&str>,
    ) -> Result<Purchase, BillingError> {
        let person = scope
            .actor()
            .and_then(|a| a.person_id())
            .ok_or(BillingError::PersonOnly)?;
        if let Some(pm) = &request.payment_method {
            check_payment_method(pm)?;
        }
        let key = idempotency_key
            .map(|k| IdempotencyKey::new(k, OPERATION, request))
            .transpose()?;
        if let Some(key) = &key
            && let Some(id) = idempotency::replayed(scope, key).await?
        {
            let payment = crate::history::payment_row(scope, id)
                .await?
                .ok_or(BillingError::PaymentNotFound)?;
            let account = self
                .account_of(scope)
                .await?
                .ok_or(BillingError::NoConnectedAccount)?;
            let intent = self
                .stripe()?
                .payment_intent(
                    Some(&account.stripe_account),
                    &payment.stripe_payment_intent,
                )
                .await?;
            return Ok(Purchase {
                payment: crate::history::from_row(scope, payment)?,
                client_secret: intent.client_secret,
                stripe_account: account.stripe_account,
                created: false,
            });
        }
        // What the course is and whether this person may have it come first: a course hidden
        // from them is unknown whatever else is set up.
        let price = price_of(scope, request.course_id)
            .await?
            .ok_or(BillingError::CourseNotForSale)?;
        let offer = match self
            .tenancy
            .course_sales()?
            .offer(&self.tenancy, scope, person, request.course_id)
            .await?
        {
            Ok(offer) => offer,
            Err(SaleRefusal::CourseNotFound) => return Err(BillingError::CourseNotForSale),
            Err(SaleRefusal::AlreadyEnrolled) => return Err(BillingError::AlreadyEnrolled),
            Err(SaleRefusal::LearnerRestricted) => return Err(BillingError::LearnerRestricted),
            Err(SaleRefusal::PrerequisitesNotCompleted) => {
                return Err(BillingError::PrerequisitesNotCompleted);
            }
            Err(SaleRefusal::SeatsExhausted) => return Err(BillingError::SeatsExhausted),
        };
        let stripe = self.stripe()?;
        let account = self
            .account_of(scope)
            .await?
            .ok_or(BillingError::NoConnectedAccount)?;
        let on = Some(account.stripe_account.as_str());
        let payment_id = Uuid::now_v7();
        let client_key = idempotency_key
            .map(str::to_string)
            .unwrap_or_else(|| payment_id.to_string());
        let customer = self.customer_of(scope, person, on, &client_key).await?;
        let mut metadata = BTreeMap::new();
        metadata.insert("hub_tenant", scope.tenant_id().to_string());
        metadata.insert("hub_payment", payment_id.to_string());
        metadata.insert("hub_course", request.course_id.to_string());
        let intent = stripe
            .create_payment_intent(
                on,
                &PaymentIntentParams {
                    amount: price.amount,
                    currency: price.currency.clone(),
                    customer,
                    description: offer.title.clone(),
                    metadata,
                    payment_method: request.payment_method.clone(),
                    confirm: request.payment_method.as_ref().map(|_| true),
                },
                &stripe_key(scope, "pi", &client_key),
            )
            .await?;
        let now = Utc::now();
        let row = payment::ActiveModel {
            id: Set(payment_id),
            person_id: Set(person),
            course_id: Set(Some(request.course_id)),
            description: Set(offer.title),
            amount: Set(price.amount),
            currency: Set(price.currency),
            // Stripe's synchronous answer is recorded as it is, but a success here fulfils
            // nothing: only a webhook event does.
            status: Set(payment_status(&intent.status).to_string()),
            amount_refunded: Set(0),
            stripe_payment_intent: Set(intent.id.clone()),
            stripe_charge: Set(None),
            card_sealed: Set(None),
            enrollment_id: Set(None),
            fulfilled_at: Set(None),
            fulfilment: Set(crate::history::FULFILMENT_PENDING.into()),
            fulfilment_reason: Set(None),
            pseudonymised_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        payment::Entity::insert(row)
            .exec_without_returning(scope.db())
            .await?;
        if let Some(key) = &key {
            idempotency::remember(scope, key, payment_id).await?;
        }
        hub_tenant::audit::record(
            scope,
            hub_tenant::audit::AuditEvent::new("billing.purchase_started")
                .subject(format!("payment:{payment_id}"))
                .detail(serde_json::json!({"course_id": request.course_id})),
        )
        .await?;
        let payment = crate::history::payment_row(scope, payment_id)
            .await?
            .ok_or(BillingError::PaymentNotFound)?;
        Ok(Purchase {
            payment: crate::history::from_row(scope, payment)?,
            client_secret: intent.client_secret,
            stripe_account: account.stripe_account,
            created: true,
        })
    }

    /// The person's Stripe customer on the account: the one made before, or a new one with
    /// their email and name (what Stripe's receipt is addressed to; nothing else of them).
    async fn customer_of(
        &self,
        scope: &TenantScope,
        person: Uuid,
        on: Option<&str>,
        client_key: &str,
    ) -> Result<String, BillingError> {
        if let Some(row) = customer::Entity::find_by_id(person).one(scope.db()).await? {
            return scope
                .keys()
                .open_str(
                    crate::personal_data::CUSTOMERS,
                    "stripe_customer",
                    person,
                    &row.stripe_customer_sealed,
                )
                .map_err(|e| BillingError::Sealing(e.to_string()));
        }
        let record = self
            .tenancy
            .person(scope, person)
            .await?
            .ok_or(BillingError::PersonOnly)?;
        let email = emails_of(&record.subject)
            .first()
            .map(|e| e.expose().clone())
            .unwrap_or_default();
        let mut metadata = BTreeMap::new();
        metadata.insert("hub_tenant", scope.tenant_id().to_string());
        metadata.insert("hub_person", person.to_string());
        let created = self
            .stripe()?
            .create_customer(
                on,
                &CustomerParams {
                    email,
                    name: record.display_name.expose().clone(),
                    metadata,
                },
                &stripe_key(scope, "cus", client_key),
            )
            .await?;
        customer::Entity::insert(customer::ActiveModel {
            person_id: Set(person),
            stripe_customer_sealed: Set(scope.keys().seal_str(
                crate::personal_data::CUSTOMERS,
                "stripe_customer",
                person,
                &created.id,
            )),
            created_at: Set(Utc::now()),
        })
        .exec_without_returning(scope.db())
        .await?;
        Ok(created.id)
    }
}
