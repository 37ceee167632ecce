//! Issuing, reading, sharing, verifying and revoking certificates.

use super::entity as certificate;
use crate::catalog::entity as course;
use crate::completion::entity as completion;
use crate::{CERTIFICATES_REVOKE, CourseError};
use chrono::{DateTime, SecondsFormat, Utc};
use hub_kernel::FieldViolation;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::personal_data::{EssentialMessage, EssentialMessages};
use hub_tenant::signing::SignedJws;
use hub_tenant::{Scope, Tenancy, TenantScope};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};
use uuid::Uuid;

/// The table whose sealed columns carry this area's associated data.
pub const CERTIFICATES: &str = "certificates";
/// The `typ` of a certificate's JWS header.
pub const CREDENTIAL_TYP: &str = "JWT";
/// The JSON-LD contexts of an Open Badges 3.0 credential.
pub const CONTEXTS: [&str; 2] = [
    "https://www.w3.org/ns/credentials/v2",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
];
/// The longest revocation reason accepted, in characters.
pub const REASON_MAX_CHARS: usize = 1000;
/// The longest credential accepted for verification, in bytes.
pub const CREDENTIAL_MAX_BYTES: usize = 65_536;

/// Who issues: the institution as an OB3 `Profile` (its public URL and name) and where its
/// certificates are verified (`{verify_base}{verification_id}`).
#[derive(Debug, Clone)]
pub struct Issuer {
    pub url: String,
    pub name: String,
    pub verify_base: String,
}

/// The port a completion signs its certificate through: who issues, and the institution's
/// signing key. [`InstitutionSigner`] is the one the service uses (the tenancy's EdDSA key);
/// a port, so completion (evaluated deep inside progress, submissions and grade changes)
/// needs no knowledge of URLs or key stores.
#[async_trait::async_trait]
pub trait CertificateSigner: Send + Sync {
    /// The institution of the scope as the issuer of its certificates.
    async fn issuer(&self, scope: &TenantScope) -> Result<Issuer, CourseError>;
    /// Signs `payload` as a compact JWS with the institution's current signing key.
    async fn sign(
        &self,
        scope: &TenantScope,
        typ: &str,
        payload: &[u8],
    ) -> Result<SignedJws, CourseError>;
}

/// Signs with the institution's own key ([`Tenancy::sign_jws`]); the issuer is the
/// institution under the service's public URL (`{public_url}/v1/institutions/{slug}`).
pub struct InstitutionSigner<'a> {
    pub tenancy: &'a Tenancy,
    /// The service's public base URL, without a trailing slash.
    pub public_url: String,
}

#[async_trait::async_trait]
impl CertificateSigner for InstitutionSigner<'_> {
    async fn issuer(&self, scope: &TenantScope) -> Result<Issuer, CourseError> {
        let tenant = self.tenancy.active_tenant(scope.tenant_id()).await?;
        let url = format!("{}/v1/institutions/{}", self.public_url, tenant.slug);
        Ok(Issuer {
            verify_base: format!("{url}/certificates/"),
            name: tenant.slug,
            url,
        })
    }

    async fn sign(
        &self,
        scope: &TenantScope,
        typ: &str,
        payload: &[u8],
    ) -> Result<SignedJws, CourseError> {
        Ok(self.tenancy.sign_jws(scope, typ, payload).await?)
    }
}

/// What a learner lets the public verification show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateSharing {
    /// The course (id and name).
    pub course: bool,
    /// When it was issued.
    pub issued_at: bool,
    /// The learner's identifier in the credential (`urn:uuid:<person>`).
    pub learner: bool,
}

/// A certificate as its learner sees it.
#[derive(Debug, Clone)]
pub struct Certificate {
    pub id: Uuid,
    pub person_id: Uuid,
    pub course_id: Uuid,
    pub completion_id: Uuid,
    pub verification_id: String,
    pub kid: String,
    pub issued_at: DateTime<Utc>,
    /// The VC-JWT (compact JWS).
    pub credential: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason: Option<String>,
    pub sharing: CertificateSharing,
}

