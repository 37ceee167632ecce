use sea_orm::entity::prelude::*;

/// A learner's payment for a course: a Stripe PaymentIntent as Stripe last reported it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_payments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub person_id: Uuid,
    pub course_id: Option<Uuid>,
    pub description: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub amount_refunded: i64,
    pub stripe_payment_intent: String,
    pub stripe_charge: Option<String>,
    pub card_sealed: Option<Vec<u8>>,
    pub enrollment_id: Option<Uuid>,
    pub fulfilled_at: Option<DateTimeUtc>,
    /// `pending`, `enrolled`, `refused` or `withdrawn` ([`crate::history::FULFILMENTS`]).
    pub fulfilment: String,
    /// Why a payment was `refused` or its enrollment `withdrawn` (or kept): a stable code.
    pub fulfilment_reason: Option<String>,
    pub pseudonymised_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
