//! Reps on SIP phones (issue 15, decision 0034): warmline rings a rep's
//! phone as a B2BUA leg and bridges its RTP into the call's room.
//!
//! This module owns three things:
//! - **The seam** [`RepSipTargets`]: how to reach rep X by SIP now. The
//!   static `[[reps]] sip_uri` is [`StaticSipUris`]; a registrar's
//!   bindings implement the same trait and go first in a [`FirstOf`].
//! - **The ringer** of each SIP rep: a phone line logged in to the
//!   handoff's [`RepHub`](crate::handoff::RepHub) with `connect_phone`, so
//!   the escalation rings it exactly as it rings a softphone page. A
//!   `ring` push places an INVITE (`call`); the phone's 180/183 is the
//!   ring, its 200 the accept, a 4xx–6xx the decline; a cancelled ring is a
//!   CANCEL and a call that ends for the rep is a BYE. A phone has no way
//!   back from `away`, so a missed ring leaves the rep available.
//! - **The rep's media** (`edge`): the RTP session of the answered call as
//!   the room's linked leg with the role `rep`, converting 8 kHz G.711 to
//!   16 kHz at the edge; the hand-back keys (`[handoff]
//!   sip_hand_back_dtmf`) pressed during the bridge give the caller back
//!   to the AI.
//!
//! It knows the handoff's seams (hub, directory, rep media), never the
//! escalation machine; the handoff knows nothing of SIP.

mod call;
mod edge;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use warmline_sip::auth::ClientCredentials;
use warmline_sip::message::{Host, Uri};
use warmline_sip::transaction::Transport;

use super::SipService;
use crate::config::{OutboundConfig, OutboundTransport, RepConfig};
use crate::handoff::{Handoff, Presence, RepId, RepPush};

/// Where and how to call a rep's phone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipTarget {
    /// The Request-URI (the phone's contact or the configured `sip_uri`).
    pub uri: Uri,
    /// Where the INVITE goes (a registered contact's source address, the
    /// URI's own address).
    pub peer: SocketAddr,
    /// Over what.
    pub transport: Transport,
    /// What to answer a digest challenge with (an outbound trunk's).
    pub credentials: Option<ClientCredentials>,
}

/// How to reach a rep by SIP: the seam between the ringer and whatever
/// knows the rep's phone (static config, a registrar's bindings).
pub trait RepSipTargets: Send + Sync + std::fmt::Debug {
    /// Where rep `rep` can be called now, if anywhere.
    fn target(&self, rep: &RepId, now: Instant) -> Option<SipTarget>;
}

/// `[[reps]] sip_uri`: a fixed address per rep, over UDP (its host an
/// IP address, port 5060 when none is written), or through the rep's
/// `[[sip.outbound]]` trunk (its address, transport and credentials; a
/// TLS trunk's address is reached over TLS only, decision 0039).
#[derive(Debug, Default)]
pub struct StaticSipUris {
    targets: std::collections::HashMap<RepId, SipTarget>,
}

impl StaticSipUris {
    /// The targets of the reps that have a valid `sip_uri` (`check`
    /// refuses invalid ones); trunk passwords are read through `env`.
    pub fn from_config(
        reps: &[RepConfig],
        trunks: &[OutboundConfig],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> StaticSipUris {
        let targets = reps
            .iter()
            .filter_map(|r| {
                let target = match &r.outbound {
                    None => direct(r.sip_uri.as_deref()?)?,
                    Some(name) => {
                        let trunk = trunks.iter().find(|t| &t.name == name)?;
                        through(r.sip_uri.as_deref()?, trunk, env)?
                    }
                };
                Some((RepId(r.id.clone()), target))
            })
            .collect();
        StaticSipUris { targets }
    }

    /// The reps this knows.
    pub fn reps(&self) -> impl Iterator<Item = &RepId> {
        self.targets.keys()
    }
}

fn direct(sip_uri: &str) -> Option<SipTarget> {
    let uri = crate::config::handoff::rep_sip_uri(sip_uri).ok()?;
    let Host::Ip(ip) = uri.host else { return None };
    let peer = SocketAddr::new(ip, uri.port.unwrap_or(5060));
    Some(SipTarget {
        uri,
        peer,
        transport: Transport::Udp,
        credentials: None,
    })
}

fn through(
    sip_uri: &str,
    trunk: &OutboundConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<SipTarget> {
    let credentials = match (&trunk.username, &trunk.password_env) {
        (Some(user), Some(var)) => Some(ClientCredentials::new(user.clone(), env(var)?)),
        _ => None,
    };
    Some(SipTarget {
        uri: Uri::parse(sip_uri).ok()?,
        peer: trunk.address,
        // TLS is a stream like TCP: the transport knows the trunk's
        // address as a TLS peer and opens it only over TLS.
        transport: match trunk.transport {
            OutboundTransport::Udp => Transport::Udp,
            OutboundTransport::Tcp | OutboundTransport::Tls => Transport::Tcp,
        },
        credentials,
    })
}

impl RepSipTargets for StaticSipUris {
    fn target(&self, rep: &RepId, _now: Instant) -> Option<SipTarget> {
        self.targets.get(rep).cloned()
    }
}

/// A source from a function: how a registrar plugs in, e.g.
/// `TargetsFrom(move |rep, now| registrations.contact(&rep.0, now).map(…))`.
pub struct TargetsFrom<F>(pub F);

impl<F> std::fmt::Debug for TargetsFrom<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TargetsFrom")
    }
}

