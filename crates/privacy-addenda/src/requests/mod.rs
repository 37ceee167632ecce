//! Data-subject requests (R1–R7, L1, L2): a person (or a privacy officer on their behalf) asks
//! for access, an export, rectification, erasure, restriction or objection; identity is
//! verified (a signed-in session, or a one-time code sent through the essential channel); a
//! privacy officer approves or denies with a reason; an approved request runs as one task
//! per registered personal-data source ([`execution`]), each retried on its own.
//!
//! Statuses (Fides-like): `identity_unverified` → `pending_approval` → `approved` | `denied`
//! → `in_progress` → `complete` | `error` (some task failed or the completeness scan found
//! data left; each failed task is re-run on its own, never the whole request).
//!
//! Clocks ([`clock`]): due 30 days after receipt, paused while identity verification is
//! pending, extended per jurisdiction with a reason told to the requester; officers alerted
//! when a request is due soon or overdue ([`alerts`]). Concerns (L2) are requests of kind
//! `concern`, answered with a response; where to raise one and the institution's default
//! jurisdiction are in [`concerns`].
//!
//! Time: every rule reads [`Privacy::now`], the wall clock plus an offset tests and drills
//! set ([`Privacy::advance_clock`]); nothing sleeps.

use crate::{PRIVACY_MANAGE, Privacy, PrivacyError};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use entities::{request, task};
use hub_kernel::Pii;
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_kernel::page::{Page, PageRequest};
use hub_kernel::problem::Violations;
use hub_tenant::TenantScope;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::consent_gate::ConsentPurpose;
use hub_tenant::personal_data::{Correction, DataSubject, EssentialMessage};
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use uuid::Uuid;

pub use clock::{Jurisdiction, JurisdictionRules};

pub const TABLE: &str = "privacy_requests";
pub const TASKS_TABLE: &str = "privacy_request_tasks";

/// How long a verification code is valid.
pub const CODE_HOURS: i64 = 24;
/// Wrong codes accepted before the code is burned (a new request must be made).
pub const CODE_ATTEMPTS: i32 = 5;
pub const DETAILS_MAX: usize = 2000;
pub const REASON_MAX: usize = 1000;

/// The personal fields of the request table: the subject reference (sealed, with a blind
/// index of the person id), what the person wrote, and the result (an access summary or an
/// export bundle). Kept as the record that the right was exercised (a legal obligation).
pub const PERSONAL_FIELDS: &[FieldClassification] = &[
    FieldClassification {
        table: TABLE,
        column: "subject",
        category: DataCategory::Identity,
        purpose: Purpose::LegalObligation,
        retention: RetentionClass::TenantLifetime,
        identifying: true,
        blind_index: true,
        optional: true,
    },
    FieldClassification {
        table: TABLE,
        column: "details",
        category: DataCategory::Identity,
        purpose: Purpose::LegalObligation,
        retention: RetentionClass::TenantLifetime,
        identifying: true,
        blind_index: false,
        optional: true,
    },
    // A rectification's corrections (effects): the values the person's record should hold.
    FieldClassification {
        table: TABLE,
        column: "corrections",
        category: DataCategory::Identity,
        purpose: Purpose::LegalObligation,
        retention: RetentionClass::TenantLifetime,
        identifying: true,
        blind_index: false,
        optional: true,
    },
    FieldClassification {
        table: TABLE,
        column: "result",
        category: DataCategory::Identity,
        purpose: Purpose::LegalObligation,
        retention: RetentionClass::TenantLifetime,
        identifying: true,
        blind_index: false,
        optional: true,
    },
];

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }
    };
}

pub mod alerts;
pub mod clock;
pub mod concerns;
pub mod download;
pub mod effects;
pub mod entities;
pub mod execution;
pub mod export;
pub mod source;

string_enum!(
    /// What the person asks for. Every right is accepted whatever the jurisdiction (R7).
    RequestKind {
        Access => "access",
        Export => "export",
        Rectification => "rectification",
        Erasure => "erasure",
        Restriction => "restriction",
        Objection => "objection",
        // A concern about how the institution handles personal data (L2), answered by a
        // privacy officer ([`concerns`]).
        Concern => "concern",
    }
);

string_enum!(
    RequestStatus {
        IdentityUnverified => "identity_unverified",
        PendingApproval => "pending_approval",
        Approved => "approved",
        Denied => "denied",
        InProgress => "in_progress",
        Complete => "complete",
        Error => "error",
    }
);

string_enum!(
    TaskStatus {
        Pending => "pending",
        Done => "done",
        Failed => "failed",
        Skipped => "skipped",
    }
);

impl RequestKind {
    /// Whether approval runs a task per source. The others complete on approval: an
    /// objection's purposes and a rectification's corrections are applied then
    /// ([`effects`]), anything else the officer handles, the decision recording what was
    /// done.
    pub fn runs_on_sources(self) -> bool {
        matches!(
            self,
            Self::Access | Self::Export | Self::Erasure | Self::Restriction
        )
    }
}

