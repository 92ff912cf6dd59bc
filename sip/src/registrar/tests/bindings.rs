//! Bindings: expiry, removal, ordering, caps and q-values.

use std::time::{Duration, Instant};

use super::*;

#[test]
fn an_expired_binding_is_not_returned() {
    let mut reg = registrar();
    let t = Instant::now();
    let reply = send(
        &mut reg,
        "alice",
        "c1",
        1,
        "Contact: <sip:alice@192.0.2.20>;expires=120\r\n",
        t,
    );
    assert_eq!(reply.response.status, 200);
    assert_eq!(reg.poll_timeout(), Some(t + Duration::from_secs(120)));
    let aor = "sip:alice@pbx.example";
    assert_eq!(reg.contacts(aor, t + Duration::from_secs(119)).len(), 1);
    // Lapsed, and expire() has not run yet: still never returned.
    assert!(reg.contacts(aor, t + Duration::from_secs(120)).is_empty());
    let gone = reg.expire(t + Duration::from_secs(120));
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].0, aor);
    assert_eq!(reg.aor_count(), 0);
    assert_eq!(reg.poll_timeout(), None);
}

#[test]
fn the_200_gives_each_contact_its_remaining_expiry() {
    let mut reg = registrar();
    let t = Instant::now();
    let _ = send(
        &mut reg,
        "alice",
        "c1",
        1,
        "Contact: <sip:alice@192.0.2.20>\r\nExpires: 300\r\n",
        t,
    );
    let reply = send(
        &mut reg,
        "alice",
        "c2",
        1,
        "Contact: <sip:alice@198.51.100.9>;q=0.5\r\n",
        t + Duration::from_secs(100),
    );
    assert_eq!(
        reply.response.headers.get_all("Contact"),
        vec![
            "<sip:alice@192.0.2.20>;expires=200",
            "<sip:alice@198.51.100.9>;expires=3600;q=0.5"
        ]
    );
}

#[test]
fn expires_zero_removes_one_contact_and_star_removes_all() {
    let mut reg = registrar();
    let t = Instant::now();
    let aor = "sip:alice@pbx.example";
    let _ = send(
        &mut reg,
        "alice",
        "c1",
        1,
        "Contact: <sip:alice@192.0.2.20>, <sip:alice@192.0.2.21>, <sip:alice@192.0.2.22>\r\n",
        t,
    );
    assert_eq!(reg.contacts(aor, t).len(), 3);
    let reply = send(
        &mut reg,
        "alice",
        "c1",
        2,
        "Contact: <sip:alice@192.0.2.21>;expires=0\r\n",
        t,
    );
    assert_eq!(
        reply.outcome,
        RegisterOutcome::Unregistered {
            aor: aor.into(),
            removed: 1
        }
    );
    assert_eq!(
        contact_uris(&reg, aor, t),
        vec!["sip:alice@192.0.2.20", "sip:alice@192.0.2.22"]
    );
    let reply = send(
        &mut reg,
        "alice",
        "c1",
        3,
        "Contact: *\r\nExpires: 0\r\n",
        t,
    );
    assert_eq!(reply.response.status, 200);
    assert_eq!(
        reply.outcome,
        RegisterOutcome::Unregistered {
            aor: aor.into(),
            removed: 2
        }
    );
    assert!(reply.response.headers.get("Contact").is_none());
    assert_eq!(reg.aor_count(), 0);
}

#[test]
fn a_star_without_expires_zero_is_a_bad_request() {
    let mut reg = registrar();
    let reply = send(&mut reg, "alice", "c1", 1, "Contact: *\r\n", Instant::now());
    assert_eq!(reply.response.status, 400);
    assert!(matches!(
        reply.outcome,
        RegisterOutcome::Refused(Refusal::Malformed(_))
    ));
}

#[test]
fn a_query_without_contact_lists_the_bindings_and_changes_nothing() {
    let mut reg = registrar();
    let t = Instant::now();
    let _ = send(
        &mut reg,
        "alice",
        "c1",
        1,
        "Contact: <sip:alice@192.0.2.20>\r\n",
        t,
    );
    let reply = send(&mut reg, "alice", "c9", 1, "", t + Duration::from_secs(10));
    assert_eq!(
        reply.outcome,
        RegisterOutcome::Queried {
            aor: "sip:alice@pbx.example".into()
        }
    );
    assert_eq!(
        reply.response.headers.get_all("Contact"),
        vec!["<sip:alice@192.0.2.20>;expires=3590"]
    );
}

#[test]
fn an_out_of_order_cseq_on_the_same_call_id_is_refused() {
    let mut reg = registrar();
    let t = Instant::now();
    let aor = "sip:alice@pbx.example";
    let _ = send(
        &mut reg,
        "alice",
        "c1",
        5,
        "Contact: <sip:alice@192.0.2.20>;expires=600\r\n",
        t,
    );
    // A delayed copy of an older REGISTER that would have shortened the binding.
    let reply = send(
        &mut reg,
        "alice",
        "c1",
        4,
        "Contact: <sip:alice@192.0.2.20>;expires=0\r\n",
        t,
    );
    assert_eq!(reply.response.status, 500);
    assert_eq!(
        reply.outcome,
        RegisterOutcome::Refused(Refusal::OutOfOrder { got: 4, stored: 5 })
    );
    assert_eq!(reg.contacts(aor, t).len(), 1);
    // The same CSeq again (a retransmission) is refused too; another Call-ID is not.
    let again = send(
        &mut reg,
        "alice",
        "c1",
        5,
        "Contact: <sip:alice@192.0.2.20>\r\n",
        t,
    );
    assert_eq!(again.response.status, 500);
    let other = send(
        &mut reg,
        "alice",
        "c2",
        1,
        "Contact: <sip:alice@192.0.2.20>;expires=0\r\n",
        t,
    );
    assert_eq!(other.response.status, 200);
    assert!(reg.contacts(aor, t).is_empty());
}

