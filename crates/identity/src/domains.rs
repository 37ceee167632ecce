//! Home-realm discovery: a person types their email and is sent to their institution's
//! identity provider. An institution claims an email domain, proves it controls it by
//! publishing a TXT record (`_dexsoftlex-hub.<domain>` = `dxh-domain-verification=<token>`),
//! and only then does the domain route to it. A domain verified by one institution cannot be
//! verified by another. The nameserver is configurable (tests answer it themselves).
//!
//! Claims are control-plane rows naming their institution (`sso_domains`), declared as this
//! crate's [`CONTROL_FOOTPRINT`]: offboarding erases them (the domain is free again), and
//! they are reached only through the tenant crate's guarded door ([`TenantControlRows`],
//! bound to the scope's institution), except the two lookups that cross institutions by
//! design (is the domain verified by anyone? where does it route?).

use crate::Identity;
use crate::connections::{self, ConnectionKind};
use crate::entities::sso_domain;
use crate::error::IdentityError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hickory_resolver::Resolver;
use hickory_resolver::config::{CLOUDFLARE, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hub_kernel::problem::Violations;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::{ControlFootprint, Scope, TenantControlRows, TenantScope};
use rand::RngCore;
use sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use std::net::SocketAddr;
use uuid::Uuid;

pub const RECORD_PREFIX: &str = "_dexsoftlex-hub";

/// The control-plane rows this crate keeps about an institution.
pub const CONTROL_FOOTPRINT: &[ControlFootprint] = &[ControlFootprint {
    table: "sso_domains",
    tenant_column: "tenant_id",
}];
const VALUE_PREFIX: &str = "dxh-domain-verification=";

#[derive(Debug, Clone)]
pub struct DomainClaim {
    pub id: Uuid,
    pub domain: String,
    pub record_name: String,
    pub record_value: String,
    pub verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

fn claim_of(row: sso_domain::Model) -> DomainClaim {
    DomainClaim {
        id: row.id,
        record_name: format!("{RECORD_PREFIX}.{}", row.domain),
        record_value: format!("{VALUE_PREFIX}{}", row.token),
        domain: row.domain,
        verified_at: row.verified_at,
        created_at: row.created_at,
    }
}

/// Lower-case LDH labels, at least two, no trailing dot.
pub fn normalise_domain(text: &str) -> Option<String> {
    let domain = text.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let valid = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    valid.then_some(domain)
}

/// The DNS client used for verification.
pub struct DomainResolver {
    resolver: Resolver<TokioRuntimeProvider>,
}

impl DomainResolver {
    /// `nameserver`: where to send queries (UDP); default Cloudflare's public resolvers.
    pub fn new(nameserver: Option<SocketAddr>) -> Result<Self, IdentityError> {
        let config = match nameserver {
            Some(addr) => {
                let mut server = NameServerConfig::udp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                ResolverConfig::from_name_servers(vec![server])
            }
            None => ResolverConfig::udp_and_tcp(&CLOUDFLARE),
        };
        let mut builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
        // An admin waits on this request: answer within a few seconds either way.
        let options = builder.options_mut();
        options.timeout = std::time::Duration::from_secs(2);
        options.attempts = 1;
        let resolver = builder
            .build()
            .map_err(|e| IdentityError::IdpUnavailable(format!("DNS resolver: {e}")))?;
        Ok(Self { resolver })
    }

    /// Every TXT string at `name` (empty when the name does not exist).
    async fn txt(&self, name: &str) -> Vec<String> {
        // An admin retries right after publishing the record: never answer from the cache.
        self.resolver.clear_cache();
        match self.resolver.txt_lookup(format!("{name}.")).await {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part).into_owned())
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect(),
            Err(error) => {
                tracing::info!(%error, name, "TXT lookup found nothing");
                Vec::new()
            }
        }
    }
}

/// Where a discovered person signs in.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub tenant_slug: String,
    /// Enabled connections with their protocol, in a stable order.
    pub connections: Vec<(Uuid, ConnectionKind)>,
}

