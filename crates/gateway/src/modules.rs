//! The one place the gateway composes the domain crates. Each crate registers itself once:
//! its [`DomainModule`] (scopes, role grants, personal-data fields, sealed tables, the
//! personal-data sources data-subject rights reach its stores through; declared in the
//! crate's own `lib.rs`) is listed in [`DOMAIN_MODULES`], and its API group (the
//! crate's poem-openapi structs) and the error statuses its domain rules add to operations
//! (beyond those the declaration implies, see [`crate::spec::derived_errors`]) are one
//! section below. Domain errors describe themselves (the kernel's `DescribeProblem`) and are
//! mapped to problem+json once, in [`crate::problem::from_domain`]; each crate's error type
//! is named once, in the `map_domain_errors!` line below.
//!
//! A new crate (billing, privacy-addenda) plugs in with: one entry in [`DOMAIN_MODULES`], its
//! error type in `map_domain_errors!`, one section here (its `Api` group and `DOMAIN_ERRORS`)
//! named once in [`crate::app::Api`] and [`domain_errors`], and, if it has a service object,
//! one field of [`crate::state::AppState`]. docs/adding-a-domain.md walks through it.

use hub_tenant::DomainModule;

/// Every domain crate above `hub-tenant` (which registers itself first), in a stable order.
/// tests/api/architecture.rs checks it names every domain member of the workspace.
pub const DOMAIN_MODULES: &[&DomainModule] = &[
    &hub_identity::MODULE,
    &hub_course::MODULE,
    &hub_billing::MODULE,
    &hub_privacy_addenda::MODULE,
];

crate::map_domain_errors!(
    hub_tenant::TenantError,
    hub_identity::IdentityError,
    hub_course::CourseError,
    hub_billing::BillingError,
    hub_privacy_addenda::PrivacyError,
);

/// Installs the composition for this process ([`hub_tenant::module::install`]) and checks
/// what only the gateway can: every role a crate grants scopes to is one identity knows.
pub fn install() -> Result<(), String> {
    hub_tenant::module::install(DOMAIN_MODULES)?;
    for module in hub_tenant::module::installed() {
        for grant in module.role_grants {
            if hub_identity::Role::parse(grant.role).is_none() {
                return Err(format!(
                    "{} grants scopes to role {}, which identity does not know",
                    module.crate_name, grant.role
                ));
            }
        }
    }
    Ok(())
}

/// The error statuses each domain's rules add, per operation id, from every section below.
pub fn domain_errors() -> impl Iterator<Item = &'static (&'static str, &'static [u16])> {
    [
        operator::DOMAIN_ERRORS,
        learning::DOMAIN_ERRORS,
        institution::DOMAIN_ERRORS,
        identity::DOMAIN_ERRORS,
        privacy::DOMAIN_ERRORS,
        billing::DOMAIN_ERRORS,
    ]
    .into_iter()
    .flatten()
}

/// hub-tenant, platform operators: institutions' lifecycle.
pub mod operator {
    pub type Api = crate::api::tenants::TenantsApi;

    pub const DOMAIN_ERRORS: &[(&str, &[u16])] = &[
        // Unique slugs, lifecycle transitions.
        ("createTenant", &[409]),
        ("updateTenant", &[409]),
        ("suspendTenant", &[409]),
        ("resumeTenant", &[409]),
        ("offboardTenant", &[409]),
        ("issueTenantCredential", &[409]),
    ];
}

/// hub-course: the catalog, enrollments, organisational units.
pub mod learning {
    use crate::api::learning::certificates::CertificatesApi;
    use crate::api::learning::decisions::DecisionsApi;
    use crate::api::learning::recommendations::RecommendationsApi;
    use crate::api::learning::{attempts::AttemptsApi, progress::ProgressApi};
    use crate::api::learning::{
        courses::CoursesApi, enrollments::EnrollmentsApi, org_units::OrgUnitsApi,
        quizzes::QuizzesApi, structure::StructureApi, xapi::XapiApi,
    };

    pub type Api = (
        CoursesApi,
        EnrollmentsApi,
        OrgUnitsApi,
        StructureApi,
        QuizzesApi,
        XapiApi,
        ProgressApi,
        AttemptsApi,
        CertificatesApi,
        RecommendationsApi,
        DecisionsApi,
    );

