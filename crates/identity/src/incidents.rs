//! Account compromise (S6): a person who suspects their account is compromised reports it and
//! is helped at once. Every session of theirs and every API key made in their name is revoked
//! before anything else; everything else that could open a session with what they had before
//! is marked in the same transaction (`reauthentication::require`: their password must be
//! reset, their next SSO sign-in must be a fresh authentication at the IdP); an incident
//! opens with its clock running and every other active tenant admin with an email address is
//! told by an essential message; the person gets a confirmation (in the answer, and in the
//! outbox) that says what was done, admins notified or not.

use crate::Identity;
use crate::entities::incident;
use crate::error::IdentityError;
use crate::outbox::{self, MessagePurpose, NewMessage};
use crate::people;
use crate::reauthentication;
use crate::roles::Role;
use chrono::{DateTime, SubsecRound, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_kernel::problem::Violations;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::{Scope, TenantPrincipal, TenantScope};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

pub(crate) const TABLE: &str = "incidents";

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
    /// The notification deadline: reported + the breach window of the privacy addendum in
    /// force then (72 hours without one, GDPR Art. 33).
    pub notify_by: DateTime<Utc>,
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
        notify_by: row.notification_due_at.unwrap_or_else(|| {
            row.reported_at
                + chrono::Duration::hours(i64::from(
                    hub_tenant::addendum_duties::DEFAULT_BREACH_NOTIFICATION_HOURS,
                ))
        }),
        resolved_at: row.resolved_at,
        resolved_by: row.resolved_by,
    })
}

/// What a report did, for the person's receipt.
#[derive(Debug, Clone)]
pub struct CompromiseReported {
    pub incident: Incident,
    /// Tenant admins told by message (the reporter is not counted: they get the confirmation).
    pub admins_notified: usize,
    /// Whether the person had a local password, which must now be reset before it signs in.
    pub password_reset_required: bool,
    /// What was done and what happens now, in words; also the confirmation message's text.
    pub next_steps: String,
}

/// The receipt's words: only what the report did.
fn next_steps(
    sessions_revoked: usize,
    api_keys_revoked: usize,
    password_reset_required: bool,
    admins_notified: usize,
) -> String {
    let mut text = format!(
        "We ended {sessions_revoked} session(s) and revoked {api_keys_revoked} API key(s) \
         made in your name. "
    );
    if password_reset_required {
        text.push_str(
            "Your password no longer signs in: ask for a reset code \
             (POST /v1/auth/password-reset-requests) and set a new one. ",
        );
    }
    text.push_str(
        "To sign in through your institution's identity provider, start with \
         force_authentication=true so that it checks it is you. ",
    );
    if admins_notified > 0 {
        text.push_str(&format!(
            "{admins_notified} administrator(s) of your institution have been notified by \
             message and will follow up."
        ));
    } else {
        text.push_str(
            "The incident is open for your institution's administrators, but no other \
             administrator has an email address here, so none was notified by message: \
             please tell them.",
        );
    }
    text
}

impl Identity {
    /// The signed-in person reports their account compromised.
    pub async fn report_compromise(
        &self,
        principal: &TenantPrincipal,
        description: Option<String>,
    ) -> Result<CompromiseReported, IdentityError> {
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
        let marked = reauthentication::require(&scope, person_id, reported_at).await?;
        // The incident clock runs against the addendum's breach window (A2).
        let window = self
            .tenancy
            .breach_notification_hours(&scope, reported_at)
            .await?;
        let notify_by = reported_at + chrono::Duration::hours(i64::from(window));
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
            notification_due_at: Set(Some(notify_by)),
        })
        .exec_without_returning(scope.db())
        .await?;
        // The admins' notice names the incident, not the person: they read who in the
        // incident itself, and the message leaves the service by mail.
        let notice = format!(
            "A person of your institution reported their account as compromised at \
             {} (incident {id}). Their sessions ({sessions_revoked}) and API keys \
             ({api_keys_revoked}) are revoked and their next sign-in must be a fresh one. \
             Review and resolve the incident at /v1/incidents/{id}.",
            reported_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        let mut admins_notified = 0;
        for admin in people::active_with_role(&scope, Role::TenantAdmin).await? {
            let Some(email) = admin.email.as_ref().filter(|_| admin.id != person_id) else {
                continue;
            };
            outbox::queue(
                &self.tenancy,
                &scope,
                NewMessage {
                    kind: "incident_opened",
                    purpose: MessagePurpose::Essential,
                    person_id: admin.id,
                    email: Some(email.expose().as_str()),
                    subject: "An account of your institution was reported compromised",
                    text: &notice,
                },
            )
            .await?;
            admins_notified += 1;
        }
        let next_steps = next_steps(
            sessions_revoked,
            api_keys_revoked,
            marked.password,
            admins_notified,
        );
        let message = format!(
            "We received your report that your account may be compromised (incident {id}). \
             {next_steps}"
        );
        outbox::queue(
            &self.tenancy,
            &scope,
            NewMessage {
                kind: "compromise_confirmation",
                purpose: MessagePurpose::Essential,
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
                    "password_reset_required": marked.password,
                    "admins_notified": admins_notified,
                })),
        )
        .await?;
        let incident = load(&scope, id).await?;
        scope.commit().await?;
        Ok(CompromiseReported {
            incident,
            admins_notified,
            password_reset_required: marked.password,
            next_steps,
        })
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
