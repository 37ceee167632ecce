//! The people table as stored: personal fields validated, sealed under the institution's
//! key with blind indexes for lookups, opened again; uniqueness of email and username; writes
//! guarded by the revision.

use super::{
    Jurisdiction, MAX_NAME, MAX_USERNAME, Person, PersonSource, PersonStatus, PersonalData, TABLE,
    normalise_email,
};
use crate::entities::person;
use crate::error::IdentityError;
use crate::roles::{Role, roles_from_text, roles_to_text};
use chrono::{Datelike, NaiveDate, Utc};
use hub_kernel::Pii;
use hub_kernel::problem::Violations;
use hub_tenant::TenantScope;
use hub_tenant::contacts::{check_email, check_phone};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

pub(crate) fn normalise_username(username: &str) -> String {
    username.trim().to_lowercase()
}

pub(super) fn check_name(v: &mut Violations, name: &str) {
    let trimmed = name.trim();
    v.check(
        !trimmed.is_empty()
            && trimmed.chars().count() <= MAX_NAME
            && !trimmed.chars().any(char::is_control),
        "name",
        "must be 1–200 characters without control characters",
    );
}

pub(crate) fn check_username(v: &mut Violations, username: &str) {
    let valid = (1..=MAX_USERNAME).contains(&username.chars().count())
        && !username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control());
    v.check(valid, "username", "must be 1–100 characters without spaces");
}

pub(super) fn parse_birth_date(v: &mut Violations, text: &str) -> Option<NaiveDate> {
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

/// Whether `code` is a country as people keep it: ISO 3166-1 alpha-2, upper case
/// ([`super::COUNTRY_PATTERN`]).
pub(crate) fn valid_country(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

pub(super) fn check_country(v: &mut Violations, code: &str) {
    v.check(
        valid_country(code),
        "country",
        "an ISO 3166-1 alpha-2 code in upper case, e.g. DE",
    );
}

pub(super) fn parse_roles(v: &mut Violations, roles: &[String]) -> Vec<Role> {
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
pub(super) struct Checked {
    pub(super) name: String,
    pub(super) username: Option<String>,
    pub(super) email: Option<String>,
    pub(super) phone: Option<String>,
    pub(super) birth_date: Option<NaiveDate>,
    pub(super) country: Option<String>,
}

pub(super) fn check_data(v: &mut Violations, data: &PersonalData) -> Checked {
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
    if let Some(c) = &data.country {
        check_country(v, c.expose());
    }
    Checked {
        name: data.name.expose().trim().to_string(),
        username: data
            .username
            .as_ref()
            .map(|u| u.expose().trim().to_string()),
        email: data.email.as_ref().map(|e| e.expose().trim().to_string()),
        phone: data.phone.as_ref().map(|p| p.expose().trim().to_string()),
        birth_date,
        country: data.country.as_ref().map(|c| c.expose().clone()),
    }
}

pub(crate) fn open(scope: &TenantScope, row: person::Model) -> Result<Person, IdentityError> {
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
    let jurisdiction =
        open_opt("jurisdiction", &row.jurisdiction_sealed)?.and_then(|j| Jurisdiction::parse(&j));
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
        restricted_at: row.restricted_at,
        jurisdiction,
        country: open_opt("country", &row.country_sealed)?.map(Pii::new),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Seals every personal field of person `id` under the active key into `row`.
pub(super) fn seal_into(
    row: &mut person::ActiveModel,
    scope: &TenantScope,
    id: Uuid,
    data: &Checked,
) {
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
    seal_country(row, scope, id, data.country.as_deref());
    row.key_version = Set(keys.active_version() as i32);
}

/// Seals the person's jurisdiction (`None` clears it) into `row`. The other fields keep the
/// seals they have: the re-sealer reads each seal's own key version.
pub(super) fn seal_jurisdiction(
    row: &mut person::ActiveModel,
    scope: &TenantScope,
    id: Uuid,
    jurisdiction: Option<Jurisdiction>,
) {
    row.jurisdiction_sealed =
        Set(jurisdiction.map(|j| scope.keys().seal_str(TABLE, "jurisdiction", id, j.as_str())));
}

/// Seals the person's country (`None` clears it) into `row`; checked by the caller
/// ([`check_country`]).
pub(super) fn seal_country(
    row: &mut person::ActiveModel,
    scope: &TenantScope,
    id: Uuid,
    country: Option<&str>,
) {
    row.country_sealed = Set(country.map(|c| scope.keys().seal_str(TABLE, "country", id, c)));
}

/// Refuses an email or username another person of the institution already has.
pub(super) async fn ensure_unique(
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

pub(super) async fn write_revision(
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
        country: person.country.clone(),
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

pub(crate) async fn find_by_email(
    scope: &TenantScope,
    email: &str,
) -> Result<Option<Person>, IdentityError> {
    let indexes = scope
        .keys()
        .blind_index_candidates(TABLE, "email", &normalise_email(email));
    find_by_index(scope, person::Column::EmailIndex, indexes).await
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_country_is_two_upper_case_letters_as_the_pattern_says() {
        let pattern = regex::Regex::new(super::super::COUNTRY_PATTERN).unwrap();
        for code in ["DE", "ES", "de", "D", "DEU", "D1", " DE", "ÄB", ""] {
            assert_eq!(valid_country(code), pattern.is_match(code), "{code}");
        }
    }
}
