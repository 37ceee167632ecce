//! The tenant registry: provisioning, listing, suspension and offboarding of institutions.
//! These are platform-operator operations; each takes an [`OperatorPrincipal`] so it cannot be
//! reached with a tenant credential.

use crate::Tenancy;
use crate::credentials::{self, IssuedKey};
use crate::data_plane::Access;
use crate::entities::{deletion_record, tenant, tenant_key};
use crate::error::TenantError;
use crate::model::limits;
use crate::model::{
    NewTenant, OperatorPrincipal, SchemaName, Scope, Tenant, TenantLocation, TenantStatus,
};
use crate::profile;
use crate::tombstones::{self, OffboardingDetail, OffboardingTombstone};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use hub_kernel::page::{Page, PageRequest};
use hub_kernel::problem::Violations;
use hub_migrations::{MigratorTrait, TenantMigrator};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr, TransactionTrait,
};
use uuid::Uuid;

/// The proof an offboarding left behind: who, when, what.
#[derive(Debug, Clone)]
pub struct DeletionRecord {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub tenant_slug: String,
    pub requested_by: String,
    pub reason: String,
    pub keys_destroyed: i32,
    pub keys_destroyed_at: DateTime<Utc>,
    pub schema_dropped_at: DateTime<Utc>,
}

impl From<deletion_record::Model> for DeletionRecord {
    fn from(r: deletion_record::Model) -> Self {
        Self {
            id: r.id,
            tenant_id: r.tenant_id,
            tenant_slug: r.tenant_slug,
            requested_by: r.requested_by,
            reason: r.reason,
            keys_destroyed: r.keys_destroyed,
            keys_destroyed_at: r.keys_destroyed_at,
            schema_dropped_at: r.schema_dropped_at,
        }
    }
}

