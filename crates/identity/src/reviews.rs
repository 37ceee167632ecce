//! Access recertification (S2: "permissions are reviewed regularly"). A tenant admin starts a
//! review: every privileged grant (a person holding `tenant_admin`, `finance` or `auditor`)
//! becomes an item that a reviewer must confirm or revoke before the deadline. Grants not
//! confirmed by then expire: the role is removed and the person's sessions end. The review
//! is the report: each grant with the person's last sign-in.
//!
//! Deadlines are indexed in the control plane; the gateway's sweeper expires due reviews
//! (and any read or decision after the deadline expires it first), so a missed deadline
//! takes effect even if nobody looks.

use crate::Identity;
use crate::entities::{access_review, access_review_item, person};
use crate::error::IdentityError;
use crate::people::{self, PersonStatus};
use crate::roles::{Role, roles_from_text};
use crate::sessions::{Change, SessionsToEnd};
use chrono::{DateTime, Duration, Utc};
use hub_kernel::problem::Violations;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::{Scope, TenantScope};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

pub const DEADLINE_KIND: &str = "access_review";
const MAX_DAYS: i64 = 90;
/// The longest a review may run, in seconds (its deadline is at most [`MAX_DAYS`] away).
pub const MAX_DURATION_SECS: i64 = MAX_DAYS * 24 * 3600;
/// A review's name, in characters after trimming.
pub const NAME_MAX: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Confirmed,
    Revoked,
    Expired,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "confirmed" => Some(Self::Confirmed),
            "revoked" => Some(Self::Revoked),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReviewItem {
    pub id: Uuid,
    pub person_id: Uuid,
    pub role: Role,
    pub decision: Option<Decision>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The person's last sign-in when the review started (the grant's last use).
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct Review {
    pub id: Uuid,
    pub name: String,
    pub open: bool,
    pub deadline: DateTime<Utc>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub items: Vec<ReviewItem>,
}

