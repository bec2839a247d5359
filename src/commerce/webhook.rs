//! Payment webhook signatures, sans-IO. The header is
//! `Streamcart-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`;
//! a signature is accepted only if it matches and `t` is within the tolerance
//! of `now`, so a captured request cannot be replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "streamcart-signature";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Streamcart-Signature header must look like t=<unix seconds>,v1=<hex>")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the signed timestamp is outside the accepted window")]
    Stale,
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value a sender puts on `body` at `timestamp` (unix seconds).
pub fn signature_header(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

/// Checks `header` against `body`; `now_secs` and `tolerance_secs` bound the age.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now_secs: i64, tolerance_secs: i64) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // Constant-time comparison (Mac::verify_slice).
    if !signatures.iter().any(|sig| mac(secret, timestamp, body).verify_slice(sig).is_ok()) {
        return Err(SignatureError::Mismatch);
    }
    if (now_secs - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";

    #[test]
    fn a_fresh_signature_over_the_body_verifies() {
        let header = signature_header(SECRET, 1_000, b"{}");
        assert_eq!(verify(SECRET, &header, b"{}", 1_010, 300), Ok(()));
    }

    #[test]
    fn a_changed_body_or_key_does_not_verify() {
        let header = signature_header(SECRET, 1_000, b"{}");
        assert_eq!(verify(SECRET, &header, b"{ }", 1_000, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"other", &header, b"{}", 1_000, 300), Err(SignatureError::Mismatch));
    }

    #[test]
    fn an_old_signature_is_stale() {
        let header = signature_header(SECRET, 1_000, b"{}");
        assert_eq!(verify(SECRET, &header, b"{}", 1_301, 300), Err(SignatureError::Stale));
    }

    #[test]
    fn a_header_without_timestamp_or_signature_is_malformed() {
        assert_eq!(verify(SECRET, "v1=00", b"", 0, 300), Err(SignatureError::Malformed));
        assert_eq!(verify(SECRET, "t=5", b"", 5, 300), Err(SignatureError::Malformed));
        assert_eq!(verify(SECRET, "t=5,v1=zz", b"", 5, 300), Err(SignatureError::Malformed));
    }
}
