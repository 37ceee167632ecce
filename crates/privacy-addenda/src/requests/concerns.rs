//! Where a person raises a concern (L2), and concerns themselves.
//!
//! **Where.** The institution publishes its privacy contact (a name or role, an email, an
//! optional postal address and URL: a role mailbox such as the data protection officer's,
//! published to anyone, so stored in clear like the sender identity) and, per jurisdiction,
//! the regulator a person may complain to: the institution's own entry when it names one,
//! else the built-in one ([`built_in_regulator`]: the UK's ICO, California's CPPA, for the EU
//! the EDPB's list of national authorities, as the lead supervisory authority is the
//! institution's to name), else none, said so. Read by anyone signed in to the institution and
//! by anyone at all by the institution's slug (a learner who cannot sign in must find it);
//! written by a privacy officer or the tenant admin.
//!
//! **Default jurisdiction.** Kept here, next to the contact and the regulators, rather than in
//! the tenant's privacy profile: it answers the same question ("whose law, which regulator")
//! and is this crate's rule, while the profile is the tenant crate's retention and
//! processing record. A request that names no jurisdiction gets the institution's default;
//! one the person states always wins; every right is accepted whatever it is (R7).
//!
//! **Concerns.** A concern is a request of kind `concern`: the same clock (30 days, the
//! jurisdiction's extensions with a reason told), listing, overdue and due-soon alerts and
//! audit; its text (required) is sealed under the tenant key in the request's `details` and
//! covered by the requests' personal-data source. It runs on no source: a privacy officer
//! who is not the person closes it with a response ([`Privacy::respond_to_concern`]) told to
//! the person as an essential message.

use super::entities::{contact, request};
use super::{
    Jurisdiction, PrivacyRequest, RequestKind, RequestStatus, audit_request, open_subject,
};
use crate::{PRIVACY_MANAGE, Privacy, PrivacyError};
use chrono::{DateTime, Utc};
use hub_kernel::problem::Violations;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::personal_data::DataSubject;
use hub_tenant::{Scope, TenantScope};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};

const ROW: i32 = 1;
pub const NAME_MAX: usize = 200;
pub const ADDRESS_MAX: usize = 500;
pub const URL_MAX: usize = 2000;
pub const RESPONSE_MAX: usize = 4000;

/// The institution's privacy contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyContact {
    /// A name or a role ("Data Protection Officer").
    pub name: String,
    pub email: String,
    pub postal_address: Option<String>,
    pub url: Option<String>,
}

/// A regulator a person may raise a concern with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Regulator {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub postal_address: Option<String>,
}

/// An institution's own regulator for one jurisdiction (an EU institution's lead
/// supervisory authority).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnRegulator {
    pub jurisdiction: String,
    #[serde(flatten)]
    pub regulator: Regulator,
}

/// Where the regulator of a jurisdiction comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegulatorSource {
    /// Named by the institution.
    Institution,
    /// The platform's table.
    BuiltIn,
    /// Neither: none is known.
    None,
}

/// One jurisdiction's regulator, as published.
#[derive(Debug, Clone)]
pub struct RegulatorEntry {
    pub jurisdiction: Jurisdiction,
    pub regulator: Option<Regulator>,
    pub source: RegulatorSource,
    /// What a person should know (a directory rather than one authority, or none built in).
    pub note: String,
}

/// Where to raise a concern, as the institution publishes it.
#[derive(Debug, Clone)]
pub struct ConcernContacts {
    pub contact: Option<PrivacyContact>,
    pub default_jurisdiction: Jurisdiction,
    /// One entry per jurisdiction, the default's first.
    pub regulators: Vec<RegulatorEntry>,
    /// 0 until first set.
    pub revision: i32,
    pub updated_at: Option<DateTime<Utc>>,
}

/// What a privacy officer or the admin sets (the whole of it, replaced).
#[derive(Debug, Clone)]
pub struct ConcernContactsUpdate {
    pub contact: Option<PrivacyContact>,
    pub default_jurisdiction: Jurisdiction,
    pub regulators: Vec<OwnRegulator>,
}

