//! API keys: shown once, stored only as a hash, bound to one tenant (or to the platform
//! operator), scoped, revocable, with a last-used time.

use crate::entities::{api_key, tenant};
use crate::error::TenantError;
use crate::model::{
    Actor, OperatorPrincipal, Principal, SchemaName, Scope, TenantLocation, TenantPrincipal,
    TenantStatus,
};
use crate::personal_data::{
    DataSubject, Outcome, PersonalDataSource, SourceError, Summary, pseudonym_label,
};
use crate::scope::TenantScope;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hub_kernel::Secret;
use hub_kernel::classification::{DataCategory, FieldClassification};
use hub_kernel::page::{Page, PageRequest};
use hub_kernel::problem::Violations;
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use uuid::Uuid;

const TENANT_PREFIX: &str = "dxh";
const OPERATOR_PREFIX: &str = "dxo";
/// Writing `last_used_at` on every request would turn reads into writes; once a minute is
/// enough to answer "is this key still in use?".
const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// A key as listed: everything but the secret.
#[derive(Debug, Clone)]
pub struct ApiKeyInfo {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A newly issued key: the only moment the token exists outside its holder.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub info: ApiKeyInfo,
    pub token: Secret,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<String>,
}

impl NewApiKey {
    pub(crate) fn validate(&self) -> Result<Vec<Scope>, TenantError> {
        let mut v = Violations::new();
        validate_label(
            &mut v,
            "name",
            &self.name,
            crate::model::limits::API_KEY_NAME_MAX,
        );
        let mut scopes = Vec::new();
        if self.scopes.is_empty() {
            v.add("scopes", "at least one scope is required");
        }
        for (i, text) in self.scopes.iter().enumerate() {
            match Scope::parse(text) {
                Some(s) if !scopes.contains(&s) => scopes.push(s),
                Some(_) => v.add(format!("scopes[{i}]"), "duplicate scope"),
                None => v.add(
                    format!("scopes[{i}]"),
                    format!(
                        "unknown scope; expected one of {}",
                        Scope::all()
                            .into_iter()
                            .map(Scope::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            }
        }
        v.finish().map_err(TenantError::Invalid)?;
        scopes.sort();
        Ok(scopes)
    }
}

pub(crate) fn validate_label(v: &mut Violations, field: &str, text: &str, max: usize) {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        v.add(field, "must not be empty");
    } else if trimmed.chars().count() > max {
        v.add(field, format!("must be at most {max} characters"));
    } else if text.chars().any(char::is_control) {
        v.add(field, "must not contain control characters");
    }
}

fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn parse_scopes(text: &str) -> Vec<Scope> {
    text.split_whitespace().filter_map(Scope::parse).collect()
}

fn info_of(row: api_key::Model) -> ApiKeyInfo {
    ApiKeyInfo {
        id: row.id,
        name: row.name,
        scopes: parse_scopes(&row.scopes),
        created_by: row.created_by,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
    }
}

/// Splits `prefix_keyid_secret`; anything else is not one of our tokens.
fn parse_token(token: &str) -> Option<(&str, Uuid, &str)> {
    let mut parts = token.splitn(3, '_');
    let prefix = parts.next()?;
    let id = Uuid::try_parse(parts.next()?).ok()?;
    let secret = parts.next()?;
    (!secret.is_empty()).then_some((prefix, id, secret))
}

pub(crate) async fn issue<C: ConnectionTrait>(
    db: &C,
    tenant_id: Option<Uuid>,
    name: &str,
    scopes: &[Scope],
    created_by: &str,
) -> Result<IssuedKey, TenantError> {
    let id = Uuid::now_v7();
    let secret = new_secret();
    let prefix = if tenant_id.is_some() {
        TENANT_PREFIX
    } else {
        OPERATOR_PREFIX
    };
    let row = api_key::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant_id),
        name: Set(name.trim().to_string()),
        scopes: Set(scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")),
        secret_hash: Set(hash_secret(&secret)),
        created_by: Set(created_by.to_string()),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
    };
    api_key::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    let stored = api_key::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(TenantError::NotFound("api key"))?;
    Ok(IssuedKey {
        info: info_of(stored),
        token: Secret::new(format!("{prefix}_{}_{secret}", id.simple())),
    })
}

/// Recently resolved credentials, so a busy key does not cost two control-plane queries per
/// request. An entry is trusted for [`PRINCIPAL_CACHE_TTL`] only: revoking a key, suspending
/// or offboarding a tenant evicts at once in this process and reaches other gateway replicas
/// within that time. The secret is still checked (constant time) on every request.
pub struct PrincipalCache {
    entries: RwLock<HashMap<Uuid, CachedPrincipal>>,
}

/// How long another replica may keep honouring a key after it was revoked.
pub const PRINCIPAL_CACHE_TTL: Duration = Duration::from_secs(5);
const PRINCIPAL_CACHE_CAPACITY: usize = 100_000;

struct CachedPrincipal {
    secret_hash: Vec<u8>,
    prefix: &'static str,
    outcome: Result<Principal, CachedRefusal>,
    tenant_id: Option<Uuid>,
    fetched: Instant,
}

/// Refusals worth remembering: a suspended tenant's keys would otherwise hit the database on
/// every retry.
#[derive(Clone, Copy)]
enum CachedRefusal {
    Suspended,
}

impl Default for PrincipalCache {
    fn default() -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
        }
    }
}

