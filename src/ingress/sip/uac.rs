//! Outbound calls on the endpoint task (decision 0034): the endpoint owns
//! one sans-IO [`UacCall`] per call warmline places (a rep's phone), routes
//! every message with that Call-ID to it, sends what it transmits and runs
//! its timers with the endpoint's own. What a call reports goes back to
//! whoever placed it as [`UacEvent`]s on a bounded channel.
//!
//! - **Placing**: [`Outbound::place`] hands the endpoint a [`PlaceCall`];
//!   the endpoint fills in what only it knows (Contact, Via sent-by, the
//!   timers) and sends the INVITE.
//! - **Sources**: responses and in-dialog requests from a placed call's
//!   peer are taken even when no trunk covers that address (the phone is
//!   ours to call, not a trunk).
//! - **Re-INVITEs** from the far side (a session refresh, hold) are
//!   answered here with our SDP as it was: the media stays where it is.
//! - **Bounds**: at most [`MAX_OUTBOUND_CALLS`] at once (more are refused
//!   with [`OutboundError::TooMany`]); a call reports a handful of events,
//!   queued [`EVENT_QUEUE`] deep, so none is lost unless its owner stopped
//!   reading (then it is logged and dropped).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use tokio::sync::mpsc;
use warmline_sip::dialog::uac::{UacCall, UacConfig, UacEvent};
use warmline_sip::message::{Host, Message, Scheme, Uri};
use warmline_sip::transaction::{TimerConfig, Transport};

use super::endpoint::Endpoint;

/// Outbound calls in progress at most.
pub const MAX_OUTBOUND_CALLS: usize = 256;
/// Events queued towards one call's owner.
pub const EVENT_QUEUE: usize = 32;
/// Requests queued towards the endpoint.
pub const REQUEST_QUEUE: usize = 256;

/// What the caller of [`Outbound::place`] decides about a call.
#[derive(Clone, Debug)]
pub struct PlaceCall {
    /// Request-URI and To.
    pub target: Uri,
    /// Where the INVITE goes.
    pub peer: SocketAddr,
    /// Over what.
    pub transport: Transport,
    /// The user part of our From (the caller's number, presented).
    pub from_user: String,
    /// From display name.
    pub from_display: Option<String>,
    /// Call-ID (fresh random text).
    pub call_id: String,
    /// From tag (fresh random text).
    pub local_tag: String,
    /// The SDP offer.
    pub sdp: Vec<u8>,
    /// Extra INVITE headers.
    pub headers: Vec<(String, String)>,
    /// What to answer a digest challenge with.
    pub credentials: Option<warmline_sip::auth::ClientCredentials>,
}

/// Why an outbound call could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The SIP endpoint is gone (the server is stopping).
    #[error("the SIP endpoint is not running; the call cannot be placed")]
    EndpointGone,
    /// [`MAX_OUTBOUND_CALLS`] are in progress; try later.
    #[error("too many outbound calls in progress")]
    TooMany,
}

/// What the endpoint is asked to do with outbound calls.
#[derive(Debug)]
pub(crate) enum Request {
    Place(Box<PlaceCall>, mpsc::Sender<UacEvent>),
    HangUp(String),
}

/// The handle that places and ends outbound calls on the endpoint.
#[derive(Clone, Debug)]
pub struct Outbound {
    requests: mpsc::Sender<Request>,
}

impl Outbound {
    /// A handle and the receiving end the endpoint reads.
    pub(super) fn new() -> (Outbound, mpsc::Receiver<Request>) {
        let (requests, rx) = mpsc::channel(REQUEST_QUEUE);
        (Outbound { requests }, rx)
    }

    /// Places `call`; its events arrive on the receiver, the last one
    /// [`UacEvent::Ended`].
    pub async fn place(&self, call: PlaceCall) -> Result<mpsc::Receiver<UacEvent>, OutboundError> {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        self.requests
            .send(Request::Place(Box::new(call), tx))
            .await
            .map_err(|_| OutboundError::EndpointGone)?;
        Ok(rx)
    }

    /// Ends the call `call_id`: CANCEL before the answer, BYE after it.
    /// Control: waits for room in the endpoint's queue.
    pub async fn hang_up(&self, call_id: &str) -> Result<(), OutboundError> {
        self.requests
            .send(Request::HangUp(call_id.to_owned()))
            .await
            .map_err(|_| OutboundError::EndpointGone)
    }
}

