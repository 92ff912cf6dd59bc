//! The registrations handle in simulated time: real REGISTER text through
//! the parser, a real digest round trip with the client side of `auth`,
//! and a real directory behind a `Handoff`.

use std::collections::HashMap;
use std::sync::Arc;

use warmline_sip::auth::{respond, Challenge, ClientCredentials};
use warmline_sip::message::{parse, Limits, Message, Response};

use super::*;
use crate::config::handoff::AgentAfterBridge;
use crate::handoff::room::NoRooms;
use crate::handoff::{EscalationConfig, InProcessDirectory, Presence, RepHub};

const UNIX: u64 = 1_800_000_000;
const PHONE: &str = "192.0.2.20:5062";

fn rep(id: &str, password_env: Option<&str>) -> RepConfig {
    RepConfig {
        id: id.into(),
        name: id.to_uppercase(),
        skills: Vec::new(),
        token_env: format!("T_{id}"),
        sip_password_env: password_env.map(str::to_owned),
        sip_uri: None,
        outbound: None,
    }
}

fn setup() -> (Registrations, Handoff) {
    let config = SipConfig {
        domain: Some("pbx.example".into()),
        register_digest_algorithms: vec!["MD5".into()],
        ..SipConfig::default()
    };
    let reps = [rep("ana", Some("ANA_SIP")), rep("bo", None)];
    let env = |name: &str| (name == "ANA_SIP").then(|| "wonderland".to_owned());
    let directory = Arc::new(InProcessDirectory::new(
        &reps,
        Duration::from_secs(10),
        &|_| None,
    ));
    let handoff = Handoff::new(
        directory,
        Arc::new(RepHub::default()),
        Arc::new(NoRooms),
        EscalationConfig {
            queue_max_wait: Duration::from_secs(120),
            ring_timeout: Duration::from_secs(20),
            announce_every: Duration::from_secs(30),
            brief: true,
            phone_brief: true,
            agent_after_bridge: AgentAfterBridge::Close,
        },
        HashMap::new(),
    );
    let registrations = Registrations::new(&config, &reps, b"0123456789abcdef-secret", &env)
        .expect("registrar")
        .with_handoff(handoff.clone());
    (registrations, handoff)
}

