//! Credentials never print (S7): every struct that carries a password, a token, a client
//! secret or key material holds it in a redacting type (`hub_kernel::Secret`, or
//! `SecretText` in HTTP bodies), so `{:?}` and tracing fields show `<redacted>`.
//!
//! Two checks: each such struct Debug-formatted with a known secret does not show it, and a
//! scan of every crate's source fails when a field whose name says it is a credential is a
//! plain string, so a new credential field cannot be added unwrapped.

use chrono::Utc;
use hub_gateway::api::api_keys::IssuedApiKeyView;
use hub_gateway::api::passwords::{PasswordChange, PasswordReset, PasswordSignIn};
use hub_gateway::api::sso::{SignInResult, SsoConnectionCreate};
use hub_gateway::config::Config;
use hub_identity::connections::NewConnection;
use hub_identity::sessions::IssuedSession;
use hub_identity::signin::Callback;
use hub_kernel::Secret;
use hub_tenant::credentials::{ApiKeyInfo, IssuedKey};
use poem_openapi::types::{Example, ParseFromJSON};
use std::path::{Path, PathBuf};

const SECRET: &str = "s3cret-Never-Printed-8f2c";

/// Each value's Debug form, beside the secrets it holds.
fn debug_forms() -> Vec<(&'static str, String, Vec<String>)> {
    let issued_key = IssuedKey {
        info: ApiKeyInfo {
            id: uuid::Uuid::nil(),
            name: "ci".into(),
            scopes: Vec::new(),
            created_by: "operator".into(),
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        },
        token: Secret::new(SECRET),
    };
    let sign_in_result = SignInResult::parse_from_json(Some(serde_json::json!({
        "session_token": SECRET,
        "session_id": uuid::Uuid::nil(),
        "expires_at": Utc::now(),
        "tenant_slug": "northfield",
        "person": {
            "id": uuid::Uuid::nil(), "name": "Ada", "username": null, "email": null,
            "phone": null, "birth_date": null, "roles": [], "status": "active",
            "source": "admin", "revision": 1, "last_sign_in_at": null,
            "created_at": Utc::now(), "updated_at": Utc::now(),
        },
    })))
    .expect("a sign-in result");
    let mut forms = vec![
        (
            "Config",
            format!(
                "{:?}",
                Config {
                    kek: Some(SECRET.into()),
                    ..Config::default()
                }
            ),
            vec![SECRET.to_string()],
        ),
        (
            "Config with credentials in URLs",
            format!("{:?}", config_with_url_credentials()),
            vec![SECRET.to_string(), format!("{SECRET}-query")],
        ),
        (
            "IssuedKey",
            format!("{issued_key:?}"),
            vec![SECRET.to_string()],
        ),
        (
            "IssuedApiKeyView",
            format!("{:?}", IssuedApiKeyView::from(issued_key.clone())),
            vec![SECRET.to_string()],
        ),
        (
            "IssuedSession",
            format!(
                "{:?}",
                IssuedSession {
                    token: Secret::new(SECRET),
                    id: uuid::Uuid::nil(),
                    expires_at: Utc::now(),
                }
            ),
            vec![SECRET.to_string()],
        ),
        (
            "SignInResult",
            format!("{sign_in_result:?}"),
            vec![SECRET.to_string()],
        ),
        (
            "NewConnection",
            format!(
                "{:?}",
                NewConnection {
                    name: "IdP".into(),
                    issuer: "https://idp.example".into(),
                    client_id: "hub".into(),
                    client_secret: Secret::new(SECRET),
                    scopes: None,
                    group_roles: Default::default(),
                    default_role: None,
                }
            ),
            vec![SECRET.to_string()],
        ),
        (
            "Callback",
            format!(
                "{:?}",
                Callback {
                    code: Some(Secret::new(SECRET)),
                    ..Callback::default()
                }
            ),
            vec![SECRET.to_string()],
        ),
    ];
    // Request bodies: their documented examples carry the secrets.
    let sign_in = PasswordSignIn::example();
    forms.push((
        "PasswordSignIn",
        format!("{sign_in:?}"),
        vec![sign_in.password.expose().to_string()],
    ));
    let reset = PasswordReset::example();
    forms.push((
        "PasswordReset",
        format!("{reset:?}"),
        vec![
            reset.token.expose().to_string(),
            reset.new_password.expose().to_string(),
        ],
    ));
    let change = PasswordChange::example();
    forms.push((
        "PasswordChange",
        format!("{change:?}"),
        vec![
            change
                .current_password
                .as_ref()
                .map(|p| p.expose().to_string())
                .expect("the example has a current password"),
            change.new_password.expose().to_string(),
        ],
    ));
    let connection = SsoConnectionCreate::example();
    forms.push((
        "SsoConnectionCreate",
        format!("{connection:?}"),
        vec![connection.client_secret.expose().to_string()],
    ));
    forms
}

/// Every URL-ish setting holding a password, in each form a URL carries one.
fn config_with_url_credentials() -> Config {
    Config {
        database_url: Some(format!("postgres://hub:{SECRET}@db.internal:5432/hub")),
        key_database_url: Some(format!(
            "postgres://keys:{SECRET}@keys.internal:5432/hub_keys"
        )),
        redis_url: Some(format!("rediss://:{SECRET}@cache.internal:6380/0")),
        clusters: [(
            "eu".to_string(),
            format!(
                "postgresql://hub:{SECRET}@eu.internal/hub?sslmode=require&password={SECRET}-query"
            ),
        )]
        .into(),
        public_url: Some(format!("https://ops:{SECRET}@hub.example")),
        ..Config::default()
    }
}

