//! The consent gate: the one question every processor of a consentable purpose asks before
//! it uses a person's data ("may this person's data be used for purpose P now?"). The
//! privacy service (`hub-privacy-addenda`) answers it from the person's consent ledger, the
//! institution's policy versions and the person's processing restriction; the gateway
//! registers it on the [`crate::Tenancy`] at start ([`crate::Tenancy::register_consent_gate`]),
//! so crates that may not depend on privacy-addenda (identity's outbox) ask it through this
//! port. With no gate registered, [`crate::Tenancy::may_use`] allows only `essential`.

use crate::scope::TenantScope;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// What a person's data is used for, as consent governs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentPurpose {
    /// Running the service the person uses: never subject to consent, never refusable here.
    Essential,
    Analytics,
    Personalisation,
    /// Messages the person may refuse (a "sale/sharing"-type purpose for GPC).
    Marketing,
    /// Sharing with outside services (a "sale/sharing"-type purpose for GPC).
    Integrations,
}

impl ConsentPurpose {
    pub const ALL: [Self; 5] = [
        Self::Essential,
        Self::Analytics,
        Self::Personalisation,
        Self::Marketing,
        Self::Integrations,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Essential => "essential",
            Self::Analytics => "analytics",
            Self::Personalisation => "personalisation",
            Self::Marketing => "marketing",
            Self::Integrations => "integrations",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// Whether a person can grant or withdraw it (everything but `essential`).
    pub fn consentable(self) -> bool {
        self != Self::Essential
    }

    /// Whether a Global Privacy Control signal opts the person out of it (sale or sharing
    /// of their data: marketing, integrations).
    pub fn opted_out_by_gpc(self) -> bool {
        matches!(self, Self::Marketing | Self::Integrations)
    }
}

/// Why a minor's data is refused for every consentable purpose: no guardian has confirmed
/// consent yet (A1), whatever the minor granted themselves.
pub const GUARDIAN_CONSENT_REQUIRED: &str = "guardian_consent_required";

/// The gate's answer, with why (shown to the person, recorded on a held message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    /// `essential`, `consent_granted`, `no_consent`, `consent_withdrawn`, `restricted`,
    /// `policy_not_accepted`, `not_in_policy`, `no_consent_gate`,
    /// [`GUARDIAN_CONSENT_REQUIRED`].
    pub reason: &'static str,
}

impl Decision {
    pub const fn allow(reason: &'static str) -> Self {
        Self {
            allowed: true,
            reason,
        }
    }

    pub const fn deny(reason: &'static str) -> Self {
        Self {
            allowed: false,
            reason,
        }
    }
}

/// Answers whether a person's data may be used for a purpose now.
#[async_trait]
pub trait ConsentGate: Send + Sync {
    async fn may_use(
        &self,
        scope: &TenantScope,
        person: Uuid,
        purpose: ConsentPurpose,
        now: DateTime<Utc>,
    ) -> Result<Decision, crate::personal_data::SourceError>;
}
