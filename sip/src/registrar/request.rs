//! Handling one REGISTER (RFC 3261 §10.3): authenticate, read the contacts and expiries,
//! check them all, then apply them all or nothing, and answer.

use std::time::Instant;

use super::{
    aor_of, deadline, quote_short, sort_by_q, Binding, Refusal, RegisterOutcome, RegisterReply,
    Registrar, RegistrarError,
};
use crate::auth::{Algorithm, DigestCredentials, InvalidReason, UserSecret, Verification};
use crate::message::{Method, NameAddr, Params, Request, SipHeaders, Uri};

/// One Contact of the request, read and checked.
struct Wanted {
    uri: Uri,
    /// The Contact's header parameters but `expires` and `q`.
    params: Params,
    /// Granted expiry in seconds; 0 removes.
    expires: u32,
    q: Option<u16>,
}

/// Why a REGISTER is not authenticated.
enum AuthFailure {
    /// Answer 401, with `stale=true` or not.
    Challenge { stale: bool },
    /// Answer with the refusal's status (403).
    Refuse(Refusal),
}

/// What the Contact headers ask.
enum Change {
    /// No Contact: list the bindings.
    Query,
    /// `Contact: *` with `Expires: 0`.
    RemoveAll,
    /// Add, refresh or remove these.
    Update(Vec<Wanted>),
}

impl Registrar {
    /// Handles a REGISTER received at `now` (`now_unix_secs` is the wall clock, for the
    /// digest nonces). `lookup(user, algorithm)` gives a user's secret, or `None` for an
    /// unknown user; it is called at most once, and only for a well-formed answer to one of
    /// our nonces.
    ///
    /// Returns the response to send and what happened. Network input never makes this fail:
    /// it gets a `4xx`/`5xx` and [`RegisterOutcome::Refused`]. A refused or challenged
    /// REGISTER changes no binding.
    pub fn handle<F>(
        &mut self,
        request: &Request,
        now: Instant,
        now_unix_secs: u64,
        lookup: F,
    ) -> Result<RegisterReply, RegistrarError>
    where
        F: FnOnce(&str, Algorithm) -> Option<UserSecret>,
    {
        if request.method != Method::Register {
            return Err(RegistrarError::NotRegister(request.method.to_string()));
        }
        let user = match self.authenticate(request, lookup, now_unix_secs) {
            Ok(user) => user,
            Err(AuthFailure::Challenge { stale }) => {
                return Ok(self.challenge(request, stale, now_unix_secs))
            }
            Err(AuthFailure::Refuse(refusal)) => return Ok(self.refuse(request, refusal)),
        };
        Ok(match self.register(request, &user, now) {
            Ok((outcome, aor)) => {
                let mut response = request.response(200, "OK", Some(&to_tag(request)));
                for b in self.contacts(&aor, now) {
                    let mut contact = NameAddr {
                        display: None,
                        uri: b.uri.clone(),
                        params: b.params.clone(),
                    };
                    contact
                        .params
                        .set("expires", Some(&b.remaining_secs(now).to_string()));
                    if let Some(q) = b.q {
                        contact.params.set("q", Some(&format_q(q)));
                    }
                    response
                        .headers
                        .push_trusted("Contact", contact.to_string());
                }
                RegisterReply { response, outcome }
            }
            Err(refusal) => self.refuse(request, refusal),
        })
    }

    /// The authenticated user name, or why not (a 401 or a 403).
    fn authenticate<F>(
        &self,
        request: &Request,
        lookup: F,
        now_unix_secs: u64,
    ) -> Result<String, AuthFailure>
    where
        F: FnOnce(&str, Algorithm) -> Option<UserSecret>,
    {
        let realm = self.challenger.realm();
        // A client may carry answers for several realms (RFC 3261 §22.3); only ours counts.
        // An unparsable Authorization is treated as absent: the client gets a challenge.
        let creds = request
            .headers
            .get_all("Authorization")
            .into_iter()
            .filter_map(|v| DigestCredentials::parse(v).ok())
            .find(|c| c.realm == realm);
        let Some(creds) = creds else {
            return Err(AuthFailure::Challenge { stale: false });
        };
        match self
            .challenger
            .verify(&creds, Method::Register.as_str(), lookup, now_unix_secs)
        {
            Verification::Ok => Ok(creds.username),
            Verification::Stale => Err(AuthFailure::Challenge { stale: true }),
            // Not an answer to one of our challenges (a restart with a new secret, another
            // server's nonce): challenge afresh.
            Verification::Invalid(InvalidReason::UnknownNonce | InvalidReason::RealmMismatch) => {
                Err(AuthFailure::Challenge { stale: false })
            }
            // An answer to our own challenge, and wrong: no second chance on this nonce.
            Verification::Invalid(reason) => {
                Err(AuthFailure::Refuse(Refusal::BadCredentials(reason)))
            }
        }
    }

