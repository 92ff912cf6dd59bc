//! The client side: answering a 401/407 and deciding what a second one means.

use std::fmt;

use super::digest::QopAuth;
use super::{AuthError, Challenge, DigestCredentials, Qop};

/// How many stale nonces in a row one request may see before giving up. A server whose
/// nonces keep going stale immediately is broken (or its clock is), and retrying forever
/// would loop.
const MAX_STALE_RETRIES: u8 = 3;

/// The user's name and password for one realm.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// The user name (SIP: usually the account or DID, not the display name).
    pub username: String,
    /// The password; never printed by `Debug`.
    pub password: String,
}

impl ClientCredentials {
    /// Credentials from a user name and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        ClientCredentials {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Answers the strongest usable challenge among `challenges` (all from one 401/407).
///
/// The strongest algorithm wins (SHA-512-256 > SHA-256 > MD5, RFC 8760 §2.4); among equals
/// the first offered. A challenge offering `qop` without `auth` (only `auth-int`) is skipped.
/// With `qop=auth` offered the answer uses it, with `nc` as given and `cnonce`; otherwise it
/// is the RFC 2069 form and `cnonce`/`nc` are not sent. `opaque` is echoed.
///
/// `uri` is the Request-URI of the request being sent (RFC 3261 §22.4) and `method` its
/// method. `cnonce` should be fresh random text from the caller (this crate owns no RNG);
/// `nc` starts at 1 for each new nonce — [`ClientAuthState`] keeps that count.
///
/// This answers one realm with one set of credentials. When a forking proxy challenges for
/// several realms, filter `challenges` by realm and call this once per realm.
pub fn respond(
    challenges: &[Challenge],
    creds: &ClientCredentials,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> Result<DigestCredentials, AuthError> {
    answer(choose(challenges)?, creds, method, uri, cnonce, nc)
}

/// The challenge [`respond`] would answer.
fn choose(challenges: &[Challenge]) -> Result<&Challenge, AuthError> {
    let mut best: Option<&Challenge> = None;
    for c in challenges {
        let usable_qop = c.qop.is_empty() || c.qop.contains(&Qop::Auth);
        if usable_qop && best.is_none_or(|b| c.algorithm() > b.algorithm()) {
            best = Some(c);
        }
    }
    match best {
        Some(c) => Ok(c),
        None if challenges.is_empty() => Err(AuthError::NoChallenge),
        None => Err(AuthError::UnsupportedQop),
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

fn answer(
    challenge: &Challenge,
    creds: &ClientCredentials,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> Result<DigestCredentials, AuthError> {
    // These end up in a header; a control character would corrupt or split it.
    if has_control(&creds.username) {
        return Err(AuthError::InvalidConfig(
            "username contains a control character",
        ));
    }
    if uri.is_empty() || has_control(uri) {
        return Err(AuthError::InvalidConfig(
            "uri is empty or contains a control character",
        ));
    }
    if method.is_empty() || has_control(method) {
        return Err(AuthError::InvalidConfig(
            "method is empty or contains a control character",
        ));
    }
    let use_qop = challenge.qop.contains(&Qop::Auth);
    if use_qop {
        if cnonce.is_empty() || has_control(cnonce) {
            return Err(AuthError::InvalidConfig(
                "cnonce is empty or contains a control character",
            ));
        }
        if nc == 0 {
            return Err(AuthError::InvalidConfig("nc starts at 1"));
        }
    }
    let algorithm = challenge.algorithm();
    let ha1 = algorithm.ha1(&creds.username, &challenge.realm, &creds.password);
    let qop = use_qop.then_some(QopAuth { nc, cnonce });
    let response = algorithm.response(&ha1, method, uri, &challenge.nonce, qop);
    Ok(DigestCredentials {
        username: creds.username.clone(),
        realm: challenge.realm.clone(),
        nonce: challenge.nonce.clone(),
        uri: uri.to_owned(),
        response,
        // Always named, MD5 included: every peer accepts `algorithm=MD5`, and it removes any
        // doubt about which hash was used.
        algorithm: Some(algorithm),
        cnonce: use_qop.then(|| cnonce.to_owned()),
        opaque: challenge.opaque.clone(),
        qop: use_qop.then_some(Qop::Auth),
        nc: use_qop.then_some(nc),
    })
}

/// What to do after a 401/407, as decided by [`ClientAuthState::on_challenge`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum AuthStep {
    /// Re-send the request (same Call-ID, CSeq + 1) with these credentials in
    /// `Authorization` (after a 401) or `Proxy-Authorization` (after a 407).
    Retry(DigestCredentials),
    /// Stop: sending again would not help.
    GiveUp(GiveUpReason),
}

/// Why [`ClientAuthState`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// An answer to a fresh challenge was refused without `stale=true`: the user name or
    /// password is wrong (or the account is not allowed). Report it; do not retry.
    CredentialsRejected,
    /// The server kept saying `stale=true`; its nonces expire before they can be used.
    TooManyStaleNonces,
}

/// Which answer the request in flight carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// No credentials were sent with it.
    None,
    /// Credentials for a nonce remembered from an earlier exchange ([`ClientAuthState::authorize`]).
    Reused,
    /// Credentials answering the challenge just received.
    Fresh,
}

/// Per-peer client digest state: the nonce in use, its count, and whether the request in
/// flight already answered a fresh challenge.
///
/// One per registration or per dialog peer and realm. Use it like this:
///
/// 1. Before sending a request, call [`authorize`](Self::authorize): with a remembered nonce
///    it returns credentials (next `nc`) to send pre-emptively, which saves a round trip.
/// 2. On 401/407, call [`on_challenge`](Self::on_challenge). It returns
///    [`AuthStep::Retry`] when a retry can succeed — the first challenge, a challenge after a
///    pre-emptive answer (the server dropped our old nonce), or `stale=true` (the nonce
///    expired but the password was right) — and [`AuthStep::GiveUp`] when an answer to a
///    fresh challenge was refused without `stale=true`, which means wrong credentials.
/// 3. On any other final response, call [`on_final_response`](Self::on_final_response).
#[derive(Debug, Clone)]
pub struct ClientAuthState {
    current: Option<NonceInUse>,
    pending: Pending,
    stale_retries: u8,
}

#[derive(Debug, Clone)]
struct NonceInUse {
    challenge: Challenge,
    nc: u32,
}

impl Default for ClientAuthState {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientAuthState {
    /// State with no nonce yet.
    pub fn new() -> Self {
        ClientAuthState {
            current: None,
            pending: Pending::None,
            stale_retries: 0,
        }
    }

    /// Credentials for a new request from the remembered nonce with the next `nc`, or `None`
    /// when there is no nonce yet (send the request without credentials).
    pub fn authorize(
        &mut self,
        creds: &ClientCredentials,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> Result<Option<DigestCredentials>, AuthError> {
        self.stale_retries = 0;
        let Some(current) = &mut self.current else {
            self.pending = Pending::None;
            return Ok(None);
        };
        let Some(nc) = current.nc.checked_add(1) else {
            // 2^32 requests on one nonce: start over with a fresh challenge.
            self.current = None;
            self.pending = Pending::None;
            return Ok(None);
        };
        let answered = answer(&current.challenge, creds, method, uri, cnonce, nc)?;
        current.nc = nc;
        self.pending = Pending::Reused;
        Ok(Some(answered))
    }

    /// Decides what to do about a 401/407 carrying `challenges` for the request in flight.
    ///
    /// Errors only when no challenge can be answered (unsupported qop, none given) or the
    /// arguments are unusable; see [`respond`].
    pub fn on_challenge(
        &mut self,
        challenges: &[Challenge],
        creds: &ClientCredentials,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> Result<AuthStep, AuthError> {
        let chosen = choose(challenges)?;
        if self.pending == Pending::Fresh {
            if !chosen.stale {
                // Our answer to a fresh nonce was refused and the server does not blame the
                // nonce: the password is wrong. Forget the nonce so nothing reuses it.
                self.current = None;
                self.pending = Pending::None;
                return Ok(AuthStep::GiveUp(GiveUpReason::CredentialsRejected));
            }
            if self.stale_retries >= MAX_STALE_RETRIES {
                self.current = None;
                self.pending = Pending::None;
                return Ok(AuthStep::GiveUp(GiveUpReason::TooManyStaleNonces));
            }
            self.stale_retries += 1;
        }
        // nc counts uses of one nonce; a new nonce starts again at 1 (RFC 7616 §3.4).
        let nc = match &self.current {
            Some(c) if c.challenge.nonce == chosen.nonce && c.challenge.realm == chosen.realm => {
                c.nc.saturating_add(1)
            }
            _ => 1,
        };
        let answered = answer(chosen, creds, method, uri, cnonce, nc)?;
        self.current = Some(NonceInUse {
            challenge: chosen.clone(),
            nc,
        });
        self.pending = Pending::Fresh;
        Ok(AuthStep::Retry(answered))
    }

    /// The request in flight got a final response other than 401/407: our credentials (if
    /// any) were accepted, and the next request starts afresh.
    pub fn on_final_response(&mut self) {
        self.pending = Pending::None;
        self.stale_retries = 0;
    }

    /// The nonce count last used with the remembered nonce, if any.
    pub fn nonce_count(&self) -> Option<u32> {
        self.current.as_ref().map(|c| c.nc)
    }
}
