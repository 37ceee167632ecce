//! Certificates (Open Badges 3.0 credentials, VC-JWT): a learner lists and downloads their
//! own (`/v1/me/certificates`) and chooses what the public verification shows; anyone
//! verifies one at the issuing institution (`/v1/institutions/{slug}/certificates/…`, no
//! credential); a person holding `certificates:revoke` revokes one with a reason.
//!
//! A certificate is issued by the completion itself (in that request's transaction); the
//! learner's reads issue any completion's that is still missing (the repair path for
//! completions made before, or while their processing was restricted).

use crate::api::ApiTags;
use crate::api::described::Described;
use crate::api::learning::certificate_signer;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_course::certificates::service::{self, REASON_MAX_CHARS};
use hub_course::certificates::{
    Certificate, CertificateSharing, CertificateSigner, Issuer, NotValidReason, Verification,
};
use hub_tenant::TenantScope;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

const _: () = assert!(REASON_MAX_CHARS == 1000);

/// Who a tenant's certificates are issued by: its public URL and name.
async fn issuer_of(state: &AppState, scope: &TenantScope) -> Result<Issuer, ApiError> {
    Ok(certificate_signer(state).issuer(scope).await?)
}

/// What the public verification of a certificate shows.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct CertificateSharingView {
    /// The course's id and name.
    pub course: bool,
    /// When the certificate was issued.
    pub issued_at: bool,
    /// The learner's identifier in the credential (`urn:uuid:<person id>`).
    pub learner: bool,
}

impl Example for CertificateSharingView {
    fn example() -> Self {
        Self {
            course: true,
            issued_at: true,
            learner: false,
        }
    }
}

impl From<CertificateSharing> for CertificateSharingView {
    fn from(s: CertificateSharing) -> Self {
        Self {
            course: s.course,
            issued_at: s.issued_at,
            learner: s.learner,
        }
    }
}

/// A certificate, as its learner sees it.
#[derive(Debug, Clone, Object)]
pub struct CertificateView {
    pub id: Uuid,
    pub person_id: Uuid,
    pub course_id: Uuid,
    pub completion_id: Uuid,
    /// Anyone verifies the certificate with it (unguessable: 256 random bits).
    pub verification_id: String,
    /// `GET` it, no credential needed, for the verdict.
    pub verification_url: String,
    /// The `kid` of the signing key that signed the credential.
    pub kid: String,
    pub issued_at: DateTime<Utc>,
    /// The Open Badges 3.0 credential as a VC-JWT (compact JWS, `alg: EdDSA`).
    pub credential: String,
    #[oai(nullable)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub revocation_reason: Option<String>,
    pub sharing: CertificateSharingView,
}

fn view(issuer: &Issuer, c: Certificate) -> CertificateView {
    CertificateView {
        verification_url: format!("{}{}", issuer.verify_base, c.verification_id),
        id: c.id,
        person_id: c.person_id,
        course_id: c.course_id,
        completion_id: c.completion_id,
        verification_id: c.verification_id,
        kid: c.kid,
        issued_at: c.issued_at,
        credential: c.credential,
        revoked_at: c.revoked_at,
        revocation_reason: c.revocation_reason,
        sharing: c.sharing.into(),
    }
}

/// Why a credential is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum NotValidReasonView {
    BadSignature,
    UnknownIssuer,
    UnknownCertificate,
    Revoked,
}

impl From<NotValidReason> for NotValidReasonView {
    fn from(r: NotValidReason) -> Self {
        match r {
            NotValidReason::BadSignature => Self::BadSignature,
            NotValidReason::UnknownIssuer => Self::UnknownIssuer,
            NotValidReason::UnknownCertificate => Self::UnknownCertificate,
            NotValidReason::Revoked => Self::Revoked,
        }
    }
}

/// Only what the learner shared; a field not shared is absent.
#[derive(Debug, Clone, Object)]
pub struct SharedFieldsView {
    #[oai(skip_serializing_if_is_none)]
    pub course_id: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub course_name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub issued_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub learner: Option<String>,
}

