//! The SIP endpoint task: one per server. It owns the transaction layer,
//! the calls' dialogs and their timers, and turns SIP into call events.
//!
//! Everything SIP happens on this one task (the transaction layer is a
//! plain state machine); media never passes through it. Each call's media
//! and conversation run on a media worker ([`super::leg::SipLeg`] under
//! the call driver), which it controls with [`LegControl`] messages and
//! which asks it to hang up with [`LegRequest`].
//!
//! Decisions worth knowing:
//! - The model session opens when the INVITE is accepted (pre-warm); 180
//!   goes out at once and the 200 after `answer_delay_ms`.
//! - In-dialog requests go to the remote target when its host is an IP
//!   literal, else back to where the INVITE came from: resolving host
//!   names is left out (carriers put addresses in Contact).
//! - A blind transfer (`transfer_call`, decision 0033) sends a REFER in
//!   the caller's dialog and follows its NOTIFYs (`endpoint/refer.rs`).
//! - Delayed offer (INVITE without SDP) is answered 488: carrier trunks
//!   offer in the INVITE, and answering an offer we make in the 200
//!   from the ACK is left for when a trunk needs it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use warmline_sip::dialog::{
    AnswerAction, AnswerRetransmit, Dialog, SessionTimer, SessionTimerAction,
};
use warmline_sip::message::{
    self, reason_phrase, Limits, Message, Method, Request, Response, SipHeaders,
};
use warmline_sip::transaction::{
    response_destination, ClientTxId, Incoming, ServerTxId, TimerConfig, TransactionLayer,
    Transport, TxEvent, TxIdEither,
};

use super::calls::{dialog_key, CallTable};
use super::invite::{self, CallPlan};
use super::leg::{LegControl, LegRequest};
use super::transport::{Bound, Inbound, Sender, Undelivered};
use super::SipService;

/// What our OPTIONS and 200s advertise.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, NOTIFY";
/// Extensions we support.
pub const SUPPORTED: &str = "timer";

/// Where a call is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// 180 sent; the 200 goes at `answer_at`.
    Ringing { answer_at: Duration },
    /// 200 sent.
    Answered,
    /// BYE sent or received; waiting for nothing but cleanup.
    Ended,
}

/// One SIP call as the endpoint sees it.
pub(super) struct SipCall {
    pub key: String,
    pub trunk: usize,
    pub dialog: Dialog,
    pub phase: Phase,
    pub invite_tx: ServerTxId,
    pub invite: Request,
    /// The INVITE's source and transport: where in-dialog traffic goes
    /// when the remote target is not an address.
    pub peer: (SocketAddr, Transport),
    pub plan: CallPlan,
    pub answer: Option<(AnswerRetransmit, Vec<u8>, SocketAddr)>,
    pub timer: Option<SessionTimer>,
    pub control: mpsc::Sender<LegControl>,
    pub remote_allows_update: bool,
    /// A blind transfer under way (`refer.rs`).
    pub refer: Option<refer::OutgoingRefer>,
    /// Counts the call for the drain until the endpoint forgets it (after
    /// the BYE's answer, so the process does not exit before it).
    pub _counted: crate::drain::CallGuard,
}

/// Why a client transaction was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Bye,
    Refresh,
    /// Our REFER (`refer.rs`, decision 0033).
    Refer,
}

/// The endpoint's state.
pub struct Endpoint {
    pub(super) service: Arc<SipService>,
    pub(super) tx: TransactionLayer,
    epoch: Instant,
    pub(super) sender: Sender,
    pub(super) local: SocketAddr,
    pub(super) calls: CallTable<SipCall>,
    by_invite: HashMap<ServerTxId, String>,
    clients: HashMap<ClientTxId, (String, Purpose)>,
    pub(super) leg_requests: mpsc::Sender<LegRequest>,
    /// Calls we placed (reps' phones), by Call-ID.
    pub(super) uac: super::uac::UacTable,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("local", &self.local)
            .field("calls", &self.calls.len())
            .field("transactions", &self.tx.len())
            .finish()
    }
}