/// The platform's regulator for a jurisdiction, with what to say about it.
pub fn built_in_regulator(jurisdiction: Jurisdiction) -> (Option<Regulator>, &'static str) {
    match jurisdiction {
        Jurisdiction::Eu => (
            Some(Regulator {
                name: "European Data Protection Board: national data protection authorities".into(),
                url: "https://www.edpb.europa.eu/about-edpb/about-edpb/members_en".into(),
                email: None,
                postal_address: None,
            }),
            "The institution names no lead supervisory authority: you may complain to the \
             data protection authority of the EU country where you live, work or where the \
             issue arose; the EDPB lists them all.",
        ),
        Jurisdiction::Uk => (
            Some(Regulator {
                name: "Information Commissioner's Office (ICO)".into(),
                url: "https://ico.org.uk/make-a-complaint/".into(),
                email: None,
                postal_address: None,
            }),
            "The UK's data protection regulator.",
        ),
        Jurisdiction::UsCa => (
            Some(Regulator {
                name: "California Privacy Protection Agency (CPPA)".into(),
                url: "https://cppa.ca.gov/".into(),
                email: None,
                postal_address: None,
            }),
            "California's privacy regulator (CCPA).",
        ),
        Jurisdiction::Other => (
            None,
            "No regulator is built in for this jurisdiction and the institution names none: \
             raise the concern with the institution's privacy contact.",
        ),
    }
}

fn check_line(v: &mut Violations, field: &str, text: &str, max: usize) {
    let count = text.chars().count();
    v.check(
        (1..=max).contains(&count) && text.trim() == text,
        field,
        &format!("1-{max} characters, no leading or trailing spaces"),
    );
    v.check(
        !text.chars().any(char::is_control),
        field,
        "must not contain control characters",
    );
}

fn check_email(v: &mut Violations, field: &str, email: &str) {
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_control() || c.is_whitespace())
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    v.check(ok, field, "an email address such as privacy@example.edu");
}

