//! Tenancy: the registry of institutions, their provisioning and offboarding, the
//! [`TenantScope`] that is the only door to a tenant's tables, per-tenant keys and their
//! rotation (re-sealing and re-indexing jobs), API keys, the retention and reporting profile,
//! the institution's contacts, its audit trail, idempotency records, control-plane deadlines,
//! the registered control-plane footprints of every crate (what offboarding erases, and the
//! guarded door to those rows: [`footprint`]), the tombstone journal that re-applies
//! offboardings after a restore of the data ([`tombstones`]), and the registration every
//! domain crate makes ([`module`]), the personal-data contract every store implements
//! ([`personal_data`]) with this crate's sources (contacts, the audit trail, the privacy
//! profile's history, the API keys a person made), and the completeness scan that finds what
//! still names a person in a tenant's live schema ([`subject_scan`]).

pub mod addendum_duties;
pub mod audit;
pub mod consent_gate;
pub mod contacts;
pub mod course_sales;
pub mod credentials;
pub mod data_plane;
pub mod deadlines;
pub mod directory;
mod entities;
mod error;
pub mod footprint;
pub mod group_membership;
pub mod idempotency;
pub mod jobs;
pub mod keys;
pub mod minors;
pub mod model;
pub mod module;
pub mod people_lookup;
pub mod personal_data;
pub mod profile;
pub mod registry;
mod reindex;
pub mod reports;
mod reseal;
pub mod signing;

pub use reseal::SealedStore;
mod scope;
pub mod subject_scan;
pub mod tombstones;

pub use credentials::{ApiKeyInfo, IssuedKey, NewApiKey};
pub use data_plane::{DataPlane, StorageConfig};
pub use directory::ActiveTenant;
pub use error::TenantError;
pub use footprint::{ControlFootprint, EphemeralFootprint, TenantControlRows};
pub use keys::KeyStoreLocation;
pub use model::{
    Actor, NewTenant, OperatorPrincipal, Principal, Scope, Tenant, TenantLocation, TenantPrincipal,
    TenantStatus,
};
pub use module::{DomainModule, RoleGrant};
pub use scope::TenantScope;
pub use tombstones::{TombstoneKind, TombstoneReport};

use data_plane::Access;
use hub_kernel::classification::{
    BlindIndexed, FieldClassification, IndexedColumn, RowKey, SealedColumn, SealedTable,
};
use hub_kernel::crypto::KeyEncryptionKey;
use hub_kernel::page::{Page, PageRequest};
use keys::{KeyStore, KeyVersionInfo};
use std::sync::Arc;
use uuid::Uuid;

/// This crate's registration: contacts, the audit trail and the institution's own
/// administration.
pub const MODULE: DomainModule = DomainModule {
    crate_name: "hub-tenant",
    scopes: &[
        Scope::ContactsRead,
        Scope::ContactsWrite,
        Scope::AuditRead,
        Scope::TenantAdmin,
        reports::runs::REPORTS_READ,
        reports::runs::REPORTS_RUN,
    ],
    role_grants: &[
        RoleGrant {
            role: "finance",
            scopes: &[Scope::ContactsRead],
        },
        RoleGrant {
            role: "auditor",
            scopes: &[
                Scope::ContactsRead,
                Scope::AuditRead,
                reports::runs::REPORTS_READ,
            ],
        },
    ],
    personal_fields,
    sealed_secrets: &[],
    sealed_tables: SEALED_TABLES,
    blind_indexes: BLIND_INDEXES,
    personal_data_sources: || {
        vec![
            Box::new(contacts::ContactsSource),
            Box::new(profile::ProfileSource),
            Box::new(credentials::ApiKeysSource),
            Box::new(audit::AuditSource),
        ]
    },
    report_producers: || vec![Box::new(reports::usage::UsageProducer)],
};

/// Every personal-data field this crate stores.
pub fn personal_fields() -> Vec<FieldClassification> {
    let mut fields = contacts::PERSONAL_FIELDS.to_vec();
    fields.extend_from_slice(audit::PERSONAL_FIELDS);
    fields
}

