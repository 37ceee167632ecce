//! The addenda table (migration `m20261201_000801_privacy_addenda`).

pub mod addendum {
    use sea_orm::entity::prelude::*;

    /// One version of the institution's privacy addendum: its duties (JSON text), a draft
    /// until accepted with an effective date.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "privacy_addenda")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i32,
        pub duties: String,
        pub summary: String,
        /// `draft` or `accepted`.
        pub status: String,
        pub created_at: DateTimeUtc,
        pub created_by: String,
        pub effective_from: Option<DateTimeUtc>,
        pub accepted_at: Option<DateTimeUtc>,
        pub accepted_by: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
