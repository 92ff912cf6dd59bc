//! Reps' SIP phones registering with us (decision 0032): the tokio-side
//! owner of the sans-IO [`Registrar`], the per-source limit on failed
//! registrations, and the [`Registrations`] handle the rest of the server
//! reads bindings through.
//!
//! A rep's phone registers as `sip:<rep id>@<[sip] domain>` with digest
//! credentials: the user name is the rep id, the realm the domain, the
//! password the one the rep's `sip_password_env` names. Only sources in
//! `[sip] register_allow` may register; the endpoint drops the others
//! before anything else sees them (like requests from an unknown source).
//!
//! Failures ([`RegisterOutcome::is_failure`]: wrong credentials, or an
//! address that is not the authenticated rep's) are counted per source IP:
//! after [`MAX_FAILURES`] within [`FAILURE_WINDOW`], REGISTERs from that
//! source are dropped without an answer until the window that began with
//! its first failure has passed. Per source rather than one bucket (as the
//! admin token has) because the allow list already bounds who can try,
//! and one broken phone must not lock every rep out.
//!
//! A rep with a live binding is reachable by SIP: the directory learns of
//! the first binding and of the last one going (unregister or expiry), see
//! [`crate::handoff::presence`]. Expiry runs on the endpoint's timer: the
//! endpoint wakes at [`Registrations::poll_timeout`] and calls
//! [`Registrations::expire`].

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use warmline_sip::auth::{Algorithm, AuthError, Challenger, UserSecret};
use warmline_sip::message::{Request, SipHeaders};
use warmline_sip::registrar::{
    RegisterOutcome, RegisterReply, Registrar, RegistrarConfig, RegistrarError,
};
use warmline_sip::transaction::{ServerTxId, Transport};

use super::endpoint::Endpoint;
use crate::config::{Cidr, RepConfig, SipConfig};
use crate::handoff::{Handoff, RepId};

/// Failed registrations from one source IP before it is dropped.
pub const MAX_FAILURES: u32 = 5;
/// The window failures are counted in, from the first one.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Sources whose failures are tracked at once; beyond it the oldest
/// window is forgotten (the allow list bounds who can fail at all).
pub const MAX_TRACKED_SOURCES: usize = 4_096;
/// Gauge: live contacts registered by reps' phones.
pub const REGISTERED_CONTACTS: &str = "warmline_sip_registered_contacts";

/// Why the registrar cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationsError {
    /// An algorithm name is unknown; fix `[sip] register_digest_algorithms`.
    #[error("sip.register_digest_algorithms: {0:?} is not SHA-256, SHA-512-256 or MD5")]
    Algorithm(String),
    /// The digest challenger refused its settings (the realm, from
    /// `[sip] domain`).
    #[error("cannot set up the registrar's digest challenges: {0}")]
    Digest(#[from] AuthError),
    /// The registrar refused its settings (the domain is not a host name:
    /// check `[sip] domain`).
    #[error("cannot set up the SIP registrar: {0}")]
    Registrar(#[from] RegistrarError),
}

/// A rep's phone as registered: where to send an INVITE for the rep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredContact {
    /// The Contact URI the phone registered.
    pub uri: String,
    /// Where its REGISTER came from: send here when the Contact is a
    /// private address behind NAT.
    pub source: SocketAddr,
    /// The transport the REGISTER came over.
    pub transport: Transport,
}

/// Failed registrations per source, in fixed windows. Sans-IO.
#[derive(Debug, Default)]
pub struct FailureLimiter {
    windows: HashMap<IpAddr, FailureWindow>,
}

#[derive(Debug, Clone, Copy)]
struct FailureWindow {
    started: Instant,
    failures: u32,
}

impl FailureWindow {
    fn open(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.started) < FAILURE_WINDOW
    }
}

impl FailureLimiter {
    /// Whether REGISTERs from `ip` are dropped at `now`.
    pub fn is_limited(&self, ip: IpAddr, now: Instant) -> bool {
        self.windows
            .get(&ip)
            .is_some_and(|w| w.open(now) && w.failures >= MAX_FAILURES)
    }