impl Identity {
    /// The scope's institution's claims, and nobody else's.
    fn claims(
        &self,
        scope: &TenantScope,
    ) -> Result<TenantControlRows<'_, sso_domain::Entity>, IdentityError> {
        Ok(self.tenancy.control_rows::<sso_domain::Entity>(scope)?)
    }

    pub async fn claim_domain(
        &self,
        scope: &TenantScope,
        domain: &str,
    ) -> Result<DomainClaim, IdentityError> {
        scope.require(Scope::TenantAdmin)?;
        let domain = normalise_domain(domain).ok_or_else(|| {
            IdentityError::invalid("domain", "must be a domain name such as northfield.example")
        })?;
        let claims = self.claims(scope)?;
        let existing = claims
            .find_one(|q| q.filter(sso_domain::Column::Domain.eq(domain.clone())))
            .await?;
        if existing.is_some() {
            return Err(IdentityError::Conflict(
                "this institution already claimed the domain".into(),
            ));
        }
        let mut token = [0u8; 24];
        rand::rng().fill_bytes(&mut token);
        let id = Uuid::now_v7();
        claims
            .insert(sso_domain::ActiveModel {
                id: Set(id),
                tenant_id: Set(scope.tenant_id()),
                domain: Set(domain.clone()),
                token: Set(URL_SAFE_NO_PAD.encode(token)),
                verified_at: Set(None),
                created_at: Set(Utc::now()),
            })
            .await?;
        audit::record(
            scope,
            AuditEvent::new("sso_domain.claimed").detail(serde_json::json!({ "domain": domain })),
        )
        .await?;
        self.domain_claim(scope, id).await
    }

    pub async fn domain_claims(
        &self,
        scope: &TenantScope,
    ) -> Result<Vec<DomainClaim>, IdentityError> {
        scope.require(Scope::TenantAdmin)?;
        Ok(self
            .claims(scope)?
            .find(|q| q.order_by_asc(sso_domain::Column::Domain))
            .await?
            .into_iter()
            .map(claim_of)
            .collect())
    }

    pub async fn domain_claim(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<DomainClaim, IdentityError> {
        scope.require(Scope::TenantAdmin)?;
        self.claims(scope)?
            .find_one(|q| q.filter(sso_domain::Column::Id.eq(id)))
            .await?
            .map(claim_of)
            .ok_or(IdentityError::NotFound("sso domain"))
    }

    pub async fn delete_domain_claim(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<(), IdentityError> {
        let claim = self.domain_claim(scope, id).await?;
        self.claims(scope)?
            .delete(|q| q.filter(sso_domain::Column::Id.eq(id)))
            .await?;
        audit::record(
            scope,
            AuditEvent::new("sso_domain.released")
                .detail(serde_json::json!({ "domain": claim.domain })),
        )
        .await?;
        Ok(())
    }

    /// Looks up the TXT record and marks the claim verified if it carries the token.
    pub async fn verify_domain(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<DomainClaim, IdentityError> {
        let claim = self.domain_claim(scope, id).await?;
        if claim.verified_at.is_some() {
            return Ok(claim);
        }
        // Across institutions by design: a domain is verified for at most one.
        let taken = self
            .tenancy
            .control_rows_across_tenants::<sso_domain::Entity>(|q| {
                q.filter(sso_domain::Column::Domain.eq(claim.domain.clone()))
                    .filter(sso_domain::Column::VerifiedAt.is_not_null())
                    .limit(1)
            })
            .await?;
        if !taken.is_empty() {
            return Err(IdentityError::Conflict(
                "another institution has verified this domain".into(),
            ));
        }
        let found = self.domains.txt(&claim.record_name).await;
        if !found.iter().any(|value| value.trim() == claim.record_value) {
            return Err(IdentityError::DomainNotVerified(format!(
                "no TXT record {} = {} was found ({} TXT value(s) there); publish it and retry",
                claim.record_name,
                claim.record_value,
                found.len()
            )));
        }
        self.claims(scope)?
            .update(|q| {
                q.col_expr(
                    sso_domain::Column::VerifiedAt,
                    sea_orm::sea_query::Expr::value(Utc::now()),
                )
                .filter(sso_domain::Column::Id.eq(id))
            })
            .await?;
        audit::record(
            scope,
            AuditEvent::new("sso_domain.verified")
                .detail(serde_json::json!({ "domain": claim.domain })),
        )
        .await?;
        self.domain_claim(scope, id).await
    }

    /// The institution and sign-in connections for an email address, if its domain is verified.
    pub async fn discover(&self, email: &str) -> Result<Discovered, IdentityError> {
        let mut v = Violations::new();
        let domain = email
            .rsplit_once('@')
            .and_then(|(local, d)| (!local.is_empty()).then_some(d))
            .and_then(normalise_domain);
        v.check(
            domain.is_some(),
            "email",
            "must be an email address such as ada@northfield.example",
        );
        v.finish().map_err(IdentityError::Invalid)?;
        let domain = domain.unwrap_or_default();
        // Across institutions by design: the email's domain decides the institution.
        let claim = self
            .tenancy
            .control_rows_across_tenants::<sso_domain::Entity>(|q| {
                q.filter(sso_domain::Column::Domain.eq(domain))
                    .filter(sso_domain::Column::VerifiedAt.is_not_null())
                    .limit(1)
            })
            .await?
            .into_iter()
            .next()
            .ok_or(IdentityError::NotFound("sso domain"))?;
        let tenant = self
            .tenancy
            .active_tenant(claim.tenant_id)
            .await
            .map_err(|_| IdentityError::NotFound("sso domain"))?;
        let scope = self.tenancy.sign_in_scope(&tenant).await?;
        let connections = connections::enabled(&scope).await?;
        scope.commit().await?;
        Ok(Discovered {
            tenant_slug: tenant.slug,
            connections,
        })
    }
}
