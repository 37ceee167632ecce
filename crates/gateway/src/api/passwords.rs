//! Local (password) accounts, where the institution allows them: its sign-in settings, the
//! public sign-in and reset operations, and a signed-in person's password change.

use crate::api::secret_text::SecretText;
use crate::api::sso::{SignedIn, client_context};
use crate::api::{ApiTags, etag, require_if_match};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_identity::passwords::{self, SignInSettings};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;

/// How people of the institution may sign in.
#[derive(Debug, Clone, Object)]
pub struct SignInSettingsView {
    /// `false`: SSO only (the default). `true`: SSO plus local password accounts.
    pub local_accounts: bool,
    pub revision: i32,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct SignInSettingsUpdate {
    pub local_accounts: bool,
}

impl Example for SignInSettingsUpdate {
    fn example() -> Self {
        Self {
            local_accounts: true,
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct PasswordSignIn {
    /// The institution's slug.
    pub tenant: String,
    /// Username or email.
    pub login: String,
    pub password: SecretText,
}

impl Example for PasswordSignIn {
    fn example() -> Self {
        Self {
            tenant: "northfield".into(),
            login: "ada@northfield.example".into(),
            password: "correct horse battery staple".into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub tenant: String,
    pub email: String,
}

impl Example for PasswordResetRequest {
    fn example() -> Self {
        Self {
            tenant: "northfield".into(),
            email: "ada@northfield.example".into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct PasswordReset {
    pub tenant: String,
    /// The code from the reset message.
    pub token: SecretText,
    /// At least 12 characters, not a common password, nothing from your name or email.
    pub new_password: SecretText,
}

impl Example for PasswordReset {
    fn example() -> Self {
        Self {
            tenant: "northfield".into(),
            token: "code-from-the-message".into(),
            new_password: "meadow-kettle-orbit-42".into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct PasswordChange {
    /// Needed when the person already has a password.
    pub current_password: Option<SecretText>,
    pub new_password: SecretText,
}

impl Example for PasswordChange {
    fn example() -> Self {
        Self {
            current_password: Some("correct horse battery staple".into()),
            new_password: "meadow-kettle-orbit-42".into(),
        }
    }
}

#[derive(ApiResponse)]
pub enum SettingsFound {
    #[oai(status = 200)]
    Ok(Json<SignInSettingsView>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum Accepted {
    /// Queued if the address belongs to an account; the answer is the same either way.
    #[oai(status = 202)]
    Accepted,
}

#[derive(ApiResponse)]
pub enum Done {
    #[oai(status = 204)]
    NoContent,
}

fn settings_found(s: SignInSettings) -> SettingsFound {
    let tag = etag(s.revision);
    SettingsFound::Ok(
        Json(SignInSettingsView {
            local_accounts: s.local_accounts,
            revision: s.revision,
            updated_at: s.updated_at,
        }),
        tag,
    )
}

#[derive(Default)]
pub struct PasswordsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::LocalAccounts")]
impl PasswordsApi {
    /// Sign-in settings
    ///
    /// Requires scope `tenant:admin`.
    #[oai(
        path = "/sign-in-settings",
        method = "get",
        operation_id = "getSignInSettings"
    )]
    async fn get_sign_in_settings(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<SettingsFound, ApiError> {
        let found = state
            .tenancy
            .read(
                &auth.0,
                |scope| async move { passwords::settings(&scope).await },
            )
            .await?;
        Ok(settings_found(found))
    }

    /// Change sign-in settings
    ///
    /// Requires scope `tenant:admin` and `If-Match`. Allowing local accounts lets people set
    /// a password (through the reset flow) beside SSO.
    #[oai(
        path = "/sign-in-settings",
        method = "put",
        operation_id = "updateSignInSettings"
    )]
    async fn update_sign_in_settings(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// The `ETag` last read.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<SignInSettingsUpdate>,
    ) -> Result<SettingsFound, ApiError> {
        let expected = require_if_match(if_match.0.as_deref())?;
        let scope = state.tenancy.scope(&auth.0).await?;
        let updated = passwords::set_settings(&scope, body.0.local_accounts, expected).await?;
        scope.commit().await?;
        Ok(settings_found(updated))
    }

    /// Sign in with a password
    ///
    /// Public. Only where the institution allows local accounts. Five wrong passwords in a
    /// row lock the account for 15 minutes (a reset unlocks it); an unknown login and a wrong
    /// password get the same answer. After the person reported their account compromised,
    /// the right password is answered `password_reset_required` (401) until it is reset.
    #[oai(
        path = "/auth/password",
        method = "post",
        operation_id = "signInWithPassword"
    )]
    async fn sign_in_with_password(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: Json<PasswordSignIn>,
    ) -> Result<SignedIn, ApiError> {
        let input = body.0;
        let signed_in = state
            .identity
            .sign_in_with_password(
                &input.tenant,
                &input.login,
                input.password.into_secret(),
                client_context(req),
            )
            .await?;
        Ok(SignedIn::Ok(Json(signed_in.into())))
    }

    /// Ask for a password reset
    ///
    /// Public. If the email belongs to an active account of an institution that allows local
    /// accounts, a single-use code valid 30 minutes is sent to it. Always 202.
    #[oai(
        path = "/auth/password-reset-requests",
        method = "post",
        operation_id = "requestPasswordReset"
    )]
    async fn request_password_reset(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<PasswordResetRequest>,
    ) -> Result<Accepted, ApiError> {
        state
            .identity
            .request_password_reset(&body.0.tenant, &body.0.email)
            .await?;
        Ok(Accepted::Accepted)
    }

    /// Reset a password
    ///
    /// Public. Sets a new password with the code from the reset message (once), unlocks the
    /// account and ends the person's sessions.
    #[oai(
        path = "/auth/password-resets",
        method = "post",
        operation_id = "resetPassword"
    )]
    async fn reset_password(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<PasswordReset>,
    ) -> Result<Done, ApiError> {
        let input = body.0;
        state
            .identity
            .reset_password(
                &input.tenant,
                input.token.expose(),
                input.new_password.into_secret(),
            )
            .await?;
        Ok(Done::NoContent)
    }

    /// Change my password
    ///
    /// Any signed-in person, where the institution allows local accounts.
    #[oai(
        path = "/me/password",
        method = "put",
        operation_id = "changeMyPassword"
    )]
    async fn change_my_password(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<PasswordChange>,
    ) -> Result<Done, ApiError> {
        let input = body.0;
        state
            .identity
            .change_password(
                &auth.0,
                input
                    .current_password
                    .map(SecretText::into_secret)
                    .unwrap_or_default(),
                input.new_password.into_secret(),
            )
            .await?;
        Ok(Done::NoContent)
    }
}
