//! How a UAC call reacts to the responses its client transactions pass
//! up: provisionals, the answer and its ACK, refusals, and re-sending a
//! challenged request with credentials (RFC 3261 §13.2.2, §14.1, §22.2).

use std::time::Duration;

use super::{
    build, Cancel, EndReason, Outgoing, Phase, Role, SentAck, UacCall, UacError, UacEvent,
};
use crate::auth::{AuthStep, Challenge, GiveUpReason};
use crate::dialog::Dialog;
use crate::message::{Method, Request, Response, SipHeaders};
use crate::transaction::ClientTxId;

/// ACKs kept for re-sending: the first INVITE's and the latest others.
const MAX_ACKS: usize = 8;

impl UacCall {
    /// A response passed up by one of our client transactions.
    pub(super) fn on_response(&mut self, now: Duration, id: ClientTxId, response: Response) {
        let Some(out) = self.outgoing.get(&id).cloned() else {
            return;
        };
        match out.role {
            Role::Invite => self.on_invite_response(now, id, out, response),
            Role::Reinvite => self.on_reinvite_response(now, id, out, response),
            Role::Bye => self.on_bye_response(now, out, response),
            Role::Cancel | Role::ForkBye => {}
        }
    }

    fn on_invite_response(
        &mut self,
        now: Duration,
        id: ClientTxId,
        out: Outgoing,
        response: Response,
    ) {
        let status = response.status;
        if self.invite_tx != Some(id) {
            // A 2xx to an INVITE we re-sent with credentials or cancelled
            // long ago: ACK it if it is our dialog's.
            if (200..300).contains(&status) && !self.resend_ack(&response) {
                self.hang_up_fork(now, &out.request, &response);
            }
            return;
        }
        match status {
            100..=199 => {
                if status > 100 && self.phase == Phase::Calling && self.cancel == Cancel::No {
                    self.events.push_back(UacEvent::Provisional {
                        status,
                        reason: response.reason.clone(),
                        sdp: (!response.body.is_empty()).then(|| response.body.clone()),
                    });
                }
                self.provisional = true;
                if self.cancel == Cancel::Wanted {
                    if let Err(e) = self.send_cancel(now) {
                        self.end(EndReason::Failed(e));
                    }
                }
            }
            200..=299 => self.on_answer(now, &out.request, response),
            401 | 407 if self.phase == Phase::Calling && self.cancel == Cancel::No => {
                match self.retry_with_credentials(now, &out, &response) {
                    Ok(new_id) => {
                        self.invite_tx = Some(new_id);
                        self.provisional = false;
                        if let Some(sent) = self.outgoing.get(&new_id) {
                            self.invite = sent.request.clone();
                        }
                    }
                    Err(e) => self.end(EndReason::Failed(e)),
                }
            }
            _ if self.phase == Phase::Calling => {
                self.auth.on_final_response();
                let reason = if self.cancel == Cancel::No {
                    EndReason::Rejected {
                        status,
                        reason: response.reason.clone(),
                    }
                } else {
                    EndReason::Cancelled
                };
                self.end(reason);
            }
            _ => {}
        }
    }

    /// A 2xx to the current INVITE: a retransmission is ACKed again; the
    /// first one makes the dialog, is ACKed, and either answers the call
    /// or, if we cancelled meanwhile, is hung up.
    fn on_answer(&mut self, now: Duration, invite: &Request, response: Response) {
        if self.phase != Phase::Calling {
            if !self.resend_ack(&response) {
                self.hang_up_fork(now, invite, &response);
            }
            return;
        }
        self.auth.on_final_response();
        let dialog = match build::dialog(invite, &response, &self.config) {
            Ok(dialog) => dialog,
            Err(e) => {
                self.end(EndReason::Failed(e));
                return;
            }
        };
        if let Err(e) = self.send_ack(&dialog, invite) {
            self.dialog = Some(dialog);
            let _ = self.send_bye(now, EndReason::Failed(e));
            return;
        }
        self.dialog = Some(dialog);
        if self.cancel == Cancel::No {
            self.phase = Phase::Established;
            self.events
                .push_back(UacEvent::Answered { sdp: response.body });
        } else {
            // The answer raced our CANCEL: RFC 3261 §15 has us ACK and BYE.
            let _ = self.send_bye(now, EndReason::Cancelled);
        }
    }

    /// Builds, sends and remembers the ACK for a 2xx to `invite`.
    fn send_ack(&mut self, dialog: &Dialog, invite: &Request) -> Result<(), UacError> {
        let branch = self.branch();
        let ack = build::ack(dialog, invite, &self.config, &branch)?;
        let (dest, transport) = build::next_hop(dialog, &self.config);
        let seq = invite.cseq()?.seq;
        let bytes = ack.to_bytes();
        self.tx.send_stateless(dest, transport, bytes.clone());
        self.acks
            .retain(|a| a.seq != seq || a.tag != dialog.remote_tag);
        self.acks.push(SentAck {
            tag: dialog.remote_tag.clone(),
            seq,
            dest,
            transport,
            bytes,
        });
        // The initial INVITE's ACK, and the latest few others (re-INVITEs,
        // forks), are enough.
        if self.acks.len() > MAX_ACKS {
            self.acks.remove(1);
        }
        Ok(())
    }

