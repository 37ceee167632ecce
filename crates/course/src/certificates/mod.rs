//! Certificates (C3, U1): when a learner completes a course, the institution issues an
//! Open Badges 3.0 `OpenBadgeCredential` (a W3C Verifiable Credential) secured as a VC-JWT:
//! a compact JWS (`alg: EdDSA`, the `kid` of the institution's signing key) signed through
//! [`hub_tenant::Tenancy::sign_jws`], whose payload carries the credential in its `vc` claim
//! beside `iss`, `sub`, `nbf` and `jti` (OB 3.0 §8.2, "JSON Web Token Proof Format").
//!
//! A certificate is issued inside the completion's own transaction
//! ([`crate::completion::service::evaluate`] calls [`service::issue_for_completion`]), so it
//! exists the moment the course completes, however the completion was driven (a learner's
//! progress, an xAPI statement, a submission, a grade change), signed through the
//! [`CertificateSigner`] port. The completion row keeps `certificate_issued_at`; a
//! completion left without one (made before issuance moved into completion, or while the
//! learner's processing was restricted: nothing is issued then) is repaired by
//! [`service::issue_pending`], which the learner's certificate reads still call. At most one
//! certificate per completion (unique on the completion).
//!
//! Every issuance goes through the certificate rule (U7,
//! [`crate::decisions::service::certificate_allowed`]): a completion recorded after the
//! course's `certificate_deadline` gets no certificate by itself, but a `certificate_denied`
//! decision for a reviewer; the repair issues nothing while that decision is open or once it
//! is confirmed, and its overturn issues the certificate.
//!
//! Verification needs no credential: by the unguessable verification id, or by presenting
//! the JWS, at the issuing institution. It checks the signature against every version of the
//! institution's signing key (so a rotation keeps old certificates valid), that the
//! certificate is still on record (erasure deletes it) and not revoked, and shows only what
//! the learner chose to share (default: the course and the issue date).
//!
//! A credential of another institution presented at this one is not valid
//! (`unknown_issuer`): each institution verifies only what it issued.

pub(crate) mod entity;
pub mod personal_data;
pub mod service;

pub use service::{
    Certificate, CertificateSharing, CertificateSigner, InstitutionSigner, Issuer, NotValidReason,
    SharedFields, Verification,
};
