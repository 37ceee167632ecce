//! Local accounts where an institution allows them (C1, S5): passwords only as Argon2id
//! hashes, a strength rule that refuses weak passwords, lockout after repeated failures,
//! and reset by a single-use, expiring token delivered through the notification outbox.
//! After a reported compromise the password opens no session until it is reset
//! (`reauthentication.rs`); the reset stores a new credential without that mark.
//!
//! The strength rule follows NIST SP 800-63B rather than composition rules: length, a
//! blocklist of common and patterned passwords, and nothing derived from the person's own
//! name, username or email.

use crate::Identity;
use crate::entities::{local_credential, password_reset, sign_in_settings};
use crate::error::{IdentityError, Refusal};
use crate::outbox;
use crate::people::{self, Person, PersonStatus};
use crate::reauthentication::{self, Proof};
use crate::sessions::{ClientContext, SessionsToEnd};
use crate::signin::SignedIn;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hub_kernel::{FieldViolation, Secret};
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::{ActiveTenant, Scope, TenantError, TenantPrincipal, TenantScope};
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use uuid::Uuid;

const MIN_LENGTH: usize = 12;
const MAX_LENGTH: usize = 128;
const MAX_FAILED_ATTEMPTS: i32 = 5;
const LOCKOUT_MINUTES: i64 = 15;
const RESET_TOKEN_MINUTES: i64 = 30;

/// Common passwords long enough to pass the length rule (the short ones fail it anyway).
const BLOCKLIST: &[&str] = &[
    "password1234",
    "password12345",
    "password123456",
    "passwordpassword",
    "password1234!",
    "qwertyuiop123",
    "qwertyuiopasdf",
    "qwerty123456",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "iloveyou1234",
    "iloveyouiloveyou",
    "123456789012",
    "1234567890123",
    "abcdefghijkl",
    "abc123abc123",
    "letmein12345",
    "welcome12345",
    "welcome123456",
    "changeme1234",
    "administrator",
    "administrator1",
    "trustno1trustno1",
    "football1234",
    "baseball1234",
    "superman1234",
    "starwars1234",
    "monkey123456",
    "dragon123456",
    "sunshine1234",
    "princess1234",
    "qazwsxedcrfv",
    "zaq12wsxcde3",
    "p@ssw0rd1234",
    "passw0rd1234",
];

/// Why a password is refused, one reason per entry.
pub fn weaknesses(password: &str, person: Option<&Person>) -> Vec<String> {
    let mut why = Vec::new();
    let length = password.chars().count();
    if length < MIN_LENGTH {
        why.push(format!(
            "must be at least {MIN_LENGTH} characters (a passphrase of several words works well)"
        ));
    }
    if length > MAX_LENGTH {
        why.push(format!("must be at most {MAX_LENGTH} characters"));
    }
    let lower = password.to_lowercase();
    let distinct: std::collections::BTreeSet<char> = lower.chars().collect();
    if length >= MIN_LENGTH && distinct.len() < 5 {
        why.push("uses too few different characters".into());
    }
    let sequential = lower
        .as_bytes()
        .windows(2)
        .all(|w| w[1] == w[0].wrapping_add(1) || w[1] == w[0].wrapping_sub(1));
    if BLOCKLIST.contains(&lower.as_str()) || (length >= MIN_LENGTH && sequential) {
        why.push("is a commonly used password".into());
    }
    if let Some(person) = person {
        let mut own: Vec<String> = person
            .name
            .expose()
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        if let Some(u) = &person.username {
            own.push(u.expose().to_lowercase());
        }
        if let Some(e) = &person.email {
            own.extend(e.expose().split('@').next().map(str::to_lowercase));
        }
        if own
            .iter()
            .any(|part| part.chars().count() >= 3 && lower.contains(part.as_str()))
        {
            why.push("must not contain your name, username or email".into());
        }
    }
    why
}

fn check_strength(
    field: &str,
    password: &str,
    person: Option<&Person>,
) -> Result<(), IdentityError> {
    let why = weaknesses(password, person);
    if why.is_empty() {
        Ok(())
    } else {
        Err(IdentityError::Invalid(
            why.into_iter()
                .map(|w| FieldViolation::new(field, w))
                .collect(),
        ))
    }
}

async fn hash(password: Secret) -> Result<String, IdentityError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| IdentityError::Conflict(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| IdentityError::Conflict(e.to_string()))?
}