/// The verdict on a certificate.
#[derive(Debug, Clone, Object)]
pub struct VerificationView {
    pub valid: bool,
    /// Why not, when `valid` is false: `bad_signature` (altered, or not signed by the
    /// institution's keys), `unknown_issuer` (another institution's or no key of this one),
    /// `unknown_certificate` (not on record: erased), `revoked`.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<Described<NotValidReasonView>>,
    #[oai(skip_serializing_if_is_none)]
    pub revoked_at: Option<DateTime<Utc>>,
    pub shown: SharedFieldsView,
}

impl From<Verification> for VerificationView {
    fn from(v: Verification) -> Self {
        Self {
            valid: v.valid,
            reason: v.reason.map(|r| Described(r.into())),
            revoked_at: v.revoked_at,
            shown: SharedFieldsView {
                course_id: v.shown.course_id,
                course_name: v.shown.course_name,
                issued_at: v.shown.issued_at,
                learner: v.shown.learner,
            },
        }
    }
}

/// A credential presented for verification.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct CredentialPresented {
    /// The VC-JWT as issued (compact JWS: three base64url parts).
    #[oai(validator(max_length = 65536))]
    pub credential: String,
}

impl Example for CredentialPresented {
    fn example() -> Self {
        Self {
            credential: "eyJhbGciOiJFZERTQSJ9.e30.c2lnbmF0dXJl".into(),
        }
    }
}

/// Why a certificate is revoked.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct RevocationCreate {
    /// Required: 1–1000 characters, kept (sealed) and sent to the learner.
    #[oai(default, validator(max_length = 1000))]
    pub reason: String,
}

impl Example for RevocationCreate {
    fn example() -> Self {
        Self {
            reason: "Issued in error: the quiz was graded with the wrong key".into(),
        }
    }
}

#[derive(ApiResponse)]
pub enum CertificatesFound {
    /// The caller's certificates, newest first.
    #[oai(status = 200)]
    Ok(Json<Vec<CertificateView>>),
}

#[derive(ApiResponse)]
pub enum CertificateFound {
    /// The certificate.
    #[oai(status = 200)]
    Ok(Json<CertificateView>),
}

#[derive(ApiResponse)]
pub enum VerificationDone {
    /// The verdict: `valid: false` with a reason for a forged, altered, foreign, erased or
    /// revoked credential.
    #[oai(status = 200)]
    Ok(Json<VerificationView>),
}

