//! Minors and their guardians (A1). This module owns:
//! - the institution's table of digital-consent ages by country (ISO 3166-1 alpha-2; a
//!   country with no row has the default, [`DEFAULT_DIGITAL_CONSENT_AGE`]);
//! - the answer to "is this person a minor now" ([`status`]): whole years since their birth
//!   date against the age of their country. A person's country is the one kept on their
//!   record (`country`, set at creation, by an admin or by the person, sealed like the
//!   birth date); else the one their jurisdiction names (`uk` → GB, `us_ca` → US); a
//!   person with neither, or whose jurisdiction names no single country (`eu`, `other`,
//!   none), falls under the institution's home country (the row marked `home`), else the
//!   default. A person with no birth date is treated as an adult: the institution records
//!   a birth date for the people it enrols as young learners, and nobody else's age is
//!   guessed;
//! - guardian consent: a single-use, expiring token mailed to the guardian through the
//!   outbox (an essential message; the address sealed, the token kept only as its hash),
//!   confirmed through a public endpoint. Until one is confirmed, the consent gate refuses
//!   every consentable purpose for the minor ([`hub_tenant::Tenancy::may_use`]).
//! - the guardian as a person: at confirmation the guardian is the person named at the
//!   request, else the person of the institution with the guardian's address, else a new
//!   person with that address (source `guardian_consent`), and holds the guardian role
//!   (granted at confirmation if they lacked it, audited; not to a person whose processing
//!   is restricted, R3). They are the minor's verified guardian ([`Minors::is_guardian_of`])
//!   and read that minor's progress (the learning crate's
//!   `progress::service::minor_progress_for_guardian`) once signed in. A guardian created
//!   here has no password: they get in as anyone the institution creates does, by a
//!   password reset mailed to their address where local accounts are allowed, else at
//!   their first SSO sign-in (linked to them by the verified email).

use crate::Identity;
use crate::entities::{digital_consent_age, guardian_consent, person};
use crate::error::{IdentityError, Refusal};
use crate::outbox;
use crate::people::store::{self, valid_country};
use crate::people::{self, PersonSource, PersonalData};
use crate::roles::Role;
use crate::sessions::{Change, SessionsToEnd};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hub_kernel::problem::Violations;
use hub_kernel::{FieldViolation, Pii};
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::minors::{MinorDirectory, MinorStatus};
use hub_tenant::personal_data::Jurisdiction;
use hub_tenant::{Scope, Tenancy, TenantError, TenantScope};
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The age of digital consent where the institution's table has no row for a country: the
/// GDPR's default (Art. 8(1)).
pub const DEFAULT_DIGITAL_CONSENT_AGE: u32 = 16;
/// The lowest age the table accepts: the lowest any member state may set under GDPR Art.
/// 8(1), and COPPA's threshold in the US. Below it no law treats consent as the child's own.
pub const MIN_DIGITAL_CONSENT_AGE: u32 = 13;
/// The highest: the highest age of majority in force anywhere; beyond it the table would
/// treat adults as children.
pub const MAX_DIGITAL_CONSENT_AGE: u32 = 21;
/// At most one row per ISO 3166-1 country (249 assigned codes).
pub const MAX_COUNTRIES: usize = 249;
/// A country code as [`replace_consent_ages`] accepts it, as a regex.
pub const COUNTRY_PATTERN: &str = "^[A-Z]{2}$";
/// How long a guardian has to confirm.
pub const GUARDIAN_TOKEN_DAYS: i64 = 7;
pub const GUARDIAN_CONSENTS_TABLE: &str = "guardian_consents";

/// One row of the institution's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentAge {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    pub age: u32,
    /// The institution's own country (at most one).
    pub home: bool,
}

/// The institution's table, by country. Requires `people:read`.
pub async fn consent_ages(scope: &TenantScope) -> Result<Vec<ConsentAge>, IdentityError> {
    scope.require(Scope::PeopleRead)?;
    rows(scope).await
}

