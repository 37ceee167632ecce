//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9): which attributes of a
//! resource an answer carries. `attributes` replaces the default set; `excludedAttributes`
//! takes attributes out of it. `id` and `schemas` are always returned (RFC 7643 §3.1, §7:
//! `returned: always`). Names may carry the resource's schema URN
//! (`urn:ietf:params:scim:schemas:core:2.0:User:name.givenName`) and one sub-attribute
//! (`emails.value`); they compare without case. A name this service does not serve selects
//! nothing (there is nothing to return), it is not an error.

use super::bad_value;
use crate::error::IdentityError;
use serde_json::Value;

/// Always in an answer, whatever was asked.
const ALWAYS: &[&str] = &["id", "schemas"];

/// The most attribute names one request may list.
pub const MAX_NAMES: usize = 50;

/// An attribute path: the attribute and, optionally, one of its sub-attributes (lowercase).
#[derive(Debug, Clone, PartialEq, Eq)]
struct AttributePath {
    attribute: String,
    sub: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    /// `None`: the default set.
    include: Option<Vec<AttributePath>>,
    exclude: Vec<AttributePath>,
}

impl Projection {
    /// From the query parameters: comma-separated names.
    pub fn from_query(
        attributes: Option<&str>,
        excluded: Option<&str>,
        schema: &str,
    ) -> Result<Self, IdentityError> {
        let split = |text: Option<&str>| -> Vec<String> {
            text.map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
        };
        Self::from_lists(
            attributes.map(|_| split(attributes)),
            &split(excluded),
            schema,
        )
    }

    /// From lists of names (a `SearchRequest` body).
    pub fn from_lists(
        attributes: Option<Vec<String>>,
        excluded: &[String],
        schema: &str,
    ) -> Result<Self, IdentityError> {
        let count = attributes.as_ref().map_or(0, Vec::len) + excluded.len();
        if count > MAX_NAMES {
            return Err(bad_value(format!(
                "attributes: at most {MAX_NAMES} attribute names"
            )));
        }
        let parse = |names: &[String]| -> Vec<AttributePath> {
            names.iter().filter_map(|n| path_of(n, schema)).collect()
        };
        Ok(Self {
            include: attributes.filter(|a| !a.is_empty()).map(|a| parse(&a)),
            exclude: parse(excluded),
        })
    }

    /// Whether the answer is the default set, untouched.
    pub fn is_default(&self) -> bool {
        self.include.is_none() && self.exclude.is_empty()
    }

    /// Keeps in `resource` (a JSON object) only what was asked for.
    pub fn apply(&self, resource: &mut Value) {
        let Value::Object(map) = resource else {
            return;
        };
        if let Some(include) = &self.include {
            map.retain(|key, value| {
                let key = key.to_ascii_lowercase();
                if ALWAYS.contains(&key.as_str()) {
                    return true;
                }
                let named: Vec<&AttributePath> =
                    include.iter().filter(|p| p.attribute == key).collect();
                if named.is_empty() {
                    return false;
                }
                if named.iter().any(|p| p.sub.is_none()) {
                    return true;
                }
                let subs: Vec<&str> = named.iter().filter_map(|p| p.sub.as_deref()).collect();
                for_each_object(value, |object| {
                    object.retain(|k, _| subs.contains(&k.to_ascii_lowercase().as_str()));
                });
                true
            });
        }
        for path in &self.exclude {
            if ALWAYS.contains(&path.attribute.as_str()) {
                continue;
            }
            let Some(key) = map
                .keys()
                .find(|k| k.eq_ignore_ascii_case(&path.attribute))
                .cloned()
            else {
                continue;
            };
            match &path.sub {
                None => {
                    map.remove(&key);
                }
                Some(sub) => {
                    if let Some(value) = map.get_mut(&key) {
                        for_each_object(value, |object| {
                            object.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                        });
                    }
                }
            }
        }
    }

    /// [`Projection::apply`] to every resource of a ListResponse.
    pub fn apply_to_list(&self, list: &mut Value) {
        if let Some(Value::Array(resources)) = list.get_mut("Resources") {
            for resource in resources {
                self.apply(resource);
            }
        }
    }
}