    pub const DOMAIN_ERRORS: &[(&str, &[u16])] = &[
        // Unique codes, a mandatory If-Match on updates.
        ("updateCourse", &[409, 428]),
        // Structure: unique lesson activity ids, a mandatory If-Match on updates.
        ("updateCourseModule", &[428]),
        ("createLesson", &[409]),
        ("updateLesson", &[409, 428]),
        ("setCompletionRule", &[428]),
        // Quizzes: a mandatory If-Match on updates; one the completion rule requires.
        ("updateQuiz", &[428]),
        ("deleteQuiz", &[409]),
        // Progress and attempts: an active enrollment, attempt limits, deadlines, once only.
        ("recordMyLessonProgress", &[409]),
        // Stated preferences: not while the learner's processing is restricted.
        ("setMyLearningPreferences", &[409]),
        ("startMyQuizAttempt", &[409]),
        ("submitMyQuizAttempt", &[409]),
        ("changeAttemptGrade", &[409]),
        // Certificates: revoked once; verification of an unknown institution; bad input.
        ("revokeCertificate", &[409, 422]),
        ("verifyCertificateById", &[404]),
        ("verifyCertificateCredential", &[404, 422]),
        // Automated decisions: reviewed or contested once; a reason or statement required;
        // the enrollment a confirmation moves, the seat an overturn claims; another course
        // named in the filter.
        ("contestMyDecision", &[409, 422]),
        ("confirmDecision", &[409, 422]),
        ("overturnDecision", &[409, 422]),
        ("listDecisions", &[404]),
        // A course with enrollments is archived, not deleted; one named as another's
        // prerequisite is kept.
        ("deleteCourse", &[409]),
        // Enrollments: the course named in the body, seats, states, restrictions, a request
        // under review.
        ("enrollMyself", &[404, 409]),
        ("withdrawMyEnrollment", &[409]),
        ("createEnrollment", &[409]),
        ("createEnrollmentsInBulk", &[409]),
        ("updateEnrollment", &[409, 428]),
        // Organisational units: unique codes, units in use, a mandatory If-Match.
        ("createOrgUnit", &[409]),
        ("updateOrgUnit", &[409, 428]),
        ("deleteOrgUnit", &[409]),
        // xAPI: a stored statement id with other content; a statement asked for by id.
        ("putXapiStatement", &[409]),
        ("postXapiStatements", &[409]),
        ("getXapiStatements", &[404]),
        // Documents: a stored profile replaced without a concurrency header; one asked for
        // by id.
        ("putXapiActivityProfile", &[409]),
        ("putXapiAgentProfile", &[409]),
        ("getXapiState", &[404]),
        ("getXapiActivityProfile", &[404]),
        ("getXapiAgentProfile", &[404]),
    ];
}

/// hub-tenant, the institution's own administration: contacts, keys, profile, reports,
/// audit.
pub mod institution {
    use crate::api::{
        api_keys::ApiKeysApi, audit::AuditApi, contacts::ContactsApi, keys::KeysApi,
        privacy_profile::PrivacyProfileApi, reports::ReportsApi, system::SystemApi,
    };

    pub type Api = (
        ContactsApi,
        ApiKeysApi,
        KeysApi,
        PrivacyProfileApi,
        ReportsApi,
        AuditApi,
        SystemApi,
    );

    pub const DOMAIN_ERRORS: &[(&str, &[u16])] = &[
        // Unique contacts, a mandatory If-Match on updates.
        ("createContact", &[409]),
        ("updateContact", &[409, 428]),
        ("rotateEncryptionKey", &[409]),
        ("rotateBlindIndexKey", &[409]),
        // Two rotations of the signing key at the same moment.
        ("rotateSigningKey", &[409]),
        // The privacy addendum in force bounds the profile (A2).
        ("replacePrivacyProfile", &[409, 428]),
        // No report of that name in the profile; a period overlapping one already
        // reported; a kind with no producer installed.
        ("runReport", &[404, 409]),
    ];
}

/// hub-identity: people, SSO, local accounts, sessions, incidents, reviews, SCIM, messaging.
pub mod identity {
    use crate::api::{
        domains::DomainsApi, incidents::IncidentsApi, me::MeApi, messaging::MessagingApi,
        minors::MinorsApi, passwords::PasswordsApi, people::PeopleApi, reviews::ReviewsApi,
        saml::SamlApi, scim::ScimApi, sso::SsoApi,
    };

    pub type Api = (
        PeopleApi,
        SsoApi,
        SamlApi,
        DomainsApi,
        MeApi,
        PasswordsApi,
        IncidentsApi,
        ReviewsApi,
        ScimApi,
        MessagingApi,
        MinorsApi,
    );

    pub const DOMAIN_ERRORS: &[(&str, &[u16])] = &[
        // Unique usernames, emails and domains; state transitions.
        ("createPerson", &[409]),
        ("updatePerson", &[409, 428]),
        ("createSsoConnection", &[409]),
        ("createSamlConnection", &[409]),
        ("claimSsoDomain", &[409]),
        ("verifySsoDomain", &[409]),
        ("updateMyProfile", &[409, 428]),
        ("updateSignInSettings", &[428]),
        ("updateMessageSender", &[428]),
        // The person named in the body.
        ("queueMarketingMessage", &[404]),
        ("resolveIncident", &[409]),
        ("startAccessReview", &[409]),
        ("decideAccessGrant", &[409]),
        ("scimCreateUser", &[409]),
        ("scimPatchUser", &[409]),
        ("scimReplaceUser", &[409]),
        ("scimReplaceGroup", &[409]),
        ("scimCreateGroup", &[409]),
        ("scimPatchGroup", &[409]),
        // Sign-in flows: no credential is taken, the flow itself refuses (a suspended
        // institution: 403; an email whose domain no institution verified: 404).
        ("startSignIn", &[403]),
        ("startSamlSignIn", &[403]),
        ("getSamlServiceProviderMetadata", &[403]),
        ("discoverSignIn", &[404]),
        ("finishSignIn", &[401, 403]),
        ("finishSamlSignIn", &[401, 403]),
        ("signInWithPassword", &[401, 403]),
        ("requestPasswordReset", &[403]),
        ("resetPassword", &[401, 403]),
        // A1: guardian consent only for a minor; the public confirmation refuses a bad code.
        ("requestGuardianConsent", &[409]),
        ("confirmGuardianConsent", &[401, 403]),
    ];
}

