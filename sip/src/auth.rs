//! Digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760, RFC 3261 §22), both sides.
//!
//! This module owns:
//! - the values of the `WWW-Authenticate` / `Proxy-Authenticate` headers ([`Challenge`]) and of
//!   the `Authorization` / `Proxy-Authorization` headers ([`DigestCredentials`]): parsing with
//!   hard limits, and formatting;
//! - the digest arithmetic (HA1, HA2, response) for MD5, SHA-256 and SHA-512-256 ([`Algorithm`]);
//! - the client side: answering a 401/407 ([`respond`]) and deciding whether a second 401/407
//!   means "retry with the new nonce" or "the password is wrong" ([`ClientAuthState`]);
//! - the server side: issuing stateless, HMAC-signed nonces and verifying answers
//!   ([`Challenger`]).
//!
//! It never reads a clock, a socket or a random source: the current time and every cnonce
//! are arguments. It never panics on input, and it does not know which header a value came
//! from: the message layer picks the header, this module reads its value.
//!
//! Not supported, on purpose: the `-sess` algorithm variants (rare in SIP, and they need the
//! cnonce of the first request to be remembered), `qop=auth-int` (it hashes the body, which no
//! trunk we target asks for; it is parsed but answered with [`AuthError::UnsupportedQop`] or
//! [`InvalidReason::QopNotSupported`]), and `userhash` / `username*` (RFC 7616 HTTP features
//! that RFC 8760 does not carry over to SIP).

mod client;
mod digest;
mod header;
mod server;
#[cfg(test)]
mod tests;

pub use client::{respond, AuthStep, ClientAuthState, ClientCredentials, GiveUpReason};
pub use digest::{Algorithm, QopAuth};
pub use header::{Challenge, DigestCredentials, Qop, MAX_HEADER_VALUE_LEN, MAX_PARAMS};
pub use server::{Challenger, InvalidReason, UserSecret, Verification};

/// Why a digest header value could not be parsed, or a digest answer could not be built.
///
/// The `Display` text names what failed (which parameter, which byte) so that a log line is
/// enough to tell a broken peer from a misconfiguration. It is not a stable API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The header value is empty or only whitespace.
    #[error("digest header value is empty")]
    Empty,
    /// The header value is longer than [`MAX_HEADER_VALUE_LEN`]; it was not parsed.
    #[error("digest header value is {len} bytes, over the {max}-byte limit")]
    TooLong {
        /// Length of the value received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The header value has more than [`MAX_PARAMS`] parameters.
    #[error("digest header value has more than {max} parameters")]
    TooManyParams {
        /// The limit.
        max: usize,
    },
    /// The authentication scheme is not `Digest` (for example `Basic`, or IMS `AKAv1-MD5`
    /// carried as a scheme).
    #[error("authentication scheme {0:?} is not Digest")]
    NotDigest(String),
    /// The value does not follow the `name=value, name="value"` grammar.
    #[error("digest header value is malformed at byte {at}: {what}")]
    Syntax {
        /// Byte offset in the header value where parsing stopped.
        at: usize,
        /// What was expected or found there.
        what: &'static str,
    },
    /// A parameter that must be present is missing.
    #[error("digest parameter `{0}` is missing")]
    MissingParam(&'static str),
    /// A parameter appears more than once, which RFC 7616 §3.3/§3.4 does not allow.
    #[error("digest parameter `{0}` appears more than once")]
    DuplicateParam(&'static str),
    /// A parameter is present but its value is unusable.
    #[error("digest parameter `{param}` is malformed: {why}")]
    MalformedParam {
        /// The parameter's name.
        param: &'static str,
        /// What is wrong with its value.
        why: &'static str,
    },
    /// The `algorithm` is not one this module implements (MD5, SHA-256, SHA-512-256).
    #[error("digest algorithm {0:?} is not supported (only MD5, SHA-256 and SHA-512-256)")]
    UnsupportedAlgorithm(String),
    /// The challenges offered only `qop` options this module does not implement
    /// (`auth-int`).
    #[error("the challenge requires qop=auth-int, which is not supported; only qop=auth")]
    UnsupportedQop,
    /// No challenge was given to answer.
    #[error("no digest challenge to answer")]
    NoChallenge,
    /// Configuration handed to [`Challenger::new`] or [`respond`] cannot work.
    #[error("invalid digest configuration: {0}")]
    InvalidConfig(&'static str),
}
