//! Matching and addressing: what identifies a transaction (RFC 3261
//! §17.1.3, §17.2.3) and where a server transaction's responses go
//! (§18.2.1–18.2.2, RFC 3581).

use std::net::SocketAddr;

use super::{Transport, MAGIC_COOKIE};
use crate::message::{split_list, Headers, Host, Method, Request, SipHeaders, Via};

/// What identifies a server transaction (RFC 3261 §17.2.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct ServerKey {
    /// The branch, or for RFC 2543 peers a synthetic key built from the
    /// request (see [`ServerKey::of`]).
    pub(super) branch: String,
    /// sent-by host (lowercased) and port.
    pub(super) host: String,
    pub(super) port: Option<u16>,
    /// The method, with ACK counted as INVITE.
    pub(super) method: Method,
}

impl ServerKey {
    pub(super) fn of(request: &Request, via: &Via) -> ServerKey {
        let method = match &request.method {
            Method::Ack => Method::Invite,
            m => m.clone(),
        };
        match via.branch().filter(|b| b.starts_with(MAGIC_COOKIE)) {
            Some(branch) => ServerKey {
                branch: branch.to_owned(),
                host: via.host.to_string().to_ascii_lowercase(),
                port: via.port,
                method,
            },
            None => {
                let from_tag = SipHeaders::from(request)
                    .ok()
                    .and_then(|f| f.tag().map(str::to_owned))
                    .unwrap_or_default();
                let seq = request.cseq().map(|c| c.seq).unwrap_or(0);
                let top_via = request
                    .headers
                    .get_all("Via")
                    .first()
                    .copied()
                    .unwrap_or("")
                    .to_owned();
                ServerKey {
                    branch: format!(
                        "rfc2543 {} {} {} {} {}",
                        request.uri,
                        from_tag,
                        request.call_id().unwrap_or(""),
                        seq,
                        top_via
                    ),
                    host: String::new(),
                    port: None,
                    method,
                }
            }
        }
    }
}

/// What identifies a client transaction (RFC 3261 §17.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct ClientKey {
    pub(super) branch: String,
    pub(super) method: Method,
}

/// Where responses to a request go (RFC 3261 §18.2.2, RFC 3581 §4).
pub fn response_destination(via: &Via, source: SocketAddr, transport: Transport) -> SocketAddr {
    if transport.is_reliable() || via.params.has("rport") {
        source
    } else {
        SocketAddr::new(source.ip(), via.port.unwrap_or(5060))
    }
}

/// Adds `received` (when sent-by is not the source IP, or rport asks for
/// it) and fills `rport` in the request's top Via (§18.2.1, RFC 3581 §4).
pub(super) fn stamp_via(request: &mut Request, via: &Via, source: SocketAddr) {
    let rport = via.params.has("rport");
    let same_ip = matches!(via.host, Host::Ip(ip) if ip == source.ip());
    if same_ip && !rport {
        return;
    }
    let mut stamped = via.clone();
    stamped
        .params
        .set("received", Some(&source.ip().to_string()));
    if rport {
        stamped
            .params
            .set("rport", Some(&source.port().to_string()));
    }
    if let Some(headers) = replace_top_via(&request.headers, &stamped.to_string()) {
        request.headers = headers;
    }
}

/// The headers with the first Via value replaced; `None` if a header
/// would not copy (it always does for parsed input).
fn replace_top_via(headers: &Headers, top: &str) -> Option<Headers> {
    let mut out = Headers::new();
    let mut done = false;
    for (name, value) in headers.iter() {
        if !done && name.eq_ignore_ascii_case("Via") {
            done = true;
            let rest = split_list(value).into_iter().skip(1).collect::<Vec<_>>();
            let value = if rest.is_empty() {
                top.to_owned()
            } else {
                format!("{top}, {}", rest.join(", "))
            };
            out.push(name, value).ok()?;
        } else {
            out.push(name, value).ok()?;
        }
    }
    Some(out)
}