/// How each table of this crate with a sealed column names its rows in associated data.
pub const SEALED_TABLES: &[SealedTable] = &[
    SealedTable {
        table: contacts::TABLE,
        row_key: RowKey::Uuid("id"),
        version_column: Some("key_version"),
    },
    SealedTable {
        table: audit::TABLE,
        row_key: RowKey::Sequence("seq"),
        version_column: None,
    },
];

/// Every sealed column this crate stores, for key rotation.
pub fn sealed_columns() -> Result<Vec<SealedColumn>, String> {
    MODULE.sealed_columns()
}

/// How each blind index of this crate is made again when the index key rotates.
pub const BLIND_INDEXES: &[BlindIndexed] = &[BlindIndexed {
    table: contacts::TABLE,
    field: "email",
    normalise: Some(contacts::normalise_email),
}];

/// Every blind-index column this crate stores, for index-key rotation.
pub fn indexed_columns() -> Result<Vec<IndexedColumn>, String> {
    MODULE.indexed_columns()
}

/// The tenancy service: one per process, shared by every request.
pub struct Tenancy {
    plane: DataPlane,
    keys: KeyStore,
    principals: credentials::PrincipalCache,
    directory: directory::DirectoryCache,
    /// Every sealed column key rotation re-seals: this crate's and those registered by the
    /// crates above it ([`Self::register_sealed_columns`]).
    sealed: Vec<SealedColumn>,
    /// Every blind-index column index-key rotation re-indexes, likewise.
    indexed: Vec<IndexedColumn>,
    /// Stores outside the tables that key rotation re-seals too (registered by the crates
    /// that own them, once the service is shared).
    sealed_stores: std::sync::RwLock<Vec<Arc<dyn SealedStore>>>,
    reseal: jobs::ResealSettings,
    /// Every control-plane table naming a tenant: this crate's and those registered by the
    /// crates above it ([`Self::register_control_footprints`]).
    footprints: Vec<footprint::ControlFootprint>,
    /// Short-lived state naming tenants, kept by the crates above
    /// ([`Self::register_ephemeral_footprint`]).
    ephemeral_footprints: std::sync::RwLock<Vec<Arc<dyn footprint::EphemeralFootprint>>>,
    /// Personal-data sources with state of their own (the session store), registered by the
    /// services that own them ([`Self::register_personal_data_source`]).
    stateful_sources: std::sync::RwLock<Vec<Arc<dyn personal_data::PersonalDataSource>>>,
    /// The consent gate every processor of a consentable purpose asks (privacy's, registered
    /// by the gateway at start: [`Self::register_consent_gate`]).
    consent_gate: std::sync::RwLock<Option<Arc<dyn consent_gate::ConsentGate>>>,
    /// The duties of the institution's privacy addendum in force (privacy's, registered by
    /// the gateway at start: [`Self::register_addendum_duties`]).
    addendum_duties: std::sync::RwLock<Option<Arc<dyn addendum_duties::AddendumDuties>>>,
    /// Who acts on SCIM group membership changes (the learning crate's group enrollments,
    /// registered by the gateway at start: [`Self::register_group_observer`]).
    group_observers: std::sync::RwLock<Vec<Arc<dyn group_membership::GroupObserver>>>,
    /// The institution's people as other crates may look them up (identity's, registered by
    /// the gateway at start: [`Self::register_people_directory`]).
    people_directory: std::sync::RwLock<Option<Arc<dyn personal_data::SubjectDirectory>>>,
    /// Who is in a SCIM group (identity's, registered by the gateway at start:
    /// [`Self::register_group_directory`]).
    group_directory: std::sync::RwLock<Option<Arc<dyn group_membership::GroupDirectory>>>,
    /// People by email (identity's, registered by the gateway at start:
    /// [`Self::register_people_by_email`]).
    people_by_email: std::sync::RwLock<Option<Arc<dyn people_lookup::PeopleByEmail>>>,
    /// Who is a minor and who has a guardian's consent (identity's, registered by the
    /// gateway at start: [`Self::register_minor_directory`]).
    minor_directory: std::sync::RwLock<Option<Arc<dyn minors::MinorDirectory>>>,
    /// Who may buy a course and enrolling them once paid (the learning crate's, registered
    /// by the gateway at start: [`Self::register_course_sales`]).
    course_sales: std::sync::RwLock<Option<Arc<dyn course_sales::CourseSales>>>,
}