impl RequestStatus {
    /// Still open: its clock runs (or is paused) and it counts for overdue / due soon.
    pub fn open(self) -> bool {
        !matches!(self, Self::Denied | Self::Complete)
    }
}

/// What the subject reference holds: the person and the emails known at submission (so a
/// source that finds people by email still can after the people source erased them).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SealedSubject {
    id: Uuid,
    emails: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct NewRequest {
    pub kind: RequestKind,
    /// `None`: the one on the person's profile, else the institution's default
    /// ([`concerns`]; `other` until it names one).
    pub jurisdiction: Option<Jurisdiction>,
    /// What to correct, what processing is objected to, anything the person adds.
    pub details: Option<Pii<String>>,
    /// For a restriction: lift it (resume processing) instead of imposing it.
    pub lift_restriction: bool,
    /// For an objection: the consentable purposes objected to (at least one).
    pub purposes: Vec<ConsentPurpose>,
    /// For a rectification: fields of the record the person cannot edit themselves, with
    /// the values they should hold (checked here, applied on approval).
    pub corrections: Vec<effects::RequestedCorrection>,
}

#[derive(Debug, Clone)]
pub struct RequestTask {
    pub source: String,
    pub status: TaskStatus,
    pub attempts: i32,
    pub outcome: Option<serde_json::Value>,
    pub error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct PrivacyRequest {
    pub id: Uuid,
    pub kind: RequestKind,
    pub status: RequestStatus,
    pub lift_restriction: bool,
    pub jurisdiction: Jurisdiction,
    /// `None` once an erasure completed (the reference is dropped; the receipt remains).
    pub person_id: Option<Uuid>,
    pub details: Option<Pii<String>>,
    /// An objection's purposes.
    pub purposes: Vec<ConsentPurpose>,
    /// A rectification's corrections.
    pub corrections: Vec<Correction>,
    pub submitted_by: String,
    pub on_behalf: bool,
    pub received_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
    pub clock: clock::Clock,
    pub extension_reason: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The access summary (access) or the bundle (export), once complete; what an objection
    /// withdrew (and when) or which fields a rectification corrected ([`effects`]).
    pub result: Option<serde_json::Value>,
    /// The signed receipt (erasure), once complete.
    pub receipt: Option<serde_json::Value>,
    pub tasks: Vec<RequestTask>,
}

/// Filters of a listing.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub status: Option<RequestStatus>,
    pub kind: Option<RequestKind>,
    /// Open requests whose running clock ends before this.
    pub due_before: Option<DateTime<Utc>>,
    /// `Overdue`: open requests past due; `DueSoon`: open ones due within
    /// [`clock::DUE_SOON_DAYS`].
    pub view: Option<clock::DueView>,
}

/// A code's digest, bound to its request and keyed by the institution's index key: the code
/// has only eight digits, so a plain hash in a database dump would give it away in seconds.
fn code_hash(scope: &TenantScope, id: Uuid, code: &str) -> String {
    hex::encode(
        scope
            .keys()
            .blind_index(TABLE, "code", &format!("{id}|{code}")),
    )
}

/// Whether `code` is the one `stored` was made of, under any index-key version held (a
/// rotation while a code is out does not refuse it).
fn code_matches(scope: &TenantScope, id: Uuid, code: &str, stored: &str) -> bool {
    scope
        .keys()
        .blind_index_candidates(TABLE, "code", &format!("{id}|{code}"))
        .iter()
        .fold(false, |found, candidate| {
            found | bool::from(hex::encode(candidate).as_bytes().ct_eq(stored.as_bytes()))
        })
}

fn new_code() -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    // 8 decimal digits (a person reads them out or types them).
    format!("{:08}", u64::from_le_bytes(bytes) % 100_000_000)
}

fn subject_index(scope: &TenantScope, person: Uuid) -> Vec<u8> {
    scope
        .keys()
        .blind_index(TABLE, "subject", &person.to_string())
}

pub(crate) fn subject_indexes(scope: &TenantScope, person: Uuid) -> Vec<Vec<u8>> {
    scope
        .keys()
        .blind_index_candidates(TABLE, "subject", &person.to_string())
}

