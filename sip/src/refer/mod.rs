//! Call transfer with REFER (RFC 3515), its NOTIFYs with `message/sipfrag` bodies
//! (RFC 3420), `Referred-By` (RFC 3892), `Refer-Sub: false` (RFC 4488) and `Replaces`
//! carried in the `Refer-To` URI (RFC 3891), both sides, sans-IO.
//!
//! This module owns:
//! - the `Refer-To` value ([`ReferTo`], with an optional [`Replaces`] escaped into the URI's
//!   header part) and the REFER we send ([`Refer`]);
//! - the checks on a REFER we receive ([`IncomingRefer::parse`]), each failure an
//!   [`ReferError`] that says which status to answer;
//! - the NOTIFYs of the implicit `refer` subscription, built and parsed ([`ReferNotify`],
//!   in `notify.rs`);
//! - the referrer's view of one transfer ([`ReferWatch`], in `watch.rs`): REFER sent, 202,
//!   progress, final result or timeout.
//!
//! It never reads a clock and never opens a socket: [`ReferWatch`] takes `now`, and the
//! requests are built through [`Dialog::request`] (or added to a request the caller built)
//! and handed back to be sent by the transaction layer. Matching a NOTIFY to its dialog is
//! the caller's job; matching it to its REFER (`Event: refer;id=<CSeq>`) is the watch's.
//!
//! Not done: REFER outside a dialog, explicit SUBSCRIBE refreshes of the `refer` event, the
//! header part of `Refer-To` beyond `Replaces` (kept raw in the URI), and `Target-Dialog`.

mod notify;
#[cfg(test)]
mod tests;
mod watch;

use std::fmt;

pub use notify::{parse_sipfrag, sipfrag, ReferNotify, SubscriptionState};
pub use watch::{ReferEvent, ReferOutcome, ReferWatch, ReferWatchConfig};

use crate::dialog::Dialog;
use crate::message::{MessageError, Method, NameAddr, Request, Response, Uri};

/// What is wrong with a REFER or NOTIFY we received, or with a value we were asked to send.
/// [`ReferError::status`] is the response to answer a received request with. The `Display`
/// text names the header and the fault, for logs; it is not a stable API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferError {
    /// The request is not the method this function reads (a routing mistake in the caller).
    #[error("expected a {expected} request, got {got}")]
    WrongMethod {
        /// The method expected.
        expected: &'static str,
        /// The method received.
        got: String,
    },
    /// A REFER without `Refer-To` (RFC 3515 §2.4.1: answer 400).
    #[error("REFER has no Refer-To")]
    MissingReferTo,
    /// A REFER with more than one `Refer-To` (RFC 3515 §2.4.1: exactly one).
    #[error("REFER has {0} Refer-To values; exactly one is allowed")]
    MultipleReferTo(usize),
    /// `Refer-To` does not parse as one name-addr with a sip, sips or tel URI.
    #[error("Refer-To is malformed: {0}")]
    MalformedReferTo(String),
    /// `Referred-By` does not parse as a name-addr.
    #[error("Referred-By is malformed: {0}")]
    MalformedReferredBy(String),
    /// The `Replaces` in the `Refer-To` URI is not `call-id;to-tag=…;from-tag=…`.
    #[error("Replaces is malformed: {0}")]
    MalformedReplaces(&'static str),
    /// A NOTIFY whose `Event` is not `refer` (answer 489 Bad Event).
    #[error("NOTIFY is for event {0:?}, not refer")]
    NotReferEvent(String),
    /// `Subscription-State` is missing or does not parse.
    #[error("Subscription-State is missing or malformed: {0}")]
    MalformedSubscriptionState(String),
    /// The NOTIFY body is not `message/sipfrag` (answer 415).
    #[error("NOTIFY body is {0:?}, not message/sipfrag")]
    NotSipfrag(String),
    /// The sipfrag body does not start with a status line.
    #[error("sipfrag body is malformed: {0}")]
    MalformedSipfrag(&'static str),
    /// Building the request failed (a value would break the header).
    #[error("cannot build the request: {0}")]
    Message(#[from] MessageError),
}

impl ReferError {
    /// The status to answer a received request with when it fails this way.
    pub fn status(&self) -> u16 {
        match self {
            ReferError::NotReferEvent(_) => 489,
            ReferError::NotSipfrag(_) => 415,
            ReferError::WrongMethod { .. } => 405,
            ReferError::Message(_) => 500,
            _ => 400,
        }
    }
}

/// The dialog to replace (RFC 3891), as carried in a `Refer-To` URI for an attended
/// transfer. The tags are as seen by the *target* of the REFER's INVITE: `to-tag` is the
/// tag of the side that will receive the INVITE with `Replaces`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replaces {
    /// The dialog's Call-ID.
    pub call_id: String,
    /// `to-tag`.
    pub to_tag: String,
    /// `from-tag`.
    pub from_tag: String,
    /// `early-only`: replace only a dialog that is not yet confirmed.
    pub early_only: bool,
}

impl Replaces {
    /// Parses a `Replaces` header value: `call-id;to-tag=…;from-tag=…[;early-only]`.
    pub fn parse(value: &str) -> Result<Replaces, ReferError> {
        let mut parts = value.split(';').map(str::trim);
        let call_id = parts
            .next()
            .filter(|c| !c.is_empty())
            .ok_or(ReferError::MalformedReplaces("no Call-ID"))?;
        let (mut to_tag, mut from_tag, mut early_only) = (None, None, false);
        for part in parts {
            match part.split_once('=') {
                Some((k, v)) if k.trim().eq_ignore_ascii_case("to-tag") => to_tag = Some(v.trim()),
                Some((k, v)) if k.trim().eq_ignore_ascii_case("from-tag") => {
                    from_tag = Some(v.trim())
                }
                None if part.eq_ignore_ascii_case("early-only") => early_only = true,
                _ => {}
            }
        }
        let to_tag = to_tag.ok_or(ReferError::MalformedReplaces("no to-tag"))?;
        let from_tag = from_tag.ok_or(ReferError::MalformedReplaces("no from-tag"))?;
        Ok(Replaces {
            call_id: call_id.to_owned(),
            to_tag: to_tag.to_owned(),
            from_tag: from_tag.to_owned(),
            early_only,
        })
    }
}

impl fmt::Display for Replaces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};to-tag={};from-tag={}",
            self.call_id, self.to_tag, self.from_tag
        )?;
        if self.early_only {
            f.write_str(";early-only")?;
        }
        Ok(())
    }
}

