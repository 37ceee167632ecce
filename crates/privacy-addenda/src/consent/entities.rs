//! The consent tables (migration `m20261201_000401_consent_and_policy`).

pub mod record {
    use sea_orm::entity::prelude::*;

    /// One consent choice of a person: append-only, never updated.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "consent_records")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub person_id: Uuid,
        pub purpose: String,
        pub granted: bool,
        pub policy_version: Option<i32>,
        pub source: String,
        /// The request carried `Sec-GPC: 1` (a grant made despite the signal stands).
        pub gpc_signal: bool,
        pub recorded_at: DateTimeUtc,
        pub recorded_by: String,
        /// The objection request a withdrawal was recorded for (source `objection`).
        pub request_id: Option<Uuid>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod restriction {
    use sea_orm::entity::prelude::*;

    /// A person whose processing is frozen (R3): the row exists while it lasts.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "processing_restrictions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub person_id: Uuid,
        pub restricted_at: DateTimeUtc,
        pub restricted_by: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