async fn rows(scope: &TenantScope) -> Result<Vec<ConsentAge>, IdentityError> {
    Ok(digital_consent_age::Entity::find()
        .order_by_asc(digital_consent_age::Column::Country)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|r| ConsentAge {
            country: r.country,
            age: u32::try_from(r.age).unwrap_or(DEFAULT_DIGITAL_CONSENT_AGE),
            home: r.home,
        })
        .collect())
}

/// Replaces the whole table (validated: each country an upper-case ISO 3166-1 alpha-2
/// code, once; each age within [`MIN_DIGITAL_CONSENT_AGE`]..=[`MAX_DIGITAL_CONSENT_AGE`];
/// at most one home). Requires `people:write`; audited.
pub async fn replace_consent_ages(
    scope: &TenantScope,
    ages: Vec<ConsentAge>,
) -> Result<Vec<ConsentAge>, IdentityError> {
    scope.require(Scope::PeopleWrite)?;
    let mut v = Violations::new();
    v.check(
        ages.len() <= MAX_COUNTRIES,
        "ages",
        &format!("at most {MAX_COUNTRIES} countries"),
    );
    for (i, row) in ages.iter().enumerate() {
        v.check(
            valid_country(&row.country),
            &format!("ages[{i}].country"),
            "an ISO 3166-1 alpha-2 code in upper case, e.g. DE",
        );
        v.check(
            !ages[..i].iter().any(|r| r.country == row.country),
            &format!("ages[{i}].country"),
            "each country at most once",
        );
        v.check(
            (MIN_DIGITAL_CONSENT_AGE..=MAX_DIGITAL_CONSENT_AGE).contains(&row.age),
            &format!("ages[{i}].age"),
            "between 13 and 21",
        );
        v.check(
            !(row.home && ages[..i].iter().any(|r| r.home)),
            &format!("ages[{i}].home"),
            "at most one home country",
        );
    }
    v.finish().map_err(IdentityError::Invalid)?;
    digital_consent_age::Entity::delete_many()
        .exec(scope.db())
        .await?;
    for row in &ages {
        digital_consent_age::Entity::insert(digital_consent_age::ActiveModel {
            country: Set(row.country.clone()),
            age: Set(row.age as i32),
            home: Set(row.home),
        })
        .exec_without_returning(scope.db())
        .await?;
    }
    audit::record(
        scope,
        AuditEvent::new("digital_consent_ages.replaced").detail(serde_json::json!({
            "ages": ages.iter().map(|r| serde_json::json!({
                "country": r.country, "age": r.age, "home": r.home,
            })).collect::<Vec<_>>(),
        })),
    )
    .await?;
    rows(scope).await
}

/// The one country a jurisdiction names, if it names one.
fn country_of(jurisdiction: Option<Jurisdiction>) -> Option<&'static str> {
    match jurisdiction {
        Some(Jurisdiction::Uk) => Some("GB"),
        Some(Jurisdiction::UsCa) => Some("US"),
        _ => None,
    }
}

/// The digital-consent age of a person with this country of their own and this
/// jurisdiction (module doc).
fn consent_age_for(
    table: &[ConsentAge],
    own_country: Option<&str>,
    jurisdiction: Option<Jurisdiction>,
) -> u32 {
    let row = match own_country.or(country_of(jurisdiction)) {
        Some(country) => table.iter().find(|r| r.country == country),
        None => table.iter().find(|r| r.home),
    };
    row.map_or(DEFAULT_DIGITAL_CONSENT_AGE, |r| r.age)
}

/// Whole years from `birth` to `today` (0 before the first birthday, or for a birth date in
/// the future).
fn age_on(birth: chrono::NaiveDate, today: chrono::NaiveDate) -> u32 {
    today.years_since(birth).unwrap_or(0)
}

