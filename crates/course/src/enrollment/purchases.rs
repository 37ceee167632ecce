//! The learning crate's side of course sales ([`hub_tenant::course_sales`]): who may buy a
//! course (as who may enroll themselves: a published course open to them, not enrolled
//! already, not restricted, every prerequisite completed by the rule self-enrollment
//! applies, `prerequisites_not_completed`, and a seat free), the enrollment Stripe's
//! confirmed payment makes (source `purchase`, a seat claimed like any enrollment's; the
//! same rules asked again, refused without a write when one no longer holds, so billing
//! refunds instead), and the withdrawal of that enrollment when the payment is refunded in
//! full (only while its source is still the purchase).

use super::{service, store};
use crate::CourseError;
use crate::catalog::model::CourseStatus;
use crate::catalog::service::Audience;
use async_trait::async_trait;
use hub_tenant::course_sales::{CourseOffer, CourseSales, SaleRefusal, Withdrawal};
use hub_tenant::{Tenancy, TenantError, TenantScope};
use uuid::Uuid;

pub struct CourseShop;

fn tenant_error(e: CourseError) -> TenantError {
    match e {
        CourseError::Tenant(e) => e,
        CourseError::Database(e) => TenantError::Database(e),
        other => TenantError::Conflict(other.to_string()),
    }
}

#[async_trait]
impl CourseSales for CourseShop {
    async fn course_title(
        &self,
        tenancy: &Tenancy,
        scope: &TenantScope,
        course_id: Uuid,
    ) -> Result<Option<String>, TenantError> {
        // The catalogue's one visibility decision: hidden from this caller is unknown.
        match crate::catalog::service::course_for(tenancy, scope, course_id).await {
            Ok(course) => Ok(Some(course.title)),
            Err(CourseError::NotFound) => Ok(None),
            Err(e) => Err(tenant_error(e)),
        }
    }

    async fn offer(
        &self,
        tenancy: &Tenancy,
        scope: &TenantScope,
        person_id: Uuid,
        course_id: Uuid,
    ) -> Result<Result<CourseOffer, SaleRefusal>, TenantError> {
        let course = match store::course(scope, course_id).await {
            Ok(course) => course,
            Err(CourseError::NotFound) => return Ok(Err(SaleRefusal::CourseNotFound)),
            Err(e) => return Err(tenant_error(e)),
        };
        let admits = Audience::of_person(tenancy, scope, person_id)
            .await
            .map_err(tenant_error)?
            .admits(&course);
        if course.status != CourseStatus::Published || !admits {
            return Ok(Err(SaleRefusal::CourseNotFound));
        }
        if let Some(refusal) = service::purchase_refusal(scope, &course, person_id)
            .await
            .map_err(tenant_error)?
        {
            return Ok(Err(refusal));
        }
        Ok(Ok(CourseOffer {
            course_id,
            title: course.title,
        }))
    }

    async fn fulfil(
        &self,
        _tenancy: &Tenancy,
        scope: &TenantScope,
        person_id: Uuid,
        course_id: Uuid,
        payment_id: Uuid,
    ) -> Result<Result<Uuid, SaleRefusal>, TenantError> {
        service::admit_purchase(scope, course_id, person_id, payment_id)
            .await
            .map_err(tenant_error)
    }

    async fn withdraw(
        &self,
        _tenancy: &Tenancy,
        scope: &TenantScope,
        enrollment_id: Uuid,
        payment_id: Uuid,
    ) -> Result<Withdrawal, TenantError> {
        service::withdraw_purchase(scope, enrollment_id, payment_id)
            .await
            .map_err(tenant_error)
    }

    async fn seats_in_use(&self, scope: &TenantScope) -> Result<u64, TenantError> {
        store::people_enrolled(scope).await.map_err(tenant_error)
    }
}
