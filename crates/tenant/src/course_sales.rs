//! The course-sales port: how billing sells a course without knowing the learning crate.
//! Billing owns prices, payments and Stripe; the learning crate (`hub-course`) owns who may
//! take a course and enrollments. Before a learner pays, billing asks [`CourseSales::offer`]
//! whether this person may buy this course now (and what it is called, for the receipt and
//! Stripe's product name); once Stripe confirms the payment (a webhook, never the client's
//! word) billing asks [`CourseSales::fulfil`] to enroll them, inside the same
//! [`TenantScope`] as the payment's new state, so the two commit together. The platform's
//! own billing of the institution counts its seats in use with
//! [`CourseSales::seats_in_use`]. The gateway
//! registers the learning crate's implementation at start
//! ([`crate::Tenancy::register_course_sales`]).

use crate::Tenancy;
use crate::error::TenantError;
use crate::scope::TenantScope;
use async_trait::async_trait;
use uuid::Uuid;

/// A course a person may buy now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseOffer {
    pub course_id: Uuid,
    /// The course's title: the product name on the payment (nothing else of the course
    /// goes to the processor, T3).
    pub title: String,
}

/// Why a person may not buy a course.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleRefusal {
    /// No such course for this person (unknown, unpublished or hidden from them).
    CourseNotFound,
    /// They are enrolled already.
    AlreadyEnrolled,
    /// Processing of their learning records is restricted.
    LearnerRestricted,
}

#[async_trait]
pub trait CourseSales: Send + Sync {
    /// The title of the course with this id as the caller may see it (`None`: no such
    /// course, or one hidden from the caller, a minor say: A1). For a price and its reads.
    async fn course_title(
        &self,
        tenancy: &Tenancy,
        scope: &TenantScope,
        course_id: Uuid,
    ) -> Result<Option<String>, TenantError>;

    async fn offer(
        &self,
        tenancy: &Tenancy,
        scope: &TenantScope,
        person_id: Uuid,
        course_id: Uuid,
    ) -> Result<Result<CourseOffer, SaleRefusal>, TenantError>;

    /// Enrolls the person whose payment for the course Stripe confirmed; returns the
    /// enrollment. Idempotent: an active enrollment is returned as it is.
    async fn fulfil(
        &self,
        tenancy: &Tenancy,
        scope: &TenantScope,
        person_id: Uuid,
        course_id: Uuid,
        payment_id: Uuid,
    ) -> Result<Uuid, TenantError>;

    /// The seats the institution uses: how many people hold an active enrollment (what its
    /// subscription to the platform is billed by).
    async fn seats_in_use(&self, scope: &TenantScope) -> Result<u64, TenantError>;
}

impl Tenancy {
    pub fn register_course_sales(&self, sales: std::sync::Arc<dyn CourseSales>) {
        if let Ok(mut slot) = self.course_sales.write() {
            *slot = Some(sales);
        }
    }

    /// The registered course-sales port (the learning crate's); a conflict when none is
    /// registered (a composition error, not the caller's).
    pub fn course_sales(&self) -> Result<std::sync::Arc<dyn CourseSales>, TenantError> {
        self.course_sales
            .read()
            .ok()
            .and_then(|s| s.clone())
            .ok_or_else(|| TenantError::Conflict("no course-sales port is registered".into()))
    }
}
