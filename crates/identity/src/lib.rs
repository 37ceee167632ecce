//! Identity: the people of each institution, their roles and the scopes those grant,
//! enterprise SSO connections (OpenID Connect and SAML 2.0) and home-realm discovery by email
//! domain, sign-in with just-in-time provisioning, local password accounts, SCIM 2.0
//! provisioning, the sessions that follow, compromise reports and the reauthentication they
//! force, access reviews, and the outbox of messages to people and its delivery.

pub mod connections;
pub mod domains;
mod entities;
pub mod ephemeral;
mod error;
pub mod incidents;
pub mod minors;
pub mod oidc;
pub mod outbox;
pub mod passwords;
pub mod people;
pub mod personal_data;
pub mod privacy_ports;
pub mod reauthentication;
pub mod reviews;
pub mod roles;
pub mod saml;
pub mod scim;
pub mod sessions;
pub mod signin;

/// The control-plane rows this crate keeps about an institution (offboarding erases them).
pub use domains::CONTROL_FOOTPRINT;
pub use error::{IdentityError, Refusal};
pub use roles::Role;

use ephemeral::Ephemeral;
use hub_kernel::classification::{
    BlindIndexed, FieldClassification, IndexedColumn, RowKey, SealedColumn, SealedSecret,
    SealedTable,
};
use hub_tenant::{Actor, DomainModule, RoleGrant, Scope, Tenancy, TenantPrincipal};
use oidc::OidcClient;
use sessions::Sessions;
use std::sync::Arc;
use std::time::Duration;

/// This crate's registration: people, SSO and SCIM provisioning. The tenant admin role
/// holds every registered scope; the grants below are the other roles'.
pub const MODULE: DomainModule = DomainModule {
    crate_name: "hub-identity",
    scopes: &[Scope::PeopleRead, Scope::PeopleWrite, Scope::ScimProvision],
    role_grants: &[RoleGrant {
        role: "auditor",
        scopes: &[Scope::PeopleRead],
    }],
    personal_fields,
    sealed_secrets: SEALED_SECRETS,
    sealed_tables: SEALED_TABLES,
    blind_indexes: BLIND_INDEXES,
    personal_data_sources: || {
        vec![
            Box::new(people::PeopleSource),
            Box::new(personal_data::LocalAccountsSource),
            Box::new(personal_data::SsoLinksSource),
            Box::new(personal_data::ScimSource),
            Box::new(personal_data::AccessReviewsSource),
            Box::new(personal_data::IncidentsSource),
            Box::new(personal_data::OutboxSource),
            Box::new(personal_data::GuardianConsentsSource),
        ]
    },
    report_producers: Vec::new,
};

/// Every personal-data field this crate stores in tables.
pub fn personal_fields() -> Vec<FieldClassification> {
    let mut fields = people::PERSONAL_FIELDS.to_vec();
    fields.extend_from_slice(SSO_LINK_FIELDS);
    fields.extend_from_slice(incidents::PERSONAL_FIELDS);
    fields.extend_from_slice(outbox::PERSONAL_FIELDS);
    fields.extend_from_slice(scim::users::PERSONAL_FIELDS);
    fields.extend_from_slice(personal_data::GUARDIAN_FIELDS);
    fields
}

/// The identifier an institution's IdP knows a person by, kept with each SSO link: sealed,
/// and found through its blind index at sign-in.
pub const SSO_LINK_FIELDS: &[FieldClassification] = &[FieldClassification {
    table: "person_identities",
    column: "subject",
    category: hub_kernel::classification::DataCategory::Identity,
    purpose: hub_kernel::classification::Purpose::ServiceDelivery,
    retention: hub_kernel::classification::RetentionClass::TenantLifetime,
    identifying: true,
    blind_index: true,
    optional: false,
}];

/// Subjects are compared exactly as the IdP sends them.
fn subject_as_sent(subject: &str) -> String {
    subject.to_string()
}

/// Sealed values that are not personal data: re-sealed on key rotation all the same.
pub const SEALED_SECRETS: &[SealedSecret] = &[SealedSecret {
    table: "sso_connections",
    column: "client_secret",
}];

/// How each table of this crate with a sealed column names its rows in associated data.
pub const SEALED_TABLES: &[SealedTable] = &[
    SealedTable {
        table: "people",
        row_key: RowKey::Uuid("id"),
        version_column: None,
    },
    SealedTable {
        table: "incidents",
        row_key: RowKey::Uuid("id"),
        version_column: None,
    },
    SealedTable {
        table: "outbox",
        row_key: RowKey::Uuid("id"),
        version_column: None,
    },
    SealedTable {
        table: minors::GUARDIAN_CONSENTS_TABLE,
        row_key: RowKey::Uuid("id"),
        version_column: None,
    },
    SealedTable {
        table: "scim_users",
        row_key: RowKey::Uuid("person_id"),
        version_column: None,
    },
    SealedTable {
        table: "sso_connections",
        row_key: RowKey::Uuid("id"),
        version_column: None,
    },
    SealedTable {
        table: "person_identities",
        row_key: RowKey::Uuid("id"),
        version_column: None,
    },
];

