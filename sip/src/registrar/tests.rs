//! Registrar behaviour in simulated time: real REGISTER text through the parser, a real
//! digest round trip with the client side of `auth`. Split by area; the helpers are here.

mod auth;
mod bindings;

use std::time::Instant;

use super::*;
use crate::auth::{respond, Algorithm, Challenge, ClientCredentials, UserSecret};
use crate::message::{parse, Limits, Message, Request, Response, SipHeaders};

pub(super) const SECRET: &[u8] = b"0123456789abcdef-registrar-test";
pub(super) const T0: u64 = 1_800_000_000;

pub(super) fn registrar() -> Registrar {
    registrar_with(RegistrarConfig::new("pbx.example"))
}

pub(super) fn registrar_with(config: RegistrarConfig) -> Registrar {
    let challenger = Challenger::new(SECRET, "pbx.example", &[Algorithm::Sha256]).expect("cfg");
    Registrar::new(config, challenger).expect("registrar")
}

pub(super) fn lookup(user: &str, _: Algorithm) -> Option<UserSecret> {
    match user {
        "alice" => Some(UserSecret::Password("wonderland".into())),
        "bob" => Some(UserSecret::Password("builder".into())),
        _ => None,
    }
}

/// A REGISTER for `user` with `extra` header lines (each ending in CRLF).
pub(super) fn register_text(user: &str, call_id: &str, cseq: u32, extra: &str) -> String {
    format!(
        "REGISTER sip:pbx.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@pbx.example>;tag=ft{cseq}\r\n\
         To: <sip:{user}@pbx.example>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    )
}

pub(super) fn request(text: &str) -> Request {
    match parse(text.as_bytes(), &Limits::default()).expect("parses") {
        Message::Request(r) => r,
        Message::Response(_) => panic!("not a request"),
    }
}

pub(super) fn challenges(response: &Response) -> Vec<Challenge> {
    response
        .headers
        .get_all("WWW-Authenticate")
        .into_iter()
        .map(|v| Challenge::parse(v).expect("challenge"))
        .collect()
}

/// An `Authorization:` line answering a fresh challenge as `user` with `password`.
pub(super) fn authorization(reg: &Registrar, user: &str, password: &str, unix: u64) -> String {
    let challenge = reg.challenger.challenge(unix);
    let creds = respond(
        &challenge,
        &ClientCredentials::new(user, password),
        "REGISTER",
        "sip:pbx.example",
        "cnonce-1",
        1,
    )
    .expect("answer");
    format!("Authorization: {creds}\r\n")
}

/// Sends a REGISTER as `user`, authenticated with the right password, with `extra` header
/// lines.
pub(super) fn send(
    reg: &mut Registrar,
    user: &str,
    call_id: &str,
    cseq: u32,
    extra: &str,
    now: Instant,
) -> RegisterReply {
    let password = match user {
        "bob" => "builder",
        _ => "wonderland",
    };
    let auth = authorization(reg, user, password, T0);
    let req = request(&register_text(
        user,
        call_id,
        cseq,
        &format!("{auth}{extra}"),
    ));
    reg.handle(&req, now, T0, lookup).expect("handled")
}

pub(super) fn contact_uris(reg: &Registrar, aor: &str, now: Instant) -> Vec<String> {
    reg.contacts(aor, now)
        .iter()
        .map(|b| b.uri.to_string())
        .collect()
}
