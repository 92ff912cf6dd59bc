//! The seam: which SIP address a rep is called at.

use super::*;

fn rep(id: &str, sip_uri: Option<&str>) -> RepConfig {
    RepConfig {
        id: id.into(),
        name: id.into(),
        skills: vec![],
        token_env: "T".into(),
        sip_uri: sip_uri.map(str::to_owned),
        outbound: None,
        sip_password_env: None,
    }
}

#[test]
fn a_static_sip_uri_is_called_at_its_own_address_and_reps_without_one_are_not() {
    let reps = [
        rep("ana", Some("sip:ana@127.0.0.1:5070")),
        rep("bo", None),
        rep("cy", Some("sip:cy@10.0.0.9")),
    ];
    let targets = StaticSipUris::from_config(&reps, &[], &|_| None);
    let now = Instant::now();
    let ana = targets.target(&RepId("ana".into()), now).expect("ana");
    assert_eq!(ana.peer, "127.0.0.1:5070".parse().expect("addr"));
    assert_eq!(ana.uri.to_string(), "sip:ana@127.0.0.1:5070");
    assert_eq!(ana.transport, Transport::Udp);
    let cy = targets.target(&RepId("cy".into()), now).expect("cy");
    assert_eq!(cy.peer.port(), 5060, "the default port");
    assert!(targets.target(&RepId("bo".into()), now).is_none());
}

#[test]
fn a_sips_rep_behind_a_tls_trunk_is_called_at_the_trunk_over_a_stream() {
    let mut ana = rep("ana", Some("sips:2001@pbx.example.com"));
    ana.outbound = Some("pbx".into());
    let trunk = OutboundConfig {
        name: "pbx".into(),
        address: "192.0.2.1:5061".parse().expect("addr"),
        transport: OutboundTransport::Tls,
        tls_server_name: Some("pbx.example.com".into()),
        tls_ca_file: None,
        username: None,
        password_env: None,
    };
    let targets = StaticSipUris::from_config(&[ana], &[trunk], &|_| None);
    let target = targets
        .target(&RepId("ana".into()), Instant::now())
        .expect("through the trunk");
    assert_eq!(target.uri.to_string(), "sips:2001@pbx.example.com");
    assert_eq!(target.peer, "192.0.2.1:5061".parse().expect("addr"));
    // A stream: the transport reaches this address over TLS only.
    assert_eq!(target.transport, Transport::Tcp);
    assert_eq!(target.credentials, None);
}

#[test]
fn a_rep_behind_an_outbound_trunk_is_called_at_the_trunk_with_its_credentials() {
    let mut ana = rep("ana", Some("sip:2001@pbx.example.com"));
    ana.outbound = Some("pbx".into());
    let trunk = OutboundConfig {
        name: "pbx".into(),
        address: "192.0.2.1:5080".parse().expect("addr"),
        transport: OutboundTransport::Tcp,
        tls_server_name: None,
        tls_ca_file: None,
        username: Some("warmline".into()),
        password_env: Some("PBX_PASSWORD".into()),
    };
    let env = |name: &str| (name == "PBX_PASSWORD").then(|| "s3cret".to_owned());
    let targets = StaticSipUris::from_config(&[ana], &[trunk], &env);
    let target = targets
        .target(&RepId("ana".into()), Instant::now())
        .expect("through the trunk");
    assert_eq!(target.uri.to_string(), "sip:2001@pbx.example.com");
    assert_eq!(target.peer, "192.0.2.1:5080".parse().expect("addr"));
    assert_eq!(target.transport, Transport::Tcp);
    assert_eq!(
        target.credentials,
        Some(ClientCredentials::new("warmline", "s3cret"))
    );
}

#[test]
fn a_registered_contact_wins_over_the_static_uri() {
    let reps = [rep("ana", Some("sip:ana@127.0.0.1:5070"))];
    let registered = SipTarget {
        uri: Uri::parse("sip:ana@192.0.2.7:40000").expect("uri"),
        peer: "192.0.2.7:40000".parse().expect("addr"),
        transport: Transport::Tcp,
        credentials: None,
    };
    let from_registrar = registered.clone();
    let targets = FirstOf(vec![
        Arc::new(TargetsFrom(move |rep: &RepId, _now| {
            (rep.0 == "ana").then(|| from_registrar.clone())
        })),
        Arc::new(StaticSipUris::from_config(&reps, &[], &|_| None)),
    ]);
    let ana = targets.target(&RepId("ana".into()), Instant::now());
    assert_eq!(ana, Some(registered));
}

#[test]
fn the_hand_back_keys_match_only_the_whole_sequence_in_order() {
    let mut keys = edge::KeyMatch::new("*9");
    assert!(!keys.press('9'));
    assert!(!keys.press('*'));
    assert!(keys.press('9'));
    assert!(!keys.press('9'), "matched once, then starts again");
    assert!(!keys.press('1'));
    assert!(!keys.press('*'));
    assert!(keys.press('9'));
}
