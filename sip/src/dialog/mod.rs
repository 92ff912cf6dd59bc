//! Dialogs (RFC 3261 §12) for a UAS and a UAC, and what runs inside one: the 2xx
//! retransmission the UAS core owes until the ACK arrives (RFC 6026), and
//! RFC 4028 session timers.
//!
//! A [`Dialog`] is created from an INVITE we answer. It keeps the tags,
//! both CSeq spaces, the route set (the INVITE's Record-Route, in order)
//! and the remote target (the caller's Contact, refreshed by re-INVITE and
//! UPDATE), and builds our in-dialog requests (BYE, re-INVITE, UPDATE)
//! from them.
//!
//! [`uac`] places outbound calls: [`uac::UacCall`] sends the INVITE and
//! runs the dialog its 2xx creates (CANCEL, ACK, BYE, re-INVITE, digest
//! answers), building on the same [`Dialog`].

mod answer;
mod session_timer;
pub mod uac;

#[cfg(test)]
mod tests;

pub use answer::{AnswerAction, AnswerRetransmit};
pub use session_timer::{
    negotiate_uas, Refresher, SessionTimer, SessionTimerAction, SessionTimerConfig,
    SessionTimerOutcome,
};

use crate::message::{Headers, MessageError, Method, NameAddr, Request, SipHeaders, Uri, Via};

/// Why a dialog cannot be made or used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// The INVITE lacks something a dialog needs.
    #[error("cannot form a dialog: {0}")]
    Message(#[from] MessageError),
    /// The caller's From has no tag (RFC 2543 peers); we require one.
    #[error("From has no tag")]
    NoRemoteTag,
    /// No Contact in the INVITE: nowhere to send in-dialog requests.
    #[error("INVITE has no usable Contact")]
    NoContact,
    /// An in-dialog request's CSeq is not above the last one (RFC 3261
    /// §12.2.2): answer 500.
    #[error("CSeq {got} is not above the last remote CSeq {last}")]
    CSeqOutOfOrder {
        /// The request's CSeq.
        got: u32,
        /// The highest seen.
        last: u32,
    },
}

/// A dialog on the UAS side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// Our tag (the To tag of our responses).
    pub local_tag: String,
    /// The caller's From tag.
    pub remote_tag: String,
    /// Our address of record with our tag: the `From` of our requests.
    pub local: String,
    /// The caller's address with its tag: the `To` of our requests.
    pub remote: String,
    /// Our CSeq space.
    pub local_seq: u32,
    /// The highest CSeq the caller used.
    pub remote_seq: u32,
    /// Route set, in the order our requests carry it.
    pub route_set: Vec<NameAddr>,
    /// Where in-dialog requests go: the caller's Contact.
    pub remote_target: Uri,
    /// Our Contact.
    pub local_contact: Uri,
}

impl Dialog {
    /// The dialog a 2xx (or 18x with tag) to `invite` creates.
    pub fn uas(
        invite: &Request,
        local_tag: &str,
        local_contact: Uri,
    ) -> Result<Dialog, DialogError> {
        let from = invite.from()?;
        let remote_tag = from.tag().ok_or(DialogError::NoRemoteTag)?.to_owned();
        let to = invite.to()?;
        let mut local = to.clone();
        local.params.set("tag", Some(local_tag));
        let remote_target = match invite.contact() {
            Some(Ok(contact)) => contact.uri,
            _ => return Err(DialogError::NoContact),
        };
        Ok(Dialog {
            call_id: invite
                .call_id()
                .ok_or(MessageError::MissingHeader("Call-ID"))?
                .to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag,
            local: local.to_string(),
            remote: from.to_string(),
            // Our first request uses a fresh space; 1 is as good as any.
            local_seq: 0,
            remote_seq: invite.cseq()?.seq,
            route_set: invite.record_route()?,
            remote_target,
            local_contact,
        })
    }

    /// Whether `request` belongs to this dialog (Call-ID and both tags).
    pub fn matches(&self, request: &Request) -> bool {
        let Some(call_id) = request.call_id() else {
            return false;
        };
        let (Ok(from), Ok(to)) = (request.from(), request.to()) else {
            return false;
        };
        call_id == self.call_id
            && to.tag() == Some(self.local_tag.as_str())
            && from.tag() == Some(self.remote_tag.as_str())
    }

    /// Checks an in-dialog request's CSeq (ACK and CANCEL reuse the
    /// INVITE's and are not checked) and records it.
    pub fn accept_remote_cseq(&mut self, request: &Request) -> Result<(), DialogError> {
        if matches!(request.method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        let seq = request.cseq()?.seq;
        if seq <= self.remote_seq {
            return Err(DialogError::CSeqOutOfOrder {
                got: seq,
                last: self.remote_seq,
            });
        }
        self.remote_seq = seq;
        Ok(())
    }

    /// A re-INVITE or UPDATE may move the caller: take its Contact as the
    /// new remote target (RFC 3261 §12.2.2).
    pub fn refresh_target(&mut self, request: &Request) {
        if matches!(request.method, Method::Invite | Method::Update) {
            if let Some(Ok(contact)) = request.contact() {
                self.remote_target = contact.uri;
            }
        }
    }

    /// Where our next in-dialog request goes first: the top route if it is
    /// a loose router (`;lr`), otherwise the remote target.
    pub fn next_hop(&self) -> &Uri {
        match self.route_set.first() {
            Some(route) if route.uri.params.has("lr") => &route.uri,
            _ => &self.remote_target,
        }
    }

    /// The ACK for a 2xx to our re-INVITE with CSeq `seq`: a transaction
    /// of its own (new branch), same CSeq number (RFC 3261 §13.2.2.4).
    pub fn ack(
        &self,
        seq: u32,
        branch: &str,
        sent_by: &str,
        transport: &str,
    ) -> Result<Request, MessageError> {
        let mut copy = self.clone();
        copy.local_seq = seq.saturating_sub(1);
        copy.request(Method::Ack, branch, sent_by, transport)
    }

    /// Builds our next in-dialog request (BYE, re-INVITE, UPDATE): the
    /// next local CSeq, our tags, the route set as Route, a Via with
    /// `branch` sent from `sent_by` over `transport` (`UDP`, `TCP`).
    pub fn request(
        &mut self,
        method: Method,
        branch: &str,
        sent_by: &str,
        transport: &str,
    ) -> Result<Request, MessageError> {
        self.local_seq += 1;
        let mut headers = Headers::new();
        let via = Via::parse(&format!(
            "SIP/2.0/{transport} {sent_by};branch={branch};rport"
        ))?;
        headers.push("Via", via.to_string())?;
        headers.push("Max-Forwards", "70")?;
        headers.push("From", self.local.clone())?;
        headers.push("To", self.remote.clone())?;
        headers.push("Call-ID", self.call_id.clone())?;
        headers.push("CSeq", format!("{} {}", self.local_seq, method))?;
        for route in &self.route_set {
            headers.push("Route", route.to_string())?;
        }
        headers.push("Contact", format!("<{}>", self.local_contact))?;
        Ok(Request {
            method,
            uri: self.remote_target.clone(),
            headers,
            body: Vec::new(),
        })
    }
}
