//! `[sip]` checks: TLS keys, the registrar's, trunks' networks, and the
//! outbound TLS entries (decision 0039).

use super::*;

#[test]
fn tls_keys_go_together_and_srtp_modes_parse() {
    let mut config = SipConfig {
        tls_listen: Some(SocketAddr::from(([0, 0, 0, 0], 5061))),
        ..SipConfig::default()
    };
    let error = config.validate().expect_err("listen without cert");
    assert!(error.contains("tls_cert_file"), "{error}");
    config.tls_cert_file = Some("/etc/warmline/sip.crt".into());
    config.tls_key_file = Some("/etc/warmline/sip.key".into());
    assert!(config.validate().is_ok());
    let trunk: TrunkConfig =
        toml::from_str("name = \"a\"\nallow = [\"10.0.0.0/8\"]\nsrtp = \"required\"\n")
            .expect("trunk");
    assert_eq!(trunk.srtp, SrtpMode::Required);
    assert!(toml::from_str::<TrunkConfig>("name = \"a\"\nsrtp = \"maybe\"\n").is_err());
}

#[test]
fn registrar_keys_are_checked_and_default_to_loopback_and_no_refer() {
    let config = SipConfig::default();
    assert!(!config.allow_inbound_refer);
    assert!(config
        .register_allow
        .iter()
        .any(|n| n.contains("127.0.0.1".parse().expect("ip"))));
    assert!(!config
        .register_allow
        .iter()
        .any(|n| n.contains("10.0.0.1".parse().expect("ip"))));
    let v6 = SipConfig {
        listen: "[::1]:5060".parse().expect("addr"),
        ..SipConfig::default()
    };
    assert_eq!(v6.registrar_domain(), "[::1]");
    let bad_domain = SipConfig {
        domain: Some("bad domain".into()),
        ..SipConfig::default()
    };
    assert!(bad_domain
        .validate()
        .is_err_and(|e| e.contains("sip.domain")));
    let bad_algorithm = SipConfig {
        register_digest_algorithms: vec!["SHA-1".into()],
        ..SipConfig::default()
    };
    assert!(bad_algorithm.validate().is_err_and(|e| e.contains("SHA-1")));
}

#[test]
fn cidrs_match_their_networks_and_single_addresses_only_themselves() {
    let net = Cidr::parse("203.0.113.0/24").expect("cidr");
    assert!(net.contains("203.0.113.77".parse().expect("ip")));
    assert!(!net.contains("203.0.114.1".parse().expect("ip")));
    assert!(net.contains("::ffff:203.0.113.9".parse().expect("mapped")));
    let one = Cidr::parse("198.51.100.7").expect("ip");
    assert!(one.contains("198.51.100.7".parse().expect("ip")));
    assert!(!one.contains("198.51.100.8".parse().expect("ip")));
    let v6 = Cidr::parse("2001:db8::/32").expect("v6");
    assert!(v6.contains("2001:db8:1::5".parse().expect("ip")));
    assert!(!v6.contains("10.0.0.1".parse().expect("ip")));
    assert!(Cidr::parse("0.0.0.0/0")
        .expect("any")
        .contains("8.8.8.8".parse().expect("ip")));
    for bad in ["10.0.0.0/33", "nope", "10.0.0.1/x", "::/129"] {
        assert!(Cidr::parse(bad).is_err(), "{bad}");
    }
}

fn tls_entry(name: &str, address: &str) -> OutboundConfig {
    OutboundConfig {
        name: name.into(),
        address: address.parse().expect("addr"),
        transport: OutboundTransport::Tls,
        tls_server_name: Some("pbx.example.com".into()),
        tls_ca_file: None,
        username: None,
        password_env: None,
    }
}

fn with_tls_listener(outbound: Vec<OutboundConfig>) -> SipConfig {
    SipConfig {
        tls_listen: Some(SocketAddr::from(([0, 0, 0, 0], 5061))),
        tls_cert_file: Some("/etc/warmline/sip.crt".into()),
        tls_key_file: Some("/etc/warmline/sip.key".into()),
        outbound,
        ..SipConfig::default()
    }
}