/// Runs the endpoint until its transport's inbound queue closes. Nothing
/// in the loop waits on a peer: sends are queued (TCP connects on their
/// own tasks) and what cannot be delivered comes back on `undelivered`.
pub async fn run(service: Arc<SipService>, transport: Bound) {
    let Bound {
        sender,
        mut inbound,
        mut undelivered,
        local,
    } = transport;
    let (leg_tx, mut leg_rx) = mpsc::channel(1_024);
    let mut endpoint = Endpoint {
        service,
        tx: TransactionLayer::new(TimerConfig::default()),
        epoch: Instant::now(),
        sender,
        local,
        calls: CallTable::new(),
        by_invite: HashMap::new(),
        clients: HashMap::new(),
        leg_requests: leg_tx,
        uac: super::uac::UacTable::default(),
    };
    let mut outbound = service_outbound(&endpoint.service);
    loop {
        let deadline = endpoint.next_deadline().map(|d| endpoint.epoch + d);
        tokio::select! {
            message = inbound.recv() => {
                let Some(message) = message else { break };
                endpoint.on_inbound(message);
            }
            Some(request) = leg_rx.recv() => endpoint.on_leg_request(request),
            Some(request) = outbound.recv() => endpoint.on_outbound(request),
            Some(failed) = undelivered.recv() => endpoint.on_undelivered(failed),
            () = sleep_opt(deadline) => endpoint.on_timeout(),
        }
        endpoint.flush();
    }
}