/// Every sealed column this crate stores, for key rotation.
pub fn sealed_columns() -> Result<Vec<SealedColumn>, String> {
    MODULE.sealed_columns()
}

/// How each blind index of this crate is made again when the index key rotates. An SSO link
/// older than its sealed subject moves to the new key at its next sign-in.
pub const BLIND_INDEXES: &[BlindIndexed] = &[
    BlindIndexed {
        table: people::TABLE,
        field: "email",
        normalise: Some(people::normalise_email),
    },
    BlindIndexed {
        table: people::TABLE,
        field: "username",
        normalise: Some(people::normalise_username),
    },
    BlindIndexed {
        table: "person_identities",
        field: "subject",
        normalise: Some(subject_as_sent),
    },
];

/// Every blind-index column this crate stores, for index-key rotation.
pub fn indexed_columns() -> Result<Vec<IndexedColumn>, String> {
    MODULE.indexed_columns()
}

pub struct IdentitySettings {
    /// Where IdPs send the browser back: `<public url>/v1/sso/oidc/callback`.
    pub callback_url: String,
    /// The URL this service is reached at; SAML SP entity IDs default to URLs under it.
    pub public_url: String,
    /// Where SAML IdPs post responses: `<public url>/v1/sso/saml/acs`.
    pub saml_acs_url: String,
    pub session_lifetime: Duration,
    /// Tolerated difference between our clock and the IdP's for `exp`, `iat`, `nbf`.
    pub clock_skew: Duration,
    /// The nameserver for domain verification (`None`: public resolvers).
    pub dns_nameserver: Option<std::net::SocketAddr>,
    /// How the outbox is delivered.
    pub mail: outbox::delivery::MailSettings,
}

/// The identity service: one per process.
pub struct Identity {
    tenancy: Arc<Tenancy>,
    ephemeral: Arc<Ephemeral>,
    pub sessions: Sessions,
    oidc: OidcClient,
    domains: domains::DomainResolver,
    mail: outbox::delivery::Mailer,
    callback_url: String,
    public_url: String,
    saml_acs_url: String,
    clock_skew: Duration,
}

impl Identity {
    pub fn new(
        tenancy: Arc<Tenancy>,
        redis: Option<redis::aio::ConnectionManager>,
        settings: IdentitySettings,
    ) -> Result<Self, IdentityError> {
        let ephemeral = Arc::new(Ephemeral::new(redis));
        // Key rotation re-seals the session contexts this crate keeps in the session store.
        tenancy.register_sealed_store(Arc::new(sessions::SessionContexts::new(ephemeral.clone())));
        // Data-subject rights reach the sessions too (ended after the people source ran).
        tenancy.register_personal_data_source(Arc::new(personal_data::SessionsSource::new(
            ephemeral.clone(),
        )));
        Ok(Self {
            tenancy,
            sessions: Sessions::new(ephemeral.clone(), settings.session_lifetime),
            ephemeral,
            oidc: OidcClient::new(settings.clock_skew)?,
            domains: domains::DomainResolver::new(settings.dns_nameserver)?,
            mail: outbox::delivery::Mailer::new(settings.mail)?,
            callback_url: settings.callback_url,
            public_url: settings.public_url.trim_end_matches('/').to_string(),
            saml_acs_url: settings.saml_acs_url,
            clock_skew: settings.clock_skew,
        })
    }

    /// The principal behind a session token.
    pub async fn authenticate_session(
        &self,
        token: &str,
    ) -> Result<TenantPrincipal, IdentityError> {
        let record = self.sessions.resolve(token).await?;
        let actor = Actor::Person {
            person_id: record.person_id,
            session_id: record.id,
        };
        Ok(self
            .tenancy
            .person_principal(record.tenant_id, actor, record.scopes())
            .await?)
    }
}

impl Identity {
    /// The ports the privacy service reaches people through (the gateway hands them to
    /// `hub-privacy-addenda`, which knows no other domain crate).
    pub fn privacy_ports(
        &self,
    ) -> (
        Arc<dyn hub_tenant::personal_data::SubjectDirectory>,
        Arc<dyn hub_tenant::personal_data::EssentialMessages>,
    ) {
        (
            Arc::new(privacy_ports::PeopleDirectory),
            Arc::new(privacy_ports::OutboxMessages {
                tenancy: self.tenancy.clone(),
            }),
        )
    }
}