    fn challenge(&self, request: &Request, stale: bool, now_unix_secs: u64) -> RegisterReply {
        let mut response = request.response(401, "Unauthorized", Some(&to_tag(request)));
        let challenges = if stale {
            self.challenger.stale_challenge(now_unix_secs)
        } else {
            self.challenger.challenge(now_unix_secs)
        };
        for c in challenges {
            response
                .headers
                .push_trusted("WWW-Authenticate", c.to_string());
        }
        RegisterReply {
            response,
            outcome: RegisterOutcome::Challenged { stale },
        }
    }

    fn refuse(&self, request: &Request, refusal: Refusal) -> RegisterReply {
        let (status, reason) = refusal.status();
        let mut response = request.response(status, reason, Some(&to_tag(request)));
        match &refusal {
            Refusal::IntervalTooBrief { min, .. } => {
                response
                    .headers
                    .push_trusted("Min-Expires", min.to_string());
            }
            Refusal::TableFull { .. } => {
                response
                    .headers
                    .push_trusted("Retry-After", self.config.retry_after_secs.to_string());
            }
            _ => {}
        }
        RegisterReply {
            response,
            outcome: RegisterOutcome::Refused(refusal),
        }
    }

    /// Checks and applies the request for the authenticated `user`; returns the outcome and
    /// the AOR.
    fn register(
        &mut self,
        request: &Request,
        user: &str,
        now: Instant,
    ) -> Result<(RegisterOutcome, String), Refusal> {
        let to = request
            .to()
            .map_err(|e| Refusal::Malformed(format!("To: {e}")))?;
        let to_user = to.uri.user.clone().unwrap_or_default();
        if to_user != user {
            return Err(Refusal::UserMismatch {
                authenticated: user.to_owned(),
                to_user,
            });
        }
        let aor = aor_of(&to.uri).ok_or(Refusal::NotOurDomain)?;
        if !to
            .uri
            .host
            .to_string()
            .eq_ignore_ascii_case(&self.config.domain)
        {
            return Err(Refusal::NotOurDomain);
        }
        let call_id = request
            .call_id()
            .ok_or_else(|| Refusal::Malformed("no Call-ID".into()))?
            .to_owned();
        let cseq = request
            .cseq()
            .map_err(|e| Refusal::Malformed(e.to_string()))?
            .seq;
        let change = self.read_contacts(request)?;

        // Work on a copy of the AOR's live bindings; commit only if every check passes.
        let before: Vec<Binding> = self
            .bindings
            .get(&aor)
            .map(|l| l.iter().filter(|b| b.is_live(now)).cloned().collect())
            .unwrap_or_default();
        let mut after = before.clone();
        let (mut added, mut removed) = (0usize, 0usize);
        match change {
            Change::Query => return Ok((RegisterOutcome::Queried { aor: aor.clone() }, aor)),
            Change::RemoveAll => {
                for b in &after {
                    check_order(b, &call_id, cseq)?;
                }
                removed = after.len();
                after.clear();
            }
            Change::Update(wanted) => {
                for w in wanted {
                    // Ordering is checked against what was stored before this request, so
                    // one contact listed twice is not its own predecessor.
                    if let Some(old) = before.iter().find(|b| same_contact(&b.uri, &w.uri)) {
                        check_order(old, &call_id, cseq)?;
                    }
                    let existing = after.iter().position(|b| same_contact(&b.uri, &w.uri));
                    match (existing, w.expires) {
                        (Some(i), 0) => {
                            after.remove(i);
                            removed += 1;
                        }
                        (None, 0) => {}
                        (existing, expires) => {
                            let binding = Binding {
                                uri: w.uri,
                                params: w.params,
                                expires_at: deadline(now, expires),
                                q: w.q,
                                call_id: call_id.clone(),
                                cseq,
                            };
                            match existing {
                                Some(i) => after[i] = binding,
                                None => after.push(binding),
                            }
                            added += 1;
                        }
                    }
                }
            }
        }
        if after.len() > self.config.max_contacts_per_aor {
            return Err(Refusal::TooManyContacts {
                max: self.config.max_contacts_per_aor,
            });
        }
        let is_new_aor = !self.bindings.contains_key(&aor);
        if is_new_aor && !after.is_empty() && self.bindings.len() >= self.config.max_aors {
            // Lapsed bindings may still hold slots if the shell has not called expire()
            // yet; they do not count against the cap.
            let _ = self.expire(now);
            if self.bindings.len() >= self.config.max_aors {
                return Err(Refusal::TableFull {
                    max: self.config.max_aors,
                });
            }
        }
        if after.is_empty() {
            self.bindings.remove(&aor);
        } else {
            sort_by_q(&mut after);
            self.bindings.insert(aor.clone(), after);
        }
        let outcome = if added > 0 {
            RegisterOutcome::Registered {
                aor: aor.clone(),
                user: user.to_owned(),
            }
        } else if removed > 0 {
            RegisterOutcome::Unregistered {
                aor: aor.clone(),
                removed,
            }
        } else {
            RegisterOutcome::Queried { aor: aor.clone() }
        };
        Ok((outcome, aor))
    }

