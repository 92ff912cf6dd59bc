//! The server side: stateless nonces and verification of answers.
//!
//! A nonce is `hex(timestamp) || hex(HMAC-SHA256(secret, timestamp || realm)[..16])`: 48 hex
//! characters. Any nonce this challenger issued can be checked and dated without storing it,
//! so nonces survive restarts (with the same secret) and are shared by every server holding
//! the secret.
//!
//! Replay protection is bounded by the nonce lifetime only: the server keeps no record of
//! `nc` values, so within the TTL an eavesdropper can replay a captured request. That is the
//! trade for keeping no per-nonce state; the default TTL of 60 s (FreeSWITCH's `nonce-ttl`)
//! keeps the window short. SIP over TLS closes it.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::digest::{constant_time_eq, to_hex, QopAuth};
use super::{Algorithm, AuthError, Challenge, DigestCredentials, Qop};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of HMAC kept in a nonce: 128 bits is beyond guessing within a nonce lifetime.
const NONCE_TAG_LEN: usize = 16;
/// Hex characters in a nonce: 8 bytes of timestamp and the tag.
const NONCE_HEX_LEN: usize = 2 * (8 + NONCE_TAG_LEN);
/// Shortest server secret accepted.
const MIN_SECRET_LEN: usize = 16;

/// What a user's secret is stored as, for [`Challenger::verify`].
#[derive(Clone, PartialEq, Eq)]
pub enum UserSecret {
    /// The plain password.
    Password(String),
    /// HA1 = H(username ":" realm ":" password) for the algorithm asked, hex (see
    /// [`Algorithm::ha1`]); lets a server store no plain passwords.
    Ha1(String),
}

impl fmt::Debug for UserSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserSecret::Password(_) => f.write_str("Password(<redacted>)"),
            UserSecret::Ha1(_) => f.write_str("Ha1(<redacted>)"),
        }
    }
}

/// The outcome of [`Challenger::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Verification {
    /// The answer is right and its nonce is ours and fresh: let the request through.
    Ok,
    /// The answer is right but its nonce has expired: reply 401/407 with
    /// [`Challenger::stale_challenge`] so the client retries without prompting for a password.
    Stale,
    /// Reject: reply 401/407 with a fresh [`Challenger::challenge`] (or 403 once the client
    /// has tried enough). The reason is for logs, not for the peer.
    Invalid(InvalidReason),
}

/// Why [`Challenger::verify`] refused an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidReason {
    /// The `realm` is not ours: the client answered another server's challenge.
    #[error("realm is not the one challenged")]
    RealmMismatch,
    /// The nonce was not issued by us (wrong format, forged, tampered, another secret or
    /// realm).
    #[error("nonce was not issued by this server")]
    UnknownNonce,
    /// The `algorithm` is one we did not offer.
    #[error("algorithm was not offered")]
    AlgorithmNotOffered,
    /// No `qop`: an RFC 2069 answer to a challenge that offered `qop=auth` (RFC 2617 §3.2.2
    /// requires the client to use it).
    #[error("qop missing although qop=auth was offered")]
    QopMissing,
    /// `qop=auth-int`, which we did not offer.
    #[error("qop=auth-int was not offered")]
    QopNotSupported,
    /// `qop` present without `cnonce` or `nc` (only possible for hand-built credentials).
    #[error("cnonce or nc missing")]
    QopParamsMissing,
    /// The `uri` is empty.
    #[error("digest uri is empty")]
    MissingUri,
    /// The lookup knew no such user.
    #[error("unknown user")]
    UnknownUser,
    /// The response does not match: wrong password, or a tampered request.
    #[error("response does not match")]
    ResponseMismatch,
}

/// Issues digest challenges and verifies the answers, statelessly.
#[derive(Clone)]
pub struct Challenger {
    mac: HmacSha256,
    realm: String,
    algorithms: Vec<Algorithm>,
    nonce_ttl_secs: u64,
}

impl fmt::Debug for Challenger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Challenger")
            .field("secret", &"<redacted>")
            .field("realm", &self.realm)
            .field("algorithms", &self.algorithms)
            .field("nonce_ttl_secs", &self.nonce_ttl_secs)
            .finish()
    }
}

impl Challenger {
    /// Default nonce lifetime, FreeSWITCH's `nonce-ttl` default.
    pub const DEFAULT_NONCE_TTL_SECS: u64 = 60;