    /// A 2xx from a second dialog of a forked INVITE: ACK it, then BYE
    /// it (RFC 3261 §13.2.2.4); we keep the first. A 2xx that cannot
    /// make a dialog is dropped.
    fn hang_up_fork(&mut self, now: Duration, invite: &Request, response: &Response) {
        let Ok(mut fork) = build::dialog(invite, response, &self.config) else {
            return;
        };
        if self.send_ack(&fork, invite).is_err() {
            return;
        }
        let branch = self.branch();
        let Ok(bye) = fork.request(
            Method::Bye,
            &branch,
            &self.config.sent_by,
            &self.config.via_transport,
        ) else {
            return;
        };
        let (dest, transport) = build::next_hop(&fork, &self.config);
        // If it cannot be sent, the fork times out by itself.
        let _ = self.start(now, Role::ForkBye, bye, dest, transport);
    }

    /// A retransmitted 2xx we already ACKed: the same ACK again. Whether
    /// it was one (a response without CSeq or To counts as handled).
    fn resend_ack(&mut self, response: &Response) -> bool {
        let (Ok(cseq), Ok(to)) = (response.cseq(), response.to()) else {
            return true;
        };
        let tag = to.tag().unwrap_or_default();
        let Some(ack) = self.acks.iter().find(|a| a.seq == cseq.seq && a.tag == tag) else {
            return false;
        };
        self.tx
            .send_stateless(ack.dest, ack.transport, ack.bytes.clone());
        true
    }

    fn on_reinvite_response(
        &mut self,
        now: Duration,
        id: ClientTxId,
        out: Outgoing,
        response: Response,
    ) {
        let status = response.status;
        if status >= 200 && self.reinvite_tx == Some(id) {
            self.reinvite_tx = None;
        }
        match status {
            100..=199 => {}
            200..=299 => {
                let Ok(seq) = out.request.cseq().map(|c| c.seq) else {
                    return;
                };
                if self.acks.iter().any(|a| a.seq == seq) {
                    self.resend_ack(&response);
                    return;
                }
                let Some(mut dialog) = self.dialog.clone() else {
                    return;
                };
                // The answer may move the far side (RFC 3261 §12.2.1.2).
                if let Some(Ok(contact)) = response.contact() {
                    dialog.remote_target = contact.uri;
                }
                let acked = self.send_ack(&dialog, &out.request);
                self.dialog = Some(dialog);
                if self.phase != Phase::Established {
                    // Hanging up already: the ACK is all it gets.
                    return;
                }
                self.auth.on_final_response();
                match acked {
                    Ok(()) => self
                        .events
                        .push_back(UacEvent::ReinviteAnswered { sdp: response.body }),
                    Err(e) => {
                        let _ = self.send_bye(now, EndReason::Failed(e));
                    }
                }
            }
            401 | 407 if self.phase == Phase::Established => {
                // Refused credentials leave the session as it was.
                match self.retry_with_credentials(now, &out, &response) {
                    Ok(again) => self.reinvite_tx = Some(again),
                    Err(_) => self.events.push_back(UacEvent::ReinviteRejected { status }),
                }
            }
            // RFC 3261 §12.2.1.2: 481 and 408 end the dialog.
            408 | 481 if self.phase == Phase::Established => {
                self.auth.on_final_response();
                let error = UacError::DialogGone { status };
                let _ = self.send_bye(now, EndReason::Failed(error));
            }
            _ if self.phase == Phase::Established => {
                self.auth.on_final_response();
                self.events.push_back(UacEvent::ReinviteRejected { status });
            }
            _ => {}
        }
    }

    fn on_bye_response(&mut self, now: Duration, out: Outgoing, response: Response) {
        let Phase::Ending(reason) = self.phase.clone() else {
            return;
        };
        match response.status {
            100..=199 => {}
            401 | 407 => {
                // If we cannot answer, the far side times the dialog out;
                // we are done either way.
                if self.retry_with_credentials(now, &out, &response).is_err() {
                    self.end(reason);
                }
            }
            _ => {
                self.auth.on_final_response();
                self.end(reason);
            }
        }
    }

    /// Re-sends `out` answering the challenge in `response` (RFC 3261
    /// §22.2): CSeq + 1, a new branch, same Call-ID and tags. Fails when
    /// no credentials are configured, the challenge is unusable, or our
    /// previous answer was refused.
    fn retry_with_credentials(
        &mut self,
        now: Duration,
        out: &Outgoing,
        response: &Response,
    ) -> Result<ClientTxId, UacError> {
        let status = response.status;
        let method = out.request.method.clone();
        let (challenge_header, answer_header) = if status == 407 {
            ("Proxy-Authenticate", "Proxy-Authorization")
        } else {
            ("WWW-Authenticate", "Authorization")
        };
        let Some(creds) = self.config.credentials.clone() else {
            return Err(UacError::NoCredentials { status, method });
        };
        let challenges: Vec<Challenge> = response
            .headers
            .get_all(challenge_header)
            .into_iter()
            .filter_map(|v| Challenge::parse(v).ok())
            .collect();
        self.counter += 1;
        let cnonce = format!("{:x}{}", self.counter, self.config.local_tag);
        let uri = out.request.uri.to_string();
        let answer =
            match self
                .auth
                .on_challenge(&challenges, &creds, method.as_str(), &uri, &cnonce)?
            {
                AuthStep::Retry(answer) => answer,
                AuthStep::GiveUp(GiveUpReason::TooManyStaleNonces) => {
                    return Err(UacError::StaleNonces { method })
                }
                AuthStep::GiveUp(_) => {
                    return Err(UacError::CredentialsRejected { status, method })
                }
            };
        let seq = match self.dialog.as_mut() {
            Some(dialog) => {
                dialog.local_seq += 1;
                dialog.local_seq
            }
            None => out.request.cseq()?.seq.saturating_add(1),
        };
        let branch = self.branch();
        let again = build::with_credentials(
            &out.request,
            &self.config,
            seq,
            &branch,
            answer_header,
            answer.to_string(),
        )?;
        self.start(now, out.role, again, out.dest, out.transport)
    }
}
