//! The people of an institution. Every field that identifies a person is sealed under the
//! institution's key (C1, C2, D2); email and username are found through blind indexes. Only
//! the name is required: the rest can stay empty (C8). A signed-in person reads and corrects
//! their own record (R2, U9); admins manage roles and status.
//!
//! This module declares the table's personal fields and the types; [`store`] validates, seals
//! and opens rows, [`administration`] holds the admins' and the IdP's changes, [`own_record`]
//! the person's own reads and corrections, [`lookup`] other crates' lookup by email,
//! [`sign_in`] the links to IdP subjects,
//! [`personal_data`] the record as a source of personal data (export, erasure, restriction).

mod administration;
mod lookup;
mod own_record;
mod personal_data;
mod sign_in;
pub(crate) mod store;

pub(crate) use administration::{
    active_with_role, replace_data, set_status_and_roles, touch, validate,
};
pub use administration::{administer, create, get, list};
pub use lookup::PeopleByEmailIndex;
pub use own_record::{correct_self, get_self};
pub(crate) use personal_data::is_erased;
pub use personal_data::{ERASED_NAME, PeopleSource};
pub(crate) use sign_in::{
    find_by_subject, link_subject, record_sign_in, require_reauthentication, session_scopes,
};
pub use store::data_of;
pub(crate) use store::{find_by_email, find_by_username, insert, load, normalise_username};

use crate::roles::Role;
use chrono::{DateTime, NaiveDate, Utc};
use hub_kernel::Pii;
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
pub use hub_tenant::personal_data::Jurisdiction;
use uuid::Uuid;

pub const TABLE: &str = "people";

/// The longest name, in characters (after trimming; never empty).
pub const MAX_NAME: usize = 200;
/// The longest username, in characters (never empty, no spaces).
pub const MAX_USERNAME: usize = 100;
/// Phone numbers as `hub_tenant::contacts::check_phone` accepts them (E.164), for the spec.
pub const PHONE_PATTERN: &str = r"^\+[1-9][0-9]{6,14}$";
/// A person's country as the store accepts it (ISO 3166-1 alpha-2, upper case), for the spec.
pub const COUNTRY_PATTERN: &str = "^[A-Z]{2}$";

const fn field(
    column: &'static str,
    category: DataCategory,
    purpose: Purpose,
    blind_index: bool,
    optional: bool,
) -> FieldClassification {
    FieldClassification {
        table: TABLE,
        column,
        category,
        purpose,
        retention: RetentionClass::CategoryPeriod,
        identifying: true,
        blind_index,
        optional,
    }
}

/// The personal-data declaration of this table; encryption below reads it.
pub const PERSONAL_FIELDS: &[FieldClassification] = &[
    field(
        "name",
        DataCategory::Identity,
        Purpose::ServiceDelivery,
        false,
        false,
    ),
    field(
        "username",
        DataCategory::Identity,
        Purpose::ServiceDelivery,
        true,
        true,
    ),
    field(
        "email",
        DataCategory::Contact,
        Purpose::EssentialCommunication,
        true,
        true,
    ),
    field(
        "phone",
        DataCategory::Contact,
        Purpose::EssentialCommunication,
        false,
        true,
    ),
    // Needed only where the law protects minors (A1); never required.
    field(
        "birth_date",
        DataCategory::Identity,
        Purpose::LegalObligation,
        false,
        true,
    ),
    // Which law's rules the person's privacy requests follow when one states none (L1).
    // Alone it identifies nobody, but it is kept like every field of this table: sealed.
    field(
        "jurisdiction",
        DataCategory::Identity,
        Purpose::LegalObligation,
        false,
        true,
    ),
    // The person's own country (ISO 3166-1 alpha-2): the age of digital consent they are
    // under (A1). Needed only where the law protects minors; never required; sealed like
    // the birth date.
    field(
        "country",
        DataCategory::Identity,
        Purpose::LegalObligation,
        false,
        true,
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonStatus {
    Active,
    /// Cannot sign in; their sessions were ended when this was set.
    Deactivated,
}

impl PersonStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deactivated => "deactivated",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "active" => Self::Active,
            // Unknown values are treated as the most restrictive state.
            _ => Self::Deactivated,
        }
    }
}

