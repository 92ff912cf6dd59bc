//! REFER, NOTIFY and the referrer's watch, with real message text through the parser and
//! time advanced by hand. Split by area; the helpers are here.

mod messages;
mod notify;
mod watch;

use super::*;
use crate::message::{parse, Limits, Message};

/// The INVITE that made the dialog the REFERs and NOTIFYs run in.
const INVITE: &str = "INVITE sip:+15551230000@198.51.100.7 SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK-1\r\n\
Record-Route: <sip:sbc1.carrier.example;lr>\r\n\
Max-Forwards: 70\r\n\
From: <sip:+15559870000@carrier.example>;tag=caller\r\n\
To: <sip:+15551230000@198.51.100.7>\r\n\
Call-ID: call-1@carrier\r\n\
CSeq: 10 INVITE\r\n\
Contact: <sip:+15559870000@203.0.113.10:5060>\r\n\
Content-Length: 0\r\n\r\n";

pub(super) fn request(text: &str) -> Request {
    match parse(text.as_bytes(), &Limits::default()).expect("parses") {
        Message::Request(r) => r,
        Message::Response(_) => panic!("not a request"),
    }
}

pub(super) fn response(text: &str) -> Response {
    match parse(text.as_bytes(), &Limits::default()).expect("parses") {
        Message::Response(r) => r,
        Message::Request(_) => panic!("not a response"),
    }
}

/// Serialises and parses again, as the peer would see it.
pub(super) fn over_the_wire(request: &Request) -> Request {
    let bytes = request.to_bytes();
    self::request(std::str::from_utf8(&bytes).expect("utf-8"))
}

pub(super) fn dialog() -> Dialog {
    Dialog::uas(
        &request(INVITE),
        "ours",
        Uri::parse("sip:warmline@198.51.100.7:5060").expect("uri"),
    )
    .expect("dialog")
}
