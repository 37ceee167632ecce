//! Access reviews (S2) and their items: which privileged grant each person held, its last
//! use and the reviewer's decision. A review is the institution's evidence that permissions
//! are recertified, so erasure keeps every review and item and replaces the person by a
//! pseudonym: as the grant's holder (`access_review_items.person_id`), as the reviewer who
//! decided (`decided_by`) and as the one who started a review (`access_reviews.created_by`).
//! No item holds sealed personal text. An open review whose item names the pseudonym still
//! expires or is decided (there is no role left to withdraw). A restriction changes nothing
//! here: the people source deactivates the person, and a review takes in only active
//! people's grants; the items kept are evidence. Nothing expires: the reviews are kept while
//! the institution is a customer.

use super::{NOT_A_PERSON, actor_label, audit_erased, person_of, pseudonym};
use crate::entities::{access_review, access_review_item};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification};
use hub_tenant::personal_data::{DataSubject, Outcome, PersonalDataSource, SourceError, Summary};
use hub_tenant::{Scope, TenantScope};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

pub struct AccessReviewsSource;

#[async_trait]
impl PersonalDataSource for AccessReviewsSource {
    fn name(&self) -> &'static str {
        "access_reviews"
    }

    /// No sealed or indexed column: the tables hold only references to people.
    fn fields(&self) -> Vec<FieldClassification> {
        Vec::new()
    }

    fn tables(&self) -> &'static [&'static str] {
        &["access_reviews", "access_review_items"]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        let Some(id) = person_of(scope, subject, Scope::PeopleRead)? else {
            return Ok(Summary { records: 0 });
        };
        let held = access_review_item::Entity::find()
            .filter(access_review_item::Column::PersonId.eq(id))
            .count(scope.db())
            .await?;
        let decided = access_review_item::Entity::find()
            .filter(access_review_item::Column::DecidedBy.eq(actor_label(id)))
            .count(scope.db())
            .await?;
        let started = access_review::Entity::find()
            .filter(access_review::Column::CreatedBy.eq(actor_label(id)))
            .count(scope.db())
            .await?;
        Ok(Summary {
            records: held + decided + started,
        })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        let Some(id) = person_of(scope, subject, Scope::PeopleRead)? else {
            return Ok(Vec::new());
        };
        let label = actor_label(id);
        let mut exported = Vec::new();
        for item in access_review_item::Entity::find()
            .filter(access_review_item::Column::PersonId.eq(id))
            .order_by_asc(access_review_item::Column::Id)
            .all(scope.db())
            .await?
        {
            exported.push(serde_json::json!({
                "record": "grant_reviewed",
                "review_id": item.review_id,
                "item_id": item.id,
                "role": item.role,
                "decision": item.decision,
                "decided_at": item.decided_at,
                "last_sign_in_at": item.last_sign_in_at,
            }));
        }
        // What the person decided as a reviewer: the decision, not whose grant it was.
        for item in access_review_item::Entity::find()
            .filter(access_review_item::Column::DecidedBy.eq(label.clone()))
            .order_by_asc(access_review_item::Column::Id)
            .all(scope.db())
            .await?
        {
            exported.push(serde_json::json!({
                "record": "decision_made",
                "review_id": item.review_id,
                "item_id": item.id,
                "decision": item.decision,
                "decided_at": item.decided_at,
            }));
        }
        for review in access_review::Entity::find()
            .filter(access_review::Column::CreatedBy.eq(label))
            .order_by_asc(access_review::Column::Id)
            .all(scope.db())
            .await?
        {
            exported.push(serde_json::json!({
                "record": "review_started",
                "review_id": review.id,
                "name": review.name,
                "created_at": review.created_at,
            }));
        }
        Ok(exported)
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        let Some(id) = person_of(scope, subject, Scope::PeopleWrite)? else {
            return Ok(NOT_A_PERSON);
        };
        let stand_in = pseudonym();
        let (label, stand_in_label) = (actor_label(id), actor_label(stand_in));
        let held = access_review_item::Entity::update_many()
            .col_expr(access_review_item::Column::PersonId, Expr::value(stand_in))
            .filter(access_review_item::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        let decided = access_review_item::Entity::update_many()
            .col_expr(
                access_review_item::Column::DecidedBy,
                Expr::value(stand_in_label.clone()),
            )
            .filter(access_review_item::Column::DecidedBy.eq(label.clone()))
            .exec(scope.db())
            .await?
            .rows_affected;
        let started = access_review::Entity::update_many()
            .col_expr(
                access_review::Column::CreatedBy,
                Expr::value(stand_in_label),
            )
            .filter(access_review::Column::CreatedBy.eq(label))
            .exec(scope.db())
            .await?
            .rows_affected;
        let records = held + decided + started;
        audit_erased(scope, "access_reviews.erased", id, records).await?;
        Ok(Outcome::Anonymised { records })
    }

    async fn expire(
        &self,
        scope: &TenantScope,
        _category: DataCategory,
        _cutoff: DateTime<Utc>,
        _keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::PeopleWrite)?;
        Ok(Outcome::NotApplicable {
            reason: "access reviews are evidence of recertification, kept while the institution is a customer",
        })
    }

    async fn restrict(
        &self,
        scope: &TenantScope,
        _subject: &DataSubject,
        _restricted: bool,
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::PeopleWrite)?;
        Ok(Outcome::NotApplicable {
            reason: "the people source deactivates the person, and a review takes in only \
                     active people's grants; the items kept are evidence",
        })
    }
}
