//! Attachments' contents (xAPI-Data 2.4.11, Communication 1.5.2): matching the parts of a
//! multipart/mixed request with the attachments its statements declare, and keeping and
//! giving back those contents (`xapi_attachments`, sealed under the tenant key).
//!
//! A part is matched with an attachment by its SHA-2 only (Communication 1.5.2.s1.b4): its
//! `X-Experience-API-Hash` must be the SHA-2 of its content (SHA-256, -384 or -512, told
//! apart by length) and must be declared by an attachment of the request; every attachment
//! without a `fileUrl` must have its part; a part's length and media type (when it gives
//! one) must be the declared ones (1.5.2.s2.b2.b7). Any of these broken: 400, nothing stored.
//! The HTTP framing (boundaries, part headers, size limits) is the gateway's.

use super::ATTACHMENTS_TABLE;
use super::entity::attachment;
use crate::CourseError;
use hub_kernel::FieldViolation;
use hub_tenant::TenantScope;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;
use sha2::Digest;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// The largest attachment content this LRS keeps, in bytes (Communication 1.5.2.s3.b7: an
/// LRS may refuse what is larger than it is configured to allow). The whole request is
/// bounded by the gateway's body limit (`body_limit_bytes`, 1 MiB by default).
pub const MAX_ATTACHMENT_BYTES: usize = 512 * 1024;

/// One attachment part of a multipart/mixed request, as the gateway read it.
#[derive(Debug, Clone)]
pub struct AttachmentPart {
    /// The part's `Content-Type`, if it gave one.
    pub content_type: Option<String>,
    /// The part's `X-Experience-API-Hash`.
    pub hash: String,
    pub content: Vec<u8>,
}

/// An attachment content kept or given back: its SHA-2, media type and bytes.
#[derive(Debug, Clone)]
pub struct AttachmentContent {
    pub sha2: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

fn refused(field: &str, message: impl Into<String>) -> CourseError {
    CourseError::XapiInvalid(vec![FieldViolation::new(field, message)])
}

/// The SHA-2 of `content` in the variant a hash of this many hex digits names.
fn sha2_hex(content: &[u8], hex_digits: usize) -> Option<String> {
    match hex_digits {
        64 => Some(hex::encode(sha2::Sha256::digest(content))),
        96 => Some(hex::encode(sha2::Sha384::digest(content))),
        128 => Some(hex::encode(sha2::Sha512::digest(content))),
        _ => None,
    }
}

/// The media type of a `Content-Type` without its parameters, in lower case.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// An attachment as a statement declares it, with where it sits in the request.
pub(crate) struct Declared<'a> {
    pub field: String,
    pub sha2: String,
    pub content_type: &'a str,
    pub length: u64,
    pub has_file_url: bool,
}

/// The attachments of a statement and of its SubStatement (Data 2.4.11: a SubStatement's
/// are better sent on the statement, but are attachments all the same).
pub(crate) fn declared<'a>(statement: &'a Value, path: &str, out: &mut Vec<Declared<'a>>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    if let Some(items) = statement.get("attachments").and_then(Value::as_array) {
        for (i, item) in items.iter().enumerate() {
            out.push(Declared {
                field: format!("{}[{i}]", join("attachments")),
                sha2: item
                    .get("sha2")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                content_type: item
                    .get("contentType")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
                length: item.get("length").and_then(Value::as_u64).unwrap_or(0),
                has_file_url: item.get("fileUrl").is_some(),
            });
        }
    }
    if let Some(object) = statement.get("object")
        && object.get("objectType").and_then(Value::as_str) == Some("SubStatement")
    {
        declared(object, &join("object"), out);
    }
}

/// Matches a request's parts with the attachments its statements declare (`paths[i]` is
/// where statement `i` sits in the request: empty alone, `[i]` in a batch). `parts` is
/// `None` for an application/json request, where every attachment needs a `fileUrl`
/// (Communication 1.5.2.s2.b1). Answers the contents by SHA-2 (lower case).
pub(crate) fn match_parts(
    statements: &[Value],
    paths: &[String],
    parts: Option<Vec<AttachmentPart>>,
) -> Result<HashMap<String, AttachmentContent>, CourseError> {
    let mut all = Vec::new();
    for (statement, path) in statements.iter().zip(paths) {
        declared(statement, path, &mut all);
    }
    let Some(parts) = parts else {
        if let Some(missing) = all.iter().find(|d| !d.has_file_url) {
            return Err(refused(
                &missing.field,
                "an attachment without fileUrl needs its content as a part of a multipart/mixed request (xAPI 1.0.3, Communication 1.5.2)",
            ));
        }
        return Ok(HashMap::new());
    };
    let mut by_hash: BTreeMap<&str, Vec<&Declared>> = BTreeMap::new();
    for d in &all {
        by_hash.entry(d.sha2.as_str()).or_default().push(d);
    }
    let mut contents = HashMap::new();
    for (i, part) in parts.into_iter().enumerate() {
        let field = format!("part {}", i + 2);
        let hash = part.hash.trim().to_ascii_lowercase();
        let Some(declarations) = by_hash.get(hash.as_str()) else {
            return Err(refused(
                &field,
                "its X-Experience-API-Hash is the sha2 of no attachment of the statements (xAPI 1.0.3, Communication 1.5.2)",
            ));
        };
        if sha2_hex(&part.content, hash.len()).as_deref() != Some(hash.as_str()) {
            return Err(refused(
                &field,
                "its content does not have the SHA-2 its X-Experience-API-Hash gives (xAPI 1.0.3, Communication 1.5.2)",
            ));
        }
        for d in declarations {
            if d.length != part.content.len() as u64 {
                return Err(refused(
                    &format!("{}.length", d.field),
                    format!(
                        "is {} but its part holds {} octets (xAPI 1.0.3, Data 2.4.11)",
                        d.length,
                        part.content.len()
                    ),
                ));
            }
            if let Some(sent) = &part.content_type
                && essence(sent) != essence(d.content_type)
            {
                return Err(refused(
                    &format!("{}.contentType", d.field),
                    format!(
                        "differs from its part's Content-Type {sent} (xAPI 1.0.3, Communication 1.5.2)"
                    ),
                ));
            }
        }
        let content_type = declarations
            .first()
            .map(|d| d.content_type.to_string())
            .unwrap_or_default();
        contents.insert(
            hash.clone(),
            AttachmentContent {
                sha2: hash,
                content_type,
                content: part.content,
            },
        );
    }
    if let Some(missing) = all
        .iter()
        .find(|d| !d.has_file_url && !contents.contains_key(&d.sha2))
    {
        return Err(refused(
            &missing.field,
            "has no fileUrl and no part of the request has its sha2 (xAPI 1.0.3, Communication 1.5.2)",
        ));
    }
    Ok(contents)
}