/// The Debug form is written out (to redact URLs in every setting): it must name every
/// setting the configuration has, so a new setting cannot be left out of it, and a URL's
/// user and host stay readable.
#[test]
fn promise_s7_config_debug_names_every_setting_and_hides_url_passwords() {
    let config = config_with_url_credentials();
    let form = format!("{config:?}");
    let settings = serde_json::to_value(Config::default()).unwrap();
    let settings = settings.as_object().unwrap();
    assert!(settings.len() > 20, "{settings:?}");
    let missing: Vec<&String> = settings
        .keys()
        .filter(|k| !form.contains(&format!("{k}: ")))
        .collect();
    assert!(
        missing.is_empty(),
        "Config's Debug leaves out {missing:?}: {form}"
    );
    assert!(!form.contains(SECRET), "{form}");
    assert!(
        form.contains("postgres://hub:<redacted>@db.internal:5432/hub"),
        "{form}"
    );
    assert!(
        form.contains("rediss://:<redacted>@cache.internal:6380/0"),
        "{form}"
    );
    assert!(
        form.contains("sslmode=require&password=<redacted>"),
        "{form}"
    );
    // A URL without a password is shown as it is.
    let plain = format!(
        "{:?}",
        Config {
            redis_url: Some("redis://127.0.0.1:6379".into()),
            ..Config::default()
        }
    );
    assert!(plain.contains("redis://127.0.0.1:6379"), "{plain}");
}

#[test]
fn promise_s7_structs_holding_credentials_never_debug_print_them() {
    for (name, form, secrets) in debug_forms() {
        assert!(form.contains("<redacted>"), "{name}: {form}");
        for secret in secrets {
            assert!(!secret.is_empty(), "{name}: an empty secret proves nothing");
            assert!(
                !form.contains(&secret),
                "{name} prints a secret in Debug: {form}"
            );
        }
    }
}

/// Name segments that say a field holds a credential.
const CREDENTIAL_WORDS: &[&str] = &["secret", "password", "token", "kek", "verifier"];

/// Fields whose names say credential but that hold something that is not one, with why.
const NOT_CREDENTIALS: &[(&str, &str)] = &[
    // Digests and ciphertexts of credentials: what is stored instead of the credential.
    ("secret_hash", "SHA-256 of a session secret"),
    ("token_hash", "SHA-256 of a password-reset code"),
    ("password_hash", "Argon2id hash"),
    ("client_secret_sealed", "ciphertext under the tenant key"),
    ("token_endpoint", "an IdP's URL"),
    ("kek_id", "names which key-encryption key wrapped a key"),
    (
        "token",
        "crates/identity/src/entities/sso_domain.rs: a domain-verification token, published in DNS by design",
    ),
];

/// Types that hold text in the clear.
fn is_plain_text(ty: &str) -> bool {
    let mut ty = ty.trim().trim_end_matches(',').trim();
    while let Some(inner) = ty
        .strip_prefix("Option<")
        .or_else(|| ty.strip_prefix("Vec<"))
        .and_then(|t| t.strip_suffix('>'))
    {
        ty = inner.trim();
    }
    matches!(ty, "String" | "&str" | "&'static str" | "Vec<u8>" | "u8")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(file, line, field, type)` of every named struct field in every crate's source.
fn struct_fields() -> Vec<(String, usize, String, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    rust_files(&root.join("migrations"), &mut files);
    let mut fields = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let relative = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string()
            .replace("crates/../", "");
        // Depth of braces inside a `struct … {` block; fields are at depth 1.
        let mut in_struct = false;
        let mut depth = 0usize;
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("").trim();
            if !in_struct {
                let is_struct = code.contains("struct ") && code.ends_with('{');
                if is_struct {
                    in_struct = true;
                    depth = 1;
                }
                continue;
            }
            if depth == 1
                && let Some((name, ty)) = code.split_once(':')
            {
                let name = name
                    .trim()
                    .trim_start_matches("pub(crate) ")
                    .trim_start_matches("pub(super) ")
                    .trim_start_matches("pub ")
                    .trim();
                if !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
                {
                    fields.push((
                        relative.clone(),
                        number + 1,
                        name.to_string(),
                        ty.to_string(),
                    ));
                }
            }
            depth += code.matches('{').count();
            depth = depth.saturating_sub(code.matches('}').count());
            if depth == 0 {
                in_struct = false;
            }
        }
    }
    fields
}

#[test]
fn promise_s7_no_credential_field_is_a_plain_string() {
    let fields = struct_fields();
    assert!(
        fields.iter().any(|(_, _, name, _)| name == "client_secret"),
        "the scan found no fields: it is broken"
    );
    let allowed = |file: &str, name: &str| {
        NOT_CREDENTIALS.iter().any(|(field, why)| {
            *field == name && (!why.contains(".rs:") || why.starts_with(&format!("{file}:")))
        })
    };
    let offenders: Vec<String> = fields
        .iter()
        .filter(|(_, _, name, _)| name.split('_').any(|word| CREDENTIAL_WORDS.contains(&word)))
        .filter(|(file, _, name, ty)| is_plain_text(ty) && !allowed(file, name))
        .map(|(file, line, name, ty)| format!("{file}:{line}: {name}: {}", ty.trim()))
        .collect();
    assert!(
        offenders.is_empty(),
        "credential fields held as plain text (use hub_kernel::Secret, or SecretText in an \
         HTTP body; or list a non-credential in NOT_CREDENTIALS with why):\n{}",
        offenders.join("\n")
    );
}