impl Tenancy {
    /// Opens the data plane and the key store (a database apart from the data, see
    /// [`keys`]).
    pub async fn open(
        storage: &StorageConfig,
        key_store: &KeyStoreLocation,
        kek: Arc<dyn KeyEncryptionKey>,
    ) -> Result<Self, TenantError> {
        let plane = DataPlane::connect(storage).await?;
        Ok(Self {
            plane,
            keys: KeyStore::open(key_store, kek).await?,
            principals: credentials::PrincipalCache::default(),
            directory: directory::DirectoryCache::default(),
            sealed: sealed_columns().map_err(TenantError::Conflict)?,
            indexed: indexed_columns().map_err(TenantError::Conflict)?,
            sealed_stores: std::sync::RwLock::new(Vec::new()),
            reseal: jobs::ResealSettings::default(),
            footprints: footprint::CONTROL_FOOTPRINT.to_vec(),
            ephemeral_footprints: std::sync::RwLock::default(),
            stateful_sources: std::sync::RwLock::default(),
            consent_gate: std::sync::RwLock::default(),
            addendum_duties: std::sync::RwLock::default(),
            group_observers: std::sync::RwLock::default(),
            people_directory: std::sync::RwLock::default(),
            group_directory: std::sync::RwLock::default(),
            people_by_email: std::sync::RwLock::default(),
            minor_directory: std::sync::RwLock::default(),
            course_sales: std::sync::RwLock::default(),
        })
    }

    /// Adds another crate's sealed columns (from its declarations) to what key rotation
    /// re-seals. Called once at start, before the service is shared.
    pub fn register_sealed_columns(&mut self, columns: Vec<SealedColumn>) {
        self.sealed.extend(columns);
    }

    /// Adds another crate's blind-index columns (from its declarations) to what index-key
    /// rotation re-indexes. Called once at start, before the service is shared.
    pub fn register_indexed_columns(&mut self, columns: Vec<IndexedColumn>) {
        self.indexed.extend(columns);
    }

    /// Adds a store outside the tables (sessions in the session store) that key rotation
    /// re-seals after the tables. Called once at start.
    pub fn register_sealed_store(&self, store: Arc<dyn SealedStore>) {
        if let Ok(mut stores) = self.sealed_stores.write() {
            stores.push(store);
        }
    }

    /// Adds a personal-data source that holds state of its own (the session store), next to
    /// the stateless ones every crate registers in its [`DomainModule`]. Called once at start
    /// by the service that owns the state.
    pub fn register_personal_data_source(
        &self,
        source: Arc<dyn personal_data::PersonalDataSource>,
    ) {
        if let Ok(mut sources) = self.stateful_sources.write() {
            sources.push(source);
        }
    }

    /// Every personal-data source: each installed crate's stateless ones and those registered
    /// at start, ordered so each runs after those it waits for
    /// ([`personal_data::PersonalDataSource::runs_after`]). An error is a registration
    /// mistake (a name twice, a cycle).
    pub fn personal_data_sources(
        &self,
    ) -> Result<Vec<Arc<dyn personal_data::PersonalDataSource>>, TenantError> {
        let mut all: Vec<Arc<dyn personal_data::PersonalDataSource>> = personal_data::sources()
            .into_iter()
            .map(Arc::from)
            .collect();
        if let Ok(stateful) = self.stateful_sources.read() {
            all.extend(stateful.iter().cloned());
        }
        personal_data::ordered(all).map_err(TenantError::Conflict)
    }

    /// Registers the consent gate (privacy's). Called once at start by the gateway.
    pub fn register_consent_gate(&self, gate: Arc<dyn consent_gate::ConsentGate>) {
        if let Ok(mut slot) = self.consent_gate.write() {
            *slot = Some(gate);
        }
    }

