//! A credential in a request or response body (a password, a reset code, a client secret, a
//! token shown once): a JSON string in the spec, a [`Secret`] in memory, so the body structs
//! that carry one cannot Debug-print it.

use hub_kernel::Secret;
use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;
use std::borrow::Cow;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretText(Secret);

impl SecretText {
    pub fn into_secret(self) -> Secret {
        self.0
    }
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Secret> for SecretText {
    fn from(secret: Secret) -> Self {
        Self(secret)
    }
}

impl From<&str> for SecretText {
    fn from(text: &str) -> Self {
        Self(Secret::new(text))
    }
}

/// What length and pattern validators check.
impl AsRef<str> for SecretText {
    fn as_ref(&self) -> &str {
        self.0.expose()
    }
}

/// Exactly a `string` in the spec: the wrapper changes what prints, not the contract.
impl Type for SecretText {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ParseFromJSON for SecretText {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        String::parse_from_json(value)
            .map(|text| Self(Secret::new(text)))
            .map_err(ParseError::propagate)
    }
}

impl ToJSON for SecretText {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.expose().to_string()))
    }
}