#[test]
fn an_outbound_tls_entry_needs_a_verifiable_server_name_and_a_tls_listener() {
    assert!(with_tls_listener(vec![tls_entry("pbx", "192.0.2.20:5061")])
        .validate()
        .is_ok());

    let mut unnamed = tls_entry("pbx", "192.0.2.20:5061");
    unnamed.tls_server_name = None;
    let error = with_tls_listener(vec![unnamed])
        .validate()
        .expect_err("no server name");
    assert!(
        error.contains("\"pbx\"") && error.contains("tls_server_name"),
        "{error}"
    );

    let mut bad = tls_entry("pbx", "192.0.2.20:5061");
    bad.tls_server_name = Some("pbx example com".into());
    let error = with_tls_listener(vec![bad])
        .validate()
        .expect_err("not a name");
    assert!(error.contains("\"pbx example com\""), "{error}");

    // A certificate issued to an IP address is verifiable too.
    let mut by_ip = tls_entry("pbx", "192.0.2.20:5061");
    by_ip.tls_server_name = Some("192.0.2.20".into());
    assert!(with_tls_listener(vec![by_ip]).validate().is_ok());

    let no_listener = SipConfig {
        outbound: vec![tls_entry("pbx", "192.0.2.20:5061")],
        ..SipConfig::default()
    };
    let error = no_listener.validate().expect_err("no tls_listen");
    assert!(
        error.contains("\"pbx\"") && error.contains("tls_listen"),
        "{error}"
    );
}

#[test]
fn tls_keys_on_a_plain_outbound_entry_are_refused_rather_than_ignored() {
    for transport in [OutboundTransport::Udp, OutboundTransport::Tcp] {
        let mut plain = tls_entry("pbx", "192.0.2.20:5060");
        plain.transport = transport;
        let error = with_tls_listener(vec![plain.clone()])
            .validate()
            .expect_err("tls keys on a plain entry");
        assert!(error.contains("apply only to transport"), "{error}");
        plain.tls_server_name = None;
        assert!(with_tls_listener(vec![plain]).validate().is_ok());
    }
    let parsed: OutboundConfig = toml::from_str(
        "name = \"pbx\"\naddress = \"192.0.2.20:5061\"\ntransport = \"tls\"\n\
         tls_server_name = \"pbx.example.com\"\ntls_ca_file = \"pbx-ca.pem\"\n",
    )
    .expect("tls entry");
    assert!(parsed.is_tls());
    assert!(toml::from_str::<OutboundConfig>(
        "name = \"pbx\"\naddress = \"192.0.2.20:5061\"\ntransport = \"dtls\"\n"
    )
    .is_err());
}

#[test]
fn entries_sharing_an_address_over_tls_must_agree_on_how_to_reach_it() {
    let a = tls_entry("a", "192.0.2.20:5061");
    let mut same = tls_entry("b", "192.0.2.20:5061");
    same.username = Some("other-account".into());
    same.password_env = Some("B_PASSWORD".into());
    assert!(with_tls_listener(vec![a.clone(), same]).validate().is_ok());

    let mut other_name = tls_entry("b", "192.0.2.20:5061");
    other_name.tls_server_name = Some("other.example.com".into());
    let error = with_tls_listener(vec![a.clone(), other_name])
        .validate()
        .expect_err("two names for one address");
    assert!(
        error.contains("\"a\"") && error.contains("\"b\""),
        "{error}"
    );

    let mut plain_tcp = tls_entry("b", "192.0.2.20:5061");
    plain_tcp.transport = OutboundTransport::Tcp;
    plain_tcp.tls_server_name = None;
    assert!(with_tls_listener(vec![a.clone(), plain_tcp])
        .validate()
        .is_err());

    // UDP on the same port number is another socket altogether.
    let mut udp = tls_entry("b", "192.0.2.20:5061");
    udp.transport = OutboundTransport::Udp;
    udp.tls_server_name = None;
    assert!(with_tls_listener(vec![a, udp]).validate().is_ok());
}

const TOKEN: (&str, &str) = ("WARMLINE_REP_ANA_TOKEN", "t");

fn load_in(dir: &std::path::Path, text: &str) -> Result<crate::config::Config, String> {
    let env = vec![(TOKEN.0.to_owned(), TOKEN.1.to_owned())];
    crate::config::Config::from_toml_and_env(text, &dir.join("warmline.toml"), env)
        .map_err(|e| e.to_string())
}