    /// Reads Contact and Expires: what is asked, with each expiry clamped or refused.
    fn read_contacts(&self, request: &Request) -> Result<Change, Refusal> {
        let contacts = request.headers.get_all("Contact");
        let header_expires = match request.headers.get("Expires") {
            Some(v) => Some(delta_seconds(v).ok_or_else(|| {
                Refusal::Malformed(format!("Expires {} is not a number", quote_short(v)))
            })?),
            None => None,
        };
        if contacts.is_empty() {
            return Ok(Change::Query);
        }
        if contacts.iter().any(|c| c.trim() == "*") {
            // RFC 3261 §10.2.2: `*` only alone, and only with Expires: 0.
            if contacts.len() != 1 || header_expires != Some(0) {
                return Err(Refusal::Malformed(
                    "Contact: * must be the only contact and come with Expires: 0".into(),
                ));
            }
            return Ok(Change::RemoveAll);
        }
        let mut wanted = Vec::with_capacity(contacts.len());
        for value in contacts {
            let contact =
                NameAddr::parse(value).map_err(|e| Refusal::Malformed(format!("Contact: {e}")))?;
            let asked = match contact.params.get("expires") {
                Some(v) => delta_seconds(v.unwrap_or("")).ok_or_else(|| {
                    Refusal::Malformed(format!(
                        "Contact expires {} is not a number",
                        quote_short(v.unwrap_or(""))
                    ))
                })?,
                None => header_expires.unwrap_or(self.config.default_expires),
            };
            let expires = match asked {
                0 => 0,
                a if a < self.config.min_expires => {
                    return Err(Refusal::IntervalTooBrief {
                        asked: a,
                        min: self.config.min_expires,
                    })
                }
                a => a.min(self.config.max_expires),
            };
            let q = match contact.params.get("q") {
                Some(v) => Some(parse_q(v.unwrap_or("")).ok_or_else(|| {
                    Refusal::Malformed(format!(
                        "Contact q {} is not from 0 to 1",
                        quote_short(v.unwrap_or(""))
                    ))
                })?),
                None => None,
            };
            let mut params = contact.params;
            params.0.retain(|(k, _)| {
                !k.eq_ignore_ascii_case("expires") && !k.eq_ignore_ascii_case("q")
            });
            wanted.push(Wanted {
                uri: contact.uri,
                params,
                expires,
                q,
            });
        }
        Ok(Change::Update(wanted))
    }
}

/// RFC 3261 §10.3 step 7: same Call-ID needs a higher CSeq.
fn check_order(stored: &Binding, call_id: &str, cseq: u32) -> Result<(), Refusal> {
    if stored.call_id == call_id && cseq <= stored.cseq {
        return Err(Refusal::OutOfOrder {
            got: cseq,
            stored: stored.cseq,
        });
    }
    Ok(())
}

/// Contact URI equality, close to RFC 3261 §19.1.4: scheme, user (case-sensitive), host
/// (case-insensitive), port, and parameters by name (case-insensitive) and value.
fn same_contact(a: &Uri, b: &Uri) -> bool {
    let params = |u: &Uri| {
        let mut p: Vec<(String, Option<String>)> = u
            .params
            .0
            .iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    v.as_ref().map(|v| v.to_ascii_lowercase()),
                )
            })
            .collect();
        p.sort();
        p
    };
    a.scheme == b.scheme
        && a.user == b.user
        && a.host.to_string().eq_ignore_ascii_case(&b.host.to_string())
        && a.port == b.port
        && params(a) == params(b)
}

/// `delta-seconds`: digits only; values beyond `u32` saturate (RFC 3261 §20.19 says treat
/// huge as the maximum).
fn delta_seconds(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u32>().unwrap_or(u32::MAX))
}

/// A q-value (`0`, `0.5`, `1.000`) in thousandths.
fn parse_q(s: &str) -> Option<u16> {
    let (int, frac) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

fn format_q(q: u16) -> String {
    if q >= 1000 {
        "1".to_owned()
    } else {
        let s = format!("0.{q:03}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// The To tag of our responses: derived from the Call-ID, so a retransmitted REGISTER gets
/// the same tag, with no random source in this crate.
fn to_tag(request: &Request) -> String {
    // FNV-1a, 64 bits: not for secrecy, only to be stable and short.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in request.call_id().unwrap_or("").bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("reg{hash:016x}")
}