/// The `Refer-To` of a REFER: where the transferee should send its INVITE, and for an
/// attended transfer the dialog that INVITE replaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferTo {
    /// The target, as a name-addr. Its URI's header part is kept raw (the `Replaces` in it
    /// too); [`ReferTo::replaces`] is the parsed copy.
    pub target: NameAddr,
    /// The dialog to replace, from the URI's `Replaces` header.
    pub replaces: Option<Replaces>,
}

impl ReferTo {
    /// A blind transfer to `uri`.
    pub fn new(uri: Uri) -> ReferTo {
        ReferTo {
            target: NameAddr {
                display: None,
                uri,
                params: Default::default(),
            },
            replaces: None,
        }
    }

    /// An attended transfer: the INVITE to `uri` will carry `Replaces: <replaces>`. The
    /// value is percent-escaped into the URI's header part (RFC 3261 §19.1.1).
    pub fn with_replaces(mut self, replaces: Replaces) -> ReferTo {
        let escaped = format!("Replaces={}", escape_header_value(&replaces.to_string()));
        let kept: Vec<&str> = self
            .target
            .uri
            .headers
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|h| !h.is_empty() && !header_name_is(h, "Replaces"))
            .collect();
        let mut headers = kept.join("&");
        if !headers.is_empty() {
            headers.push('&');
        }
        headers.push_str(&escaped);
        self.target.uri.headers = Some(headers);
        self.replaces = Some(replaces);
        self
    }

    /// Parses a `Refer-To` value: one name-addr with a sip, sips or tel URI, and a
    /// well-formed `Replaces` if its URI carries one.
    pub fn parse(value: &str) -> Result<ReferTo, ReferError> {
        let target =
            NameAddr::parse(value).map_err(|e| ReferError::MalformedReferTo(e.to_string()))?;
        let mut replaces = None;
        if let Some(headers) = target.uri.headers.as_deref() {
            for header in headers.split('&') {
                if header_name_is(header, "Replaces") {
                    let raw = header.split_once('=').map_or("", |(_, v)| v);
                    let decoded = percent_decode(raw)
                        .ok_or(ReferError::MalformedReplaces("bad percent-escape"))?;
                    replaces = Some(Replaces::parse(&decoded)?);
                }
            }
        }
        Ok(ReferTo { target, replaces })
    }
}

impl fmt::Display for ReferTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // NameAddr always writes the URI in angle brackets, which a URI with a header part
        // needs (RFC 3261 §20.10).
        write!(f, "{}", self.target)
    }
}

