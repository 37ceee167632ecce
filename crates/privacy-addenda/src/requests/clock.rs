//! Request clocks (R6, L1, R7).
//!
//! The rule, one for every jurisdiction: **due = the strictest deadline that applies**. Our
//! own default, 30 days after receipt (R6), is never relaxed; a jurisdiction's law only adds
//! what it allows on top:
//!
//! | jurisdiction | statutory deadline | extension | due (ours, the strictest) |
//! |---|---|---|---|
//! | `eu` (GDPR Art. 12(3)) | one month | up to two further months, the reason told to the requester | 30 days, + up to 60 |
//! | `uk` (UK GDPR) | one month | up to two further months, the reason told | 30 days, + up to 60 |
//! | `us_ca` (CCPA §1798.130) | 45 days | one further 45 days, the reason told | 30 days (stricter than 45), + up to 45 |
//! | `other` | — | none | 30 days |
//!
//! Every right is accepted whatever the jurisdiction (R7): the jurisdiction changes only the
//! clock. The clock pauses only while identity verification is pending: verification moves
//! the due date by the time it took (a request made on a person's behalf starts paused).
//!
//! Alerting: requests past due or due within [`DUE_SOON_DAYS`] are listed
//! (`GET /v1/privacy-requests?clock=overdue|due_soon`), and every request view says
//! `overdue` / `due_soon`; the listing is what officers' dashboards poll, and the alert job
//! ([`super::alerts`]) tells each privacy officer once per request and state.

use super::RequestStatus;
use super::entities::request;
use chrono::{DateTime, Duration, Utc};

/// Our default deadline: days after receipt (R6).
pub const DEFAULT_DAYS: i64 = 30;
/// "Due soon": within this many days.
pub const DUE_SOON_DAYS: i64 = 7;

/// Whose law adds rules to the clock (L1): declared beside the personal-data contract, as a
/// person keeps one on their profile (identity) and the privacy service reads it from there.
pub use hub_tenant::personal_data::Jurisdiction;

/// What each jurisdiction's law allows ([`Jurisdiction`] is declared in `hub-tenant`, so its
/// rules are a trait here).
pub trait JurisdictionRules {
    /// How many days a privacy officer may extend by, in total.
    fn max_extension_days(self) -> i64;
    /// The statutory deadline in days, for the record (ours is never longer).
    fn statutory_days(self) -> Option<i64>;
}

impl JurisdictionRules for Jurisdiction {
    fn max_extension_days(self) -> i64 {
        match self {
            // Two further months.
            Self::Eu | Self::Uk => 60,
            // One further 45 days (statutory 45 + 45 = 90 days; ours starts at 30).
            Self::UsCa => 45,
            Self::Other => 0,
        }
    }

    fn statutory_days(self) -> Option<i64> {
        match self {
            Self::Eu | Self::Uk => Some(30),
            Self::UsCa => Some(45),
            Self::Other => None,
        }
    }
}

/// Which clock listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueView {
    Overdue,
    DueSoon,
}

/// A request's clock as of `now`.
#[derive(Debug, Clone)]
pub struct Clock {
    /// When the request is due. While verification is pending, the due date if verified now.
    pub due_at: DateTime<Utc>,
    /// Verification is pending: the clock does not run.
    pub paused: bool,
    pub extended_days: i32,
    /// How many more days may still be added.
    pub extension_days_left: i64,
    pub overdue: bool,
    pub due_soon: bool,
}

impl Clock {
    pub(crate) fn of(
        row: &request::Model,
        status: RequestStatus,
        jurisdiction: Jurisdiction,
        now: DateTime<Utc>,
    ) -> Self {
        let paused = status == RequestStatus::IdentityUnverified;
        let due_at = if paused {
            row.due_at + (now - row.received_at).max(Duration::zero())
        } else {
            row.due_at
        };
        let running = status.open() && !paused;
        Self {
            due_at,
            paused,
            extended_days: row.extended_days,
            extension_days_left: (jurisdiction.max_extension_days() - row.extended_days as i64)
                .max(0),
            overdue: running && due_at < now,
            due_soon: running && due_at >= now && due_at < now + Duration::days(DUE_SOON_DAYS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promise_l1_extensions_follow_the_jurisdiction_and_ours_is_never_longer() {
        assert_eq!(Jurisdiction::Eu.max_extension_days(), 60);
        assert_eq!(Jurisdiction::Uk.max_extension_days(), 60);
        assert_eq!(Jurisdiction::UsCa.max_extension_days(), 45);
        assert_eq!(Jurisdiction::Other.max_extension_days(), 0);
        for j in Jurisdiction::ALL {
            // Due = the strictest: our default never exceeds a statutory deadline.
            if let Some(days) = j.statutory_days() {
                assert!(DEFAULT_DAYS <= days, "{}", j.as_str());
            }
            assert_eq!(Jurisdiction::parse(j.as_str()), Some(*j));
        }
        assert_eq!(Jurisdiction::parse("mars"), None);
    }
}
