//! Tenant footprints: the control-plane rows that name a tenant, declared by the crate that
//! owns them, and the one guarded door to those rows.
//!
//! Every crate that keeps rows about a tenant in the control plane declares them once as a
//! [`ControlFootprint`] (table and the column holding the tenant id); the gateway registers
//! each crate's declarations with [`Tenancy::register_control_footprints`]. Offboarding then
//! erases every registered footprint in one transaction ([`erase_all`]), so a crate that adds
//! such a table cannot be forgotten by offboarding's code: only by its own declaration, and
//! the offboarding test reads the whole control plane afterwards and fails on any row that
//! still names the tenant.
//!
//! Short-lived state outside the databases (sessions in the session store) is declared the
//! same way, as an [`EphemeralFootprint`], and erased by offboarding too.
//!
//! The same declarations guard access: crates above this one never get the control-plane
//! connection. They reach their rows through [`TenantControlRows`], handed out only for a
//! registered table and bound to one tenant (every query, update and delete filtered by its
//! tenant column, every insert stamped with it), or, for lookups that cross tenants by design
//! (a verified email domain routes to one institution), through the explicitly named
//! read-only [`Tenancy::control_rows_across_tenants`].

use crate::Tenancy;
use crate::error::TenantError;
use crate::scope::TenantScope;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DeleteMany, EntityTrait,
    IdenStatic, QueryFilter, QueryTrait, Select, UpdateMany,
};
use std::str::FromStr;
use uuid::Uuid;

/// A control-plane table holding rows about tenants, and the column naming the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlFootprint {
    pub table: &'static str,
    pub tenant_column: &'static str,
}

/// This crate's own footprints (the registry row itself and the deletion record are not
/// footprints: offboarding removes the one last and keeps the other on purpose).
pub const CONTROL_FOOTPRINT: &[ControlFootprint] = &[
    ControlFootprint {
        table: "api_keys",
        tenant_column: "tenant_id",
    },
    ControlFootprint {
        table: "deadlines",
        tenant_column: "tenant_id",
    },
    ControlFootprint {
        table: "jobs",
        tenant_column: "tenant_id",
    },
];

/// Short-lived state a crate keeps about tenants outside the databases (sessions in the
/// session store, say), declared like a [`ControlFootprint`]: offboarding asks each
/// registered one to erase what names the tenant. Best effort: such state is sealed under the
/// tenant's keys (destroyed first) and expires by itself, so an outage of its store is logged
/// and does not stop an offboarding.
pub trait EphemeralFootprint: Send + Sync {
    /// What it is, for the log.
    fn name(&self) -> &'static str;
    /// Erases every entry naming the tenant; returns how many.
    fn erase_tenant(
        &self,
        tenant: Uuid,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, String>> + Send + '_>>;
}

/// Deletes every registered footprint's rows of one tenant on `db` (the caller's
/// transaction). Returns the rows deleted per table.
pub(crate) async fn erase_all<C: ConnectionTrait>(
    db: &C,
    footprints: &[ControlFootprint],
    tenant: Uuid,
) -> Result<Vec<(&'static str, u64)>, TenantError> {
    let mut erased = Vec::with_capacity(footprints.len());
    for footprint in footprints {
        let statement = Query::delete()
            .from_table(Alias::new(footprint.table))
            .and_where(Expr::col(Alias::new(footprint.tenant_column)).eq(tenant))
            .to_owned();
        let result = db.execute(&statement).await?;
        erased.push((footprint.table, result.rows_affected()));
    }
    Ok(erased)
}

/// One tenant's rows of one registered control-plane table. Nothing through it reads or
/// changes another tenant's rows.
pub struct TenantControlRows<'a, E: EntityTrait> {
    control: &'a DatabaseConnection,
    tenant: Uuid,
    column: E::Column,
}

impl<'a, E: EntityTrait> TenantControlRows<'a, E> {
    /// The door to one of this crate's own footprint tables, for one tenant.
    pub(crate) fn bound(control: &'a DatabaseConnection, tenant: Uuid, column: E::Column) -> Self {
        Self {
            control,
            tenant,
            column,
        }
    }