async fn load(scope: &TenantScope, id: Uuid) -> Result<Review, IdentityError> {
    let row = access_review::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .ok_or(IdentityError::NotFound("access review"))?;
    let items = access_review_item::Entity::find()
        .filter(access_review_item::Column::ReviewId.eq(id))
        .order_by_asc(access_review_item::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        .filter_map(|i| {
            Some(ReviewItem {
                id: i.id,
                person_id: i.person_id,
                role: Role::parse(&i.role)?,
                decision: i.decision.as_deref().and_then(Decision::parse),
                decided_by: i.decided_by,
                decided_at: i.decided_at,
                last_sign_in_at: i.last_sign_in_at,
            })
        })
        .collect();
    Ok(Review {
        id: row.id,
        name: row.name,
        open: row.status == "open",
        deadline: row.deadline,
        created_by: row.created_by,
        created_at: row.created_at,
        closed_at: row.closed_at,
        items,
    })
}

/// Removes one role from a person (a revoked or expired grant); their sessions end when the
/// change is committed.
async fn withdraw(
    scope: &TenantScope,
    person_id: Uuid,
    role: Role,
    ending: &mut SessionsToEnd,
) -> Result<bool, IdentityError> {
    // An erased person's items name a pseudonym: nobody holds that grant any more.
    let person = match people::load(scope, person_id).await {
        Err(IdentityError::NotFound(_)) => return Ok(false),
        loaded => loaded?,
    };
    if !person.roles.contains(&role) {
        return Ok(false);
    }
    let roles: Vec<Role> = person
        .roles
        .iter()
        .copied()
        .filter(|r| *r != role)
        .collect();
    people::set_status_and_roles(scope, &person, person.status, &roles, ending).await?;
    Ok(true)
}

/// Expires every undecided item of an open review past its deadline and closes it.
async fn expire_if_due(
    scope: &TenantScope,
    review: &Review,
) -> Result<SessionsToEnd, IdentityError> {
    let mut ending = SessionsToEnd::default();
    if !review.open || review.deadline > Utc::now() {
        return Ok(ending);
    }
    let mut expired = 0;
    for item in review.items.iter().filter(|i| i.decision.is_none()) {
        access_review_item::Entity::update_many()
            .col_expr(
                access_review_item::Column::Decision,
                Expr::value(Decision::Expired.as_str()),
            )
            .col_expr(
                access_review_item::Column::DecidedBy,
                Expr::value("deadline"),
            )
            .col_expr(
                access_review_item::Column::DecidedAt,
                Expr::value(Utc::now()),
            )
            .filter(access_review_item::Column::Id.eq(item.id))
            .exec(scope.db())
            .await?;
        if withdraw(scope, item.person_id, item.role, &mut ending).await? {
            expired += 1;
        }
    }
    access_review::Entity::update_many()
        .col_expr(access_review::Column::Status, Expr::value("closed"))
        .col_expr(access_review::Column::ClosedAt, Expr::value(Utc::now()))
        .filter(access_review::Column::Id.eq(review.id))
        .exec(scope.db())
        .await?;
    audit::record(
        scope,
        AuditEvent::new("access_review.expired")
            .subject(format!("access-review:{}", review.id))
            .detail(serde_json::json!({ "grants_expired": expired })),
    )
    .await?;
    Ok(ending)
}

impl Identity {
    /// Starts a review of every current privileged grant.
    pub async fn start_access_review(
        &self,
        scope: &TenantScope,
        name: &str,
        deadline: DateTime<Utc>,
    ) -> Result<Review, IdentityError> {
        scope.require(Scope::PeopleWrite)?;
        let mut v = Violations::new();
        let name = name.trim();
        v.check(
            !name.is_empty() && name.chars().count() <= NAME_MAX,
            "name",
            "must be 1–200 characters",
        );
        let now = Utc::now();
        v.check(
            deadline > now && deadline <= now + Duration::days(MAX_DAYS),
            "duration_seconds",
            "must be between 1 second and 90 days",
        );
        v.finish().map_err(IdentityError::Invalid)?;
        let id = Uuid::now_v7();
        access_review::Entity::insert(access_review::ActiveModel {
            id: Set(id),
            name: Set(name.to_string()),
            status: Set("open".into()),
            deadline: Set(deadline),
            created_by: Set(scope.actor_label()),
            created_at: Set(now),
            closed_at: Set(None),
        })
        .exec_without_returning(scope.db())
        .await?;
        let holders = person::Entity::find()
            .filter(person::Column::Status.eq(PersonStatus::Active.as_str()))
            .all(scope.db())
            .await?;
        let mut grants = 0;
        for holder in holders {
            for role in roles_from_text(&holder.roles)
                .into_iter()
                .filter(|r| r.is_privileged())
            {
                access_review_item::Entity::insert(access_review_item::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    review_id: Set(id),
                    person_id: Set(holder.id),
                    role: Set(role.as_str().to_string()),
                    decision: Set(None),
                    decided_by: Set(None),
                    decided_at: Set(None),
                    last_sign_in_at: Set(holder.last_sign_in_at),
                })
                .exec_without_returning(scope.db())
                .await?;
                grants += 1;
            }
        }
        self.tenancy
            .schedule_deadline(scope, DEADLINE_KIND, id, deadline)
            .await?;
        audit::record(
            scope,
            AuditEvent::new("access_review.started")
                .subject(format!("access-review:{id}"))
                .detail(serde_json::json!({ "grants": grants, "deadline": deadline })),
        )
        .await?;
        load(scope, id).await
    }

    /// A review and its grants (expiring it first if its deadline has passed).
    pub async fn access_review(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<Change<Review>, IdentityError> {
        scope.require(Scope::PeopleWrite)?;
        let review = load(scope, id).await?;
        let ending = expire_if_due(scope, &review).await?;
        Ok(Change::new(load(scope, id).await?, ending))
    }

    /// A reviewer confirms or revokes one grant. Nobody reviews their own grant.
    pub async fn decide_grant(
        &self,
        scope: &TenantScope,
        review_id: Uuid,
        item_id: Uuid,
        confirm: bool,
    ) -> Result<Change<Review>, IdentityError> {
        scope.require(Scope::PeopleWrite)?;
        let review = load(scope, review_id).await?;
        let mut ending = expire_if_due(scope, &review).await?;
        if !ending.people().is_empty() || !review.open || review.deadline <= Utc::now() {
            return Err(IdentityError::Conflict(
                "this review is closed; start a new one".into(),
            ));
        }
        let item = review
            .items
            .iter()
            .find(|i| i.id == item_id)
            .ok_or(IdentityError::NotFound("review item"))?;
        if item.decision.is_some() {
            return Err(IdentityError::Conflict(
                "this grant was already decided".into(),
            ));
        }
        if scope.actor().and_then(|a| a.person_id()) == Some(item.person_id) {
            return Err(IdentityError::SelfReview);
        }
        let decision = if confirm {
            Decision::Confirmed
        } else {
            Decision::Revoked
        };
        access_review_item::Entity::update_many()
            .col_expr(
                access_review_item::Column::Decision,
                Expr::value(decision.as_str()),
            )
            .col_expr(
                access_review_item::Column::DecidedBy,
                Expr::value(scope.actor_label()),
            )
            .col_expr(
                access_review_item::Column::DecidedAt,
                Expr::value(Utc::now()),
            )
            .filter(access_review_item::Column::Id.eq(item_id))
            .exec(scope.db())
            .await?;
        if decision == Decision::Revoked {
            withdraw(scope, item.person_id, item.role, &mut ending).await?;
        }
        audit::record(
            scope,
            AuditEvent::new("access_review.decided")
                .person(item.person_id)
                .detail(serde_json::json!({
                    "review_id": review_id, "role": item.role.as_str(), "decision": decision.as_str(),
                })),
        )
        .await?;
        Ok(Change::new(load(scope, review_id).await?, ending))
    }

    /// Expires the reviews whose deadline has passed, across institutions. Returns how many.
    pub async fn sweep_due_access_reviews(&self) -> Result<usize, IdentityError> {
        let due = self.tenancy.due_deadlines(DEADLINE_KIND, 100).await?;
        let mut swept = 0;
        for deadline in due {
            if let Some(scope) = self.tenancy.job_scope(&deadline).await? {
                let ending = match load(&scope, deadline.subject_id).await {
                    Ok(review) => expire_if_due(&scope, &review).await?,
                    Err(IdentityError::NotFound(_)) => SessionsToEnd::default(),
                    Err(e) => return Err(e),
                };
                self.commit(scope, Change::new((), ending)).await?;
                swept += 1;
            }
            self.tenancy
                .clear_deadline(deadline.tenant_id, DEADLINE_KIND, deadline.subject_id)
                .await?;
        }
        Ok(swept)
    }
}
