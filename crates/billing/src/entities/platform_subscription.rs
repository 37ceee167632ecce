use sea_orm::entity::prelude::*;

/// Control plane: an institution's subscription to the platform (one row per institution,
/// created with its customer on the platform's Stripe account).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub stripe_customer: String,
    pub stripe_subscription: Option<String>,
    pub stripe_item: Option<String>,
    pub plan_code: Option<String>,
    pub stripe_price: Option<String>,
    pub status: String,
    pub seats_committed: i32,
    pub seats_used: i32,
    pub seats_billed: i32,
    pub current_period_start: Option<DateTimeUtc>,
    pub current_period_end: Option<DateTimeUtc>,
    pub cancel_at_period_end: bool,
    pub usage_measured_at: Option<DateTimeUtc>,
    pub next_usage_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
