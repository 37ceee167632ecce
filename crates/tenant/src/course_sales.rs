//! The course-sales port: how billing sells a course without knowing the learning crate.
//! Billing owns prices, payments and Stripe; the learning crate (`hub-course`) owns who may
//! take a course and enrollments. Before a learner pays, billing asks [`CourseSales::offer`]
//! whether this person may buy this course now (and what it is called, for the receipt and
//! Stripe's product name); once Stripe confirms the payment (a webhook, never the client's
//! word) billing asks [`CourseSales::fulfil`] to enroll them, inside the same
//! [`TenantScope`] as the payment's new state, so the two commit together. The rules are
//! asked twice because time passes between the two: the last seat may be taken or a
//! prerequisite added meanwhile; then `fulfil` refuses with the same [`SaleRefusal`] and
//! billing refunds the payment instead. A payment refunded in full asks
//! [`CourseSales::withdraw`] to end the enrollment it made (only that one: an enrollment
//! someone else made stays). The platform's own billing of the institution counts its seats
//! in use with [`CourseSales::seats_in_use`]. The gateway registers the learning crate's
//! implementation at start ([`crate::Tenancy::register_course_sales`]).

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
    /// They have not completed every prerequisite of the course (the rule self-enrollment
    /// applies, `prerequisites_not_completed`).
    PrerequisitesNotCompleted,
    /// Every seat of the course is taken.
    SeatsExhausted,
}

impl SaleRefusal {
    /// A stable code: what billing records on a payment it could not fulfil.
    pub fn code(self) -> &'static str {
        match self {
            Self::CourseNotFound => "course_not_for_sale",
            Self::AlreadyEnrolled => "already_enrolled",
            Self::LearnerRestricted => "learner_restricted",
            Self::PrerequisitesNotCompleted => "prerequisites_not_completed",
            Self::SeatsExhausted => "seats_exhausted",
        }
    }
}

/// What [`CourseSales::withdraw`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawal {
    /// The enrollment the purchase made is withdrawn now.
    Withdrawn,
    /// Left as it is, with a stable code why: `not_from_purchase` (an admin, a group or the
    /// learner made or re-made it), `ended` (withdrawn, completed or failed already),
    /// `learner_restricted` (processing of their learning records is restricted), `gone`
    /// (no such enrollment: erased).
    Kept(&'static str),
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
    /// enrollment. Idempotent: an active enrollment is returned as it is. Refused (nothing
    /// written) when the course cannot take them now: a seat or a prerequisite missing, or
    /// their processing restricted.
    async fn fulfil(
        &self,
        tenancy: &Tenancy,
        scope: &TenantScope,
        person_id: Uuid,
        course_id: Uuid,
        payment_id: Uuid,
    ) -> Result<Result<Uuid, SaleRefusal>, TenantError>;

    /// Withdraws the enrollment a payment made, once the payment was refunded in full
    /// (audited); an enrollment that is not the purchase's, or ended, is kept. Idempotent.
    async fn withdraw(
        &self,
        tenancy: &Tenancy,
        scope: &TenantScope,
        enrollment_id: Uuid,
        payment_id: Uuid,
    ) -> Result<Withdrawal, TenantError>;

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
