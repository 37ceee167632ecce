//! What sign-in needs of people: the link from an IdP subject to a person, the record of a
//! sign-in (the IdP's email and roles), and the mark that forces a fresh authentication.

use super::normalise_email;
use super::store::{Checked, ensure_unique, load, seal_into};
use super::{Person, PersonStatus};
use crate::entities::{person, person_identity};
use crate::error::IdentityError;
use crate::roles::{Role, roles_to_text, scopes_of};
use crate::sessions::SessionsToEnd;
use chrono::{DateTime, Utc};
use hub_tenant::{Scope, TenantScope};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

/// The scopes a new session of `person` carries, or `None` when they may not open one. An
/// active person's roles grant theirs. A person whose processing is restricted (R3) was
/// deactivated by it, yet still opens a session carrying no role's scopes: it reaches only
/// what every signed-in person has of their own (their record, consents and privacy
/// requests), so they can see the restriction and ask to lift it from their account (U9).
/// Anyone else deactivated (and an erased shell) opens none.
pub(crate) fn session_scopes(person: &Person) -> Option<Vec<Scope>> {
    match person.status {
        PersonStatus::Active => Some(scopes_of(&person.roles)),
        PersonStatus::Deactivated
            if person.restricted_at.is_some() && !super::is_erased(person) =>
        {
            Some(Vec::new())
        }
        PersonStatus::Deactivated => None,
    }
}

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
/// only at the first sign-in, so a person's own correction (R2) is not overwritten. A change
/// of roles notes the person in `ending`: their older sessions carry the old roles.
pub(crate) async fn record_sign_in(
    scope: &TenantScope,
    person: &Person,
    email: Option<&str>,
    roles: &[Role],
    ending: &mut SessionsToEnd,
) -> Result<Person, IdentityError> {
    if roles != person.roles.as_slice() {
        ending.add(person.id);
    }
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
            country: person.country.as_ref().map(|c| c.expose().clone()),
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