impl From<tenant::Model> for Tenant {
    fn from(r: tenant::Model) -> Self {
        Self {
            id: r.id,
            slug: r.slug,
            name: r.name,
            status: TenantStatus::parse(&r.status),
            status_reason: r.status_reason,
            cluster: r.cluster,
            schema_version: r.schema_version,
            revision: r.revision,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl NewTenant {
    fn validate(&self, clusters: &[String]) -> Result<(), TenantError> {
        let mut v = Violations::new();
        if let Some(cluster) = &self.cluster
            && !clusters.contains(cluster)
        {
            v.add(
                "cluster",
                format!("unknown cluster; configured: {}", clusters.join(", ")),
            );
        }
        let slug_ok = (limits::TENANT_SLUG_MIN..=limits::TENANT_SLUG_MAX)
            .contains(&self.slug.len())
            && self
                .slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !self.slug.starts_with('-')
            && !self.slug.ends_with('-');
        v.check(
            slug_ok,
            "slug",
            "3 to 50 characters: lower-case letters, digits and inner hyphens",
        );
        credentials::validate_label(&mut v, "name", &self.name, limits::TENANT_NAME_MAX);
        v.finish().map_err(TenantError::Invalid)
    }
}

/// Tenants migrated at once by `hub migrate` unless told otherwise. One: a pass runs beside
/// the serving gateways on the same database, and under full read load their latency grows
/// with the CPU the pass takes (read p99 was 2.3 × idle at 4 at once, 2.8 × at 2 on a 2-core
/// machine). More (`--concurrency`) finishes sooner in a quiet window.
pub const DEFAULT_MIGRATION_CONCURRENCY: usize = 1;
/// The most tenants `hub migrate` migrates at once; each holds a pooled connection.
pub const MAX_MIGRATION_CONCURRENCY: usize = 16;

/// One tenant's outcome in `hub migrate`.
#[derive(Debug, Clone)]
pub struct TenantMigrationOutcome {
    pub tenant_id: Uuid,
    pub slug: String,
    pub result: Result<String, String>,
}

pub(crate) fn location_of(row: &tenant::Model) -> Result<TenantLocation, TenantError> {
    let schema = SchemaName::parse(&row.schema_name).ok_or_else(|| {
        TenantError::Conflict(format!("tenant {} has an invalid schema name", row.id))
    })?;
    Ok(TenantLocation {
        tenant_id: row.id,
        schema,
        cluster: row.cluster.clone(),
    })
}

impl Tenancy {
    /// Provisions an institution: registry row, schema at the latest migration, keys, the
    /// default retention and reporting profile, and a first admin API key. All or nothing.
    pub async fn create_tenant(
        &self,
        operator: &OperatorPrincipal,
        input: NewTenant,
    ) -> Result<(Tenant, IssuedKey), TenantError> {
        input.validate(&self.plane.cluster_names())?;
        let control = self.plane.control();
        if tenant::Entity::find()
            .filter(tenant::Column::Slug.eq(&input.slug))
            .one(control)
            .await?
            .is_some()
        {
            return Err(TenantError::SlugTaken(input.slug));
        }
        let id = Uuid::now_v7();
        let location = TenantLocation {
            tenant_id: id,
            schema: SchemaName::for_tenant(id),
            cluster: input
                .cluster
                .clone()
                .unwrap_or_else(|| self.plane.default_cluster().to_string()),
        };
        let now = Utc::now();
        let row = tenant::ActiveModel {
            id: Set(id),
            slug: Set(input.slug.clone()),
            name: Set(input.name.trim().to_string()),
            status: Set(TenantStatus::Active.as_str().to_string()),
            status_reason: Set(None),
            schema_name: Set(location.schema.as_str().to_string()),
            cluster: Set(location.cluster.clone()),
            schema_version: Set(Some(TenantMigrator::latest_version())),
            revision: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        };
        // Keys first, in the key store: a registered tenant always has keys. Undone below
        // if provisioning fails.
        let ring = self.keys.generate(id).await?;
        let created_by = operator.actor.label();

        let outcome: Result<IssuedKey, TenantError> = async {
            let tenant_txn = self.plane.begin_provisioning(&location).await?;
            TenantMigrator::up(tenant_txn.db(), None).await?;
            profile::install_default(tenant_txn.db(), &created_by).await?;
            if self.plane.provisioning_is_one_transaction(&location) {
                // PostgreSQL: registry rows join the schema's transaction; one commit.
                self.plane.return_to_control(tenant_txn.db()).await?;
                let issued = register(tenant_txn.db(), row, &created_by).await?;
                tenant_txn.commit().await?;
                Ok(issued)
            } else {
                tenant_txn.commit().await?;
                let control_txn = control.begin().await?;
                let issued = register(&control_txn, row, &created_by).await?;
                control_txn.commit().await?;
                Ok(issued)
            }
        }
        .await;

        match outcome {
            Ok(issued) => {
                self.keys.remember(ring);
                let tenant = self.get_tenant(operator, id).await?;
                tracing::info!(tenant = %id, slug = %tenant.slug, "tenant provisioned");
                Ok((tenant, issued))
            }
            Err(error) => {
                // On PostgreSQL the rollback already removed everything but the keys; on
                // SQLite the file must go too. Either way nothing of this tenant is left.
                let _ = self.plane.drop_tenant_storage(&location).await;
                let _ = self.keys.destroy(id).await;
                tracing::warn!(tenant = %id, %error, "tenant provisioning failed and was undone");
                Err(match error {
                    TenantError::Database(e)
                        if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
                    {
                        TenantError::SlugTaken(input.slug)
                    }
                    other => other,
                })
            }
        }
    }

    pub async fn list_tenants(
        &self,
        _operator: &OperatorPrincipal,
        page: &PageRequest,
        status: Option<TenantStatus>,
    ) -> Result<Page<Tenant>, TenantError> {
        let mut query = tenant::Entity::find()
            .order_by_asc(tenant::Column::Id)
            .limit(page.fetch_limit());
        if let Some(after) = page.after {
            query = query.filter(tenant::Column::Id.gt(after));
        }
        if let Some(status) = status {
            query = query.filter(tenant::Column::Status.eq(status.as_str()));
        }
        let rows = query.all(self.plane.control()).await?;
        Ok(Page::from_rows(rows, page, |r| r.id).map(Tenant::from))
    }

    pub async fn get_tenant(
        &self,
        _operator: &OperatorPrincipal,
        id: Uuid,
    ) -> Result<Tenant, TenantError> {
        tenant::Entity::find_by_id(id)
            .one(self.plane.control())
            .await?
            .map(Tenant::from)
            .ok_or(TenantError::NotFound("tenant"))
    }

    /// The institution's display name, for a platform job acting on its behalf (the default
    /// sender name of its mail).
    pub async fn tenant_name(&self, id: Uuid) -> Result<String, TenantError> {
        tenant::Entity::find_by_id(id)
            .one(self.plane.control())
            .await?
            .map(|t| t.name)
            .ok_or(TenantError::NotFound("tenant"))
    }

    /// Renames an institution; `expected_revision` comes from `If-Match`.
    pub async fn rename_tenant(
        &self,
        operator: &OperatorPrincipal,
        id: Uuid,
        name: String,
        expected_revision: Option<i32>,
    ) -> Result<Tenant, TenantError> {
        let mut v = Violations::new();
        credentials::validate_label(&mut v, "name", &name, limits::TENANT_NAME_MAX);
        v.finish().map_err(TenantError::Invalid)?;
        self.change_tenant(id, expected_revision, |row| {
            row.name = Set(name.trim().to_string());
            Ok(())
        })
        .await?;
        self.get_tenant(operator, id).await
    }

    pub async fn set_tenant_status(
        &self,
        operator: &OperatorPrincipal,
        id: Uuid,
        status: TenantStatus,
        reason: Option<String>,
    ) -> Result<Tenant, TenantError> {
        if let Some(reason) = &reason {
            let mut v = Violations::new();
            credentials::validate_label(&mut v, "reason", reason, limits::STATUS_REASON_MAX);
            v.finish().map_err(TenantError::Invalid)?;
        }
        self.change_tenant(id, None, |row| {
            row.status = Set(status.as_str().to_string());
            row.status_reason = Set(reason.clone());
            Ok(())
        })
        .await?;
        self.principals.forget_tenant(id);
        tracing::info!(tenant = %id, status = status.as_str(), "tenant status changed");
        self.get_tenant(operator, id).await
    }

    async fn change_tenant(
        &self,
        id: Uuid,
        expected_revision: Option<i32>,
        change: impl FnOnce(&mut tenant::ActiveModel) -> Result<(), TenantError>,
    ) -> Result<(), TenantError> {
        let control = self.plane.control();
        let row = tenant::Entity::find_by_id(id)
            .one(control)
            .await?
            .ok_or(TenantError::NotFound("tenant"))?;
        if TenantStatus::parse(&row.status) == TenantStatus::Offboarding {
            return Err(TenantError::Offboarding);
        }
        if let Some(expected) = expected_revision
            && expected != row.revision
        {
            return Err(TenantError::RevisionMismatch {
                current: row.revision,
            });
        }
        let mut active = tenant::ActiveModel {
            id: Set(id),
            revision: Set(row.revision + 1),
            updated_at: Set(Utc::now()),
            ..Default::default()
        };
        change(&mut active)?;
        // Compare-and-set on the revision: a concurrent change makes this update miss.
        let updated = tenant::Entity::update_many()
            .set(active)
            .filter(tenant::Column::Id.eq(id))
            .filter(tenant::Column::Revision.eq(row.revision))
            .exec(control)
            .await?;
        if updated.rows_affected == 0 {
            return Err(TenantError::RevisionMismatch {
                current: row.revision + 1,
            });
        }
        Ok(())
    }

    /// Offboards an institution: a tombstone is journaled first, in the key store (kept and
    /// backed up apart from the data, so a restored data backup is offboarded again:
    /// [`crate::tombstones`]), then its keys are destroyed there (so whatever survives
    /// anywhere, backups of the data included, is unreadable), then every control-plane row
    /// naming it (each crate's registered [`crate::ControlFootprint`], in one transaction)
    /// and its short-lived state (each [`crate::EphemeralFootprint`]), then its schema is dropped, then a deletion record is kept. A failure midway leaves the
    /// tenant `offboarding` with its tombstone, and a repeat call or the next start finishes
    /// the job.
    pub async fn offboard_tenant(
        &self,
        operator: &OperatorPrincipal,
        id: Uuid,
        reason: String,
    ) -> Result<DeletionRecord, TenantError> {
        let mut v = Violations::new();
        credentials::validate_label(&mut v, "reason", &reason, limits::STATUS_REASON_MAX);
        v.finish().map_err(TenantError::Invalid)?;
        let control = self.plane.control();
        let row = tenant::Entity::find_by_id(id)
            .one(control)
            .await?
            .ok_or(TenantError::NotFound("tenant"))?;
        let location = location_of(&row)?;

        // Refused from now on: no request or job starts new work on it.
        tenant::Entity::update_many()
            .col_expr(
                tenant::Column::Status,
                Expr::value(TenantStatus::Offboarding.as_str()),
            )
            .col_expr(tenant::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(tenant::Column::Id.eq(id))
            .exec(control)
            .await?;
        self.principals.forget_tenant(id);
        // Before anything is destroyed: a crash after this leaves a tombstone, and whatever
        // the data still holds of the tenant is offboarded again from it.
        let tombstone = tombstones::record_offboarding(
            self.keys.database(),
            id,
            OffboardingDetail {
                tenant_slug: row.slug.clone(),
                schema_name: location.schema.as_str().to_string(),
                cluster: location.cluster.clone(),
                requested_by: operator.actor.label(),
                reason: reason.trim().to_string(),
                keys_destroyed: None,
                keys_destroyed_at: None,
                schema_dropped_at: None,
            },
        )
        .await?;
        let record = self.finish_offboarding(&tombstone, &location).await?;
        tracing::info!(tenant = %id, keys = record.keys_destroyed, "tenant offboarded");
        Ok(record)
    }

    /// The steps of an offboarding after its tombstone is journaled, each idempotent: by the
    /// offboarding itself, and again by [`Tenancy::reapply_tombstones`] after a restore.
    pub(crate) async fn finish_offboarding(
        &self,
        tombstone: &OffboardingTombstone,
        location: &TenantLocation,
    ) -> Result<DeletionRecord, TenantError> {
        let id = tombstone.tenant_id;
        let control = self.plane.control();
        let journal = self.keys.database();
        let destroyed = self.keys.destroy(id).await?;
        let keys_destroyed_at = Utc::now();
        tombstones::note(journal, tombstone.id, |d| {
            if d.keys_destroyed.is_none() {
                d.keys_destroyed = Some(destroyed as i32);
                d.keys_destroyed_at = Some(keys_destroyed_at);
            }
        })
        .await?;
        let txn = control.begin().await?;
        let erased = crate::footprint::erase_all(&txn, &self.footprints, id).await?;
        // Keys an older version kept in the control plane (a restored backup from before the
        // key store): `hub migrate` would move them into the key store again.
        tenant_key::Entity::delete_many()
            .filter(tenant_key::Column::TenantId.eq(id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        tracing::info!(tenant = %id, ?erased, "control-plane footprints erased");
        // After the commit, so no concurrent request can cache the old state again.
        self.principals.forget_tenant(id);
        self.directory.forget(id);
        self.keys.forget(id);
        self.erase_ephemeral_footprints(id).await;

        self.plane.drop_tenant_storage(location).await?;
        let schema_dropped_at = Utc::now();
        let tombstone = tombstones::note(journal, tombstone.id, |d| {
            if d.schema_dropped_at.is_none() {
                d.schema_dropped_at = Some(schema_dropped_at);
            }
        })
        .await?;

        // The record has the tombstone's id: written once, whoever writes it.
        let txn = control.begin().await?;
        deletion_record::Entity::insert(tombstone.deletion_record())
            .on_conflict_do_nothing()
            .exec_without_returning(&txn)
            .await?;
        tenant::Entity::delete_by_id(id).exec(&txn).await?;
        txn.commit().await?;
        tombstones::complete(journal, tombstone.id).await?;
        deletion_record::Entity::find_by_id(tombstone.id)
            .one(control)
            .await?
            .map(DeletionRecord::from)
            .ok_or(TenantError::NotFound("deletion record"))
    }

    pub async fn deletion_records(
        &self,
        _operator: &OperatorPrincipal,
        page: &PageRequest,
    ) -> Result<Page<DeletionRecord>, TenantError> {
        let mut query = deletion_record::Entity::find()
            .order_by_asc(deletion_record::Column::Id)
            .limit(page.fetch_limit());
        if let Some(after) = page.after {
            query = query.filter(deletion_record::Column::Id.gt(after));
        }
        let rows = query.all(self.plane.control()).await?;
        Ok(Page::from_rows(rows, page, |r| r.id).map(DeletionRecord::from))
    }

    /// Issues another API key for a tenant (for example a replacement admin key).
    pub async fn issue_key_for_tenant(
        &self,
        operator: &OperatorPrincipal,
        tenant_id: Uuid,
        request: credentials::NewApiKey,
    ) -> Result<IssuedKey, TenantError> {
        let scopes = request.validate()?;
        let tenant = self.get_tenant(operator, tenant_id).await?;
        if tenant.status == TenantStatus::Offboarding {
            return Err(TenantError::Offboarding);
        }
        credentials::issue(
            self.plane.control(),
            Some(tenant_id),
            &request.name,
            &scopes,
            &operator.actor.label(),
        )
        .await
    }

    /// Applies pending tenant migrations to every tenant, one transaction per tenant, and
    /// records each tenant's version. A failing tenant is reported and skipped; re-running
    /// resumes where it stopped because finished tenants have nothing pending.
    /// `concurrency` tenants run at once (clamped to 1..=[`MAX_MIGRATION_CONCURRENCY`]).
    pub async fn migrate_all_tenants(
        &self,
        concurrency: usize,
        mut progress: impl FnMut(usize, usize, &TenantMigrationOutcome),
    ) -> Result<Vec<TenantMigrationOutcome>, TenantError> {
        let control = self.plane.control();
        let rows = tenant::Entity::find()
            .filter(tenant::Column::Status.ne(TenantStatus::Offboarding.as_str()))
            .order_by_asc(tenant::Column::Id)
            .all(control)
            .await?;
        let latest = TenantMigrator::latest_version();
        let total = rows.len();
        // Tenants are independent units (one transaction each), so several may run at once:
        // the DDL of one waits on PostgreSQL while another's is sent. Outcomes are reported
        // as they finish and returned in registry order.
        let concurrency = concurrency.clamp(1, MAX_MIGRATION_CONCURRENCY);
        let mut finished = futures::stream::iter(rows.into_iter().enumerate())
            .map(|(index, row)| {
                let latest = latest.as_str();
                async move {
                    let result = self
                        .migrate_one(&row, latest)
                        .await
                        .map_err(|e| e.to_string());
                    (
                        index,
                        TenantMigrationOutcome {
                            tenant_id: row.id,
                            slug: row.slug,
                            result,
                        },
                    )
                }
            })
            .buffer_unordered(concurrency);
        let mut outcomes = Vec::with_capacity(total);
        while let Some((index, outcome)) = finished.next().await {
            progress(outcomes.len() + 1, total, &outcome);
            outcomes.push((index, outcome));
        }
        outcomes.sort_by_key(|(index, _)| *index);
        Ok(outcomes.into_iter().map(|(_, outcome)| outcome).collect())
    }

    async fn migrate_one(&self, row: &tenant::Model, latest: &str) -> Result<String, TenantError> {
        let location = location_of(row)?;
        let txn = self
            .plane
            .begin_tenant(&location, Access::ReadWrite)
            .await?;
        TenantMigrator::up(txn.db(), None).await?;
        txn.commit().await?;
        tenant::Entity::update_many()
            .col_expr(tenant::Column::SchemaVersion, Expr::value(latest))
            .filter(tenant::Column::Id.eq(row.id))
            .exec(self.plane.control())
            .await?;
        Ok(latest.to_string())
    }

    /// The storage location of a tenant, for operator tooling and tests.
    pub async fn tenant_location(&self, id: Uuid) -> Result<TenantLocation, TenantError> {
        let row = tenant::Entity::find_by_id(id)
            .one(self.plane.control())
            .await?
            .ok_or(TenantError::NotFound("tenant"))?;
        location_of(&row)
    }

    /// Number of wrapped keys stored for a tenant in the key store (0 after
    /// crypto-shredding).
    pub async fn stored_key_count(&self, id: Uuid) -> Result<u64, TenantError> {
        self.keys.stored_count(Some(id)).await
    }

    /// Number of wrapped keys in the key store, every tenant's.
    pub async fn stored_key_count_all(&self) -> Result<u64, TenantError> {
        self.keys.stored_count(None).await
    }
}

async fn register<C: ConnectionTrait>(
    db: &C,
    row: tenant::ActiveModel,
    created_by: &str,
) -> Result<IssuedKey, TenantError> {
    let tenant_id = match &row.id {
        sea_orm::ActiveValue::Set(id) | sea_orm::ActiveValue::Unchanged(id) => *id,
        sea_orm::ActiveValue::NotSet => return Err(TenantError::NotFound("tenant")),
    };
    tenant::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    credentials::issue(
        db,
        Some(tenant_id),
        "initial admin",
        &Scope::all(),
        created_by,
    )
    .await
}
