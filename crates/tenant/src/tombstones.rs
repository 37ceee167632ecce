//! The tombstone journal: every erasure that a restored backup of the data must not undo,
//! kept in the key store's database, which is kept and backed up apart from the data (see
//! [`crate::keys`]), and re-applied after any restore.
//!
//! Crypto-shredding already makes a restored copy of an offboarded institution unreadable,
//! but a data backup taken before offboarding still brings back its registry row (the
//! operator sees it listed as active), its schema or file of ciphertext, its API-key rows and
//! its verified email domains (which then block another institution from verifying them).
//! So offboarding journals a tombstone here before it destroys anything (tenant id, when, the
//! content of the deletion record — no personal data), and [`Tenancy::reapply_tombstones`]
//! (run by every process at start, `hub serve` and `hub migrate` alike) offboards again every
//! journaled tenant the data still knows, idempotently: footprints erased, storage dropped,
//! the deletion record re-written with its original id if missing, the registry row removed.
//! A credential of such a tenant met while serving triggers the same for that one tenant
//! ([`Tenancy::reapply_tombstone_of`]), on the failure path only, so no request pays for it.
//!
//! The journal is written before the keys are destroyed: a crash in between leaves a
//! tombstone and keys, and the next start (or a repeated offboarding) finishes the job.
//!
//! A tombstone has a [`TombstoneKind`], a tenant and a subject inside it (empty for the
//! whole tenant), so an erasure of one person can journal here too; only tenant offboarding
//! exists yet.

use crate::Tenancy;
use crate::entities::{deletion_record, tenant, tenant_key, tombstone};
use crate::error::TenantError;
use crate::model::{SchemaName, TenantLocation};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, SqlErr,
};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use uuid::Uuid;

/// What a tombstone records the erasure of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TombstoneKind {
    /// A whole institution, offboarded: registry row, control-plane footprints, storage.
    TenantOffboarded,
}

impl TombstoneKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TenantOffboarded => "tenant_offboarded",
        }
    }
}

/// What an offboarding's deletion record says, and where the tenant's storage was: enough to
/// re-create the record and drop a restored copy. The operator's key label and reason are
/// what the deletion record itself keeps; no personal data of the institution's people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OffboardingDetail {
    pub tenant_slug: String,
    pub schema_name: String,
    pub cluster: String,
    pub requested_by: String,
    pub reason: String,
    /// Filled in as offboarding goes: `None` until that step happened.
    pub keys_destroyed: Option<i32>,
    pub keys_destroyed_at: Option<DateTime<Utc>>,
    pub schema_dropped_at: Option<DateTime<Utc>>,
}

/// One journaled offboarding. Its id is also the id of the deletion record, so a re-written
/// record is the same record.
#[derive(Debug, Clone)]
pub(crate) struct OffboardingTombstone {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub detail: OffboardingDetail,
}

impl OffboardingTombstone {
    fn from_row(row: tombstone::Model) -> Result<Self, TenantError> {
        let detail = serde_json::from_str(&row.detail).map_err(|e| {
            TenantError::Conflict(format!("tombstone {} cannot be read: {e}", row.id))
        })?;
        Ok(Self {
            id: row.id,
            tenant_id: row.tenant_id,
            detail,
        })
    }

    /// Where the tenant's storage was (used when the registry row is gone).
    pub(crate) fn location(&self) -> Result<TenantLocation, TenantError> {
        Ok(TenantLocation {
            tenant_id: self.tenant_id,
            schema: SchemaName::parse(&self.detail.schema_name).ok_or_else(|| {
                TenantError::Conflict(format!("tombstone {} names no valid schema", self.id))
            })?,
            cluster: self.detail.cluster.clone(),
        })
    }

    /// The deletion record this offboarding keeps in the control plane.
    pub(crate) fn deletion_record(&self) -> deletion_record::ActiveModel {
        let d = &self.detail;
        let now = Utc::now();
        deletion_record::ActiveModel {
            id: Set(self.id),
            tenant_id: Set(self.tenant_id),
            tenant_slug: Set(d.tenant_slug.clone()),
            schema_name: Set(d.schema_name.clone()),
            requested_by: Set(d.requested_by.clone()),
            reason: Set(d.reason.clone()),
            keys_destroyed: Set(d.keys_destroyed.unwrap_or(0)),
            keys_destroyed_at: Set(d.keys_destroyed_at.unwrap_or(now)),
            schema_dropped_at: Set(d.schema_dropped_at.unwrap_or(now)),
        }
    }
}

