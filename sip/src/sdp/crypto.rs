//! SDES: the `a=crypto` attribute (RFC 4568) and the SRTP policy offer/
//! answer applies with it.
//!
//! Only `AES_CM_128_HMAC_SHA1_80` with one `inline:` key, no MKI, is
//! accepted: the suite every carrier offering SDES supports, and the one
//! the media side implements. Keys stay base64 text here (this crate has no
//! base64 and no randomness); the caller draws ours and decodes theirs.

/// The one SRTP crypto suite we negotiate.
pub const AES_CM_128_HMAC_SHA1_80: &str = "AES_CM_128_HMAC_SHA1_80";

/// Whether a stream must, may or must not be SRTP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SrtpPolicy {
    /// Plain RTP only: an `RTP/SAVP` offer is refused.
    #[default]
    Off,
    /// SRTP when the offer has a usable `a=crypto`, else plain RTP.
    Optional,
    /// SRTP only: a plain offer is refused (SIP: 488).
    Required,
}

/// Our SDES side: the policy and our key (base64 of the 30 key+salt bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct LocalSrtp {
    /// What we accept.
    pub policy: SrtpPolicy,
    /// Our master key and salt, base64, for the answer's `inline:`.
    pub inline_key: String,
}

impl std::fmt::Debug for LocalSrtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key material never reaches a log.
        f.debug_struct("LocalSrtp")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// What SDES settled for a stream: each side's key, base64.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The suite (always [`AES_CM_128_HMAC_SHA1_80`] today).
    pub suite: String,
    /// The key the peer sends with (from its `a=crypto`).
    pub remote_inline_key: String,
    /// The key we send with.
    pub local_inline_key: String,
}

impl std::fmt::Debug for SrtpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpKeys")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

/// One `a=crypto:<tag> <suite> <key-params> [<session-params>]` value.
#[derive(Clone, PartialEq, Eq)]
pub struct Crypto {
    /// The tag the answer echoes.
    pub tag: u32,
    /// The crypto suite name.
    pub suite: String,
    /// The first `inline:` key's base64 text (without lifetime or MKI).
    pub inline_key: String,
    /// Whether the key carries an MKI (`|n:len`), which we do not support.
    pub has_mki: bool,
    /// Session parameters (`UNENCRYPTED_SRTP`, `KDR=`…), if any.
    pub session_params: Vec<String>,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crypto")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl Crypto {
    /// Parses an `a=crypto` value; `None` if it is malformed.
    pub fn parse(value: &str) -> Option<Crypto> {
        let mut parts = value.split_ascii_whitespace();
        let tag = parts.next()?.parse::<u32>().ok()?;
        let suite = parts.next()?.to_owned();
        let key_params = parts.next()?;
        // Several keys are separated by ';' (RFC 4568 §9.1); the first one
        // is the one in use.
        let first = key_params.split(';').next()?;
        let key = first.strip_prefix("inline:")?;
        let mut fields = key.split('|');
        let inline_key = fields.next()?.to_owned();
        if inline_key.is_empty() {
            return None;
        }
        let has_mki = fields.any(|f| f.contains(':'));
        Some(Crypto {
            tag,
            suite,
            inline_key,
            has_mki,
            session_params: parts.map(str::to_owned).collect(),
        })
    }

    /// Whether we can use it: our suite, no MKI, no session parameter that
    /// changes the transform (unencrypted or unauthenticated SRTP, a key
    /// derivation rate, FEC order…). `WSH=` (a window hint) is harmless.
    pub fn is_usable(&self) -> bool {
        self.suite == AES_CM_128_HMAC_SHA1_80
            && !self.has_mki
            && self
                .session_params
                .iter()
                .all(|p| p.to_ascii_uppercase().starts_with("WSH="))
    }

    /// The attribute value for our answer: `tag` echoed, our key.
    pub fn answer_value(tag: u32, inline_key: &str) -> String {
        format!("{tag} {AES_CM_128_HMAC_SHA1_80} inline:{inline_key}")
    }
}
