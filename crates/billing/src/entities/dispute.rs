use sea_orm::entity::prelude::*;

/// A card holder's dispute of a payment, with the deadline for evidence.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_disputes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub stripe_dispute: String,
    pub payment_id: Option<Uuid>,
    pub stripe_charge: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub reason: String,
    pub evidence_due_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
