//! The targets of StatementRefs stored before the LRS recorded them (C3).
//!
//! Filters follow StatementRefs (xAPI 1.0.3 Communication 2.1.3): a statement whose object
//! targets one that meets a filter meets it too, through `target_statement_id`. Statements
//! stored before that column existed carry their target only inside the sealed statement;
//! migration `m20261203_001340_xapi_statement_targets_pending` marks every row that may be
//! such a StatementRef (`targets_pending`: no activity object, no voided target, no target
//! yet), since a migration holds no tenant key to open them. This periodic platform job
//! ([`JOB`], one of [`hub_tenant::deadlines::PERIODIC_JOBS`]) opens each marked statement
//! with the institution's key, records its target if its object is a StatementRef, and
//! clears the mark. Every replica may run it: each row's result is the same whoever
//! writes it, so two replicas at once do the same work twice and nothing else.

use super::entity::statement;
use super::statements::{open_statement, statement_target};
use crate::error::CourseError;
use hub_tenant::{Tenancy, TenantScope};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

/// The periodic job's name.
pub const JOB: &str = "xapi.statement_targets";
/// Statements opened per read.
const BATCH: u64 = 500;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TargetsReport {
    /// Marked statements looked at.
    pub checked: u64,
    /// Of them, StatementRefs whose target is now recorded.
    pub filled: u64,
    /// Institutions whose pass failed (retried next pass), with why.
    pub failed: Vec<(Uuid, String)>,
}

/// One pass over every active institution.
pub async fn fill_pending(tenancy: &Tenancy) -> Result<TargetsReport, CourseError> {
    let mut report = TargetsReport::default();
    for tenant in tenancy.active_tenant_ids().await? {
        let Some(scope) = tenancy.periodic_job_scope(tenant, JOB).await? else {
            continue;
        };
        match fill_tenant(&scope, &mut report).await {
            Ok(()) => scope.commit().await?,
            Err(error) => {
                tracing::warn!(%tenant, %error, "StatementRef targets failed; retrying next pass");
                report.failed.push((tenant, error.to_string()));
            }
        }
    }
    Ok(report)
}

async fn fill_tenant(scope: &TenantScope, report: &mut TargetsReport) -> Result<(), CourseError> {
    loop {
        let rows = statement::Entity::find()
            .filter(statement::Column::TargetsPending.eq(true))
            .order_by_asc(statement::Column::Id)
            .limit(BATCH)
            .all(scope.db())
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in rows {
            let opened = open_statement(scope, &row)?;
            let target = opened.as_object().and_then(statement_target);
            statement::Entity::update_many()
                .col_expr(statement::Column::TargetStatementId, Expr::value(target))
                .col_expr(statement::Column::TargetsPending, Expr::value(false))
                .filter(statement::Column::Id.eq(row.id))
                .exec(scope.db())
                .await?;
            report.checked += 1;
            report.filled += u64::from(target.is_some());
        }
    }
}