/// Why a credential is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotValidReason {
    /// Its signature is not one of the institution's signing keys' over exactly this content.
    BadSignature,
    /// Its key belongs to no signing key of this institution (another institution's, or none).
    UnknownIssuer,
    /// Signed by the institution, but not (any more) on record: erased, or never issued.
    UnknownCertificate,
    /// Revoked by the institution.
    Revoked,
}

impl NotValidReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadSignature => "bad_signature",
            Self::UnknownIssuer => "unknown_issuer",
            Self::UnknownCertificate => "unknown_certificate",
            Self::Revoked => "revoked",
        }
    }
}

/// What the public verification shows: only the fields the learner shared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedFields {
    pub course_id: Option<Uuid>,
    pub course_name: Option<String>,
    pub issued_at: Option<DateTime<Utc>>,
    pub learner: Option<String>,
}

/// The answer of a verification.
#[derive(Debug, Clone)]
pub struct Verification {
    pub valid: bool,
    pub reason: Option<NotValidReason>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub shown: SharedFields,
}

impl Verification {
    fn not_valid(reason: NotValidReason) -> Self {
        Self {
            valid: false,
            reason: Some(reason),
            revoked_at: None,
            shown: SharedFields::default(),
        }
    }
}

fn caller(scope: &TenantScope) -> Result<Uuid, CourseError> {
    scope
        .actor()
        .and_then(|a| a.person_id())
        .ok_or(CourseError::PersonOnly)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An unguessable verification id: 256 random bits, hex.
fn verification_id() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

fn open(scope: &TenantScope, row: certificate::Model) -> Result<Certificate, CourseError> {
    let credential = scope
        .keys()
        .open_str(CERTIFICATES, "credential", row.id, &row.credential_sealed)
        .map_err(hub_tenant::TenantError::from)?;
    let revocation_reason = match &row.revocation_reason_sealed {
        Some(sealed) => Some(
            scope
                .keys()
                .open_str(CERTIFICATES, "revocation_reason", row.id, sealed)
                .map_err(hub_tenant::TenantError::from)?,
        ),
        None => None,
    };
    Ok(Certificate {
        id: row.id,
        person_id: row.person_id,
        course_id: row.course_id,
        completion_id: row.completion_id,
        verification_id: row.verification_id,
        kid: row.kid,
        issued_at: row.issued_at,
        credential,
        revoked_at: row.revoked_at,
        revocation_reason,
        sharing: CertificateSharing {
            course: row.share_course,
            issued_at: row.share_issued_at,
            learner: row.share_learner,
        },
    })
}

/// The Open Badges 3.0 credential of a completion, as the JWT claims it is signed in.
pub fn credential_claims(
    issuer: &Issuer,
    certificate_id: Uuid,
    verification_id: &str,
    person_id: Uuid,
    course: (Uuid, &str, &str),
    valid_from: DateTime<Utc>,
) -> serde_json::Value {
    let (course_id, title, description) = course;
    let id = format!("urn:uuid:{certificate_id}");
    let subject = format!("urn:uuid:{person_id}");
    let vc = serde_json::json!({
        "@context": CONTEXTS,
        "id": id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {
            "id": issuer.url,
            "type": ["Profile"],
            "name": issuer.name,
        },
        "validFrom": rfc3339(valid_from),
        "name": title,
        "credentialSubject": {
            "id": subject,
            "type": ["AchievementSubject"],
            "achievement": {
                "id": format!("{}/courses/{course_id}", issuer.url),
                "type": ["Achievement"],
                "name": title,
                "description": description,
                "criteria": {
                    "narrative": format!(
                        "Completed the course \"{title}\": every lesson its completion rule \
                         requires, and every quiz it names passed."
                    ),
                },
            },
        },
        "credentialStatus": {
            "id": format!("{}{verification_id}", issuer.verify_base),
            "type": "1EdTechRevocationList",
        },
    });
    serde_json::json!({
        "iss": issuer.url,
        "sub": subject,
        "jti": id,
        "nbf": valid_from.timestamp(),
        "iat": Utc::now().timestamp(),
        "vc": vc,
    })
}

/// Issues the certificate of one completion that has none yet, in the scope's transaction,
/// and stamps the completion; whether one was issued. Nothing while the person's processing
/// is restricted (the completion stays pending; [`issue_pending`] issues it once the
/// restriction is lifted). Nothing either where the certificate rule withholds it
/// ([`crate::decisions::service::certificate_allowed`]: a completion after the course's
/// certificate deadline records a `certificate_denied` decision instead, and only its
/// overturn lets the certificate be issued). At most one per completion even when two
/// callers race (unique on the completion; the loser's insert does nothing).
pub(crate) async fn issue_for_completion(
    signer: &dyn CertificateSigner,
    scope: &TenantScope,
    done: completion::Model,
) -> Result<bool, CourseError> {
    let person_id = done.person_id;
    if done.certificate_issued_at.is_some()
        || crate::enrollment::store::is_restricted(scope, person_id).await?
    {
        return Ok(false);
    }
    let Some(course) = course::Entity::find_by_id(done.course_id)
        .one(scope.db())
        .await?
    else {
        return Ok(false);
    };
    if !crate::decisions::service::certificate_allowed(scope, &done, &course).await? {
        return Ok(false);
    }
    let issuer = signer.issuer(scope).await?;
    let id = Uuid::now_v7();
    let verification = verification_id();
    let claims = credential_claims(
        &issuer,
        id,
        &verification,
        person_id,
        (course.id, &course.title, &course.description),
        done.completed_at,
    );
    let signed = signer
        .sign(scope, CREDENTIAL_TYP, claims.to_string().as_bytes())
        .await?;
    let now = Utc::now();
    let inserted = certificate::Entity::insert(certificate::ActiveModel {
        id: Set(id),
        person_id: Set(person_id),
        course_id: Set(done.course_id),
        completion_id: Set(done.id),
        verification_id: Set(verification),
        kid: Set(signed.kid.clone()),
        issued_at: Set(now),
        credential_sealed: Set(scope
            .keys()
            .seal_str(CERTIFICATES, "credential", id, &signed.jws)),
        revoked_at: Set(None),
        revoked_by: Set(None),
        revocation_reason_sealed: Set(None),
        share_course: Set(true),
        share_issued_at: Set(true),
        share_learner: Set(false),
    })
    .on_conflict_do_nothing_on([certificate::Column::CompletionId])
    .exec_without_returning(scope.db())
    .await?;
    let completion_id = done.id;
    let course_id = done.course_id;
    let mut stamp = done.into_active_model();
    stamp.certificate_issued_at = Set(Some(now));
    stamp.update(scope.db()).await?;
    if !matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
        return Ok(false);
    }
    audit::record(
        scope,
        AuditEvent::new("certificate.issued")
            .person(person_id)
            .detail(serde_json::json!({
                "certificate_id": id,
                "course_id": course_id,
                "completion_id": completion_id,
                "kid": signed.kid,
            })),
    )
    .await?;
    Ok(true)
}

