//! Redacting wrappers: [`Pii`] for personal data and [`Secret`] for credentials (passwords,
//! tokens, client secrets, key material as text). Neither prints itself, so a stray `{:?}` or
//! a tracing field cannot leak a name, an address or a password into logs.

use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroize;

#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pii<T>(T);

impl<T> Pii<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }
    /// Deliberate access to the value; grep for it when auditing data flows.
    pub fn expose(&self) -> &T {
        &self.0
    }
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pii(<redacted>)")
    }
}

impl<T> fmt::Display for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A credential as text. Debug shows `Secret(<redacted>)`; there is no Display, so it cannot
/// be interpolated into a message by accident; the text is wiped from memory when dropped.
/// Serde reads and writes the plain value (configuration, sealed session state), which is a
/// deliberate exposure like [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// Deliberate access to the value; grep for it when auditing where credentials go.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_debug_prints_its_value() {
        let secret = Secret::new("hunter2-correct-horse");
        let wrapped = Some(vec![secret.clone()]);
        assert!(!format!("{secret:?} {wrapped:?} {wrapped:#?}").contains("hunter2"));
        assert_eq!(secret.expose(), "hunter2-correct-horse");
        assert_eq!(
            serde_json::to_string(&secret).unwrap(),
            "\"hunter2-correct-horse\""
        );
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let email = Pii::new("ada@example.edu".to_string());
        assert!(!format!("{email:?} {email}").contains("ada"));
        assert_eq!(email.expose(), "ada@example.edu");
    }
}