/// The rows keeping the contents a stored statement's attachments name.
pub(crate) fn rows_for(
    scope: &TenantScope,
    statement_id: Uuid,
    statement: &Value,
    contents: &HashMap<String, AttachmentContent>,
    out: &mut Vec<attachment::ActiveModel>,
) {
    let mut named = Vec::new();
    declared(statement, "", &mut named);
    let mut hashes: Vec<&str> = named.iter().map(|d| d.sha2.as_str()).collect();
    hashes.sort_unstable();
    hashes.dedup();
    for hash in hashes {
        let Some(content) = contents.get(hash) else {
            continue;
        };
        let id = Uuid::now_v7();
        out.push(attachment::ActiveModel {
            id: Set(id),
            statement_id: Set(statement_id),
            sha2: Set(content.sha2.clone()),
            content_type: Set(content.content_type.clone()),
            length: Set(content.content.len() as i64),
            content_sealed: Set(scope.keys().seal(
                ATTACHMENTS_TABLE,
                "content",
                id,
                &content.content,
            )),
        });
    }
}

/// The contents kept for these statements, one per SHA-2 (a content two statements share is
/// sent once, Communication 1.5.2.s2.b2.b5), in the order of the statements.
pub async fn contents_of(
    scope: &TenantScope,
    statement_ids: &[Uuid],
) -> Result<Vec<AttachmentContent>, CourseError> {
    scope.require(super::STATEMENTS_READ)?;
    let mut out: Vec<AttachmentContent> = Vec::new();
    if statement_ids.is_empty() {
        return Ok(out);
    }
    let rows = attachment::Entity::find()
        .filter(attachment::Column::StatementId.is_in(statement_ids.iter().copied()))
        .order_by_asc(attachment::Column::Sha2)
        .all(scope.db())
        .await?;
    for id in statement_ids {
        for row in rows.iter().filter(|r| r.statement_id == *id) {
            if out.iter().any(|c| c.sha2 == row.sha2) {
                continue;
            }
            let content = scope
                .keys()
                .open(ATTACHMENTS_TABLE, "content", row.id, &row.content_sealed)
                .map_err(|e| CourseError::Sealing(e.to_string()))?;
            out.push(AttachmentContent {
                sha2: row.sha2.clone(),
                content_type: row.content_type.clone(),
                content,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn statement(sha2: &str, length: u64, file_url: bool) -> Value {
        let mut attachment = json!({"usageType": "http://example.com/u", "display": {"en": "a"},
            "contentType": "text/plain; charset=ascii", "length": length, "sha2": sha2});
        if file_url {
            attachment["fileUrl"] = json!("http://example.com/a.txt");
        }
        json!({"attachments": [attachment]})
    }

    fn part(content: &[u8], hash: &str) -> AttachmentPart {
        AttachmentPart {
            content_type: Some("text/plain".into()),
            hash: hash.into(),
            content: content.to_vec(),
        }
    }

    #[test]
    fn parts_match_by_hash_length_and_media_type() {
        // The example of Communication 1.5.2.s6.
        let content = b"here is a simple attachment";
        let hash = "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a";
        let paths = vec![String::new()];
        let ok = match_parts(
            &[statement(hash, 27, false)],
            &paths,
            Some(vec![part(content, hash)]),
        );
        assert_eq!(ok.unwrap().len(), 1);
        let missing = match_parts(&[statement(hash, 27, false)], &paths, Some(vec![]));
        assert!(missing.is_err());
        let stranger = match_parts(
            &[statement(hash, 27, true)],
            &paths,
            Some(vec![part(b"other", hash)]),
        );
        assert!(stranger.is_err());
        let long = match_parts(
            &[statement(hash, 28, false)],
            &paths,
            Some(vec![part(content, hash)]),
        );
        assert!(long.is_err());
        let json_needs_url = match_parts(&[statement(hash, 27, false)], &paths, None);
        assert!(json_needs_url.is_err());
        assert!(match_parts(&[statement(hash, 27, true)], &paths, None).is_ok());
    }
}
