//! An institution's SSO connections, managed by its admins. The client secret is sealed
//! under the institution's key and never shown again after it is set.

use crate::entities::sso_connection;
use crate::error::IdentityError;
use crate::roles::Role;
use chrono::{DateTime, Utc};
use hub_kernel::problem::Violations;
use hub_tenant::{Scope, TenantScope};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::BTreeMap;
use uuid::Uuid;

const TABLE: &str = "sso_connections";
const MAX_CONNECTIONS: usize = 20;

#[derive(Debug, Clone)]
pub struct SsoConnection {
    pub id: Uuid,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// IdP group → role granted to people in that group.
    pub group_roles: BTreeMap<String, Role>,
    /// The role of a person in no mapped group.
    pub default_role: Role,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewConnection {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
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

/// A new connection's settings after validation: scopes, group → role map, default role.
type Checked = (Vec<String>, BTreeMap<String, Role>, Role);

impl NewConnection {
    fn validate(&self) -> Result<Checked, IdentityError> {
        let mut v = Violations::new();
        let name = self.name.trim();
        v.check(
            !name.is_empty() && name.chars().count() <= 100,
            "name",
            "must be 1–100 characters",
        );
        check_issuer(&mut v, &self.issuer);
        v.check(
            (1..=255).contains(&self.client_id.len())
                && !self.client_id.chars().any(char::is_control),
            "client_id",
            "must be 1–255 characters",
        );
        v.check(
            (1..=1024).contains(&self.client_secret.len()),
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
        let mut group_roles = BTreeMap::new();
        v.check(
            self.group_roles.len() <= 100,
            "group_roles",
            "at most 100 groups",
        );
        for (group, role) in &self.group_roles {
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
        let default_role = match self.default_role.as_deref() {
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
        v.finish().map_err(IdentityError::Invalid)?;
        Ok((scopes, group_roles, default_role))
    }
}

fn view(row: sso_connection::Model) -> SsoConnection {
    let group_roles: BTreeMap<String, String> =
        serde_json::from_str(&row.group_roles).unwrap_or_default();
    SsoConnection {
        id: row.id,
        name: row.name,
        issuer: row.issuer,
        client_id: row.client_id,
        scopes: row.scopes.split_whitespace().map(String::from).collect(),
        group_roles: group_roles
            .into_iter()
            .filter_map(|(g, r)| Role::parse(&r).map(|r| (g, r)))
            .collect(),
        default_role: Role::parse(&row.default_role).unwrap_or(Role::Learner),
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
    let existing = sso_connection::Entity::find().all(scope.db()).await?;
    if existing.len() >= MAX_CONNECTIONS {
        return Err(IdentityError::Conflict(format!(
            "an institution can have at most {MAX_CONNECTIONS} SSO connections"
        )));
    }
    let id = Uuid::now_v7();
    let now = Utc::now();
    let mapping: BTreeMap<&str, &str> = group_roles
        .iter()
        .map(|(g, r)| (g.as_str(), r.as_str()))
        .collect();
    let row = sso_connection::ActiveModel {
        id: Set(id),
        kind: Set("oidc".into()),
        name: Set(input.name.trim().to_string()),
        issuer: Set(input.issuer.clone()),
        client_id: Set(input.client_id.clone()),
        client_secret_sealed: Set(scope.keys().seal_str(
            TABLE,
            "client_secret",
            id,
            &input.client_secret,
        )),
        scopes: Set(scopes.join(" ")),
        group_roles: Set(
            serde_json::to_string(&mapping).map_err(|e| IdentityError::Conflict(e.to_string()))?
        ),
        default_role: Set(default_role.as_str().to_string()),
        enabled: Set(true),
        key_version: Set(scope.keys().active_version() as i32),
        revision: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    sso_connection::Entity::insert(row)
        .exec_without_returning(scope.db())
        .await?;
    hub_tenant::audit::record(
        scope,
        hub_tenant::audit::AuditEvent::new("sso_connection.created")
            .subject(format!("sso-connection:{id}"))
            .detail(serde_json::json!({ "issuer": input.issuer, "client_id": input.client_id })),
    )
    .await?;
    get(scope, id).await
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

/// Ids of the enabled connections, oldest first (for home-realm discovery).
pub(crate) async fn enabled_ids(scope: &TenantScope) -> Result<Vec<Uuid>, IdentityError> {
    Ok(sso_connection::Entity::find()
        .filter(sso_connection::Column::Enabled.eq(true))
        .order_by_asc(sso_connection::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect())
}

/// The connection and its client secret, for a sign-in in progress.
pub(crate) async fn load(
    scope: &TenantScope,
    id: Uuid,
) -> Result<(SsoConnection, String), IdentityError> {
    let row = sso_connection::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .ok_or(IdentityError::NotFound("sso connection"))?;
    let secret =
        scope
            .keys()
            .open_str(TABLE, "client_secret", row.id, &row.client_secret_sealed)?;
    Ok((view(row), secret))
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
