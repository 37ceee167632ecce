//! The consent ledger (C6, U9, R5): per person, append-only records of what they granted or
//! withdrew, for which purpose, under which policy version, when and through what (the API,
//! the cookie banner, a Global Privacy Control signal, an import). The latest record of a
//! purpose is the person's current choice; a withdrawal takes effect at once, since every
//! processor asks the gate ([`Privacy::may_use`]) at the moment it would use the data.
//!
//! The gate answers "may this person's data be used for purpose P now": `essential` always;
//! any other purpose only while the person's processing is not restricted (R3:
//! [`Privacy::set_restricted`]), their latest record for it is a grant, and (once the
//! institution has published a policy version) the current version lists the purpose and
//! the person has accepted a version at least as new as the one that introduced it (U8:
//! `policy_not_accepted`). It is registered on the tenancy as
//! [`hub_tenant::consent_gate::ConsentGate`] ([`Gate`]), which is how identity's outbox asks
//! it before it sends a marketing message.
//!
//! GPC: a request of a signed-in person carrying `Sec-GPC: 1` withdraws `marketing` and
//! `integrations` (the sale/sharing-type purposes) with source `gpc`
//! ([`Privacy::record_gpc`]), unless the current grant was itself made in a request that
//! carried the signal (the person opted in knowingly; GPC then does not undo it).

pub(crate) mod entities;
pub mod source;

use crate::{PRIVACY_MANAGE, Privacy, PrivacyError};
use chrono::{DateTime, SubsecRound, Utc};
use entities::{record, restriction};
use hub_kernel::classification::{DataCategory, Purpose};
use hub_kernel::problem::Violations;
use hub_tenant::audit::{self, AuditEvent};
pub use hub_tenant::consent_gate::{ConsentPurpose, Decision};
use hub_tenant::{Actor, TenantScope};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;
use uuid::Uuid;

/// Through what a consent record was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    /// The person, through the API (their account page).
    Api,
    /// The person's choice in the cookie banner (cookie categories only).
    CookieBanner,
    /// A `Sec-GPC: 1` signal: an opt-out of sale/sharing-type purposes.
    Gpc,
    /// Imported by a privacy officer from an earlier system.
    Import,
    /// An objection request (R5) of the person: a withdrawal naming the request.
    Objection,
}

impl ConsentSource {
    pub const ALL: [Self; 5] = [
        Self::Api,
        Self::CookieBanner,
        Self::Gpc,
        Self::Import,
        Self::Objection,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::CookieBanner => "cookie_banner",
            Self::Gpc => "gpc",
            Self::Import => "import",
            Self::Objection => "objection",
        }
    }

    fn from_stored(text: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .unwrap_or(Self::Api)
    }
}

/// One record of the ledger.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentRecord {
    pub id: Uuid,
    pub purpose: ConsentPurpose,
    pub granted: bool,
    /// The institution's policy version current when it was recorded (`None`: none yet).
    pub policy_version: Option<i32>,
    pub source: ConsentSource,
    pub gpc_signal: bool,
    pub recorded_at: DateTime<Utc>,
    /// Who recorded it (`person:<id>`, a privacy officer's credential for an import).
    pub recorded_by: String,
    /// The objection request it was recorded for (source `objection`).
    pub request_id: Option<Uuid>,
}

fn record_of(row: record::Model) -> Option<ConsentRecord> {
    Some(ConsentRecord {
        id: row.id,
        purpose: ConsentPurpose::parse(&row.purpose)?,
        granted: row.granted,
        policy_version: row.policy_version,
        source: ConsentSource::from_stored(&row.source),
        gpc_signal: row.gpc_signal,
        recorded_at: row.recorded_at,
        recorded_by: row.recorded_by,
        request_id: row.request_id,
    })
}

/// A choice to record: grant (`true`) or withdraw (`false`) one purpose.
#[derive(Debug, Clone, Copy)]
pub struct ConsentChoice {
    pub purpose: ConsentPurpose,
    pub granted: bool,
    /// For an import: when the person made the choice in the earlier system (not in the
    /// future); `None`: now.
    pub recorded_at: Option<DateTime<Utc>>,
}

/// One purpose as the person sees it.
#[derive(Debug, Clone, Serialize)]
pub struct PurposeState {
    pub purpose: ConsentPurpose,
    /// `false` for `essential`, which is not the person's choice.
    pub consentable: bool,
    /// The latest record grants it.
    pub granted: bool,
    /// The latest record of it, if any.
    pub latest: Option<ConsentRecord>,
    /// What the gate answers now.
    pub decision: Decision,
}

