//! A UAC call: the outbound INVITE a B2BUA places to a rep's phone or a
//! trunk, and the dialog it creates (RFC 3261 §12.1.2, §13.2, §15).
//!
//! [`UacCall`] owns one call from the INVITE to the end of its dialog:
//!
//! - the INVITE with our SDP offer and extra headers, provisionals (180,
//!   183 with early media) surfaced as [`UacEvent::Provisional`];
//! - the 2xx: the dialog (remote tag, route set from Record-Route
//!   reversed, remote target from Contact) and its ACK, a transaction of
//!   its own sent to the next hop, and re-sent for every retransmitted 2xx;
//! - CANCEL (only once a provisional came, RFC 3261 §9.1; until then it is
//!   remembered), and a 2xx that races it is ACKed and hung up with BYE;
//! - our BYE, and the far side's (answered 200, the call ends);
//! - our re-INVITE (new SDP, hold) with its ACK, and the far side's,
//!   surfaced as [`UacEvent::ReinviteReceived`] and answered by the owner
//!   ([`UacCall::accept_reinvite`]), our 2xx re-sent until its ACK;
//! - digest answers to 401/407 for INVITE, re-INVITE and BYE (CSeq + 1,
//!   same Call-ID and tags); a second refusal ends the call with
//!   [`UacError::CredentialsRejected`];
//! - Timer B/F and transport failures as [`EndReason::Failed`].
//!
//! It owns a [`TransactionLayer`] for its own transactions, so the shell
//! routes every message with this call's Call-ID here (responses and the
//! far side's in-dialog requests) and drives it like the transaction
//! layer: [`poll_transmit`](UacCall::poll_transmit),
//! [`poll_event`](UacCall::poll_event),
//! [`poll_timeout`](UacCall::poll_timeout) then
//! [`on_timeout`](UacCall::on_timeout). `now` is a [`Duration`] since any
//! epoch the caller picks, as everywhere in this crate.
//!
//! Not handled: UPDATE and INFO from the far side (501), early dialogs
//! (PRACK, requests before the 2xx), and redirects (a 3xx ends the call
//! as [`EndReason::Rejected`]). A 2xx from a second dialog (a forking
//! proxy) is ACKed and hung up at once (RFC 3261 §13.2.2.4).

mod build;
mod remote;
mod responses;
mod types;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

pub use types::{EndReason, UacConfig, UacError, UacEvent};

use crate::auth::ClientAuthState;
use crate::dialog::Dialog;
use crate::message::{Message, Method, Request};
use crate::transaction::{
    ClientTxId, TransactionLayer, Transmit, Transport, TxEvent, TxIdEither, MAGIC_COOKIE,
};

/// Where the call is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// The INVITE is out, no final answer yet.
    Calling,
    /// The 2xx came and was ACKed.
    Established,
    /// Our BYE is out; the call ends with this reason when it completes.
    Ending(EndReason),
    /// Over; [`UacEvent::Ended`] was reported.
    Ended,
}

/// Where a CANCEL stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cancel {
    /// Not asked for.
    No,
    /// Asked for before any provisional: sent on the first one.
    Wanted,
    /// Sent.
    Sent,
}

/// What one of our client transactions is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Invite,
    Cancel,
    Reinvite,
    Bye,
    /// BYE for a second dialog a forked INVITE made; its outcome does
    /// not matter.
    ForkBye,
}

/// A client transaction in flight: its role, the request (to re-send with
/// credentials) and where it went.
#[derive(Clone, Debug)]
struct Outgoing {
    role: Role,
    request: Request,
    dest: SocketAddr,
    transport: Transport,
}

/// An ACK we sent for a 2xx, re-sent for each retransmission of it.
#[derive(Clone, Debug)]
struct SentAck {
    /// The To tag of the 2xx (forks differ).
    tag: String,
    seq: u32,
    dest: SocketAddr,
    transport: Transport,
    bytes: Vec<u8>,
}

/// One outbound call and its dialog. See the module docs.
#[derive(Debug)]
pub struct UacCall {
    config: UacConfig,
    tx: TransactionLayer,
    phase: Phase,
    cancel: Cancel,
    /// The INVITE in flight (the last one sent, after any auth retry).
    invite: Request,
    invite_tx: Option<ClientTxId>,
    /// Our re-INVITE awaiting its final response.
    reinvite_tx: Option<ClientTxId>,
    /// The far side's re-INVITE, until answered and ACKed.
    remote_reinvite: Option<remote::RemoteReinvite>,
    /// A provisional came on the current INVITE transaction.
    provisional: bool,
    dialog: Option<Dialog>,
    outgoing: HashMap<ClientTxId, Outgoing>,
    acks: Vec<SentAck>,
    auth: ClientAuthState,
    /// Counter behind branches and cnonces.
    counter: u64,
    events: VecDeque<UacEvent>,
}