async fn verify(password: Secret, stored: String) -> bool {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.expose().as_bytes(), stored.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// A hash to verify against when the login names nobody, so that an unknown login costs
/// the same time as a wrong password and does not reveal who has an account.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"decoy password that matches nothing")
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn refused(reason: Refusal, detail: &str) -> IdentityError {
    IdentityError::refused(reason, detail)
}

/// Whether the institution allows local accounts.
pub async fn local_accounts_allowed(scope: &TenantScope) -> Result<bool, IdentityError> {
    Ok(sign_in_settings::Entity::find_by_id(1)
        .one(scope.db())
        .await?
        .is_some_and(|s| s.local_accounts))
}

pub struct SignInSettings {
    pub local_accounts: bool,
    pub revision: i32,
    pub updated_at: DateTime<Utc>,
}

pub async fn settings(scope: &TenantScope) -> Result<SignInSettings, IdentityError> {
    scope.require(Scope::TenantAdmin)?;
    let row = sign_in_settings::Entity::find_by_id(1)
        .one(scope.db())
        .await?
        .ok_or(IdentityError::NotFound("sign-in settings"))?;
    Ok(SignInSettings {
        local_accounts: row.local_accounts,
        revision: row.revision,
        updated_at: row.updated_at,
    })
}

pub async fn set_settings(
    scope: &TenantScope,
    local_accounts: bool,
    expected_revision: Option<i32>,
) -> Result<SignInSettings, IdentityError> {
    scope.require(Scope::TenantAdmin)?;
    // No expected revision (`If-Match: *`): whichever revision is current.
    let expected_revision = match expected_revision {
        Some(revision) => revision,
        None => settings(scope).await?.revision,
    };
    let updated = sign_in_settings::Entity::update_many()
        .col_expr(
            sign_in_settings::Column::LocalAccounts,
            Expr::value(local_accounts),
        )
        .col_expr(
            sign_in_settings::Column::Revision,
            Expr::value(expected_revision + 1),
        )
        .col_expr(sign_in_settings::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(sign_in_settings::Column::Id.eq(1))
        .filter(sign_in_settings::Column::Revision.eq(expected_revision))
        .exec(scope.db())
        .await?;
    if updated.rows_affected == 0 {
        let current = settings(scope).await?;
        return Err(IdentityError::RevisionMismatch {
            current: current.revision,
        });
    }
    audit::record(
        scope,
        AuditEvent::new("sign_in_settings.updated")
            .detail(serde_json::json!({ "local_accounts": local_accounts })),
    )
    .await?;
    settings(scope).await
}

impl Identity {
    async fn tenant_by_slug(&self, slug: &str) -> Result<ActiveTenant, IdentityError> {
        self.tenancy
            .active_tenant_by_slug(slug)
            .await
            .map_err(|e| match e {
                // An unknown institution looks like wrong credentials: nothing to enumerate.
                TenantError::NotFound(_) => {
                    refused(Refusal::Credentials, "the login or password is wrong")
                }
                other => other.into(),
            })
    }

    /// Signs a person in with their username or email and password.
    pub async fn sign_in_with_password(
        &self,
        tenant_slug: &str,
        login: &str,
        password: Secret,
        context: ClientContext,
    ) -> Result<SignedIn, IdentityError> {
        let tenant = self.tenant_by_slug(tenant_slug).await?;
        let mut scope = self.tenancy.sign_in_scope(&tenant).await?;
        scope.set_client_ip(Some(context.ip_address.clone()));
        if !local_accounts_allowed(&scope).await? {
            return Err(refused(
                Refusal::LocalAccountsDisabled,
                "this institution signs people in through its identity provider only",
            ));
        }
        let person = match people::find_by_email(&scope, login).await? {
            Some(p) => Some(p),
            None => people::find_by_username(&scope, login).await?,
        };
        let credential = match &person {
            Some(p) => {
                local_credential::Entity::find_by_id(p.id)
                    .one(scope.db())
                    .await?
            }
            None => None,
        };
        let (Some(person), Some(credential)) = (person, credential) else {
            let _ = verify(password, decoy_hash().to_string()).await;
            return self
                .fail(
                    scope,
                    None,
                    Refusal::Credentials,
                    "the login or password is wrong",
                )
                .await;
        };
        let now = Utc::now();
        if credential.locked_until.is_some_and(|until| until > now) {
            return self
                .fail(
                    scope,
                    Some(person.id),
                    Refusal::Locked,
                    "too many wrong passwords: this account is locked for a while; reset the password to unlock it now",
                )
                .await;
        }
        if !verify(password, credential.password_hash.clone()).await {
            let failed = credential.failed_attempts + 1;
            let locked_until =
                (failed >= MAX_FAILED_ATTEMPTS).then(|| now + Duration::minutes(LOCKOUT_MINUTES));
            local_credential::Entity::update_many()
                .col_expr(
                    local_credential::Column::FailedAttempts,
                    Expr::value(if locked_until.is_some() { 0 } else { failed }),
                )
                .col_expr(
                    local_credential::Column::LockedUntil,
                    Expr::value(locked_until),
                )
                .filter(local_credential::Column::PersonId.eq(person.id))
                .exec(scope.db())
                .await?;
            return self
                .fail(
                    scope,
                    Some(person.id),
                    Refusal::Credentials,
                    "the login or password is wrong",
                )
                .await;
        }
        let Some(scopes) = people::session_scopes(&person) else {
            return self
                .fail(
                    scope,
                    Some(person.id),
                    Refusal::Deactivated,
                    "this person's account is deactivated",
                )
                .await;
        };
        let authenticated =
            match reauthentication::check(&scope, &person, Proof::Password(&credential)).await {
                Ok(authenticated) => authenticated,
                Err(IdentityError::SignInRefused { reason, detail }) => {
                    return self.fail(scope, Some(person.id), reason, &detail).await;
                }
                Err(other) => return Err(other),
            };
        local_credential::Entity::update_many()
            .col_expr(local_credential::Column::FailedAttempts, Expr::value(0))
            .col_expr(
                local_credential::Column::LockedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(local_credential::Column::PersonId.eq(person.id))
            .exec(scope.db())
            .await?;
        let roles = person.roles.clone();
        // A password sign-in keeps the person's roles: no session needs to end for it.
        let person = people::record_sign_in(
            &scope,
            &person,
            person.email.as_ref().map(|e| e.expose().as_str()),
            &roles,
            &mut SessionsToEnd::default(),
        )
        .await?;
        audit::record(
            &scope,
            AuditEvent::new("sign_in.succeeded")
                .person(person.id)
                .detail(serde_json::json!({ "method": "password" })),
        )
        .await?;
        let session = self
            .sessions
            .open(&scope, &authenticated, &scopes, context)
            .await?;
        if let Err(e) = scope.commit().await {
            let _ = self
                .sessions
                .revoke(tenant.location.tenant_id, person.id, session.id)
                .await;
            return Err(e.into());
        }
        Ok(SignedIn {
            session,
            person,
            tenant_slug: tenant.slug,
        })
    }

    /// Commits what a failed attempt changed (lockout counters) with its audit entry.
    async fn fail<T>(
        &self,
        scope: TenantScope,
        person: Option<Uuid>,
        reason: Refusal,
        detail: &str,
    ) -> Result<T, IdentityError> {
        let mut event = AuditEvent::new("sign_in.failed")
            .detail(serde_json::json!({ "code": reason.code(), "method": "password" }));
        if let Some(id) = person {
            event = event.person(id);
        }
        audit::record(&scope, event).await?;
        scope.commit().await?;
        Err(refused(reason, detail))
    }

    /// Queues a reset link for the person with this email, if there is one. The answer is
    /// the same either way, so the endpoint cannot be used to find out who has an account.
    pub async fn request_password_reset(
        &self,
        tenant_slug: &str,
        email: &str,
    ) -> Result<(), IdentityError> {
        let Ok(tenant) = self.tenant_by_slug(tenant_slug).await else {
            return Ok(());
        };
        let scope = self.tenancy.sign_in_scope(&tenant).await?;
        if !local_accounts_allowed(&scope).await? {
            return Ok(());
        }
        let Some(person) = people::find_by_email(&scope, email).await? else {
            return Ok(());
        };
        if person.status != PersonStatus::Active {
            return Ok(());
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let now = Utc::now();
        password_reset::Entity::insert(password_reset::ActiveModel {
            token_hash: Set(token_hash(&token)),
            person_id: Set(person.id),
            expires_at: Set(now + Duration::minutes(RESET_TOKEN_MINUTES)),
            used_at: Set(None),
            created_at: Set(now),
        })
        .exec_without_returning(scope.db())
        .await?;
        let text = format!(
            "Someone asked to reset your password. If it was you, use this code within \
             {RESET_TOKEN_MINUTES} minutes: {token} — if not, ignore this message."
        );
        let email = person.email.as_ref().map(|e| e.expose().as_str());
        outbox::queue(
            &self.tenancy,
            &scope,
            outbox::NewMessage {
                kind: "password_reset",
                purpose: outbox::MessagePurpose::Essential,
                person_id: person.id,
                email,
                subject: "Your password reset code",
                text: &text,
            },
        )
        .await?;
        audit::record(
            &scope,
            AuditEvent::new("password_reset.requested").person(person.id),
        )
        .await?;
        scope.commit().await?;
        Ok(())
    }

    /// Sets a new password with a reset token (single use, expiring); unlocks the account and
    /// ends the person's sessions.
    pub async fn reset_password(
        &self,
        tenant_slug: &str,
        token: &str,
        new_password: Secret,
    ) -> Result<(), IdentityError> {
        let invalid = || {
            refused(
                Refusal::ResetToken,
                "the reset code is unknown, used or expired; ask for a new one",
            )
        };
        let tenant = self
            .tenant_by_slug(tenant_slug)
            .await
            .map_err(|_| invalid())?;
        let scope = self.tenancy.sign_in_scope(&tenant).await?;
        if !local_accounts_allowed(&scope).await? {
            return Err(refused(
                Refusal::LocalAccountsDisabled,
                "this institution signs people in through its identity provider only",
            ));
        }
        let hash_of_token = token_hash(token);
        let reset = password_reset::Entity::find_by_id(hash_of_token.clone())
            .one(scope.db())
            .await?
            .filter(|r| r.used_at.is_none() && r.expires_at > Utc::now())
            .ok_or_else(invalid)?;
        let person = people::load(&scope, reset.person_id).await?;
        check_strength("new_password", new_password.expose(), Some(&person))?;
        let claimed = password_reset::Entity::update_many()
            .col_expr(password_reset::Column::UsedAt, Expr::value(Utc::now()))
            .filter(password_reset::Column::TokenHash.eq(hash_of_token))
            .filter(password_reset::Column::UsedAt.is_null())
            .exec(scope.db())
            .await?;
        if claimed.rows_affected != 1 {
            return Err(invalid());
        }
        store_password(&scope, person.id, new_password).await?;
        audit::record(&scope, AuditEvent::new("password.reset").person(person.id)).await?;
        scope.commit().await?;
        self.sessions
            .revoke_all(tenant.location.tenant_id, person.id)
            .await?;
        Ok(())
    }

    /// A signed-in person changes their password (their current one proves it is them).
    pub async fn change_password(
        &self,
        principal: &TenantPrincipal,
        current: Secret,
        new_password: Secret,
    ) -> Result<(), IdentityError> {
        let person_id = principal
            .actor
            .person_id()
            .ok_or(IdentityError::PersonOnly)?;
        let scope = self.tenancy.scope(principal).await?;
        if !local_accounts_allowed(&scope).await? {
            return Err(refused(
                Refusal::LocalAccountsDisabled,
                "this institution signs people in through its identity provider only",
            ));
        }
        let person = people::load(&scope, person_id).await?;
        if let Some(existing) = local_credential::Entity::find_by_id(person_id)
            .one(scope.db())
            .await?
            && !verify(current, existing.password_hash).await
        {
            return Err(IdentityError::invalid(
                "current_password",
                "is not your current password",
            ));
        }
        check_strength("new_password", new_password.expose(), Some(&person))?;
        store_password(&scope, person_id, new_password).await?;
        audit::record(
            &scope,
            AuditEvent::new("password.changed").person(person_id),
        )
        .await?;
        scope.commit().await?;
        Ok(())
    }
}

async fn store_password(
    scope: &TenantScope,
    person_id: Uuid,
    password: Secret,
) -> Result<(), IdentityError> {
    let hashed = hash(password).await?;
    let now = Utc::now();
    local_credential::Entity::delete_many()
        .filter(local_credential::Column::PersonId.eq(person_id))
        .exec(scope.db())
        .await?;
    local_credential::Entity::insert(local_credential::ActiveModel {
        person_id: Set(person_id),
        password_hash: Set(hashed),
        failed_attempts: Set(0),
        locked_until: Set(None),
        changed_at: Set(now),
        reset_required_at: Set(None),
    })
    .exec_without_returning(scope.db())
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promise_s5_weak_passwords_are_refused_with_reasons() {
        for weak in [
            "short",
            "password1234",
            "aaaaaaaaaaaaaaa",
            "abababababababab",
            "123456789012",
            "abcdefghijklmn",
        ] {
            assert!(!weaknesses(weak, None).is_empty(), "{weak} was accepted");
        }
        for strong in [
            "correct horse battery staple",
            "Tr0ub4dor&3-plus-more",
            "meadow-kettle-orbit-42",
        ] {
            assert!(
                weaknesses(strong, None).is_empty(),
                "{strong}: {:?}",
                weaknesses(strong, None)
            );
        }
    }

    #[test]
    fn argon2id_hashes_verify_and_never_contain_the_password() {
        let hashed = Argon2::default()
            .hash_password(b"correct horse battery staple")
            .unwrap()
            .to_string();
        assert!(hashed.starts_with("$argon2id$"), "{hashed}");
        assert!(!hashed.contains("correct horse"));
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery staple", hashed.as_str())
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong", hashed.as_str())
                .is_err()
        );
    }
}
