//! Stripe's webhook signature, checked as Stripe documents it: the `Stripe-Signature` header
//! is `t=<unix seconds>,v1=<hex>[,v1=<hex>…]` (other schemes such as `v0` are ignored); each
//! `v1` is HMAC-SHA256 under an endpoint secret of `"{t}.{raw body}"`. The body is verified
//! as received, byte for byte, before any parsing. Every configured secret is tried (during
//! a rotation Stripe signs with the old and the new one, and an endpoint holds both), each
//! comparison in constant time, and a timestamp more than the tolerance (300 s) away from
//! now is refused, so a captured delivery cannot be replayed later.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Stripe's default tolerance between the signed timestamp and now.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a signature is refused (never says which secret or which signature was close).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// No `t=` or no `v1=` element, or a malformed one.
    Malformed,
    /// The timestamp is outside the tolerance.
    Stale,
    /// No `v1` signature matches under any secret.
    Mismatch,
}

impl SignatureError {
    pub fn message(self) -> &'static str {
        match self {
            Self::Malformed => "the header must be t=<timestamp>,v1=<signature>",
            Self::Stale => "the signed timestamp is more than 300 seconds from now",
            Self::Mismatch => "no signature matches the body under the endpoint's secrets",
        }
    }
}

/// The HMAC-SHA256 of `"{timestamp}.{payload}"` under `secret`, as hex: what Stripe sends
/// as `v1`.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    hex::encode(mac(payload, secret, timestamp))
}

fn mac(payload: &[u8], secret: &str, timestamp: i64) -> Vec<u8> {
    // HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return Vec::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac.finalize().into_bytes().to_vec()
}

/// Checks `header` over `payload` with every secret, at `now` (unix seconds).
pub fn verify(
    payload: &[u8],
    header: &str,
    secrets: &[String],
    now: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let mut timestamp: Option<i64> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for element in header.split(',') {
        let Some((key, value)) = element.trim().split_once('=') else {
            return Err(SignatureError::Malformed);
        };
        match key {
            "t" => {
                if timestamp.is_some() {
                    return Err(SignatureError::Malformed);
                }
                timestamp = Some(value.parse().map_err(|_| SignatureError::Malformed)?);
            }
            // A v1 that is not hex can match nothing; skip it rather than refuse the rest.
            "v1" => {
                if let Ok(bytes) = hex::decode(value) {
                    signatures.push(bytes);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    let mut matched = subtle::Choice::from(0u8);
    for secret in secrets {
        let expected = mac(payload, secret, timestamp);
        for signature in &signatures {
            matched |= expected.ct_eq(signature);
        }
    }
    if bool::from(matched) {
        Ok(timestamp)
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","object":"event"}"#;
    const NOW: i64 = 1_767_225_600;

    fn header(secret: &str, t: i64) -> String {
        format!("t={t},v1={}", sign(BODY, secret, t))
    }

    #[test]
    fn a_signature_under_any_configured_secret_verifies() {
        let secrets = vec!["whsec_old".to_string(), "whsec_new".to_string()];
        assert_eq!(
            verify(BODY, &header("whsec_new", NOW), &secrets, NOW, 300),
            Ok(NOW)
        );
        assert_eq!(
            verify(BODY, &header("whsec_old", NOW), &secrets, NOW, 300),
            Ok(NOW)
        );
        // Stripe's rotation header: both signatures, one of them unknown here.
        let both = format!(
            "t={NOW},v1={},v1={},v0=ignored",
            sign(BODY, "whsec_other", NOW),
            sign(BODY, "whsec_new", NOW)
        );
        assert_eq!(verify(BODY, &both, &secrets, NOW, 300), Ok(NOW));
    }

    #[test]
    fn a_forged_altered_or_stale_delivery_is_refused() {
        let secrets = vec!["whsec_right".to_string()];
        assert_eq!(
            verify(BODY, &header("whsec_wrong", NOW), &secrets, NOW, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                b"{\"id\":\"evt_2\"}",
                &header("whsec_right", NOW),
                &secrets,
                NOW,
                300
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(BODY, &header("whsec_right", NOW - 301), &secrets, NOW, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(BODY, &header("whsec_right", NOW + 301), &secrets, NOW, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(BODY, &header("whsec_right", NOW - 300), &secrets, NOW, 300),
            Ok(NOW - 300)
        );
        for malformed in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,t=2,v1=00", "garbage"] {
            assert_eq!(
                verify(BODY, malformed, &secrets, NOW, 300),
                Err(SignatureError::Malformed),
                "{malformed}"
            );
        }
    }
}
