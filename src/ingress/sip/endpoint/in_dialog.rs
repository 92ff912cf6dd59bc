//! Requests inside a caller's dialog: CANCEL, ACK, BYE and the rest
//! that arrive, and the BYE and re-INVITEs we send, with where they go.

use super::*;

impl Endpoint {
    pub(super) fn on_cancel(
        &mut self,
        id: ServerTxId,
        request: &Request,
        cancels: Option<ServerTxId>,
    ) {
        let Some(invite_tx) = cancels else {
            self.reply(id, request, 481, &[]);
            return;
        };
        self.reply(id, request, 200, &[]);
        let Some(key) = self.by_invite.get(&invite_tx).cloned() else {
            return;
        };
        let ringing = matches!(
            self.calls.get(&key).map(|c| &c.phase),
            Some(Phase::Ringing { .. })
        );
        if ringing {
            if let Some(call) = self.calls.remove(&key) {
                tracing::info!(call = %key, "caller cancelled before the answer");
                let response =
                    call.invite
                        .response(487, reason_phrase(487), Some(&call.dialog.local_tag));
                self.respond(call.invite_tx, response);
                let _ = call.control.try_send(LegControl::Ended("CANCEL".into()));
                self.by_invite.remove(&invite_tx);
            }
        }
        // A CANCEL that lost the race to our 200 has no effect: the caller
        // sends BYE.
    }

    pub(super) fn on_in_dialog(&mut self, id: ServerTxId, request: Request, key: String) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if let Err(e) = call.dialog.accept_remote_cseq(&request) {
            tracing::info!(call = %key, error = %e, "in-dialog request out of order");
            self.reply(id, &request, 500, &[("Retry-After", "1".into())]);
            return;
        }
        match request.method {
            Method::Bye => {
                tracing::info!(call = %key, "caller hung up");
                self.reply(id, &request, 200, &[]);
                self.end_call(&key, "BYE");
            }
            Method::Invite | Method::Update => invite::on_reoffer(self, id, request, key),
            Method::Info => {
                invite::on_info(self, &request, &key);
                self.reply(id, &request, 200, &[]);
            }
            Method::Options => self.reply(id, &request, 200, &capabilities()),
            Method::Refer => crate::ingress::sip::inbound_refer::on_refer(self, id, &request, &key),
            Method::Notify => self.on_notify(id, request, &key),
            _ => self.reply(id, &request, 405, &[("Allow", ALLOW.to_owned())]),
        }
    }

    pub(super) fn on_ack(&mut self, ack: &Request) {
        if let Some(key) = self.find_dialog(ack) {
            if let Some(call) = self.calls.get_mut(&key) {
                if let Some((retransmit, _, _)) = call.answer.as_mut() {
                    retransmit.acked();
                }
                call.answer = None;
            }
        }
    }

    /// The caller is gone: stop its media and forget the call.
    pub(super) fn end_call(&mut self, key: &str, reason: &str) {
        if let Some(call) = self.calls.remove(key) {
            let _ = call.control.try_send(LegControl::Ended(reason.to_owned()));
            self.by_invite.remove(&call.invite_tx);
        }
    }

    /// We end the call: BYE when answered, 480 while ringing.
    pub(super) fn hang_up(&mut self, key: &str, reason: &str) {
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        match call.phase {
            Phase::Ringing { .. } => {
                let response =
                    call.invite
                        .response(480, reason_phrase(480), Some(&call.dialog.local_tag));
                let invite_tx = call.invite_tx;
                self.respond(invite_tx, response);
                self.end_call(key, reason);
            }
            Phase::Answered => {
                call.phase = Phase::Ended;
                let _ = call.control.try_send(LegControl::Ended(reason.to_owned()));
                match self.send_in_dialog(key, Method::Bye) {
                    Some(id) => {
                        self.clients.insert(id, (key.to_owned(), Purpose::Bye));
                    }
                    None => self.end_call(key, reason),
                }
            }
            Phase::Ended => {}
        }
    }

    /// Sends a request in `key`'s dialog; returns its client transaction.
    pub(super) fn send_in_dialog(&mut self, key: &str, method: Method) -> Option<ClientTxId> {
        let now = self.now();
        let local = self.local;
        let call = self.calls.get_mut(key)?;
        let (dest, transport) = in_dialog_destination(call);
        let (local, transport_name) =
            super::invite::sent_by(self.service.tls_local, &self.sender, local, dest, transport);
        let branch = match crate::ingress::sip::new_branch(&*self.service.random) {
            Ok(branch) => branch,
            Err(e) => {
                tracing::error!(call = %key, error = %e, %method, "cannot send in-dialog request");
                return None;
            }
        };
        let mut request = call
            .dialog
            .request(method.clone(), &branch, &local.to_string(), transport_name)
            .ok()?;
        if method == Method::Invite {
            // A refresh re-INVITE carries our current SDP unchanged.
            let _ = request.headers.push("Content-Type", "application/sdp");
            request.body = call.plan.local_sdp.to_string().into_bytes();
        }
        if matches!(method, Method::Invite | Method::Update) {
            if let Some(timer) = &call.timer {
                let _ = request.headers.push("Supported", SUPPORTED);
                let _ = request.headers.push(
                    "Session-Expires",
                    format!("{};refresher=uas", timer.interval_secs()),
                );
            }
        }
        match self.tx.send_request(now, request, dest, transport) {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(call = %key, error = %e, %method, "cannot send in-dialog request");
                None
            }
        }
    }
}

pub(super) fn in_dialog_destination(call: &SipCall) -> (SocketAddr, Transport) {
    let hop = call.dialog.next_hop();
    let transport = match hop.transport().as_deref() {
        // TLS is a stream like TCP; the registry knows which it is.
        Some("tcp" | "tls") => Transport::Tcp,
        Some(_) => Transport::Udp,
        None => call.peer.1,
    };
    match &hop.host {
        warmline_sip::message::Host::Ip(ip) => {
            (SocketAddr::new(*ip, hop.port.unwrap_or(5060)), transport)
        }
        warmline_sip::message::Host::Name(_) => call.peer,
    }
}