impl UacCall {
    /// Starts the call: the INVITE is queued for
    /// [`poll_transmit`](Self::poll_transmit). Fails only when the
    /// configuration cannot make a valid INVITE.
    pub fn new(config: UacConfig, now: Duration) -> Result<UacCall, UacError> {
        let mut call = UacCall {
            tx: TransactionLayer::new(config.timers),
            invite: Request::new(Method::Invite, config.target.clone()),
            config,
            phase: Phase::Calling,
            cancel: Cancel::No,
            invite_tx: None,
            reinvite_tx: None,
            remote_reinvite: None,
            provisional: false,
            dialog: None,
            outgoing: HashMap::new(),
            acks: Vec::new(),
            auth: ClientAuthState::new(),
            counter: 0,
            events: VecDeque::new(),
        };
        let branch = call.branch();
        let invite = build::invite(&call.config, 1, &branch)?;
        let (dest, transport) = (call.config.peer, call.config.transport);
        let id = call.start(now, Role::Invite, invite.clone(), dest, transport)?;
        call.invite = invite;
        call.invite_tx = Some(id);
        Ok(call)
    }

    /// The Call-ID, for the shell's routing.
    pub fn call_id(&self) -> &str {
        &self.config.call_id
    }

    /// The dialog, once the 2xx came.
    pub fn dialog(&self) -> Option<&Dialog> {
        self.dialog.as_ref()
    }

    /// Whether the call is over ([`UacEvent::Ended`] was queued). Its
    /// transactions may still absorb retransmissions until
    /// [`poll_timeout`](Self::poll_timeout) is `None`.
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// A message for this call arrived from `source` over `transport`. An
    /// error means it was not acted on (another call's, malformed,
    /// unexpected): log it. What the call did is in the events.
    pub fn on_message(
        &mut self,
        now: Duration,
        message: Message,
        source: SocketAddr,
        transport: Transport,
    ) -> Result<(), UacError> {
        let call_id = message.headers().get("Call-ID").unwrap_or_default();
        if call_id != self.config.call_id {
            return Err(UacError::NotThisCall(call_id.to_owned()));
        }
        let result = match message {
            Message::Response(response) => {
                self.tx.on_response(now, response, source);
                Ok(())
            }
            Message::Request(request) => self.on_request(now, request, source, transport),
        };
        self.drain(now);
        result
    }

    /// Fires the timers due at `now`.
    pub fn on_timeout(&mut self, now: Duration) {
        self.tx.handle_timeout(now);
        self.drain(now);
        self.answer_timers(now);
    }

    /// The shell could not deliver a message of `owner` (see
    /// [`Transmit::owner`]).
    pub fn on_transport_error(&mut self, now: Duration, owner: TxIdEither) {
        self.tx.on_transport_error(owner);
        self.drain(now);
    }