impl PrincipalCache {
    fn lookup(
        &self,
        id: Uuid,
        prefix: &str,
        secret: &str,
    ) -> Option<Result<Principal, TenantError>> {
        let entries = self.entries.read().ok()?;
        let entry = entries.get(&id)?;
        if entry.fetched.elapsed() >= PRINCIPAL_CACHE_TTL {
            return None;
        }
        let matches: bool = entry.secret_hash.ct_eq(&hash_secret(secret)).into();
        if !matches || prefix != entry.prefix {
            return Some(Err(TenantError::Unauthenticated));
        }
        Some(match &entry.outcome {
            Ok(principal) => Ok(principal.clone()),
            Err(CachedRefusal::Suspended) => Err(TenantError::Suspended),
        })
    }

    fn store(&self, id: Uuid, entry: CachedPrincipal) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= PRINCIPAL_CACHE_CAPACITY {
                entries.retain(|_, e| e.fetched.elapsed() < PRINCIPAL_CACHE_TTL);
            }
            entries.insert(id, entry);
        }
    }

    pub(crate) fn forget_key(&self, id: Uuid) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(&id);
        }
    }

    pub(crate) fn forget_tenant(&self, tenant_id: Uuid) {
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|_, e| e.tenant_id != Some(tenant_id));
        }
    }
}

/// Resolves a bearer token to the principal it stands for. Every failure looks the same to
/// the caller, so probing cannot tell an unknown key from a wrong secret.
pub(crate) async fn authenticate<C: ConnectionTrait>(
    db: &C,
    cache: &PrincipalCache,
    token: &str,
) -> Result<Principal, TenantError> {
    let (prefix, id, secret) = parse_token(token).ok_or(TenantError::Unauthenticated)?;
    if let Some(outcome) = cache.lookup(id, prefix, secret) {
        return outcome;
    }
    let row = api_key::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(TenantError::Unauthenticated)?;
    let expected_prefix = if row.tenant_id.is_some() {
        TENANT_PREFIX
    } else {
        OPERATOR_PREFIX
    };
    let matches: bool = row.secret_hash.ct_eq(&hash_secret(secret)).into();
    if !matches || prefix != expected_prefix || row.revoked_at.is_some() {
        return Err(TenantError::Unauthenticated);
    }
    let now = Utc::now();
    if row
        .last_used_at
        .is_none_or(|t| (now - t).num_seconds() >= LAST_USED_GRANULARITY_SECS)
    {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
            .filter(api_key::Column::Id.eq(id))
            .exec(db)
            .await?;
    }
    let actor = Actor::ApiKey {
        key_id: row.id,
        key_name: row.name.clone(),
    };
    let remember = |outcome: Result<Principal, CachedRefusal>| {
        cache.store(
            id,
            CachedPrincipal {
                secret_hash: row.secret_hash.clone(),
                prefix: expected_prefix,
                outcome,
                tenant_id: row.tenant_id,
                fetched: Instant::now(),
            },
        )
    };
    let Some(tenant_id) = row.tenant_id else {
        let principal = Principal::Operator(OperatorPrincipal { actor });
        remember(Ok(principal.clone()));
        return Ok(principal);
    };
    let tenant = tenant::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
        .ok_or(TenantError::Unauthenticated)?;
    match TenantStatus::parse(&tenant.status) {
        TenantStatus::Active => {}
        TenantStatus::Suspended => {
            remember(Err(CachedRefusal::Suspended));
            return Err(TenantError::Suspended);
        }
        TenantStatus::Offboarding => return Err(TenantError::Unauthenticated),
    }
    let schema = SchemaName::parse(&tenant.schema_name).ok_or(TenantError::Unauthenticated)?;
    let principal = Principal::Tenant(TenantPrincipal {
        location: TenantLocation {
            tenant_id,
            schema,
            cluster: tenant.cluster,
        },
        tenant_slug: tenant.slug,
        actor,
        scopes: parse_scopes(&row.scopes),
        client_ip: None,
    });
    remember(Ok(principal.clone()));
    Ok(principal)
}

pub(crate) async fn list<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    page: &PageRequest,
) -> Result<Page<ApiKeyInfo>, TenantError> {
    let mut query = api_key::Entity::find()
        .filter(api_key::Column::TenantId.eq(tenant_id))
        .order_by_asc(api_key::Column::Id)
        .limit(page.fetch_limit());
    if let Some(after) = page.after {
        query = query.filter(api_key::Column::Id.gt(after));
    }
    let rows = query.all(db).await?;
    Ok(Page::from_rows(rows, page, |r| r.id).map(info_of))
}

pub(crate) async fn revoke<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    key_id: Uuid,
) -> Result<ApiKeyInfo, TenantError> {
    let belongs = Condition::all()
        .add(api_key::Column::Id.eq(key_id))
        .add(api_key::Column::TenantId.eq(tenant_id));
    api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(belongs.clone())
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    let row = api_key::Entity::find()
        .filter(belongs)
        .one(db)
        .await?
        .ok_or(TenantError::NotFound("api key"))?;
    Ok(info_of(row))
}

