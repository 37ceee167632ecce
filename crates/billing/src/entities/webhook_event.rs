use sea_orm::entity::prelude::*;

/// Control plane: one Stripe event received (the webhook inbox); no payload.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_webhook_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: String,
    pub event_type: String,
    pub stripe_account: Option<String>,
    pub object_type: String,
    pub object_id: String,
    pub metadata_tenant: Option<String>,
    pub livemode: bool,
    pub stripe_created: i64,
    pub received_at: DateTimeUtc,
    pub tenant_id: Option<Uuid>,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub lease_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub finished_at: Option<DateTimeUtc>,
    /// The object's customer (or the customer itself): routes the platform's own invoices.
    pub stripe_customer: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
