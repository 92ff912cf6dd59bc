//! The requests a UAC builds: the initial INVITE, its CANCEL, a request
//! re-sent with credentials, the ACK for a 2xx, and the dialog a 2xx
//! creates (RFC 3261 §12.1.2).

use std::net::SocketAddr;

use super::types::{UacConfig, UacError};
use crate::dialog::Dialog;
use crate::message::{
    Headers, Host, MessageError, Method, NameAddr, Params, Request, Response, SipHeaders, Via,
};
use crate::transaction::Transport;

/// The headers that carry our digest answers; an ACK for a 2xx repeats
/// them (RFC 3261 §13.2.2.4, §22.1).
const AUTH_HEADERS: [&str; 2] = ["Authorization", "Proxy-Authorization"];

/// The INVITE with CSeq `seq` and a Via with `branch`.
pub(super) fn invite(config: &UacConfig, seq: u32, branch: &str) -> Result<Request, UacError> {
    let mut from = NameAddr {
        display: config.from_display.clone(),
        uri: config.from.clone(),
        params: Params::default(),
    };
    from.params.set("tag", Some(&config.local_tag));
    let to = NameAddr {
        display: None,
        uri: config.to.clone().unwrap_or_else(|| config.target.clone()),
        params: Params::default(),
    };
    let mut headers = Headers::new();
    headers.push("Via", via(config, branch)?)?;
    headers.push("Max-Forwards", "70")?;
    headers.push("From", from.to_string())?;
    headers.push("To", to.to_string())?;
    headers.push("Call-ID", config.call_id.clone())?;
    headers.push("CSeq", format!("{seq} INVITE"))?;
    headers.push("Contact", format!("<{}>", config.contact))?;
    headers.push("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")?;
    for (name, value) in &config.headers {
        headers.push(name, value.clone())?;
    }
    if !config.sdp.is_empty() {
        headers.push("Content-Type", "application/sdp")?;
    }
    Ok(Request {
        method: Method::Invite,
        uri: config.target.clone(),
        headers,
        body: config.sdp.clone(),
    })
}

/// A top Via for a new transaction.
pub(super) fn via(config: &UacConfig, branch: &str) -> Result<String, MessageError> {
    let text = format!(
        "SIP/2.0/{} {};branch={branch};rport",
        config.via_transport, config.sent_by
    );
    Ok(Via::parse(&text)?.to_string())
}

/// The CANCEL for `invite` (RFC 3261 §9.1): same Request-URI, Call-ID,
/// From, To, CSeq number, top Via (so the same branch) and Route.
pub(super) fn cancel(invite: &Request) -> Result<Request, UacError> {
    let missing = |name: &'static str| MessageError::MissingHeader(name);
    let h = &invite.headers;
    let mut headers = Headers::new();
    headers.push("Via", h.get("Via").ok_or(missing("Via"))?)?;
    for route in h.get_all("Route") {
        headers.push("Route", route)?;
    }
    headers.push("Max-Forwards", "70")?;
    headers.push("From", h.get("From").ok_or(missing("From"))?)?;
    headers.push("To", h.get("To").ok_or(missing("To"))?)?;
    headers.push("Call-ID", invite.call_id().ok_or(missing("Call-ID"))?)?;
    headers.push("CSeq", format!("{} CANCEL", invite.cseq()?.seq))?;
    Ok(Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        headers,
        body: Vec::new(),
    })
}

/// `request` again as a new transaction: CSeq `seq`, a Via with `branch`,
/// and `credentials` in `header` (RFC 3261 §22.2). Earlier answers are
/// replaced.
pub(super) fn with_credentials(
    request: &Request,
    config: &UacConfig,
    seq: u32,
    branch: &str,
    header: &str,
    credentials: String,
) -> Result<Request, UacError> {
    let mut again = request.clone();
    again.headers.set("Via", via(config, branch)?)?;
    again
        .headers
        .set("CSeq", format!("{seq} {}", request.method))?;
    for name in AUTH_HEADERS {
        again.headers.remove(name);
    }
    again.headers.push(header, credentials)?;
    Ok(again)
}

/// The dialog a 2xx to `invite` creates: the remote tag from To, the
/// route set from Record-Route reversed, the remote target from Contact,
/// our CSeq space continuing from the INVITE's.
pub(super) fn dialog(
    invite: &Request,
    response: &Response,
    config: &UacConfig,
) -> Result<Dialog, UacError> {
    let to = response.to()?;
    let remote_tag = to
        .tag()
        .ok_or_else(|| UacError::BadResponse(format!("{} without a To tag", response.status)))?
        .to_owned();
    let remote_target = match response.contact() {
        Some(Ok(contact)) => contact.uri,
        _ => {
            return Err(UacError::BadResponse(format!(
                "{} without a usable Contact",
                response.status
            )))
        }
    };
    let mut route_set = response.record_route()?;
    route_set.reverse();
    Ok(Dialog {
        call_id: config.call_id.clone(),
        local_tag: config.local_tag.clone(),
        remote_tag,
        local: invite.from()?.to_string(),
        remote: to.to_string(),
        local_seq: invite.cseq()?.seq,
        remote_seq: 0,
        route_set,
        remote_target,
        local_contact: config.contact.clone(),
    })
}

/// The ACK for a 2xx to `invite` (a transaction of its own, RFC 3261
/// §13.2.2.4): built by the dialog, with the INVITE's credentials.
pub(super) fn ack(
    dialog: &Dialog,
    invite: &Request,
    config: &UacConfig,
    branch: &str,
) -> Result<Request, UacError> {
    let seq = invite.cseq()?.seq;
    let mut ack = dialog.ack(seq, branch, &config.sent_by, &config.via_transport)?;
    for name in AUTH_HEADERS {
        for value in invite.headers.get_all(name) {
            ack.headers.push(name, value)?;
        }
    }
    Ok(ack)
}

/// Where in-dialog requests go: the configured peer when the call keeps
/// it as its outbound proxy (`every_request_to_peer`), else the dialog's
/// next hop when its host is an IP address (port 5060 by default), else
/// the configured peer, which the shell resolved. The transport follows
/// the hop's `transport` parameter, else the configured one.
pub(super) fn next_hop(dialog: &Dialog, config: &UacConfig) -> (SocketAddr, Transport) {
    if config.every_request_to_peer {
        return (config.peer, config.transport);
    }
    let hop = dialog.next_hop();
    let transport = match hop.transport().as_deref() {
        Some("tcp" | "tls" | "ws" | "wss") => Transport::Tcp,
        Some(_) => Transport::Udp,
        None => config.transport,
    };
    match &hop.host {
        Host::Ip(ip) => (SocketAddr::new(*ip, hop.port.unwrap_or(5060)), transport),
        Host::Name(_) => (config.peer, config.transport),
    }
}