/// A field the institution keeps because the law requires it (C9), whatever consent says.
#[derive(Debug, Clone, Serialize)]
pub struct LegalObligationField {
    pub source: &'static str,
    pub table: &'static str,
    pub column: &'static str,
    pub category: DataCategory,
}

/// Everything about one person's consent.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentView {
    pub person_id: Uuid,
    /// Processing is frozen (R3): every purpose but `essential` is refused.
    pub restricted: bool,
    pub current_policy_version: Option<i32>,
    /// The newest version the person accepted.
    pub accepted_policy_version: Option<i32>,
    pub purposes: Vec<PurposeState>,
    /// Every record, oldest first.
    pub history: Vec<ConsentRecord>,
    /// Data kept for a legal obligation, which consent does not govern.
    pub legal_obligation: Vec<LegalObligationField>,
}

/// The purposes the cookie banner decides (cookie categories other than essential).
pub const COOKIE_PURPOSES: &[ConsentPurpose] =
    &[ConsentPurpose::Analytics, ConsentPurpose::Personalisation];

/// A cookie category for the front end.
#[derive(Debug, Clone, Serialize)]
pub struct CookieCategory {
    pub purpose: ConsentPurpose,
    /// Whether a cookie of this category may be set only after recorded consent.
    pub consent_required: bool,
    pub description: &'static str,
}

/// Cookie categories: `essential` (sign-in, security; never needs consent) apart from
/// `analytics` and `personalisation`, which need the person's recorded consent.
pub fn cookie_categories() -> Vec<CookieCategory> {
    vec![
        CookieCategory {
            purpose: ConsentPurpose::Essential,
            consent_required: false,
            description: "Signing in, keeping the session and protecting the account. Always on.",
        },
        CookieCategory {
            purpose: ConsentPurpose::Analytics,
            consent_required: true,
            description: "Measuring how the service is used, to improve it. Only with consent.",
        },
        CookieCategory {
            purpose: ConsentPurpose::Personalisation,
            consent_required: true,
            description: "Remembering preferences to tailor what is shown. Only with consent.",
        },
    ]
}

/// The signed-in person acting in this scope.
pub(crate) fn person_of(scope: &TenantScope) -> Result<Uuid, PrivacyError> {
    match scope.actor() {
        Some(Actor::Person { person_id, .. }) => Ok(*person_id),
        _ => Err(PrivacyError::PersonOnly),
    }
}