/// The repair path: issues a certificate for each of the person's completions that has none
/// yet, in the scope's transaction; the number issued. A completion issues its certificate
/// itself ([`crate::completion::service::evaluate`]); what is left pending is a completion
/// made before that (an earlier version issued lazily, here, on the learner's read), or one
/// made while the person's processing was restricted. The learner's certificate reads call
/// it, so such a completion gets its certificate at the latest when the learner looks. A
/// completion whose certificate a `certificate_denied` decision withholds (pending review,
/// contested or confirmed) stays without one: the repair goes through the same rule.
pub async fn issue_pending(
    signer: &dyn CertificateSigner,
    scope: &TenantScope,
    person_id: Uuid,
) -> Result<u64, CourseError> {
    let pending = completion::Entity::find()
        .filter(completion::Column::PersonId.eq(person_id))
        .filter(completion::Column::CertificateIssuedAt.is_null())
        .order_by_asc(completion::Column::Id)
        .all(scope.db())
        .await?;
    let mut issued = 0;
    for done in pending {
        if issue_for_completion(signer, scope, done).await? {
            issued += 1;
        }
    }
    Ok(issued)
}

/// The caller's certificates, newest first. Scope `courses:read`, a signed-in person.
pub async fn mine(scope: &TenantScope) -> Result<Vec<Certificate>, CourseError> {
    scope.require(Scope::CoursesRead)?;
    let person = caller(scope)?;
    certificate::Entity::find()
        .filter(certificate::Column::PersonId.eq(person))
        .order_by_desc(certificate::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|row| open(scope, row))
        .collect()
}