/// Refuses a new request, or a decision on one, about a person whose erasure has started
/// (approved, running, stopped on a failed task) or finished: whatever that request wrote
/// about them (its row, its result, the messages it sends) would come after the erasure's
/// sources ran, and its completeness scan would find it. An erasure merely requested does
/// not block: the person may still ask for their export first.
async fn refuse_if_erasure_under_way(
    scope: &TenantScope,
    indexes: &[Vec<u8>],
) -> Result<(), PrivacyError> {
    let started = [
        RequestStatus::Approved,
        RequestStatus::InProgress,
        RequestStatus::Error,
        RequestStatus::Complete,
    ];
    let erasure = request::Entity::find()
        .filter(request::Column::SubjectIndex.is_in(indexes.to_vec()))
        .filter(request::Column::Kind.eq(RequestKind::Erasure.as_str()))
        .filter(request::Column::Status.is_in(started.map(RequestStatus::as_str)))
        .one(scope.db())
        .await?;
    match erasure {
        None => Ok(()),
        Some(erasure) => Err(PrivacyError::Conflict {
            code: "subject_erasure_under_way",
            message: format!(
                "this person's erasure (request {}) is {}: no other request about them can be \
                 made or decided until it is complete",
                erasure.id, erasure.status
            ),
        }),
    }
}

fn check_text(v: &mut Violations, field: &str, text: &str, max: usize) {
    v.check(
        text.chars().count() <= max,
        field,
        &format!("must be at most {max} characters"),
    );
    v.check(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        field,
        "must not contain control characters",
    );
}

fn check_reason(reason: &str) -> Result<String, PrivacyError> {
    let reason = reason.trim();
    let mut v = Violations::new();
    v.check(!reason.is_empty(), "reason", "must not be empty");
    check_text(&mut v, "reason", reason, REASON_MAX);
    v.finish().map_err(PrivacyError::Invalid)?;
    Ok(reason.to_string())
}

fn person_label(person: Uuid) -> String {
    format!("person:{person}")
}

/// The subject of a stored request, opened from its seal (`None` once dropped).
pub(crate) fn open_subject(
    scope: &TenantScope,
    row: &request::Model,
) -> Result<Option<DataSubject>, PrivacyError> {
    let Some(sealed) = &row.subject_sealed else {
        return Ok(None);
    };
    let text = scope
        .keys()
        .open_str(TABLE, "subject", row.id, sealed)
        .map_err(|e| PrivacyError::Registry(format!("a request's subject does not open: {e}")))?;
    let subject: SealedSubject = serde_json::from_str(&text)
        .map_err(|e| PrivacyError::Registry(format!("a request's subject is malformed: {e}")))?;
    Ok(Some(DataSubject::person(
        subject.id,
        subject.emails.into_iter().map(Pii::new).collect(),
    )))
}

fn open_json(
    scope: &TenantScope,
    id: Uuid,
    column: &str,
    sealed: &Option<Vec<u8>>,
) -> Result<Option<serde_json::Value>, PrivacyError> {
    sealed
        .as_deref()
        .map(|s| {
            let text = scope
                .keys()
                .open_str(TABLE, column, id, s)
                .map_err(|e| PrivacyError::Registry(e.to_string()))?;
            serde_json::from_str(&text).map_err(|e| PrivacyError::Registry(e.to_string()))
        })
        .transpose()
}

pub(crate) async fn tasks_of(
    scope: &TenantScope,
    id: Uuid,
) -> Result<Vec<task::Model>, PrivacyError> {
    Ok(task::Entity::find()
        .filter(task::Column::RequestId.eq(id))
        .order_by_asc(task::Column::Position)
        .all(scope.db())
        .await?)
}

fn view(
    scope: &TenantScope,
    row: request::Model,
    tasks: Vec<task::Model>,
    now: DateTime<Utc>,
) -> Result<PrivacyRequest, PrivacyError> {
    let subject = open_subject(scope, &row)?;
    let details = row
        .details_sealed
        .as_deref()
        .map(|d| scope.keys().open_str(TABLE, "details", row.id, d))
        .transpose()
        .map_err(|e| PrivacyError::Registry(e.to_string()))?
        .map(Pii::new);
    let result = open_json(scope, row.id, "result", &row.result_sealed)?;
    let status = RequestStatus::parse(&row.status).unwrap_or(RequestStatus::Error);
    let jurisdiction = Jurisdiction::parse(&row.jurisdiction).unwrap_or(Jurisdiction::Other);
    Ok(PrivacyRequest {
        id: row.id,
        kind: RequestKind::parse(&row.kind).unwrap_or(RequestKind::Access),
        status,
        lift_restriction: row.lift_restriction,
        jurisdiction,
        person_id: subject.as_ref().and_then(DataSubject::person_id),
        details,
        purposes: effects::purposes_of(&row),
        corrections: effects::open_corrections(scope, &row)?,
        submitted_by: row.submitted_by.clone(),
        on_behalf: row.on_behalf,
        received_at: row.received_at,
        verified_at: row.verified_at,
        clock: clock::Clock::of(&row, status, jurisdiction, now),
        extension_reason: row.extension_reason.clone(),
        decided_by: row.decided_by.clone(),
        decided_at: row.decided_at,
        decision_reason: row.decision_reason.clone(),
        completed_at: row.completed_at,
        result,
        receipt: row
            .receipt
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok()),
        tasks: tasks
            .into_iter()
            .map(|t| RequestTask {
                source: t.source,
                status: TaskStatus::parse(&t.status).unwrap_or(TaskStatus::Failed),
                attempts: t.attempts,
                outcome: t
                    .outcome
                    .as_deref()
                    .and_then(|o| serde_json::from_str(o).ok()),
                error: t.error,
                updated_at: t.updated_at,
            })
            .collect(),
    })
}

