//! The people of an institution. Every field that identifies a person is sealed under the
//! institution's key (C1, C2, D2); email and username are found through blind indexes. Only
//! the name is required: the rest can stay empty (C8). A signed-in person reads and corrects
//! their own record (R2, U9); admins manage roles and status.

use crate::entities::{person, person_identity};
use crate::error::IdentityError;
use crate::roles::{Role, roles_from_text, roles_to_text};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use hub_kernel::Pii;
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_kernel::page::{Page, PageRequest};
use hub_kernel::problem::Violations;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::{Scope, TenantScope};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

pub const TABLE: &str = "people";

const fn field(
    column: &'static str,
    category: DataCategory,
    purpose: Purpose,
    blind_index: bool,
    optional: bool,
) -> FieldClassification {
    FieldClassification {
        table: TABLE,
        column,
        category,
        purpose,
        retention: RetentionClass::CategoryPeriod,
        identifying: true,
        blind_index,
        optional,
    }
}

/// The personal-data declaration of this table; encryption below reads it.
pub const PERSONAL_FIELDS: &[FieldClassification] = &[
    field(
        "name",
        DataCategory::Identity,
        Purpose::ServiceDelivery,
        false,
        false,
    ),
    field(
        "username",
        DataCategory::Identity,
        Purpose::ServiceDelivery,
        true,
        true,
    ),
    field(
        "email",
        DataCategory::Contact,
        Purpose::EssentialCommunication,
        true,
        true,
    ),
    field(
        "phone",
        DataCategory::Contact,
        Purpose::EssentialCommunication,
        false,
        true,
    ),
    // Needed only where the law protects minors (A1); never required.
    field(
        "birth_date",
        DataCategory::Identity,
        Purpose::LegalObligation,
        false,
        true,
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonStatus {
    Active,
    /// Cannot sign in; their sessions were ended when this was set.
    Deactivated,
}

impl PersonStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deactivated => "deactivated",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "active" => Self::Active,
            // Unknown values are treated as the most restrictive state.
            _ => Self::Deactivated,
        }
    }
}

/// How the person's record came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonSource {
    /// Created by an institution admin through the API.
    Admin,
    /// Created just in time at their first SSO sign-in.
    Sso,
    /// Pushed by the institution's IdP through SCIM; roles follow SCIM groups.
    Scim,
}

impl PersonSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Sso => "sso",
            Self::Scim => "scim",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "sso" => Self::Sso,
            "scim" => Self::Scim,
            _ => Self::Admin,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Person {
    pub id: Uuid,
    pub name: Pii<String>,
    pub username: Option<Pii<String>>,
    pub email: Option<Pii<String>>,
    pub phone: Option<Pii<String>>,
    pub birth_date: Option<Pii<NaiveDate>>,
    pub roles: Vec<Role>,
    pub status: PersonStatus,
    pub source: PersonSource,
    pub revision: i32,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    /// After a reported compromise: the next sign-in must be a fresh authentication at the
    /// IdP made after this time.
    pub reauth_required_after: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The personal fields of a person, as entered or asserted by an IdP.
#[derive(Debug, Clone, Default)]
pub struct PersonalData {
    pub name: Pii<String>,
    pub username: Option<Pii<String>>,
    pub email: Option<Pii<String>>,
    pub phone: Option<Pii<String>>,
    pub birth_date: Option<Pii<String>>,
}

#[derive(Debug, Clone)]
pub struct NewPerson {
    pub data: PersonalData,
    pub roles: Vec<String>,
}

/// An admin's change: roles and status only. Personal fields belong to the person (R2).
#[derive(Debug, Clone, Default)]
pub struct AdminPatch {
    pub roles: Option<Vec<String>>,
    pub status: Option<PersonStatus>,
}

/// A person's correction of their own record. `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct SelfPatch {
    pub name: Option<Pii<String>>,
    pub phone: Option<Option<Pii<String>>>,
    pub birth_date: Option<Option<Pii<String>>>,
}

pub use hub_tenant::contacts::normalise_email;
use hub_tenant::contacts::{check_email, check_phone};

pub(crate) fn normalise_username(username: &str) -> String {
    username.trim().to_lowercase()
}

fn check_name(v: &mut Violations, name: &str) {
    let trimmed = name.trim();
    v.check(
        !trimmed.is_empty()
            && trimmed.chars().count() <= 200
            && !trimmed.chars().any(char::is_control),
        "name",
        "must be 1–200 characters without control characters",
    );
}