#[test]
fn a_too_brief_expiry_gets_423_with_min_expires_and_a_long_one_is_clamped() {
    let mut reg = registrar();
    let t = Instant::now();
    let reply = send(
        &mut reg,
        "alice",
        "c1",
        1,
        "Contact: <sip:alice@192.0.2.20>\r\nExpires: 30\r\n",
        t,
    );
    assert_eq!(reply.response.status, 423);
    assert_eq!(reply.response.headers.get("Min-Expires"), Some("60"));
    assert_eq!(reg.aor_count(), 0);
    let reply = send(
        &mut reg,
        "alice",
        "c1",
        2,
        "Contact: <sip:alice@192.0.2.20>;expires=99999999999\r\n",
        t,
    );
    assert_eq!(reply.response.status, 200);
    assert_eq!(
        reg.contacts("sip:alice@pbx.example", t)[0].remaining_secs(t),
        3600
    );
}

#[test]
fn contacts_beyond_the_per_aor_cap_are_refused_with_403_and_nothing_changes() {
    let mut config = RegistrarConfig::new("pbx.example");
    config.max_contacts_per_aor = 2;
    let mut reg = registrar_with(config);
    let t = Instant::now();
    let _ = send(
        &mut reg,
        "alice",
        "c1",
        1,
        "Contact: <sip:alice@192.0.2.20>\r\n",
        t,
    );
    let reply = send(
        &mut reg,
        "alice",
        "c2",
        1,
        "Contact: <sip:alice@192.0.2.21>, <sip:alice@192.0.2.22>\r\n",
        t,
    );
    assert_eq!(reply.response.status, 403);
    assert_eq!(
        reply.outcome,
        RegisterOutcome::Refused(Refusal::TooManyContacts { max: 2 })
    );
    assert_eq!(reg.contacts("sip:alice@pbx.example", t).len(), 1);
}

#[test]
fn a_new_aor_when_the_table_is_full_gets_503_with_retry_after() {
    let mut config = RegistrarConfig::new("pbx.example");
    config.max_aors = 1;
    let mut reg = registrar_with(config);
    let t = Instant::now();
    let _ = send(
        &mut reg,
        "alice",
        "c1",
        1,
        "Contact: <sip:alice@192.0.2.20>\r\n",
        t,
    );
    let reply = send(
        &mut reg,
        "bob",
        "c2",
        1,
        "Contact: <sip:bob@192.0.2.30>\r\n",
        t,
    );
    assert_eq!(reply.response.status, 503);
    assert_eq!(reply.response.headers.get("Retry-After"), Some("60"));
    assert_eq!(
        reply.outcome,
        RegisterOutcome::Refused(Refusal::TableFull { max: 1 })
    );
    // Once alice's binding lapses, bob fits, even before the shell called expire().
    let reply = send(
        &mut reg,
        "bob",
        "c2",
        2,
        "Contact: <sip:bob@192.0.2.30>\r\n",
        t + Duration::from_secs(3600),
    );
    assert_eq!(reply.response.status, 200);
}

#[test]
fn contacts_come_highest_q_first() {
    let mut reg = registrar();
    let t = Instant::now();
    let _ = send(
        &mut reg,
        "alice",
        "c1",
        1,
        "Contact: <sip:alice@192.0.2.20>;q=0.1, <sip:alice@192.0.2.21>;q=0.9, <sip:alice@192.0.2.22>\r\n",
        t,
    );
    assert_eq!(
        contact_uris(&reg, "sip:alice@pbx.example", t),
        vec![
            "sip:alice@192.0.2.22",
            "sip:alice@192.0.2.21",
            "sip:alice@192.0.2.20"
        ]
    );
}

#[test]
fn malformed_expires_and_q_are_bad_requests() {
    let mut reg = registrar();
    let t = Instant::now();
    for extra in [
        "Contact: <sip:alice@192.0.2.20>\r\nExpires: soon\r\n",
        "Contact: <sip:alice@192.0.2.20>;expires=-5\r\n",
        "Contact: <sip:alice@192.0.2.20>;q=1.5\r\n",
        "Contact: <sip:alice@192.0.2.20>;q=abc\r\n",
        "Contact: <sip:alice@192.0.2.20>, *\r\nExpires: 0\r\n",
    ] {
        let reply = send(&mut reg, "alice", "c1", 1, extra, t);
        assert_eq!(reply.response.status, 400, "{extra}");
    }
    assert_eq!(reg.aor_count(), 0);
}

#[test]
fn the_200_echoes_the_contacts_own_parameters() {
    let mut reg = registrar();
    let t = Instant::now();
    let reply = send(
        &mut reg,
        "alice",
        "c1",
        1,
        "Contact: <sip:alice@192.0.2.20;transport=tcp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1;expires=600\r\n",
        t,
    );
    assert_eq!(
        reply.response.headers.get_all("Contact"),
        vec!["<sip:alice@192.0.2.20;transport=tcp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1;expires=600"]
    );
}
