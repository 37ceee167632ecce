//! The LRS's tables (migrations `m20261201_001221_xapi_statements`, `m20261201_001222_xapi_documents`,
//! `m20261202_001311_xapi_attachments`).

pub(crate) mod statement {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "xapi_statements")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub statement_sealed: Vec<u8>,
        pub actor_index: Vec<u8>,
        pub actor_sealed: Vec<u8>,
        pub person_id: Option<Uuid>,
        pub verb_id: String,
        pub activity_id: Option<String>,
        pub registration: Option<Uuid>,
        pub voids: Option<Uuid>,
        pub voided: bool,
        pub restricted: bool,
        pub credential_id: Uuid,
        pub statement_timestamp: DateTimeUtc,
        pub stored: DateTimeUtc,
        /// The statement its StatementRef object targets (migration
        /// `m20261202_001312_xapi_statement_targets`).
        pub target_statement_id: Option<Uuid>,
        /// Stored before targets were recorded and not looked at since
        /// (`super::super::targets`).
        pub targets_pending: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod agent {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "xapi_statement_agents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub statement_id: Uuid,
        pub agent_index: Vec<u8>,
        pub agent_sealed: Vec<u8>,
        pub direct: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod activity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "xapi_statement_activities")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub statement_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub position: i32,
        pub activity_id: String,
        pub direct: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod document {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "xapi_documents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub kind: String,
        pub document_id: String,
        pub activity_id: Option<String>,
        pub agent_index: Option<Vec<u8>>,
        pub agent_sealed: Option<Vec<u8>>,
        pub registration: Option<Uuid>,
        pub person_id: Option<Uuid>,
        pub content_type: String,
        pub content_sealed: Vec<u8>,
        pub etag: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod attachment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "xapi_attachments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub statement_id: Uuid,
        pub sha2: String,
        pub content_type: String,
        pub length: i64,
        pub content_sealed: Vec<u8>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
