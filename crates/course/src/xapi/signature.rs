//! Signed statements (xAPI-Data 2.6): a statement carrying an attachment of usageType
//! [`SIGNATURE_USAGE`] is signed by the JWS (compact serialization, RFC 7515) that
//! attachment's content holds. Before such a statement is stored the LRS checks what
//! Data 2.6.s5.b3 asks: the attachment's contentType is `application/octet-stream`, the JWS
//! decodes, its algorithm is RS256, RS384 or RS512, its payload is the statement as it was
//! before the signature was added (compared as Data 2.3.1.s9 compares statements: what the
//! LRS may assign, `id`, `authority`, `stored`, `version` and `timestamp`'s serialization,
//! does not count; the signature attachment itself is left out), and, when its header has
//! an `x5c` chain, the signature verifies with the public key of the chain's first
//! certificate. The certificate is not checked against any authority (Data 2.6: a way to
//! catch mistakes, not a security measure). RSA keys under 2048 bits are refused (the
//! verifier's floor).

use super::attachments::AttachmentContent;
use super::validation::parse_timestamp;
use crate::CourseError;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hub_kernel::FieldViolation;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Value, json};
use simple_asn1::ASN1Block;
use std::collections::HashMap;

/// The usageType of a statement's signature (Data 2.6.s4.b1).
pub const SIGNATURE_USAGE: &str = "http://adlnet.gov/expapi/attachments/signature";
const SIGNATURE_CONTENT_TYPE: &str = "application/octet-stream";

fn refused(field: &str, message: &str) -> CourseError {
    CourseError::XapiInvalid(vec![FieldViolation::new(
        field,
        format!("{message} (xAPI 1.0.3, Data 2.6)"),
    )])
}

/// Checks the signatures of the statements of a request, as sent (`paths[i]` is where
/// statement `i` sits in the request), with the attachment contents its parts gave.
pub(crate) fn check_signatures(
    statements: &[Value],
    paths: &[String],
    contents: &HashMap<String, AttachmentContent>,
) -> Result<(), CourseError> {
    for (statement, path) in statements.iter().zip(paths) {
        let Some(items) = statement.get("attachments").and_then(Value::as_array) else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            if item.get("usageType").and_then(Value::as_str) != Some(SIGNATURE_USAGE) {
                continue;
            }
            let field = if path.is_empty() {
                format!("attachments[{i}]")
            } else {
                format!("{path}.attachments[{i}]")
            };
            let content_type = item
                .get("contentType")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if content_type != SIGNATURE_CONTENT_TYPE {
                return Err(refused(
                    &format!("{field}.contentType"),
                    "a signature's contentType is application/octet-stream",
                ));
            }
            let sha2 = item
                .get("sha2")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_ascii_lowercase();
            let Some(content) = contents.get(&sha2) else {
                return Err(refused(
                    &field,
                    "a signature's JWS must be sent as a part of the request, for the LRS to check it",
                ));
            };
            let jws = std::str::from_utf8(&content.content)
                .map_err(|_| refused(&field, "the signature is not a JWS compact serialization"))?;
            verify(jws.trim(), statement).map_err(|message| refused(&field, message))?;
        }
    }
    Ok(())
}

fn verify(jws: &str, statement: &Value) -> Result<(), &'static str> {
    let malformed = "the signature is not a JWS compact serialization";
    let mut pieces = jws.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (pieces.next(), pieces.next(), pieces.next(), pieces.next())
    else {
        return Err(malformed);
    };
    let header: Value = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(malformed)?;
    let algorithm = match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => Algorithm::RS256,
        Some("RS384") => Algorithm::RS384,
        Some("RS512") => Algorithm::RS512,
        _ => return Err("the JWS algorithm must be RS256, RS384 or RS512"),
    };
    let signed: Value = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or("the JWS payload is not a JSON statement")?;
    if !same_statement(&signed, statement) {
        return Err("the JWS payload is not the statement as sent (without its signature)");
    }
    if let Some(chain) = header.get("x5c") {
        let first = chain
            .as_array()
            .and_then(|c| c.first())
            .and_then(Value::as_str)
            .and_then(|text| STANDARD.decode(text).ok())
            .ok_or("the JWS header's x5c is not a chain of base64 certificates")?;
        let key = rsa_key_of(&first)
            .ok_or("the first certificate of x5c does not hold an RSA public key")?;
        let message = format!("{}.{payload}", jws.split('.').next().unwrap_or_default());
        match jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, algorithm) {
            Ok(true) => {}
            _ => return Err("the signature does not verify with the x5c certificate's key"),
        }
    }
    Ok(())
}