fn check_username(v: &mut Violations, username: &str) {
    let valid = (1..=100).contains(&username.chars().count())
        && !username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control());
    v.check(valid, "username", "must be 1–100 characters without spaces");
}

fn parse_birth_date(v: &mut Violations, text: &str) -> Option<NaiveDate> {
    let parsed = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok();
    let today = Utc::now().date_naive();
    match parsed {
        Some(date) if date <= today && date.year() >= 1900 => Some(date),
        _ => {
            v.add(
                "birth_date",
                "must be a date YYYY-MM-DD between 1900-01-01 and today",
            );
            None
        }
    }
}

fn parse_roles(v: &mut Violations, roles: &[String]) -> Vec<Role> {
    let mut parsed = Vec::new();
    for (i, text) in roles.iter().enumerate() {
        match Role::parse(text) {
            Some(r) if !parsed.contains(&r) => parsed.push(r),
            Some(_) => v.add(format!("roles[{i}]"), "duplicate role"),
            None => v.add(
                format!("roles[{i}]"),
                format!(
                    "unknown role; expected one of {}",
                    Role::ALL.map(Role::as_str).join(", ")
                ),
            ),
        }
    }
    parsed
}

/// Validated personal fields, ready to seal.
struct Checked {
    name: String,
    username: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    birth_date: Option<NaiveDate>,
}

fn check_data(v: &mut Violations, data: &PersonalData) -> Checked {
    check_name(v, data.name.expose());
    if let Some(u) = &data.username {
        check_username(v, u.expose());
    }
    if let Some(e) = &data.email {
        check_email(v, e.expose());
    }
    if let Some(p) = &data.phone {
        check_phone(v, p.expose());
    }
    let birth_date = data
        .birth_date
        .as_ref()
        .and_then(|d| parse_birth_date(v, d.expose()));
    Checked {
        name: data.name.expose().trim().to_string(),
        username: data
            .username
            .as_ref()
            .map(|u| u.expose().trim().to_string()),
        email: data.email.as_ref().map(|e| e.expose().trim().to_string()),
        phone: data.phone.as_ref().map(|p| p.expose().trim().to_string()),
        birth_date,
    }
}