/// The outbound calls' request queue (once: a second endpoint of the same
/// service gets a closed one).
fn service_outbound(service: &SipService) -> mpsc::Receiver<super::uac::Request> {
    let taken = service
        .outbound_requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    taken.unwrap_or_else(|| mpsc::channel(1).1)
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Endpoint {
    pub(super) fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.epoch)
    }

    /// The earliest transaction, call or registration deadline.
    fn next_deadline(&self) -> Option<Duration> {
        let expiry = (self.service.registrations.poll_timeout())
            .map(|at| at.saturating_duration_since(self.epoch.into_std()));
        [
            self.tx.next_timeout(),
            self.calls.next_deadline(),
            self.uac.next_deadline(),
            expiry,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Hands queued messages to the transport (never waiting), feeds the
    /// transaction layer's events to the calls until both are quiet, then
    /// re-schedules the calls that changed.
    fn flush(&mut self) {
        loop {
            while let Some(t) = self.tx.poll_transmit() {
                let (dest, owner) = (t.dest, t.owner);
                if let Err(e) = self.sender.send(t) {
                    tracing::warn!(%dest, error = %e, "SIP message not sent");
                    if let Some(owner) = owner {
                        self.tx.on_transport_error(owner);
                    }
                }
            }
            let Some(event) = self.tx.poll_event() else {
                break;
            };
            self.on_tx_event(event);
        }
        self.flush_outbound();
        self.calls.settle();
    }

    /// The transport took a message but could not deliver it.
    fn on_undelivered(&mut self, failed: Undelivered) {
        tracing::debug!(dest = %failed.dest, owner = ?failed.owner, "SIP message undelivered");
        if !self.outbound_undelivered(failed.dest, failed.owner) {
            self.tx.on_transport_error(failed.owner);
        }
    }

    fn on_inbound(&mut self, inbound: Inbound) {
        let now = self.now();
        // Sources no trunk covers are dropped before anything else, the
        // transaction layer's automatic 100 Trying included: a scanner must
        // learn nothing, not even that something listens.
        let known = self.trunk_for(inbound.source.ip()).is_some()
            || (self.service.registrations).may_register(inbound.source.ip())
            || self.uac.expects(inbound.source.ip());
        if !known && self.service.config.unknown_source == crate::config::UnknownSource::Drop {
            crate::refusals::refused(
                "sip",
                "unknown_source",
                "SIP from a source no trunk allows dropped",
                &inbound.source,
            );
            return;
        }
        let message = match message::parse(&inbound.bytes, &Limits::default()) {
            Ok(m) => m,
            Err(e) => {
                let answer = message::error_response(&inbound.bytes, &e);
                crate::refusals::refused(
                    "sip",
                    "malformed",
                    "malformed SIP message refused",
                    &format_args!("{} ({e})", inbound.source),
                );
                if let Some(bytes) = answer {
                    self.tx
                        .send_stateless(inbound.source, inbound.transport, bytes);
                }
                return;
            }
        };
        let Some(message) = self.route_outbound(message, inbound.source, inbound.transport) else {
            return;
        };
        match message {
            Message::Response(response) => self.tx.on_response(now, response, inbound.source),
            Message::Request(request) => {
                if !super::registrations::admit(self, &request, inbound.source) {
                    return;
                }
                match self
                    .tx
                    .on_request(now, request, inbound.source, inbound.transport)
                {
                    Incoming::Request {
                        id,
                        request,
                        cancels,
                    } => self.on_request(id, request, cancels, inbound.source, inbound.transport),
                    Incoming::Ack2xx(ack) => self.on_ack(&ack),
                    Incoming::Absorbed => {}
                    Incoming::Rejected { error } => {
                        crate::refusals::refused(
                            "sip",
                            "malformed",
                            "SIP request not taken on",
                            &format_args!("{} ({error})", inbound.source),
                        );
                    }
                }
            }
        }
    }

    /// Answers server transaction `id` with a bare response to `request`.
    pub(super) fn reply(
        &mut self,
        id: ServerTxId,
        request: &Request,
        status: u16,
        extra: &[(&str, String)],
    ) {
        let mut response = request.response(status, reason_phrase(status), Some(&tag_for(request)));
        for (name, value) in extra {
            let _ = response.headers.push(name, value.clone());
        }
        self.respond(id, response);
    }

    pub(super) fn respond(&mut self, id: ServerTxId, response: Response) {
        let now = self.now();
        if let Err(e) = self.tx.respond(now, id, response) {
            tracing::debug!(error = %e, "response not sent");
        }
    }

    /// The call whose dialog `request` belongs to: one hash probe on
    /// Call-ID and From tag, then the To tag.
    fn find_dialog(&self, request: &Request) -> Option<String> {
        let from = request.from().ok()?;
        let key = dialog_key(request.call_id()?, from.tag()?);
        let call = self.calls.get(&key)?;
        (call.phase != Phase::Ended && call.dialog.matches(request)).then_some(key)
    }

    fn on_request(
        &mut self,
        id: ServerTxId,
        request: Request,
        cancels: Option<ServerTxId>,
        source: SocketAddr,
        transport: Transport,
    ) {
        let in_dialog = request
            .to()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned))
            .is_some();
        match (&request.method, in_dialog) {
            (Method::Invite, false) => invite::on_invite(self, id, request, source, transport),
            (Method::Cancel, _) => self.on_cancel(id, &request, cancels),
            (Method::Register, _) => {
                super::registrations::on_register(self, id, request, source, transport)
            }
            (Method::Options, false) => {
                if self.trunk_for(source.ip()).is_some() && self.service.drain.is_draining() {
                    // What a dispatcher such as Kamailio probes: take us out.
                    self.reply(id, &request, 503, &draining_headers());
                } else if self.trunk_for(source.ip()).is_some() {
                    self.reply(id, &request, 200, &capabilities());
                } else {
                    self.unknown_source(id, &request, source);
                }
            }
            (_, false) => {
                if self.trunk_for(source.ip()).is_some() {
                    let status = if request.method == Method::Bye {
                        481
                    } else {
                        405
                    };
                    self.reply(id, &request, status, &[("Allow", ALLOW.to_owned())]);
                } else {
                    self.unknown_source(id, &request, source);
                }
            }
            (_, true) => match self.find_dialog(&request) {
                Some(key) => self.on_in_dialog(id, request, key),
                None => self.reply(id, &request, 481, &[]),
            },
        }
    }

    pub(super) fn trunk_for(&self, ip: IpAddr) -> Option<usize> {
        self.service.trunks.iter().position(|t| t.covers(ip))
    }

    /// Requests from sources no trunk covers: silence, or 403.
    /// Our sent-by address and Via transport name toward `dest`.
    pub(super) fn sent_by(
        &self,
        dest: SocketAddr,
        transport: Transport,
    ) -> (SocketAddr, &'static str) {
        super::invite::sent_by(
            self.service.tls_local,
            &self.sender,
            self.local,
            dest,
            transport,
        )
    }

    pub(super) fn unknown_source(&mut self, id: ServerTxId, request: &Request, source: SocketAddr) {
        match self.service.config.unknown_source {
            // Normally dropped on arrival (see `on_inbound`).
            crate::config::UnknownSource::Drop => {
                crate::refusals::refused(
                    "sip",
                    "unknown_source",
                    "SIP request from a source no trunk allows dropped",
                    &format_args!("{} from {source}", request.method),
                );
            }
            crate::config::UnknownSource::Reject => {
                crate::refusals::refused(
                    "sip",
                    "unknown_source",
                    "SIP request from a source no trunk allows refused with 403",
                    &format_args!("{} from {source}", request.method),
                );
                self.reply(id, request, 403, &[]);
            }
        }
    }

    fn on_leg_request(&mut self, request: LegRequest) {
        match request {
            LegRequest::Transfer { call, target, done } => {
                self.start_transfer(&call, target, done);
            }
            LegRequest::HangUp {
                call,
                reason,
                stats,
            } => {
                tracing::info!(%call, %reason, ?stats, "call ending from our side");
                self.hang_up(&call, &reason);
            }
        }
    }

    /// Fires due transaction timers, then visits only the calls that are
    /// due (each is re-scheduled at the next settle).
    fn on_timeout(&mut self) {
        let now = self.now();
        (self.service.registrations).expire(std::time::Instant::now());
        self.tx.handle_timeout(now);
        self.outbound_timeout();
        let mut keys = Vec::new();
        while let Some(key) = self.calls.pop_due(now) {
            keys.push(key);
        }
        for key in keys {
            let mut resend = None;
            let mut action = None;
            let mut answer_now = false;
            if let Some(call) = self.calls.get_mut(&key) {
                if let Phase::Ringing { answer_at } = call.phase {
                    answer_now = now >= answer_at;
                }
                if let Some((retransmit, bytes, dest)) = call.answer.as_mut() {
                    match retransmit.poll(now) {
                        Some(AnswerAction::Resend) => {
                            resend = Some((bytes.clone(), *dest, call.peer.1))
                        }
                        Some(AnswerAction::GiveUp) => action = Some("no ACK for our 200"),
                        None => {}
                    }
                }
                if call.phase == Phase::Answered {
                    match call.timer.as_mut().and_then(|t| t.poll(now)) {
                        Some(SessionTimerAction::Refresh) => {
                            let method = if call.remote_allows_update {
                                Method::Update
                            } else {
                                Method::Invite
                            };
                            if let Some(id) = self.send_in_dialog(&key, method) {
                                self.clients.insert(id, (key.clone(), Purpose::Refresh));
                            }
                        }
                        Some(SessionTimerAction::Expired) => action = Some("session timer expired"),
                        None => {}
                    }
                }
            }
            if answer_now {
                invite::answer(self, &key);
            }
            self.on_refer_timeout(&key);
            if let Some((bytes, dest, transport)) = resend {
                self.tx.send_stateless(dest, transport, bytes);
            }
            if let Some(reason) = action {
                tracing::warn!(call = %key, reason, "ending the call");
                if let Some(call) = self.calls.get_mut(&key) {
                    call.answer = None;
                }
                self.hang_up(&key, reason);
            }
        }
    }

    fn on_tx_event(&mut self, event: TxEvent) {
        match event {
            TxEvent::Response { id, response } => {
                let Some((key, purpose)) = self.clients.get(&id).cloned() else {
                    return;
                };
                if response.status < 200 {
                    return;
                }
                self.clients.remove(&id);
                match purpose {
                    Purpose::Refer => self.on_refer_response(&key, &response),
                    Purpose::Bye => self.end_call(&key, "BYE answered"),
                    Purpose::Refresh if (200..300).contains(&response.status) => {
                        invite::refreshed(self, &key, &response);
                    }
                    Purpose::Refresh => {
                        tracing::warn!(call = %key, status = response.status, "session refresh refused: ending the call");
                        self.hang_up(&key, "session refresh refused");
                    }
                }
            }
            TxEvent::Timeout { id } => {
                if let Some((key, purpose)) = self.clients.remove(&id) {
                    tracing::warn!(call = %key, ?purpose, "no answer to our request");
                    match purpose {
                        Purpose::Refer => self.on_refer_lost(&key, "no answer"),
                        Purpose::Bye => self.end_call(&key, "BYE timed out"),
                        Purpose::Refresh => self.hang_up(&key, "session refresh timed out"),
                    }
                }
            }
            TxEvent::TransportError {
                id: TxIdEither::Client(id),
            } => {
                // RFC 3261 §8.1.3.1: a transport failure counts as a 503.
                if let Some((key, purpose)) = self.clients.remove(&id) {
                    tracing::warn!(call = %key, ?purpose, "our request could not be delivered");
                    match purpose {
                        Purpose::Refer => self.on_refer_lost(&key, "undeliverable"),
                        Purpose::Bye => self.end_call(&key, "BYE undeliverable"),
                        Purpose::Refresh => self.hang_up(&key, "session refresh undeliverable"),
                    }
                }
            }
            TxEvent::TransportError {
                id: TxIdEither::Server(id),
            } => {
                tracing::info!(?id, "a response could not be delivered");
            }
            TxEvent::AckTimeout { id } => {
                tracing::info!(?id, "no ACK for a final response");
            }
            TxEvent::Terminated(_) => {}
        }
    }

    pub(super) fn register(&mut self, call: SipCall) {
        self.by_invite.insert(call.invite_tx, call.key.clone());
        self.calls.insert(call.key.clone(), call);
    }

    /// Calls in progress (for admission): counters, not a scan.
    pub(super) fn active_calls(&self, trunk: Option<usize>) -> usize {
        self.calls.live(trunk)
    }

    /// Where the response to a request from `source` goes.
    pub(super) fn response_dest(
        request: &Request,
        source: SocketAddr,
        transport: Transport,
    ) -> SocketAddr {
        match request.top_via() {
            Ok(via) => response_destination(&via, source, transport),
            Err(_) => source,
        }
    }
}