async fn audit_request(
    scope: &TenantScope,
    action: &'static str,
    id: Uuid,
    detail: serde_json::Value,
) -> Result<(), PrivacyError> {
    audit::record(
        scope,
        AuditEvent::new(action)
            .subject(format!("privacy_request:{id}"))
            .detail(detail),
    )
    .await?;
    Ok(())
}

impl Privacy {
    /// The time every request rule reads: the wall clock plus the drill offset.
    pub fn now(&self) -> DateTime<Utc> {
        // Microseconds: what both backends store, so a value read back equals the one used.
        (Utc::now() + Duration::seconds(self.requests.clock_offset_secs())).trunc_subsecs(6)
    }

    /// Moves this process's request clock forward (tests and drills: "30 days later").
    pub fn advance_clock(&self, by: Duration) {
        self.requests.advance(by.num_seconds());
    }

    /// A person's own request: their signed-in session verifies their identity, so it waits
    /// for approval at once.
    pub async fn submit_own_request(
        &self,
        scope: &TenantScope,
        input: NewRequest,
    ) -> Result<PrivacyRequest, PrivacyError> {
        let person = scope
            .actor()
            .and_then(|a| a.person_id())
            .ok_or(PrivacyError::PersonOnly)?;
        self.submit(scope, person, input, false).await
    }

