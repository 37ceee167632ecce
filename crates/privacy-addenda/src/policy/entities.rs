//! The policy tables (migration `m20261201_000401_consent_and_policy`).

pub mod version {
    use sea_orm::entity::prelude::*;

    /// One published policy version: its purposes and service notices (JSON text).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "policy_versions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i32,
        /// A JSON array of purpose names.
        pub purposes: String,
        /// A JSON object: service name → notice text.
        pub notices: String,
        pub summary: String,
        pub published_at: DateTimeUtc,
        pub published_by: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod acceptance {
    use sea_orm::entity::prelude::*;

    /// A person's acceptance of one policy version (and every notice in it).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "policy_acceptances")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub person_id: Uuid,
        pub version: i32,
        pub accepted_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
