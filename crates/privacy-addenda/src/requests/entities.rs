//! The request tables (migration `m20261201_000301_privacy_requests`).

pub mod request {
    use sea_orm::entity::prelude::*;

    /// `subject_sealed` is the subject (person id and the emails known at submission) sealed
    /// under the tenant key; `subject_index` the blind index of the person id.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "privacy_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub kind: String,
        pub status: String,
        /// A restriction request that lifts the restriction instead.
        pub lift_restriction: bool,
        pub jurisdiction: String,
        pub subject_sealed: Option<Vec<u8>>,
        pub subject_index: Vec<u8>,
        pub details_sealed: Option<Vec<u8>>,
        /// An objection's purposes, space-separated (migration
        /// `m20261201_001106_objection_and_rectification`).
        pub purposes: Option<String>,
        /// A rectification's corrections, a JSON array sealed under the tenant key.
        pub corrections_sealed: Option<Vec<u8>>,
        pub submitted_by: String,
        pub on_behalf: bool,
        pub received_at: DateTimeUtc,
        pub due_at: DateTimeUtc,
        pub verified_at: Option<DateTimeUtc>,
        pub code_hash: Option<String>,
        pub code_expires_at: Option<DateTimeUtc>,
        pub code_attempts: i32,
        pub extended_days: i32,
        pub extension_reason: Option<String>,
        pub decided_by: Option<String>,
        pub decided_at: Option<DateTimeUtc>,
        pub decision_reason: Option<String>,
        pub completed_at: Option<DateTimeUtc>,
        pub result_sealed: Option<Vec<u8>>,
        pub download_hash: Option<String>,
        pub download_expires_at: Option<DateTimeUtc>,
        pub receipt: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod task {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "privacy_request_tasks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub request_id: Uuid,
        pub source: String,
        pub position: i32,
        pub status: String,
        pub attempts: i32,
        pub outcome: Option<String>,
        pub error: Option<String>,
        pub updated_at: DateTimeUtc,
        /// An export task's cursor for its next page (migration
        /// `m20261201_001101_privacy_export_cursor`): null before the first page.
        pub export_after: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod part {
    use sea_orm::entity::prelude::*;

    /// One page of one source's records in an export's bundle (migration
    /// `m20261201_000901_privacy_export_parts`): `records_sealed` is the page as a JSON array,
    /// `columns_sealed` the CSV columns its records flatten to (a JSON array of names), both
    /// sealed under the tenant key with the part's id.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "privacy_export_parts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub request_id: Uuid,
        pub source: String,
        pub seq: i32,
        pub record_count: i32,
        pub records_sealed: Vec<u8>,
        pub columns_sealed: Vec<u8>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The institution's privacy contact, regulators and default jurisdiction (migration
/// `m20261201_001001_privacy_contact_and_alerts`): one row, id 1.
pub mod contact {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "privacy_contact")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub contact_name: Option<String>,
        pub contact_email: Option<String>,
        pub postal_address: Option<String>,
        pub url: Option<String>,
        pub regulators: String,
        pub default_jurisdiction: String,
        pub revision: i32,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One sent alert per request and clock state.
pub mod alert {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "privacy_request_alerts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub state: String,
        pub sent_at: DateTimeUtc,
        pub recipients: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// When the tenant's next alert sweep is due: one row, id 1.
pub mod alert_schedule {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "privacy_alert_schedule")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub next_due_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
