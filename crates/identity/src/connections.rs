//! An institution's SSO connections, managed by its admins: OpenID Connect (client secret
//! sealed under the institution's key, never shown again after it is set) and SAML 2.0 (the
//! IdP's metadata, checked by `saml/protocol.rs` before it is stored).

use crate::entities::sso_connection;
use crate::error::IdentityError;
use crate::roles::Role;
use chrono::{DateTime, Utc};
use hub_kernel::Secret;
use hub_kernel::problem::Violations;
use hub_tenant::{Scope, TenantScope};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A connection's name, in characters after trimming (OIDC and SAML alike).
pub const NAME_MAX: usize = 100;
/// The OIDC client id the IdP issued, and its client secret.
pub const CLIENT_ID_MAX: usize = 255;
pub const CLIENT_SECRET_MAX: usize = 1024;

const TABLE: &str = "sso_connections";
const MAX_CONNECTIONS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionKind {
    Oidc,
    Saml,
}

impl ConnectionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Saml => "saml",
        }
    }

    /// The kind as stored in `sso_connections.kind` (written by [`Self::as_str`]).
    fn from_stored(stored: &str) -> Self {
        if stored == Self::Saml.as_str() {
            Self::Saml
        } else {
            Self::Oidc
        }
    }
}

#[derive(Debug, Clone)]
pub struct SsoConnection {
    pub id: Uuid,
    pub kind: ConnectionKind,
    pub name: String,
    /// OIDC: the issuer URL. SAML: the IdP's entity ID.
    pub issuer: String,
    /// How the IdP knows this service. OIDC: the client id. SAML: the SP entity ID.
    pub client_id: String,
    pub scopes: Vec<String>,
    /// IdP group → role granted to people in that group.
    pub group_roles: BTreeMap<String, Role>,
    /// The role of a person in no mapped group.
    pub default_role: Role,
    /// SAML: the attribute whose values are the person's groups.
    pub group_attribute: Option<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewConnection {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub scopes: Option<Vec<String>>,
    pub group_roles: BTreeMap<String, String>,
    pub default_role: Option<String>,
}

/// `https`, or `http` on a loopback address only (an IdP on the same host, as in tests).
fn check_issuer(v: &mut Violations, issuer: &str) {
    let ok = match url::Url::parse(issuer) {
        Ok(u) => {
            let loopback = matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
            (u.scheme() == "https" || (u.scheme() == "http" && loopback))
                && u.query().is_none()
                && u.fragment().is_none()
                && u.username().is_empty()
                && issuer.len() <= 500
        }
        Err(_) => false,
    };
    v.check(
        ok,
        "issuer",
        "must be the IdP's https issuer URL (http only on a loopback address), without query or fragment",
    );
}

/// The IdP group → role map and the role of people in no mapped group, checked.
pub(crate) fn check_role_mapping(
    v: &mut Violations,
    requested: &BTreeMap<String, String>,
    default_role: Option<&str>,
) -> (BTreeMap<String, Role>, Role) {
    let mut group_roles = BTreeMap::new();
    v.check(requested.len() <= 100, "group_roles", "at most 100 groups");
    for (group, role) in requested {
        match Role::parse(role) {
            Some(r) if !group.is_empty() && group.len() <= 200 => {
                group_roles.insert(group.clone(), r);
            }
            _ => v.add(
                format!("group_roles.{group}"),
                format!(
                    "must map a non-empty group name to one of {}",
                    Role::ALL.map(Role::as_str).join(", ")
                ),
            ),
        }
    }
    let default_role = match default_role {
        None => Role::Learner,
        Some(text) => Role::parse(text).unwrap_or_else(|| {
            v.add("default_role", "unknown role");
            Role::Learner
        }),
    };
    // A connection must not make every unknown person an administrator.
    v.check(
        !default_role.is_privileged(),
        "default_role",
        "must not be a privileged role; grant those through group_roles",
    );
    (group_roles, default_role)
}

/// A new connection's settings after validation: scopes, group → role map, default role.
type Checked = (Vec<String>, BTreeMap<String, Role>, Role);

impl NewConnection {
    fn validate(&self) -> Result<Checked, IdentityError> {
        let mut v = Violations::new();
        let name = self.name.trim();
        v.check(
            !name.is_empty() && name.chars().count() <= NAME_MAX,
            "name",
            "must be 1–100 characters",
        );
        check_issuer(&mut v, &self.issuer);
        v.check(
            (1..=CLIENT_ID_MAX).contains(&self.client_id.chars().count())
                && !self.client_id.chars().any(char::is_control),
            "client_id",
            "must be 1–255 characters",
        );
        v.check(
            (1..=CLIENT_SECRET_MAX).contains(&self.client_secret.expose().chars().count()),
            "client_secret",
            "must be 1–1024 characters",
        );
        let scopes = self
            .scopes
            .clone()
            .unwrap_or_else(|| ["openid", "email", "profile"].map(String::from).to_vec());
        v.check(
            scopes.iter().any(|s| s == "openid")
                && scopes.len() <= 20
                && scopes
                    .iter()
                    .all(|s| !s.is_empty() && s.len() <= 100 && !s.contains(char::is_whitespace)),
            "scopes",
            "must include `openid`; at most 20 scopes without spaces",
        );
        let (group_roles, default_role) =
            check_role_mapping(&mut v, &self.group_roles, self.default_role.as_deref());
        v.finish().map_err(IdentityError::Invalid)?;
        Ok((scopes, group_roles, default_role))
    }
}

fn view(row: sso_connection::Model) -> SsoConnection {
    let kind = ConnectionKind::from_stored(&row.kind);
    let group_roles: BTreeMap<String, String> =
        serde_json::from_str(&row.group_roles).unwrap_or_default();
    SsoConnection {
        id: row.id,
        kind,
        name: row.name,
        issuer: row.issuer,
        client_id: row.client_id,
        scopes: row.scopes.split_whitespace().map(String::from).collect(),
        group_roles: group_roles
            .into_iter()
            .filter_map(|(g, r)| Role::parse(&r).map(|r| (g, r)))
            .collect(),
        default_role: Role::parse(&row.default_role).unwrap_or(Role::Learner),
        group_attribute: row.group_attribute,
        enabled: row.enabled,
        created_at: row.created_at,
    }
}

pub async fn create(
    scope: &TenantScope,
    input: NewConnection,
) -> Result<SsoConnection, IdentityError> {
    scope.require(Scope::TenantAdmin)?;
    let (scopes, group_roles, default_role) = input.validate()?;
    let id = Uuid::now_v7();
    let row = StoredConnection {
        id,
        kind: ConnectionKind::Oidc,
        name: input.name.trim().to_string(),
        issuer: input.issuer.clone(),
        client_id: input.client_id.clone(),
        client_secret: input.client_secret.clone(),
        scopes,
        group_roles,
        default_role,
        idp_metadata_xml: None,
        group_attribute: None,
    };
    insert(scope, row).await?;
    get(scope, id).await
}

/// A checked connection, as it is written.
pub(crate) struct StoredConnection {
    pub id: Uuid,
    pub kind: ConnectionKind,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    /// Empty for SAML (there is no client secret).
    pub client_secret: Secret,
    pub scopes: Vec<String>,
    pub group_roles: BTreeMap<String, Role>,
    pub default_role: Role,
    pub idp_metadata_xml: Option<String>,
    pub group_attribute: Option<String>,
}

pub(crate) async fn insert(
    scope: &TenantScope,
    input: StoredConnection,
) -> Result<(), IdentityError> {
    scope.require(Scope::TenantAdmin)?;
    let existing = sso_connection::Entity::find().all(scope.db()).await?;
    if existing.len() >= MAX_CONNECTIONS {
        return Err(IdentityError::Conflict(format!(
            "an institution can have at most {MAX_CONNECTIONS} SSO connections"
        )));
    }
    let id = input.id;
    let now = Utc::now();
    let mapping: BTreeMap<&str, &str> = input
        .group_roles
        .iter()
        .map(|(g, r)| (g.as_str(), r.as_str()))
        .collect();
    let row = sso_connection::ActiveModel {
        id: Set(id),
        kind: Set(input.kind.as_str().into()),
        name: Set(input.name),
        issuer: Set(input.issuer.clone()),
        client_id: Set(input.client_id.clone()),
        client_secret_sealed: Set(scope.keys().seal_str(
            TABLE,
            "client_secret",
            id,
            input.client_secret.expose(),
        )),
        scopes: Set(input.scopes.join(" ")),
        group_roles: Set(
            serde_json::to_string(&mapping).map_err(|e| IdentityError::Conflict(e.to_string()))?
        ),
        default_role: Set(input.default_role.as_str().to_string()),
        enabled: Set(true),
        key_version: Set(scope.keys().active_version() as i32),
        revision: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        idp_metadata_xml: Set(input.idp_metadata_xml),
        group_attribute: Set(input.group_attribute),
    };
    sso_connection::Entity::insert(row)
        .exec_without_returning(scope.db())
        .await?;
    hub_tenant::audit::record(
        scope,
        hub_tenant::audit::AuditEvent::new("sso_connection.created")
            .subject(format!("sso-connection:{id}"))
            .detail(serde_json::json!({
                "kind": input.kind.as_str(),
                "issuer": input.issuer,
                "client_id": input.client_id,
            })),
    )
    .await?;
    Ok(())
}

pub async fn list(scope: &TenantScope) -> Result<Vec<SsoConnection>, IdentityError> {
    scope.require(Scope::TenantAdmin)?;
    Ok(sso_connection::Entity::find()
        .order_by_asc(sso_connection::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        .map(view)
        .collect())
}

pub async fn get(scope: &TenantScope, id: Uuid) -> Result<SsoConnection, IdentityError> {
    scope.require(Scope::TenantAdmin)?;
    load(scope, id).await.map(|(c, _)| c)
}

pub async fn delete(scope: &TenantScope, id: Uuid) -> Result<(), IdentityError> {
    scope.require(Scope::TenantAdmin)?;
    let deleted = sso_connection::Entity::delete_many()
        .filter(sso_connection::Column::Id.eq(id))
        .exec(scope.db())
        .await?;
    if deleted.rows_affected == 0 {
        return Err(IdentityError::NotFound("sso connection"));
    }
    hub_tenant::audit::record(
        scope,
        hub_tenant::audit::AuditEvent::new("sso_connection.deleted")
            .subject(format!("sso-connection:{id}")),
    )
    .await?;
    Ok(())
}

/// The enabled connections' ids and protocols, oldest first (for home-realm discovery: a
/// sign-in path depends on both).
pub(crate) async fn enabled(
    scope: &TenantScope,
) -> Result<Vec<(Uuid, ConnectionKind)>, IdentityError> {
    Ok(sso_connection::Entity::find()
        .filter(sso_connection::Column::Enabled.eq(true))
        .order_by_asc(sso_connection::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|row| (row.id, ConnectionKind::from_stored(&row.kind)))
        .collect())
}

/// The connection and its IdP metadata document, for a SAML sign-in in progress.
pub(crate) async fn load_saml(
    scope: &TenantScope,
    id: Uuid,
) -> Result<(SsoConnection, String), IdentityError> {
    let row = sso_connection::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .ok_or(IdentityError::NotFound("sso connection"))?;
    let metadata = row.idp_metadata_xml.clone().unwrap_or_default();
    let connection = view(row);
    if connection.kind != ConnectionKind::Saml || metadata.is_empty() {
        return Err(IdentityError::NotFound("sso connection"));
    }
    Ok((connection, metadata))
}

/// The connection and its client secret, for a sign-in in progress.
pub(crate) async fn load(
    scope: &TenantScope,
    id: Uuid,
) -> Result<(SsoConnection, Secret), IdentityError> {
    let row = sso_connection::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .ok_or(IdentityError::NotFound("sso connection"))?;
    let secret =
        scope
            .keys()
            .open_str(TABLE, "client_secret", row.id, &row.client_secret_sealed)?;
    Ok((view(row), Secret::new(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_must_be_https_except_on_loopback() {
        for good in [
            "https://idp.example.edu",
            "http://127.0.0.1:4000",
            "https://login.example.com/tenant/v2.0",
        ] {
            let mut v = Violations::new();
            check_issuer(&mut v, good);
            assert!(v.is_empty(), "{good}");
        }
        for bad in [
            "http://idp.example.edu",
            "ftp://127.0.0.1",
            "https://x.example?y=1",
            "not a url",
        ] {
            let mut v = Violations::new();
            check_issuer(&mut v, bad);
            assert!(!v.is_empty(), "{bad}");
        }
    }
}