/// `value` itself if it is an object, or each object of it if it is a list.
fn for_each_object(value: &mut Value, mut f: impl FnMut(&mut serde_json::Map<String, Value>)) {
    match value {
        Value::Object(object) => f(object),
        Value::Array(items) => {
            for item in items {
                if let Value::Object(object) = item {
                    f(object);
                }
            }
        }
        _ => {}
    }
}

/// A name as a path of this schema's attributes; `None` for another schema's (an extension
/// this service does not serve).
fn path_of(name: &str, schema: &str) -> Option<AttributePath> {
    let name = name.trim();
    // `get`, not indexing: a name is client input, and a byte offset inside a multi-byte
    // character is no prefix of an ASCII schema URN (indexing there panics).
    let local = if name
        .get(..schema.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(schema))
        && name.as_bytes().get(schema.len()) == Some(&b':')
    {
        &name[schema.len() + 1..]
    } else if name.to_ascii_lowercase().starts_with("urn:") {
        return None;
    } else {
        name
    };
    let local = local.to_ascii_lowercase();
    let (attribute, sub) = match local.split_once('.') {
        Some((a, s)) => (a.to_string(), Some(s.to_string())),
        None => (local, None),
    };
    Some(AttributePath { attribute, sub })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    fn user() -> Value {
        json!({
            "schemas": [USER], "id": "1", "userName": "ada", "displayName": "Ada",
            "emails": [{"value": "ada@x.test", "primary": true}],
            "meta": {"version": "W/\"1\""}
        })
    }

    #[test]
    fn attributes_replace_the_default_set_and_keep_what_is_always_returned() {
        let mut u = user();
        Projection::from_query(Some("userName,emails.value"), None, USER)
            .unwrap()
            .apply(&mut u);
        assert_eq!(
            u,
            json!({"schemas": [USER], "id": "1", "userName": "ada",
                   "emails": [{"value": "ada@x.test"}]})
        );
        let mut u = user();
        Projection::from_query(Some(&format!("{USER}:displayName")), None, USER)
            .unwrap()
            .apply(&mut u);
        assert_eq!(
            u,
            json!({"schemas": [USER], "id": "1", "displayName": "Ada"})
        );
    }

    #[test]
    fn a_name_with_multibyte_characters_where_the_schema_ends_is_no_panic() {
        // Found by schemathesis: byte 43 fell inside a 4-byte character.
        let name = "𝑻𝒉𝒆 𝒒𝒖𝒊𝒄𝒌 𝒃𝒓𝒐𝒘𝒏 𝒇𝒐𝒙 𝒋𝒖𝒎𝒑𝒔 𝒐𝒗𝒆𝒓 𝒕𝒉𝒆 𝒍𝒂𝒛𝒚 𝒅𝒐𝒈";
        assert!(name.len() > USER.len());
        let _ = Projection::from_query(Some(name), None, USER);
        let _ = Projection::from_query(None, Some(name), USER);
    }

    #[test]
    fn excluded_attributes_leave_the_rest_and_never_remove_id() {
        let mut u = user();
        Projection::from_query(None, Some("emails, meta,id,EMAILS.primary"), USER)
            .unwrap()
            .apply(&mut u);
        assert_eq!(
            u,
            json!({"schemas": [USER], "id": "1", "userName": "ada", "displayName": "Ada"})
        );
        let mut u = user();
        Projection::from_query(None, Some("emails.primary"), USER)
            .unwrap()
            .apply(&mut u);
        assert_eq!(u["emails"], json!([{"value": "ada@x.test"}]));
        let mut u = user();
        let untouched = user();
        Projection::from_query(None, Some("urn:other:schema:x"), USER)
            .unwrap()
            .apply(&mut u);
        assert_eq!(u, untouched);
        let many = vec!["a".to_string(); MAX_NAMES + 1];
        assert!(Projection::from_lists(Some(many), &[], USER).is_err());
    }
}