/// Revokes every live key of the tenant created by `created_by`; returns their ids.
pub(crate) async fn revoke_created_by<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    created_by: &str,
) -> Result<Vec<Uuid>, TenantError> {
    let live = Condition::all()
        .add(api_key::Column::TenantId.eq(tenant_id))
        .add(api_key::Column::CreatedBy.eq(created_by))
        .add(api_key::Column::RevokedAt.is_null());
    let ids: Vec<Uuid> = api_key::Entity::find()
        .filter(live.clone())
        .all(db)
        .await?
        .into_iter()
        .map(|k| k.id)
        .collect();
    api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(live)
        .exec(db)
        .await?;
    Ok(ids)
}

/// The API keys a person made, as a personal-data source. Keys belong to the institution, not
/// to whoever made them: erasure keeps (and does not revoke) them and pseudonymises the
/// creator reference (`created_by`, one fresh pseudonym per erasure); export lists the keys
/// the person made (never a secret). The keys live in the control plane, reached through the
/// scope's tenant-bound door, outside the tenant transaction: an erasure that rolls back
/// afterwards leaves the pseudonym in place (running it again finds nothing more).
pub struct ApiKeysSource;

#[async_trait::async_trait]
impl PersonalDataSource for ApiKeysSource {
    fn name(&self) -> &'static str {
        "api_keys"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        Vec::new()
    }

    /// None in the tenant's schema: the keys are in the control plane.
    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        scope.require(Scope::TenantAdmin)?;
        Ok(Summary {
            records: keys_made_by(scope, subject).await?.len() as u64,
        })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        scope.require(Scope::TenantAdmin)?;
        Ok(keys_made_by(scope, subject)
            .await?
            .into_iter()
            .map(|row| {
                let key = info_of(row);
                serde_json::json!({
                    "id": key.id,
                    "name": key.name,
                    "scopes": key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                    "created_by": key.created_by,
                    "created_at": key.created_at,
                    "last_used_at": key.last_used_at,
                    "revoked_at": key.revoked_at,
                    "kept": "the institution's key: its creator is pseudonymised on erasure",
                })
            })
            .collect())
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::TenantAdmin)?;
        let Some(person) = subject.person_id() else {
            return Ok(Outcome::NotApplicable {
                reason: "API keys name only the people who made them",
            });
        };
        let label = crate::audit::person_label(person);
        let pseudonym = pseudonym_label(Uuid::new_v4());
        let records = scope
            .api_keys()
            .update(|q| {
                q.col_expr(api_key::Column::CreatedBy, Expr::value(pseudonym))
                    .filter(api_key::Column::CreatedBy.eq(label))
            })
            .await?;
        Ok(Outcome::Anonymised { records })
    }

    async fn expire(
        &self,
        _scope: &TenantScope,
        _category: DataCategory,
        _cutoff: DateTime<Utc>,
        _keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        Ok(Outcome::NotApplicable {
            reason: "API keys are the institution's, kept until revoked; who made one is pseudonymised when that person is erased",
        })
    }

    async fn restrict(
        &self,
        _scope: &TenantScope,
        _subject: &DataSubject,
        _restricted: bool,
    ) -> Result<Outcome, SourceError> {
        Ok(Outcome::NotApplicable {
            reason: "API keys belong to the institution, not to the person who made them; the institution revokes a key",
        })
    }
}

async fn keys_made_by(
    scope: &TenantScope,
    subject: &DataSubject,
) -> Result<Vec<api_key::Model>, TenantError> {
    let Some(person) = subject.person_id() else {
        return Ok(Vec::new());
    };
    let label = crate::audit::person_label(person);
    scope
        .api_keys()
        .find(|q| {
            q.filter(api_key::Column::CreatedBy.eq(label))
                .order_by_asc(api_key::Column::Id)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_only_in_their_own_shape() {
        let id = Uuid::now_v7();
        let token = format!("dxh_{}_abc_def", id.simple());
        assert_eq!(parse_token(&token), Some(("dxh", id, "abc_def")));
        assert!(parse_token("dxh_nope_abc").is_none());
        assert!(parse_token(&format!("dxh_{}_", id.simple())).is_none());
        assert!(parse_token("").is_none());
    }

    #[test]
    fn scopes_are_validated() {
        let bad = NewApiKey {
            name: " ".into(),
            scopes: vec!["contacts:read".into(), "root".into()],
        };
        let TenantError::Invalid(v) = bad.validate().unwrap_err() else {
            panic!()
        };
        assert_eq!(v.len(), 2);
        let good = NewApiKey {
            name: "ci".into(),
            // Scopes this crate registers: the others exist once the gateway installs their
            // crates' modules.
            scopes: vec!["contacts:write".into(), "contacts:read".into()],
        };
        assert_eq!(
            good.validate().unwrap(),
            vec![Scope::ContactsRead, Scope::ContactsWrite]
        );
    }
}