/// Every record of the person, oldest first.
async fn history(scope: &TenantScope, person: Uuid) -> Result<Vec<ConsentRecord>, PrivacyError> {
    Ok(record::Entity::find()
        .filter(record::Column::PersonId.eq(person))
        .order_by_asc(record::Column::RecordedAt)
        .order_by_asc(record::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        .filter_map(record_of)
        .collect())
}

/// The person's latest record of one purpose.
async fn latest(
    scope: &TenantScope,
    person: Uuid,
    purpose: ConsentPurpose,
) -> Result<Option<ConsentRecord>, PrivacyError> {
    Ok(record::Entity::find()
        .filter(record::Column::PersonId.eq(person))
        .filter(record::Column::Purpose.eq(purpose.as_str()))
        .order_by_desc(record::Column::RecordedAt)
        .order_by_desc(record::Column::Id)
        .one(scope.db())
        .await?
        .and_then(record_of))
}

pub(crate) async fn is_restricted(scope: &TenantScope, person: Uuid) -> Result<bool, PrivacyError> {
    Ok(restriction::Entity::find_by_id(person)
        .one(scope.db())
        .await?
        .is_some())
}

/// Sets or lifts the freeze, without checking who asks (the source's `restrict` and
/// [`Privacy::set_restricted`] check that). Returns whether it changed.
pub(crate) async fn write_restriction(
    scope: &TenantScope,
    person: Uuid,
    restricted: bool,
    now: DateTime<Utc>,
) -> Result<bool, PrivacyError> {
    let current = is_restricted(scope, person).await?;
    if current == restricted {
        return Ok(false);
    }
    if restricted {
        restriction::Entity::insert(restriction::ActiveModel {
            person_id: Set(person),
            restricted_at: Set(now),
            restricted_by: Set(scope.actor_label()),
        })
        .exec_without_returning(scope.db())
        .await?;
    } else {
        restriction::Entity::delete_by_id(person)
            .exec(scope.db())
            .await?;
    }
    Ok(true)
}

/// The gate itself (see the module doc), one purpose.
pub(crate) async fn decide(
    scope: &TenantScope,
    person: Uuid,
    purpose: ConsentPurpose,
    _now: DateTime<Utc>,
) -> Result<Decision, PrivacyError> {
    if !purpose.consentable() {
        return Ok(Decision::allow("essential"));
    }
    if is_restricted(scope, person).await? {
        return Ok(Decision::deny("restricted"));
    }
    match latest(scope, person, purpose).await? {
        None => return Ok(Decision::deny("no_consent")),
        Some(r) if !r.granted => return Ok(Decision::deny("consent_withdrawn")),
        Some(_) => {}
    }
    let versions = crate::policy::versions(scope).await?;
    if versions.is_empty() {
        return Ok(Decision::allow("consent_granted"));
    }
    let Some(since) = crate::policy::purpose_since(&versions, purpose) else {
        return Ok(Decision::deny("not_in_policy"));
    };
    let accepted = crate::policy::accepted_version(scope, person).await?;
    if accepted.is_none_or(|a| a < since) {
        return Ok(Decision::deny("policy_not_accepted"));
    }
    Ok(Decision::allow("consent_granted"))
}

/// Appends records; the caller commits.
async fn append(
    scope: &TenantScope,
    person: Uuid,
    choices: &[ConsentChoice],
    source: ConsentSource,
    gpc_signal: bool,
    now: DateTime<Utc>,
) -> Result<(), PrivacyError> {
    append_for(scope, person, choices, source, gpc_signal, None, now)
        .await
        .map(|_| ())
}

/// Appends records made for `request` (an objection), returning their ids; the caller
/// commits.
async fn append_for(
    scope: &TenantScope,
    person: Uuid,
    choices: &[ConsentChoice],
    source: ConsentSource,
    gpc_signal: bool,
    request: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, PrivacyError> {
    let policy_version = crate::policy::current_version(scope).await?;
    let mut ids = Vec::with_capacity(choices.len());
    for choice in choices {
        let id = Uuid::now_v7();
        record::Entity::insert(record::ActiveModel {
            id: Set(id),
            person_id: Set(person),
            purpose: Set(choice.purpose.as_str().into()),
            granted: Set(choice.granted),
            policy_version: Set(policy_version),
            source: Set(source.as_str().into()),
            gpc_signal: Set(gpc_signal),
            recorded_at: Set(choice.recorded_at.unwrap_or(now)),
            recorded_by: Set(scope.actor_label()),
            request_id: Set(request),
        })
        .exec_without_returning(scope.db())
        .await?;
        ids.push(id);
    }
    audit::record(
        scope,
        AuditEvent::new("consent.recorded")
            .subject(format!("person:{person}"))
            .detail(serde_json::json!({
                "source": source.as_str(),
                "request_id": request,
                "choices": choices
                    .iter()
                    .map(|c| serde_json::json!({"purpose": c.purpose.as_str(), "granted": c.granted}))
                    .collect::<Vec<_>>(),
            })),
    )
    .await?;
    Ok(ids)
}

/// Records the withdrawal of each purpose an objection request names (source `objection`,
/// naming the request), in the caller's unit of work: the gate refuses them from now on.
/// Returns `(purpose, record id)` per purpose, in order. The ledger's own clock (the wall
/// clock), so the records order with the person's other choices.
pub(crate) async fn withdraw_for_objection(
    scope: &TenantScope,
    person: Uuid,
    purposes: &[ConsentPurpose],
    request: Uuid,
) -> Result<Vec<(ConsentPurpose, Uuid, DateTime<Utc>)>, PrivacyError> {
    if purposes.is_empty() {
        return Ok(Vec::new());
    }
    let now = Utc::now().trunc_subsecs(6);
    let choices: Vec<ConsentChoice> = purposes
        .iter()
        .map(|&purpose| ConsentChoice {
            purpose,
            granted: false,
            recorded_at: None,
        })
        .collect();
    let ids = append_for(
        scope,
        person,
        &choices,
        ConsentSource::Objection,
        false,
        Some(request),
        now,
    )
    .await?;
    Ok(purposes
        .iter()
        .copied()
        .zip(ids)
        .map(|(p, id)| (p, id, now))
        .collect())
}

fn validate(
    choices: &[ConsentChoice],
    source: ConsentSource,
    now: DateTime<Utc>,
) -> Result<(), PrivacyError> {
    if let Some(essential) = choices.iter().position(|c| !c.purpose.consentable()) {
        return Err(PrivacyError::NotConsentable {
            field: format!("choices[{essential}].purpose"),
        });
    }
    let mut v = Violations::new();
    v.check(!choices.is_empty(), "choices", "at least one choice");
    v.check(choices.len() <= 16, "choices", "at most 16 choices");
    for (i, choice) in choices.iter().enumerate() {
        v.check(
            !choices[..i].iter().any(|c| c.purpose == choice.purpose),
            &format!("choices[{i}].purpose"),
            "each purpose at most once",
        );
        if source == ConsentSource::CookieBanner {
            v.check(
                COOKIE_PURPOSES.contains(&choice.purpose),
                &format!("choices[{i}].purpose"),
                "the cookie banner decides analytics and personalisation only",
            );
        }
        if let Some(at) = choice.recorded_at {
            v.check(
                source == ConsentSource::Import,
                &format!("choices[{i}].recorded_at"),
                "only imported records carry their own time",
            );
            v.check(
                at <= now,
                &format!("choices[{i}].recorded_at"),
                "not in the future",
            );
        }
    }
    v.finish().map_err(PrivacyError::Invalid)
}

impl Privacy {
    /// May this person's data be used for `purpose` now? The one gate every processor asks
    /// (module doc). No scope is needed: processors ask it inside their own units of work.
    /// `now` is for time-bound rules (none yet: a grant lasts until withdrawn).
    pub async fn may_use(
        &self,
        scope: &TenantScope,
        person: Uuid,
        purpose: ConsentPurpose,
        now: DateTime<Utc>,
    ) -> Result<Decision, PrivacyError> {
        self.decide(scope, person, purpose, now).await
    }

    /// [`decide`], after the rule for minors (A1): a minor with no guardian's verified
    /// consent is refused every consentable purpose, whatever they granted themselves.
    async fn decide(
        &self,
        scope: &TenantScope,
        person: Uuid,
        purpose: ConsentPurpose,
        now: DateTime<Utc>,
    ) -> Result<Decision, PrivacyError> {
        if purpose.consentable()
            && self
                .tenancy
                .minor_status(scope, person, now)
                .await?
                .needs_guardian_consent()
        {
            return Ok(Decision::deny(
                hub_tenant::consent_gate::GUARDIAN_CONSENT_REQUIRED,
            ));
        }
        decide(scope, person, purpose, now).await
    }

    /// Freezes (or resumes) all processing of the person but essential (R3). Requires
    /// `privacy:manage` (a platform job passes). Audited when it changes.
    pub async fn set_restricted(
        &self,
        scope: &TenantScope,
        person: Uuid,
        restricted: bool,
    ) -> Result<bool, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        self.known_person(scope, person).await?;
        let now = Utc::now().trunc_subsecs(6);
        let changed = write_restriction(scope, person, restricted, now).await?;
        if changed {
            audit::record(
                scope,
                AuditEvent::new(if restricted {
                    "processing.restricted"
                } else {
                    "processing.resumed"
                })
                .subject(format!("person:{person}")),
            )
            .await?;
        }
        Ok(restricted)
    }

    /// 404 unless the person is one of the scope's tenant.
    pub(crate) async fn known_person(
        &self,
        scope: &TenantScope,
        person: Uuid,
    ) -> Result<(), PrivacyError> {
        match self.directory.person(scope, person).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(PrivacyError::NotFound("person")),
            Err(e) => Err(PrivacyError::source_failed("people", &e)),
        }
    }

    async fn view(
        &self,
        scope: &TenantScope,
        person: Uuid,
        now: DateTime<Utc>,
    ) -> Result<ConsentView, PrivacyError> {
        let history = history(scope, person).await?;
        let mut purposes = Vec::with_capacity(ConsentPurpose::ALL.len());
        for purpose in ConsentPurpose::ALL {
            let latest = history.iter().rev().find(|r| r.purpose == purpose).cloned();
            purposes.push(PurposeState {
                purpose,
                consentable: purpose.consentable(),
                granted: latest.as_ref().is_some_and(|r| r.granted),
                latest,
                decision: self.decide(scope, person, purpose, now).await?,
            });
        }
        let sources = self.tenancy.personal_data_sources()?;
        let legal_obligation = sources
            .iter()
            .flat_map(|s| {
                s.fields()
                    .into_iter()
                    .filter(|f| f.purpose == Purpose::LegalObligation)
                    .map(|f| LegalObligationField {
                        source: s.name(),
                        table: f.table,
                        column: f.column,
                        category: f.category,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        Ok(ConsentView {
            person_id: person,
            restricted: is_restricted(scope, person).await?,
            current_policy_version: crate::policy::current_version(scope).await?,
            accepted_policy_version: crate::policy::accepted_version(scope, person).await?,
            purposes,
            history,
            legal_obligation,
        })
    }

    /// The signed-in person's consent, purposes, policy acceptance and history (U9).
    pub async fn my_consents(&self, scope: &TenantScope) -> Result<ConsentView, PrivacyError> {
        let person = person_of(scope)?;
        self.view(scope, person, Utc::now()).await
    }

    /// Records the signed-in person's choices (through the API or the cookie banner) and
    /// returns the result. `gpc_signal`: the request carried `Sec-GPC: 1`.
    pub async fn record_my_consents(
        &self,
        scope: &TenantScope,
        choices: &[ConsentChoice],
        source: ConsentSource,
        gpc_signal: bool,
    ) -> Result<ConsentView, PrivacyError> {
        let person = person_of(scope)?;
        let now = Utc::now().trunc_subsecs(6);
        let source = match source {
            ConsentSource::CookieBanner => ConsentSource::CookieBanner,
            _ => ConsentSource::Api,
        };
        validate(choices, source, now)?;
        append(scope, person, choices, source, gpc_signal, now).await?;
        self.view(scope, person, now).await
    }

    /// A person's consent, for a privacy officer. Requires `privacy:manage`.
    pub async fn consents_of(
        &self,
        scope: &TenantScope,
        person: Uuid,
    ) -> Result<ConsentView, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        self.known_person(scope, person).await?;
        self.view(scope, person, Utc::now()).await
    }

    /// Imports a person's choices from an earlier system (source `import`), each with the
    /// time it was made there. Requires `privacy:manage`.
    pub async fn import_consents(
        &self,
        scope: &TenantScope,
        person: Uuid,
        choices: &[ConsentChoice],
    ) -> Result<ConsentView, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        self.known_person(scope, person).await?;
        let now = Utc::now().trunc_subsecs(6);
        validate(choices, ConsentSource::Import, now)?;
        append(scope, person, choices, ConsentSource::Import, false, now).await?;
        self.view(scope, person, now).await
    }

    /// Records a `Sec-GPC: 1` signal of the signed-in person: withdraws each sale/sharing
    /// purpose they have granted (unless granted with the signal). Returns how many records
    /// it wrote (0 on every request after the first).
    pub async fn record_gpc(&self, scope: &TenantScope) -> Result<usize, PrivacyError> {
        let person = person_of(scope)?;
        let now = Utc::now().trunc_subsecs(6);
        let mut withdraw = Vec::new();
        for purpose in ConsentPurpose::ALL
            .into_iter()
            .filter(|p| p.opted_out_by_gpc())
        {
            let opted_out = match latest(scope, person, purpose).await? {
                None => false,
                Some(r) => !r.granted || r.gpc_signal,
            };
            if !opted_out {
                withdraw.push(ConsentChoice {
                    purpose,
                    granted: false,
                    recorded_at: None,
                });
            }
        }
        if !withdraw.is_empty() {
            append(scope, person, &withdraw, ConsentSource::Gpc, true, now).await?;
        }
        Ok(withdraw.len())
    }

    /// How many consent records the person has (for the personal-data source's summary).
    pub(crate) async fn count_records(
        scope: &TenantScope,
        person: Uuid,
    ) -> Result<u64, PrivacyError> {
        Ok(record::Entity::find()
            .filter(record::Column::PersonId.eq(person))
            .count(scope.db())
            .await?)
    }
}

/// The gate as the tenancy's port ([`hub_tenant::consent_gate::ConsentGate`]); stateless,
/// it reads the scope's tables.
pub struct Gate;

#[async_trait::async_trait]
impl hub_tenant::consent_gate::ConsentGate for Gate {
    async fn may_use(
        &self,
        scope: &TenantScope,
        person: Uuid,
        purpose: ConsentPurpose,
        now: DateTime<Utc>,
    ) -> Result<Decision, hub_tenant::personal_data::SourceError> {
        Ok(decide(scope, person, purpose, now).await?)
    }
}
