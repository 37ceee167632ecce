//! The request tables as a personal-data source: a request names its subject (sealed, with a
//! blind index of the person id) and may hold what the person wrote (details, a
//! rectification's corrections) and what they received.
//!
//! An erasure request in flight is the record of the erasure itself: this source neither
//! counts nor erases it (its own completion drops its subject reference, keeping only the
//! receipt and the pseudonymous index). Every other request of the subject is
//! pseudonymised on erasure: kept (the institution must show it answered, a legal
//! obligation) without the sealed subject, details, corrections or result, and without naming who
//! submitted or decided it (`submitted_by`, `decided_by`: the data subject, or a pseudonym
//! where the person acted on someone else's request).
//!
//! The parts of the subject's export bundles (`privacy_export_parts`, [`super::export`])
//! are copies of the other sources' data, kept only to be downloaded: counted and exported
//! by the sources they came from, not here, and deleted when the subject is erased.

use super::entities::request;
use super::{PERSONAL_FIELDS, RequestKind, RequestStatus, TABLE, TASKS_TABLE, subject_indexes};
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification};
use hub_tenant::TenantScope;
use hub_tenant::personal_data::{DataSubject, Outcome, PersonalDataSource, SourceError, Summary};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

pub struct PrivacyRequestsSource;

/// Who submitted a request, once the person who asked about their own data is erased.
pub(crate) const SUBMITTED_BY_SUBJECT: &str = "data-subject";

/// The subject's requests still holding their identity, but the erasure in flight.
fn of_subject(scope: &TenantScope, person: Uuid) -> Condition {
    Condition::all()
        .add(request::Column::SubjectIndex.is_in(subject_indexes(scope, person)))
        .add(request::Column::SubjectSealed.is_not_null())
        .add(
            Condition::any()
                .add(request::Column::Kind.ne(RequestKind::Erasure.as_str()))
                .add(
                    request::Column::Status.is_in(
                        [
                            RequestStatus::IdentityUnverified,
                            RequestStatus::PendingApproval,
                            RequestStatus::Denied,
                            RequestStatus::Complete,
                        ]
                        .map(RequestStatus::as_str),
                    ),
                ),
        )
}

#[async_trait::async_trait]
impl PersonalDataSource for PrivacyRequestsSource {
    fn name(&self) -> &'static str {
        "privacy_requests"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        PERSONAL_FIELDS
            .iter()
            .chain(super::export::PART_FIELDS)
            .copied()
            .collect()
    }

    fn tables(&self) -> &'static [&'static str] {
        &[TABLE, TASKS_TABLE, super::export::PARTS_TABLE]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        let Some(person) = subject.person_id() else {
            return Ok(Summary { records: 0 });
        };
        let rows = request::Entity::find()
            .filter(of_subject(scope, person))
            .all(scope.db())
            .await?;
        Ok(Summary {
            records: rows.len() as u64,
        })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        let Some(person) = subject.person_id() else {
            return Ok(Vec::new());
        };
        let rows = request::Entity::find()
            .filter(of_subject(scope, person))
            .order_by_asc(request::Column::Id)
            .all(scope.db())
            .await?;
        let mut records = Vec::with_capacity(rows.len());
        for r in rows {
            // A rectification's corrections are the person's own data: exported opened.
            let corrections: Vec<serde_json::Value> = super::effects::open_corrections(scope, &r)?
                .into_iter()
                .map(|c| serde_json::json!({"field": c.field, "value": c.value.expose()}))
                .collect();
            let purposes: Vec<&'static str> = super::effects::purposes_of(&r)
                .into_iter()
                .map(|p| p.as_str())
                .collect();
            records.push(serde_json::json!({
                "id": r.id,
                "kind": r.kind,
                "status": r.status,
                "jurisdiction": r.jurisdiction,
                "received_at": r.received_at,
                "due_at": r.due_at,
                "decided_at": r.decided_at,
                "decision_reason": r.decision_reason,
                "completed_at": r.completed_at,
                "purposes": purposes,
                "corrections": corrections,
            }));
        }
        Ok(records)
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        let Some(person) = subject.person_id() else {
            return Ok(Outcome::NotApplicable {
                reason: "requests are about people",
            });
        };
        let requests: Vec<Uuid> = request::Entity::find()
            .select_only()
            .column(request::Column::Id)
            .filter(of_subject(scope, person))
            .into_tuple()
            .all(scope.db())
            .await?;
        super::export::delete_parts(scope, &requests).await?;
        let done = request::Entity::update_many()
            .col_expr(
                request::Column::SubjectSealed,
                Expr::value(Option::<Vec<u8>>::None),
            )
            .col_expr(
                request::Column::DetailsSealed,
                Expr::value(Option::<Vec<u8>>::None),
            )
            .col_expr(
                request::Column::ResultSealed,
                Expr::value(Option::<Vec<u8>>::None),
            )
            .col_expr(
                request::Column::CorrectionsSealed,
                Expr::value(Option::<Vec<u8>>::None),
            )
            .col_expr(
                request::Column::CodeHash,
                Expr::value(Option::<String>::None),
            )
            .filter(of_subject(scope, person))
            .exec(scope.db())
            .await?;
        // Who submitted or decided a request names a person too: the subject's own requests
        // (the erasure in flight included: its approval is behind it) say only that the data
        // subject asked; what the person submitted or decided about others keeps a pseudonym.
        let label = super::person_label(person);
        request::Entity::update_many()
            .col_expr(
                request::Column::SubmittedBy,
                Expr::value(SUBMITTED_BY_SUBJECT),
            )
            .filter(request::Column::SubjectIndex.is_in(subject_indexes(scope, person)))
            .filter(request::Column::SubmittedBy.eq(label.as_str()))
            .exec(scope.db())
            .await?;
        hub_tenant::personal_data::pseudonymise_references(
            scope,
            &[(TABLE, "submitted_by"), (TABLE, "decided_by")],
            person,
        )
        .await?;
        Ok(Outcome::Anonymised {
            records: done.rows_affected,
        })
    }

    async fn expire(
        &self,
        _scope: &TenantScope,
        _category: DataCategory,
        _cutoff: DateTime<Utc>,
        _keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        Ok(Outcome::NotApplicable {
            reason: "requests are the record that a right was answered, kept while the institution is a customer",
        })
    }

    async fn restrict(
        &self,
        _scope: &TenantScope,
        _subject: &DataSubject,
        _restricted: bool,
    ) -> Result<Outcome, SourceError> {
        Ok(Outcome::NotApplicable {
            reason: "answering the person's own requests is not processing a restriction stops",
        })
    }
}