async fn my_row(scope: &TenantScope, id: Uuid) -> Result<certificate::Model, CourseError> {
    scope.require(Scope::CoursesRead)?;
    let person = caller(scope)?;
    certificate::Entity::find_by_id(id)
        .filter(certificate::Column::PersonId.eq(person))
        .one(scope.db())
        .await?
        .ok_or(CourseError::CertificateNotFound)
}

/// One of the caller's certificates (another person's, or another institution's, is
/// `CertificateNotFound`).
pub async fn my_certificate(scope: &TenantScope, id: Uuid) -> Result<Certificate, CourseError> {
    let row = my_row(scope, id).await?;
    open(scope, row)
}

/// Sets what the public verification of one of the caller's certificates shows.
pub async fn set_sharing(
    scope: &TenantScope,
    id: Uuid,
    sharing: CertificateSharing,
) -> Result<Certificate, CourseError> {
    let row = my_row(scope, id).await?;
    let mut change = row.into_active_model();
    change.share_course = Set(sharing.course);
    change.share_issued_at = Set(sharing.issued_at);
    change.share_learner = Set(sharing.learner);
    let row = change.update(scope.db()).await?;
    open(scope, row)
}

async fn course_name(scope: &TenantScope, course_id: Uuid) -> Result<Option<String>, CourseError> {
    Ok(course::Entity::find_by_id(course_id)
        .one(scope.db())
        .await?
        .map(|c| c.title))
}

/// The verdict on a certificate on record whose signature checked.
async fn verdict(
    scope: &TenantScope,
    row: certificate::Model,
) -> Result<Verification, CourseError> {
    if row.revoked_at.is_some() {
        return Ok(Verification {
            revoked_at: row.revoked_at,
            ..Verification::not_valid(NotValidReason::Revoked)
        });
    }
    let mut shown = SharedFields::default();
    if row.share_course {
        shown.course_id = Some(row.course_id);
        shown.course_name = course_name(scope, row.course_id).await?;
    }
    if row.share_issued_at {
        shown.issued_at = Some(row.issued_at);
    }
    if row.share_learner {
        shown.learner = Some(format!("urn:uuid:{}", row.person_id));
    }
    Ok(Verification {
        valid: true,
        reason: None,
        revoked_at: None,
        shown,
    })
}

