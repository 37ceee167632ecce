//! What a reported compromise (S6) invalidates, and the one check every sign-in passes before
//! a session opens.
//!
//! A report marks the person (`people.reauth_required_after`) and their local password, if
//! they have one (`local_credentials.reset_required_at`). [`check`] turns the proof a sign-in
//! path holds into an [`Authenticated`] person, and
//! [`Sessions::open`](crate::sessions::Sessions::open) opens sessions for nothing else, so a
//! sign-in path added later cannot forget the rule:
//! - a password marked by a report opens no session until it is reset (a reset stores a new,
//!   unmarked credential); a correct old password is told so, a wrong one gets the usual
//!   answer before this check is reached;
//! - an IdP's word counts after a report only if the IdP authenticated the person during a
//!   sign-in flow that began after the report, to the second (the precision of OIDC
//!   `auth_time` and SAML `AuthnInstant`). The first such sign-in lifts the person's mark;
//!   the password's mark stays until the password is reset.

use crate::entities::local_credential;
use crate::error::{IdentityError, Refusal};
use crate::people::{self, Person};
use chrono::{DateTime, Utc};
use hub_tenant::TenantScope;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

/// How a sign-in path verified the person, as the reauthentication rule needs to know it.
pub(crate) enum Proof<'a> {
    /// A local password that verified against this stored credential.
    Password(&'a local_credential::Model),
    /// An IdP's verified answer (OIDC ID token or SAML assertion).
    Idp {
        connection_id: Uuid,
        /// When this service began the sign-in flow the answer belongs to.
        flow_started_at: DateTime<Utc>,
        /// When the IdP says it authenticated the person (Unix seconds), if it said.
        authenticated_at: Option<i64>,
    },
}

/// A person who passed the reauthentication rule for the way they signed in. Only [`check`]
/// makes one; a session opens for nothing else.
#[derive(Debug)]
pub struct Authenticated {
    tenant_id: Uuid,
    person_id: Uuid,
    connection_id: Option<Uuid>,
}

impl Authenticated {
    pub fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    pub fn person_id(&self) -> Uuid {
        self.person_id
    }

    /// The SSO connection the person signed in through; `None` for a password.
    pub fn connection_id(&self) -> Option<Uuid> {
        self.connection_id
    }
}

/// What a report marked.
pub(crate) struct Marked {
    /// Whether the person had a local password (which now must be reset).
    pub password: bool,
}

/// Marks everything that could open a session for the person with what they had before
/// `reported_at`. Runs in the report's transaction.
pub(crate) async fn require(
    scope: &TenantScope,
    person_id: Uuid,
    reported_at: DateTime<Utc>,
) -> Result<Marked, IdentityError> {
    people::require_reauthentication(scope, person_id, Some(reported_at)).await?;
    let passwords = local_credential::Entity::update_many()
        .col_expr(
            local_credential::Column::ResetRequiredAt,
            Expr::value(Some(reported_at)),
        )
        .filter(local_credential::Column::PersonId.eq(person_id))
        .exec(scope.db())
        .await?;
    Ok(Marked {
        password: passwords.rows_affected > 0,
    })
}

/// Whether an IdP authentication is known to have happened after `reported`: the flow began
/// after the report and the IdP authenticated the person during it, to the second.
pub(crate) fn authenticated_after(
    reported: DateTime<Utc>,
    flow_started_at: DateTime<Utc>,
    authenticated_at: Option<i64>,
) -> bool {
    flow_started_at > reported && authenticated_at.is_some_and(|t| t >= flow_started_at.timestamp())
}

/// The rule every sign-in path passes before a session opens. Writes nothing but the lifting
/// of a satisfied IdP mark, so a refusal leaves the caller free to commit its audit entry.
pub(crate) async fn check(
    scope: &TenantScope,
    person: &Person,
    proof: Proof<'_>,
) -> Result<Authenticated, IdentityError> {
    let connection_id = match proof {
        Proof::Password(credential) => {
            if credential.reset_required_at.is_some() {
                return Err(IdentityError::refused(
                    Refusal::PasswordResetRequired,
                    "this account was reported as compromised, so its password no longer \
                     signs in: ask for a reset code and set a new password",
                ));
            }
            None
        }
        Proof::Idp {
            connection_id,
            flow_started_at,
            authenticated_at,
        } => {
            if let Some(reported) = person.reauth_required_after {
                if !authenticated_after(reported, flow_started_at, authenticated_at) {
                    return Err(IdentityError::refused(
                        Refusal::Reauthentication,
                        "this account was reported as compromised: sign in again with \
                         `force_authentication=true` so the identity provider checks it is you",
                    ));
                }
                people::require_reauthentication(scope, person.id, None).await?;
            }
            Some(connection_id)
        }
    };
    Ok(Authenticated {
        tenant_id: scope.tenant_id(),
        person_id: person.id,
        connection_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn only_an_idp_authentication_in_a_flow_begun_after_the_report_is_fresh() {
        let at = |s: i64, micros: u32| Utc.timestamp_opt(s, micros * 1000).unwrap();
        let reported = at(1_000, 500_000);
        // Flow begun after the report, authenticated in it (same second, or later).
        assert!(authenticated_after(
            reported,
            at(1_000, 600_000),
            Some(1_000)
        ));
        assert!(authenticated_after(
            reported,
            at(1_000, 600_000),
            Some(1_030)
        ));
        // The IdP reused an authentication from before the flow (ignored ForceAuthn).
        assert!(!authenticated_after(
            reported,
            at(1_000, 600_000),
            Some(999)
        ));
        assert!(!authenticated_after(reported, at(1_060, 0), Some(1_030)));
        // A flow begun before the report, however fresh the IdP says it is.
        assert!(!authenticated_after(
            reported,
            at(1_000, 400_000),
            Some(1_001)
        ));
        // The IdP did not say when it authenticated the person.
        assert!(!authenticated_after(reported, at(1_001, 0), None));
    }
}
