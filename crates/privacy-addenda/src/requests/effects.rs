//! What objection and rectification requests do (R5, R2), beside the per-source runs of the
//! other kinds ([`super::execution`]).
//!
//! - An objection names the consentable purposes objected to. Each is withdrawn in the
//!   consent ledger (source `objection`, naming the request), so the gate refuses it from
//!   then on. An objection to direct marketing is unconditional (GDPR Art. 21(3)):
//!   `marketing` is withdrawn as soon as the request's identity is verified (at submission
//!   for the person's own request, when the code is confirmed for one made on their behalf);
//!   the other purposes on approval, a denial leaving them as they were.
//! - A rectification may name corrections of the fields the person cannot edit themselves
//!   (email, username: their IdP or admin sets them), checked at submission by the record's
//!   own rules and applied on approval through [`hub_tenant::personal_data::SubjectDirectory::correct`]:
//!   all or none, a refusal (the email is now another person's) failing the decision with a
//!   409 while the request stays pending. Free text alone is the officer's to handle.
//!
//! Every effect lands in the unit of work of the submission, verification or decision that
//! causes it, and is written into the request's result (sealed) so the requester sees what
//! was applied.

use super::entities::request;
use super::{RequestKind, TABLE};
use crate::consent::{self, ConsentPurpose};
use crate::{Privacy, PrivacyError};
use chrono::{DateTime, Utc};
use hub_kernel::Pii;
use hub_kernel::problem::Violations;
use hub_tenant::TenantScope;
use hub_tenant::personal_data::{CorrectableField, Correction, CorrectionError};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The purpose withdrawn as soon as the objection's identity is verified (Art. 21(3)).
pub const UNCONDITIONAL: ConsentPurpose = ConsentPurpose::Marketing;

/// The longest correction value (an email address; a username is at most 100 characters,
/// as people's records allow).
pub const CORRECTION_VALUE_MAX: usize = 254;

/// When an objection's purpose was withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppliedOn {
    /// When the request's identity was verified (direct marketing: unconditional).
    Verification,
    /// When a privacy officer approved the request.
    Approval,
}

/// One purpose of an objection, as its result tells it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurposeOutcome {
    pub purpose: String,
    /// Withdrawn in the consent ledger (`false`: waiting for approval, or denied).
    pub withdrawn: bool,
    pub applied_on: Option<AppliedOn>,
    pub recorded_at: Option<DateTime<Utc>>,
    /// The consent record of the withdrawal.
    pub consent_record_id: Option<Uuid>,
}

/// An objection's result.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ObjectionResult {
    pub purposes: Vec<PurposeOutcome>,
}

/// A correction as asked for: the field by name (`email`, `username`), checked at
/// submission.
#[derive(Debug, Clone)]
pub struct RequestedCorrection {
    pub field: String,
    pub value: Pii<String>,
}

/// A correction as sealed in the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SealedCorrection {
    field: CorrectableField,
    value: String,
}

/// The purposes column's text (space-separated), `None` when there are none.
pub(crate) fn purposes_text(purposes: &[ConsentPurpose]) -> Option<String> {
    (!purposes.is_empty()).then(|| {
        purposes
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    })
}

pub(crate) fn purposes_of(row: &request::Model) -> Vec<ConsentPurpose> {
    row.purposes
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(ConsentPurpose::parse)
        .collect()
}

pub(crate) fn seal_corrections(
    scope: &TenantScope,
    id: Uuid,
    corrections: &[Correction],
) -> Result<Option<Vec<u8>>, PrivacyError> {
    if corrections.is_empty() {
        return Ok(None);
    }
    let sealed: Vec<SealedCorrection> = corrections
        .iter()
        .map(|c| SealedCorrection {
            field: c.field,
            value: c.value.expose().trim().to_string(),
        })
        .collect();
    let text = serde_json::to_string(&sealed).map_err(|e| PrivacyError::Registry(e.to_string()))?;
    Ok(Some(scope.keys().seal_str(TABLE, "corrections", id, &text)))
}