    /// The tenant's rows that `refine` selects (the tenant filter is added after it).
    pub async fn find(
        &self,
        refine: impl FnOnce(Select<E>) -> Select<E>,
    ) -> Result<Vec<E::Model>, TenantError> {
        Ok(refine(E::find())
            .filter(self.column.eq(self.tenant))
            .all(self.control)
            .await?)
    }

    pub async fn find_one(
        &self,
        refine: impl FnOnce(Select<E>) -> Select<E>,
    ) -> Result<Option<E::Model>, TenantError> {
        Ok(refine(E::find())
            .filter(self.column.eq(self.tenant))
            .one(self.control)
            .await?)
    }

    /// Inserts a row for this tenant; the tenant column is set here, whatever it held.
    pub async fn insert<A>(&self, mut row: A) -> Result<(), TenantError>
    where
        A: ActiveModelTrait<Entity = E> + Send,
    {
        row.set(self.column, self.tenant.into());
        E::insert(row).exec_without_returning(self.control).await?;
        Ok(())
    }

    /// Updates the tenant's rows that `refine` sets and selects. Returns how many. An
    /// update that sets the tenant column (a whole model given to `set`, say) is refused:
    /// it would move the rows to another tenant, out of this door's reach.
    pub async fn update(
        &self,
        refine: impl FnOnce(UpdateMany<E>) -> UpdateMany<E>,
    ) -> Result<u64, TenantError> {
        let update = refine(E::update_many());
        let tenant_column = self.column.as_str();
        if update
            .as_query()
            .get_values()
            .iter()
            .any(|(column, _)| column.inner() == tenant_column)
        {
            return Err(TenantError::Conflict(format!(
                "an update of {} may not set {tenant_column}",
                E::default().table_name()
            )));
        }
        Ok(update
            .filter(self.column.eq(self.tenant))
            .exec(self.control)
            .await?
            .rows_affected)
    }

    /// Deletes the tenant's rows that `refine` selects. Returns how many.
    pub async fn delete(
        &self,
        refine: impl FnOnce(DeleteMany<E>) -> DeleteMany<E>,
    ) -> Result<u64, TenantError> {
        Ok(refine(E::delete_many())
            .filter(self.column.eq(self.tenant))
            .exec(self.control)
            .await?
            .rows_affected)
    }
}

impl Tenancy {
    /// Adds a crate's control-plane footprints to what offboarding erases and to the tables
    /// [`Self::control_rows`] opens. Called once at start, before the service is shared.
    pub fn register_control_footprints(&mut self, footprints: &[ControlFootprint]) {
        for footprint in footprints {
            if !self.footprints.contains(footprint) {
                self.footprints.push(*footprint);
            }
        }
    }

    /// Adds a crate's short-lived state to what offboarding erases. Takes `&self`: the crates
    /// holding such state are built on the shared service.
    pub fn register_ephemeral_footprint(&self, footprint: std::sync::Arc<dyn EphemeralFootprint>) {
        if let Ok(mut registered) = self.ephemeral_footprints.write() {
            registered.push(footprint);
        }
    }

    /// Asks every registered [`EphemeralFootprint`] to erase the tenant's entries; a failure
    /// is logged and left to expire.
    pub(crate) async fn erase_ephemeral_footprints(&self, tenant: Uuid) {
        let registered = self
            .ephemeral_footprints
            .read()
            .map(|r| r.clone())
            .unwrap_or_default();
        for footprint in registered {
            match footprint.erase_tenant(tenant).await {
                Ok(erased) => {
                    tracing::info!(%tenant, store = footprint.name(), erased, "short-lived state erased");
                }
                Err(error) => {
                    tracing::warn!(%tenant, store = footprint.name(), %error, "short-lived state not erased; it expires by itself");
                }
            }
        }
    }

    /// Every registered control-plane footprint.
    pub fn control_footprints(&self) -> &[ControlFootprint] {
        &self.footprints
    }

    fn footprint_column<E: EntityTrait>(&self) -> Result<E::Column, TenantError> {
        let table = E::default().table_name();
        let footprint = self
            .footprints
            .iter()
            .find(|f| f.table == table)
            .ok_or_else(|| {
                TenantError::Conflict(format!(
                    "control-plane table {table} is not a registered tenant footprint"
                ))
            })?;
        E::Column::from_str(footprint.tenant_column).map_err(|_| {
            TenantError::Conflict(format!("{table} has no column {}", footprint.tenant_column))
        })
    }