fn serialize(detail: &OffboardingDetail) -> Result<String, TenantError> {
    serde_json::to_string(detail)
        .map_err(|e| TenantError::Conflict(format!("tombstone cannot be written: {e}")))
}

async fn find_offboarding<C: ConnectionTrait>(
    journal: &C,
    tenant: Uuid,
) -> Result<Option<tombstone::Model>, TenantError> {
    Ok(tombstone::Entity::find()
        .filter(tombstone::Column::TenantId.eq(tenant))
        .filter(tombstone::Column::Kind.eq(TombstoneKind::TenantOffboarded.as_str()))
        .filter(tombstone::Column::Subject.eq(""))
        .one(journal)
        .await?)
}

/// Journals the offboarding of `tenant`, or returns the one already journaled (a repeated
/// offboarding keeps the first request's record).
pub(crate) async fn record_offboarding<C: ConnectionTrait>(
    journal: &C,
    tenant: Uuid,
    detail: OffboardingDetail,
) -> Result<OffboardingTombstone, TenantError> {
    if let Some(row) = find_offboarding(journal, tenant).await? {
        return OffboardingTombstone::from_row(row);
    }
    let row = tombstone::ActiveModel {
        id: Set(Uuid::now_v7()),
        kind: Set(TombstoneKind::TenantOffboarded.as_str().to_string()),
        tenant_id: Set(tenant),
        subject: Set(String::new()),
        detail: Set(serialize(&detail)?),
        recorded_at: Set(Utc::now()),
        completed_at: Set(None),
    };
    match tombstone::Entity::insert(row)
        .exec_without_returning(journal)
        .await
    {
        Ok(_) => {}
        // A concurrent offboarding of the same tenant journaled it first: use that one.
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {}
        Err(e) => return Err(e.into()),
    }
    find_offboarding(journal, tenant)
        .await?
        .ok_or(TenantError::NotFound("tombstone"))
        .and_then(OffboardingTombstone::from_row)
}

/// Notes a step of the offboarding in its tombstone: `fill` sets what is still `None`.
/// Compare-and-set on the stored text, so a concurrent re-application cannot overwrite a
/// step already noted (say, the count of keys destroyed with a repeat's 0). Returns the
/// tombstone as stored.
pub(crate) async fn note<C: ConnectionTrait>(
    journal: &C,
    id: Uuid,
    fill: impl Fn(&mut OffboardingDetail),
) -> Result<OffboardingTombstone, TenantError> {
    for _ in 0..5 {
        let row = tombstone::Entity::find_by_id(id)
            .one(journal)
            .await?
            .ok_or(TenantError::NotFound("tombstone"))?;
        let stored = row.detail.clone();
        let mut current = OffboardingTombstone::from_row(row)?;
        let before = current.detail.clone();
        fill(&mut current.detail);
        if current.detail == before {
            return Ok(current);
        }
        let updated = tombstone::Entity::update_many()
            .col_expr(
                tombstone::Column::Detail,
                sea_orm::sea_query::Expr::value(serialize(&current.detail)?),
            )
            .filter(tombstone::Column::Id.eq(id))
            .filter(tombstone::Column::Detail.eq(stored))
            .exec(journal)
            .await?;
        if updated.rows_affected == 1 {
            return Ok(current);
        }
    }
    Err(TenantError::Conflict(format!(
        "tombstone {id} keeps changing; retry the offboarding"
    )))
}

