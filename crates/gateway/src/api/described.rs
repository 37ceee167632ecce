//! [`Described`]: a field of a named schema type that carries its own description or
//! default, written in the spec the way SDK generators read it.
//!
//! Such a field cannot be a bare `$ref` (OpenAPI 3.0 ignores a `$ref`'s siblings), so
//! poem-openapi writes `{description, allOf: [{$ref}, {description}]}`. The copy inside
//! `allOf` adds nothing, but generators take it for a new type: openapi-python-client drops
//! the whole model when the reference is an enum ("Cannot take allOf a non-object", which
//! lost `createCourse` from the SDK) and makes a copy class per field when it is an object.
//! `Described` writes `{description, allOf: [{$ref}]}` instead, the usual idiom: same meaning,
//! and generators use the referenced type itself. On the wire it is exactly `T`.

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Described<T>(pub T);

impl<T> From<T> for Described<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T: Type> Type for Described<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;

    type RawValueType = T::RawValueType;

    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        match T::schema_ref() {
            // Inline, so that the field's description and default merge into this schema
            // rather than into a second `allOf` entry.
            MetaSchemaRef::Reference(name) => MetaSchemaRef::Inline(Box::new(MetaSchema {
                all_of: vec![MetaSchemaRef::Reference(name)],
                ..MetaSchema::ANY
            })),
            inline @ MetaSchemaRef::Inline(_) => inline,
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_raw_value()
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        self.0.raw_element_iter()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl<T: ParseFromJSON> ParseFromJSON for Described<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        T::parse_from_json(value)
            .map(Self)
            .map_err(ParseError::propagate)
    }
}

impl<T: ToJSON> ToJSON for Described<T> {
    fn to_json(&self) -> Option<Value> {
        self.0.to_json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem_openapi::Enum;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
    #[oai(rename_all = "snake_case")]
    enum Colour {
        Red,
    }

    #[test]
    fn a_reference_becomes_a_single_entry_all_of() {
        let MetaSchemaRef::Inline(schema) = <Described<Colour>>::schema_ref() else {
            panic!("expected an inline schema");
        };
        assert_eq!(schema.all_of, vec![Colour::schema_ref()]);
        assert!(schema.description.is_none() && schema.ty.is_empty());
    }

    #[test]
    fn on_the_wire_it_is_the_inner_value() {
        let value = Described(Colour::Red).to_json();
        assert_eq!(value, Some(Value::String("red".into())));
        let parsed = <Described<Colour>>::parse_from_json(value).ok();
        assert_eq!(parsed, Some(Described(Colour::Red)));
    }
}
