//! Transport failures reported by the shell (RFC 3261 §17.1.1.2,
//! §17.1.2.2, §17.2.4): the transaction fails at once instead of waiting
//! out Timer B or F.

use super::*;

fn owner_of(sent: &[(Duration, Transmit)]) -> Vec<Option<TxIdEither>> {
    sent.iter().map(|(_, t)| t.owner).collect()
}

#[test]
fn every_transmit_names_its_transaction_and_stateless_ones_none() {
    let mut sim = Sim::new();
    let id = sim
        .layer
        .send_request(
            Duration::ZERO,
            our_request("BYE", "z9hG4bKbye1"),
            addr("192.0.2.20:5060"),
            Transport::Tcp,
        )
        .expect("send");
    sim.layer
        .send_stateless(addr("192.0.2.20:5060"), Transport::Tcp, b"ACK".to_vec());
    let incoming = sim.request(
        Duration::ZERO,
        carrier_request("OPTIONS", "OPTIONS", &carrier_via("z9hG4bKo1"), ""),
        Transport::Udp,
    );
    let (server, request) = new_server_tx(incoming);
    sim.respond(
        Duration::ZERO,
        server,
        request.response(200, "OK", Some("t")),
    );
    assert_eq!(
        owner_of(&sim.take_sent()),
        vec![
            Some(TxIdEither::Client(id)),
            None,
            Some(TxIdEither::Server(server)),
        ]
    );
}

#[test]
fn a_client_transaction_whose_connect_failed_fails_at_once_and_leaves_nothing() {
    for method in ["BYE", "INVITE"] {
        let mut sim = Sim::new();
        let id = sim
            .layer
            .send_request(
                Duration::ZERO,
                our_request(method, "z9hG4bKtcp1"),
                addr("192.0.2.20:5060"),
                Transport::Tcp,
            )
            .expect("send");
        sim.collect(Duration::ZERO);
        sim.take_sent();
        sim.layer.on_transport_error(TxIdEither::Client(id));
        sim.collect(secs(0.1));
        assert_eq!(
            sim.take_events(),
            vec![
                (
                    secs(0.1),
                    TxEvent::TransportError {
                        id: TxIdEither::Client(id)
                    }
                ),
                (secs(0.1), TxEvent::Terminated(TxIdEither::Client(id))),
            ],
            "{method}"
        );
        // No Timer B/F left to fire a second failure later.
        sim.assert_drains();
        assert!(sim.take_events().is_empty(), "{method}");
    }
}

#[test]
fn a_transport_error_after_the_final_response_is_not_reported_again() {
    let mut sim = Sim::new();
    let id = sim
        .layer
        .send_request(
            Duration::ZERO,
            our_request("BYE", "z9hG4bKbye2"),
            addr("192.0.2.20:5060"),
            Transport::Udp,
        )
        .expect("send");
    sim.collect(Duration::ZERO);
    sim.response(secs(0.1), rep_response(200, "OK", "z9hG4bKbye2", "BYE"));
    sim.take_events();
    // Still alive in Completed (Timer K over UDP).
    assert_eq!(sim.layer.len(), 1);
    sim.layer.on_transport_error(TxIdEither::Client(id));
    sim.collect(secs(0.2));
    assert_eq!(
        sim.take_events(),
        vec![(secs(0.2), TxEvent::Terminated(TxIdEither::Client(id)))]
    );
    sim.assert_drains();
}

#[test]
fn a_server_transaction_whose_response_was_lost_is_reported_and_ends() {
    let mut sim = Sim::new();
    let incoming = sim.request(
        Duration::ZERO,
        carrier_invite("z9hG4bKinvT"),
        Transport::Tcp,
    );
    let (server, request) = new_server_tx(incoming);
    sim.respond(
        secs(0.01),
        server,
        request.response(486, "Busy Here", Some("t")),
    );
    sim.layer.on_transport_error(TxIdEither::Server(server));
    sim.collect(secs(0.02));
    assert_eq!(
        sim.take_events(),
        vec![
            (
                secs(0.02),
                TxEvent::TransportError {
                    id: TxIdEither::Server(server)
                }
            ),
            (secs(0.02), TxEvent::Terminated(TxIdEither::Server(server))),
        ]
    );
    sim.assert_drains();
    // A report for a transaction that has gone is ignored.
    sim.layer.on_transport_error(TxIdEither::Server(server));
    sim.collect(secs(0.03));
    assert!(sim.take_events().is_empty());
}