    /// May this person's data be used for `purpose` now? Asks the registered gate; with
    /// none registered only `essential` is allowed (no consent can have been recorded).
    pub async fn may_use(
        &self,
        scope: &TenantScope,
        person: Uuid,
        purpose: consent_gate::ConsentPurpose,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<consent_gate::Decision, personal_data::SourceError> {
        if !purpose.consentable() {
            return Ok(consent_gate::Decision::allow("essential"));
        }
        // A1: a minor's own grant is not enough until a guardian has confirmed consent.
        let minor = self
            .minor_status(scope, person, now)
            .await
            .map_err(|e| -> personal_data::SourceError { Box::new(e) })?;
        if minor.needs_guardian_consent() {
            return Ok(consent_gate::Decision::deny(
                consent_gate::GUARDIAN_CONSENT_REQUIRED,
            ));
        }
        let gate = self.consent_gate.read().ok().and_then(|g| g.clone());
        match gate {
            Some(gate) => gate.may_use(scope, person, purpose, now).await,
            None => Ok(consent_gate::Decision::deny("no_consent_gate")),
        }
    }

    /// Registers an observer of SCIM group membership (the learning crate's). Called at
    /// start by the gateway.
    pub fn register_group_observer(&self, observer: Arc<dyn group_membership::GroupObserver>) {
        if let Ok(mut observers) = self.group_observers.write() {
            observers.push(observer);
        }
    }

    /// Tells every registered observer that a group's membership changed, in the caller's
    /// transaction (identity's SCIM group operations call it before they commit).
    pub async fn group_members_changed(
        &self,
        scope: &TenantScope,
        change: &group_membership::MembershipChange,
    ) -> Result<(), TenantError> {
        if change.is_empty() {
            return Ok(());
        }
        let observers: Vec<_> = self
            .group_observers
            .read()
            .map(|o| o.clone())
            .unwrap_or_default();
        for observer in observers {
            observer.members_changed(self, scope, change).await?;
        }
        Ok(())
    }

    /// Registers the directory of SCIM groups (identity's). Called once at start by the
    /// gateway.
    pub fn register_group_directory(&self, directory: Arc<dyn group_membership::GroupDirectory>) {
        if let Ok(mut slot) = self.group_directory.write() {
            *slot = Some(directory);
        }
    }

    /// The members of the scope's tenant's group, or `None` for no such group (or no
    /// directory registered).
    pub async fn group_members(
        &self,
        scope: &TenantScope,
        group_id: Uuid,
    ) -> Result<Option<Vec<Uuid>>, TenantError> {
        let directory = self.group_directory.read().ok().and_then(|d| d.clone());
        match directory {
            Some(directory) => directory.members(scope, group_id).await,
            None => Ok(None),
        }
    }

    /// Registers the lookup of people by email (identity's). Called once at start by the
    /// gateway.
    pub fn register_people_by_email(&self, lookup: Arc<dyn people_lookup::PeopleByEmail>) {
        if let Ok(mut slot) = self.people_by_email.write() {
            *slot = Some(lookup);
        }
    }

    /// The people of the scope's tenant whose email is one of `emails`, by the address as
    /// given. Empty when no lookup is registered: nobody can be recognised.
    pub async fn people_by_email(
        &self,
        scope: &TenantScope,
        emails: &std::collections::HashSet<String>,
    ) -> Result<std::collections::HashMap<String, Uuid>, TenantError> {
        if emails.is_empty() {
            return Ok(std::collections::HashMap::new());
        }
        let lookup = self.people_by_email.read().ok().and_then(|l| l.clone());
        match lookup {
            Some(lookup) => lookup.people_by_email(scope, emails).await,
            None => Ok(std::collections::HashMap::new()),
        }
    }

    /// Registers the directory of minors (identity's). Called once at start by the gateway.
    pub fn register_minor_directory(&self, directory: Arc<dyn minors::MinorDirectory>) {
        if let Ok(mut slot) = self.minor_directory.write() {
            *slot = Some(directory);
        }
    }

    /// Whether the person is a minor now and has a guardian's consent; with no directory
    /// registered, nobody's age is known ([`minors::MinorStatus::UNKNOWN`]).
    pub async fn minor_status(
        &self,
        scope: &TenantScope,
        person: Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<minors::MinorStatus, TenantError> {
        let directory = self.minor_directory.read().ok().and_then(|d| d.clone());
        match directory {
            Some(directory) => directory.status(scope, person, now).await,
            None => Ok(minors::MinorStatus::UNKNOWN),
        }
    }

    /// Whether `guardian` is a verified guardian of `minor` (`false` with no directory).
    pub async fn is_guardian_of(
        &self,
        scope: &TenantScope,
        guardian: Uuid,
        minor: Uuid,
    ) -> Result<bool, TenantError> {
        let directory = self.minor_directory.read().ok().and_then(|d| d.clone());
        match directory {
            Some(directory) => directory.is_guardian_of(scope, guardian, minor).await,
            None => Ok(false),
        }
    }

    /// Registers the directory of people (identity's) that crates which may not depend on
    /// identity look people up in. Called once at start by the gateway.
    pub fn register_people_directory(&self, directory: Arc<dyn personal_data::SubjectDirectory>) {
        if let Ok(mut slot) = self.people_directory.write() {
            *slot = Some(directory);
        }
    }

    /// The person with this id in the scope's tenant, if there is one (`None` too when no
    /// directory is registered: nobody can be confirmed).
    pub async fn person(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<Option<personal_data::SubjectRecord>, TenantError> {
        let directory = self.people_directory.read().ok().and_then(|d| d.clone());
        match directory {
            Some(directory) => directory.person(scope, id).await.map_err(|e| match e
                .downcast::<sea_orm::DbErr>()
            {
                Ok(db) => TenantError::Database(*db),
                Err(other) => TenantError::Conflict(format!("people directory: {other}")),
            }),
            None => Ok(None),
        }
    }

    /// Registers the addendum duties port (privacy's). Called once at start by the gateway.
    pub fn register_addendum_duties(&self, duties: Arc<dyn addendum_duties::AddendumDuties>) {
        if let Ok(mut slot) = self.addendum_duties.write() {
            *slot = Some(duties);
        }
    }

    /// The duties of the institution's addendum in force at `now`; `None` with no addendum
    /// in force (or no port registered): the platform defaults hold.
    pub async fn addendum_duties(
        &self,
        scope: &TenantScope,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<addendum_duties::DutiesInForce>, TenantError> {
        let port = self.addendum_duties.read().ok().and_then(|d| d.clone());
        match port {
            Some(port) => port
                .in_force(scope, now)
                .await
                .map_err(|e| TenantError::Conflict(format!("privacy addendum unreadable: {e}"))),
            None => Ok(None),
        }
    }

    /// Hours within which a breach of this institution's data must be notified: the
    /// addendum's window, or 72 (GDPR Art. 33).
    pub async fn breach_notification_hours(
        &self,
        scope: &TenantScope,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<u32, TenantError> {
        Ok(self
            .addendum_duties(scope, now)
            .await?
            .and_then(|d| d.breach_notification_hours)
            .unwrap_or(addendum_duties::DEFAULT_BREACH_NOTIFICATION_HOURS))
    }

    /// Replaces the retention and reporting profile ([`profile::replace`]) unless it breaks
    /// the addendum in force: 409 `addendum_duty_breached`, one violation per breach.
    pub async fn replace_privacy_profile(
        &self,
        scope: &TenantScope,
        profile: profile::PrivacyProfile,
        expected_revision: Option<i32>,
    ) -> Result<profile::VersionedProfile, TenantError> {
        scope.require(Scope::TenantAdmin)?;
        profile.validate()?;
        if let Some(duties) = self.addendum_duties(scope, chrono::Utc::now()).await? {
            let breaches = addendum_duties::profile_breaches(&duties, &profile);
            if !breaches.is_empty() {
                return Err(TenantError::AddendumBreached(breaches));
            }
        }
        profile::replace(scope, profile, expected_revision).await
    }

    fn sealed_stores(&self) -> Vec<Arc<dyn SealedStore>> {
        self.sealed_stores
            .read()
            .map(|stores| stores.clone())
            .unwrap_or_default()
    }

    /// Every blind-index column index-key rotation reaches.
    pub fn indexed_column_registry(&self) -> &[IndexedColumn] {
        &self.indexed
    }

    /// Every sealed column key rotation reaches.
    pub fn sealed_column_registry(&self) -> &[SealedColumn] {
        &self.sealed
    }

    pub fn plane(&self) -> &DataPlane {
        &self.plane
    }

    /// Resolves a bearer token to its principal; the tenant comes only from the credential.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, TenantError> {
        let principal =
            credentials::authenticate(self.plane.control(), &self.principals, token).await?;
        if let Principal::Tenant(tenant) = &principal {
            self.require_keys(tenant.tenant_id()).await?;
        }
        Ok(principal)
    }

    /// A tenant without keys in the key store was crypto-shredded: whatever a restored
    /// backup of the control plane says about it, its credentials open nothing.
    async fn require_keys(&self, tenant_id: Uuid) -> Result<(), TenantError> {
        match self.key_ring(tenant_id).await {
            Ok(_) => Ok(()),
            Err(TenantError::NotFound(_)) => {
                // If it was offboarded, the data it came from is a restored backup: offboard
                // it again now. Only on this failure path, so no other request pays for it.
                if let Err(error) = self.reapply_tombstone_of(tenant_id).await {
                    tracing::warn!(tenant = %tenant_id, %error, "re-applying an offboarding failed");
                }
                Err(TenantError::Unauthenticated)
            }
            Err(other) => Err(other),
        }
    }

    pub(crate) async fn key_ring(
        &self,
        tenant_id: Uuid,
    ) -> Result<Arc<hub_kernel::crypto::TenantKeyRing>, TenantError> {
        self.keys.ring(tenant_id).await
    }

    /// Moves wrapped keys left in the control plane by an older version into the key store
    /// (`hub migrate`). Idempotent; returns how many moved.
    pub async fn move_keys_to_key_store(&self) -> Result<u64, TenantError> {
        self.keys
            .move_from_control_plane(self.plane.control())
            .await
    }

    /// Wrapped keys still in the control plane (0 once `hub migrate` has moved them).
    pub async fn keys_left_in_control_plane(&self) -> Result<u64, TenantError> {
        self.keys.left_in_control_plane(self.plane.control()).await
    }

    /// Opens a unit of work on the principal's tenant.
    pub async fn scope(&self, principal: &TenantPrincipal) -> Result<TenantScope, TenantError> {
        self.principal_scope(principal, Access::ReadWrite).await
    }

    /// Opens a unit of work that only reads: PostgreSQL refuses any write in it, and ending
    /// it costs no round trip. For the hot read paths, through [`Self::read`] (which retries
    /// a read that lost its connection), so not public.
    pub(crate) async fn read_scope(
        &self,
        principal: &TenantPrincipal,
    ) -> Result<TenantScope, TenantError> {
        self.principal_scope(principal, Access::ReadOnly).await
    }

    /// Runs `work` in a read scope of the principal's tenant (the work owns the scope; a read
    /// scope ends when dropped). When the work fails because storage was unavailable (a
    /// pooled connection the server ended, mid-work and not only at `begin`), it runs once
    /// more, in a fresh scope on a fresh connection: a read changes nothing, so repeating it
    /// is safe. Writes are never retried (their first attempt may have committed before the
    /// connection was lost); they answer 503.
    pub async fn read<T, E, Work, Done>(
        &self,
        principal: &TenantPrincipal,
        work: Work,
    ) -> Result<T, E>
    where
        Work: Fn(TenantScope) -> Done,
        Done: std::future::Future<Output = Result<T, E>>,
        E: hub_kernel::DescribeProblem + From<TenantError>,
    {
        match work(self.read_scope(principal).await?).await {
            Err(error) if error.code() == TenantError::STORAGE_UNAVAILABLE => {
                tracing::info!(%error, "a read lost its database connection; retrying once");
                work(self.read_scope(principal).await?).await
            }
            done => done,
        }
    }

    async fn principal_scope(
        &self,
        principal: &TenantPrincipal,
        access: Access,
    ) -> Result<TenantScope, TenantError> {
        let keys = self.key_ring(principal.tenant_id()).await?;
        let txn = self.plane.begin_tenant(&principal.location, access).await?;
        Ok(TenantScope::for_principal(
            principal,
            txn,
            keys,
            self.plane.control().clone(),
        ))
    }

    /// A unit of work for the platform's own jobs on one tenant.
    pub(crate) async fn system_scope(
        &self,
        location: &TenantLocation,
    ) -> Result<TenantScope, TenantError> {
        let keys = self.keys.ring(location.tenant_id).await?;
        let txn = self.plane.begin_tenant(location, Access::ReadWrite).await?;
        Ok(TenantScope::for_system(
            location.clone(),
            txn,
            keys,
            self.plane.control().clone(),
        ))
    }

    /// Creates a platform-operator key (from the command line, never over the API).
    pub async fn create_operator_key(&self, name: &str) -> Result<IssuedKey, TenantError> {
        let mut v = hub_kernel::problem::Violations::new();
        credentials::validate_label(&mut v, "name", name, 100);
        v.finish().map_err(TenantError::Invalid)?;
        credentials::issue(self.plane.control(), None, name, &[], "command line").await
    }

    pub async fn issue_api_key(
        &self,
        principal: &TenantPrincipal,
        request: NewApiKey,
    ) -> Result<IssuedKey, TenantError> {
        principal.require(Scope::TenantAdmin)?;
        let scopes = request.validate()?;
        let issued = credentials::issue(
            self.plane.control(),
            Some(principal.tenant_id()),
            &request.name,
            &scopes,
            &principal.actor.label(),
        )
        .await?;
        self.audit_admin_action(
            principal,
            audit::AuditEvent::new("api_key.issued")
                .subject(format!("api-key:{}", issued.info.id))
                .detail(serde_json::json!({
                    "scopes": scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>()
                })),
        )
        .await?;
        Ok(issued)
    }

    /// Records an action on control-plane data in the tenant's own audit trail.
    async fn audit_admin_action(
        &self,
        principal: &TenantPrincipal,
        event: audit::AuditEvent,
    ) -> Result<(), TenantError> {
        let scope = self.scope(principal).await?;
        audit::record(&scope, event).await?;
        scope.commit().await?;
        Ok(())
    }

    pub async fn list_api_keys(
        &self,
        principal: &TenantPrincipal,
        page: &PageRequest,
    ) -> Result<Page<ApiKeyInfo>, TenantError> {
        principal.require(Scope::TenantAdmin)?;
        credentials::list(self.plane.control(), principal.tenant_id(), page).await
    }

    pub async fn revoke_api_key(
        &self,
        principal: &TenantPrincipal,
        key_id: Uuid,
    ) -> Result<ApiKeyInfo, TenantError> {
        principal.require(Scope::TenantAdmin)?;
        let revoked =
            credentials::revoke(self.plane.control(), principal.tenant_id(), key_id).await?;
        self.principals.forget_key(key_id);
        self.audit_admin_action(
            principal,
            audit::AuditEvent::new("api_key.revoked").subject(format!("api-key:{key_id}")),
        )
        .await?;
        Ok(revoked)
    }

    /// Revokes every API key the principal's actor created (a person reporting their account
    /// compromised: keys made in their name may be the attacker's). Returns how many.
    pub async fn revoke_keys_created_by_actor(
        &self,
        principal: &TenantPrincipal,
    ) -> Result<usize, TenantError> {
        let ids = credentials::revoke_created_by(
            self.plane.control(),
            principal.tenant_id(),
            &principal.actor.label(),
        )
        .await?;
        for id in &ids {
            self.principals.forget_key(*id);
        }
        Ok(ids.len())
    }

    pub async fn key_versions(
        &self,
        principal: &TenantPrincipal,
    ) -> Result<Vec<KeyVersionInfo>, TenantError> {
        principal.require(Scope::TenantAdmin)?;
        self.keys
            .versions(principal.tenant_id(), keys::KeyPurpose::Data)
            .await
    }

    /// The blind-index key's versions (never the keys).
    pub async fn index_key_versions(
        &self,
        principal: &TenantPrincipal,
    ) -> Result<Vec<KeyVersionInfo>, TenantError> {
        principal.require(Scope::TenantAdmin)?;
        self.keys
            .versions(principal.tenant_id(), keys::KeyPurpose::BlindIndex)
            .await
    }
}
