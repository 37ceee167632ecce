//! The consent tables as a personal-data source (`consent`). The ledger is the person's
//! personal data (what they chose, when, through what), so an access request exports it and
//! erasure deletes it: the consent records, policy acceptances and the processing
//! restriction of the person; policy versions they published keep the version but name
//! `erased-person` as publisher. Retention does not expire it (`expire`: not applicable):
//! the records are the proof of consent, kept as long as the person's account. `restrict`
//! sets the freeze the consent gate honours (so a restriction request run through every
//! source freezes consentable processing too).

use super::entities::{record, restriction};
use crate::policy::entities::{acceptance, version};
use chrono::{DateTime, SubsecRound, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification};
use hub_tenant::TenantScope;
use hub_tenant::personal_data::{
    DataSubject, ExportPage, Outcome, PersonalDataSource, SourceError, Summary,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

pub const TABLES: &[&str] = &[
    "consent_records",
    "policy_acceptances",
    "processing_restrictions",
    "policy_versions",
];

/// Export cursors: within the ledger (`records:<last id>`), or past it (`rest`).
const RECORDS_CURSOR: &str = "records:";
const REST_CURSOR: &str = "rest";
/// The page size [`PersonalDataSource::export`] reads the whole export with.
const WHOLE_PAGE: u64 = 1000;

/// What the publisher of an erased person's policy versions becomes.
const ERASED_PUBLISHER: &str = "erased-person";

pub struct ConsentSource;

#[async_trait::async_trait]
impl PersonalDataSource for ConsentSource {
    fn name(&self) -> &'static str {
        "consent"
    }

    /// Nothing sealed: the rows hold a person reference and choices, no identifying text.
    fn fields(&self) -> Vec<FieldClassification> {
        Vec::new()
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        let Some(person) = subject.person_id() else {
            return Ok(Summary { records: 0 });
        };
        let records = crate::Privacy::count_records(scope, person).await?;
        let acceptances = acceptance::Entity::find()
            .filter(acceptance::Column::PersonId.eq(person))
            .count(scope.db())
            .await?;
        let restricted = u64::from(super::is_restricted(scope, person).await?);
        Ok(Summary {
            records: records + acceptances + restricted,
        })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .export_page(scope, subject, after.as_deref(), WHOLE_PAGE)
                .await?;
            out.extend(page.records);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// The ledger first, keyset-paged by record id (UUID v7: the order the records entered
    /// the ledger; each carries its own `recorded_at`, an import's being earlier), the cursor
    /// `records:<last id>`; then, as one last page, the policy acceptances (one per policy
    /// version at most) and the restriction.
    async fn export_page(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
        after: Option<&str>,
        limit: u64,
    ) -> Result<ExportPage, SourceError> {
        let Some(person) = subject.person_id() else {
            return Ok(ExportPage::default());
        };
        let limit = limit.max(1);
        let records_after = match after {
            None => Some(None),
            Some(REST_CURSOR) => None,
            Some(cursor) => {
                let id = cursor
                    .strip_prefix(RECORDS_CURSOR)
                    .and_then(|id| id.parse::<Uuid>().ok())
                    .ok_or_else(|| format!("not a consent export cursor: {cursor}"))?;
                Some(Some(id))
            }
        };
        if let Some(records_after) = records_after {
            let mut query = record::Entity::find().filter(record::Column::PersonId.eq(person));
            if let Some(id) = records_after {
                query = query.filter(record::Column::Id.gt(id));
            }
            let rows = query
                .order_by_asc(record::Column::Id)
                .limit(limit)
                .all(scope.db())
                .await?;
            let next = if rows.len() as u64 >= limit {
                rows.last().map(|r| format!("{RECORDS_CURSOR}{}", r.id))
            } else {
                Some(REST_CURSOR.to_string())
            };
            let records = rows
                .into_iter()
                .filter_map(super::record_of)
                .map(|r| serde_json::json!({"kind": "consent_record", "record": r}))
                .collect();
            return Ok(ExportPage { records, next });
        }
        let mut records = Vec::new();
        for a in acceptance::Entity::find()
            .filter(acceptance::Column::PersonId.eq(person))
            .order_by_asc(acceptance::Column::AcceptedAt)
            .all(scope.db())
            .await?
        {
            records.push(serde_json::json!({
                "kind": "policy_acceptance",
                "version": a.version,
                "accepted_at": a.accepted_at,
            }));
        }
        if let Some(r) = restriction::Entity::find_by_id(person)
            .one(scope.db())
            .await?
        {
            records.push(serde_json::json!({
                "kind": "processing_restriction",
                "restricted_at": r.restricted_at,
                "restricted_by": r.restricted_by,
            }));
        }
        Ok(ExportPage {
            records,
            next: None,
        })
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        let Some(person) = subject.person_id() else {
            return Ok(Outcome::NotApplicable {
                reason: "consent is recorded for people only",
            });
        };
        let records = record::Entity::delete_many()
            .filter(record::Column::PersonId.eq(person))
            .exec(scope.db())
            .await?
            .rows_affected;
        let acceptances = acceptance::Entity::delete_many()
            .filter(acceptance::Column::PersonId.eq(person))
            .exec(scope.db())
            .await?
            .rows_affected;
        let restrictions = restriction::Entity::delete_many()
            .filter(restriction::Column::PersonId.eq(person))
            .exec(scope.db())
            .await?
            .rows_affected;
        version::Entity::update_many()
            .col_expr(version::Column::PublishedBy, Expr::value(ERASED_PUBLISHER))
            .filter(version::Column::PublishedBy.eq(format!("person:{person}")))
            .exec(scope.db())
            .await?;
        Ok(Outcome::Deleted {
            records: records + acceptances + restrictions,
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
            reason: "consent records are the proof of consent, kept while the person's account is",
        })
    }

    async fn restrict(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
        restricted: bool,
    ) -> Result<Outcome, SourceError> {
        let Some(person) = subject.person_id() else {
            return Ok(Outcome::NotApplicable {
                reason: "consent is recorded for people only",
            });
        };
        super::write_restriction(scope, person, restricted, Utc::now().trunc_subsecs(6)).await?;
        Ok(Outcome::Restricted {
            records: 1,
            restricted,
        })
    }
}
