//! A registrar (RFC 3261 §10), sans-IO: REGISTER in, response and outcome out.
//!
//! This module owns the location service of one domain: for each address of record
//! (`sip:<user>@<domain>`) the contacts registered for it, each with its expiry, q-value and
//! the Call-ID and CSeq of the REGISTER that last touched it. It also owns the handling of a
//! REGISTER end to end: the digest challenge and check (through [`Challenger`]), the
//! expiry rules, the ordering rule of RFC 3261 §10.3 step 7, and the caps.
//!
//! It never reads a clock and never opens a socket: every call takes `now` (an [`Instant`]
//! for binding expiry, and Unix seconds for the stateless nonces of [`Challenger`]). The
//! shell sends the returned [`Response`], wakes the registrar at [`Registrar::poll_timeout`]
//! and calls [`Registrar::expire`]. Rate limiting of failures per source address is the
//! shell's job: [`RegisterOutcome::is_failure`] says what to count.
//!
//! Invariants: [`Registrar::contacts`] never returns a binding whose expiry has passed, even
//! before [`Registrar::expire`] ran; no AOR holds more than
//! [`RegistrarConfig::max_contacts_per_aor`] bindings and there are never more than
//! [`RegistrarConfig::max_aors`] AORs; a refused REGISTER changes nothing.
//!
//! Decisions (with the response each gives):
//! - No `Authorization` for our realm, or one whose nonce we did not issue: `401` with a
//!   fresh challenge. A right answer with an expired nonce: `401` with `stale=true`.
//! - An answer to one of *our* nonces that is wrong in any way (wrong password, unknown
//!   user, algorithm or qop not offered): `403`. The nonce proves the client saw our
//!   challenge, so a second challenge would only invite password guessing in a loop.
//! - The `To` user is not the authenticated user: `403`. The `To` host is not our domain:
//!   `404`.
//! - A non-zero expiry below the minimum: `423 Interval Too Brief` with `Min-Expires`.
//!   Above the maximum: silently lowered to it (RFC 3261 §10.3 step 7 allows this).
//! - Same Call-ID and a CSeq not above the stored one: `500` (RFC 3261 says only "the
//!   request fails"; 500 is what RFC 3261 §12.2.2 gives for the same fault in a dialog).
//! - More contacts for one AOR than the cap: `403` (the client's doing; retrying will not
//!   help). A new AOR when the table is full: `503` with `Retry-After` (our capacity).
//! - Malformed `Contact`, `Expires`, `q`, or `*` misused: `400`.
//!
//! Not done: the check of the digest `uri` against the Request-URI (the response binds it
//! and nonces are short-lived), `Require` / `420`, `Path` (RFC 3327), GRUU and outbound
//! (RFC 5626 `reg-id`), and the `Date` header in the 200.

mod request;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::auth::{Challenger, InvalidReason};
use crate::message::{Params, Response, Uri};

/// What is wrong with how the registrar is called (never with what the network sent: that
/// gets a response and a [`RegisterOutcome::Refused`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrarError {
    /// [`Registrar::handle`] was given a request that is not a REGISTER; route only REGISTER
    /// requests here.
    #[error("the request is a {0}, not a REGISTER")]
    NotRegister(String),
    /// The configuration cannot work; the text says which field.
    #[error("invalid registrar configuration: {0}")]
    InvalidConfig(&'static str),
}

/// Limits and defaults of a [`Registrar`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// The domain served: the host of every AOR (`sip:<user>@<domain>`), compared without
    /// regard to case.
    pub domain: String,
    /// Shortest non-zero expiry accepted, in seconds; shorter gets `423`.
    pub min_expires: u32,
    /// Longest expiry granted, in seconds; longer is lowered to this.
    pub max_expires: u32,
    /// Expiry when the REGISTER names none, in seconds (clamped like any other).
    pub default_expires: u32,
    /// Most bindings one AOR may hold.
    pub max_contacts_per_aor: usize,
    /// Most AORs with bindings at once.
    pub max_aors: usize,
    /// `Retry-After` seconds in the `503` when the table is full.
    pub retry_after_secs: u32,
}

impl RegistrarConfig {
    /// Defaults for `domain`: expiries from 60 s to 3600 s (3600 s when unnamed, RFC 3261
    /// §10.2.1.1), 5 contacts per AOR, 10,000 AORs.
    pub fn new(domain: impl Into<String>) -> RegistrarConfig {
        RegistrarConfig {
            domain: domain.into(),
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts_per_aor: 5,
            max_aors: 10_000,
            retry_after_secs: 60,
        }
    }
}