/// The RSA public key of a DER X.509 certificate (RFC 5280 4.1: the subjectPublicKeyInfo of
/// the tbsCertificate).
fn rsa_key_of(der: &[u8]) -> Option<DecodingKey> {
    let blocks = simple_asn1::from_der(der).ok()?;
    let ASN1Block::Sequence(_, certificate) = blocks.first()? else {
        return None;
    };
    let ASN1Block::Sequence(_, tbs) = certificate.first()? else {
        return None;
    };
    // rsaEncryption (RFC 8017 A.1).
    let rsa = simple_asn1::oid!(1, 2, 840, 113_549, 1, 1, 1);
    let key_bits = tbs.iter().find_map(|block| match block {
        ASN1Block::Sequence(_, items) => match (items.first(), items.get(1)) {
            (Some(ASN1Block::Sequence(_, algorithm)), Some(ASN1Block::BitString(_, _, bits)))
                if matches!(algorithm.first(), Some(ASN1Block::ObjectIdentifier(_, oid)) if *oid == rsa) =>
            {
                Some(bits.clone())
            }
            _ => None,
        },
        _ => None,
    })?;
    let inner = simple_asn1::from_der(&key_bits).ok()?;
    let ASN1Block::Sequence(_, numbers) = inner.first()? else {
        return None;
    };
    match (numbers.first(), numbers.get(1)) {
        (Some(ASN1Block::Integer(_, n)), Some(ASN1Block::Integer(_, e))) => {
            let (_, n) = n.to_bytes_be();
            let (_, e) = e.to_bytes_be();
            Some(DecodingKey::from_rsa_raw_components(&n, &e))
        }
        _ => None,
    }
}

/// A statement as compared with its signed payload: without its signature attachments
/// (and without `attachments` when nothing else is left), without what the LRS assigns.
fn comparable(statement: &Value, keep_id: bool, keep_timestamp: bool) -> Value {
    let mut copy = statement.clone();
    if let Some(map) = copy.as_object_mut() {
        for key in ["stored", "authority", "version"] {
            map.remove(key);
        }
        if !keep_id {
            map.remove("id");
        }
        let instant = map
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(parse_timestamp);
        match instant {
            Some(instant) if keep_timestamp => {
                map.insert("timestamp".into(), json!(instant.timestamp_micros()));
            }
            _ => {
                map.remove("timestamp");
            }
        }
        if let Some(Value::Array(items)) = map.get_mut("attachments") {
            items.retain(|a| a.get("usageType").and_then(Value::as_str) != Some(SIGNATURE_USAGE));
            if items.is_empty() {
                map.remove("attachments");
            }
        }
    }
    copy
}

/// Whether a signed payload is the statement sent (Data 2.6.s5.b3.b2, Data 2.3.1.s9): an
/// `id` or `timestamp` only one of them has is one the LRS may assign.
fn same_statement(signed: &Value, sent: &Value) -> bool {
    let both = |key: &str| signed.get(key).is_some() && sent.get(key).is_some();
    let (id, timestamp) = (both("id"), both("timestamp"));
    comparable(signed, id, timestamp) == comparable(sent, id, timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_compared_without_the_signature_and_what_the_lrs_assigns() {
        let signed = json!({"actor": {"mbox": "mailto:a@b"}, "verb": {"id": "http://v"},
            "object": {"id": "http://o"}, "timestamp": "2026-12-01T10:00:00+01:00"});
        let mut sent = signed.clone();
        sent["id"] = json!("33cff416-e331-4c9d-969e-5373a1756120");
        sent["timestamp"] = json!("2026-12-01T09:00:00Z");
        sent["attachments"] = json!([{"usageType": SIGNATURE_USAGE}]);
        assert!(same_statement(&signed, &sent));
        sent["verb"]["id"] = json!("http://other");
        assert!(!same_statement(&signed, &sent));
    }

    #[test]
    fn a_jws_with_another_algorithm_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
        let payload = URL_SAFE_NO_PAD.encode(br#"{"actor":{}}"#);
        let jws = format!("{header}.{payload}.c2ln");
        assert_eq!(
            verify(&jws, &json!({"actor": {}})),
            Err("the JWS algorithm must be RS256, RS384 or RS512")
        );
    }
}
