//! This crate's tables (and its share of Redis) as personal-data sources, besides the people
//! record itself ([`crate::people::PeopleSource`]). Each source answers for one table or a
//! closely related pair; what erasure does differs by what the rows are:
//!
//! - **Deleted** (the rows are the person's and nothing else needs them):
//!   local credentials and password resets ([`LocalAccountsSource`]), SSO links
//!   ([`SsoLinksSource`]), the SCIM user mapping, group memberships and deprovisioning marks
//!   ([`ScimSource`]), messages in the outbox ([`OutboxSource`]), and sessions in the
//!   session store ([`SessionsSource`]).
//! - **Kept as evidence, the person replaced by a pseudonym** (security evidence the
//!   institution must keep, S2 and S6): access reviews and their items
//!   ([`AccessReviewsSource`]) keep each grant's role and decision, incidents
//!   ([`IncidentsSource`]) keep their kind, clock and counts; the person's reference
//!   (`person_id`, and `person:<id>` in the `*_by` columns naming who acted) is replaced by a
//!   pseudonym, and sealed personal text (an incident's description, the person's own words)
//!   is cleared. The pseudonym is a fresh random UUID per erase call, derived from nothing
//!   and stored nowhere with the person: the records of one erasure stay linkable to each
//!   other, not to the person.
//!
//! No tenant table has a foreign key to `people(id)` (the migrations declare none), so a
//! pseudonym can stand in every person column; no source must run before the people record
//! changes. Every erase is idempotent (a second run finds nothing and reports 0) and writes
//! an audit event (`….erased`, with the count, never a name).
//!
//! Restriction (R3) is, per source: the people source deactivates the person and marks them
//! restricted (`people.restricted_at`: no admin, SCIM push or review reactivates them or
//! grants them a role meanwhile, each is refused with 409 `person_restricted`), which
//! already freezes what these tables are used for, so most sources answer `NotApplicable`
//! and say why; the sessions source ends every session, so a restriction takes effect at
//! once.
//!
//! After an erasure the person is unknown to sign-in: their SSO link and email are gone, so
//! the institution's IdP signing them in again makes a new, empty person (just-in-time
//! provisioning), and SCIM no longer serves the anonymised record. The institution removes
//! the person at its IdP too.

mod guardians;
mod incidents;
mod local_accounts;
mod outbox;
mod reviews;
mod scim;
mod sessions;
mod sso_links;

pub use guardians::{GuardianConsentsSource, PERSONAL_FIELDS as GUARDIAN_FIELDS};
pub use incidents::IncidentsSource;
pub use local_accounts::LocalAccountsSource;
pub use outbox::OutboxSource;
pub use reviews::AccessReviewsSource;
pub use scim::ScimSource;
pub use sessions::SessionsSource;
pub use sso_links::SsoLinksSource;

use hub_tenant::personal_data::{DataSubject, Outcome, SourceError};
use hub_tenant::{Scope, TenantScope};
use uuid::Uuid;

/// What a source answers for a subject that is not a person.
pub(crate) const NOT_A_PERSON: Outcome = Outcome::NotApplicable {
    reason: "this table holds only people's data",
};

/// The person a request is about, after the scope check.
pub(crate) fn person_of(
    scope: &TenantScope,
    subject: &DataSubject,
    needs: Scope,
) -> Result<Option<Uuid>, SourceError> {
    scope.require(needs)?;
    Ok(subject.person_id())
}

/// How the `*_by` columns name a person who acted (`Actor::label`).
pub(crate) fn actor_label(person_id: Uuid) -> String {
    format!("person:{person_id}")
}

/// A fresh pseudonym for one erase call: random, derived from nothing, stored nowhere with
/// the person it replaces.
pub(crate) fn pseudonym() -> Uuid {
    Uuid::new_v4()
}

/// The audit entry of an erasure: what and how many, never a name.
pub(crate) use hub_tenant::personal_data::audit_erased;
