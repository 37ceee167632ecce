//! `TenantScope`: the only door to a tenant's tables.
//!
//! A scope is one unit of work (a transaction) pinned to one tenant's schema, together with
//! that tenant's keys. It is made only from an authenticated [`TenantPrincipal`] (or, inside
//! this crate, for a background job of that tenant), so a store function that takes
//! `&TenantScope` cannot be called for the wrong tenant or without one.

use crate::data_plane::TenantTxn;
use crate::model::{Actor, Scope, TenantLocation, TenantPrincipal};
use hub_kernel::crypto::TenantKeyRing;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};
use std::sync::Arc;
use uuid::Uuid;

pub struct TenantScope {
    location: TenantLocation,
    actor: Option<Actor>,
    client_ip: Option<String>,
    /// `None` for the platform's own jobs, which are not limited by a credential's scopes.
    scopes: Option<Vec<Scope>>,
    /// What a platform job's scope is for (a deadline's kind), when it is one.
    job: Option<String>,
    txn: TenantTxn,
    keys: Arc<TenantKeyRing>,
    /// The control plane, reached only through this crate's tenant-bound doors
    /// ([`Self::api_keys`]): never handed out.
    control: DatabaseConnection,
}

impl TenantScope {
    pub(crate) fn for_principal(
        principal: &TenantPrincipal,
        txn: TenantTxn,
        keys: Arc<TenantKeyRing>,
        control: DatabaseConnection,
    ) -> Self {
        Self {
            location: principal.location.clone(),
            actor: Some(principal.actor.clone()),
            client_ip: principal.client_ip.clone(),
            scopes: Some(principal.scopes.clone()),
            job: None,
            txn,
            keys,
            control,
        }
    }

    pub(crate) fn for_system(
        location: TenantLocation,
        txn: TenantTxn,
        keys: Arc<TenantKeyRing>,
        control: DatabaseConnection,
    ) -> Self {
        Self {
            location,
            actor: None,
            client_ip: None,
            scopes: None,
            job: None,
            txn,
            keys,
            control,
        }
    }

    pub(crate) fn for_sign_in(
        location: TenantLocation,
        txn: TenantTxn,
        keys: Arc<TenantKeyRing>,
        control: DatabaseConnection,
    ) -> Self {
        Self {
            location,
            actor: None,
            client_ip: None,
            scopes: Some(Vec::new()),
            job: None,
            txn,
            keys,
            control,
        }
    }

    /// Names the job a platform scope serves (see `Tenancy::job_scope`).
    pub(crate) fn for_job(mut self, purpose: &str) -> Self {
        self.job = Some(purpose.to_string());
        self
    }

    /// The job this unit of work serves (`None`: a request, or this crate's own jobs).
    pub fn job_purpose(&self) -> Option<&str> {
        self.job.as_deref()
    }

    /// Scopes are checked in the services, not only at the edge, so no caller can skip them.
    pub fn require(&self, needed: Scope) -> Result<(), crate::TenantError> {
        match &self.scopes {
            Some(scopes) if !scopes.contains(&needed) => {
                Err(crate::TenantError::MissingScope(needed.as_str()))
            }
            _ => Ok(()),
        }
    }

    /// The scopes of the credential acting here (`None`: a platform job, unrestricted).
    pub fn actor_scopes(&self) -> Option<&[Scope]> {
        self.scopes.as_deref()
    }

    pub fn tenant_id(&self) -> Uuid {
        self.location.tenant_id
    }

    /// The database cluster the institution's data lives on.
    pub fn cluster(&self) -> &str {
        &self.location.cluster
    }

    /// Who acts in this unit of work (`None` for the platform's own background jobs).
    pub fn actor(&self) -> Option<&Actor> {
        self.actor.as_ref()
    }

    /// Where the request behind this unit of work came from, when known.
    pub fn client_ip(&self) -> Option<&str> {
        self.client_ip.as_deref()
    }

    /// Records where a sign-in came from (the sign-in scope has no principal to carry it).
    pub fn set_client_ip(&mut self, ip: Option<String>) {
        self.client_ip = ip;
    }

    pub fn actor_label(&self) -> String {
        match (&self.actor, &self.scopes) {
            (Some(actor), _) => actor.label(),
            // Only `for_sign_in` makes a scope with no actor and no scopes.
            (None, Some(scopes)) if scopes.is_empty() => "sign-in".to_string(),
            (None, _) => "system".to_string(),
        }
    }

    /// The transaction, already pointed at this tenant's tables.
    pub fn db(&self) -> &DatabaseTransaction {
        self.txn.db()
    }

    pub fn keys(&self) -> &TenantKeyRing {
        &self.keys
    }

    /// This tenant's API keys in the control plane (the keys' personal-data source reads and
    /// pseudonymises who made them through it). Outside this unit of work's transaction.
    pub(crate) fn api_keys(
        &self,
    ) -> crate::footprint::TenantControlRows<'_, crate::entities::api_key::Entity> {
        crate::footprint::TenantControlRows::bound(
            &self.control,
            self.location.tenant_id,
            crate::entities::api_key::Column::TenantId,
        )
    }

    /// Ends the unit of work: commits it, or, for a read scope (`Tenancy::read`),
    /// ends it without waiting for the database (nothing was written).
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

impl std::fmt::Debug for TenantScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.job {
            Some(job) => write!(f, "TenantScope({}, job {job})", self.location.tenant_id),
            None => write!(f, "TenantScope({})", self.location.tenant_id),
        }
    }
}
