//! The NOTIFYs of the implicit `refer` subscription (RFC 3515 §2.4.4–2.4.7): `Event: refer`,
//! `Subscription-State`, and a `message/sipfrag` body (RFC 3420) holding the status line of
//! the transferee's INVITE, built and parsed.

use std::fmt;

use super::ReferError;
use crate::dialog::Dialog;
use crate::message::{reason_phrase, Method, Request};

/// The `Content-Type` of a refer NOTIFY body.
const SIPFRAG: &str = "message/sipfrag;version=2.0";

/// The `Subscription-State` header (RFC 6665 §8.2.3), as far as a refer subscription uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscriptionState {
    /// `active;expires=N`: more NOTIFYs will follow.
    Active {
        /// Seconds the subscription has left.
        expires: u32,
    },
    /// `pending;expires=N`: accepted but not yet authorised; treated like active.
    Pending {
        /// Seconds the subscription has left.
        expires: u32,
    },
    /// `terminated[;reason=…]`: this is the last NOTIFY.
    Terminated {
        /// The reason (`noresource` once the transfer has a final answer, `timeout`,
        /// `rejected`…), if given.
        reason: Option<String>,
    },
}

impl SubscriptionState {
    /// `terminated;reason=noresource`, what the last refer NOTIFY carries (RFC 3515 §2.4.7).
    pub fn terminated() -> SubscriptionState {
        SubscriptionState::Terminated {
            reason: Some("noresource".to_owned()),
        }
    }

    /// Whether no more NOTIFYs will come.
    pub fn is_terminated(&self) -> bool {
        matches!(self, SubscriptionState::Terminated { .. })
    }

    /// Parses a `Subscription-State` value. An unknown state is an error: RFC 6665 lets a
    /// subscriber ignore it, but a refer NOTIFY has no use for one.
    pub fn parse(value: &str) -> Result<SubscriptionState, ReferError> {
        let bad = |why: &str| ReferError::MalformedSubscriptionState(format!("{why} in {value:?}"));
        let mut parts = value.split(';').map(str::trim);
        let state = parts.next().unwrap_or("").to_ascii_lowercase();
        let (mut expires, mut reason) = (None, None);
        for part in parts {
            match part.split_once('=') {
                Some((k, v)) if k.trim().eq_ignore_ascii_case("expires") => {
                    let v = v.trim();
                    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(bad("expires is not a number"));
                    }
                    expires = Some(v.parse::<u32>().unwrap_or(u32::MAX));
                }
                Some((k, v)) if k.trim().eq_ignore_ascii_case("reason") => {
                    reason = Some(v.trim().to_ascii_lowercase());
                }
                _ => {}
            }
        }
        match state.as_str() {
            // expires is a SHOULD for active/pending; without it, say 0 (unknown).
            "active" => Ok(SubscriptionState::Active {
                expires: expires.unwrap_or(0),
            }),
            "pending" => Ok(SubscriptionState::Pending {
                expires: expires.unwrap_or(0),
            }),
            "terminated" => Ok(SubscriptionState::Terminated { reason }),
            "" => Err(bad("no state")),
            _ => Err(bad("unknown state")),
        }
    }
}

impl fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubscriptionState::Active { expires } => write!(f, "active;expires={expires}"),
            SubscriptionState::Pending { expires } => write!(f, "pending;expires={expires}"),
            SubscriptionState::Terminated { reason: Some(r) } => {
                write!(f, "terminated;reason={r}")
            }
            SubscriptionState::Terminated { reason: None } => f.write_str("terminated"),
        }
    }
}

/// A sipfrag body holding only a status line: `SIP/2.0 200 OK` and CRLF. `reason` is
/// stripped of line breaks.
pub fn sipfrag(status: u16, reason: &str) -> Vec<u8> {
    let reason: String = reason
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
        .take(200)
        .collect();
    format!("SIP/2.0 {status} {reason}\r\n").into_bytes()
}

/// The status code and reason phrase of a sipfrag body's first line (`SIP/2.0 180
/// Ringing`). Any headers after it are ignored.
pub fn parse_sipfrag(body: &[u8]) -> Result<(u16, String), ReferError> {
    let line_end = body
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(body.len());
    let line = std::str::from_utf8(body.get(..line_end).unwrap_or_default())
        .map_err(|_| ReferError::MalformedSipfrag("status line is not UTF-8"))?
        .trim();
    if line.is_empty() {
        return Err(ReferError::MalformedSipfrag("empty body"));
    }
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(ReferError::MalformedSipfrag(
            "first line is not a SIP/2.0 status line",
        ));
    }
    let code = parts.next().unwrap_or("");
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|_| code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()))
        .filter(|s| (100..700).contains(s))
        .ok_or(ReferError::MalformedSipfrag(
            "status code is not 100 to 699",
        ))?;
    Ok((status, parts.next().unwrap_or("").trim().to_owned()))
}

