//! The digest arithmetic: HA1, HA2 and the response (RFC 7616 §3.4.1-§3.4.3).

use std::fmt;
use std::str::FromStr;

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};

use super::AuthError;

/// A digest hash algorithm.
///
/// The derived order is by strength, weakest first, so `a > b` means "prefer `a`" (RFC 8760
/// §2.4: answer the strongest algorithm you support).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// `MD5` (RFC 2617), the default when a challenge names no algorithm.
    Md5,
    /// `SHA-256` (RFC 7616, RFC 8760).
    Sha256,
    /// `SHA-512-256`: SHA-512/256 of FIPS 180-4 (RFC 7616, RFC 8760).
    Sha512_256,
}

impl Algorithm {
    /// Every supported algorithm, strongest first.
    pub const ALL: [Algorithm; 3] = [Algorithm::Sha512_256, Algorithm::Sha256, Algorithm::Md5];

    /// The token used in the `algorithm` parameter.
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha512_256 => "SHA-512-256",
        }
    }

    /// HA1 = H(username ":" realm ":" password), lowercase hex.
    ///
    /// Servers that do not want to store plain passwords can store this per algorithm and
    /// hand it to [`super::Challenger::verify`] as [`super::UserSecret::Ha1`].
    pub fn ha1(self, username: &str, realm: &str, password: &str) -> String {
        self.hex(&[username, realm, password])
    }

    /// The `response` value, lowercase hex.
    ///
    /// With `qop = Some(..)` this is the `qop=auth` form of RFC 2617/7616:
    /// H(HA1 ":" nonce ":" nc ":" cnonce ":" "auth" ":" HA2); with `None` it is the RFC 2069
    /// form H(HA1 ":" nonce ":" HA2). HA2 = H(method ":" uri).
    pub fn response(
        self,
        ha1: &str,
        method: &str,
        uri: &str,
        nonce: &str,
        qop: Option<QopAuth<'_>>,
    ) -> String {
        let ha2 = self.hex(&[method, uri]);
        match qop {
            Some(q) => {
                let nc = format!("{:08x}", q.nc);
                self.hex(&[ha1, nonce, &nc, q.cnonce, "auth", &ha2])
            }
            None => self.hex(&[ha1, nonce, &ha2]),
        }
    }

    /// H(parts joined by ":") as lowercase hex.
    fn hex(self, parts: &[&str]) -> String {
        match self {
            Algorithm::Md5 => hash_joined::<Md5>(parts),
            Algorithm::Sha256 => hash_joined::<Sha256>(parts),
            Algorithm::Sha512_256 => hash_joined::<Sha512_256>(parts),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = AuthError;

    /// Case-insensitive, as RFC 7616 §3.3 asks. `-sess` variants are refused (see the module
    /// docs), as is anything unknown.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| AuthError::UnsupportedAlgorithm(truncated(s)))
    }
}

/// The client-chosen values that go into a `qop=auth` response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QopAuth<'a> {
    /// The nonce count: how many requests (this one included) used this nonce.
    pub nc: u32,
    /// The client nonce.
    pub cnonce: &'a str,
}

fn hash_joined<D: Digest>(parts: &[&str]) -> String {
    let mut h = D::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(part.as_bytes());
    }
    to_hex(&h.finalize())
}

/// Lowercase hex, which RFC 7616 §3.4.1 requires for every hashed value.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

/// Equality whose running time depends only on the lengths, so that comparing a received
/// response with the expected one does not leak how many leading characters matched.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// At most 64 bytes of a peer's string, for error messages (cut on a char boundary).
pub(crate) fn truncated(s: &str) -> String {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}
