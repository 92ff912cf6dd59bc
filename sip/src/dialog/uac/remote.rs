//! What the far side asks of us inside the dialog: BYE (answered 200, the
//! call ends), OPTIONS (200), and re-INVITE, which the owner answers with
//! [`UacCall::accept_reinvite`] or [`UacCall::reject_reinvite`]. A 2xx to
//! a re-INVITE is ours to re-send until its ACK comes (RFC 3261
//! §13.3.1.4, RFC 6026), like a UAS's answer.

use std::net::SocketAddr;
use std::time::Duration;

use super::{EndReason, Phase, UacCall, UacError, UacEvent};
use crate::dialog::{AnswerAction, AnswerRetransmit};
use crate::message::{Method, Request, SipHeaders};
use crate::transaction::{response_destination, Incoming, ServerTxId, Transport, TxError};

/// The far side's re-INVITE, from arrival until its 2xx is ACKed (or it
/// is refused).
#[derive(Debug)]
pub(super) struct RemoteReinvite {
    id: ServerTxId,
    request: Request,
    /// Where its responses go.
    dest: SocketAddr,
    transport: Transport,
    /// Our 2xx, once sent: re-sent on this schedule until the ACK.
    answer: Option<(AnswerRetransmit, Vec<u8>)>,
}

impl RemoteReinvite {
    /// When the 2xx is next re-sent or given up on.
    pub(super) fn next_deadline(&self) -> Option<Duration> {
        self.answer.as_ref().and_then(|(r, _)| r.next_deadline())
    }
}

impl UacCall {
    /// Answers the far side's re-INVITE
    /// ([`UacEvent::ReinviteReceived`]) with 200 and our SDP (the answer
    /// to its offer, or our offer if it sent none; the far side's answer
    /// then comes as [`UacEvent::ReinviteAcked`]).
    pub fn accept_reinvite(&mut self, now: Duration, sdp: Vec<u8>) -> Result<(), UacError> {
        let t = self.config.timers;
        let contact = format!("<{}>", self.config.contact);
        let pending = self
            .remote_reinvite
            .as_mut()
            .filter(|r| r.answer.is_none())
            .ok_or(UacError::NoReinviteToAnswer)?;
        let mut response = pending.request.response(200, "OK", None);
        response.headers.push("Contact", contact)?;
        response
            .headers
            .push("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")?;
        if !sdp.is_empty() {
            response.headers.push("Content-Type", "application/sdp")?;
        }
        response.body = sdp;
        let bytes = response.to_bytes();
        self.tx.respond(now, pending.id, response)?;
        let reliable = pending.transport.is_reliable();
        pending.answer = Some((AnswerRetransmit::new(now, t.t1, t.t2, reliable), bytes));
        Ok(())
    }

    /// Refuses the far side's re-INVITE with `status` (300–699; 488 when
    /// the offer is unacceptable). The session stays as it was.
    pub fn reject_reinvite(&mut self, now: Duration, status: u16) -> Result<(), UacError> {
        if !(300..=699).contains(&status) {
            return Err(TxError::InvalidStatus(status).into());
        }
        let pending = self
            .remote_reinvite
            .take_if(|r| r.answer.is_none())
            .ok_or(UacError::NoReinviteToAnswer)?;
        let reason = crate::message::reason_phrase(status);
        let response = pending.request.response(status, reason, None);
        self.tx.respond(now, pending.id, response)?;
        Ok(())
    }

    /// Re-sends our 2xx to the far side's re-INVITE when due; with no ACK
    /// after 64·T1 the dialog is ended with BYE.
    pub(super) fn answer_timers(&mut self, now: Duration) {
        let Some(pending) = self.remote_reinvite.as_mut() else {
            return;
        };
        let (dest, transport) = (pending.dest, pending.transport);
        let Some((retransmit, bytes)) = pending.answer.as_mut() else {
            return;
        };
        match retransmit.poll(now) {
            Some(AnswerAction::Resend) => {
                let bytes = bytes.clone();
                self.tx.send_stateless(dest, transport, bytes);
            }
            Some(AnswerAction::GiveUp) => {
                self.remote_reinvite = None;
                if self.phase == Phase::Established {
                    let _ = self.send_bye(now, EndReason::Failed(UacError::NoAck));
                }
            }
            None => {}
        }
    }