    /// The scope's tenant's rows of a registered control-plane table.
    pub fn control_rows<E: EntityTrait>(
        &self,
        scope: &TenantScope,
    ) -> Result<TenantControlRows<'_, E>, TenantError> {
        Ok(TenantControlRows {
            control: self.plane.control(),
            tenant: scope.tenant_id(),
            column: self.footprint_column::<E>()?,
        })
    }

    /// Reads rows of a registered control-plane table whatever their tenant: for lookups
    /// that cross tenants by design (which institution verified this domain?). Read-only.
    pub async fn control_rows_across_tenants<E: EntityTrait>(
        &self,
        refine: impl FnOnce(Select<E>) -> Select<E>,
    ) -> Result<Vec<E::Model>, TenantError> {
        self.footprint_column::<E>()?;
        Ok(refine(E::find()).all(self.plane.control()).await?)
    }
}

/// A registered control-plane table that is a platform queue: its rows arrive before anyone
/// knows their tenant (Stripe delivers every webhook event to one endpoint of the platform),
/// are routed to one afterwards (its tenant column, so offboarding still erases what names
/// the tenant) and are claimed by whichever replica works next. The platform's own workers
/// read and write it across tenants; what they do inside a tenant still goes through that
/// tenant's scope. Handed out only for a table registered as a footprint.
pub struct PlatformQueue<'a, E: EntityTrait> {
    control: &'a DatabaseConnection,
    _entity: std::marker::PhantomData<E>,
}