    /// Counts a failure from `ip` at `now`; true when this one reached the
    /// limit.
    pub fn failed(&mut self, ip: IpAddr, now: Instant) -> bool {
        if !self.windows.contains_key(&ip) && self.windows.len() >= MAX_TRACKED_SOURCES {
            self.windows.retain(|_, w| w.open(now));
            if self.windows.len() >= MAX_TRACKED_SOURCES {
                let oldest = self
                    .windows
                    .iter()
                    .min_by_key(|(_, w)| w.started)
                    .map(|(ip, _)| *ip);
                if let Some(oldest) = oldest {
                    self.windows.remove(&oldest);
                }
            }
        }
        let window = self.windows.entry(ip).or_insert(FailureWindow {
            started: now,
            failures: 0,
        });
        if !window.open(now) {
            *window = FailureWindow {
                started: now,
                failures: 0,
            };
        }
        window.failures += 1;
        window.failures == MAX_FAILURES
    }

    /// Sources tracked (for tests).
    pub fn tracked(&self) -> usize {
        self.windows.len()
    }
}

/// The registrations of reps' phones, shared: the endpoint writes, the
/// rep leg reads [`Registrations::contact`]. Cheap to clone.
#[derive(Clone)]
pub struct Registrations(Arc<Inner>);

struct Inner {
    allow: Vec<Cidr>,
    /// Rep id → digest password (reps with `sip_password_env` only).
    passwords: HashMap<String, String>,
    state: Mutex<State>,
    /// Told when a rep gains or loses their phone.
    handoff: OnceLock<Handoff>,
    /// The SIP rep lines: a registered phone's line comes up through them
    /// (weak: the lines hold the endpoint's service, which holds this).
    lines: OnceLock<super::rep::WeakSipLines>,
}

struct State {
    registrar: Registrar,
    limiter: FailureLimiter,
    /// (rep id, Contact URI) → where the REGISTER came from and how.
    sources: HashMap<(String, String), (SocketAddr, Transport)>,
    /// Reps with a live binding, as last told to the directory.
    reachable: BTreeSet<String>,
}

impl std::fmt::Debug for Registrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the passwords.
        f.debug_struct("Registrations")
            .field("allow", &self.0.allow)
            .field("reps", &self.0.passwords.len())
            .finish()
    }
}

/// What a REGISTER did to one rep's reachability.
struct Change {
    rep: String,
    reachable: bool,
}