/// How the person's record came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonSource {
    /// Created by an institution admin through the API.
    Admin,
    /// Created just in time at their first SSO sign-in.
    Sso,
    /// Pushed by the institution's IdP through SCIM; roles follow SCIM groups.
    Scim,
    /// Created when a guardian confirmed their consent for a minor (A1), with the guardian
    /// role; they get in as anyone the institution created does (a password reset where
    /// local accounts are allowed, else their first SSO sign-in, linked by verified email).
    GuardianConsent,
}

impl PersonSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Sso => "sso",
            Self::Scim => "scim",
            Self::GuardianConsent => "guardian_consent",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "sso" => Self::Sso,
            "scim" => Self::Scim,
            "guardian_consent" => Self::GuardianConsent,
            _ => Self::Admin,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Person {
    pub id: Uuid,
    pub name: Pii<String>,
    pub username: Option<Pii<String>>,
    pub email: Option<Pii<String>>,
    pub phone: Option<Pii<String>>,
    pub birth_date: Option<Pii<NaiveDate>>,
    pub roles: Vec<Role>,
    pub status: PersonStatus,
    pub source: PersonSource,
    pub revision: i32,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    /// After a reported compromise: the next sign-in must be a fresh authentication at the
    /// IdP made after this time.
    pub reauth_required_after: Option<DateTime<Utc>>,
    /// Since when processing of the person's data is restricted (R3): they stay deactivated,
    /// with no role granted and their record unchanged, until the restriction is lifted (an
    /// admin's or the IdP's attempt is refused: `administration::refuse_if_restricted`).
    pub restricted_at: Option<DateTime<Utc>>,
    /// The jurisdiction the person keeps on their profile (L1); `None`: their requests
    /// that state none get the institution's default.
    pub jurisdiction: Option<Jurisdiction>,
    /// The person's own country, ISO 3166-1 alpha-2 in upper case (A1): their age of
    /// digital consent follows it before their jurisdiction's country.
    pub country: Option<Pii<String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The personal fields of a person, as entered or asserted by an IdP.
#[derive(Debug, Clone, Default)]
pub struct PersonalData {
    pub name: Pii<String>,
    pub username: Option<Pii<String>>,
    pub email: Option<Pii<String>>,
    pub phone: Option<Pii<String>>,
    pub birth_date: Option<Pii<String>>,
    /// ISO 3166-1 alpha-2 in upper case ([`COUNTRY_PATTERN`]).
    pub country: Option<Pii<String>>,
}

#[derive(Debug, Clone)]
pub struct NewPerson {
    pub data: PersonalData,
    pub roles: Vec<String>,
}

/// An admin's change: roles, status, the person's jurisdiction (which law their privacy
/// requests follow, L1) and country (the age of digital consent they are under, A1);
/// `Some(None)` clears either. Other personal fields belong to the person (R2).
#[derive(Debug, Clone, Default)]
pub struct AdminPatch {
    pub roles: Option<Vec<String>>,
    pub status: Option<PersonStatus>,
    pub jurisdiction: Option<Option<Jurisdiction>>,
    pub country: Option<Option<Pii<String>>>,
}

/// A person's correction of their own record. `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct SelfPatch {
    pub name: Option<Pii<String>>,
    pub phone: Option<Option<Pii<String>>>,
    pub birth_date: Option<Option<Pii<String>>>,
    pub jurisdiction: Option<Option<Jurisdiction>>,
    pub country: Option<Option<Pii<String>>>,
}

pub use hub_tenant::contacts::normalise_email;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promise_c8_people_declare_every_personal_field_and_only_the_name_is_required() {
        let required: Vec<_> = PERSONAL_FIELDS
            .iter()
            .filter(|f| !f.optional)
            .map(|f| f.column)
            .collect();
        assert_eq!(required, ["name"]);
        assert!(PERSONAL_FIELDS.iter().all(|f| f.identifying));
    }

    #[test]
    fn the_phone_pattern_is_the_phone_check() {
        let pattern = regex::Regex::new(PHONE_PATTERN).unwrap();
        for phone in [
            "+441632960961",
            "+1234567",
            "+123456789012345",
            "+0441632960961",
            "+123456",
            "+1234567890123456",
            "441632960961",
            "+44 1632 960961",
            "+44a632960961",
            "",
        ] {
            let mut v = hub_kernel::problem::Violations::new();
            hub_tenant::contacts::check_phone(&mut v, phone);
            assert_eq!(pattern.is_match(phone), v.is_empty(), "{phone}");
        }
    }
}