/// Whether the person is a minor now and has a guardian's consent (module doc). No scope:
/// the rules that depend on it (the consent gate, the catalogue) ask it for whoever acts.
pub async fn status(
    scope: &TenantScope,
    person_id: Uuid,
    now: DateTime<Utc>,
) -> Result<MinorStatus, IdentityError> {
    let Some(row) = person::Entity::find_by_id(person_id)
        .one(scope.db())
        .await?
    else {
        return Ok(MinorStatus::UNKNOWN);
    };
    let person = store::open(scope, row)?;
    let Some(birth) = person.birth_date.as_ref() else {
        return Ok(MinorStatus::UNKNOWN);
    };
    let age = age_on(*birth.expose(), now.date_naive());
    let own_country = person.country.as_ref().map(|c| c.expose().as_str());
    let minor = age < consent_age_for(&rows(scope).await?, own_country, person.jurisdiction);
    let guardian_consent = minor
        && guardian_consent::Entity::find()
            .filter(guardian_consent::Column::MinorPersonId.eq(person_id))
            .filter(guardian_consent::Column::ConfirmedAt.is_not_null())
            .count(scope.db())
            .await?
            > 0;
    Ok(MinorStatus {
        age: Some(age),
        minor,
        guardian_consent,
    })
}

/// The minors port as the tenancy asks it (registered by the gateway at start).
pub struct Minors;

#[async_trait::async_trait]
impl MinorDirectory for Minors {
    async fn status(
        &self,
        scope: &TenantScope,
        person: Uuid,
        now: DateTime<Utc>,
    ) -> Result<MinorStatus, TenantError> {
        status(scope, person, now).await.map_err(|e| match e {
            IdentityError::Tenant(t) => t,
            IdentityError::Database(db) => TenantError::Database(db),
            other => TenantError::Conflict(format!("minors: {other}")),
        })
    }

    async fn is_guardian_of(
        &self,
        scope: &TenantScope,
        guardian: Uuid,
        minor: Uuid,
    ) -> Result<bool, TenantError> {
        Ok(guardian_consent::Entity::find()
            .filter(guardian_consent::Column::MinorPersonId.eq(minor))
            .filter(guardian_consent::Column::GuardianPersonId.eq(guardian))
            .filter(guardian_consent::Column::ConfirmedAt.is_not_null())
            .count(scope.db())
            .await
            .map_err(TenantError::Database)?
            > 0)
    }
}

