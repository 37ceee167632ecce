//! Billing's one error type.

use hub_kernel::{DescribeProblem, FieldViolation, ProblemKind};
use hub_tenant::TenantError;
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldViolation>),
    #[error("the platform has no Stripe account configured: billing is switched off")]
    NotConfigured,
    #[error("the institution has not connected a Stripe account: it cannot take payments")]
    NoConnectedAccount,
    #[error("that Stripe account is connected to another institution")]
    AccountTaken,
    #[error("no such course, or it is not for sale")]
    CourseNotForSale,
    #[error("you are enrolled in this course already")]
    AlreadyEnrolled,
    #[error("processing of your learning records is restricted: no course can be bought")]
    LearnerRestricted,
    #[error("complete the course's prerequisite courses first: it cannot be bought before")]
    PrerequisitesNotCompleted,
    #[error("every seat of the course is taken: it cannot be bought now")]
    SeatsExhausted,
    #[error("this operation needs a signed-in person, not an API key")]
    PersonOnly,
    #[error("no such payment")]
    PaymentNotFound,
    #[error("the course has no price: it is not for sale")]
    PriceNotFound,
    #[error("no such refund")]
    RefundNotFound,
    #[error("the payment cannot be refunded: {0}")]
    NotRefundable(&'static str),
    #[error("a refund of {requested} is more than the {refundable} left to refund")]
    RefundTooLarge { requested: i64, refundable: i64 },
    #[error("the institution has no subscription to the platform")]
    SubscriptionNotFound,
    #[error("the institution's subscription is being changed by another request: retry")]
    SubscriptionBusy,
    #[error("the plan {0} is not on sale at Stripe (unknown, archived or not recurring)")]
    PlanUnavailable(String),
    #[error("no such webhook event")]
    EventNotFound,
    #[error("no such reconciliation run")]
    ReconciliationNotFound,
    #[error("the webhook event cannot be replayed: it is {0}")]
    NotReplayable(String),
    /// The Stripe-Signature header does not prove the body came from Stripe (400, as
    /// Stripe's libraries answer; nothing is stored).
    #[error("the Stripe-Signature header does not verify: {0}")]
    BadSignature(&'static str),
    #[error("the webhook body is not a Stripe event: {0}")]
    BadEvent(String),
    /// Stripe refused a request with a client error (its own message).
    #[error("Stripe refused the request: {0}")]
    StripeRefused(String),
    /// Stripe could not be reached or answered with a server error; the caller may retry.
    #[error("Stripe is unavailable: {0}")]
    StripeUnavailable(String),
    #[error("a sealed value cannot be opened: {0}")]
    Sealing(String),
    #[error(transparent)]
    Tenant(#[from] TenantError),
    #[error("storage error: {0}")]
    Database(#[from] DbErr),
}

impl DescribeProblem for BillingError {
    fn kind(&self) -> ProblemKind {
        match self {
            Self::Invalid(_) => ProblemKind::Validation,
            Self::NotConfigured
            | Self::NoConnectedAccount
            | Self::AccountTaken
            | Self::AlreadyEnrolled
            | Self::LearnerRestricted
            | Self::PrerequisitesNotCompleted
            | Self::SeatsExhausted
            | Self::NotRefundable(_)
            | Self::NotReplayable(_)
            | Self::SubscriptionBusy
            | Self::PlanUnavailable(_)
            | Self::StripeRefused(_) => ProblemKind::Conflict,
            Self::RefundTooLarge { .. } => ProblemKind::Validation,
            Self::CourseNotForSale
            | Self::PaymentNotFound
            | Self::PriceNotFound
            | Self::RefundNotFound
            | Self::SubscriptionNotFound
            | Self::EventNotFound
            | Self::ReconciliationNotFound => ProblemKind::NotFound,
            Self::PersonOnly => ProblemKind::Forbidden,
            Self::BadSignature(_) | Self::BadEvent(_) => ProblemKind::BadRequest,
            Self::StripeUnavailable(_) => ProblemKind::Unavailable,
            Self::Sealing(_) => ProblemKind::Internal,
            Self::Tenant(e) => e.kind(),
            Self::Database(e) if TenantError::refused_client_data(e) => ProblemKind::Validation,
            Self::Database(e) if TenantError::storage_unavailable(e) => ProblemKind::Unavailable,
            Self::Database(_) => ProblemKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::NotConfigured => "billing_not_configured",
            Self::NoConnectedAccount => "no_connected_account",
            Self::AccountTaken => "stripe_account_taken",
            Self::CourseNotForSale => "course_not_for_sale",
            Self::AlreadyEnrolled => "already_enrolled",
            Self::LearnerRestricted => "learner_restricted",
            Self::PrerequisitesNotCompleted => "prerequisites_not_completed",
            Self::SeatsExhausted => "seats_exhausted",
            Self::PersonOnly => "person_only",
            Self::PaymentNotFound => "payment_not_found",
            Self::PriceNotFound => "price_not_found",
            Self::RefundNotFound => "refund_not_found",
            Self::NotRefundable(_) => "payment_not_refundable",
            Self::RefundTooLarge { .. } => "refund_too_large",
            Self::SubscriptionNotFound => "subscription_not_found",
            Self::SubscriptionBusy => "subscription_busy",
            Self::PlanUnavailable(_) => "plan_unavailable",
            Self::EventNotFound => "webhook_event_not_found",
            Self::ReconciliationNotFound => "reconciliation_not_found",
            Self::NotReplayable(_) => "webhook_event_not_replayable",
            Self::BadSignature(_) => "stripe_signature_invalid",
            Self::BadEvent(_) => "stripe_event_invalid",
            Self::StripeRefused(_) => "stripe_refused",
            Self::StripeUnavailable(_) => "stripe_unavailable",
            Self::Sealing(_) => "internal",
            Self::Tenant(e) => e.code(),
            Self::Database(e) if TenantError::refused_client_data(e) => "value_not_storable",
            Self::Database(e) if TenantError::storage_unavailable(e) => {
                TenantError::STORAGE_UNAVAILABLE
            }
            Self::Database(_) => "internal",
        }
    }

    fn violations(&self) -> Vec<FieldViolation> {
        match self {
            Self::Invalid(v) => v.clone(),
            Self::RefundTooLarge { refundable, .. } => vec![FieldViolation::new(
                "amount",
                format!("at most {refundable} (minor units) is left to refund"),
            )],
            Self::Tenant(e) => e.violations(),
            _ => Vec::new(),
        }
    }
}
