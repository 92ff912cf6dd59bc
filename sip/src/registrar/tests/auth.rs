//! Digest, identity and domain checks, and caller errors.

use std::time::Instant;

use super::*;

#[test]
fn a_register_without_credentials_is_challenged_with_401() {
    let mut reg = registrar();
    let req = request(&register_text(
        "alice",
        "c1",
        1,
        "Contact: <sip:alice@192.0.2.20:5060>\r\n",
    ));
    let reply = reg.handle(&req, Instant::now(), T0, lookup).unwrap();
    assert_eq!(reply.response.status, 401);
    assert_eq!(reply.outcome, RegisterOutcome::Challenged { stale: false });
    assert!(!reply.outcome.is_failure());
    let c = challenges(&reply.response);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].realm, "pbx.example");
    assert!(reply.response.to().unwrap().tag().is_some());
    assert_eq!(reg.aor_count(), 0);
}

#[test]
fn the_answer_to_the_challenge_registers_and_the_200_lists_the_contact() {
    let mut reg = registrar();
    let now = Instant::now();
    // The full exchange: 401, then the client answers the challenge it got.
    let first = request(&register_text(
        "alice",
        "c1",
        1,
        "Contact: <sip:alice@192.0.2.20:5060>\r\n",
    ));
    let challenge = reg.handle(&first, now, T0, lookup).unwrap();
    let creds = respond(
        &challenges(&challenge.response),
        &ClientCredentials::new("alice", "wonderland"),
        "REGISTER",
        "sip:pbx.example",
        "abc",
        1,
    )
    .unwrap();
    let second = request(&register_text(
        "alice",
        "c1",
        2,
        &format!(
            "Authorization: {creds}\r\nContact: <sip:alice@192.0.2.20:5060>\r\nExpires: 600\r\n"
        ),
    ));
    let reply = reg.handle(&second, now, T0 + 1, lookup).unwrap();
    assert_eq!(reply.response.status, 200);
    assert_eq!(
        reply.outcome,
        RegisterOutcome::Registered {
            aor: "sip:alice@pbx.example".into(),
            user: "alice".into()
        }
    );
    assert_eq!(
        reply.response.headers.get_all("Contact"),
        vec!["<sip:alice@192.0.2.20:5060>;expires=600"]
    );
    assert_eq!(
        contact_uris(&reg, "sip:alice@PBX.example", now),
        vec!["sip:alice@192.0.2.20:5060"]
    );
}

#[test]
fn a_wrong_password_after_the_challenge_gets_403() {
    let mut reg = registrar();
    let auth = authorization(&reg, "alice", "not-the-password", T0);
    let req = request(&register_text(
        "alice",
        "c1",
        2,
        &format!("{auth}Contact: <sip:alice@192.0.2.20>\r\n"),
    ));
    let reply = reg.handle(&req, Instant::now(), T0, lookup).unwrap();
    assert_eq!(reply.response.status, 403);
    assert_eq!(
        reply.outcome,
        RegisterOutcome::Refused(Refusal::BadCredentials(InvalidReason::ResponseMismatch))
    );
    assert!(reply.outcome.is_failure());
    assert_eq!(reg.aor_count(), 0);
}

#[test]
fn an_unknown_user_gets_403_like_a_wrong_password() {
    let mut reg = registrar();
    let auth = authorization(&reg, "mallory", "guess", T0);
    let req = request(&register_text("mallory", "c1", 2, &auth));
    let reply = reg.handle(&req, Instant::now(), T0, lookup).unwrap();
    assert_eq!(reply.response.status, 403);
    assert!(reply.outcome.is_failure());
}

#[test]
fn an_answer_to_an_expired_nonce_is_challenged_again_as_stale() {
    let mut reg = registrar();
    let auth = authorization(&reg, "alice", "wonderland", T0);
    let req = request(&register_text("alice", "c1", 2, &auth));
    let reply = reg.handle(&req, Instant::now(), T0 + 600, lookup).unwrap();
    assert_eq!(reply.response.status, 401);
    assert_eq!(reply.outcome, RegisterOutcome::Challenged { stale: true });
    assert!(challenges(&reply.response)[0].stale);
}

