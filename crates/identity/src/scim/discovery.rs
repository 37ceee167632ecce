//! RFC 7644 §4 discovery: `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas`. They
//! describe exactly what this module serves: the attributes a User and a Group carry here
//! (not the whole RFC 7643 core schema; the common attributes `id`, `externalId` and `meta`
//! of RFC 7643 §3.1 are served on both and, as that section says, belong to no schema),
//! `filter` with its `maxResults`, PATCH, ETags, and what is not supported (bulk, sort,
//! changePassword). A SCIM client builds its model of the
//! server from them, so an attribute listed here must be stored and answered as listed.

use super::MAX_COUNT;
use crate::error::IdentityError;
use hub_tenant::{Scope, TenantScope};
use serde_json::{Value, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// Where the SCIM service is mounted; `meta.location` of every resource starts with it.
pub const BASE_PATH: &str = "/v1/scim/v2";

pub fn service_provider_config(scope: &TenantScope) -> Result<Value, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    Ok(json!({
        "schemas": [SPC_SCHEMA],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_COUNT},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "An API key of the institution with the scim:provision scope, \
                            sent as `Authorization: Bearer <key>`.",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{BASE_PATH}/ServiceProviderConfig")
        }
    }))
}

fn resource_type(name: &str, endpoint: &str, description: &str, schema: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": name,
        "name": name,
        "endpoint": endpoint,
        "description": description,
        "schema": schema,
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{BASE_PATH}/ResourceTypes/{name}")
        }
    })
}

/// Every resource type, in a fixed order.
pub fn resource_types(scope: &TenantScope) -> Result<Vec<Value>, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    Ok(vec![
        resource_type("User", "/Users", "A person of the institution", USER_SCHEMA),
        resource_type(
            "Group",
            "/Groups",
            "A group; one named after a role grants it",
            GROUP_SCHEMA,
        ),
    ])
}

/// One attribute definition (RFC 7643 §7). `kind` is the SCIM type.
fn attribute(name: &str, kind: &str, description: &str) -> serde_json::Map<String, Value> {
    let Value::Object(map) = json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "description": description,
        "required": false,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none"
    }) else {
        unreachable!("a JSON object literal")
    };
    map
}

fn with(mut map: serde_json::Map<String, Value>, key: &str, value: Value) -> Value {
    map.insert(key.into(), value);
    Value::Object(map)
}

fn set(value: Value, key: &str, to: Value) -> Value {
    let Value::Object(map) = value else {
        return value;
    };
    with(map, key, to)
}

fn multi_valued(name: &str, description: &str, sub_attributes: Vec<Value>) -> Value {
    let map = attribute(name, "complex", description);
    let value = with(map, "multiValued", Value::Bool(true));
    set(value, "subAttributes", Value::Array(sub_attributes))
}

fn reference(name: &str, to: &str, description: &str) -> Value {
    with(
        attribute(name, "reference", description),
        "referenceTypes",
        json!([to]),
    )
}

fn user_schema() -> Value {
    let user_name = set(
        set(
            Value::Object(attribute(
                "userName",
                "string",
                "Unique in the institution (compared without case); the person's username.",
            )),
            "required",
            Value::Bool(true),
        ),
        "uniqueness",
        json!("server"),
    );
    // One name is stored and every person has one, so it is listed once and as required
    // (a create without it takes `name.formatted`, `givenName familyName`, or `userName`);
    // listing `name` beside it would advertise a second attribute that cannot be removed
    // or set apart from this one.
    let display_name = set(
        Value::Object(attribute(
            "displayName",
            "string",
            "The person's name; always present. A create without it takes name.formatted, \
             name.givenName and name.familyName, or the userName.",
        )),
        "required",
        Value::Bool(true),
    );
    // A person is active or deactivated, never neither: required for the same reason
    // (a create without it makes an active person).
    let active = set(
        Value::Object(attribute(
            "active",
            "boolean",
            "false deactivates the person and ends their sessions; a create without it \
             makes an active person.",
        )),
        "required",
        Value::Bool(true),
    );
    let primary_value = |what: &str| {
        vec![
            Value::Object(attribute("value", "string", what)),
            Value::Object(attribute(
                "primary",
                "boolean",
                "As the value was sent (absent if it was sent without one); one value is \
                 stored.",
            )),
        ]
    };
    let read_only = |value: Value| set(value, "mutability", json!("readOnly"));
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A person of the institution",
        "attributes": [
            user_name,
            display_name,
            multi_valued(
                "emails",
                "One email address (the primary one, or the first, of those sent).",
                primary_value("The email address."),
            ),
            multi_valued(
                "phoneNumbers",
                "One phone number (the primary one, or the first, of those sent).",
                primary_value(
                    "The phone number in E.164 form (+ and 7–15 digits), or its RFC 3966 \
                     form (tel:+1-201-555-0123), stored as E.164.",
                ),
            ),
            active,
            read_only(multi_valued(
                "groups",
                "The groups the person belongs to; changed through the groups.",
                vec![
                    read_only(Value::Object(attribute("value", "string", "The group id."))),
                    read_only(reference("$ref", "Group", "The group.")),
                    read_only(Value::Object(attribute(
                        "display",
                        "string",
                        "The group's displayName.",
                    ))),
                ],
            )),
        ],
        "meta": {
            "resourceType": "Schema",
            "location": format!("{BASE_PATH}/Schemas/{USER_SCHEMA}")
        }
    })
}

fn group_schema() -> Value {
    let display_name = set(
        set(
            Value::Object(attribute(
                "displayName",
                "string",
                "Unique in the institution; a role name grants that role to the members.",
            )),
            "required",
            Value::Bool(true),
        ),
        "uniqueness",
        json!("server"),
    );
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": GROUP_SCHEMA,
        "name": "Group",
        "description": "A group; one named after a role grants it to its members",
        "attributes": [
            display_name,
            multi_valued(
                "members",
                "The users in the group.",
                vec![
                    set(
                        Value::Object(attribute("value", "string", "The user id.")),
                        "mutability",
                        json!("immutable"),
                    ),
                    set(
                        reference("$ref", "User", "The user."),
                        "mutability",
                        json!("immutable"),
                    ),
                ],
            ),
        ],
        "meta": {
            "resourceType": "Schema",
            "location": format!("{BASE_PATH}/Schemas/{GROUP_SCHEMA}")
        }
    })
}

/// Every schema, in a fixed order.
pub fn schemas(scope: &TenantScope) -> Result<Vec<Value>, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    Ok(vec![user_schema(), group_schema()])
}

/// One item of a discovery list by its id, or `NotFound` naming what was looked for.
pub fn find(items: Vec<Value>, id: &str, what: &'static str) -> Result<Value, IdentityError> {
    items
        .into_iter()
        .find(|item| item["id"] == id)
        .ok_or(IdentityError::NotFound(what))
}
