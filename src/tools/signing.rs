//! Signing webhook requests, and our own verifier of those signatures.
//!
//! `X-Warmline-Signature: v1=<hex>` is an HMAC-SHA256, keyed with the
//! tool's secret, over `timestamp + "." + body`, where the timestamp is
//! the `X-Warmline-Timestamp` header (Unix seconds, decimal). Covering the
//! timestamp lets a receiver reject replays older than its tolerance
//! (docs/TOOLS.md suggests 5 minutes), as Stripe and Slack do.

use std::time::Duration;

use aws_lc_rs::hmac;

/// The header carrying the Unix time the request was signed at.
pub const TIMESTAMP_HEADER: &str = "X-Warmline-Timestamp";
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Warmline-Signature";
/// The header naming one tool call, the same on every retry.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The tolerance docs/TOOLS.md recommends.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// The timestamp header is not decimal Unix seconds.
    #[error("the timestamp header is not Unix seconds")]
    BadTimestamp,
    /// The request is older (or further in the future) than the tolerance:
    /// a replay, or a clock that needs NTP.
    #[error("the timestamp is outside the tolerance: replayed, or a clock is wrong")]
    Stale,
    /// The header is not `v1=<64 hex digits>`.
    #[error("the signature header is not v1=<hex>")]
    Malformed,
    /// The signature does not match the body and key.
    #[error("the signature does not match: wrong secret or altered body")]
    Mismatch,
}

/// The `X-Warmline-Signature` value for `body` signed at `timestamp`.
pub fn sign(key: &[u8], timestamp: u64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    let mut out = String::with_capacity(3 + 64);
    out.push_str("v1=");
    for byte in tag.as_ref() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Checks a request's signature in constant time, and that it was signed
/// within `tolerance` of `now_unix`.
pub fn verify(
    key: &[u8],
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now_unix: u64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let timestamp: u64 = timestamp_header
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if now_unix.abs_diff(timestamp) > tolerance.as_secs() {
        return Err(SignatureError::Stale);
    }
    let hex = signature_header
        .trim()
        .strip_prefix("v1=")
        .ok_or(SignatureError::Malformed)?;
    let tag = decode_hex(hex).ok_or(SignatureError::Malformed)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut message = Vec::with_capacity(timestamp_header.len() + 1 + body.len());
    message.extend_from_slice(timestamp_header.trim().as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    // aws-lc-rs compares the tags in constant time.
    hmac::verify(&key, &message, &tag).map_err(|_| SignatureError::Mismatch)
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"whsec_test";

    #[test]
    fn a_signature_we_made_verifies_and_a_changed_body_does_not() {
        let sig = sign(KEY, 1_700_000_000, b"{\"a\":1}");
        assert!(sig.starts_with("v1=") && sig.len() == 67, "{sig}");
        let ok = verify(
            KEY,
            "1700000000",
            &sig,
            b"{\"a\":1}",
            1_700_000_010,
            DEFAULT_TOLERANCE,
        );
        assert_eq!(ok, Ok(()));
        let altered = verify(
            KEY,
            "1700000000",
            &sig,
            b"{\"a\":2}",
            1_700_000_010,
            DEFAULT_TOLERANCE,
        );
        assert_eq!(altered, Err(SignatureError::Mismatch));
        let other_key = verify(
            b"other",
            "1700000000",
            &sig,
            b"{\"a\":1}",
            1_700_000_010,
            DEFAULT_TOLERANCE,
        );
        assert_eq!(other_key, Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_signature_older_than_the_tolerance_is_refused_as_stale() {
        let sig = sign(KEY, 1_700_000_000, b"{}");
        let late = 1_700_000_000 + 301;
        assert_eq!(
            verify(KEY, "1700000000", &sig, b"{}", late, DEFAULT_TOLERANCE),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn a_malformed_header_is_refused_without_panicking() {
        for header in ["", "v1=", "v1=zz", "v0=00", "v1=ÿÿ"] {
            assert_eq!(
                verify(KEY, "1", header, b"", 1, DEFAULT_TOLERANCE),
                Err(SignatureError::Malformed),
                "{header:?}"
            );
        }
        assert_eq!(
            verify(KEY, "soon", "v1=00", b"", 1, DEFAULT_TOLERANCE),
            Err(SignatureError::BadTimestamp)
        );
    }
}