/// The person of the institution with the guardian's address, if there is one: the
/// guardian's link to the minor (they observe the minor's progress with the guardian role).
async fn guardian_person(
    scope: &TenantScope,
    guardian_email: &str,
) -> Result<Option<Uuid>, IdentityError> {
    Ok(crate::people::find_by_email(scope, guardian_email)
        .await?
        .map(|p| p.id))
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A guardian consent that was asked for.
#[derive(Debug, Clone)]
pub struct GuardianConsentRequest {
    pub id: Uuid,
    pub minor_person_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// Asks a guardian to consent for a minor: mails them a single-use token valid for
/// [`GUARDIAN_TOKEN_DAYS`] days. The minor asks for themselves; anyone else needs
/// `people:write` (an admin). Refused (409) for a person who is not a minor now.
pub async fn request_guardian_consent(
    tenancy: &Tenancy,
    scope: &TenantScope,
    minor_id: Uuid,
    guardian_email: &str,
) -> Result<GuardianConsentRequest, IdentityError> {
    let caller = scope.actor().and_then(|a| a.person_id());
    if caller != Some(minor_id) {
        scope.require(Scope::PeopleWrite)?;
    }
    let mut v = Violations::new();
    hub_tenant::contacts::check_email(&mut v, guardian_email);
    v.finish().map_err(|mut violations| {
        for f in &mut violations {
            f.field = "guardian_email".into();
        }
        IdentityError::Invalid(violations)
    })?;
    let guardian_email = guardian_email.trim();
    let minor = store::load(scope, minor_id).await?;
    let now = Utc::now();
    if !status(scope, minor_id, now).await?.minor {
        return Err(IdentityError::Conflict(
            "the person is not a minor: consent is theirs to give".into(),
        ));
    }
    if minor
        .email
        .as_ref()
        .is_some_and(|e| e.expose().eq_ignore_ascii_case(guardian_email))
    {
        return Err(IdentityError::Invalid(vec![FieldViolation::new(
            "guardian_email",
            "must not be the minor's own address",
        )]));
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let id = Uuid::now_v7();
    let expires_at = now + Duration::days(GUARDIAN_TOKEN_DAYS);
    guardian_consent::Entity::insert(guardian_consent::ActiveModel {
        id: Set(id),
        minor_person_id: Set(minor_id),
        guardian_email_sealed: Set(scope.keys().seal_str(
            GUARDIAN_CONSENTS_TABLE,
            "guardian_email",
            id,
            guardian_email,
        )),
        token_hash: Set(token_hash(&token)),
        requested_by: Set(scope.actor_label()),
        requested_at: Set(now),
        expires_at: Set(expires_at),
        confirmed_at: Set(None),
        guardian_person_id: Set(guardian_person(scope, guardian_email)
            .await?
            .filter(|g| *g != minor_id)),
    })
    .exec_without_returning(scope.db())
    .await?;
    let text = format!(
        "You are named as the parent or guardian of a learner of this institution, who is \
         under the age of digital consent. To consent to the processing of their data beyond \
         what the service needs to run, confirm within {GUARDIAN_TOKEN_DAYS} days with this \
         code: {token} — if you are not their guardian, ignore this message."
    );
    outbox::queue(
        tenancy,
        scope,
        outbox::NewMessage {
            kind: "guardian_consent",
            purpose: outbox::MessagePurpose::Essential,
            person_id: minor_id,
            email: Some(guardian_email),
            subject: "A learner asks for your consent",
            text: &text,
        },
    )
    .await?;
    audit::record(
        scope,
        AuditEvent::new("guardian_consent.requested")
            .person(minor_id)
            .detail(serde_json::json!({"consent_id": id, "expires_at": expires_at})),
    )
    .await?;
    Ok(GuardianConsentRequest {
        id,
        minor_person_id: minor_id,
        expires_at,
    })
}

/// Whether a stored consent can still be confirmed at `now`.
fn confirmable(row: &guardian_consent::Model, now: DateTime<Utc>) -> bool {
    row.confirmed_at.is_none() && row.expires_at > now
}

/// Confirms a guardian's consent for a minor of the institution with this slug (public:
/// the guardian holds no credential, only the mailed token). An unknown institution
/// answers like an unknown token. The sessions a role granted to an existing guardian
/// requires ending end once the confirmation is committed.
pub async fn confirm_for_institution(
    identity: &Identity,
    tenant_slug: &str,
    token: &str,
) -> Result<Uuid, IdentityError> {
    let tenant = identity
        .tenancy
        .active_tenant_by_slug(tenant_slug)
        .await
        .map_err(|e| match e {
            TenantError::NotFound(_) => IdentityError::refused(
                Refusal::GuardianToken,
                "the code is unknown, used or expired; ask for a new one",
            ),
            other => other.into(),
        })?;
    let scope = identity.tenancy.sign_in_scope(&tenant).await?;
    let change = confirm_guardian_consent(&scope, token).await?;
    identity.commit(scope, change).await
}

/// Confirms a guardian's consent with the mailed token, in the sign-in scope of the
/// institution the token was sent for. Single use: an unknown, used or lapsed token is
/// refused (`guardian_token_invalid`) and changes nothing; the token is claimed before
/// anything else is written, so a replay creates nobody. The guardian becomes the minor's
/// linked guardian with the guardian role ([`guardian_at_confirmation`]). Returns the
/// minor's id, with the sessions to end when it is committed.
pub async fn confirm_guardian_consent(
    scope: &TenantScope,
    token: &str,
) -> Result<Change<Uuid>, IdentityError> {
    let invalid = || {
        IdentityError::refused(
            Refusal::GuardianToken,
            "the code is unknown, used or expired; ask for a new one",
        )
    };
    if token.is_empty() || token.len() > 100 {
        return Err(invalid());
    }
    let hash = token_hash(token);
    let now = Utc::now();
    let row = guardian_consent::Entity::find()
        .filter(guardian_consent::Column::TokenHash.eq(hash.clone()))
        .one(scope.db())
        .await?
        .filter(|r| confirmable(r, now))
        .ok_or_else(invalid)?;
    let claimed = guardian_consent::Entity::update_many()
        .col_expr(guardian_consent::Column::ConfirmedAt, Expr::value(now))
        .filter(guardian_consent::Column::TokenHash.eq(hash))
        .filter(guardian_consent::Column::ConfirmedAt.is_null())
        .exec(scope.db())
        .await?;
    if claimed.rows_affected != 1 {
        return Err(invalid());
    }
    let email = scope.keys().open_str(
        GUARDIAN_CONSENTS_TABLE,
        "guardian_email",
        row.id,
        &row.guardian_email_sealed,
    )?;
    let mut ending = SessionsToEnd::default();
    let guardian = guardian_at_confirmation(scope, &row, &email, &mut ending).await?;
    guardian_consent::Entity::update_many()
        .col_expr(
            guardian_consent::Column::GuardianPersonId,
            Expr::value(guardian.person_id),
        )
        .filter(guardian_consent::Column::Id.eq(row.id))
        .exec(scope.db())
        .await?;
    audit::record(
        scope,
        AuditEvent::new("guardian_consent.confirmed")
            .person(row.minor_person_id)
            .detail(serde_json::json!({
                "consent_id": row.id,
                "guardian_person_id": guardian.person_id,
                "guardian_created": guardian.created,
                "guardian_role_granted": guardian.role_granted,
            })),
    )
    .await?;
    Ok(Change::new(row.minor_person_id, ending))
}

/// Who the guardian is once they confirmed, and what the confirmation did for them.
struct ConfirmedGuardian {
    /// `None` only when the address is now the minor's own (nobody is linked).
    person_id: Option<Uuid>,
    created: bool,
    role_granted: bool,
}

/// The guardian as a person of the institution, with the guardian role: the person named
/// at the request if they are still there, else the one with the guardian's address, else
/// a new person with that address (name: the address, until they correct it; source
/// `guardian_consent`), each audited. An existing person lacking the role is granted it
/// (their sessions end: they carry the scopes granted at sign-in), unless processing of
/// their data is restricted (R3), when they are linked without it. The new person gets in
/// as anyone the institution creates does: a password reset by the address where local
/// accounts are allowed, else their first SSO sign-in (linked by verified email).
async fn guardian_at_confirmation(
    scope: &TenantScope,
    row: &guardian_consent::Model,
    email: &str,
    ending: &mut SessionsToEnd,
) -> Result<ConfirmedGuardian, IdentityError> {
    let named = match row.guardian_person_id {
        Some(id) => person::Entity::find_by_id(id)
            .one(scope.db())
            .await?
            .map(|r| store::open(scope, r))
            .transpose()?
            .filter(|p| !people::is_erased(p)),
        None => None,
    };
    let existing = match named {
        Some(p) => Some(p),
        None => people::find_by_email(scope, email).await?,
    };
    let Some(existing) = existing else {
        let data = PersonalData {
            name: Pii::new(email.chars().take(people::MAX_NAME).collect()),
            email: Some(Pii::new(email.to_string())),
            ..Default::default()
        };
        let created = people::insert(
            scope,
            &data,
            &[Role::Guardian.as_str().to_string()],
            PersonSource::GuardianConsent,
        )
        .await?;
        audit::record(
            scope,
            AuditEvent::new("person.created")
                .person(created.id)
                .detail(serde_json::json!({
                    "roles": Role::Guardian.as_str(),
                    "guardian_of": row.minor_person_id,
                })),
        )
        .await?;
        return Ok(ConfirmedGuardian {
            person_id: Some(created.id),
            created: true,
            role_granted: true,
        });
    };
    if existing.id == row.minor_person_id {
        return Ok(ConfirmedGuardian {
            person_id: None,
            created: false,
            role_granted: false,
        });
    }
    let lacks_role = !existing.roles.contains(&Role::Guardian);
    let role_granted = lacks_role && existing.restricted_at.is_none();
    if role_granted {
        let mut roles = existing.roles.clone();
        roles.push(Role::Guardian);
        let granted =
            people::set_status_and_roles(scope, &existing, existing.status, &roles, ending).await?;
        audit::record(
            scope,
            AuditEvent::new("person.administered")
                .person(granted.id)
                .detail(serde_json::json!({
                    "roles": crate::roles::roles_to_text(&granted.roles),
                    "status": granted.status.as_str(),
                    "guardian_of": row.minor_person_id,
                    "sessions_ended": !ending.people().is_empty(),
                })),
        )
        .await?;
    }
    Ok(ConfirmedGuardian {
        person_id: Some(existing.id),
        created: false,
        role_granted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn age_counts_whole_years_and_the_birthday_itself() {
        assert_eq!(age_on(date(2010, 6, 15), date(2026, 6, 14)), 15);
        assert_eq!(age_on(date(2010, 6, 15), date(2026, 6, 15)), 16);
        assert_eq!(age_on(date(2030, 1, 1), date(2026, 6, 15)), 0);
    }

    #[test]
    fn a_persons_country_is_their_jurisdictions_or_the_institutions_home() {
        let table = vec![
            ConsentAge {
                country: "GB".into(),
                age: 13,
                home: false,
            },
            ConsentAge {
                country: "FR".into(),
                age: 15,
                home: true,
            },
        ];
        assert_eq!(consent_age_for(&table, None, Some(Jurisdiction::Uk)), 13);
        assert_eq!(consent_age_for(&table, None, Some(Jurisdiction::Eu)), 15);
        assert_eq!(consent_age_for(&table, None, None), 15);
        assert_eq!(consent_age_for(&table, None, Some(Jurisdiction::UsCa)), 16);
        assert_eq!(
            consent_age_for(&[], None, None),
            DEFAULT_DIGITAL_CONSENT_AGE
        );
    }

    #[test]
    fn a_persons_own_country_comes_before_their_jurisdictions() {
        let table = vec![
            ConsentAge {
                country: "GB".into(),
                age: 13,
                home: false,
            },
            ConsentAge {
                country: "ES".into(),
                age: 14,
                home: false,
            },
            ConsentAge {
                country: "FR".into(),
                age: 15,
                home: true,
            },
        ];
        assert_eq!(
            consent_age_for(&table, Some("ES"), Some(Jurisdiction::Uk)),
            14
        );
        assert_eq!(consent_age_for(&table, Some("ES"), None), 14);
        // A country of their own with no row has the default, not the home country's age.
        assert_eq!(
            consent_age_for(&table, Some("DE"), Some(Jurisdiction::Uk)),
            16
        );
        assert_eq!(consent_age_for(&table, None, Some(Jurisdiction::Uk)), 13);
    }

    #[test]
    fn a_token_confirms_once_and_not_after_it_lapsed() {
        let now = Utc::now();
        let row = guardian_consent::Model {
            id: Uuid::now_v7(),
            minor_person_id: Uuid::now_v7(),
            guardian_email_sealed: Vec::new(),
            token_hash: token_hash("t"),
            requested_by: "admin".into(),
            requested_at: now,
            expires_at: now + Duration::days(GUARDIAN_TOKEN_DAYS),
            confirmed_at: None,
            guardian_person_id: None,
        };
        assert!(confirmable(&row, now));
        assert!(!confirmable(
            &row,
            now + Duration::days(GUARDIAN_TOKEN_DAYS)
        ));
        let used = guardian_consent::Model {
            confirmed_at: Some(now),
            ..row
        };
        assert!(!confirmable(&used, now));
    }
}
