use sea_orm::entity::prelude::*;

/// Per tenant, once per population and period: the suppressed tables (JSON) every report
/// of that population over that period shows. Aggregates only.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "report_populations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub population: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub period_start: DateTimeUtc,
    pub period_end: DateTimeUtc,
    pub min_cell_size: i32,
    pub tables: String,
    pub computed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
