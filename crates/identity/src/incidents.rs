//! Account compromise (S6): a person who suspects their account is compromised reports it and
//! is helped at once. Every session of theirs and every API key made in their name is revoked
//! before anything else, their next sign-in must be a fresh authentication at the IdP, an
//! incident opens for the institution's admins with its clock running, and the person gets a
//! confirmation (in the answer, and as a message in the outbox for delivery).

use crate::Identity;
use crate::entities::incident;
use crate::error::IdentityError;
use crate::outbox;
use crate::people;
use chrono::{DateTime, SubsecRound, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_kernel::problem::Violations;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::{Scope, TenantPrincipal, TenantScope};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

const TABLE: &str = "incidents";

pub const PERSONAL_FIELDS: &[FieldClassification] = &[FieldClassification {
    table: TABLE,
    column: "description",
    category: DataCategory::Technical,
    purpose: Purpose::Security,
    retention: RetentionClass::CategoryPeriod,
    identifying: true,
    blind_index: false,
    optional: true,
}];

#[derive(Debug, Clone)]
pub struct Incident {
    pub id: Uuid,
    pub kind: String,
    pub person_id: Uuid,
    pub status: String,
    pub description: Option<String>,
    pub sessions_revoked: i32,
    pub api_keys_revoked: i32,
    pub reported_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
}

fn open(scope: &TenantScope, row: incident::Model) -> Result<Incident, IdentityError> {
    let description = row
        .description_sealed
        .as_deref()
        .map(|s| scope.keys().open_str(TABLE, "description", row.id, s))
        .transpose()?;
    Ok(Incident {
        id: row.id,
        kind: row.kind,
        person_id: row.person_id,
        status: row.status,
        description,
        sessions_revoked: row.sessions_revoked,
        api_keys_revoked: row.api_keys_revoked,
        reported_at: row.reported_at,
        resolved_at: row.resolved_at,
        resolved_by: row.resolved_by,
    })
}

impl Identity {
    /// The signed-in person reports their account compromised.
    pub async fn report_compromise(
        &self,
        principal: &TenantPrincipal,
        description: Option<String>,
    ) -> Result<Incident, IdentityError> {
        let Some(person_id) = principal.actor.person_id() else {
            return Err(IdentityError::PersonOnly);
        };
        let mut v = Violations::new();
        if let Some(d) = &description {
            v.check(
                d.chars().count() <= 2000,
                "description",
                "at most 2000 characters",
            );
        }
        v.finish().map_err(IdentityError::Invalid)?;
        let tenant_id = principal.tenant_id();
        // Containment first: whatever fails later, the attacker is already out.
        let sessions_revoked = self.sessions.revoke_all(tenant_id, person_id).await?;
        let api_keys_revoked = self.tenancy.revoke_keys_created_by_actor(principal).await?;
        let reported_at = Utc::now().trunc_subsecs(6);
        let scope = self.tenancy.scope(principal).await?;
        let person = people::load(&scope, person_id).await?;
        people::require_reauthentication(&scope, person_id, Some(reported_at)).await?;
        let id = Uuid::now_v7();
        let keys = scope.keys();
        incident::Entity::insert(incident::ActiveModel {
            id: Set(id),
            kind: Set("account_compromise".into()),
            person_id: Set(person_id),
            status: Set("open".into()),
            description_sealed: Set(description
                .as_deref()
                .map(|d| keys.seal_str(TABLE, "description", id, d))),
            sessions_revoked: Set(sessions_revoked as i32),
            api_keys_revoked: Set(api_keys_revoked as i32),
            reported_at: Set(reported_at),
            resolved_at: Set(None),
            resolved_by: Set(None),
            key_version: Set(keys.active_version() as i32),
        })
        .exec_without_returning(scope.db())
        .await?;
        let message = format!(
            "We received your report that your account may be compromised (incident {id}). \
             We ended {sessions_revoked} session(s) and revoked {api_keys_revoked} API key(s) \
             made in your name. Sign in again to continue; your institution's administrators \
             have been notified and will follow up."
        );
        outbox::queue(
            &self.tenancy,
            &scope,
            outbox::NewMessage {
                kind: "compromise_confirmation",
                purpose: outbox::MessagePurpose::Essential,
                person_id,
                email: person.email.as_ref().map(|e| e.expose().as_str()),
                subject: "We received your report of a compromised account",
                text: &message,
            },
        )
        .await?;
        audit::record(
            &scope,
            AuditEvent::new("account.compromise_reported")
                .person(person_id)
                .detail(serde_json::json!({
                    "incident_id": id,
                    "sessions_revoked": sessions_revoked,
                    "api_keys_revoked": api_keys_revoked,
                })),
        )
        .await?;
        let incident = load(&scope, id).await?;
        scope.commit().await?;
        Ok(incident)
    }
}

async fn load(scope: &TenantScope, id: Uuid) -> Result<Incident, IdentityError> {
    let row = incident::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .ok_or(IdentityError::NotFound("incident"))?;
    open(scope, row)
}

/// Open incidents first, newest first. Each carries the reporter's own words (another
/// person's data): the listing is audited.
pub async fn list(scope: &TenantScope, limit: u64) -> Result<Vec<Incident>, IdentityError> {
    scope.require(Scope::PeopleWrite)?;
    let found = incident::Entity::find()
        .order_by_asc(incident::Column::Status)
        .order_by_desc(incident::Column::ReportedAt)
        .limit(limit)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|r| open(scope, r))
        .collect::<Result<Vec<_>, _>>()?;
    audit::record_listing(
        scope,
        "incidents.listed",
        "incident_ids",
        found.iter().map(|i| i.id),
    )
    .await?;
    Ok(found)
}

/// One incident (another person's report): the read is audited.
pub async fn get(scope: &TenantScope, id: Uuid) -> Result<Incident, IdentityError> {
    scope.require(Scope::PeopleWrite)?;
    let found = load(scope, id).await?;
    audit::record(
        scope,
        AuditEvent::new("incident.read")
            .person(found.person_id)
            .detail(serde_json::json!({ "incident_id": id })),
    )
    .await?;
    Ok(found)
}

pub async fn resolve(scope: &TenantScope, id: Uuid) -> Result<Incident, IdentityError> {
    scope.require(Scope::PeopleWrite)?;
    let current = load(scope, id).await?;
    if current.status != "open" {
        return Err(IdentityError::Conflict(
            "the incident is already resolved".into(),
        ));
    }
    incident::Entity::update_many()
        .col_expr(incident::Column::Status, Expr::value("resolved"))
        .col_expr(incident::Column::ResolvedAt, Expr::value(Utc::now()))
        .col_expr(
            incident::Column::ResolvedBy,
            Expr::value(scope.actor_label()),
        )
        .filter(incident::Column::Id.eq(id))
        .exec(scope.db())
        .await?;
    audit::record(
        scope,
        AuditEvent::new("incident.resolved").subject(format!("incident:{id}")),
    )
    .await?;
    load(scope, id).await
}

/// Every message to a person, oldest first, as `(kind, text)`.
pub async fn pending_messages(
    scope: &TenantScope,
    person_id: Uuid,
) -> Result<Vec<(String, String)>, IdentityError> {
    Ok(outbox::person_messages(scope, person_id)
        .await?
        .into_iter()
        .map(|m| (m.kind, m.text))
        .collect())
}