#[test]
fn a_nonce_from_another_server_gets_a_fresh_challenge_not_403() {
    let mut reg = registrar();
    let other = Challenger::new(
        b"another-secret-of-16-bytes",
        "pbx.example",
        &[Algorithm::Sha256],
    )
    .unwrap();
    let creds = respond(
        &other.challenge(T0),
        &ClientCredentials::new("alice", "wonderland"),
        "REGISTER",
        "sip:pbx.example",
        "abc",
        1,
    )
    .unwrap();
    let req = request(&register_text(
        "alice",
        "c1",
        2,
        &format!("Authorization: {creds}\r\n"),
    ));
    let reply = reg.handle(&req, Instant::now(), T0, lookup).unwrap();
    assert_eq!(reply.outcome, RegisterOutcome::Challenged { stale: false });
}

#[test]
fn registering_another_users_aor_gets_403() {
    let mut reg = registrar();
    let auth = authorization(&reg, "alice", "wonderland", T0);
    let req = request(&register_text("bob", "c1", 2, &auth));
    let reply = reg.handle(&req, Instant::now(), T0, lookup).unwrap();
    assert_eq!(reply.response.status, 403);
    assert_eq!(
        reply.outcome,
        RegisterOutcome::Refused(Refusal::UserMismatch {
            authenticated: "alice".into(),
            to_user: "bob".into()
        })
    );
    assert!(reply.outcome.is_failure());
}

#[test]
fn an_aor_in_another_domain_gets_404() {
    let mut reg = registrar();
    let auth = authorization(&reg, "alice", "wonderland", T0);
    let text = register_text("alice", "c1", 2, &auth).replace(
        "To: <sip:alice@pbx.example>",
        "To: <sip:alice@elsewhere.example>",
    );
    let reply = reg
        .handle(&request(&text), Instant::now(), T0, lookup)
        .unwrap();
    assert_eq!(reply.response.status, 404);
    assert_eq!(
        reply.outcome,
        RegisterOutcome::Refused(Refusal::NotOurDomain)
    );
}

#[test]
fn a_request_other_than_register_is_a_caller_error() {
    let mut reg = registrar();
    let text = register_text("alice", "c1", 1, "")
        .replace("REGISTER sip:", "OPTIONS sip:")
        .replace("1 REGISTER", "1 OPTIONS");
    let err = reg
        .handle(&request(&text), Instant::now(), T0, lookup)
        .unwrap_err();
    assert_eq!(err, RegistrarError::NotRegister("OPTIONS".into()));
}

#[test]
fn an_inconsistent_configuration_is_refused() {
    let challenger = Challenger::new(SECRET, "pbx.example", &[Algorithm::Md5]).unwrap();
    let mut config = RegistrarConfig::new("pbx.example");
    config.min_expires = 7200;
    assert!(matches!(
        Registrar::new(config, challenger),
        Err(RegistrarError::InvalidConfig(_))
    ));
}

/// Every truncation of an authenticated REGISTER, and every byte replaced by a delimiter,
/// gets a response or is refused by the parser: never a panic, never a caller error.
#[test]
fn mangled_registers_never_panic() {
    let reg = registrar();
    let auth = authorization(&reg, "alice", "wonderland", T0);
    let original = register_text(
        "alice",
        "c1",
        2,
        &format!("{auth}Contact: <sip:alice@192.0.2.20>;expires=600;q=0.5\r\nExpires: 60\r\n"),
    )
    .into_bytes();
    let t = Instant::now();
    for i in 0..original.len() {
        let mut variants = vec![original[..i].to_vec()];
        for b in [b';', b'*', b'<', b'>', b'=', b',', b'"', b'0', b' ', 0xff] {
            let mut v = original.clone();
            v[i] = b;
            variants.push(v);
        }
        for v in variants {
            if let Ok(Message::Request(r)) = parse(&v, &Limits::default()) {
                if r.method == crate::message::Method::Register {
                    let mut reg = registrar();
                    let reply = reg.handle(&r, t, T0, lookup).expect("a REGISTER");
                    assert!(reply.response.status >= 200);
                }
            }
        }
    }
}
