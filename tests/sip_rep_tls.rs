//! Outbound SIP over TLS (decision 0039) with real peers: the `warmline`
//! binary rings a rep through a `[[sip.outbound]]` entry with
//! `transport = "tls"` whose address is baresip (Debian's, OpenSSL)
//! answering SIP over TLS with a certificate from a private CA made in
//! the test (rcgen); warmline trusts that CA through `tls_ca_file` and
//! checks the certificate's name against `tls_server_name`. The caller is
//! SIPp with a Rust RTP peer, and a scripted Realtime model escalates on
//! its first response, as in `tests/sip_rep.rs`.

mod support {
    pub mod baresip;
    pub mod caller_media;
    pub mod fake_tool_model;
    pub mod server;
    pub mod sipp;
    pub mod twilio_sim;
    pub mod wav;
}

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use serde_json::json;
use support::caller_media::{best_match, loudest, MediaPeer};
use support::{baresip, fake_tool_model, sipp};

const BIN: &str = env!("CARGO_BIN_EXE_warmline");
const TOKEN_VAR: &str = "WARMLINE_REP_TLSREP_TOKEN";
/// The name the rep's phone's certificate must carry.
const PHONE: &str = "phone.warmline.test";

fn fixture(name: &str) -> Vec<i16> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/audio")
        .join(name);
    support::wav::frames_8k(&path)
        .iter()
        .flat_map(|f| f.samples().to_vec())
        .collect()
}