impl Registrations {
    /// The registrar of `config`'s domain for `reps`; `secret` (16 bytes
    /// or more) keys the nonces; `env` reads the `sip_password_env`
    /// variables (an unset one: that rep cannot register).
    pub fn new(
        config: &SipConfig,
        reps: &[RepConfig],
        secret: &[u8],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Registrations, RegistrationsError> {
        let algorithms = config
            .register_digest_algorithms
            .iter()
            .map(|a| {
                a.parse::<Algorithm>()
                    .map_err(|_| RegistrationsError::Algorithm(a.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let domain = config.registrar_domain();
        let challenger = Challenger::new(secret, domain.clone(), &algorithms)?;
        let mut registrar_config = RegistrarConfig::new(domain);
        // Only configured reps can authenticate, so this bounds nothing a
        // peer controls; it keeps the table's own cap meaningful.
        registrar_config.max_aors = reps.len().max(1);
        let registrar = Registrar::new(registrar_config, challenger)?;
        let passwords = reps
            .iter()
            .filter_map(|r| {
                let password = env(r.sip_password_env.as_deref()?).filter(|p| !p.is_empty())?;
                Some((r.id.clone(), password))
            })
            .collect();
        register_metrics();
        Ok(Registrations(Arc::new(Inner {
            allow: config.register_allow.clone(),
            passwords,
            state: Mutex::new(State {
                registrar,
                limiter: FailureLimiter::default(),
                sources: HashMap::new(),
                reachable: BTreeSet::new(),
            }),
            handoff: OnceLock::new(),
            lines: OnceLock::new(),
        })))
    }

    /// Brings a registered phone's line up through `lines` on each
    /// successful REGISTER (the first call wins).
    pub fn set_lines(&self, lines: super::rep::WeakSipLines) {
        let _ = self.0.lines.set(lines);
    }

    /// Where the rep leg finds a registered phone (decision 0034's seam):
    /// the live contact with the highest q, sent to the address its
    /// REGISTER came from, so that a phone behind NAT is reached.
    pub fn targets(&self) -> Arc<dyn super::rep::RepSipTargets> {
        let registrations = self.clone();
        Arc::new(super::rep::TargetsFrom(
            move |rep: &crate::handoff::RepId, now: Instant| {
                let contact = registrations.contact(&rep.0, now)?;
                let uri = warmline_sip::message::Uri::parse(&contact.uri).ok()?;
                Some(super::rep::SipTarget {
                    uri,
                    peer: contact.source,
                    transport: contact.transport,
                    credentials: None,
                })
            },
        ))
    }

    /// Tells `handoff`'s directory when reps gain or lose their phone
    /// (the first call wins; later ones are ignored).
    pub fn with_handoff(self, handoff: Handoff) -> Registrations {
        let _ = self.0.handoff.set(handoff);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; go on.
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `ip` is in `[sip] register_allow`.
    pub fn may_register(&self, ip: IpAddr) -> bool {
        self.0.allow.iter().any(|net| net.contains(ip))
    }

    /// Whether REGISTERs from `ip` are being dropped for failing too often.
    pub fn is_limited(&self, ip: IpAddr, now: Instant) -> bool {
        self.lock().limiter.is_limited(ip, now)
    }

    /// The rep's live binding with the highest q, if any.
    pub fn contact(&self, rep_id: &str, now: Instant) -> Option<RegisteredContact> {
        let state = self.lock();
        let aor = state.registrar.aor_for(rep_id);
        let binding = state.registrar.contacts(&aor, now).into_iter().next()?;
        let uri = binding.uri.to_string();
        let (source, transport) = *state.sources.get(&(rep_id.to_owned(), uri.clone()))?;
        Some(RegisteredContact {
            uri,
            source,
            transport,
        })
    }

    /// Whether the rep has a live binding.
    pub fn is_registered(&self, rep_id: &str, now: Instant) -> bool {
        self.contact(rep_id, now).is_some()
    }

    /// When the next binding lapses: call [`Registrations::expire`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.lock().registrar.poll_timeout()
    }

    /// Handles a REGISTER from `source` over `transport` at `now`
    /// (`now_unix_secs` dates the nonces): answers, counts failures, and
    /// tells the directory of reps gained or lost.
    pub fn handle(
        &self,
        request: &Request,
        source: SocketAddr,
        transport: Transport,
        now: Instant,
        now_unix_secs: u64,
    ) -> Result<RegisterReply, RegistrarError> {
        let passwords = &self.0.passwords;
        let lookup =
            |user: &str, _: Algorithm| passwords.get(user).map(|p| UserSecret::Password(p.clone()));
        let (reply, changes, contacts) = {
            let mut state = self.lock();
            let reply = state
                .registrar
                .handle(request, now, now_unix_secs, lookup)?;
            if reply.outcome.is_failure() && state.limiter.failed(source.ip(), now) {
                crate::refusals::refused(
                    "sip",
                    "register_rate_limited",
                    "SIP registrations failing too often: REGISTERs from this source dropped",
                    &format_args!("{source} ({MAX_FAILURES} failures, {FAILURE_WINDOW:?})"),
                );
            }
            let mut changes = Vec::new();
            if let RegisterOutcome::Registered { user, .. } = &reply.outcome {
                state.note_sources(user, request, source, transport, now);
                // A refresh is news too: it is how a phone that missed a
                // ring becomes available again.
                changes.push(Change {
                    rep: user.clone(),
                    reachable: true,
                });
            }
            for change in state.sync(passwords.keys(), now) {
                if !changes.iter().any(|c| c.rep == change.rep) {
                    changes.push(change);
                }
            }
            (reply, changes, state.live_contacts(now))
        };
        log_outcome(&reply.outcome, source);
        self.publish(changes, contacts, now);
        Ok(reply)
    }

    /// Removes lapsed bindings; a rep whose last one lapsed is no longer
    /// reachable by SIP.
    pub fn expire(&self, now: Instant) {
        let (changes, contacts) = {
            let mut state = self.lock();
            let gone = state.registrar.expire(now);
            if gone.is_empty() {
                return;
            }
            for (aor, binding) in &gone {
                tracing::info!(%aor, contact = %binding.uri, "SIP registration expired");
            }
            (
                state.sync(self.0.passwords.keys(), now),
                state.live_contacts(now),
            )
        };
        self.publish(changes, contacts, now);
    }

    /// Live contacts of every rep.
    pub fn contact_count(&self, now: Instant) -> usize {
        self.lock().live_contacts(now)
    }

    fn publish(&self, changes: Vec<Change>, contacts: usize, now: Instant) {
        metrics::gauge!(REGISTERED_CONTACTS).set(contacts as f64);
        if changes.is_empty() {
            return;
        }
        let Some(handoff) = self.0.handoff.get() else {
            return;
        };
        for change in changes {
            let rep = RepId(change.rep);
            if let Err(e) = handoff
                .directory()
                .set_sip_registered(&rep, change.reachable, now)
            {
                tracing::warn!(%rep, error = %e, "rep's SIP registration not reflected in presence");
            }
            tracing::info!(%rep, reachable = change.reachable, "rep's SIP phone");
            if change.reachable {
                if let Some(lines) = self.0.lines.get() {
                    lines.line_up_registered(&rep);
                }
            }
        }
        handoff.hub().reps_changed();
    }
}

impl State {
    /// Remembers where the bindings this REGISTER touched came from.
    fn note_sources(
        &mut self,
        rep: &str,
        request: &Request,
        source: SocketAddr,
        transport: Transport,
        now: Instant,
    ) {
        let call_id = request.call_id().unwrap_or_default();
        let cseq = request.cseq().map(|c| c.seq).ok();
        let aor = self.registrar.aor_for(rep);
        for binding in self.registrar.contacts(&aor, now) {
            if binding.call_id == call_id && Some(binding.cseq) == cseq {
                self.sources.insert(
                    (rep.to_owned(), binding.uri.to_string()),
                    (source, transport),
                );
            }
        }
    }

    /// Forgets the sources of bindings that are gone and returns the reps
    /// (of `reps`, those who can register) whose reachability changed.
    fn sync<'a>(&mut self, reps: impl Iterator<Item = &'a String>, now: Instant) -> Vec<Change> {
        let mut keep = std::collections::HashSet::new();
        let mut reachable = BTreeSet::new();
        for rep in reps {
            let aor = self.registrar.aor_for(rep);
            for binding in self.registrar.contacts(&aor, now) {
                let key = (rep.clone(), binding.uri.to_string());
                if self.sources.contains_key(&key) {
                    reachable.insert(rep.clone());
                    keep.insert(key);
                }
            }
        }
        self.sources.retain(|key, _| keep.contains(key));
        let mut changes: Vec<Change> = self
            .reachable
            .difference(&reachable)
            .map(|rep| Change {
                rep: rep.clone(),
                reachable: false,
            })
            .collect();
        changes.extend(reachable.difference(&self.reachable).map(|rep| Change {
            rep: rep.clone(),
            reachable: true,
        }));
        self.reachable = reachable;
        changes
    }

    fn live_contacts(&self, now: Instant) -> usize {
        self.reachable
            .iter()
            .map(|rep| {
                self.registrar
                    .contacts(&self.registrar.aor_for(rep), now)
                    .len()
            })
            .sum()
    }
}

fn log_outcome(outcome: &RegisterOutcome, source: SocketAddr) {
    match outcome {
        RegisterOutcome::Registered { aor, .. } => {
            tracing::info!(%aor, %source, "SIP phone registered");
        }
        RegisterOutcome::Unregistered { aor, removed } => {
            tracing::info!(%aor, %source, removed, "SIP phone unregistered");
        }
        RegisterOutcome::Refused(refusal) if outcome.is_failure() => {
            crate::refusals::refused(
                "sip",
                "register_forbidden",
                "SIP registration refused",
                &format_args!("{source} ({refusal})"),
            );
        }
        RegisterOutcome::Refused(refusal) => {
            tracing::info!(%source, reason = %refusal, "SIP registration refused");
        }
        RegisterOutcome::Challenged { stale } => {
            tracing::debug!(%source, stale, "SIP registration challenged");
        }
        RegisterOutcome::Queried { aor } => tracing::debug!(%aor, %source, "SIP bindings queried"),
    }
}

/// Describes the series and creates them at zero.
pub fn register_metrics() {
    metrics::describe_gauge!(
        REGISTERED_CONTACTS,
        "Contacts registered by reps' SIP phones and live"
    );
    metrics::gauge!(REGISTERED_CONTACTS).set(0.0);
}

/// Whether the endpoint should take `request` from `source` on at all:
/// a REGISTER from a source that failed too often, or from outside
/// `register_allow`, and any out-of-dialog request but REGISTER from a
/// source that may only register, are dropped before the transaction
/// layer sees them (so not even a `100 Trying` tells a scanner something
/// listens). With `unknown_source = "reject"` the last two go on and get a
/// 403.
pub(super) fn admit(endpoint: &Endpoint, request: &Request, source: SocketAddr) -> bool {
    use crate::config::UnknownSource;
    use warmline_sip::message::Method;
    let registrations = &endpoint.service.registrations;
    let ip = source.ip();
    let drop = endpoint.service.config.unknown_source == UnknownSource::Drop;
    if request.method == Method::Register {
        if registrations.is_limited(ip, Instant::now()) {
            crate::refusals::refused(
                "sip",
                "register_rate_limited",
                "REGISTER from a source that failed too often dropped",
                &source,
            );
            return false;
        }
        if drop && !registrations.may_register(ip) {
            crate::refusals::refused(
                "sip",
                "register_source",
                "REGISTER from outside sip.register_allow dropped",
                &source,
            );
            return false;
        }
        return true;
    }
    // In-dialog requests (a To tag) go on: a rep's phone hangs up or
    // re-INVITEs the calls made to it. Anything else from a source that may
    // only register is dropped like a request from an unknown source.
    let in_dialog = request.to().ok().is_some_and(|to| to.tag().is_some());
    if drop && !in_dialog && endpoint.trunk_for(ip).is_none() {
        crate::refusals::refused(
            "sip",
            "unknown_source",
            "SIP request from a source that may only register dropped",
            &format_args!("{} from {source}", request.method),
        );
        return false;
    }
    true
}

/// Answers a REGISTER the endpoint took on.
pub(super) fn on_register(
    endpoint: &mut Endpoint,
    id: ServerTxId,
    request: Request,
    source: SocketAddr,
    transport: Transport,
) {
    if !endpoint.service.registrations.may_register(source.ip()) {
        // Only with `unknown_source = "reject"` (`admit` drops it otherwise).
        crate::refusals::refused(
            "sip",
            "register_source",
            "REGISTER from outside sip.register_allow refused with 403",
            &source,
        );
        endpoint.reply(id, &request, 403, &[]);
        return;
    }
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let registrations = endpoint.service.registrations.clone();
    match registrations.handle(&request, source, transport, Instant::now(), unix) {
        Ok(reply) => endpoint.respond(id, reply.response),
        Err(e) => {
            // Only a routing mistake of ours reaches here.
            tracing::error!(error = %e, %source, "REGISTER not handled");
            endpoint.reply(id, &request, 500, &[]);
        }
    }
}

#[cfg(test)]
mod tests;