fn open(scope: &TenantScope, row: person::Model) -> Result<Person, IdentityError> {
    let keys = scope.keys();
    let id = row.id;
    let open_opt = |column: &str, sealed: &Option<Vec<u8>>| {
        sealed
            .as_deref()
            .map(|s| keys.open_str(TABLE, column, id, s))
            .transpose()
    };
    let birth_date = open_opt("birth_date", &row.birth_date_sealed)?
        .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
    Ok(Person {
        id,
        name: Pii::new(keys.open_str(TABLE, "name", id, &row.name_sealed)?),
        username: open_opt("username", &row.username_sealed)?.map(Pii::new),
        email: open_opt("email", &row.email_sealed)?.map(Pii::new),
        phone: open_opt("phone", &row.phone_sealed)?.map(Pii::new),
        birth_date: birth_date.map(Pii::new),
        roles: roles_from_text(&row.roles),
        status: PersonStatus::parse(&row.status),
        source: PersonSource::parse(&row.source),
        revision: row.revision,
        last_sign_in_at: row.last_sign_in_at,
        reauth_required_after: row.reauth_required_after,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Seals every personal field of person `id` under the active key into `row`.
fn seal_into(row: &mut person::ActiveModel, scope: &TenantScope, id: Uuid, data: &Checked) {
    let keys = scope.keys();
    row.name_sealed = Set(keys.seal_str(TABLE, "name", id, &data.name));
    row.username_sealed = Set(data
        .username
        .as_deref()
        .map(|u| keys.seal_str(TABLE, "username", id, u)));
    row.username_index = Set(data
        .username
        .as_deref()
        .map(|u| keys.blind_index(TABLE, "username", &normalise_username(u))));
    row.email_sealed = Set(data
        .email
        .as_deref()
        .map(|e| keys.seal_str(TABLE, "email", id, e)));
    row.email_index = Set(data
        .email
        .as_deref()
        .map(|e| keys.blind_index(TABLE, "email", &normalise_email(e))));
    row.phone_sealed = Set(data
        .phone
        .as_deref()
        .map(|p| keys.seal_str(TABLE, "phone", id, p)));
    row.birth_date_sealed = Set(data
        .birth_date
        .map(|d| keys.seal_str(TABLE, "birth_date", id, &d.format("%Y-%m-%d").to_string())));
    row.key_version = Set(keys.active_version() as i32);
}

/// Refuses an email or username another person of the institution already has.
async fn ensure_unique(
    scope: &TenantScope,
    data: &Checked,
    except: Option<Uuid>,
) -> Result<(), IdentityError> {
    let keys = scope.keys();
    let mut v = Violations::new();
    // Under every index-key version held, so a rotation in progress hides no one.
    let taken = |column: person::Column, indexes: Vec<Vec<u8>>| async move {
        let mut query = person::Entity::find().filter(column.is_in(indexes));
        if let Some(id) = except {
            query = query.filter(person::Column::Id.ne(id));
        }
        query.one(scope.db()).await.map(|row| row.is_some())
    };
    if let Some(email) = &data.email
        && taken(
            person::Column::EmailIndex,
            keys.blind_index_candidates(TABLE, "email", &normalise_email(email)),
        )
        .await?
    {
        v.add("email", "another person of this institution has this email");
    }
    if let Some(username) = &data.username
        && taken(
            person::Column::UsernameIndex,
            keys.blind_index_candidates(TABLE, "username", &normalise_username(username)),
        )
        .await?
    {
        v.add(
            "username",
            "another person of this institution has this username",
        );
    }
    v.finish().map_err(|v| {
        IdentityError::Conflict(
            v.into_iter()
                .map(|f| f.message)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

pub(crate) async fn insert(
    scope: &TenantScope,
    data: &PersonalData,
    roles: &[String],
    source: PersonSource,
) -> Result<Person, IdentityError> {
    let mut v = Violations::new();
    let checked = check_data(&mut v, data);
    let roles = parse_roles(&mut v, roles);
    v.finish().map_err(IdentityError::Invalid)?;
    ensure_unique(scope, &checked, None).await?;
    let id = Uuid::now_v7();
    let now = Utc::now();
    let mut row = person::ActiveModel {
        id: Set(id),
        roles: Set(roles_to_text(&roles)),
        status: Set(PersonStatus::Active.as_str().to_string()),
        source: Set(source.as_str().to_string()),
        revision: Set(1),
        last_sign_in_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    seal_into(&mut row, scope, id, &checked);
    person::Entity::insert(row)
        .exec_without_returning(scope.db())
        .await?;
    load(scope, id).await
}

pub(crate) async fn load(scope: &TenantScope, id: Uuid) -> Result<Person, IdentityError> {
    let row = person::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .ok_or(IdentityError::NotFound("person"))?;
    open(scope, row)
}

pub async fn create(scope: &TenantScope, input: NewPerson) -> Result<Person, IdentityError> {
    scope.require(Scope::PeopleWrite)?;
    let person = insert(scope, &input.data, &input.roles, PersonSource::Admin).await?;
    audit::record(
        scope,
        AuditEvent::new("person.created")
            .person(person.id)
            .detail(serde_json::json!({ "roles": roles_to_text(&person.roles) })),
    )
    .await?;
    Ok(person)
}

/// Another person's record: the read is audited.
pub async fn get(scope: &TenantScope, id: Uuid) -> Result<Person, IdentityError> {
    scope.require(Scope::PeopleRead)?;
    let person = load(scope, id).await?;
    audit::record(scope, AuditEvent::new("person.read").person(id)).await?;
    Ok(person)
}

pub async fn list(
    scope: &TenantScope,
    page: &PageRequest,
    email: Option<&str>,
    role: Option<Role>,
) -> Result<Page<Person>, IdentityError> {
    scope.require(Scope::PeopleRead)?;
    let mut query = person::Entity::find()
        .order_by_asc(person::Column::Id)
        .limit(page.fetch_limit());
    if let Some(after) = page.after {
        query = query.filter(person::Column::Id.gt(after));
    }
    if let Some(email) = email {
        let indexes = scope
            .keys()
            .blind_index_candidates(TABLE, "email", &normalise_email(email));
        query = query.filter(person::Column::EmailIndex.is_in(indexes));
    }
    if let Some(role) = role {
        query = query.filter(holds_role(role));
    }
    let rows = query.all(scope.db()).await?;
    let page = Page::from_rows(rows, page, |r| r.id).try_map(|r| open(scope, r))?;
    audit::record_listing(
        scope,
        "people.listed",
        "person_ids",
        page.items.iter().map(|p| p.id),
    )
    .await?;
    Ok(page)
}

/// People holding `role`. Roles are stored space-separated; this matches the whole word.
fn holds_role(role: Role) -> sea_orm::Condition {
    sea_orm::Condition::any()
        .add(person::Column::Roles.eq(role.as_str()))
        .add(person::Column::Roles.like(format!("{} %", role.as_str())))
        .add(person::Column::Roles.like(format!("% {}", role.as_str())))
        .add(person::Column::Roles.like(format!("% {} %", role.as_str())))
}

/// The active people holding `role`, oldest first, without a scope check or an audit entry:
/// for the service's own notices to them (e.g. the admins told of an incident).
pub(crate) async fn active_with_role(
    scope: &TenantScope,
    role: Role,
) -> Result<Vec<Person>, IdentityError> {
    person::Entity::find()
        .filter(holds_role(role))
        .filter(person::Column::Status.eq(PersonStatus::Active.as_str()))
        .order_by_asc(person::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|r| open(scope, r))
        .collect()
}

/// Changes roles or status. Returns the person and whether their sessions must end (any
/// change to roles or a deactivation: sessions carry the scopes granted at sign-in).
pub async fn administer(
    scope: &TenantScope,
    id: Uuid,
    patch: AdminPatch,
    expected_revision: Option<i32>,
) -> Result<(Person, bool), IdentityError> {
    scope.require(Scope::PeopleWrite)?;
    let mut v = Violations::new();
    let roles = patch.roles.as_ref().map(|r| parse_roles(&mut v, r));
    v.finish().map_err(IdentityError::Invalid)?;
    let current = load(scope, id).await?;
    if let Some(expected) = expected_revision
        && current.revision != expected
    {
        return Err(IdentityError::RevisionMismatch {
            current: current.revision,
        });
    }
    let mut row = person::ActiveModel {
        revision: Set(current.revision + 1),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    let roles_changed = roles.as_ref().is_some_and(|r| *r != current.roles);
    if let Some(roles) = &roles {
        row.roles = Set(roles_to_text(roles));
    }
    let deactivated = patch.status == Some(PersonStatus::Deactivated)
        && current.status != PersonStatus::Deactivated;
    if let Some(status) = patch.status {
        row.status = Set(status.as_str().to_string());
    }
    write_revision(scope, id, current.revision, row).await?;
    let person = load(scope, id).await?;
    audit::record(
        scope,
        AuditEvent::new("person.administered")
            .person(id)
            .detail(serde_json::json!({
                "roles": roles_to_text(&person.roles),
                "status": person.status.as_str(),
                "sessions_ended": roles_changed || deactivated,
            })),
    )
    .await?;
    Ok((person, roles_changed || deactivated))
}

/// The signed-in person's own record.
pub async fn get_self(scope: &TenantScope) -> Result<Person, IdentityError> {
    let id = self_id(scope)?;
    load(scope, id).await
}

pub async fn correct_self(
    scope: &TenantScope,
    patch: SelfPatch,
    expected_revision: Option<i32>,
) -> Result<Person, IdentityError> {
    let id = self_id(scope)?;
    let current = load(scope, id).await?;
    let own = data_of(&current);
    let data = PersonalData {
        name: patch.name.unwrap_or(own.name),
        phone: patch.phone.unwrap_or(own.phone),
        birth_date: patch.birth_date.unwrap_or(own.birth_date),
        ..own
    };
    let mut v = Violations::new();
    let checked = check_data(&mut v, &data);
    v.finish().map_err(IdentityError::Invalid)?;
    if let Some(expected) = expected_revision
        && current.revision != expected
    {
        return Err(IdentityError::RevisionMismatch {
            current: current.revision,
        });
    }
    let mut row = person::ActiveModel {
        revision: Set(current.revision + 1),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    seal_into(&mut row, scope, id, &checked);
    write_revision(scope, id, current.revision, row).await?;
    load(scope, id).await
}

fn self_id(scope: &TenantScope) -> Result<Uuid, IdentityError> {
    scope
        .actor()
        .and_then(|a| a.person_id())
        .ok_or(IdentityError::PersonOnly)
}

async fn write_revision(
    scope: &TenantScope,
    id: Uuid,
    revision: i32,
    row: person::ActiveModel,
) -> Result<(), IdentityError> {
    let updated = person::Entity::update_many()
        .set(row)
        .filter(person::Column::Id.eq(id))
        .filter(person::Column::Revision.eq(revision))
        .exec(scope.db())
        .await?;
    if updated.rows_affected == 0 {
        return Err(IdentityError::RevisionMismatch {
            current: revision + 1,
        });
    }
    Ok(())
}

/// Replaces a person's personal fields as their IdP asserts them (SCIM), keeping the rest.
pub(crate) async fn replace_data(
    scope: &TenantScope,
    person: &Person,
    data: &PersonalData,
) -> Result<Person, IdentityError> {
    let mut v = Violations::new();
    let checked = check_data(&mut v, data);
    v.finish().map_err(IdentityError::Invalid)?;
    ensure_unique(scope, &checked, Some(person.id)).await?;
    let mut row = person::ActiveModel {
        revision: Set(person.revision + 1),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    seal_into(&mut row, scope, person.id, &checked);
    write_revision(scope, person.id, person.revision, row).await?;
    load(scope, person.id).await
}

/// Sets status and roles without the admin scope check (SCIM and group pushes).
pub(crate) async fn set_status_and_roles(
    scope: &TenantScope,
    person: &Person,
    status: PersonStatus,
    roles: &[Role],
) -> Result<Person, IdentityError> {
    if status == person.status && roles == person.roles.as_slice() {
        return Ok(person.clone());
    }
    let row = person::ActiveModel {
        status: Set(status.as_str().to_string()),
        roles: Set(roles_to_text(roles)),
        revision: Set(person.revision + 1),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    write_revision(scope, person.id, person.revision, row).await?;
    load(scope, person.id).await
}

/// The personal fields of a person, as they are.
pub fn data_of(person: &Person) -> PersonalData {
    PersonalData {
        name: person.name.clone(),
        username: person.username.clone(),
        email: person.email.clone(),
        phone: person.phone.clone(),
        birth_date: person
            .birth_date
            .as_ref()
            .map(|d| Pii::new(d.expose().format("%Y-%m-%d").to_string())),
    }
}

pub(crate) async fn find_by_username(
    scope: &TenantScope,
    username: &str,
) -> Result<Option<Person>, IdentityError> {
    let indexes =
        scope
            .keys()
            .blind_index_candidates(TABLE, "username", &normalise_username(username));
    find_by_index(scope, person::Column::UsernameIndex, indexes).await
}

/// The one person whose blind-index column holds one of `indexes` (the value's index under
/// each index-key version held).
async fn find_by_index(
    scope: &TenantScope,
    column: person::Column,
    indexes: Vec<Vec<u8>>,
) -> Result<Option<Person>, IdentityError> {
    let row = person::Entity::find()
        .filter(column.is_in(indexes))
        .one(scope.db())
        .await?;
    row.map(|r| open(scope, r)).transpose()
}

/// People in id order from `offset` (SCIM's 1-based `startIndex` minus one), and the total.
/// Marks a person as needing a fresh authentication before their next session.
/// `None` lifts the mark (after a fresh authentication).
pub(crate) async fn require_reauthentication(
    scope: &TenantScope,
    id: Uuid,
    after: Option<DateTime<Utc>>,
) -> Result<(), IdentityError> {
    person::Entity::update_many()
        .col_expr(
            person::Column::ReauthRequiredAfter,
            sea_orm::sea_query::Expr::value(after),
        )
        .filter(person::Column::Id.eq(id))
        .exec(scope.db())
        .await?;
    Ok(())
}

/// The person an IdP subject is linked to, if any.
pub(crate) async fn find_by_subject(
    scope: &TenantScope,
    connection_id: Uuid,
    subject: &str,
) -> Result<Option<Person>, IdentityError> {
    let keys = scope.keys();
    let indexes = keys.blind_index_candidates("person_identities", "subject", subject);
    let link = person_identity::Entity::find()
        .filter(person_identity::Column::ConnectionId.eq(connection_id))
        .filter(person_identity::Column::SubjectIndex.is_in(indexes))
        .one(scope.db())
        .await?;
    let Some(link) = link else {
        return Ok(None);
    };
    // A link older than its sealed subject cannot be re-indexed by a job: it gains the
    // sealed subject and moves to the active index key here, when the IdP presents it.
    let current = keys.blind_index("person_identities", "subject", subject);
    if link.subject_index != current || link.subject_sealed.is_none() {
        person_identity::Entity::update_many()
            .col_expr(
                person_identity::Column::SubjectIndex,
                sea_orm::sea_query::Expr::value(current),
            )
            .col_expr(
                person_identity::Column::SubjectSealed,
                sea_orm::sea_query::Expr::value(Some(keys.seal_str(
                    "person_identities",
                    "subject",
                    link.id,
                    subject,
                ))),
            )
            .filter(person_identity::Column::Id.eq(link.id))
            .exec(scope.db())
            .await?;
    }
    Ok(Some(load(scope, link.person_id).await?))
}

pub(crate) async fn find_by_email(
    scope: &TenantScope,
    email: &str,
) -> Result<Option<Person>, IdentityError> {
    let indexes = scope
        .keys()
        .blind_index_candidates(TABLE, "email", &normalise_email(email));
    find_by_index(scope, person::Column::EmailIndex, indexes).await
}

pub(crate) async fn link_subject(
    scope: &TenantScope,
    person_id: Uuid,
    connection_id: Uuid,
    subject: &str,
) -> Result<(), IdentityError> {
    let id = Uuid::now_v7();
    let keys = scope.keys();
    let row = person_identity::ActiveModel {
        id: Set(id),
        person_id: Set(person_id),
        connection_id: Set(connection_id),
        subject_index: Set(keys.blind_index("person_identities", "subject", subject)),
        subject_sealed: Set(Some(keys.seal_str(
            "person_identities",
            "subject",
            id,
            subject,
        ))),
        created_at: Set(Utc::now()),
    };
    person_identity::Entity::insert(row)
        .exec_without_returning(scope.db())
        .await?;
    Ok(())
}

/// At each SSO sign-in the IdP is the source of truth for email and roles; the name is taken
/// only at the first sign-in, so a person's own correction (R2) is not overwritten.
pub(crate) async fn record_sign_in(
    scope: &TenantScope,
    person: &Person,
    email: Option<&str>,
    roles: &[Role],
) -> Result<Person, IdentityError> {
    let email_changed =
        email.map(normalise_email) != person.email.as_ref().map(|e| normalise_email(e.expose()));
    let mut row = person::ActiveModel {
        last_sign_in_at: Set(Some(Utc::now())),
        roles: Set(roles_to_text(roles)),
        ..Default::default()
    };
    if email_changed || roles != person.roles.as_slice() {
        row.revision = Set(person.revision + 1);
        row.updated_at = Set(Utc::now());
    }
    if email_changed {
        let checked = Checked {
            name: person.name.expose().clone(),
            username: person.username.as_ref().map(|u| u.expose().clone()),
            email: email.map(str::to_string),
            phone: person.phone.as_ref().map(|p| p.expose().clone()),
            birth_date: person.birth_date.as_ref().map(|d| *d.expose()),
        };
        ensure_unique(scope, &checked, Some(person.id)).await?;
        seal_into(&mut row, scope, person.id, &checked);
    }
    person::Entity::update_many()
        .set(row)
        .filter(person::Column::Id.eq(person.id))
        .exec(scope.db())
        .await?;
    load(scope, person.id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promise_c8_people_declare_every_personal_field_and_only_the_name_is_required() {
        let required: Vec<_> = PERSONAL_FIELDS
            .iter()
            .filter(|f| !f.optional)
            .map(|f| f.column)
            .collect();
        assert_eq!(required, ["name"]);
        assert!(PERSONAL_FIELDS.iter().all(|f| f.identifying));
    }

    #[test]
    fn birth_dates_and_roles_are_checked() {
        let mut v = Violations::new();
        assert!(parse_birth_date(&mut v, "2001-02-03").is_some());
        assert!(v.is_empty());
        for bad in ["1899-12-31", "2001-13-01", "tomorrow", "3000-01-01"] {
            let mut v = Violations::new();
            assert!(parse_birth_date(&mut v, bad).is_none(), "{bad}");
        }
        let mut v = Violations::new();
        let roles = parse_roles(
            &mut v,
            &["learner".into(), "wizard".into(), "learner".into()],
        );
        assert_eq!(roles, vec![Role::Learner]);
        assert_eq!(v.finish().unwrap_err().len(), 2);
    }
}