impl<F> RepSipTargets for TargetsFrom<F>
where
    F: Fn(&RepId, Instant) -> Option<SipTarget> + Send + Sync,
{
    fn target(&self, rep: &RepId, now: Instant) -> Option<SipTarget> {
        (self.0)(rep, now)
    }
}

/// The first source that knows the rep wins (a registered phone before
/// the static `sip_uri`).
#[derive(Debug)]
pub struct FirstOf(pub Vec<Arc<dyn RepSipTargets>>);

impl RepSipTargets for FirstOf {
    fn target(&self, rep: &RepId, now: Instant) -> Option<SipTarget> {
        self.0.iter().find_map(|t| t.target(rep, now))
    }
}

/// The SIP reps of a server, started with its SIP endpoint.
#[derive(Debug)]
pub struct SipReps {
    /// Reps, presence, escalations.
    pub handoff: Handoff,
    /// How to reach each rep.
    pub targets: Arc<dyn RepSipTargets>,
    /// Reps whose phone line is up from startup (those with `sip_uri`).
    pub lines: Vec<RepId>,
    /// `[handoff] sip_hand_back_dtmf`.
    pub hand_back: String,
    /// The card page base: `X-Warmline-Card` is `{base}/rep/calls/{id}`.
    pub card_base: String,
}

impl SipReps {
    /// The reps of `reps` with a `sip_uri` (through `trunks` when they
    /// name one; passwords through `env`), reached through `handoff`.
    pub fn from_config(
        handoff: Handoff,
        reps: &[RepConfig],
        trunks: &[OutboundConfig],
        env: &dyn Fn(&str) -> Option<String>,
        texts: (&str, &str),
    ) -> SipReps {
        let (hand_back, card_base) = texts;
        let targets = StaticSipUris::from_config(reps, trunks, env);
        let mut lines: Vec<RepId> = targets.reps().cloned().collect();
        lines.sort();
        SipReps {
            handoff,
            targets: Arc::new(targets),
            lines,
            hand_back: hand_back.to_owned(),
            card_base: card_base.trim_end_matches('/').to_owned(),
        }
    }

    /// Logs each line in (available at once) and starts its ringer.
    /// Call on the main runtime.
    pub fn start(self, service: Arc<SipService>) -> SipLines {
        let lines = SipLines(Arc::new(Shared {
            lines: self.lines.clone(),
            reps: self,
            service,
        }));
        for rep in &lines.0.lines {
            lines.line_up(rep);
        }
        lines
    }

    /// Asks `first` before the configured `sip_uri`s (a registrar's
    /// bindings: `Registrations::contact(rep, now)` as a [`SipTarget`]
    /// whose `peer` is the binding's source).
    pub fn with_targets_first(mut self, first: Arc<dyn RepSipTargets>) -> SipReps {
        self.targets = Arc::new(FirstOf(vec![first, self.targets]));
        self
    }
}

/// The running SIP rep lines, for whoever brings more up (a registrar
/// when a rep's phone registers).
#[derive(Clone, Debug)]
pub struct SipLines(Arc<Shared>);

