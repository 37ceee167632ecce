//! The institution's named contacts: its data-protection officer, billing, technical and
//! administrative contacts, whom the platform must be able to reach (C2). Names, emails and
//! phone numbers identify people, so they are stored only sealed under the tenant's key, and
//! emails are found through a blind index.

use crate::entities::contact;
use crate::error::TenantError;
use crate::model::Scope;
use crate::personal_data::{
    DataSubject, Outcome, PersonalDataSource, SourceError, Summary, emails_of,
};
use crate::scope::TenantScope;
use chrono::{DateTime, Utc};
use hub_kernel::Pii;
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_kernel::page::{Page, PageRequest};
use hub_kernel::problem::Violations;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

pub const TABLE: &str = "contacts";

/// The personal-data declaration of this table; encryption below reads it.
pub const PERSONAL_FIELDS: &[FieldClassification] = &[
    FieldClassification {
        table: TABLE,
        column: "name",
        category: DataCategory::Identity,
        purpose: Purpose::ServiceDelivery,
        retention: RetentionClass::TenantLifetime,
        identifying: true,
        blind_index: false,
        optional: false,
    },
    FieldClassification {
        table: TABLE,
        column: "email",
        category: DataCategory::Contact,
        purpose: Purpose::EssentialCommunication,
        retention: RetentionClass::TenantLifetime,
        identifying: true,
        blind_index: true,
        optional: false,
    },
    FieldClassification {
        table: TABLE,
        column: "phone",
        category: DataCategory::Contact,
        purpose: Purpose::EssentialCommunication,
        retention: RetentionClass::TenantLifetime,
        identifying: true,
        blind_index: false,
        optional: true,
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactRole {
    DataProtectionOfficer,
    Billing,
    Technical,
    Administrative,
}

impl ContactRole {
    pub const ALL: [ContactRole; 4] = [
        Self::DataProtectionOfficer,
        Self::Billing,
        Self::Technical,
        Self::Administrative,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DataProtectionOfficer => "data_protection_officer",
            Self::Billing => "billing",
            Self::Technical => "technical",
            Self::Administrative => "administrative",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

#[derive(Debug, Clone)]
pub struct Contact {
    pub id: Uuid,
    pub role: ContactRole,
    pub name: Pii<String>,
    pub email: Pii<String>,
    pub phone: Option<Pii<String>>,
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewContact {
    pub role: ContactRole,
    pub name: Pii<String>,
    pub email: Pii<String>,
    pub phone: Option<Pii<String>>,
}

/// Fields left `None` stay as they are; `phone: Some(None)` clears the phone.
#[derive(Debug, Clone, Default)]
pub struct ContactPatch {
    pub role: Option<ContactRole>,
    pub name: Option<Pii<String>>,
    pub email: Option<Pii<String>>,
    pub phone: Option<Option<Pii<String>>>,
}

pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Shared with people's records: one rule for what an email address is.
pub fn check_email(v: &mut Violations, email: &str) {
    let email = email.trim();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
                && !domain.ends_with('.') && !domain.contains('@'));
    v.check(
        valid,
        "email",
        "must be an email address such as name@example.edu",
    );
}

/// Shared with people's records: phone numbers in E.164 form.
pub fn check_phone(v: &mut Violations, phone: &str) {
    let digits = phone.strip_prefix('+').unwrap_or("");
    let valid = (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    v.check(
        valid,
        "phone",
        "must be in E.164 form, such as +441632960961",
    );
}

fn check_name(v: &mut Violations, name: &str) {
    crate::credentials::validate_label(v, "name", name, crate::model::limits::CONTACT_NAME_MAX);
}

impl NewContact {
    fn validate(&self) -> Result<(), TenantError> {
        let mut v = Violations::new();
        check_name(&mut v, self.name.expose());
        check_email(&mut v, self.email.expose());
        if let Some(phone) = &self.phone {
            check_phone(&mut v, phone.expose());
        }
        v.finish().map_err(TenantError::Invalid)
    }
}

impl ContactPatch {
    fn validate(&self) -> Result<(), TenantError> {
        let mut v = Violations::new();
        if let Some(name) = &self.name {
            check_name(&mut v, name.expose());
        }
        if let Some(email) = &self.email {
            check_email(&mut v, email.expose());
        }
        if let Some(Some(phone)) = &self.phone {
            check_phone(&mut v, phone.expose());
        }
        v.finish().map_err(TenantError::Invalid)
    }
}

fn open(scope: &TenantScope, row: contact::Model) -> Result<Contact, TenantError> {
    let keys = scope.keys();
    let name = keys.open_str(TABLE, "name", row.id, &row.name_sealed)?;
    let email = keys.open_str(TABLE, "email", row.id, &row.email_sealed)?;
    let phone = row
        .phone_sealed
        .as_deref()
        .map(|p| keys.open_str(TABLE, "phone", row.id, p))
        .transpose()?;
    Ok(Contact {
        id: row.id,
        // Only validated roles are ever written.
        role: ContactRole::parse(&row.role).unwrap_or(ContactRole::Administrative),
        name: Pii::new(name),
        email: Pii::new(email),
        phone: phone.map(Pii::new),
        revision: row.revision,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Seals every personal field of contact `id` under the active key into `row`, with the
/// email's blind index and the key version used (so rotation knows what to re-seal).
fn seal_into(
    row: &mut contact::ActiveModel,
    scope: &TenantScope,
    id: Uuid,
    name: &str,
    email: &str,
    phone: Option<&str>,
) {
    let keys = scope.keys();
    let email = email.trim();
    row.name_sealed = Set(keys.seal_str(TABLE, "name", id, name.trim()));
    row.email_sealed = Set(keys.seal_str(TABLE, "email", id, email));
    row.email_index = Set(keys.blind_index(TABLE, "email", &normalise_email(email)));
    row.phone_sealed = Set(phone.map(|p| keys.seal_str(TABLE, "phone", id, p.trim())));
    row.key_version = Set(keys.active_version() as i32);
}

pub async fn create(scope: &TenantScope, input: NewContact) -> Result<Contact, TenantError> {
    scope.require(Scope::ContactsWrite)?;
    input.validate()?;
    let id = Uuid::now_v7();
    let now = Utc::now();
    let mut row = contact::ActiveModel {
        id: Set(id),
        role: Set(input.role.as_str().to_string()),
        revision: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    seal_into(
        &mut row,
        scope,
        id,
        input.name.expose(),
        input.email.expose(),
        input.phone.as_ref().map(|p| p.expose().as_str()),
    );
    contact::Entity::insert(row)
        .exec_without_returning(scope.db())
        .await?;
    audit_change(scope, "contact.created", id).await?;
    load(scope, id).await
}

async fn audit_change(
    scope: &TenantScope,
    action: &'static str,
    id: Uuid,
) -> Result<(), TenantError> {
    crate::audit::record(
        scope,
        crate::audit::AuditEvent::new(action).subject(format!("contact:{id}")),
    )
    .await
}

/// Reads a contact (another person's data): the read is audited.
pub async fn get(scope: &TenantScope, id: Uuid) -> Result<Contact, TenantError> {
    let contact = load(scope, id).await?;
    crate::audit::record(
        scope,
        crate::audit::AuditEvent::new("contact.read").subject(format!("contact:{id}")),
    )
    .await?;
    Ok(contact)
}

async fn load(scope: &TenantScope, id: Uuid) -> Result<Contact, TenantError> {
    scope.require(Scope::ContactsRead)?;
    let row = contact::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .ok_or(TenantError::NotFound("contact"))?;
    open(scope, row)
}

pub async fn list(
    scope: &TenantScope,
    page: &PageRequest,
    email: Option<&str>,
    role: Option<ContactRole>,
) -> Result<Page<Contact>, TenantError> {
    scope.require(Scope::ContactsRead)?;
    let mut query = contact::Entity::find()
        .order_by_asc(contact::Column::Id)
        .limit(page.fetch_limit());
    if let Some(after) = page.after {
        query = query.filter(contact::Column::Id.gt(after));
    }
    if let Some(email) = email {
        // Every index-key version held: a row not yet re-indexed after a rotation matches.
        let indexes = scope
            .keys()
            .blind_index_candidates(TABLE, "email", &normalise_email(email));
        query = query.filter(contact::Column::EmailIndex.is_in(indexes));
    }
    if let Some(role) = role {
        query = query.filter(contact::Column::Role.eq(role.as_str()));
    }
    let rows = query.all(scope.db()).await?;
    let page = Page::from_rows(rows, page, |r| r.id).try_map(|r| open(scope, r))?;
    crate::audit::record_listing(
        scope,
        "contacts.listed",
        "contact_ids",
        page.items.iter().map(|c| c.id),
    )
    .await?;
    Ok(page)
}

pub async fn update(
    scope: &TenantScope,
    id: Uuid,
    patch: ContactPatch,
    expected_revision: Option<i32>,
) -> Result<Contact, TenantError> {
    scope.require(Scope::ContactsWrite)?;
    patch.validate()?;
    let current = load(scope, id).await?;
    if let Some(expected) = expected_revision
        && current.revision != expected
    {
        return Err(TenantError::RevisionMismatch {
            current: current.revision,
        });
    }
    let role = patch.role.unwrap_or(current.role);
    let name = patch.name.unwrap_or(current.name);
    let email = patch.email.unwrap_or(current.email);
    let phone = patch.phone.unwrap_or(current.phone);
    let mut row = contact::ActiveModel {
        role: Set(role.as_str().to_string()),
        revision: Set(current.revision + 1),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    seal_into(
        &mut row,
        scope,
        id,
        name.expose(),
        email.expose(),
        phone.as_ref().map(|p| p.expose().as_str()),
    );
    let updated = contact::Entity::update_many()
        .set(row)
        .filter(contact::Column::Id.eq(id))
        .filter(contact::Column::Revision.eq(current.revision))
        .exec(scope.db())
        .await?;
    if updated.rows_affected == 0 {
        return Err(TenantError::RevisionMismatch {
            current: current.revision + 1,
        });
    }
    audit_change(scope, "contact.updated", id).await?;
    load(scope, id).await
}

pub async fn delete(
    scope: &TenantScope,
    id: Uuid,
    expected_revision: Option<i32>,
) -> Result<(), TenantError> {
    scope.require(Scope::ContactsWrite)?;
    let current = load(scope, id).await?;
    if let Some(expected) = expected_revision
        && expected != current.revision
    {
        return Err(TenantError::RevisionMismatch {
            current: current.revision,
        });
    }
    contact::Entity::delete_by_id(id).exec(scope.db()).await?;
    audit_change(scope, "contact.deleted", id).await
}

/// The institution's contacts as a personal-data source. A contact holds no person id: the
/// subject's contacts are those whose email's blind index matches one of the subject's
/// emails. Contacts live as long as the institution (their retention class), so nothing
/// expires, and a restriction does not apply: the platform must be able to reach the
/// institution (C2); the institution replaces the contact instead.
pub struct ContactsSource;

impl ContactsSource {
    async fn rows_of(
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<contact::Model>, TenantError> {
        let indexes: Vec<Vec<u8>> = emails_of(subject)
            .iter()
            .flat_map(|email| {
                scope.keys().blind_index_candidates(
                    TABLE,
                    "email",
                    &normalise_email(email.expose()),
                )
            })
            .collect();
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        Ok(contact::Entity::find()
            .filter(contact::Column::EmailIndex.is_in(indexes))
            .order_by_asc(contact::Column::Id)
            .all(scope.db())
            .await?)
    }
}

#[async_trait::async_trait]
impl PersonalDataSource for ContactsSource {
    fn name(&self) -> &'static str {
        "contacts"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        PERSONAL_FIELDS.to_vec()
    }

    fn tables(&self) -> &'static [&'static str] {
        &[TABLE]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        scope.require(Scope::ContactsRead)?;
        let records = Self::rows_of(scope, subject).await?.len() as u64;
        Ok(Summary { records })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        scope.require(Scope::ContactsRead)?;
        let mut exported = Vec::new();
        for row in Self::rows_of(scope, subject).await? {
            let c = open(scope, row)?;
            exported.push(serde_json::json!({
                "id": c.id,
                "role": c.role.as_str(),
                "name": c.name.expose(),
                "email": c.email.expose(),
                "phone": c.phone.as_ref().map(|p| p.expose()),
                "created_at": c.created_at,
                "updated_at": c.updated_at,
            }));
        }
        Ok(exported)
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::ContactsWrite)?;
        let ids: Vec<Uuid> = Self::rows_of(scope, subject)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        for id in &ids {
            contact::Entity::delete_by_id(*id).exec(scope.db()).await?;
            audit_change(scope, "contact.erased", *id).await?;
        }
        Ok(Outcome::Deleted {
            records: ids.len() as u64,
        })
    }

    async fn expire(
        &self,
        _scope: &TenantScope,
        _category: DataCategory,
        _cutoff: DateTime<Utc>,
        _keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        Ok(Outcome::NotApplicable {
            reason: "contacts are kept while the institution is a customer and destroyed at offboarding",
        })
    }

    async fn restrict(
        &self,
        _scope: &TenantScope,
        _subject: &DataSubject,
        _restricted: bool,
    ) -> Result<Outcome, SourceError> {
        Ok(Outcome::NotApplicable {
            reason: "the platform must be able to reach the institution; the institution replaces the contact",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promise_c8_contact_declares_every_personal_field_with_a_purpose() {
        let columns: Vec<_> = PERSONAL_FIELDS.iter().map(|f| f.column).collect();
        assert_eq!(columns, ["name", "email", "phone"]);
        assert!(PERSONAL_FIELDS.iter().all(|f| f.identifying));
        assert!(
            PERSONAL_FIELDS
                .iter()
                .find(|f| f.column == "phone")
                .unwrap()
                .optional
        );
    }

    #[test]
    fn emails_and_phones_are_checked() {
        let mut v = Violations::new();
        for good in ["a@b.co", "Dpo.Office@Example.EDU"] {
            check_email(&mut v, good);
        }
        check_phone(&mut v, "+441632960961");
        assert!(v.is_empty());
        for bad in ["a@b", "@b.co", "a b@c.de", "a@.co", "a@b.co."] {
            let mut v = Violations::new();
            check_email(&mut v, bad);
            assert!(!v.is_empty(), "{bad}");
        }
        for bad in ["441632960961", "+0123456", "+12", "+44 1632"] {
            let mut v = Violations::new();
            check_phone(&mut v, bad);
            assert!(!v.is_empty(), "{bad}");
        }
    }
}
