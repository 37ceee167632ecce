//! A signed-in person's own record: read it, correct it, keep their jurisdiction (L1) and
//! country (A1) on it (R2, U9).

use super::store::{check_data, load, seal_into, seal_jurisdiction, write_revision};
use super::{Person, PersonalData, SelfPatch, data_of};
use crate::entities::person;
use crate::error::IdentityError;
use chrono::Utc;
use hub_kernel::problem::Violations;
use hub_tenant::TenantScope;
use sea_orm::ActiveValue::Set;
use uuid::Uuid;

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
        country: patch.country.unwrap_or(own.country),
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
    seal_jurisdiction(
        &mut row,
        scope,
        id,
        patch.jurisdiction.unwrap_or(current.jurisdiction),
    );
    write_revision(scope, id, current.revision, row).await?;
    load(scope, id).await
}

fn self_id(scope: &TenantScope) -> Result<Uuid, IdentityError> {
    scope
        .actor()
        .and_then(|a| a.person_id())
        .ok_or(IdentityError::PersonOnly)
}