    /// A request made by a privacy officer on a person's behalf: identity is unverified
    /// until the person gives back the code sent to them (the clock waits meanwhile).
    pub async fn submit_request_for(
        &self,
        scope: &TenantScope,
        person: Uuid,
        input: NewRequest,
    ) -> Result<PrivacyRequest, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        self.submit(scope, person, input, true).await
    }

    async fn submit(
        &self,
        scope: &TenantScope,
        person: Uuid,
        input: NewRequest,
        on_behalf: bool,
    ) -> Result<PrivacyRequest, PrivacyError> {
        let mut v = Violations::new();
        if let Some(details) = &input.details {
            check_text(&mut v, "details", details.expose(), DETAILS_MAX);
        }
        v.check(
            input.kind != RequestKind::Concern
                || input
                    .details
                    .as_ref()
                    .is_some_and(|d| !d.expose().trim().is_empty()),
            "details",
            "a concern needs its text",
        );
        v.check(
            !input.lift_restriction || input.kind == RequestKind::Restriction,
            "lift_restriction",
            "only a restriction request can lift a restriction",
        );
        v.finish().map_err(PrivacyError::Invalid)?;
        let corrections = self.check_effects(input.kind, &input.purposes, &input.corrections)?;
        let record = self
            .directory
            .person(scope, person)
            .await
            .map_err(|e| PrivacyError::source_failed("directory", &e))?
            .ok_or(PrivacyError::NotFound("person"))?;
        let indexes = subject_indexes(scope, person);
        if input.kind == RequestKind::Erasure {
            let open = request::Entity::find()
                .filter(request::Column::SubjectIndex.is_in(indexes.clone()))
                .filter(request::Column::Kind.eq(RequestKind::Erasure.as_str()))
                .filter(request::Column::Status.ne(RequestStatus::Denied.as_str()))
                .one(scope.db())
                .await?;
            if let Some(existing) = open {
                return Err(PrivacyError::Conflict {
                    code: "erasure_already_requested",
                    message: format!(
                        "this person's erasure was already requested (request {}, {})",
                        existing.id, existing.status
                    ),
                });
            }
        } else {
            refuse_if_erasure_under_way(scope, &indexes).await?;
        }
        let now = self.now();
        let id = Uuid::now_v7();
        // The jurisdiction the request states wins; else the one on the person's profile;
        // else the institution's default.
        let jurisdiction = match input.jurisdiction.or(record.jurisdiction) {
            Some(j) => j,
            None => concerns::default_jurisdiction(scope).await?,
        };
        let keys = scope.keys();
        let sealed = SealedSubject {
            id: person,
            emails: hub_tenant::personal_data::emails_of(&record.subject)
                .iter()
                .map(|e| e.expose().clone())
                .collect(),
        };
        let sealed =
            serde_json::to_string(&sealed).map_err(|e| PrivacyError::Registry(e.to_string()))?;
        let code = on_behalf.then(new_code);
        let status = if on_behalf {
            RequestStatus::IdentityUnverified
        } else {
            RequestStatus::PendingApproval
        };
        // An addendum in force may promise a shorter deadline than ours (A2); never longer.
        let due_days = self
            .addendum_request_deadline_at(scope, now)
            .await?
            .map_or(clock::DEFAULT_DAYS, |days| {
                i64::from(days).min(clock::DEFAULT_DAYS)
            });
        request::Entity::insert(request::ActiveModel {
            id: Set(id),
            kind: Set(input.kind.as_str().into()),
            status: Set(status.as_str().into()),
            lift_restriction: Set(input.lift_restriction),
            jurisdiction: Set(jurisdiction.as_str().into()),
            subject_sealed: Set(Some(keys.seal_str(TABLE, "subject", id, &sealed))),
            subject_index: Set(subject_index(scope, person)),
            details_sealed: Set(input
                .details
                .as_ref()
                .map(|d| keys.seal_str(TABLE, "details", id, d.expose().trim()))),
            purposes: Set(effects::purposes_text(&input.purposes)),
            corrections_sealed: Set(effects::seal_corrections(scope, id, &corrections)?),
            submitted_by: Set(scope.actor_label()),
            on_behalf: Set(on_behalf),
            received_at: Set(now),
            due_at: Set(now + Duration::days(due_days)),
            verified_at: Set((!on_behalf).then_some(now)),
            code_hash: Set(code.as_deref().map(|c| code_hash(scope, id, c))),
            code_expires_at: Set(code.as_ref().map(|_| now + Duration::hours(CODE_HOURS))),
            code_attempts: Set(0),
            extended_days: Set(0),
            extension_reason: Set(None),
            decided_by: Set(None),
            decided_at: Set(None),
            decision_reason: Set(None),
            completed_at: Set(None),
            result_sealed: Set(None),
            download_hash: Set(None),
            download_expires_at: Set(None),
            receipt: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(scope.db())
        .await?;
        if !on_behalf {
            self.apply_on_verification(scope, id).await?;
        }
        if let Some(code) = &code {
            self.tell(
                scope,
                person,
                "privacy.verification_code",
                "Confirm your privacy request",
                format!(
                    "A {} request about your data was made on your behalf (request {id}). If you \
                     asked for it, give this code to the privacy officer within {CODE_HOURS} \
                     hours: {code}. If you did not, ignore this message.",
                    input.kind.as_str()
                ),
            )
            .await?;
        }
        audit_request(
            scope,
            "privacy_request.submitted",
            id,
            serde_json::json!({
                "kind": input.kind.as_str(),
                "on_behalf": on_behalf,
                "jurisdiction": jurisdiction.as_str(),
            }),
        )
        .await?;
        self.load(scope, id).await
    }

    async fn tell(
        &self,
        scope: &TenantScope,
        person: Uuid,
        kind: &'static str,
        subject: &str,
        body: String,
    ) -> Result<(), PrivacyError> {
        self.messages
            .send(
                scope,
                person,
                EssentialMessage {
                    kind,
                    subject: subject.to_string(),
                    body,
                },
            )
            .await
            .map_err(|e| PrivacyError::source_failed("messages", &e))
    }

    pub(crate) async fn row(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<request::Model, PrivacyError> {
        request::Entity::find_by_id(id)
            .one(scope.db())
            .await?
            .ok_or(PrivacyError::NotFound("privacy request"))
    }

    pub(crate) async fn load(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<PrivacyRequest, PrivacyError> {
        let row = self.row(scope, id).await?;
        let tasks = tasks_of(scope, id).await?;
        view(scope, row, tasks, self.now())
    }

    /// Verifies the identity behind a request made on a person's behalf with the code sent
    /// to them. A wrong code counts against [`CODE_ATTEMPTS`]; an expired or used-up code
    /// is refused (a new request must be made). The paused clock resumes: the due date moves
    /// by the time verification took.
    pub async fn verify_request(
        &self,
        scope: &TenantScope,
        id: Uuid,
        code: &str,
    ) -> Result<PrivacyRequest, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        let row = self.row(scope, id).await?;
        if row.status != RequestStatus::IdentityUnverified.as_str() {
            return Err(PrivacyError::Conflict {
                code: "request_already_verified",
                message: format!(
                    "the request is {}, not waiting for verification",
                    row.status
                ),
            });
        }
        let now = self.now();
        let (Some(hash), Some(expires)) = (&row.code_hash, row.code_expires_at) else {
            return Err(PrivacyError::CodeRefused {
                code: "verification_code_exhausted",
                message: "too many wrong codes: this request cannot be verified; make a new one",
            });
        };
        if now >= expires {
            return Err(PrivacyError::CodeRefused {
                code: "verification_code_expired",
                message: "the code has expired: make a new request",
            });
        }
        if !code_matches(scope, id, code.trim(), hash) {
            let attempts = row.code_attempts + 1;
            let burned = attempts >= CODE_ATTEMPTS;
            // Counted in its own unit of work by the caller's commit: a refused code is a
            // recorded attempt, nothing else changes.
            request::Entity::update_many()
                .col_expr(request::Column::CodeAttempts, Expr::value(attempts))
                .col_expr(
                    request::Column::CodeHash,
                    Expr::value(if burned { None } else { Some(hash.clone()) }),
                )
                .filter(request::Column::Id.eq(id))
                .exec(scope.db())
                .await?;
            audit_request(
                scope,
                "privacy_request.verification_refused",
                id,
                serde_json::json!({ "attempts": attempts }),
            )
            .await?;
            return Err(PrivacyError::CodeRefused {
                code: "verification_code_invalid",
                message: "the code is not the one sent to the person",
            });
        }
        let paused = now - row.received_at;
        request::Entity::update_many()
            .col_expr(
                request::Column::Status,
                Expr::value(RequestStatus::PendingApproval.as_str()),
            )
            .col_expr(request::Column::VerifiedAt, Expr::value(Some(now)))
            .col_expr(request::Column::DueAt, Expr::value(row.due_at + paused))
            .col_expr(
                request::Column::CodeHash,
                Expr::value(Option::<String>::None),
            )
            .col_expr(request::Column::UpdatedAt, Expr::value(now))
            .filter(request::Column::Id.eq(id))
            .exec(scope.db())
            .await?;
        self.apply_on_verification(scope, id).await?;
        audit_request(
            scope,
            "privacy_request.verified",
            id,
            serde_json::json!({ "paused_seconds": paused.num_seconds() }),
        )
        .await?;
        self.load(scope, id).await
    }

    /// A privacy officer's decision. Nobody decides a request about themselves (the
    /// requester is the data subject; an officer who files a request on a person's behalf
    /// may decide it, as the person confirmed it with their code). Approval starts the execution (one task per source, run in the background);
    /// a denial is told to the person with its reason.
    pub async fn decide_request(
        &self,
        scope: &TenantScope,
        id: Uuid,
        approve: bool,
        reason: &str,
    ) -> Result<PrivacyRequest, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        let reason = check_reason(reason)?;
        let row = self.row(scope, id).await?;
        let subject = open_subject(scope, &row)?;
        let person = subject.as_ref().and_then(DataSubject::person_id);
        let actor = scope.actor_label();
        let own = person.is_some_and(|p| scope.actor().and_then(|a| a.person_id()) == Some(p));
        if own {
            return Err(PrivacyError::OwnRequest);
        }
        if row.kind == RequestKind::Concern.as_str() {
            return Err(PrivacyError::Conflict {
                code: "concern_needs_response",
                message: "a concern is closed with a response (POST …/response), not decided"
                    .into(),
            });
        }
        if row.status != RequestStatus::PendingApproval.as_str() {
            return Err(PrivacyError::Conflict {
                code: "request_not_pending_approval",
                message: format!("the request is {}, not waiting for a decision", row.status),
            });
        }
        let kind = RequestKind::parse(&row.kind).unwrap_or(RequestKind::Access);
        if kind != RequestKind::Erasure {
            match person {
                // Approved or denied, the decision would write about the person (their
                // message) while their erasure runs.
                Some(person) => {
                    refuse_if_erasure_under_way(scope, &subject_indexes(scope, person)).await?
                }
                // The requests' source dropped the subject: the person was erased.
                None if approve => {
                    return Err(PrivacyError::Conflict {
                        code: "subject_erased",
                        message: "the person this request is about was erased: it can only be \
                                  denied"
                            .into(),
                    });
                }
                None => {}
            }
        }
        let now = self.now();
        let status = match (approve, kind.runs_on_sources()) {
            (false, _) => RequestStatus::Denied,
            (true, true) => RequestStatus::Approved,
            (true, false) => RequestStatus::Complete,
        };
        // What the request asks for is applied first: a refused correction fails the
        // decision and the caller's unit of work rolls back, the request still pending.
        if approve {
            self.apply_on_approval(scope, &row).await?;
        }
        let decided = request::Entity::update_many()
            .col_expr(request::Column::Status, Expr::value(status.as_str()))
            .col_expr(request::Column::DecidedBy, Expr::value(Some(actor)))
            .col_expr(request::Column::DecidedAt, Expr::value(Some(now)))
            .col_expr(
                request::Column::DecisionReason,
                Expr::value(Some(reason.clone())),
            )
            .col_expr(
                request::Column::CompletedAt,
                Expr::value((status == RequestStatus::Complete).then_some(now)),
            )
            .col_expr(request::Column::UpdatedAt, Expr::value(now))
            .filter(request::Column::Id.eq(id))
            .filter(request::Column::Status.eq(RequestStatus::PendingApproval.as_str()))
            .exec(scope.db())
            .await?;
        if decided.rows_affected == 0 {
            // Decided meanwhile by someone else: nothing of this decision may stand.
            return Err(PrivacyError::Conflict {
                code: "request_not_pending_approval",
                message: "the request was decided meanwhile".into(),
            });
        }
        if status == RequestStatus::Approved {
            self.plan_tasks(scope, id, now).await?;
        }
        if let Some(person) = person {
            let (subject_line, body) = if approve {
                (
                    "Your privacy request was approved",
                    format!(
                        "Your {} request ({id}) was approved: {reason}",
                        kind.as_str()
                    ),
                )
            } else {
                (
                    "Your privacy request was declined",
                    format!(
                        "Your {} request ({id}) was declined: {reason}",
                        kind.as_str()
                    ),
                )
            };
            self.tell(scope, person, "privacy.request_decided", subject_line, body)
                .await?;
        }
        audit_request(
            scope,
            if approve {
                "privacy_request.approved"
            } else {
                "privacy_request.denied"
            },
            id,
            serde_json::json!({ "kind": kind.as_str() }),
        )
        .await?;
        self.load(scope, id).await
    }

    /// Extends the deadline by `days` (within the jurisdiction's limit, [`clock`]), the reason
    /// told to the requester.
    pub async fn extend_request(
        &self,
        scope: &TenantScope,
        id: Uuid,
        days: u32,
        reason: &str,
    ) -> Result<PrivacyRequest, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        let reason = check_reason(reason)?;
        let row = self.row(scope, id).await?;
        let status = RequestStatus::parse(&row.status).unwrap_or(RequestStatus::Error);
        if !status.open() {
            return Err(PrivacyError::Conflict {
                code: "request_closed",
                message: format!("the request is {}", row.status),
            });
        }
        let jurisdiction = Jurisdiction::parse(&row.jurisdiction).unwrap_or(Jurisdiction::Other);
        let allowed = jurisdiction.max_extension_days();
        let total = row.extended_days as i64 + days as i64;
        if days == 0 || total > allowed {
            return Err(PrivacyError::Invalid(vec![
                hub_kernel::FieldViolation::new(
                    "days",
                    format!(
                        "{} allows extensions of at most {allowed} days in total ({} used)",
                        jurisdiction.as_str(),
                        row.extended_days
                    ),
                ),
            ]));
        }
        let now = self.now();
        let due = row.due_at + Duration::days(days as i64);
        request::Entity::update_many()
            .col_expr(request::Column::ExtendedDays, Expr::value(total as i32))
            .col_expr(request::Column::DueAt, Expr::value(due))
            .col_expr(
                request::Column::ExtensionReason,
                Expr::value(Some(reason.clone())),
            )
            .col_expr(request::Column::UpdatedAt, Expr::value(now))
            .filter(request::Column::Id.eq(id))
            .exec(scope.db())
            .await?;
        if let Some(person) = open_subject(scope, &row)?.and_then(|s| s.person_id()) {
            self.tell(
                scope,
                person,
                "privacy.request_extended",
                "More time is needed for your privacy request",
                format!(
                    "Your {} request ({id}) needs {days} more days: {reason}",
                    row.kind
                ),
            )
            .await?;
        }
        audit_request(
            scope,
            "privacy_request.extended",
            id,
            serde_json::json!({ "days": days, "extended_days": total }),
        )
        .await?;
        self.load(scope, id).await
    }

    /// One request. Requires `privacy:manage`.
    pub async fn privacy_request(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<PrivacyRequest, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        let found = self.load(scope, id).await?;
        audit_request(scope, "privacy_request.read", id, serde_json::json!({})).await?;
        Ok(found)
    }

    /// One of the signed-in person's own requests (another's is not found).
    pub async fn own_privacy_request(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<PrivacyRequest, PrivacyError> {
        let person = scope
            .actor()
            .and_then(|a| a.person_id())
            .ok_or(PrivacyError::PersonOnly)?;
        let row = self.row(scope, id).await?;
        if !subject_indexes(scope, person).contains(&row.subject_index) {
            return Err(PrivacyError::NotFound("privacy request"));
        }
        self.load(scope, id).await
    }

    /// Requests, oldest first, filtered. Requires `privacy:manage`.
    pub async fn privacy_requests(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
        filter: &RequestFilter,
    ) -> Result<Page<PrivacyRequest>, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        self.list(scope, page, filter, None).await
    }

    /// The signed-in person's own requests.
    pub async fn own_privacy_requests(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<PrivacyRequest>, PrivacyError> {
        let person = scope
            .actor()
            .and_then(|a| a.person_id())
            .ok_or(PrivacyError::PersonOnly)?;
        self.list(scope, page, &RequestFilter::default(), Some(person))
            .await
    }

    async fn list(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
        filter: &RequestFilter,
        person: Option<Uuid>,
    ) -> Result<Page<PrivacyRequest>, PrivacyError> {
        let now = self.now();
        let mut query = request::Entity::find()
            .order_by_asc(request::Column::Id)
            .limit(page.fetch_limit());
        if let Some(after) = page.after {
            query = query.filter(request::Column::Id.gt(after));
        }
        if let Some(person) = person {
            query =
                query.filter(request::Column::SubjectIndex.is_in(subject_indexes(scope, person)));
        }
        if let Some(status) = filter.status {
            query = query.filter(request::Column::Status.eq(status.as_str()));
        }
        if let Some(kind) = filter.kind {
            query = query.filter(request::Column::Kind.eq(kind.as_str()));
        }
        // Only running clocks can be due: a paused (unverified) request is not.
        let running = Condition::all().add(
            request::Column::Status.is_not_in(
                [
                    RequestStatus::IdentityUnverified,
                    RequestStatus::Denied,
                    RequestStatus::Complete,
                ]
                .map(RequestStatus::as_str),
            ),
        );
        if let Some(before) = filter.due_before {
            query = query
                .filter(running.clone())
                .filter(request::Column::DueAt.lt(before));
        }
        match filter.view {
            Some(clock::DueView::Overdue) => {
                query = query
                    .filter(running.clone())
                    .filter(request::Column::DueAt.lt(now));
            }
            Some(clock::DueView::DueSoon) => {
                query = query
                    .filter(running)
                    .filter(request::Column::DueAt.gte(now))
                    .filter(request::Column::DueAt.lt(now + Duration::days(clock::DUE_SOON_DAYS)));
            }
            None => {}
        }
        let rows = query.all(scope.db()).await?;
        let page = Page::from_rows(rows, page, |r| r.id);
        let mut items = Vec::with_capacity(page.items.len());
        for row in page.items {
            let tasks = tasks_of(scope, row.id).await?;
            items.push(view(scope, row, tasks, now)?);
        }
        if person.is_none() {
            audit::record_listing(
                scope,
                "privacy_requests.listed",
                "privacy_request_ids",
                items.iter().map(|r| r.id),
            )
            .await?;
        }
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }
}

/// Settings of the request service: the drill clock, sources switched off, sources whose
/// tasks fail on purpose (drills).
#[derive(Default)]
pub struct RequestSettings {
    clock_offset_secs: std::sync::atomic::AtomicI64,
    switched_off: std::sync::RwLock<Vec<String>>,
    failing: std::sync::RwLock<Vec<String>>,
    /// Kill drills: a run stops after this many tasks as if its process had died (0: never).
    pub(crate) stop_after_tasks: std::sync::atomic::AtomicU64,
    /// How many runs the kill drill stopped.
    pub(crate) stopped_by_drill: std::sync::atomic::AtomicU64,
    /// Records per export part (0: [`export::DEFAULT_PAGE_SIZE`]).
    export_page_size: std::sync::atomic::AtomicU64,
    /// Drills: where an export waits between two pages.
    pub(crate) export_pause: export::PauseSlot,
}

impl RequestSettings {
    fn clock_offset_secs(&self) -> i64 {
        self.clock_offset_secs
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn advance(&self, secs: i64) {
        self.clock_offset_secs
            .fetch_add(secs, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn export_page_size(&self) -> u64 {
        match self
            .export_page_size
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            0 => export::DEFAULT_PAGE_SIZE,
            n => n,
        }
    }

    pub(crate) fn switched_off(&self, source: &str) -> bool {
        self.switched_off
            .read()
            .map(|s| s.iter().any(|n| n == source))
            .unwrap_or(false)
    }

    pub(crate) fn failing(&self, source: &str) -> bool {
        self.failing
            .read()
            .map(|s| s.iter().any(|n| n == source))
            .unwrap_or(false)
    }
}

impl Privacy {
    /// Sources switched off (configuration `privacy_switched_off_sources`): their tasks are
    /// `skipped` and reported, never an error.
    pub fn set_switched_off_sources(&self, names: Vec<String>) {
        if let Ok(mut s) = self.requests.switched_off.write() {
            *s = names;
        }
    }

    /// Records per part of an export's bundle (configuration `privacy_export_page_size`;
    /// 0: the default): the most records of one source held at once while an export is
    /// written or downloaded.
    pub fn set_export_page_size(&self, records: u64) {
        self.requests
            .export_page_size
            .store(records, std::sync::atomic::Ordering::Relaxed);
    }

    /// Kill drills: every run stops after `tasks` tasks (0: never) as if the process had
    /// died, leaving its request `in_progress` and its deadline leased; another process
    /// resumes it when the lease lapses.
    pub fn set_request_kill_drill(&self, tasks: u64) {
        self.requests
            .stop_after_tasks
            .store(tasks, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many request runs the kill drill has stopped in this process.
    pub fn requests_stopped_by_drill(&self) -> u64 {
        self.requests
            .stopped_by_drill
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Drills (configuration `privacy_drill_failing_sources`): tasks of these sources fail,
    /// as a source that cannot be reached does, until the setting changes.
    pub fn set_failing_sources(&self, names: Vec<String>) {
        if let Ok(mut s) = self.requests.failing.write() {
            *s = names;
        }
    }
}