/// What a 503 for a draining server carries: the capabilities, and when
/// to try again (a replacement usually listens by then).
pub(super) fn draining_headers() -> Vec<(&'static str, String)> {
    let mut headers = capabilities();
    headers.push(("Retry-After", DRAINING_RETRY_AFTER_SECS.to_string()));
    headers.push(("Warning", "399 warmline \"shutting down\"".to_owned()));
    headers
}

/// Retry-After on a draining server's 503s.
pub(super) const DRAINING_RETRY_AFTER_SECS: u32 = 30;

/// What OPTIONS answers carry.
fn capabilities() -> Vec<(&'static str, String)> {
    vec![
        ("Allow", ALLOW.to_owned()),
        ("Accept", "application/sdp".to_owned()),
        ("Supported", SUPPORTED.to_owned()),
    ]
}

/// A stable To tag for a request that has none: derived from its Call-ID
/// and From tag so that every response to it (and to its retransmissions)
/// carries the same one.
pub(super) fn tag_for(request: &Request) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    request.call_id().hash(&mut h);
    request
        .from()
        .ok()
        .and_then(|f| f.tag().map(str::to_owned))
        .hash(&mut h);
    format!("wl{:016x}", h.finish())
}

mod in_dialog;
mod refer;
use in_dialog::in_dialog_destination;
#[cfg(test)]
mod tests;