/// One registered contact of an AOR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The contact URI, as registered.
    pub uri: Uri,
    /// When the binding lapses.
    pub expires_at: Instant,
    /// The q-value in thousandths (`q=0.5` is 500), if the contact gave one.
    pub q: Option<u16>,
    /// The Contact's other header parameters (`+sip.instance`, `reg-id`, …), echoed in the
    /// 200: some phones look for their instance there to confirm the registration.
    pub params: Params,
    /// The Call-ID of the REGISTER that last touched it.
    pub call_id: String,
    /// The CSeq of that REGISTER.
    pub cseq: u32,
}

impl Binding {
    /// Seconds left at `now`, rounded down (0 once lapsed).
    pub fn remaining_secs(&self, now: Instant) -> u64 {
        self.expires_at.saturating_duration_since(now).as_secs()
    }

    /// Whether the binding is still in force at `now`.
    pub fn is_live(&self, now: Instant) -> bool {
        self.expires_at > now
    }
}

/// Why a REGISTER was refused. The `Display` text is for logs, not a stable API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// `403`: the answer to our challenge is wrong (wrong password, unknown user, or a
    /// parameter we did not offer).
    #[error("digest answer refused: {0}")]
    BadCredentials(InvalidReason),
    /// `403`: the client authenticated as one user and tried to register another.
    #[error("authenticated as {authenticated:?} but To names {to_user:?}")]
    UserMismatch {
        /// The digest user name.
        authenticated: String,
        /// The user part of To (empty when To has none).
        to_user: String,
    },
    /// `404`: the To URI is not in our domain.
    #[error("To is not an address of record in this domain")]
    NotOurDomain,
    /// `423`: a non-zero expiry below [`RegistrarConfig::min_expires`].
    #[error("expiry of {asked} s is below the minimum of {min} s")]
    IntervalTooBrief {
        /// The expiry asked for.
        asked: u32,
        /// The minimum.
        min: u32,
    },
    /// `500`: same Call-ID as a stored binding and a CSeq not above its CSeq
    /// (RFC 3261 §10.3 step 7): a retransmission or reordering.
    #[error("CSeq {got} is not above the stored {stored} for this Call-ID")]
    OutOfOrder {
        /// The request's CSeq.
        got: u32,
        /// The stored one.
        stored: u32,
    },
    /// `403`: the AOR would hold more than [`RegistrarConfig::max_contacts_per_aor`].
    #[error("more than {max} contacts for one address of record")]
    TooManyContacts {
        /// The cap.
        max: usize,
    },
    /// `503`: a new AOR when [`RegistrarConfig::max_aors`] are registered.
    #[error("registration table is full ({max} addresses of record)")]
    TableFull {
        /// The cap.
        max: usize,
    },
    /// `400`: the request is malformed; the text says where (values cut to 40 characters).
    #[error("malformed REGISTER: {0}")]
    Malformed(String),
}

/// At most 40 characters of `value`, debug-quoted, for a [`Refusal::Malformed`] text.
pub(crate) fn quote_short(value: &str) -> String {
    format!("{:?}", value.chars().take(40).collect::<String>())
}

impl Refusal {
    /// The status code and reason phrase of the response this refusal gets.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            Refusal::BadCredentials(_) | Refusal::UserMismatch { .. } => (403, "Forbidden"),
            Refusal::TooManyContacts { .. } => (403, "Too Many Contacts"),
            Refusal::NotOurDomain => (404, "Not Found"),
            Refusal::IntervalTooBrief { .. } => (423, "Interval Too Brief"),
            Refusal::OutOfOrder { .. } => (500, "Out Of Order CSeq"),
            Refusal::TableFull { .. } => (503, "Service Unavailable"),
            Refusal::Malformed(_) => (400, "Bad Request"),
        }
    }
}

/// What a REGISTER did, for the shell's logs and failure counting.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum RegisterOutcome {
    /// Answered `401`: no usable credentials yet, or (`stale`) a right answer to an expired
    /// nonce. Normal once per registration; many in a row from one source is a scanner.
    Challenged {
        /// The challenge says `stale=true`.
        stale: bool,
    },
    /// Refused with the status [`Refusal::status`] gives.
    Refused(Refusal),
    /// At least one binding was added or refreshed.
    Registered {
        /// The AOR.
        aor: String,
        /// The authenticated user.
        user: String,
    },
    /// Bindings were removed and none added.
    Unregistered {
        /// The AOR.
        aor: String,
        /// How many were removed.
        removed: usize,
    },
    /// A query (no Contact), or a REGISTER that changed nothing: the 200 lists the bindings.
    Queried {
        /// The AOR.
        aor: String,
    },
}

impl RegisterOutcome {
    /// Whether the shell should count this against the source address: a refusal of
    /// credentials or identity. A challenge is not a failure (every client gets one).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            RegisterOutcome::Refused(Refusal::BadCredentials(_) | Refusal::UserMismatch { .. })
        )
    }
}