pub(crate) fn open_corrections(
    scope: &TenantScope,
    row: &request::Model,
) -> Result<Vec<Correction>, PrivacyError> {
    let Some(sealed) = row.corrections_sealed.as_deref() else {
        return Ok(Vec::new());
    };
    let text = scope
        .keys()
        .open_str(TABLE, "corrections", row.id, sealed)
        .map_err(|e| PrivacyError::Registry(format!("a request's corrections do not open: {e}")))?;
    let sealed: Vec<SealedCorrection> = serde_json::from_str(&text).map_err(|e| {
        PrivacyError::Registry(format!("a request's corrections are malformed: {e}"))
    })?;
    Ok(sealed
        .into_iter()
        .map(|c| Correction {
            field: c.field,
            value: Pii::new(c.value),
        })
        .collect())
}

fn seal_result(
    scope: &TenantScope,
    id: Uuid,
    result: &impl Serialize,
) -> Result<Vec<u8>, PrivacyError> {
    let text = serde_json::to_string(result).map_err(|e| PrivacyError::Registry(e.to_string()))?;
    Ok(scope.keys().seal_str(TABLE, "result", id, &text))
}

async fn store_result(
    scope: &TenantScope,
    id: Uuid,
    result: &impl Serialize,
) -> Result<(), PrivacyError> {
    let sealed = seal_result(scope, id, result)?;
    request::Entity::update_many()
        .col_expr(request::Column::ResultSealed, Expr::value(Some(sealed)))
        .filter(request::Column::Id.eq(id))
        .exec(scope.db())
        .await?;
    Ok(())
}

fn objection_result(
    scope: &TenantScope,
    row: &request::Model,
) -> Result<ObjectionResult, PrivacyError> {
    let stored = super::open_json(scope, row.id, "result", &row.result_sealed)?;
    let mut result: ObjectionResult = match stored {
        Some(value) => serde_json::from_value(value)
            .map_err(|e| PrivacyError::Registry(format!("an objection's result: {e}")))?,
        None => ObjectionResult::default(),
    };
    for purpose in purposes_of(row) {
        if !result
            .purposes
            .iter()
            .any(|p| p.purpose == purpose.as_str())
        {
            result.purposes.push(PurposeOutcome {
                purpose: purpose.as_str().into(),
                withdrawn: false,
                applied_on: None,
                recorded_at: None,
                consent_record_id: None,
            });
        }
    }
    Ok(result)
}

impl Privacy {
    /// The rules of an objection's purposes and a rectification's corrections, at
    /// submission: each only on its own kind; purposes consentable, at least one, each once;
    /// corrections valid by the person's record's rules, each field once.
    pub(crate) fn check_effects(
        &self,
        kind: RequestKind,
        purposes: &[ConsentPurpose],
        corrections: &[RequestedCorrection],
    ) -> Result<Vec<Correction>, PrivacyError> {
        if kind == RequestKind::Objection
            && let Some(i) = purposes.iter().position(|p| !p.consentable())
        {
            return Err(PrivacyError::NotConsentable {
                field: format!("purposes[{i}]"),
            });
        }
        let mut v = Violations::new();
        if kind == RequestKind::Objection {
            v.check(
                !purposes.is_empty(),
                "purposes",
                "an objection names at least one purpose: analytics, personalisation, \
                 marketing or integrations",
            );
            for (i, purpose) in purposes.iter().enumerate() {
                v.check(
                    !purposes[..i].contains(purpose),
                    &format!("purposes[{i}]"),
                    "each purpose at most once",
                );
            }
        } else {
            v.check(
                purposes.is_empty(),
                "purposes",
                "only an objection names purposes",
            );
        }
        let mut checked = Vec::with_capacity(corrections.len());
        if kind == RequestKind::Rectification {
            v.check(
                corrections.len() <= CorrectableField::ALL.len(),
                "corrections",
                "at most one correction per field",
            );
            for (i, correction) in corrections.iter().enumerate() {
                let at = format!("corrections[{i}]");
                let Some(field) = CorrectableField::parse(correction.field.trim()) else {
                    v.add(
                        format!("{at}.field"),
                        "must be email or username (the person corrects the other fields \
                         of their record themselves, at /v1/me/profile)",
                    );
                    continue;
                };
                if checked.iter().any(|c: &Correction| c.field == field) {
                    v.add(format!("{at}.field"), "each field at most once");
                }
                let value = correction.value.expose();
                if value.chars().count() > CORRECTION_VALUE_MAX {
                    v.add(
                        format!("{at}.value"),
                        format!("must be at most {CORRECTION_VALUE_MAX} characters"),
                    );
                } else if let Err(message) = self.directory.check_correction(field, value) {
                    v.add(format!("{at}.value"), message);
                }
                checked.push(Correction {
                    field,
                    value: Pii::new(value.trim().to_string()),
                });
            }
        } else {
            v.check(
                corrections.is_empty(),
                "corrections",
                "only a rectification carries corrections",
            );
        }
        v.finish().map_err(PrivacyError::Invalid)?;
        Ok(checked)
    }

