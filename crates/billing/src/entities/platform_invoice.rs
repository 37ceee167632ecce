use sea_orm::entity::prelude::*;

/// Control plane: one of the platform's invoices to an institution, as Stripe last said.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_platform_invoices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub stripe_invoice: String,
    pub tenant_id: Uuid,
    pub stripe_subscription: Option<String>,
    pub number: Option<String>,
    pub status: String,
    pub currency: String,
    pub total: i64,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub amount_remaining: i64,
    pub seats: Option<i32>,
    pub period_start: Option<DateTimeUtc>,
    pub period_end: Option<DateTimeUtc>,
    pub paid_at: Option<DateTimeUtc>,
    pub stripe_payment_intent: Option<String>,
    pub stripe_created: i64,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