    /// A challenger for `realm` offering `algorithms` (order does not matter: challenges go
    /// out strongest first), keyed by `secret` (at least 16 bytes of random data, kept
    /// private; servers that share it accept each other's nonces).
    pub fn new(
        secret: &[u8],
        realm: impl Into<String>,
        algorithms: &[Algorithm],
    ) -> Result<Self, AuthError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(AuthError::InvalidConfig(
                "server secret must be at least 16 bytes",
            ));
        }
        let realm = realm.into();
        if realm.chars().any(char::is_control) {
            return Err(AuthError::InvalidConfig(
                "realm contains a control character",
            ));
        }
        let mut algorithms = algorithms.to_vec();
        algorithms.sort_unstable_by(|a, b| b.cmp(a));
        algorithms.dedup();
        if algorithms.is_empty() {
            return Err(AuthError::InvalidConfig("no algorithm to offer"));
        }
        let mac = HmacSha256::new_from_slice(secret)
            .map_err(|_| AuthError::InvalidConfig("server secret not usable as an HMAC key"))?;
        Ok(Challenger {
            mac,
            realm,
            algorithms,
            nonce_ttl_secs: Self::DEFAULT_NONCE_TTL_SECS,
        })
    }

    /// Sets how long a nonce stays fresh. After that an otherwise right answer is
    /// [`Verification::Stale`].
    pub fn with_nonce_ttl_secs(mut self, ttl_secs: u64) -> Self {
        self.nonce_ttl_secs = ttl_secs;
        self
    }

    /// The realm challenged.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The algorithms offered, strongest first.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The nonce lifetime in seconds.
    pub fn nonce_ttl_secs(&self) -> u64 {
        self.nonce_ttl_secs
    }

    /// Challenges for a 401/407: one per offered algorithm, strongest first (RFC 8760 §2.3),
    /// all with the same nonce and `qop="auth"`. Send each as its own header.
    pub fn challenge(&self, now_unix_secs: u64) -> Vec<Challenge> {
        self.challenges(now_unix_secs, false)
    }

    /// Like [`challenge`](Self::challenge) with `stale=true`, for answering a
    /// [`Verification::Stale`].
    pub fn stale_challenge(&self, now_unix_secs: u64) -> Vec<Challenge> {
        self.challenges(now_unix_secs, true)
    }

    fn challenges(&self, now_unix_secs: u64, stale: bool) -> Vec<Challenge> {
        let nonce = self.nonce(now_unix_secs);
        self.algorithms
            .iter()
            .map(|&algorithm| Challenge {
                realm: self.realm.clone(),
                nonce: nonce.clone(),
                opaque: None,
                stale,
                algorithm: Some(algorithm),
                qop: vec![Qop::Auth],
                domain: None,
            })
            .collect()
    }

    fn tag(&self, timestamp: u64) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(&timestamp.to_be_bytes());
        // The realm is in the MAC so a nonce from one realm is not accepted for another that
        // happens to share the secret.
        mac.update(self.realm.as_bytes());
        mac
    }

    fn nonce(&self, timestamp: u64) -> String {
        let tag = self.tag(timestamp).finalize().into_bytes();
        let mut nonce = to_hex(&timestamp.to_be_bytes());
        nonce.push_str(&to_hex(tag.get(..NONCE_TAG_LEN).unwrap_or(&tag)));
        nonce
    }

    /// The issue time of `nonce` if we issued it, checked in constant time.
    fn nonce_timestamp(&self, nonce: &str) -> Option<u64> {
        if nonce.len() != NONCE_HEX_LEN {
            return None;
        }
        let bytes = decode_hex(nonce)?;
        let (ts, tag) = bytes.split_at_checked(8)?;
        let timestamp = u64::from_be_bytes(ts.try_into().ok()?);
        self.tag(timestamp)
            .verify_truncated_left(tag)
            .ok()
            .map(|()| timestamp)
    }

    /// Checks an answer to one of our challenges.
    ///
    /// `lookup(username, algorithm)` returns the user's secret, or `None` for an unknown
    /// user; it is called only after the realm, nonce, algorithm and qop checked out.
    /// `method` is the request's method. The response is compared in constant time.
    /// An expired nonce gives [`Verification::Stale`] only when the response is otherwise
    /// right (RFC 7616 §3.3), so a wrong password never turns into an endless stale loop.
    /// A nonce dated in the future is accepted (servers sharing a secret may disagree on
    /// the time by a little; the HMAC still proves we issued it).
    ///
    /// `creds.uri` is part of the response, so it cannot be changed in flight; checking it
    /// against the Request-URI (RFC 3261 §22.4) is left to the caller, which has the message.
    pub fn verify<F>(
        &self,
        creds: &DigestCredentials,
        method: &str,
        lookup: F,
        now_unix_secs: u64,
    ) -> Verification
    where
        F: FnOnce(&str, Algorithm) -> Option<UserSecret>,
    {
        use Verification::Invalid;
        if creds.realm != self.realm {
            return Invalid(InvalidReason::RealmMismatch);
        }
        let Some(issued) = self.nonce_timestamp(&creds.nonce) else {
            return Invalid(InvalidReason::UnknownNonce);
        };
        let algorithm = creds.algorithm();
        if !self.algorithms.contains(&algorithm) {
            return Invalid(InvalidReason::AlgorithmNotOffered);
        }
        let qop = match creds.qop {
            None => return Invalid(InvalidReason::QopMissing),
            Some(Qop::AuthInt) => return Invalid(InvalidReason::QopNotSupported),
            Some(Qop::Auth) => match (creds.nc, creds.cnonce.as_deref()) {
                (Some(nc), Some(cnonce)) => QopAuth { nc, cnonce },
                _ => return Invalid(InvalidReason::QopParamsMissing),
            },
        };
        if creds.uri.is_empty() {
            return Invalid(InvalidReason::MissingUri);
        }
        let ha1 = match lookup(&creds.username, algorithm) {
            None => return Invalid(InvalidReason::UnknownUser),
            Some(UserSecret::Password(password)) => {
                algorithm.ha1(&creds.username, &self.realm, &password)
            }
            Some(UserSecret::Ha1(ha1)) => ha1.to_ascii_lowercase(),
        };
        let expected = algorithm.response(&ha1, method, &creds.uri, &creds.nonce, Some(qop));
        let received = creds.response.to_ascii_lowercase();
        if !constant_time_eq(expected.as_bytes(), received.as_bytes()) {
            return Invalid(InvalidReason::ResponseMismatch);
        }
        if now_unix_secs.saturating_sub(issued) > self.nonce_ttl_secs {
            return Verification::Stale;
        }
        Verification::Ok
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    fn nibble(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            // Our nonces are lowercase; accepting uppercase too would let one nonce have many
            // spellings, which nothing needs.
            _ => None,
        }
    }
    s.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}