    /// When to call [`on_timeout`](Self::on_timeout) next.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let answer = self
            .remote_reinvite
            .as_ref()
            .and_then(|r| r.next_deadline());
        match (self.tx.next_timeout(), answer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next message to send, oldest first.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tx.poll_transmit()
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<UacEvent> {
        self.events.pop_front()
    }

    /// Gives up on the unanswered call. The CANCEL goes out now if a
    /// provisional came, else on the first one (RFC 3261 §9.1). The call
    /// ends with [`EndReason::Cancelled`] on the 487; an answer that races
    /// the CANCEL is ACKed and hung up. Cancelling twice is harmless.
    pub fn cancel(&mut self, now: Duration) -> Result<(), UacError> {
        match self.phase {
            Phase::Calling => {}
            Phase::Established => return Err(UacError::AlreadyAnswered),
            Phase::Ending(_) | Phase::Ended => return Err(UacError::Ended),
        }
        if self.cancel == Cancel::No {
            self.cancel = Cancel::Wanted;
            if self.provisional {
                self.send_cancel(now)?;
            }
        }
        Ok(())
    }

    /// Ends the call whatever its state: [`cancel`](Self::cancel) before
    /// the answer, [`bye`](Self::bye) after it, nothing once it is ending.
    pub fn hang_up(&mut self, now: Duration) -> Result<(), UacError> {
        match self.phase {
            Phase::Calling => self.cancel(now),
            Phase::Established => self.bye(now),
            Phase::Ending(_) | Phase::Ended => Ok(()),
        }
    }

    /// Hangs up the established call with BYE; it ends with
    /// [`EndReason::LocalBye`] when the BYE completes.
    pub fn bye(&mut self, now: Duration) -> Result<(), UacError> {
        match self.phase {
            Phase::Established => self.send_bye(now, EndReason::LocalBye),
            Phase::Calling => Err(UacError::NotEstablished),
            Phase::Ending(_) | Phase::Ended => Err(UacError::Ended),
        }
    }

    /// Sends a re-INVITE with a new offer (hold, new media). Its outcome
    /// is [`UacEvent::ReinviteAnswered`] or [`UacEvent::ReinviteRejected`].
    pub fn reinvite(&mut self, now: Duration, sdp: Vec<u8>) -> Result<(), UacError> {
        match self.phase {
            Phase::Established => {}
            Phase::Calling => return Err(UacError::NotEstablished),
            Phase::Ending(_) | Phase::Ended => return Err(UacError::Ended),
        }
        if self.reinvite_tx.is_some() || self.remote_reinvite.is_some() {
            return Err(UacError::ReinvitePending);
        }
        let branch = self.branch();
        let Some(dialog) = self.dialog.as_mut() else {
            return Err(UacError::NotEstablished);
        };
        let mut request = dialog.request(
            Method::Invite,
            &branch,
            &self.config.sent_by,
            &self.config.via_transport,
        )?;
        if !sdp.is_empty() {
            request.headers.push("Content-Type", "application/sdp")?;
        }
        request.body = sdp;
        let (dest, transport) = build::next_hop(dialog, &self.config);
        self.reinvite_tx = Some(self.start(now, Role::Reinvite, request, dest, transport)?);
        Ok(())
    }

    /// A fresh branch for a new transaction.
    fn branch(&mut self) -> String {
        self.counter += 1;
        format!("{MAGIC_COOKIE}-{}-{}", self.config.local_tag, self.counter)
    }

    /// Starts a client transaction and remembers what it is for.
    fn start(
        &mut self,
        now: Duration,
        role: Role,
        request: Request,
        dest: SocketAddr,
        transport: Transport,
    ) -> Result<ClientTxId, UacError> {
        let id = self
            .tx
            .send_request(now, request.clone(), dest, transport)?;
        self.outgoing.insert(
            id,
            Outgoing {
                role,
                request,
                dest,
                transport,
            },
        );
        Ok(id)
    }

    fn send_cancel(&mut self, now: Duration) -> Result<(), UacError> {
        let Some(invite) = self.invite_tx.and_then(|id| self.outgoing.get(&id)) else {
            return Ok(());
        };
        let (dest, transport) = (invite.dest, invite.transport);
        let cancel = build::cancel(&self.invite)?;
        self.start(now, Role::Cancel, cancel, dest, transport)?;
        self.cancel = Cancel::Sent;
        Ok(())
    }

    /// Sends BYE; the call ends with `reason` when it completes. If the
    /// BYE cannot even be sent, the call ends at once.
    fn send_bye(&mut self, now: Duration, reason: EndReason) -> Result<(), UacError> {
        let branch = self.branch();
        let Some(dialog) = self.dialog.as_mut() else {
            self.end(reason);
            return Err(UacError::NotEstablished);
        };
        let sent = dialog.request(
            Method::Bye,
            &branch,
            &self.config.sent_by,
            &self.config.via_transport,
        );
        let (dest, transport) = build::next_hop(dialog, &self.config);
        let sent = match sent {
            Ok(bye) => self.start(now, Role::Bye, bye, dest, transport),
            Err(e) => Err(e.into()),
        };
        match sent {
            Ok(_) => {
                self.phase = Phase::Ending(reason);
                Ok(())
            }
            Err(e) => {
                self.end(reason);
                Err(e)
            }
        }
    }

    /// Reports the end once.
    fn end(&mut self, reason: EndReason) {
        if self.phase != Phase::Ended {
            self.phase = Phase::Ended;
            self.events.push_back(UacEvent::Ended(reason));
        }
    }

    /// Acts on everything the transaction layer reported.
    fn drain(&mut self, now: Duration) {
        while let Some(event) = self.tx.poll_event() {
            match event {
                TxEvent::Response { id, response } => self.on_response(now, id, response),
                TxEvent::Timeout { id } => self.on_failure(now, id, false),
                TxEvent::TransportError {
                    id: TxIdEither::Client(id),
                } => self.on_failure(now, id, true),
                TxEvent::Terminated(TxIdEither::Client(id)) => {
                    self.outgoing.remove(&id);
                }
                TxEvent::TransportError { .. }
                | TxEvent::AckTimeout { .. }
                | TxEvent::Terminated(_) => {}
            }
        }
    }

    /// A client transaction gave up (Timer B/F, §9.1 guard) or could not
    /// deliver its request.
    fn on_failure(&mut self, now: Duration, id: ClientTxId, transport: bool) {
        let Some(out) = self.outgoing.remove(&id) else {
            return;
        };
        let method = out.request.method.clone();
        let error = if transport {
            UacError::TransportFailed { method }
        } else {
            UacError::Timeout { method }
        };
        match out.role {
            Role::Invite if self.invite_tx == Some(id) => {
                let reason = if self.cancel == Cancel::No {
                    EndReason::Failed(error)
                } else {
                    EndReason::Cancelled
                };
                self.end(reason);
            }
            Role::Invite | Role::Cancel | Role::ForkBye => {}
            // RFC 3261 §12.2.1.2: a 408 to an in-dialog request ends the
            // dialog.
            Role::Reinvite => {
                if self.reinvite_tx == Some(id) {
                    self.reinvite_tx = None;
                }
                if self.phase == Phase::Established {
                    // The dialog is gone anyway; a BYE that fails ends it.
                    let _ = self.send_bye(now, EndReason::Failed(error));
                }
            }
            Role::Bye => {
                let reason = match &self.phase {
                    Phase::Ending(reason) => reason.clone(),
                    _ => EndReason::Failed(error),
                };
                self.end(reason);
            }
        }
    }
}
