//! People as other crates find them by email ([`hub_tenant::people_lookup::PeopleByEmail`]):
//! the xAPI LRS links a statement to the person its actor's `mbox` names. One read of the
//! email blind index, every address's index under each index-key version held.

use super::TABLE;
use crate::entities::person;
use hub_tenant::TenantScope;
use hub_tenant::contacts::normalise_email;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Identity's answer to [`hub_tenant::people_lookup::PeopleByEmail`].
pub struct PeopleByEmailIndex;

#[async_trait::async_trait]
impl hub_tenant::people_lookup::PeopleByEmail for PeopleByEmailIndex {
    async fn people_by_email(
        &self,
        scope: &TenantScope,
        emails: &HashSet<String>,
    ) -> Result<HashMap<String, Uuid>, hub_tenant::TenantError> {
        let mut by_index: HashMap<Vec<u8>, Vec<&String>> = HashMap::new();
        for email in emails {
            for index in
                scope
                    .keys()
                    .blind_index_candidates(TABLE, "email", &normalise_email(email))
            {
                by_index.entry(index).or_default().push(email);
            }
        }
        if by_index.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(Uuid, Option<Vec<u8>>)> = person::Entity::find()
            .select_only()
            .column(person::Column::Id)
            .column(person::Column::EmailIndex)
            .filter(person::Column::EmailIndex.is_in(by_index.keys().cloned()))
            .into_tuple()
            .all(scope.db())
            .await?;
        let mut found = HashMap::new();
        for (id, index) in rows {
            for email in index.and_then(|i| by_index.get(&i)).into_iter().flatten() {
                found.insert((*email).clone(), id);
            }
        }
        Ok(found)
    }
}