impl SipLines {
    /// Logs `rep` in as a phone line (available at once) and starts its
    /// ringer; nothing when it is a phone line already. Call on the main
    /// runtime.
    pub fn line_up(&self, rep: &RepId) {
        let handoff = &self.0.reps.handoff;
        if handoff.hub().is_phone(rep) {
            return;
        }
        let (_, pushes) = handoff.hub().connect_phone(rep);
        set_available(handoff, rep);
        tracing::info!(%rep, "SIP rep line up: available");
        tokio::spawn(ringer(self.0.clone(), rep.clone(), pushes));
    }
}

impl SipLines {
    /// A handle that does not keep the lines alive, for the registrar.
    pub fn downgrade(&self) -> WeakSipLines {
        WeakSipLines(Arc::downgrade(&self.0))
    }

    /// Brings up the line of a rep whose phone registered: the
    /// registration, not the line, makes them available (decision 0032),
    /// so presence is left alone; nothing when the rep has a line or a
    /// `/rep` login already (the page keeps its calls). Call on the main
    /// runtime.
    pub fn line_up_registered(&self, rep: &RepId) {
        let handoff = &self.0.reps.handoff;
        if handoff.hub().is_connected(rep) {
            return;
        }
        let (_, pushes) = handoff.hub().connect_phone(rep);
        tracing::info!(%rep, "SIP rep line up: a registered phone");
        tokio::spawn(ringer(self.0.clone(), rep.clone(), pushes));
    }
}

/// [`SipLines`] that does not keep them (or the endpoint) alive.
#[derive(Clone, Debug)]
pub struct WeakSipLines(std::sync::Weak<Shared>);

impl WeakSipLines {
    /// [`SipLines::line_up_registered`], while the lines run.
    pub fn line_up_registered(&self, rep: &RepId) {
        if let Some(shared) = self.0.upgrade() {
            SipLines(shared).line_up_registered(rep);
        }
    }
}

/// What every ringer and rep call shares.
#[derive(Debug)]
struct Shared {
    reps: SipReps,
    /// The lines up from startup.
    lines: Vec<RepId>,
    service: Arc<SipService>,
}

fn set_offline(handoff: &Handoff, rep: &RepId) {
    let now = tokio::time::Instant::now().into_std();
    match handoff
        .directory()
        .set_presence(rep, Presence::Offline, now)
    {
        Ok(_) => handoff.hub().reps_changed(),
        Err(e) => tracing::warn!(%rep, error = %e, "SIP rep's presence not restored"),
    }
}

fn set_available(handoff: &Handoff, rep: &RepId) {
    let now = tokio::time::Instant::now().into_std();
    match handoff
        .directory()
        .set_presence(rep, Presence::Available, now)
    {
        Ok(_) => handoff.hub().reps_changed(),
        Err(e) => tracing::warn!(%rep, error = %e, "SIP rep not made available"),
    }
}

/// One rep's phone line: the hub's pushes become calls to the phone.
async fn ringer(shared: Arc<Shared>, rep: RepId, mut pushes: mpsc::Receiver<RepPush>) {
    // Call id → the rep call's hang-up signal.
    let mut calls: std::collections::HashMap<String, oneshot::Sender<()>> = Default::default();
    while let Some(push) = pushes.recv().await {
        calls.retain(|_, stop| !stop.is_closed());
        match push {
            RepPush::Ring { card, .. } => {
                let (stop, stopped) = oneshot::channel();
                calls.insert(card.call_id.clone(), stop);
                tokio::spawn(call::run(shared.clone(), rep.clone(), card, stopped));
            }
            RepPush::RingCancelled { call_id, .. } | RepPush::CallEnded { call_id, .. } => {
                if let Some(stop) = calls.remove(&call_id) {
                    let _ = stop.send(());
                }
            }
            RepPush::Presence { status } if status.presence == Presence::Away => {
                // A phone cannot come back from away: a missed ring only
                // sends the rep to the back of the idle order. A `sip_uri`
                // line is available again; a registered phone's rep goes
                // back to `offline` on the page, where the registration
                // decides (decision 0032).
                if shared.lines.contains(&rep) {
                    set_available(&shared.reps.handoff, &rep);
                } else {
                    set_offline(&shared.reps.handoff, &rep);
                }
            }
            RepPush::Presence { .. } | RepPush::Card { .. } | RepPush::CallState { .. } => {}
        }
    }
    tracing::info!(%rep, "SIP rep line replaced by another login");
}

#[cfg(test)]
mod tests;