    /// Once a request's identity is verified: an objection's direct-marketing purpose is
    /// withdrawn at once. In the caller's unit of work.
    pub(crate) async fn apply_on_verification(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<(), PrivacyError> {
        let row = self.row(scope, id).await?;
        if row.kind != RequestKind::Objection.as_str() {
            return Ok(());
        }
        let Some(person) = super::open_subject(scope, &row)?.and_then(|s| s.person_id()) else {
            return Ok(());
        };
        let mut result = objection_result(scope, &row)?;
        let now: Vec<ConsentPurpose> = purposes_of(&row)
            .into_iter()
            .filter(|p| *p == UNCONDITIONAL)
            .collect();
        let written = consent::withdraw_for_objection(scope, person, &now, id).await?;
        record_withdrawals(&mut result, &written, AppliedOn::Verification);
        store_result(scope, id, &result).await
    }

    /// On approval: an objection's other purposes are withdrawn, a rectification's
    /// corrections applied (all or none: a refusal is the decision's error, and the caller's
    /// unit of work rolls back). In the caller's unit of work, before the request is marked
    /// decided.
    pub(crate) async fn apply_on_approval(
        &self,
        scope: &TenantScope,
        row: &request::Model,
    ) -> Result<(), PrivacyError> {
        let person = super::open_subject(scope, row)?.and_then(|s| s.person_id());
        let Some(person) = person else {
            return Ok(());
        };
        match RequestKind::parse(&row.kind) {
            Some(RequestKind::Objection) => {
                let mut result = objection_result(scope, row)?;
                let pending: Vec<ConsentPurpose> = result
                    .purposes
                    .iter()
                    .filter(|p| !p.withdrawn)
                    .filter_map(|p| ConsentPurpose::parse(&p.purpose))
                    .collect();
                let written =
                    consent::withdraw_for_objection(scope, person, &pending, row.id).await?;
                record_withdrawals(&mut result, &written, AppliedOn::Approval);
                store_result(scope, row.id, &result).await
            }
            Some(RequestKind::Rectification) => {
                let corrections = open_corrections(scope, row)?;
                if corrections.is_empty() {
                    return Ok(());
                }
                self.directory
                    .correct(scope, person, &corrections)
                    .await
                    .map_err(correction_refused)?;
                store_result(
                    scope,
                    row.id,
                    &serde_json::json!({
                        "corrected": corrections
                            .iter()
                            .map(|c| c.field.as_str())
                            .collect::<Vec<_>>(),
                    }),
                )
                .await
            }
            _ => Ok(()),
        }
    }
}

fn record_withdrawals(
    result: &mut ObjectionResult,
    written: &[(ConsentPurpose, Uuid, DateTime<Utc>)],
    on: AppliedOn,
) {
    for (purpose, record, at) in written {
        if let Some(outcome) = result
            .purposes
            .iter_mut()
            .find(|p| p.purpose == purpose.as_str())
        {
            outcome.withdrawn = true;
            outcome.applied_on = Some(on);
            outcome.recorded_at = Some(*at);
            outcome.consent_record_id = Some(*record);
        }
    }
}

fn correction_refused(error: CorrectionError) -> PrivacyError {
    match error {
        CorrectionError::NotFound => PrivacyError::NotFound("person"),
        CorrectionError::Conflict(message) => PrivacyError::Conflict {
            code: "correction_conflict",
            message: format!("the correction cannot be applied: {message}"),
        },
        CorrectionError::Restricted => PrivacyError::Conflict {
            code: "correction_refused_restricted",
            message: "the person's processing is restricted: their record is not changed \
                      while it lasts (lift the restriction first)"
                .into(),
        },
        CorrectionError::Invalid(message) => PrivacyError::Conflict {
            code: "correction_invalid",
            message: format!("the correction is no longer valid: {message}"),
        },
        CorrectionError::Failed(e) => PrivacyError::source_failed("directory", &e),
    }
}
