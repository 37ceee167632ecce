use sea_orm::entity::prelude::*;

/// Per tenant: one report produced for one period (unique per report name and period).
/// Who asked for it is in the audit trail, not here: the table holds no personal data.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "report_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub report_name: String,
    pub kind: String,
    pub population: String,
    pub cadence: String,
    pub format: String,
    /// JSON array of the fields the report names (empty: every table).
    pub fields: String,
    pub period_start: DateTimeUtc,
    pub period_end: DateTimeUtc,
    /// `request` or `schedule`.
    pub trigger: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