struct Entry {
    call: UacCall,
    events: mpsc::Sender<UacEvent>,
    peer: SocketAddr,
    /// Our SDP: the answer to the far side's re-INVITEs (the session
    /// stays as it is).
    sdp: Vec<u8>,
}

/// Our Contact for a placed call: where the far side sends its requests
/// in the dialog. Over a stream it names the transport (`tcp` or `tls`,
/// with the TLS listener's port, as `via` and the sent-by say); toward a
/// `sips:` target it is a `sips:` URI itself (RFC 3261 §8.1.1.8).
fn contact(ip: IpAddr, port: u16, place: &PlaceCall, via: &str) -> Uri {
    let mut contact = Uri::sip(Some("warmline"), Host::Ip(ip), Some(port));
    if place.target.scheme == Scheme::Sips {
        contact.scheme = Scheme::Sips;
    } else if place.transport == Transport::Tcp {
        contact
            .params
            .set("transport", Some(&via.to_ascii_lowercase()));
    }
    contact
}

/// The endpoint's outbound calls, by Call-ID.
#[derive(Default)]
pub(super) struct UacTable {
    calls: HashMap<String, Entry>,
}

impl UacTable {
    /// Whether a placed call expects messages from `ip`.
    pub(super) fn expects(&self, ip: IpAddr) -> bool {
        !self.calls.is_empty() && self.calls.values().any(|e| e.peer.ip() == ip)
    }

    /// The earliest timer of any call.
    pub(super) fn next_deadline(&self) -> Option<std::time::Duration> {
        self.calls
            .values()
            .filter_map(|e| e.call.poll_timeout())
            .min()
    }
}

impl Endpoint {
    /// Acts on a request from an outbound call's owner.
    pub(super) fn on_outbound(&mut self, request: Request) {
        let now = self.now();
        match request {
            Request::Place(place, events) => {
                if self.uac.calls.len() >= MAX_OUTBOUND_CALLS {
                    tracing::warn!(call = %place.call_id, "outbound call refused: too many in progress");
                    let failed = warmline_sip::dialog::uac::EndReason::Failed(
                        warmline_sip::dialog::uac::UacError::Ended,
                    );
                    let _ = events.try_send(UacEvent::Ended(failed));
                    return;
                }
                let (sent_by, via) = self.sent_by(place.peer, place.transport);
                let ip = match sent_by.ip() {
                    ip if ip.is_unspecified() => self.service.advertised_ip(place.peer),
                    ip => ip,
                };
                let sent_by = SocketAddr::new(ip, sent_by.port());
                let from = Uri::sip(Some(&place.from_user), Host::Ip(ip), None);
                // Over TLS the trunk is the only hop whose certificate name
                // we know: the whole call goes through it (decision 0039).
                let tls = place.transport == Transport::Tcp && self.sender.is_tls(place.peer);
                let contact = contact(ip, sent_by.port(), &place, via);
                let config = UacConfig {
                    to: None,
                    from,
                    from_display: place.from_display.clone(),
                    call_id: place.call_id.clone(),
                    local_tag: place.local_tag.clone(),
                    contact,
                    sent_by: sent_by.to_string(),
                    peer: place.peer,
                    transport: place.transport,
                    every_request_to_peer: tls,
                    via_transport: via.to_owned(),
                    sdp: place.sdp.clone(),
                    headers: place.headers.clone(),
                    credentials: place.credentials.clone(),
                    timers: TimerConfig::default(),
                    target: place.target.clone(),
                };
                match UacCall::new(config, now) {
                    Ok(call) => {
                        tracing::info!(call = %place.call_id, target = %place.target, "placing an outbound call");
                        let entry = Entry {
                            call,
                            events,
                            peer: place.peer,
                            sdp: place.sdp.clone(),
                        };
                        self.uac.calls.insert(place.call_id.clone(), entry);
                    }
                    Err(e) => {
                        tracing::warn!(call = %place.call_id, error = %e, "outbound call not placed");
                        let failed = warmline_sip::dialog::uac::EndReason::Failed(e);
                        let _ = events.try_send(UacEvent::Ended(failed));
                    }
                }
            }
            Request::HangUp(call_id) => {
                if let Some(entry) = self.uac.calls.get_mut(&call_id) {
                    if let Err(e) = entry.call.hang_up(now) {
                        tracing::debug!(call = %call_id, error = %e, "outbound hang-up");
                    }
                }
            }
        }
    }