    /// A request from the far side, through a server transaction.
    pub(super) fn on_request(
        &mut self,
        now: Duration,
        request: Request,
        source: SocketAddr,
        transport: Transport,
    ) -> Result<(), UacError> {
        let (id, request) = match self.tx.on_request(now, request, source, transport) {
            Incoming::Request { id, request, .. } => (id, request),
            Incoming::Ack2xx(ack) => {
                self.on_ack(&ack);
                return Ok(());
            }
            Incoming::Absorbed => return Ok(()),
            Incoming::Rejected { error } => return Err(error.into()),
        };
        let in_dialog = self.dialog.as_ref().is_some_and(|d| d.matches(&request));
        if in_dialog {
            if let Some(dialog) = self.dialog.as_mut() {
                if let Err(e) = dialog.accept_remote_cseq(&request) {
                    let response = request.response(500, "Server Internal Error", None);
                    self.tx.respond(now, id, response)?;
                    return Err(e.into());
                }
            }
        }
        let (status, reason) = match request.method {
            _ if !in_dialog => (481, "Call/Transaction Does Not Exist"),
            Method::Bye | Method::Options => (200, "OK"),
            Method::Invite => return self.on_reinvite(now, id, request, source, transport),
            _ => (501, "Not Implemented"),
        };
        let response = request.response(status, reason, None);
        self.tx.respond(now, id, response)?;
        if in_dialog && request.method == Method::Bye {
            self.remote_reinvite = None;
            let reason = match &self.phase {
                Phase::Ending(reason) => reason.clone(),
                _ => EndReason::RemoteBye,
            };
            self.end(reason);
        }
        Ok(())
    }

    /// The far side's re-INVITE, already matched to the dialog and
    /// CSeq-checked.
    fn on_reinvite(
        &mut self,
        now: Duration,
        id: ServerTxId,
        request: Request,
        source: SocketAddr,
        transport: Transport,
    ) -> Result<(), UacError> {
        let refuse = if self.phase != Phase::Established {
            Some((481, "Call/Transaction Does Not Exist"))
        } else if self.reinvite_tx.is_some() {
            // Ours crosses theirs (RFC 3261 §14.2).
            Some((491, "Request Pending"))
        } else if self.remote_reinvite.is_some() {
            Some((500, "Server Internal Error"))
        } else {
            None
        };
        if let Some((status, reason)) = refuse {
            let mut response = request.response(status, reason, None);
            if status == 500 {
                // §14.2: a second INVITE before the first is answered.
                response.headers.push("Retry-After", "1")?;
            }
            self.tx.respond(now, id, response)?;
            return Ok(());
        }
        let via = request.top_via()?;
        if let Some(dialog) = self.dialog.as_mut() {
            dialog.refresh_target(&request);
        }
        self.events.push_back(UacEvent::ReinviteReceived {
            sdp: request.body.clone(),
        });
        self.remote_reinvite = Some(RemoteReinvite {
            id,
            dest: response_destination(&via, source, transport),
            transport,
            request,
            answer: None,
        });
        Ok(())
    }

    /// An ACK for a 2xx: if it acknowledges our answer to the far side's
    /// re-INVITE, the re-sending stops (and an answer in it is reported).
    fn on_ack(&mut self, ack: &Request) {
        let ours = self.dialog.as_ref().is_some_and(|d| d.matches(ack));
        let Some(pending) = self.remote_reinvite.as_ref() else {
            return;
        };
        let seq = |r: &Request| r.cseq().map(|c| c.seq).ok();
        if !ours || pending.answer.is_none() || seq(ack) != seq(&pending.request) {
            return;
        }
        self.remote_reinvite = None;
        if !ack.body.is_empty() {
            self.events.push_back(UacEvent::ReinviteAcked {
                sdp: ack.body.clone(),
            });
        }
    }
}
