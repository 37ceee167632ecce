//! The learning domain's API (`hub-course`): the catalog, and the learning records as they
//! arrive (enrollments, progress, quizzes, the xAPI LRS, certificates), and the review of
//! the automated decisions about learners.

pub mod attempts;
pub mod certificates;
pub mod courses;
pub mod decisions;
pub mod enrollments;
pub mod org_units;
pub mod progress;
pub mod quizzes;
pub mod recommendations;
pub mod structure;
pub mod xapi;

use crate::state::AppState;
use hub_course::certificates::InstitutionSigner;

/// What a completion signs its certificate with: the institution's key under the service's
/// public URL. Every operation that can complete a course passes it down.
pub(crate) fn certificate_signer(state: &AppState) -> InstitutionSigner<'_> {
    InstitutionSigner {
        tenancy: &state.tenancy,
        public_url: state.config.public_url(),
    }
}