fn request(user: &str, cseq: u32, extra: &str) -> Request {
    let text = format!(
        "REGISTER sip:pbx.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.20:5062;branch=z9hG4bK-{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@pbx.example>;tag=ft{cseq}\r\n\
         To: <sip:{user}@pbx.example>\r\n\
         Call-ID: reg-{user}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    );
    match parse(text.as_bytes(), &Limits::default()).expect("parses") {
        Message::Request(r) => r,
        Message::Response(_) => panic!("not a request"),
    }
}

fn challenges(response: &Response) -> Vec<Challenge> {
    response
        .headers
        .get_all("WWW-Authenticate")
        .into_iter()
        .map(|v| Challenge::parse(v).expect("challenge"))
        .collect()
}

/// REGISTERs as `user` with `password` (401 first, then the answer) at
/// `now`, with CSeq `cseq` and `cseq + 1` (one Call-ID per user); returns
/// the final reply.
fn register(
    registrations: &Registrations,
    (user, password, cseq): (&str, &str, u32),
    extra: &str,
    now: Instant,
) -> RegisterReply {
    let source: SocketAddr = PHONE.parse().expect("addr");
    let first = registrations
        .handle(
            &request(user, cseq, extra),
            source,
            Transport::Udp,
            now,
            UNIX,
        )
        .expect("register");
    assert_eq!(first.response.status, 401);
    let creds = respond(
        &challenges(&first.response),
        &ClientCredentials::new(user, password),
        "REGISTER",
        "sip:pbx.example",
        "cnonce",
        1,
    )
    .expect("answer");
    let extra = format!("{extra}Authorization: {creds}\r\n");
    registrations
        .handle(
            &request(user, cseq + 1, &extra),
            source,
            Transport::Udp,
            now,
            UNIX,
        )
        .expect("register")
}

const CONTACT: &str = "Contact: <sip:ana@10.0.0.7:5062>;expires=60\r\n";

#[test]
fn an_expired_binding_is_not_offered_for_calls() {
    let (registrations, handoff) = setup();
    let t0 = Instant::now();
    let reply = register(&registrations, ("ana", "wonderland", 1), CONTACT, t0);
    assert_eq!(reply.response.status, 200, "{:?}", reply.outcome);
    let contact = registrations
        .contact("ana", t0 + Duration::from_secs(59))
        .expect("live binding");
    assert_eq!(contact.uri, "sip:ana@10.0.0.7:5062");
    assert_eq!(contact.source, PHONE.parse().expect("addr"));
    assert_eq!(contact.transport, Transport::Udp);
    let ana = RepId("ana".into());
    let status = handoff.directory().status(&ana, t0).expect("rep");
    assert_eq!(
        (status.presence, status.sip_registered),
        (Presence::Available, true)
    );
    // Lapsed: never offered, even before the purge runs.
    let later = t0 + Duration::from_secs(61);
    assert_eq!(registrations.contact("ana", later), None);
    assert_eq!(
        registrations.poll_timeout(),
        Some(t0 + Duration::from_secs(60))
    );
    registrations.expire(later);
    assert_eq!(registrations.poll_timeout(), None);
    assert_eq!(registrations.contact_count(later), 0);
    let status = handoff.directory().status(&ana, later).expect("rep");
    assert_eq!(
        (status.presence, status.sip_registered),
        (Presence::Offline, false)
    );
}

#[test]
fn unregistering_takes_the_rep_s_phone_away() {
    let (registrations, handoff) = setup();
    let t0 = Instant::now();
    register(&registrations, ("ana", "wonderland", 1), CONTACT, t0);
    assert_eq!(registrations.contact_count(t0), 1);
    let reply = register(
        &registrations,
        ("ana", "wonderland", 3),
        "Contact: *\r\nExpires: 0\r\n",
        t0,
    );
    assert_eq!(reply.response.status, 200);
    assert!(reply.response.headers.get("Contact").is_none());
    assert_eq!(registrations.contact("ana", t0), None);
    let status = handoff
        .directory()
        .status(&RepId("ana".into()), t0)
        .expect("rep");
    assert_eq!(status.presence, Presence::Offline);
}

#[test]
fn wrong_passwords_and_reps_without_one_are_refused_and_counted_per_source() {
    let (registrations, _) = setup();
    let t0 = Instant::now();
    let ip: IpAddr = "192.0.2.20".parse().expect("ip");
    for attempt in 1..=MAX_FAILURES {
        assert!(!registrations.is_limited(ip, t0), "attempt {attempt}");
        let user = if attempt == 1 { "bo" } else { "ana" };
        let reply = register(&registrations, (user, "guess", 2 * attempt), CONTACT, t0);
        assert_eq!(reply.response.status, 403, "{:?}", reply.outcome);
    }
    assert!(registrations.is_limited(ip, t0));
    assert!(!registrations.is_limited("192.0.2.21".parse().expect("ip"), t0));
    assert!(!registrations.is_limited(ip, t0 + FAILURE_WINDOW));
    assert_eq!(registrations.contact("ana", t0), None);
}

#[test]
fn the_failure_limiter_forgets_the_oldest_source_when_full() {
    let mut limiter = FailureLimiter::default();
    let t0 = Instant::now();
    let first: IpAddr = "10.0.0.1".parse().expect("ip");
    for _ in 0..MAX_FAILURES {
        limiter.failed(first, t0);
    }
    assert!(limiter.is_limited(first, t0));
    for n in 0..MAX_TRACKED_SOURCES as u32 {
        let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0B00_0000 + n));
        limiter.failed(ip, t0 + Duration::from_secs(1));
    }
    assert_eq!(limiter.tracked(), MAX_TRACKED_SOURCES);
    assert!(!limiter.is_limited(first, t0 + Duration::from_secs(1)));
}

#[test]
fn only_sources_in_register_allow_may_register() {
    let (registrations, _) = setup();
    assert!(registrations.may_register("127.0.0.1".parse().expect("ip")));
    assert!(registrations.may_register("::1".parse().expect("ip")));
    assert!(!registrations.may_register("10.0.0.1".parse().expect("ip")));
}
