//! SCIM PATCH (RFC 7644 §3.5.2): the interpreter of `add`, `replace` and `remove`
//! operations on the attributes of a [`ScimUser`]. Groups interpret their own operations
//! (membership) in [`super::groups`].

use super::users::ScimUser;
use super::{bad_path, bad_value};
use crate::error::IdentityError;
use serde_json::Value;

/// One operation of a SCIM PatchOp.
#[derive(Debug, Clone)]
pub struct PatchOperation {
    pub op: String,
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// The most operations one PatchOp may carry.
pub const MAX_OPERATIONS: usize = 100;

/// Applies every operation of a PatchOp to `user`, in order.
pub(super) fn apply_all(
    user: &mut ScimUser,
    operations: &[PatchOperation],
) -> Result<(), IdentityError> {
    for operation in operations {
        let op = operation.op.to_ascii_lowercase();
        if !matches!(op.as_str(), "add" | "replace" | "remove") {
            return Err(bad_value(format!("unknown op `{}`", operation.op)));
        }
        match &operation.path {
            Some(path) => apply(user, &op, path, operation.value.as_ref())?,
            None => {
                let object = operation
                    .value
                    .as_ref()
                    .and_then(Value::as_object)
                    .ok_or_else(|| {
                        bad_value("an operation without `path` needs an object value")
                    })?;
                for (key, value) in object {
                    apply(user, &op, key, Some(value))?;
                }
            }
        }
    }
    Ok(())
}

pub(super) fn as_string(value: &Value, what: &str) -> Result<String, IdentityError> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| bad_value(format!("`{what}` must be a string")))
}

/// Applies one attribute (`path`) of a PATCH or of a path-less value object to `user`.
pub(super) fn apply(
    user: &mut ScimUser,
    op: &str,
    path: &str,
    value: Option<&Value>,
) -> Result<(), IdentityError> {
    let remove = op == "remove";
    let need = |v: Option<&Value>| {
        v.cloned()
            .ok_or_else(|| bad_value(format!("`{path}` needs a value")))
    };
    match path.to_ascii_lowercase().as_str() {
        "active" => {
            user.active = need(value)?
                .as_bool()
                .ok_or_else(|| bad_value("`active` must be true or false"))?
        }
        "username" if !remove => user.user_name = as_string(&need(value)?, path)?,
        "displayname" => {
            user.display_name = if remove {
                None
            } else {
                Some(as_string(&need(value)?, path)?)
            }
        }
        "name.formatted" => {
            user.formatted_name = if remove {
                None
            } else {
                Some(as_string(&need(value)?, path)?)
            }
        }
        "name.givenname" => {
            user.given_name = if remove {
                None
            } else {
                Some(as_string(&need(value)?, path)?)
            }
        }
        "name.familyname" => {
            user.family_name = if remove {
                None
            } else {
                Some(as_string(&need(value)?, path)?)
            }
        }
        "name" if remove => {
            user.formatted_name = None;
            user.given_name = None;
            user.family_name = None;
        }
        "name" => {
            let v = need(value)?;
            for (key, inner) in v
                .as_object()
                .ok_or_else(|| bad_value("`name` must be an object"))?
            {
                apply(user, op, &format!("name.{key}"), Some(inner))?;
            }
        }
        "externalid" => {
            user.attributes.external_id = if remove {
                None
            } else {
                Some(as_string(&need(value)?, path)?)
            }
        }
        "emails" if remove => {
            user.email = None;
            user.attributes.email_primary = None;
        }
        "emails" => {
            let (email, primary) = first_entry(&need(value)?, "emails")?;
            user.email = Some(email);
            user.attributes.email_primary = primary;
        }
        // A value path names the stored value; its `primary` mark stays as it was.
        "emails[type eq \"work\"].value" | "emails[primary eq true].value" => {
            user.email = if remove {
                None
            } else {
                Some(first_value(&need(value)?, "emails")?)
            }
        }
        "phonenumbers" if remove => {
            user.phone = None;
            user.attributes.phone_primary = None;
        }
        "phonenumbers" => {
            let (phone, primary) = first_entry(&need(value)?, "phoneNumbers")?;
            user.phone = Some(phone);
            user.attributes.phone_primary = primary;
        }
        "phonenumbers[type eq \"work\"].value" | "phonenumbers[type eq \"mobile\"].value" => {
            user.phone = if remove {
                None
            } else {
                Some(first_value(&need(value)?, "phoneNumbers")?)
            }
        }
        _ => return Err(bad_path(path)),
    }
    Ok(())
}

/// A multi-valued attribute's primary (or first) `value`, or a bare string.
pub fn first_value(value: &Value, what: &str) -> Result<String, IdentityError> {
    first_entry(value, what).map(|(value, _)| value)
}

/// A multi-valued attribute's primary (or first) `value` and the `primary` it was sent with
/// (RFC 7643 §2.4: absent means not marked), or a bare string (not marked).
pub fn first_entry(value: &Value, what: &str) -> Result<(String, Option<bool>), IdentityError> {
    if let Some(s) = value.as_str() {
        return Ok((s.to_string(), None));
    }
    let items = value
        .as_array()
        .ok_or_else(|| bad_value(format!("`{what}` must be a list of {{\"value\": …}}")))?;
    let chosen = items
        .iter()
        .find(|i| i["primary"] == Value::Bool(true))
        .or_else(|| items.first())
        .ok_or_else(|| bad_value(format!("`{what}` is empty")))?;
    let primary = match &chosen["primary"] {
        Value::Null => None,
        Value::Bool(b) => Some(*b),
        _ => return Err(bad_value(format!("`{what}.primary` must be true or false"))),
    };
    Ok((as_string(&chosen["value"], what)?, primary))
}
