//! `X-Twilio-Signature` validation (protocols.md §1.3).
//!
//! The signature is base64(HMAC-SHA1(auth token, URL + sorted form
//! parameters concatenated as name+value)). The URL is the *public* URL
//! Twilio requested, rebuilt from the configured public base URL, never
//! from `Host`. Like Twilio's own validator we accept the URL with and
//! without the scheme's default port. WebSocket upgrades are signed over the
//! `wss://` URL with no parameters.

use aws_lc_rs::hmac;
use base64::Engine as _;

/// Why a request was refused. Every variant is a 403 and a log line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// No `X-Twilio-Signature` header.
    #[error("request has no X-Twilio-Signature header")]
    Missing,
    /// The header does not match the request.
    #[error(
        "X-Twilio-Signature does not match {url} (check the public base URL and the auth token)"
    )]
    Mismatch {
        /// The URL the signature was checked against.
        url: String,
    },
}

/// Computes the signature Twilio would send for `url` and `params`.
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // Byte-wise by name, then by value (repeated keys).
    sorted.sort_by(|a, b| {
        a.0.as_bytes()
            .cmp(b.0.as_bytes())
            .then(a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    let mut message = String::with_capacity(url.len() + 64 * sorted.len());
    message.push_str(url);
    for (name, value) in sorted {
        message.push_str(name);
        message.push_str(value);
    }
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, auth_token.as_bytes());
    let tag = hmac::sign(&key, message.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// The URL with and without the default port for its scheme, as Twilio's
/// SDK checks both.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let default_port = match scheme {
        "https" | "wss" => "443",
        "http" | "ws" => "80",
        _ => return variants,
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let with_port_suffix = format!(":{default_port}");
    if let Some(host) = authority.strip_suffix(&with_port_suffix) {
        variants.push(format!("{scheme}://{host}{path}"));
    } else if !authority.contains(':') {
        variants.push(format!("{scheme}://{authority}:{default_port}{path}"));
    }
    variants
}

/// Checks `header` against `url` and `params`, in constant time per
/// candidate.
pub fn validate(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    for candidate in url_variants(url) {
        let expected = compute(auth_token, &candidate, params);
        if constant_time_eq(expected.as_bytes(), header.as_bytes()) {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch {
        url: url.to_owned(),
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    #[test]
    fn twilios_documented_vector_validates() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            compute("12345", url, &vector_params()),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert_eq!(
            validate(
                "12345",
                url,
                &vector_params(),
                Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
            ),
            Ok(())
        );
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let mut params = vector_params();
        params.reverse();
        assert_eq!(
            compute(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn a_signature_over_the_url_with_default_port_is_accepted_and_vice_versa() {
        let with_port = compute("tok", "https://example.com:443/twilio/voice", &[]);
        assert_eq!(
            validate(
                "tok",
                "https://example.com/twilio/voice",
                &[],
                Some(&with_port)
            ),
            Ok(())
        );
        let without = compute("tok", "wss://example.com/twilio/stream", &[]);
        assert_eq!(
            validate(
                "tok",
                "wss://example.com:443/twilio/stream",
                &[],
                Some(&without)
            ),
            Ok(())
        );
    }

    #[test]
    fn wrong_token_missing_header_and_tampered_params_are_refused() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let good = compute("12345", url, &vector_params());
        assert!(matches!(
            validate("54321", url, &vector_params(), Some(&good)),
            Err(SignatureError::Mismatch { .. })
        ));
        assert_eq!(
            validate("12345", url, &vector_params(), None),
            Err(SignatureError::Missing)
        );
        let mut tampered = vector_params();
        tampered[2].1 = "9999".to_owned();
        assert!(validate("12345", url, &tampered, Some(&good)).is_err());
    }
}