/// The answer to one REGISTER.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterReply {
    /// The response to send.
    pub response: Response,
    /// What happened.
    pub outcome: RegisterOutcome,
}

/// The registrar: bindings of one domain and the rules for changing them.
#[derive(Debug)]
pub struct Registrar {
    config: RegistrarConfig,
    challenger: Challenger,
    bindings: BTreeMap<String, Vec<Binding>>,
}

impl Registrar {
    /// A registrar with no bindings, challenging with `challenger` (whose realm is the
    /// digest realm).
    pub fn new(config: RegistrarConfig, challenger: Challenger) -> Result<Self, RegistrarError> {
        if config.min_expires == 0 {
            return Err(RegistrarError::InvalidConfig("min_expires must be above 0"));
        }
        if config.min_expires > config.max_expires {
            return Err(RegistrarError::InvalidConfig(
                "min_expires is above max_expires",
            ));
        }
        if config.max_contacts_per_aor == 0 || config.max_aors == 0 {
            return Err(RegistrarError::InvalidConfig(
                "max_contacts_per_aor and max_aors must be above 0",
            ));
        }
        if crate::message::Host::parse(&config.domain).is_err() {
            return Err(RegistrarError::InvalidConfig("domain is not a host name"));
        }
        Ok(Registrar {
            config,
            challenger,
            bindings: BTreeMap::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// The AOR for `user` in our domain: `sip:<user>@<domain>`, domain lowercased.
    pub fn aor_for(&self, user: &str) -> String {
        format!("sip:{user}@{}", self.config.domain.to_ascii_lowercase())
    }

    /// The live bindings of `aor` (`sip:user@domain`, as [`Registrar::aor_for`] spells it;
    /// the domain's case does not matter), highest q first. A lapsed binding is never
    /// returned, whether or not [`Registrar::expire`] has run.
    pub fn contacts(&self, aor: &str, now: Instant) -> Vec<Binding> {
        let Some(key) = normalise_aor(aor) else {
            return Vec::new();
        };
        let mut live: Vec<Binding> = self
            .bindings
            .get(&key)
            .map(|b| b.iter().filter(|b| b.is_live(now)).cloned().collect())
            .unwrap_or_default();
        sort_by_q(&mut live);
        live
    }

    /// How many AORs hold at least one binding (lapsed ones count until
    /// [`Registrar::expire`]).
    pub fn aor_count(&self) -> usize {
        self.bindings.len()
    }

    /// When the next binding lapses: call [`Registrar::expire`] then. `None` when empty.
    /// Scans every binding (bounded by the caps).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.bindings.values().flatten().map(|b| b.expires_at).min()
    }

    /// Removes every binding lapsed at `now` and returns them with their AOR, for logs.
    /// ([`Registrar::handle`] also purges, without reporting, when a new AOR finds the table
    /// full.)
    pub fn expire(&mut self, now: Instant) -> Vec<(String, Binding)> {
        let mut gone = Vec::new();
        self.bindings.retain(|aor, list| {
            list.retain(|b| {
                if b.is_live(now) {
                    true
                } else {
                    gone.push((aor.clone(), b.clone()));
                    false
                }
            });
            !list.is_empty()
        });
        gone
    }

    /// Removes every binding of `aor` (an administrative unregister). Returns how many.
    pub fn remove_aor(&mut self, aor: &str) -> usize {
        normalise_aor(aor)
            .and_then(|key| self.bindings.remove(&key))
            .map_or(0, |list| list.len())
    }
}

/// `sip:user@host` with the host lowercased, or `None` when `aor` is not a SIP URI with a
/// user.
fn normalise_aor(aor: &str) -> Option<String> {
    let uri = Uri::parse(aor).ok()?;
    aor_of(&uri)
}

/// The AOR key of a To URI: scheme `sip` (a `sips` AOR is the same AOR), the user as sent,
/// the host lowercased; port and parameters dropped (RFC 3261 §10.3 step 5).
pub(crate) fn aor_of(uri: &Uri) -> Option<String> {
    use crate::message::Scheme;
    if uri.scheme == Scheme::Tel {
        return None;
    }
    let user = uri.user.as_deref()?;
    Some(format!(
        "sip:{user}@{}",
        uri.host.to_string().to_ascii_lowercase()
    ))
}

fn sort_by_q(list: &mut [Binding]) {
    // No q means 1.0 (RFC 3261 §20.10 leaves it open; most registrars read it so).
    list.sort_by_key(|b| std::cmp::Reverse(b.q.unwrap_or(1000)));
}

/// `now + secs`; `now` itself (the binding lapses at once) in the unlikely case that
/// overflows the platform's `Instant`.
fn deadline(now: Instant, secs: u32) -> Instant {
    let d = Duration::from_secs(u64::from(secs));
    now.checked_add(d).unwrap_or(now)
}