/// hub-privacy-addenda: what the institution holds and why; data-subject requests, consent,
/// retention and addenda as they arrive.
pub mod privacy {
    use crate::api::privacy::{
        addenda::AddendaApi,
        concerns::ConcernsApi,
        consent::{ConsentApi, GpcApi},
        data_map::DataMapApi,
        holds::LegalHoldsApi,
        policy::PolicyApi,
        receipts::ReceiptsApi,
        records::RecordsApi,
        requests::RequestsApi,
        retention::RetentionApi,
    };

    pub type Api = (
        DataMapApi,
        RequestsApi,
        ReceiptsApi,
        ConsentApi,
        PolicyApi,
        GpcApi,
        LegalHoldsApi,
        RetentionApi,
        AddendaApi,
        RecordsApi,
        ConcernsApi,
    );

    pub const DOMAIN_ERRORS: &[(&str, &[u16])] = &[
        // A hold that already ended; a retention run already under way.
        ("releaseLegalHold", &[409]),
        ("startRetentionRun", &[409]),
        // Data-subject requests: a second erasure, a decided request, a spent code; another
        // tenant's person or request; only people have requests of their own.
        ("submitOwnPrivacyRequest", &[403, 404, 409]),
        ("listOwnPrivacyRequests", &[403]),
        ("getOwnPrivacyRequest", &[403, 404]),
        ("createPrivacyRequest", &[404, 409]),
        ("getPrivacyRequest", &[404]),
        ("verifyPrivacyRequest", &[404, 409]),
        ("decidePrivacyRequest", &[404, 409]),
        ("extendPrivacyRequest", &[404, 409]),
        ("retryPrivacyRequestTask", &[404, 409]),
        ("createExportDownloadLink", &[403, 404, 409]),
        ("downloadExportBundle", &[404, 422]),
        // No addendum in force; an unknown version.
        ("getCurrentPrivacyAddendum", &[404]),
        // Already accepted; the institution already breaks its duties.
        ("acceptPrivacyAddendum", &[404, 409]),
        // Concerns: one answered or not a concern; an unknown or suspended institution.
        ("respondToPrivacyConcern", &[404, 409]),
        // A mandatory If-Match on the contact's changes.
        ("setPrivacyContact", &[428]),
        ("getPublishedPrivacyContact", &[403, 404]),
    ];
}

/// hub-billing: purchases, finance's history and refunds, Stripe's webhooks, the
/// institution's subscription to the platform.
pub mod billing {
    use crate::api::billing::{
        finance::FinanceApi, payouts::PayoutsApi, purchases::PurchasesApi,
        reconciliations::ReconciliationsApi, subscriptions::SubscriptionsApi,
        webhooks::StripeWebhookApi,
    };

    pub type Api = (
        PurchasesApi,
        FinanceApi,
        StripeWebhookApi,
        ReconciliationsApi,
        PayoutsApi,
        SubscriptionsApi,
    );

    pub const DOMAIN_ERRORS: &[(&str, &[u16])] = &[
        // Billing switched off, an account another institution holds.
        ("connectStripeAccount", &[409]),
        // An unknown course; a price of no course.
        ("setCoursePrice", &[404]),
        ("getCoursePrice", &[404]),
        ("removeCoursePrice", &[404]),
        // Not for sale, enrolled already, restricted, no account, Stripe refusing or
        // unreachable.
        ("purchaseCourse", &[404, 409, 503]),
        ("getPayment", &[404]),
        // More than is left, a payment not taken, Stripe refusing or unreachable.
        ("refundPayment", &[404, 409, 503]),
        // A bad or missing signature, a body that is not an event; billing switched off.
        ("receiveStripeEvent", &[409]),
        ("replayStripeEvent", &[404, 409]),
        // No connected account; Stripe unreachable.
        ("reconcileWithStripe", &[409, 503]),
        // Billing switched off, a plan no longer at Stripe, a change under way, a declined
        // card; Stripe unreachable.
        ("listPlatformPlans", &[503]),
        ("subscribeToPlan", &[409, 503]),
        ("cancelPlatformSubscription", &[404, 409, 503]),
        ("getReconciliationRun", &[404]),
        ("listReconciliationDiscrepancies", &[404]),
    ];
}
