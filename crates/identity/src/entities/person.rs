use sea_orm::entity::prelude::*;

/// Every field that identifies the person is ciphertext (`*_sealed`) under the tenant's key;
/// `*_index` columns are keyed blind indexes for equality lookups.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "people")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name_sealed: Vec<u8>,
    pub username_sealed: Option<Vec<u8>>,
    pub username_index: Option<Vec<u8>>,
    pub email_sealed: Option<Vec<u8>>,
    pub email_index: Option<Vec<u8>>,
    pub phone_sealed: Option<Vec<u8>>,
    pub birth_date_sealed: Option<Vec<u8>>,
    pub roles: String,
    pub status: String,
    pub source: String,
    pub key_version: i32,
    pub revision: i32,
    pub last_sign_in_at: Option<DateTimeUtc>,
    pub reauth_required_after: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Since when processing of the person's data is restricted (R3); `None`: it is not.
    pub restricted_at: Option<DateTimeUtc>,
    /// The jurisdiction the person keeps on their profile (L1), sealed; `None`: none kept.
    pub jurisdiction_sealed: Option<Vec<u8>>,
    /// The person's own country (ISO 3166-1 alpha-2, A1), sealed; `None`: none kept.
    pub country_sealed: Option<Vec<u8>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