fn tls_config(ca_file: &str, rep_uri: &str, transport: &str) -> String {
    let server_name = if transport == "tls" {
        "tls_server_name = \"pbx.example.com\"\n"
    } else {
        ""
    };
    let ca = if ca_file.is_empty() {
        String::new()
    } else {
        format!("tls_ca_file = \"{ca_file}\"\n")
    };
    format!(
        "[sip]\ntls_listen = \"127.0.0.1:5061\"\ntls_cert_file = \"c.pem\"\ntls_key_file = \"k.pem\"\n\n\
         [[sip.outbound]]\nname = \"pbx\"\naddress = \"192.0.2.20:5061\"\ntransport = \"{transport}\"\n\
         {server_name}{ca}\n\
         [[reps]]\nid = \"ana\"\nname = \"Ana\"\ntoken_env = \"{}\"\nsip_uri = \"{rep_uri}\"\n\
         outbound = \"pbx\"\n",
        TOKEN.0
    )
}

#[test]
fn check_reads_the_ca_file_relative_to_the_config_and_names_the_entry_when_unusable() {
    let dir = std::env::temp_dir().join(format!("warmline-outbound-ca-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).expect("rcgen");
    std::fs::write(dir.join("pbx-ca.pem"), ca.cert.pem()).expect("ca");
    std::fs::write(dir.join("key-only.pem"), ca.signing_key.serialize_pem()).expect("key");

    let config = load_in(
        &dir,
        &tls_config("pbx-ca.pem", "sip:2001@pbx.example.com", "tls"),
    )
    .expect("a readable CA file next to the config");
    assert_eq!(
        config.sip.outbound[0].tls_ca_file.as_deref(),
        Some(dir.join("pbx-ca.pem").as_path())
    );

    let error = load_in(
        &dir,
        &tls_config("missing.pem", "sip:2001@pbx.example.com", "tls"),
    )
    .expect_err("missing CA file");
    assert!(
        error.contains("sip.outbound \"pbx\"") && error.contains("missing.pem"),
        "{error}"
    );
    let error = load_in(
        &dir,
        &tls_config("key-only.pem", "sip:2001@pbx.example.com", "tls"),
    )
    .expect_err("no certificate in it");
    assert!(
        error.contains("sip.outbound \"pbx\"") && error.contains("no PEM CERTIFICATE"),
        "{error}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sips_rep_needs_a_tls_trunk_and_a_direct_uri_asking_for_a_stream_is_refused() {
    let dir = std::env::temp_dir();
    // sips: through a TLS trunk: fine.
    assert!(load_in(&dir, &tls_config("", "sips:2001@pbx.example.com", "tls")).is_ok());
    // sips: through a plain trunk would leave the trunk unencrypted.
    for transport in ["udp", "tcp"] {
        let error = load_in(
            &dir,
            &tls_config("", "sips:2001@pbx.example.com", transport),
        )
        .expect_err("sips over a plain trunk");
        assert!(
            error.contains("reps \"ana\"")
                && error.contains(&format!("transport = \"{transport}\"")),
            "{error}"
        );
    }
    // Called directly, a phone is called over UDP: a URI asking for TLS or
    // TCP is refused with the way to do it, never sent over UDP.
    for uri in [
        "sips:ana@192.0.2.10:5061",
        "sip:ana@192.0.2.10:5061;transport=tls",
        "sip:ana@192.0.2.10:5060;transport=tcp",
    ] {
        let text = format!(
            "[[reps]]\nid = \"ana\"\nname = \"Ana\"\ntoken_env = \"{}\"\nsip_uri = \"{uri}\"\n",
            TOKEN.0
        );
        let error = load_in(&dir, &text).expect_err(uri);
        assert!(
            error.contains("reps \"ana\"") && error.contains("[[sip.outbound]]"),
            "{uri}: {error}"
        );
    }
    let udp = format!(
        "[[reps]]\nid = \"ana\"\nname = \"Ana\"\ntoken_env = \"{}\"\n\
         sip_uri = \"sip:ana@192.0.2.10:5060;transport=udp\"\n",
        TOKEN.0
    );
    assert!(load_in(&dir, &udp).is_ok());
}