impl<E: EntityTrait> PlatformQueue<'_, E> {
    pub async fn find(
        &self,
        refine: impl FnOnce(Select<E>) -> Select<E>,
    ) -> Result<Vec<E::Model>, TenantError> {
        Ok(refine(E::find()).all(self.control).await?)
    }

    pub async fn find_one(
        &self,
        refine: impl FnOnce(Select<E>) -> Select<E>,
    ) -> Result<Option<E::Model>, TenantError> {
        Ok(refine(E::find()).one(self.control).await?)
    }

    /// Inserts a row; `Ok(false)` when its primary key is there already (a redelivery).
    pub async fn insert_new<A>(&self, row: A) -> Result<bool, TenantError>
    where
        A: ActiveModelTrait<Entity = E> + Send,
    {
        match E::insert(row).exec_without_returning(self.control).await {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.sql_err(),
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Updates the rows `refine` sets and selects (a conditional update is how a worker
    /// claims a row: one statement, the same on PostgreSQL and SQLite). Returns how many.
    pub async fn update(
        &self,
        refine: impl FnOnce(UpdateMany<E>) -> UpdateMany<E>,
    ) -> Result<u64, TenantError> {
        Ok(refine(E::update_many())
            .exec(self.control)
            .await?
            .rows_affected)
    }
}

impl Tenancy {
    /// The door to a registered control-plane table that is a platform queue
    /// ([`PlatformQueue`]).
    pub fn platform_queue<E: EntityTrait>(&self) -> Result<PlatformQueue<'_, E>, TenantError> {
        self.footprint_column::<E>()?;
        Ok(PlatformQueue {
            control: self.plane.control(),
            _entity: std::marker::PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::{api_key, tenant};
    use crate::model::{NewTenant, Principal};
    use crate::{KeyStoreLocation, StorageConfig, TenantPrincipal};
    use hub_kernel::crypto::{KeyMaterial, LocalKek};
    use sea_orm::ActiveValue::Set;
    use std::sync::Arc;

    async fn tenant_principal(tenancy: &Tenancy, token: &str) -> TenantPrincipal {
        match tenancy.authenticate(token).await.expect("a valid token") {
            Principal::Tenant(p) => p,
            Principal::Operator(_) => panic!("not a tenant key"),
        }
    }

    /// The door a crate above this one gets: bound to the scope's tenant for every read,
    /// write and delete, whatever the caller's own filters say, and only for a registered
    /// footprint table. Embedded storage: the type is what is under test; the API tests run
    /// the same door on both backends (home-realm discovery's domain claims).
    #[tokio::test]
    async fn control_rows_never_reach_another_tenants_rows() {
        let dir = std::env::temp_dir().join(format!("hub-footprint-{}", Uuid::now_v7()));
        let kek = LocalKek::new(&KeyMaterial::generate()).expect("a KEK");
        let tenancy = Tenancy::open(
            &StorageConfig::Sqlite {
                data_dir: dir.clone(),
            },
            &KeyStoreLocation::beside_sqlite(&dir),
            Arc::new(kek),
        )
        .await
        .expect("opens");
        let operator = match tenancy
            .authenticate(
                tenancy
                    .create_operator_key("t")
                    .await
                    .unwrap()
                    .token
                    .expose(),
            )
            .await
            .unwrap()
        {
            Principal::Operator(o) => o,
            Principal::Tenant(_) => panic!("not an operator key"),
        };
        let mut admins = Vec::new();
        for slug in ["north", "south"] {
            let (_, key) = tenancy
                .create_tenant(
                    &operator,
                    NewTenant {
                        slug: slug.into(),
                        name: slug.into(),
                        cluster: None,
                    },
                )
                .await
                .unwrap();
            admins.push(tenant_principal(&tenancy, key.token.expose()).await);
        }
        let (north, south) = (&admins[0], &admins[1]);
        let scope = tenancy.scope(north).await.unwrap();
        let rows = tenancy.control_rows::<api_key::Entity>(&scope).unwrap();

        // Asking for everything, or for the other tenant by name, gives only its own rows.
        let all = rows.find(|q| q).await.unwrap();
        assert_eq!(all.len(), 1);
        assert!(all.iter().all(|k| k.tenant_id == Some(north.tenant_id())));
        let theirs = rows
            .find(|q| q.filter(api_key::Column::TenantId.eq(south.tenant_id())))
            .await
            .unwrap();
        assert!(theirs.is_empty());

        // An insert naming the other tenant is stamped with the scope's.
        let id = Uuid::now_v7();
        rows.insert(api_key::ActiveModel {
            id: Set(id),
            tenant_id: Set(Some(south.tenant_id())),
            name: Set("planted".into()),
            scopes: Set(String::new()),
            secret_hash: Set(vec![0; 32]),
            created_by: Set("test".into()),
            created_at: Set(chrono::Utc::now()),
            last_used_at: Set(None),
            revoked_at: Set(None),
        })
        .await
        .unwrap();
        let planted = rows
            .find_one(|q| q.filter(api_key::Column::Id.eq(id)))
            .await
            .unwrap()
            .expect("inserted");
        assert_eq!(planted.tenant_id, Some(north.tenant_id()));

        // Updates and deletes without a filter of their own still stop at the tenant.
        let renamed = rows
            .update(|q| q.col_expr(api_key::Column::Name, Expr::value("renamed")))
            .await
            .unwrap();
        assert_eq!(renamed, 2);
        // An update may not move rows to another tenant (whole models given to `set`
        // included: their tenant column is set too).
        let moved = rows
            .update(|q| {
                q.col_expr(
                    api_key::Column::TenantId,
                    Expr::value(Some(south.tenant_id())),
                )
            })
            .await;
        assert!(matches!(moved, Err(TenantError::Conflict(_))), "{moved:?}");
        assert_eq!(rows.find(|q| q).await.unwrap().len(), 2);
        assert_eq!(rows.delete(|q| q).await.unwrap(), 2);
        let south_scope = tenancy.scope(south).await.unwrap();
        let south_rows = tenancy
            .control_rows::<api_key::Entity>(&south_scope)
            .unwrap()
            .find(|q| q)
            .await
            .unwrap();
        assert_eq!(south_rows.len(), 1);
        assert_ne!(south_rows[0].name, "renamed");

        // The registry is no footprint: no door to it.
        assert!(tenancy.control_rows::<tenant::Entity>(&scope).is_err());
        assert!(
            tenancy
                .control_rows_across_tenants::<tenant::Entity>(|q| q)
                .await
                .is_err()
        );
        drop((scope, south_scope));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
