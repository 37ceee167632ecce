//! Tenant-level domain types: what an institution is, who may act on it, and with what scopes.

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    Active,
    Suspended,
    /// Keys destroyed, schema being dropped; never serves requests again.
    Offboarding,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Offboarding => "offboarding",
        }
    }
    pub fn parse(text: &str) -> Self {
        match text {
            "active" => Self::Active,
            "suspended" => Self::Suspended,
            // Unknown values are treated as the most restrictive state.
            _ => Self::Offboarding,
        }
    }
}

/// An institution as the registry knows it.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
    pub status_reason: Option<String>,
    pub cluster: String,
    pub schema_version: Option<String>,
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The limits this crate enforces on request fields, in one place: the validation uses
/// them and the gateway declares them in the spec (`crate::spec` of hub-gateway), so a
/// generated client can check before sending.
pub mod limits {
    /// An institution's slug: lower-case letters, digits and inner hyphens.
    pub const TENANT_SLUG_MIN: usize = 3;
    pub const TENANT_SLUG_MAX: usize = 50;
    pub const TENANT_SLUG_PATTERN: &str = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$";
    /// Names of institutions and contacts, in characters after trimming.
    pub const TENANT_NAME_MAX: usize = 200;
    pub const CONTACT_NAME_MAX: usize = 200;
    /// Why an institution was suspended or offboarded.
    pub const STATUS_REASON_MAX: usize = 500;
    pub const API_KEY_NAME_MAX: usize = 100;
    /// A phone number in E.164 form: `+`, then 7 to 15 digits, the first not 0.
    pub const PHONE_PATTERN: &str = "^\\+[1-9][0-9]{6,14}$";
}

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub slug: String,
    pub name: String,
    /// The cluster to place the tenant's schema on; `None` means the configured default.
    pub cluster: Option<String>,
}

/// A permission inside a tenant. API keys carry scopes directly; people get them from their
/// roles. Every operation names the one scope it needs.
///
/// A scope is its stable name. The crate whose operations require it declares it and
/// registers it in its [`crate::module::DomainModule`]; registration is what makes a name
/// parse and what the tenant admin role holds. The names below are the scopes of the crates
/// that existed before registration (their owners register them: courses in `hub-course`,
/// people and SCIM in `hub-identity`, the rest here); a new crate declares its own with
/// [`Scope::named`] in its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(&'static str);

#[allow(non_upper_case_globals)]
impl Scope {
    pub const CoursesRead: Scope = Scope("courses:read");
    pub const CoursesWrite: Scope = Scope("courses:write");
    pub const ContactsRead: Scope = Scope("contacts:read");
    pub const ContactsWrite: Scope = Scope("contacts:write");
    /// Other people's records (names, emails, roles); every read is audited.
    pub const PeopleRead: Scope = Scope("people:read");
    /// Create people, change their roles, deactivate them.
    pub const PeopleWrite: Scope = Scope("people:write");
    /// The audit trail and its verification.
    pub const AuditRead: Scope = Scope("audit:read");
    /// SCIM 2.0 provisioning by the institution's IdP (give its bearer key only this scope).
    pub const ScimProvision: Scope = Scope("scim:provision");
    /// API keys, keys rotation, retention and reporting profile, SSO connections.
    pub const TenantAdmin: Scope = Scope("tenant:admin");
}

impl Scope {
    /// A scope named `<resource>:<verb>`, declared by the crate that owns it.
    pub const fn named(name: &'static str) -> Self {
        Self(name)
    }

    /// Every registered scope (by name).
    pub fn all() -> Vec<Scope> {
        crate::module::all_scopes()
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// A registered scope by name; `None` for a name no registered crate declares.
    pub fn parse(text: &str) -> Option<Self> {
        Self::all().into_iter().find(|s| s.as_str() == text)
    }
}

/// Who did something, as recorded in histories, audit entries and deletion records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An integration or operator acting with an API key.
    ApiKey { key_id: Uuid, key_name: String },
    /// A person signed in through SSO (or a local account), in one session.
    Person { person_id: Uuid, session_id: Uuid },
}

impl Actor {
    pub fn label(&self) -> String {
        match self {
            Self::ApiKey { key_id, key_name } => format!("api-key:{key_id} ({key_name})"),
            Self::Person { person_id, .. } => format!("person:{person_id}"),
        }
    }

    /// The budget this actor's requests count against: one per key, one per person.
    pub fn rate_bucket(&self) -> String {
        match self {
            Self::ApiKey { key_id, .. } => format!("key:{key_id}"),
            Self::Person { person_id, .. } => format!("person:{person_id}"),
        }
    }

    pub fn person_id(&self) -> Option<Uuid> {
        match self {
            Self::Person { person_id, .. } => Some(*person_id),
            Self::ApiKey { .. } => None,
        }
    }
}

/// Where a tenant's data lives. Only the registry makes one, from a stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantLocation {
    pub tenant_id: Uuid,
    pub schema: SchemaName,
    pub cluster: String,
}

/// A tenant schema name: derived from the tenant id, never taken from input.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SchemaName(String);

impl SchemaName {
    pub fn for_tenant(tenant_id: Uuid) -> Self {
        Self(format!("t_{}", tenant_id.simple()))
    }

    /// Re-validates a name read back from the registry before it is spliced into SQL.
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.strip_prefix("t_")?;
        (hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Double-quoted identifier. The validated alphabet has no quote to escape.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

/// An authenticated caller acting inside one tenant.
#[derive(Debug, Clone)]
pub struct TenantPrincipal {
    pub location: TenantLocation,
    pub tenant_slug: String,
    pub actor: Actor,
    pub scopes: Vec<Scope>,
    /// Where this request came from (set per request by the gateway; audit entries keep it).
    pub client_ip: Option<String>,
}

impl TenantPrincipal {
    pub fn tenant_id(&self) -> Uuid {
        self.location.tenant_id
    }

    pub fn require(&self, scope: Scope) -> Result<(), crate::TenantError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(crate::TenantError::MissingScope(scope.as_str()))
        }
    }
}

/// An authenticated platform operator.
#[derive(Debug, Clone)]
pub struct OperatorPrincipal {
    pub actor: Actor,
}

#[derive(Debug, Clone)]
pub enum Principal {
    Operator(OperatorPrincipal),
    Tenant(TenantPrincipal),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_derived_and_validated() {
        let id = Uuid::now_v7();
        let name = SchemaName::for_tenant(id);
        assert_eq!(SchemaName::parse(name.as_str()), Some(name.clone()));
        assert!(SchemaName::parse("t_x; DROP SCHEMA public").is_none());
        assert!(SchemaName::parse("public").is_none());
        assert!(SchemaName::parse("t_\"abc").is_none());
    }
}