    /// Hands `message` to the outbound call it belongs to; gives it back
    /// when it belongs to none.
    pub(super) fn route_outbound(
        &mut self,
        message: Message,
        source: SocketAddr,
        transport: Transport,
    ) -> Option<Message> {
        if self.uac.calls.is_empty() {
            return Some(message);
        }
        let call_id = message.headers().get("Call-ID").unwrap_or_default();
        let now = self.now();
        let Some(entry) = self.uac.calls.get_mut(call_id) else {
            return Some(message);
        };
        if let Err(e) = entry.call.on_message(now, message, source, transport) {
            tracing::debug!(error = %e, "message for an outbound call not acted on");
        }
        None
    }

    /// A message to `dest` could not be delivered: true when it was an
    /// outbound call's (its own transaction layer hears it; the ids of
    /// the endpoint's layer are another numbering).
    pub(super) fn outbound_undelivered(
        &mut self,
        dest: SocketAddr,
        owner: warmline_sip::transaction::TxIdEither,
    ) -> bool {
        let now = self.now();
        match self.uac.calls.values_mut().find(|e| e.peer == dest) {
            Some(entry) => {
                entry.call.on_transport_error(now, owner);
                true
            }
            None => false,
        }
    }

    /// Fires the outbound calls' due timers.
    pub(super) fn outbound_timeout(&mut self) {
        let now = self.now();
        for entry in self.uac.calls.values_mut() {
            if entry.call.poll_timeout().is_some_and(|t| t <= now) {
                entry.call.on_timeout(now);
            }
        }
    }

    /// Sends what the outbound calls queued, hands their events to their
    /// owners and forgets calls that are over and quiet.
    pub(super) fn flush_outbound(&mut self) {
        let sender = &self.sender;
        let now = self.now();
        self.uac.calls.retain(|call_id, entry| {
            while let Some(event) = entry.call.poll_event() {
                if let UacEvent::ReinviteReceived { .. } = &event {
                    // A refresh or hold from the phone: our session stays.
                    if let Err(e) = entry.call.accept_reinvite(now, entry.sdp.clone()) {
                        tracing::debug!(call = %call_id, error = %e, "re-INVITE not answered");
                    }
                }
                if entry.events.try_send(event).is_err() {
                    tracing::warn!(call = %call_id, "an outbound call's owner is not reading its events");
                }
            }
            while let Some(t) = entry.call.poll_transmit() {
                let (dest, owner) = (t.dest, t.owner);
                if let Err(e) = sender.send(t) {
                    tracing::warn!(%dest, error = %e, "outbound SIP message not sent");
                    if let Some(owner) = owner {
                        entry.call.on_transport_error(now, owner);
                    }
                }
            }
            !(entry.call.is_ended() && entry.call.poll_timeout().is_none())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(target: &str, transport: Transport) -> PlaceCall {
        PlaceCall {
            target: Uri::parse(target).expect("uri"),
            peer: "192.0.2.20:5061".parse().expect("addr"),
            transport,
            from_user: "+15550001111".into(),
            from_display: None,
            call_id: "c".into(),
            local_tag: "t".into(),
            sdp: Vec::new(),
            headers: Vec::new(),
            credentials: None,
        }
    }

    #[test]
    fn the_contact_names_the_stream_and_is_sips_toward_a_sips_target() {
        let ip = IpAddr::from([198, 51, 100, 7]);
        let udp = contact(ip, 5060, &place("sip:2001@pbx", Transport::Udp), "UDP");
        assert_eq!(udp.to_string(), "sip:warmline@198.51.100.7:5060");
        let tcp = contact(ip, 5060, &place("sip:2001@pbx", Transport::Tcp), "TCP");
        assert_eq!(
            tcp.to_string(),
            "sip:warmline@198.51.100.7:5060;transport=tcp"
        );
        let tls = contact(ip, 5061, &place("sip:2001@pbx", Transport::Tcp), "TLS");
        assert_eq!(
            tls.to_string(),
            "sip:warmline@198.51.100.7:5061;transport=tls"
        );
        let sips = contact(ip, 5061, &place("sips:2001@pbx", Transport::Tcp), "TLS");
        assert_eq!(sips.to_string(), "sips:warmline@198.51.100.7:5061");
    }
}