/// Marks the first complete run of an offboarding (kept as it was by later re-applications).
pub(crate) async fn complete<C: ConnectionTrait>(journal: &C, id: Uuid) -> Result<(), TenantError> {
    tombstone::Entity::update_many()
        .col_expr(
            tombstone::Column::CompletedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(tombstone::Column::Id.eq(id))
        .filter(tombstone::Column::CompletedAt.is_null())
        .exec(journal)
        .await?;
    Ok(())
}

/// What one re-application found and did.
#[derive(Debug, Default, Clone)]
pub struct TombstoneReport {
    /// Offboardings journaled.
    pub journaled: usize,
    /// Tenants the data still knew (a restored backup, or an offboarding that stopped
    /// midway), offboarded again.
    pub reapplied: Vec<Uuid>,
    /// Tenants whose re-application failed, with why; retried at the next start.
    pub failed: Vec<(Uuid, String)>,
}

/// Journaled tombstones read per query at start.
const BATCH: u64 = 1_000;

impl Tenancy {
    /// Re-applies every journaled offboarding the data database still shows any trace of
    /// (registry row or control-plane keys present, or deletion record missing). Idempotent; a tenant that fails
    /// is logged, reported and left for the next run, the others go on. Run by every process
    /// at start, before it serves or migrates.
    pub async fn reapply_tombstones(&self) -> Result<TombstoneReport, TenantError> {
        let journal = self.keys.database();
        let control = self.plane.control();
        let mut report = TombstoneReport::default();
        if tombstone::Entity::find().count(journal).await? == 0 {
            return Ok(report);
        }
        // Only ids: the registry and the deletion records are read once, not per tombstone.
        let registered: HashSet<Uuid> = tenant::Entity::find()
            .select_only()
            .column(tenant::Column::Id)
            .into_tuple::<Uuid>()
            .all(control)
            .await?
            .into_iter()
            .collect();
        let recorded: HashSet<Uuid> = deletion_record::Entity::find()
            .select_only()
            .column(deletion_record::Column::Id)
            .into_tuple::<Uuid>()
            .all(control)
            .await?
            .into_iter()
            .collect();
        // Keys an older version kept in the control plane (normally none): a restored backup
        // from before the key store may hold an offboarded tenant's, which `hub migrate`
        // would otherwise move into the key store again.
        let legacy_keys: HashSet<Uuid> = tenant_key::Entity::find()
            .select_only()
            .column(tenant_key::Column::TenantId)
            .distinct()
            .into_tuple::<Uuid>()
            .all(control)
            .await?
            .into_iter()
            .collect();
        let mut after: Option<Uuid> = None;
        loop {
            let mut query = tombstone::Entity::find()
                .filter(tombstone::Column::Kind.eq(TombstoneKind::TenantOffboarded.as_str()))
                .order_by_asc(tombstone::Column::Id)
                .limit(BATCH);
            if let Some(after) = after {
                query = query.filter(tombstone::Column::Id.gt(after));
            }
            let rows = query.all(journal).await?;
            let Some(last) = rows.last() else { break };
            after = Some(last.id);
            for row in rows {
                report.journaled += 1;
                let tenant = row.tenant_id;
                if !registered.contains(&tenant)
                    && !legacy_keys.contains(&tenant)
                    && recorded.contains(&row.id)
                {
                    continue;
                }
                let outcome = match OffboardingTombstone::from_row(row) {
                    Ok(tombstone) => self.reapply(&tombstone).await,
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(()) => report.reapplied.push(tenant),
                    Err(error) => {
                        tracing::error!(%tenant, %error, "re-applying an offboarding failed; retried at the next start");
                        report.failed.push((tenant, error.to_string()));
                    }
                }
            }
        }
        if !report.reapplied.is_empty() || !report.failed.is_empty() {
            tracing::warn!(
                journaled = report.journaled,
                reapplied = report.reapplied.len(),
                failed = report.failed.len(),
                "offboarded tenants found in the data (a restored backup?) and offboarded again"
            );
        }
        Ok(report)
    }

    /// Re-applies the journaled offboarding of one tenant, if there is one and the data still
    /// shows it. For a credential of a tenant without keys met while serving (a data restore
    /// under a running process); returns whether it did.
    pub(crate) async fn reapply_tombstone_of(&self, tenant: Uuid) -> Result<bool, TenantError> {
        let Some(row) = find_offboarding(self.keys.database(), tenant).await? else {
            return Ok(false);
        };
        let tombstone = OffboardingTombstone::from_row(row)?;
        let control = self.plane.control();
        let registered = tenant::Entity::find_by_id(tenant).one(control).await?;
        let recorded = deletion_record::Entity::find_by_id(tombstone.id)
            .one(control)
            .await?;
        if registered.is_none() && recorded.is_some() {
            return Ok(false);
        }
        self.reapply(&tombstone).await?;
        Ok(true)
    }

    async fn reapply(&self, tombstone: &OffboardingTombstone) -> Result<(), TenantError> {
        // The registry row, when restored, says where the storage is; else the tombstone.
        let location = match tenant::Entity::find_by_id(tombstone.tenant_id)
            .one(self.plane.control())
            .await?
        {
            Some(row) => crate::registry::location_of(&row)?,
            None => tombstone.location()?,
        };
        self.finish_offboarding(tombstone, &location).await?;
        tracing::warn!(tenant = %tombstone.tenant_id, record = %tombstone.id, "journaled offboarding re-applied");
        Ok(())
    }

    /// Offboardings journaled in the tombstone journal (operator tooling and tests).
    pub async fn journaled_offboardings(&self) -> Result<u64, TenantError> {
        Ok(tombstone::Entity::find()
            .filter(tombstone::Column::Kind.eq(TombstoneKind::TenantOffboarded.as_str()))
            .count(self.keys.database())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NewTenant, Principal};
    use crate::{KeyStoreLocation, StorageConfig};
    use hub_kernel::crypto::{KeyEncryptionKey, KeyMaterial, LocalKek};
    use hub_kernel::page::PageRequest;
    use std::path::Path;
    use std::sync::Arc;

    async fn open(data_dir: &Path, keys: &Path, kek: Arc<dyn KeyEncryptionKey>) -> Tenancy {
        Tenancy::open(
            &StorageConfig::Sqlite {
                data_dir: data_dir.to_path_buf(),
            },
            &KeyStoreLocation::Sqlite {
                path: keys.join("keys.db"),
            },
            kek,
        )
        .await
        .expect("opens")
    }

    async fn operator(tenancy: &Tenancy) -> crate::OperatorPrincipal {
        let key = tenancy.create_operator_key("t").await.unwrap();
        match tenancy.authenticate(key.token.expose()).await.unwrap() {
            Principal::Operator(o) => o,
            Principal::Tenant(_) => panic!("not an operator key"),
        }
    }

    async fn slugs(tenancy: &Tenancy, operator: &crate::OperatorPrincipal) -> Vec<String> {
        let page = PageRequest {
            after: None,
            limit: 100,
        };
        tenancy
            .list_tenants(operator, &page, None)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|t| t.slug)
            .collect()
    }

    /// The lazy path: a process serving a data restore it did not start on (here: opened
    /// without the start-up pass) meets a credential of an offboarded tenant; that one
    /// failed authentication re-applies the offboarding. Embedded storage: what is under test
    /// is the path through `authenticate`; the API restore drill runs the start-up pass on
    /// both backends.
    #[tokio::test]
    async fn a_keyless_credential_reapplies_its_tenants_offboarding() {
        let root = std::env::temp_dir().join(format!("hub-tombstones-{}", Uuid::now_v7()));
        let (live, copy, keys) = (root.join("live"), root.join("copy"), root.join("keys"));
        let kek: Arc<dyn KeyEncryptionKey> =
            Arc::new(LocalKek::new(&KeyMaterial::generate()).expect("a KEK"));
        let tenancy = open(&live, &keys, kek.clone()).await;
        let op = operator(&tenancy).await;
        let mut tokens = Vec::new();
        for slug in ["north", "south"] {
            let (tenant, key) = tenancy
                .create_tenant(
                    &op,
                    NewTenant {
                        slug: slug.into(),
                        name: slug.into(),
                        cluster: None,
                    },
                )
                .await
                .unwrap();
            tokens.push((tenant.id, key.token.expose().to_string()));
        }
        let location = tenancy.tenant_location(tokens[0].0).await.unwrap();

        // A backup of the data (not of the key store), then the offboarding.
        std::fs::create_dir_all(copy.join("tenants")).unwrap();
        let mut files = vec![std::path::PathBuf::from("control.db")];
        for entry in std::fs::read_dir(live.join("tenants")).unwrap() {
            let name = entry.unwrap().file_name();
            if name.to_string_lossy().ends_with(".db") {
                files.push(Path::new("tenants").join(name));
            }
        }
        for file in files {
            let db = sea_orm::Database::connect(format!(
                "sqlite://{}?mode=ro",
                live.join(&file).display()
            ))
            .await
            .unwrap();
            db.execute_unprepared(&format!("VACUUM INTO '{}'", copy.join(&file).display()))
                .await
                .unwrap();
        }
        let record = tenancy
            .offboard_tenant(&op, tokens[0].0, "contract ended".into())
            .await
            .unwrap();

        // Opened on the restored copy without the start-up pass: the tenant is back.
        let restored = open(&copy, &keys, kek).await;
        let restored_op = operator(&restored).await;
        assert_eq!(slugs(&restored, &restored_op).await, ["north", "south"]);
        assert!(
            restored
                .plane()
                .tenant_storage_exists(&location)
                .await
                .unwrap()
        );

        // One failed authentication with its old key offboards it again.
        assert!(matches!(
            restored.authenticate(&tokens[0].1).await,
            Err(TenantError::Unauthenticated)
        ));
        assert_eq!(slugs(&restored, &restored_op).await, ["south"]);
        assert!(
            !restored
                .plane()
                .tenant_storage_exists(&location)
                .await
                .unwrap()
        );
        let page = PageRequest {
            after: None,
            limit: 100,
        };
        let records = restored
            .deletion_records(&restored_op, &page)
            .await
            .unwrap();
        assert_eq!(records.items.len(), 1);
        assert_eq!(records.items[0].id, record.id);
        assert!(restored.authenticate(&tokens[1].1).await.is_ok());
        // Nothing left for the start-up pass.
        let report = restored.reapply_tombstones().await.unwrap();
        assert_eq!((report.journaled, report.reapplied.len()), (1, 0));
        drop((tenancy, restored));
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A process that died right after journaling (before any key was destroyed) leaves a
    /// tombstone and the keys: the next start finishes the offboarding.
    #[tokio::test]
    async fn an_offboarding_that_stopped_after_its_tombstone_is_finished_at_start() {
        let root = std::env::temp_dir().join(format!("hub-tombstones-{}", Uuid::now_v7()));
        let kek: Arc<dyn KeyEncryptionKey> =
            Arc::new(LocalKek::new(&KeyMaterial::generate()).expect("a KEK"));
        let tenancy = open(&root, &root, kek).await;
        let op = operator(&tenancy).await;
        let (tenant, _) = tenancy
            .create_tenant(
                &op,
                NewTenant {
                    slug: "north".into(),
                    name: "north".into(),
                    cluster: None,
                },
            )
            .await
            .unwrap();
        let location = tenancy.tenant_location(tenant.id).await.unwrap();
        let tombstone = record_offboarding(
            tenancy.keys.database(),
            tenant.id,
            OffboardingDetail {
                tenant_slug: "north".into(),
                schema_name: location.schema.as_str().into(),
                cluster: location.cluster.clone(),
                requested_by: "test".into(),
                reason: "stopped midway".into(),
                keys_destroyed: None,
                keys_destroyed_at: None,
                schema_dropped_at: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(tenancy.stored_key_count(tenant.id).await.unwrap(), 2);

        let report = tenancy.reapply_tombstones().await.unwrap();
        assert_eq!(report.reapplied, [tenant.id]);
        assert!(report.failed.is_empty(), "{report:?}");
        assert_eq!(tenancy.stored_key_count(tenant.id).await.unwrap(), 0);
        assert!(slugs(&tenancy, &op).await.is_empty());
        assert!(
            !tenancy
                .plane()
                .tenant_storage_exists(&location)
                .await
                .unwrap()
        );
        let page = PageRequest {
            after: None,
            limit: 100,
        };
        let records = tenancy.deletion_records(&op, &page).await.unwrap();
        assert_eq!(records.items.len(), 1);
        assert_eq!(records.items[0].id, tombstone.id);
        assert_eq!(records.items[0].keys_destroyed, 2);
        assert_eq!(records.items[0].reason, "stopped midway");
        drop(tenancy);
        let _ = std::fs::remove_dir_all(&root);
    }
}