/// A private CA and the certificates it signed, as PEM files in `dir`:
/// `ca.pem`; warmline's server certificate for 127.0.0.1
/// (`warmline.crt`, `warmline.key`); the phone's for [`PHONE`]
/// (`phone.pem`, certificate and key in one file, as baresip wants) and
/// one for another name (`other.pem`).
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let dir =
            std::env::temp_dir().join(format!("warmline-tlsrep-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("ca");
        let leaf = |names: Vec<String>| {
            let key = KeyPair::generate().expect("key");
            let cert = CertificateParams::new(names)
                .expect("params")
                .signed_by(&key, &ca)
                .expect("leaf");
            (cert.pem(), key.serialize_pem())
        };
        let (cert, key) = leaf(vec!["127.0.0.1".into(), "localhost".into()]);
        std::fs::write(dir.join("warmline.crt"), cert).expect("cert");
        std::fs::write(dir.join("warmline.key"), key).expect("key");
        let (cert, key) = leaf(vec![PHONE.into()]);
        std::fs::write(dir.join("phone.pem"), format!("{cert}{key}")).expect("phone");
        let (cert, key) = leaf(vec!["other.warmline.test".into()]);
        std::fs::write(dir.join("other.pem"), format!("{cert}{key}")).expect("other");
        Pki { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// baresip's config lines: answer TLS with `identity`, trust the CA
    /// when it connects to warmline (its BYE goes to our Contact).
    fn phone_config(&self, identity: &str) -> String {
        format!(
            "sip_certificate\t\t{}\nsip_cafile\t\t{}\n",
            self.path(identity),
            self.path("ca.pem")
        )
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// warmline's config: a TLS listener, the rep's phone as a TLS trunk at
/// `phone` (baresip's TLS port), and the rep rung through it.
fn config(pki: &Pki, phone: &str, extra: &str) -> PathBuf {
    let tls_listen = format!("127.0.0.1:{}", support::server::free_port());
    let file = pki.dir.join("warmline.toml");
    std::fs::write(
        &file,
        format!(
            "[sip]\ntls_listen = \"{tls_listen}\"\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n\n\
             [[sip.outbound]]\nname = \"ana-phone\"\naddress = \"{phone}\"\ntransport = \"tls\"\n\
             tls_server_name = \"{PHONE}\"\ntls_ca_file = \"ca.pem\"\n\n\
             [[reps]]\nid = \"ana\"\nname = \"Ana Ruiz\"\ntoken_env = \"{TOKEN_VAR}\"\n\
             sip_uri = \"sip:rep@{PHONE}\"\noutbound = \"ana-phone\"\n\n\
             [handoff]\nwrap_up_secs = 0\n{extra}",
            pki.path("warmline.crt"),
            pki.path("warmline.key"),
        ),
    )
    .expect("config");
    file
}

fn start_server(config: &Path, model_url: &str) -> sipp::SipServer {
    sipp::start(
        BIN,
        &[
            ("WARMLINE_CONFIG", config.to_str()),
            (TOKEN_VAR, Some("rep-token-tlsrep")),
            ("WARMLINE_MODEL__OPENAI_URL", Some(model_url)),
            ("WARMLINE_MODEL__BACKEND", Some("openai")),
            ("OPENAI_API_KEY", Some("sk-test-fake")),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_rung_through_a_tls_trunk_takes_the_escalation_and_both_hear_each_other() {
    let (url, seen) = fake_tool_model::start_once_with_audio(
        "escalate_to_human",
        json!({"reason": "wants a person"}),
        Vec::new(),
    )
    .await;
    let pki = Pki::new("bridge");
    let rep_port = baresip::free_port_pair();
    // baresip answers SIP over TLS one port above its UDP/TCP port.
    let phone = format!("127.0.0.1:{}", rep_port + 1);
    let config = config(&pki, &phone, "");
    let server = start_server(&config, &url);

    let caller_voice = fixture("caller_03.wav");
    let mut rep_voice = Vec::new();
    for _ in 0..6 {
        rep_voice.extend(fixture("agent_01.wav"));
        rep_voice.extend(std::iter::repeat_n(0i16, 4_000));
    }
    // baresip answers, talks, and hangs up (BYE) when it quits.
    let (rep_mic, phone_config) = (rep_voice.clone(), pki.phone_config("phone.pem"));
    let rep = tokio::task::spawn_blocking(move || {
        baresip::answer_with(rep_port, &rep_mic, 14, &phone_config)
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let peer = MediaPeer::start(caller_voice.clone());
    let (sip, peer_port) = (server.sip.clone(), peer.port.to_string());
    let caller = tokio::task::spawn_blocking(move || {
        let args = [
            "-m",
            "1",
            "-timeout",
            "40",
            "-key",
            "media_peer_port",
            &peer_port,
        ];
        sipp::run("wait_for_bye_media_peer", &sip, &args)
    });
    let outcome = caller.await.expect("sipp ran");
    let run = rep.await.expect("baresip ran");
    let heard_by_caller = peer.finish();
    let logs = server.server.logs();
    let tail = logs[logs.len().saturating_sub(60)..].join("\n");
    // The caller's leg ended with warmline's BYE, after the rep's BYE.
    assert!(
        outcome.passed(),
        "{}\n{tail}\n{}",
        outcome.errors,
        run.output
    );

    // The signalling went over TLS, never in the clear: the INVITE came in
    // on baresip's TLS port, saying TLS in Via and Contact.
    let over_tls = run.sip_trace_over("TLS");
    let invite = over_tls
        .iter()
        .find(|m| m.start.starts_with("INVITE "))
        .unwrap_or_else(|| panic!("no INVITE over TLS:\n{}", run.output));
    assert!(
        invite.direction.ends_with(&phone),
        "the INVITE reached the TLS port: {}",
        invite.direction
    );
    let via = invite.header("Via").unwrap_or_default();
    assert!(via.starts_with("SIP/2.0/TLS "), "Via: {via}");
    let contact = invite.header("Contact").unwrap_or_default();
    assert!(contact.contains("transport=tls"), "Contact: {contact}");
    for plain in ["UDP", "TCP"] {
        assert!(
            !run.sip_trace_over(plain)
                .iter()
                .any(|m| m.start.starts_with("INVITE ")),
            "an INVITE over {plain}:\n{}",
            run.output
        );
    }
    // The in-dialog requests stayed on TLS too: our ACK, the phone's BYE.
    assert!(
        over_tls.iter().any(|m| m.start.starts_with("ACK ")),
        "no ACK over TLS:\n{}",
        run.output
    );
    assert!(
        over_tls
            .iter()
            .any(|m| m.start.starts_with("BYE ") && m.cseq.ends_with("BYE")),
        "baresip hung up over TLS:\n{}",
        run.output
    );
    for m in &over_tls {
        println!("over TLS: {} {}", m.direction, m.start);
    }
    let output = seen.lock().expect("lock").outputs[0].1.clone();
    assert!(output.contains("connected"), "{output}");

    // The rep heard the caller, and the caller the rep.
    let (at_rep, rate) = run.recording("-dec.wav");
    assert_eq!(rate, 8_000);
    let rep_heard = best_match(&at_rep, loudest(&caller_voice, 2_000));
    let caller_heard = best_match(&heard_by_caller, loudest(&rep_voice, 2_000));
    println!(
        "over TLS: caller's voice in baresip's recording, correlation {rep_heard:.3}; \
         baresip's voice at the caller: {caller_heard:.3}"
    );
    assert!(
        rep_heard > 0.8,
        "rep heard the caller: {rep_heard:.3}\n{tail}"
    );
    assert!(
        caller_heard > 0.8,
        "caller heard the rep: {caller_heard:.3}\n{tail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_phone_presenting_a_certificate_for_another_name_is_refused_and_the_caller_stays_with_the_ai(
) {
    let (url, seen) = fake_tool_model::start_once_with_audio(
        "escalate_to_human",
        json!({"reason": "wants a person"}),
        Vec::new(),
    )
    .await;
    let pki = Pki::new("name");
    let rep_port = baresip::free_port_pair();
    let phone = format!("127.0.0.1:{}", rep_port + 1);
    // A long ring timeout: a refusal must not wait for it.
    let config = config(&pki, &phone, "ring_timeout_secs = 20\n");
    let server = start_server(&config, &url);
    // The phone's certificate is from the trusted CA, for another name.
    let phone_config = pki.phone_config("other.pem");
    let rep = tokio::task::spawn_blocking(move || {
        baresip::answer_with(rep_port, &fixture("agent_01.wav"), 12, &phone_config)
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let sip = server.sip.clone();
    let started = Instant::now();
    // The caller talks for 9 s, then hangs up itself: it was not dropped.
    let caller = tokio::task::spawn_blocking(move || {
        sipp::run(
            "call_rtp",
            &sip,
            &["-m", "1", "-d", "9000", "-timeout", "30"],
        )
    });
    let seen_out = seen.clone();
    let first = tokio::task::spawn_blocking(move || {
        fake_tool_model::first_output(&seen_out, Duration::from_secs(25))
    })
    .await
    .expect("waited");
    let answered_after = started.elapsed();
    let caller = caller.await.expect("sipp caller ran");
    let run = rep.await.expect("baresip ran");
    let logs = server.server.logs();
    let tail = logs[logs.len().saturating_sub(60)..].join("\n");
    let (_, output) = first.unwrap_or_else(|| panic!("no tool result\n{tail}"));

    // Nobody else to ring: back to the AI, which is told, well before the
    // ring timeout (the refusal ends the ring at once).
    assert!(output.contains("nobody_answered"), "{output}\n{tail}");
    assert!(
        answered_after < Duration::from_secs(10),
        "the tool answered after {answered_after:?}"
    );
    assert!(caller.passed(), "SIPp caller: {}\n{tail}", caller.errors);
    // The phone never saw a SIP message: the handshake failed first.
    for transport in ["TLS", "TCP", "UDP"] {
        assert!(
            run.sip_trace_over(transport).is_empty(),
            "SIP reached the phone over {transport}:\n{}",
            run.output
        );
    }
    // The log says where, which trunk and why.
    let refused = logs
        .iter()
        .find(|l| l.contains("cannot open a SIP TLS connection"))
        .unwrap_or_else(|| panic!("no TLS refusal logged:\n{tail}"));
    assert!(
        refused.contains(&phone) && refused.contains("ana-phone") && refused.contains(PHONE),
        "{refused}"
    );
    assert!(
        refused.contains("NotValidForName") || refused.contains("not valid for name"),
        "the reason names the certificate's name: {refused}"
    );
    assert!(
        logs.iter()
            .any(|l| l.contains("SIP rep's phone not reached") && l.contains("transport error")),
        "the rep leg ended with its reason:\n{tail}"
    );
}

#[test]
fn check_names_the_tls_entry_whose_server_name_is_missing_or_whose_ca_file_is_unreadable() {
    let pki = Pki::new("check");
    let check = |text: &str| {
        let file = pki.dir.join("check.toml");
        std::fs::write(&file, text).expect("write");
        let out = std::process::Command::new(BIN)
            .args(["check", "--config"])
            .arg(&file)
            .env(TOKEN_VAR, "t")
            .output()
            .expect("run check");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let good = std::fs::read_to_string(config(&pki, "192.0.2.20:5061", "")).expect("config");
    let (ok, stderr) = check(&good);
    assert!(ok, "{stderr}");

    let unnamed = good.replace(&format!("tls_server_name = \"{PHONE}\"\n"), "");
    let (ok, stderr) = check(&unnamed);
    assert!(!ok);
    assert!(
        stderr.contains("sip.outbound \"ana-phone\"") && stderr.contains("tls_server_name"),
        "{stderr}"
    );

    let missing_ca = good.replace("tls_ca_file = \"ca.pem\"", "tls_ca_file = \"gone.pem\"");
    let (ok, stderr) = check(&missing_ca);
    assert!(!ok);
    assert!(
        stderr.contains("sip.outbound \"ana-phone\"") && stderr.contains("gone.pem"),
        "{stderr}"
    );
}
