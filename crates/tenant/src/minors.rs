//! The minors port (A1): whether a person is a minor now, how old they are, and whether a
//! guardian has confirmed consent for them. Identity owns birth dates, the institution's
//! table of digital-consent ages and guardian consents, and answers it
//! ([`MinorDirectory`]); the gateway registers it at start
//! ([`crate::Tenancy::register_minor_directory`]), so the learning crate (which hides
//! restricted and under-age courses in its own queries) and the consent gate
//! ([`crate::Tenancy::may_use`]) ask it without depending on identity.

use crate::scope::TenantScope;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What the rules for minors read about one person now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MinorStatus {
    /// Whole years since the person's birth date; `None`: no birth date is kept.
    pub age: Option<u32>,
    /// Younger than the digital-consent age of their country.
    pub minor: bool,
    /// A guardian confirmed consent for them (a single-use token, before it lapsed).
    pub guardian_consent: bool,
}

impl MinorStatus {
    /// A person whose age is not known: treated as an adult (the institution keeps a birth
    /// date for the people it knows to be young; see identity's `minors` module).
    pub const UNKNOWN: Self = Self {
        age: None,
        minor: false,
        guardian_consent: false,
    };

    /// Anything beyond essential processing waits for a guardian's verified consent.
    pub fn needs_guardian_consent(&self) -> bool {
        self.minor && !self.guardian_consent
    }
}

/// Answers [`MinorStatus`] for a person of the scope's tenant.
#[async_trait]
pub trait MinorDirectory: Send + Sync {
    async fn status(
        &self,
        scope: &TenantScope,
        person: Uuid,
        now: DateTime<Utc>,
    ) -> Result<MinorStatus, crate::TenantError>;

    /// Whether `guardian` is a verified guardian of `minor` (their consent confirmed, and
    /// linked to them as a person of the institution).
    async fn is_guardian_of(
        &self,
        scope: &TenantScope,
        guardian: Uuid,
        minor: Uuid,
    ) -> Result<bool, crate::TenantError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_minor_without_a_guardians_consent_waits_for_it() {
        let minor = MinorStatus {
            age: Some(12),
            minor: true,
            guardian_consent: false,
        };
        assert!(minor.needs_guardian_consent());
        assert!(
            !MinorStatus {
                guardian_consent: true,
                ..minor
            }
            .needs_guardian_consent()
        );
        assert!(!MinorStatus::UNKNOWN.needs_guardian_consent());
    }
}