/// A NOTIFY of a refer subscription: the transferee's progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferNotify {
    /// The status of the transferee's INVITE (100 Trying, 180, 200, 486…).
    pub status: u16,
    /// Its reason phrase.
    pub reason: String,
    /// The subscription's state.
    pub state: SubscriptionState,
    /// The `id` of `Event: refer;id=N`: the CSeq of the REFER it reports on (RFC 3515
    /// §2.4.6). Needed when one dialog carries several REFERs.
    pub id: Option<u32>,
}

impl ReferNotify {
    /// A progress NOTIFY (`active;expires=<expires_secs>`) for the REFER with CSeq `id`.
    pub fn progress(status: u16, expires_secs: u32, id: Option<u32>) -> ReferNotify {
        ReferNotify {
            status,
            reason: reason_phrase(status).to_owned(),
            state: SubscriptionState::Active {
                expires: expires_secs,
            },
            id,
        }
    }

    /// The last NOTIFY (`terminated;reason=noresource`), with the final status.
    pub fn last(status: u16, id: Option<u32>) -> ReferNotify {
        ReferNotify {
            status,
            reason: reason_phrase(status).to_owned(),
            state: SubscriptionState::terminated(),
            id,
        }
    }

    /// The NOTIFY reporting `status` of the transferee's INVITE: [`ReferNotify::progress`]
    /// for 1xx, [`ReferNotify::last`] for a final status.
    pub fn for_status(status: u16, expires_secs: u32, id: Option<u32>) -> ReferNotify {
        if status < 200 {
            ReferNotify::progress(status, expires_secs, id)
        } else {
            ReferNotify::last(status, id)
        }
    }

    /// Whether the subscription ends with this NOTIFY.
    pub fn is_terminated(&self) -> bool {
        self.state.is_terminated()
    }

    /// Sets `Event`, `Subscription-State`, `Content-Type` and the sipfrag body on `request`
    /// (a NOTIFY the caller built in the dialog).
    pub fn apply(&self, request: &mut Request) -> Result<(), ReferError> {
        let event = match self.id {
            Some(id) => format!("refer;id={id}"),
            None => "refer".to_owned(),
        };
        request.headers.set("Event", event)?;
        request
            .headers
            .set("Subscription-State", self.state.to_string())?;
        request.headers.set("Content-Type", SIPFRAG)?;
        request.body = sipfrag(self.status, &self.reason);
        Ok(())
    }

    /// The NOTIFY as the dialog's next request (see [`Dialog::request`]).
    pub fn in_dialog(
        &self,
        dialog: &mut Dialog,
        branch: &str,
        sent_by: &str,
        transport: &str,
    ) -> Result<Request, ReferError> {
        let mut request = dialog.request(Method::Notify, branch, sent_by, transport)?;
        self.apply(&mut request)?;
        Ok(request)
    }

    /// Reads a received NOTIFY of a refer subscription. On error, answer
    /// [`ReferError::status`] (489 for another event, 415 for another body type, 400
    /// otherwise).
    pub fn parse(request: &Request) -> Result<ReferNotify, ReferError> {
        if request.method != Method::Notify {
            return Err(ReferError::WrongMethod {
                expected: "NOTIFY",
                got: request.method.to_string(),
            });
        }
        let event = request.headers.get("Event").unwrap_or("");
        let mut event_parts = event.split(';').map(str::trim);
        let package = event_parts.next().unwrap_or("");
        if !package.eq_ignore_ascii_case("refer") {
            return Err(ReferError::NotReferEvent(
                package.chars().take(40).collect(),
            ));
        }
        let id = event_parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("id"))
            .and_then(|(_, v)| v.trim().parse::<u32>().ok());
        let state = SubscriptionState::parse(
            request
                .headers
                .get("Subscription-State")
                .ok_or_else(|| ReferError::MalformedSubscriptionState("missing".into()))?,
        )?;
        let content_type = request.headers.get("Content-Type").unwrap_or("");
        let media = content_type.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("message/sipfrag") {
            return Err(ReferError::NotSipfrag(
                content_type.chars().take(60).collect(),
            ));
        }
        let (status, reason) = parse_sipfrag(&request.body)?;
        Ok(ReferNotify {
            status,
            reason,
            state,
            id,
        })
    }
}
