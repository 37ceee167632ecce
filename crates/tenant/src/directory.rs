//! Looking up an institution that may serve requests: for a person's session (whose tenant
//! comes from the session, never from the request) and for SSO sign-in (whose tenant comes
//! from the sign-in URL or from the flow this service started).

use crate::Tenancy;
use crate::data_plane::Access;
use crate::entities::tenant;
use crate::error::TenantError;
use crate::model::{Actor, SchemaName, Scope, TenantLocation, TenantPrincipal, TenantStatus};
use crate::scope::TenantScope;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Same bound as the API-key cache: a suspension reaches every replica within 5 s.
const TTL: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 100_000;

/// An institution that is active (not suspended, not being offboarded).
#[derive(Debug, Clone)]
pub struct ActiveTenant {
    pub location: TenantLocation,
    pub slug: String,
}

/// When a lookup was made, and what it found.
type Entry = (Instant, Result<ActiveTenant, Refused>);

#[derive(Default)]
pub(crate) struct DirectoryCache {
    entries: RwLock<HashMap<Uuid, Entry>>,
}

#[derive(Debug, Clone, Copy)]
enum Refused {
    Suspended,
    Gone,
}

impl DirectoryCache {
    /// Drops what is known of a tenant (offboarded: its next lookup finds it gone).
    pub(crate) fn forget(&self, id: Uuid) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(&id);
        }
    }
}

impl Refused {
    fn error(self) -> TenantError {
        match self {
            Self::Suspended => TenantError::Suspended,
            Self::Gone => TenantError::NotFound("tenant"),
        }
    }
}

fn active_from_row(row: tenant::Model) -> Result<ActiveTenant, Refused> {
    match TenantStatus::parse(&row.status) {
        TenantStatus::Active => {}
        TenantStatus::Suspended => return Err(Refused::Suspended),
        TenantStatus::Offboarding => return Err(Refused::Gone),
    }
    let schema = SchemaName::parse(&row.schema_name).ok_or(Refused::Gone)?;
    Ok(ActiveTenant {
        location: TenantLocation {
            tenant_id: row.id,
            schema,
            cluster: row.cluster,
        },
        slug: row.slug,
    })
}

impl Tenancy {
    /// The active institution with this id (cached for a few seconds).
    pub async fn active_tenant(&self, id: Uuid) -> Result<ActiveTenant, TenantError> {
        if let Ok(entries) = self.directory.entries.read()
            && let Some((at, outcome)) = entries.get(&id)
            && at.elapsed() < TTL
        {
            return outcome.clone().map_err(Refused::error);
        }
        let row = tenant::Entity::find_by_id(id)
            .one(self.plane().control())
            .await?;
        let outcome = row.map_or(Err(Refused::Gone), active_from_row);
        if let Ok(mut entries) = self.directory.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.retain(|_, (at, _)| at.elapsed() < TTL);
            }
            entries.insert(id, (Instant::now(), outcome.clone()));
        }
        outcome.map_err(Refused::error)
    }

    /// The active institution with this slug (for sign-in URLs that name the institution).
    pub async fn active_tenant_by_slug(&self, slug: &str) -> Result<ActiveTenant, TenantError> {
        let row = tenant::Entity::find()
            .filter(tenant::Column::Slug.eq(slug))
            .one(self.plane().control())
            .await?;
        row.map_or(Err(Refused::Gone), active_from_row)
            .map_err(Refused::error)
    }

    /// The principal of a signed-in person. The tenant comes from the session record.
    pub async fn person_principal(
        &self,
        tenant_id: Uuid,
        actor: Actor,
        scopes: Vec<Scope>,
    ) -> Result<TenantPrincipal, TenantError> {
        let tenant = self.active_tenant(tenant_id).await.map_err(|e| match e {
            TenantError::NotFound(_) => TenantError::Unauthenticated,
            other => other,
        })?;
        self.require_keys(tenant_id).await?;
        Ok(TenantPrincipal {
            location: tenant.location,
            tenant_slug: tenant.slug,
            actor,
            scopes,
            client_ip: None,
        })
    }

    /// The active institution with this slug, for what it publishes to anyone (its privacy
    /// contact, its signing keys). A suspended institution publishes nothing and answers as an
    /// unknown one does, so a public door does not tell which slugs exist.
    pub(crate) async fn publishing_tenant(&self, slug: &str) -> Result<ActiveTenant, TenantError> {
        self.active_tenant_by_slug(slug).await.map_err(|e| match e {
            TenantError::Suspended | TenantError::NotFound(_) => TenantError::NotFound("tenant"),
            other => other,
        })
    }

    /// A read-only unit of work on the active institution with this slug, with no actor and
    /// no scopes, for what an institution publishes to anyone (where to raise a privacy
    /// concern): no operation that checks a scope can run in it, and PostgreSQL refuses any
    /// write in it.
    pub async fn public_scope(&self, slug: &str) -> Result<TenantScope, TenantError> {
        let tenant = self.publishing_tenant(slug).await?;
        let keys = self.key_ring(tenant.location.tenant_id).await?;
        let txn = self
            .plane()
            .begin_tenant(&tenant.location, Access::ReadOnly)
            .await?;
        Ok(TenantScope::for_sign_in(
            tenant.location.clone(),
            txn,
            keys,
            self.plane().control().clone(),
        ))
    }

    /// A unit of work for signing someone in: no actor yet and no scopes, so no operation
    /// that checks a scope can run in it; only the identity crate's sign-in steps use it.
    pub async fn sign_in_scope(&self, tenant: &ActiveTenant) -> Result<TenantScope, TenantError> {
        let keys = self.key_ring(tenant.location.tenant_id).await?;
        let txn = self
            .plane()
            .begin_tenant(&tenant.location, Access::ReadWrite)
            .await?;
        Ok(TenantScope::for_sign_in(
            tenant.location.clone(),
            txn,
            keys,
            self.plane().control().clone(),
        ))
    }
}