fn check_url(v: &mut Violations, field: &str, url: &str) {
    let ok = url.len() <= URL_MAX
        && (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() > "https://".len()
        && !url.chars().any(|c| c.is_control() || c.is_whitespace());
    v.check(ok, field, "an http(s) URL");
}

fn check_address(v: &mut Violations, field: &str, text: &str) {
    let count = text.chars().count();
    v.check(
        (1..=ADDRESS_MAX).contains(&count),
        field,
        &format!("1-{ADDRESS_MAX} characters"),
    );
    v.check(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        field,
        "must not contain control characters other than line breaks",
    );
}

fn check_regulator(v: &mut Violations, at: &str, r: &Regulator) {
    check_line(v, &format!("{at}.name"), &r.name, NAME_MAX);
    check_url(v, &format!("{at}.url"), &r.url);
    if let Some(email) = &r.email {
        check_email(v, &format!("{at}.email"), email);
    }
    if let Some(address) = &r.postal_address {
        check_address(v, &format!("{at}.postal_address"), address);
    }
}

fn published(row: Option<contact::Model>) -> ConcernContacts {
    let own: Vec<OwnRegulator> = row
        .as_ref()
        .and_then(|r| serde_json::from_str(&r.regulators).ok())
        .unwrap_or_default();
    let default_jurisdiction = row
        .as_ref()
        .and_then(|r| Jurisdiction::parse(&r.default_jurisdiction))
        .unwrap_or(Jurisdiction::Other);
    let mut order = vec![default_jurisdiction];
    order.extend(
        Jurisdiction::ALL
            .iter()
            .copied()
            .filter(|j| *j != default_jurisdiction),
    );
    let regulators = order
        .into_iter()
        .map(|j| {
            if let Some(o) = own.iter().find(|o| o.jurisdiction == j.as_str()) {
                RegulatorEntry {
                    jurisdiction: j,
                    regulator: Some(o.regulator.clone()),
                    source: RegulatorSource::Institution,
                    note: "Named by the institution.".into(),
                }
            } else {
                let (regulator, note) = built_in_regulator(j);
                RegulatorEntry {
                    jurisdiction: j,
                    source: if regulator.is_some() {
                        RegulatorSource::BuiltIn
                    } else {
                        RegulatorSource::None
                    },
                    regulator,
                    note: note.into(),
                }
            }
        })
        .collect();
    let contact = row.as_ref().and_then(|r| {
        Some(PrivacyContact {
            name: r.contact_name.clone()?,
            email: r.contact_email.clone()?,
            postal_address: r.postal_address.clone(),
            url: r.url.clone(),
        })
    });
    ConcernContacts {
        contact,
        default_jurisdiction,
        regulators,
        revision: row.as_ref().map_or(0, |r| r.revision),
        updated_at: row.map(|r| r.updated_at),
    }
}

/// The institution's default jurisdiction (`other` until it names one).
pub(crate) async fn default_jurisdiction(
    scope: &TenantScope,
) -> Result<Jurisdiction, PrivacyError> {
    Ok(contact::Entity::find_by_id(ROW)
        .one(scope.db())
        .await?
        .and_then(|r| Jurisdiction::parse(&r.default_jurisdiction))
        .unwrap_or(Jurisdiction::Other))
}

impl Privacy {
    /// Where to raise a concern. No scope needed: anyone signed in to the institution reads
    /// it, and the gateway serves it to anyone by the institution's slug.
    pub async fn concern_contacts(
        &self,
        scope: &TenantScope,
    ) -> Result<ConcernContacts, PrivacyError> {
        Ok(published(
            contact::Entity::find_by_id(ROW).one(scope.db()).await?,
        ))
    }

    /// Sets the privacy contact, the institution's own regulators and the default
    /// jurisdiction, if `expected` is the current revision (0 before the first set; `None`:
    /// whatever is current, a deliberate overwrite): two people editing at once do not lose
    /// each other's change ([`PrivacyError::RevisionMismatch`]). Requires `privacy:manage`
    /// or `tenant:admin`; audited.
    pub async fn set_concern_contacts(
        &self,
        scope: &TenantScope,
        update: ConcernContactsUpdate,
        expected: Option<i32>,
    ) -> Result<ConcernContacts, PrivacyError> {
        scope
            .require(PRIVACY_MANAGE)
            .or_else(|_| scope.require(Scope::TenantAdmin))?;
        let mut v = Violations::new();
        if let Some(c) = &update.contact {
            check_line(&mut v, "contact.name", &c.name, NAME_MAX);
            check_email(&mut v, "contact.email", &c.email);
            if let Some(address) = &c.postal_address {
                check_address(&mut v, "contact.postal_address", address);
            }
            if let Some(url) = &c.url {
                check_url(&mut v, "contact.url", url);
            }
        }
        v.check(
            update.regulators.len() <= Jurisdiction::ALL.len(),
            "regulators",
            "at most one per jurisdiction",
        );
        for (i, r) in update.regulators.iter().enumerate() {
            let at = format!("regulators[{i}]");
            v.check(
                Jurisdiction::parse(&r.jurisdiction).is_some(),
                &format!("{at}.jurisdiction"),
                "one of eu, uk, us_ca, other",
            );
            v.check(
                !update.regulators[..i]
                    .iter()
                    .any(|o| o.jurisdiction == r.jurisdiction),
                &format!("{at}.jurisdiction"),
                "at most one regulator per jurisdiction",
            );
            check_regulator(&mut v, &at, &r.regulator);
        }
        v.finish().map_err(PrivacyError::Invalid)?;
        let now = self.now();
        let regulators = serde_json::to_string(&update.regulators)
            .map_err(|e| PrivacyError::Registry(e.to_string()))?;
        // Locked until commit (PostgreSQL; SQLite's unit of work holds the write lock): two
        // changes based on the same revision cannot both pass the check.
        let existing = contact::Entity::find_by_id(ROW)
            .lock_exclusive()
            .one(scope.db())
            .await?;
        let current = existing.as_ref().map_or(0, |r| r.revision);
        if expected.is_some_and(|read| read != current) {
            return Err(PrivacyError::RevisionMismatch { current });
        }
        let c = update.contact.clone();
        let model = contact::ActiveModel {
            id: Set(ROW),
            contact_name: Set(c.as_ref().map(|c| c.name.clone())),
            contact_email: Set(c.as_ref().map(|c| c.email.clone())),
            postal_address: Set(c.as_ref().and_then(|c| c.postal_address.clone())),
            url: Set(c.as_ref().and_then(|c| c.url.clone())),
            regulators: Set(regulators),
            default_jurisdiction: Set(update.default_jurisdiction.as_str().into()),
            revision: Set(existing.as_ref().map_or(1, |r| r.revision + 1)),
            updated_at: Set(now),
        };
        if existing.is_some() {
            contact::Entity::update(model).exec(scope.db()).await?;
        } else {
            // The first set: a concurrent first set (no row to lock yet) inserted meanwhile.
            let inserted = contact::Entity::insert(model)
                .on_conflict(
                    sea_orm::sea_query::OnConflict::column(contact::Column::Id)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(scope.db())
                .await?;
            if inserted == 0 {
                return Err(PrivacyError::RevisionMismatch { current: 1 });
            }
        }
        audit::record(
            scope,
            AuditEvent::new("privacy_contact.updated").detail(serde_json::json!({
                "contact_set": update.contact.is_some(),
                "default_jurisdiction": update.default_jurisdiction.as_str(),
                "regulators": update.regulators.iter().map(|r| r.jurisdiction.as_str()).collect::<Vec<_>>(),
            })),
        )
        .await?;
        self.concern_contacts(scope).await
    }

    /// Closes a concern with a response told to the person (an essential message). Requires
    /// `privacy:manage`; nobody answers a concern of their own; the concern must be verified
    /// (one raised on a person's behalf waits for their code, as any request).
    pub async fn respond_to_concern(
        &self,
        scope: &TenantScope,
        id: uuid::Uuid,
        response: &str,
    ) -> Result<PrivacyRequest, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        let response = response.trim();
        let mut v = Violations::new();
        v.check(!response.is_empty(), "response", "must not be empty");
        v.check(
            response.chars().count() <= RESPONSE_MAX,
            "response",
            &format!("must be at most {RESPONSE_MAX} characters"),
        );
        v.check(
            !response.chars().any(|c| c.is_control() && c != '\n'),
            "response",
            "must not contain control characters",
        );
        v.finish().map_err(PrivacyError::Invalid)?;
        let row = self.row(scope, id).await?;
        if row.kind != RequestKind::Concern.as_str() {
            return Err(PrivacyError::Conflict {
                code: "not_a_concern",
                message: format!("the request is a {} request: decide it instead", row.kind),
            });
        }
        let person = open_subject(scope, &row)?
            .as_ref()
            .and_then(DataSubject::person_id);
        if person.is_some_and(|p| scope.actor().and_then(|a| a.person_id()) == Some(p)) {
            return Err(PrivacyError::OwnRequest);
        }
        if row.status != RequestStatus::PendingApproval.as_str() {
            return Err(PrivacyError::Conflict {
                code: "concern_not_open",
                message: format!("the concern is {}, not waiting for a response", row.status),
            });
        }
        let now = self.now();
        request::Entity::update_many()
            .col_expr(
                request::Column::Status,
                Expr::value(RequestStatus::Complete.as_str()),
            )
            .col_expr(
                request::Column::DecidedBy,
                Expr::value(Some(scope.actor_label())),
            )
            .col_expr(request::Column::DecidedAt, Expr::value(Some(now)))
            .col_expr(
                request::Column::DecisionReason,
                Expr::value(Some(response.to_string())),
            )
            .col_expr(request::Column::CompletedAt, Expr::value(Some(now)))
            .col_expr(request::Column::UpdatedAt, Expr::value(now))
            .filter(request::Column::Id.eq(id))
            .filter(request::Column::Status.eq(RequestStatus::PendingApproval.as_str()))
            .exec(scope.db())
            .await?;
        if let Some(person) = person {
            self.tell(
                scope,
                person,
                "privacy.concern_answered",
                "Your privacy concern was answered",
                format!(
                    "Your concern ({id}) was answered: {response}\n\nIf you are not satisfied, \
                     you may raise it with the regulator the institution publishes \
                     (/v1/privacy/contact)."
                ),
            )
            .await?;
        }
        audit_request(
            scope,
            "privacy_request.concern_answered",
            id,
            serde_json::json!({}),
        )
        .await?;
        self.load(scope, id).await
    }
}