#[derive(Default)]
pub struct CertificatesApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Certificates")]
impl CertificatesApi {
    /// My certificates
    ///
    /// Requires scope `courses:read`, as a signed-in person (not an API key). A certificate
    /// is issued the moment its course completes; a completion still without one (made
    /// before that, or while the processing of the person's learning records was
    /// restricted) gets it here first (none while restricted, and none whose
    /// `certificate_denied` decision is under review or confirmed). Newest first.
    #[oai(
        path = "/me/certificates",
        method = "get",
        operation_id = "listMyCertificates"
    )]
    async fn list_my_certificates(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<CertificatesFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let issuer = issuer_of(&state, &scope).await?;
        if let Some(person) = auth.0.actor.person_id() {
            service::issue_pending(&certificate_signer(&state), &scope, person).await?;
        }
        let mine = service::mine(&scope).await?;
        scope.commit().await?;
        Ok(CertificatesFound::Ok(Json(
            mine.into_iter().map(|c| view(&issuer, c)).collect(),
        )))
    }

    /// One of my certificates, with its credential to download
    ///
    /// Requires scope `courses:read`, as a signed-in person. Another person's certificate
    /// (or another institution's) is 404 `certificate_not_found`.
    #[oai(
        path = "/me/certificates/:certificate_id",
        method = "get",
        operation_id = "getMyCertificate"
    )]
    async fn get_my_certificate(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        certificate_id: Path<Uuid>,
    ) -> Result<CertificateFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let issuer = issuer_of(&state, &scope).await?;
        if let Some(person) = auth.0.actor.person_id() {
            service::issue_pending(&certificate_signer(&state), &scope, person).await?;
        }
        let found = service::my_certificate(&scope, certificate_id.0).await?;
        scope.commit().await?;
        Ok(CertificateFound::Ok(Json(view(&issuer, found))))
    }

    /// Choose what the verification of my certificate shows
    ///
    /// Requires scope `courses:read`, as a signed-in person, the certificate's learner
    /// (404 `certificate_not_found` otherwise). The default shows the course and the issue
    /// date, not the learner.
    #[oai(
        path = "/me/certificates/:certificate_id/sharing",
        method = "put",
        operation_id = "setMyCertificateSharing"
    )]
    async fn set_my_certificate_sharing(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        certificate_id: Path<Uuid>,
        body: Json<CertificateSharingView>,
    ) -> Result<CertificateFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let issuer = issuer_of(&state, &scope).await?;
        let sharing = CertificateSharing {
            course: body.0.course,
            issued_at: body.0.issued_at,
            learner: body.0.learner,
        };
        let changed = service::set_sharing(&scope, certificate_id.0, sharing).await?;
        scope.commit().await?;
        Ok(CertificateFound::Ok(Json(view(&issuer, changed))))
    }

    /// Revoke a certificate
    ///
    /// Requires scope `certificates:revoke` (tenant admins). A reason is required (422
    /// `validation_failed`, field `reason`, without one); it is kept sealed, the revocation
    /// is audited (`certificate.revoked`) and the learner is told by an essential message.
    /// Verification then answers `valid: false`, reason `revoked`. A certificate revoked
    /// already is 409 `certificate_already_revoked`; an unknown one 404.
    #[oai(
        path = "/certificates/:certificate_id/revocation",
        method = "post",
        operation_id = "revokeCertificate"
    )]
    async fn revoke_certificate(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        certificate_id: Path<Uuid>,
        body: Json<RevocationCreate>,
    ) -> Result<CertificateFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let issuer = issuer_of(&state, &scope).await?;
        let revoked = service::revoke(
            &scope,
            state.privacy.messages().as_ref(),
            certificate_id.0,
            &body.0.reason,
        )
        .await?;
        scope.commit().await?;
        Ok(CertificateFound::Ok(Json(view(&issuer, revoked))))
    }

    /// Verify a certificate by its verification id
    ///
    /// Public: no credential. Checks the stored credential's signature against the
    /// institution's signing keys (every version: a rotation keeps old certificates valid)
    /// and that it is not revoked; shows only what the learner shared. An unknown id is
    /// `valid: false`, reason `unknown_certificate`; an unknown institution 404.
    #[oai(
        path = "/institutions/:tenant_slug/certificates/:verification_id",
        method = "get",
        operation_id = "verifyCertificateById"
    )]
    async fn verify_certificate_by_id(
        &self,
        state: Data<&Arc<AppState>>,
        /// The institution's slug.
        tenant_slug: Path<String>,
        /// The certificate's verification id (64 hex digits).
        verification_id: Path<String>,
    ) -> Result<VerificationDone, ApiError> {
        let scope = state.tenancy.public_scope(&tenant_slug.0).await?;
        let verdict = service::verify_by_id(&state.tenancy, &scope, &verification_id.0).await?;
        scope.commit().await?;
        Ok(VerificationDone::Ok(Json(verdict.into())))
    }

    /// Verify a presented certificate credential
    ///
    /// Public: no credential. The body is the VC-JWT as issued. `valid` only if one of the
    /// institution's signing-key versions signed exactly it, it is the certificate on record
    /// and not revoked. A forged or altered one is `valid: false` (`bad_signature`), one of
    /// another institution `unknown_issuer` (each institution verifies only what it
    /// issued), an erased one `unknown_certificate`, a revoked one `revoked`. Something that
    /// is not a compact JWS is 422 `validation_failed`, field `credential`.
    #[oai(
        path = "/institutions/:tenant_slug/certificates/verification",
        method = "post",
        operation_id = "verifyCertificateCredential"
    )]
    async fn verify_certificate_credential(
        &self,
        state: Data<&Arc<AppState>>,
        /// The institution's slug.
        tenant_slug: Path<String>,
        body: Json<CredentialPresented>,
    ) -> Result<VerificationDone, ApiError> {
        let scope = state.tenancy.public_scope(&tenant_slug.0).await?;
        let verdict =
            service::verify_credential(&state.tenancy, &scope, &body.0.credential).await?;
        scope.commit().await?;
        Ok(VerificationDone::Ok(Json(verdict.into())))
    }
}