/// A REFER to send in a dialog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refer {
    /// Where the peer should send its call.
    pub refer_to: ReferTo,
    /// Who asks (RFC 3892), usually our own AOR.
    pub referred_by: Option<NameAddr>,
    /// `false` asks for no NOTIFYs (`Refer-Sub: false`, RFC 4488); the peer may ignore it.
    pub subscribe: bool,
}

impl Refer {
    /// A REFER to `refer_to`, asking for progress NOTIFYs.
    pub fn new(refer_to: ReferTo) -> Refer {
        Refer {
            refer_to,
            referred_by: None,
            subscribe: true,
        }
    }

    /// Adds `Refer-To`, `Referred-By` and `Refer-Sub` to `request` (built by the caller,
    /// with its dialog's identifiers, route set and CSeq).
    pub fn apply(&self, request: &mut Request) -> Result<(), ReferError> {
        request.headers.set("Refer-To", self.refer_to.to_string())?;
        if let Some(by) = &self.referred_by {
            request.headers.set("Referred-By", by.to_string())?;
        }
        if !self.subscribe {
            request.headers.set("Refer-Sub", "false")?;
        }
        Ok(())
    }

    /// The REFER as the dialog's next request: next local CSeq, tags, route set, a Via with
    /// `branch` from `sent_by` over `transport`. Its CSeq number is the `id` the peer's
    /// NOTIFYs carry ([`ReferWatch::new`] wants it).
    pub fn in_dialog(
        &self,
        dialog: &mut Dialog,
        branch: &str,
        sent_by: &str,
        transport: &str,
    ) -> Result<Request, ReferError> {
        let mut request = dialog.request(Method::Refer, branch, sent_by, transport)?;
        self.apply(&mut request)?;
        Ok(request)
    }
}

/// A REFER we received, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingRefer {
    /// Where to send the call.
    pub refer_to: ReferTo,
    /// Who asks, if said.
    pub referred_by: Option<NameAddr>,
    /// `false` when the referrer sent `Refer-Sub: false` (RFC 4488): no NOTIFYs wanted.
    pub wants_notify: bool,
    /// The REFER's CSeq number: the `id` of the `Event: refer` in our NOTIFYs.
    pub cseq: u32,
}

impl IncomingRefer {
    /// Reads and checks a REFER: exactly one well-formed `Refer-To`, a well-formed
    /// `Referred-By` if present. On error, answer [`ReferError::status`].
    pub fn parse(request: &Request) -> Result<IncomingRefer, ReferError> {
        use crate::message::SipHeaders;
        if request.method != Method::Refer {
            return Err(ReferError::WrongMethod {
                expected: "REFER",
                got: request.method.to_string(),
            });
        }
        // Refer-To is not a list header, but a comma outside <> would mean two values.
        let values: Vec<&str> = request
            .headers
            .get_all("Refer-To")
            .into_iter()
            .flat_map(crate::message::split_list)
            .collect();
        let refer_to = match values.as_slice() {
            [] => return Err(ReferError::MissingReferTo),
            [one] => ReferTo::parse(one)?,
            more => return Err(ReferError::MultipleReferTo(more.len())),
        };
        let referred_by = match request.headers.get("Referred-By") {
            Some(v) => Some(
                NameAddr::parse(v).map_err(|e| ReferError::MalformedReferredBy(e.to_string()))?,
            ),
            None => None,
        };
        let wants_notify = !request
            .headers
            .get("Refer-Sub")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"));
        let cseq = request.cseq()?.seq;
        Ok(IncomingRefer {
            refer_to,
            referred_by,
            wants_notify,
            cseq,
        })
    }

    /// The `202 Accepted` for `request` (this REFER). It echoes `Refer-Sub: false` when the
    /// referrer asked for no NOTIFYs: we honour that (RFC 4488 §4).
    pub fn accept(&self, request: &Request) -> Response {
        let mut response = request.response(202, "Accepted", None);
        if !self.wants_notify {
            response
                .headers
                .push_trusted("Refer-Sub", "false".to_owned());
        }
        response
    }
}

/// Whether a URI header `name=value` is named `name` (case-insensitively).
fn header_name_is(header: &str, name: &str) -> bool {
    header
        .split_once('=')
        .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
}

/// Percent-escapes everything but RFC 3261 `unreserved` and `hnv-unreserved` characters, so
/// `;`, `=`, `@`, `%`, `&` and `?` of a header value cannot end the URI header.
fn escape_header_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3 / 2);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()[]/:+$".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` on a broken escape or a result that is not UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