/// Verifies a presented credential (a VC-JWT) at the scope's institution, for anyone.
/// Something that is not a compact JWS at all is `Invalid` (field `credential`); a forged,
/// altered, foreign, erased or revoked one is a `valid: false` verdict with its reason.
pub async fn verify_credential(
    tenancy: &Tenancy,
    scope: &TenantScope,
    credential: &str,
) -> Result<Verification, CourseError> {
    let credential = credential.trim();
    let parts: Vec<&str> = credential.split('.').collect();
    if credential.len() > CREDENTIAL_MAX_BYTES
        || parts.len() != 3
        || parts.iter().any(|p| {
            p.is_empty()
                || !p
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    {
        return Err(CourseError::Invalid(vec![FieldViolation::new(
            "credential",
            "must be a compact JWS: three base64url parts separated by dots",
        )]));
    }
    let check = tenancy.verify_jws(scope, credential).await?;
    let ours = format!("{}-signing-", scope.tenant_id());
    let Some(payload) = check.payload.filter(|_| check.valid) else {
        let reason = match check.kid {
            Some(kid) if kid.starts_with(&ours) => NotValidReason::BadSignature,
            _ => NotValidReason::UnknownIssuer,
        };
        return Ok(Verification::not_valid(reason));
    };
    let id = serde_json::from_slice::<serde_json::Value>(&payload)
        .ok()
        .and_then(|claims| {
            claims
                .get("jti")
                .and_then(|j| j.as_str())
                .and_then(|j| j.strip_prefix("urn:uuid:"))
                .and_then(|j| Uuid::parse_str(j).ok())
        });
    let Some(id) = id else {
        return Ok(Verification::not_valid(NotValidReason::UnknownCertificate));
    };
    let Some(row) = certificate::Entity::find_by_id(id).one(scope.db()).await? else {
        return Ok(Verification::not_valid(NotValidReason::UnknownCertificate));
    };
    // The credential on record must be the one presented (not another the key signed).
    if open(scope, row.clone())?.credential != credential {
        return Ok(Verification::not_valid(NotValidReason::UnknownCertificate));
    }
    verdict(scope, row).await
}

/// Verifies the certificate with this verification id, for anyone: its stored credential's
/// signature is checked again against the institution's keys.
pub async fn verify_by_id(
    tenancy: &Tenancy,
    scope: &TenantScope,
    verification_id: &str,
) -> Result<Verification, CourseError> {
    let Some(row) = certificate::Entity::find()
        .filter(certificate::Column::VerificationId.eq(verification_id))
        .one(scope.db())
        .await?
    else {
        return Ok(Verification::not_valid(NotValidReason::UnknownCertificate));
    };
    let stored = open(scope, row.clone())?;
    if !tenancy.verify_jws(scope, &stored.credential).await?.valid {
        return Ok(Verification::not_valid(NotValidReason::BadSignature));
    }
    verdict(scope, row).await
}

/// Revokes a certificate: scope `certificates:revoke`, a reason (1 to 1000 characters,
/// sealed), audited as `certificate.revoked`, the learner told through the essential
/// channel in the same transaction. A revoked certificate is `CertificateRevoked`.
pub async fn revoke(
    scope: &TenantScope,
    messages: &dyn EssentialMessages,
    id: Uuid,
    reason: &str,
) -> Result<Certificate, CourseError> {
    scope.require(CERTIFICATES_REVOKE)?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > REASON_MAX_CHARS {
        return Err(CourseError::Invalid(vec![FieldViolation::new(
            "reason",
            format!("a reason is required: 1 to {REASON_MAX_CHARS} characters"),
        )]));
    }
    let row = certificate::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .ok_or(CourseError::CertificateNotFound)?;
    if row.revoked_at.is_some() {
        return Err(CourseError::CertificateRevoked);
    }
    let person = row.person_id;
    let course_id = row.course_id;
    let mut change = row.into_active_model();
    change.revoked_at = Set(Some(Utc::now()));
    change.revoked_by = Set(Some(scope.actor_label()));
    change.revocation_reason_sealed = Set(Some(scope.keys().seal_str(
        CERTIFICATES,
        "revocation_reason",
        id,
        reason,
    )));
    let row = change.update(scope.db()).await?;
    audit::record(
        scope,
        AuditEvent::new("certificate.revoked")
            .person(person)
            .detail(serde_json::json!({ "certificate_id": id, "course_id": course_id })),
    )
    .await?;
    let course = course_name(scope, course_id).await?.unwrap_or_default();
    messages
        .send(
            scope,
            person,
            EssentialMessage {
                kind: "certificate.revoked",
                subject: format!("Your certificate for {course} was revoked"),
                body: format!(
                    "The institution revoked your certificate for the course \"{course}\". \
                     Reason: {reason}\nIts verification now answers that it is not valid."
                ),
            },
        )
        .await
        .map_err(|e| CourseError::Messaging(e.to_string()))?;
    open(scope, row)
}
