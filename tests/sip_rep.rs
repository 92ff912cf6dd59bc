//! Reps on SIP phones (issue 15, decision 0034), with real peers: the
//! `warmline` binary with SIP, a scripted Realtime model that escalates on
//! its first response, a SIPp caller, and as the rep either baresip
//! (auto-answering on a loopback port, `[[reps]] sip_uri`) or a SIPp UAS
//! that rings and never answers.
//!
//! The SIPp caller's media is a Rust RTP peer (`MediaPeer`) on the port
//! its SDP offers: SIPp 3.6 cannot record what it receives, and the peer
//! both sends the caller's voice and keeps what warmline sends back.

mod support {
    pub mod baresip;
    pub mod caller_media;
    pub mod fake_tool_model;
    pub mod server;
    pub mod sipp;
    pub mod twilio_sim;
    pub mod wav;
}

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use support::caller_media::{best_match, loudest, MediaPeer};
use support::{baresip, fake_tool_model, sipp};

const BIN: &str = env!("CARGO_BIN_EXE_warmline");
const TOKEN_VAR: &str = "WARMLINE_REP_SIPREP_TOKEN";

fn fixture(name: &str) -> Vec<i16> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/audio")
        .join(name);
    support::wav::frames_8k(&path)
        .iter()
        .flat_map(|f| f.samples().to_vec())
        .collect()
}

fn rep_config(dir: &Path, rep_uri: &str, extra: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).expect("tmp");
    let config = dir.join("reps.toml");
    std::fs::write(
        &config,
        format!(
            "[[reps]]\nid = \"ana\"\nname = \"Ana Ruiz\"\ntoken_env = \"{TOKEN_VAR}\"\n\
             sip_uri = \"{rep_uri}\"\n\n\
             [handoff]\nwrap_up_secs = 0\n{extra}"
        ),
    )
    .expect("config");
    config
}

fn start_server(config: &Path, model_url: &str) -> sipp::SipServer {
    start_server_with(config, model_url, &[])
}

fn start_server_with(
    config: &Path,
    model_url: &str,
    extra: &[(&str, Option<&str>)],
) -> sipp::SipServer {
    let mut env: Vec<(&str, Option<&str>)> = vec![
        ("WARMLINE_CONFIG", config.to_str()),
        (TOKEN_VAR, Some("rep-token-siprep")),
        ("WARMLINE_MODEL__OPENAI_URL", Some(model_url)),
        ("WARMLINE_MODEL__BACKEND", Some("openai")),
        ("OPENAI_API_KEY", Some("sk-test-fake")),
    ];
    env.extend_from_slice(extra);
    sipp::start(BIN, &env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baresip_rep_takes_a_sipp_callers_escalation_and_both_hear_each_other() {
    let (url, seen) = fake_tool_model::start_once_with_audio(
        "escalate_to_human",
        json!({"reason": "wants a person"}),
        Vec::new(),
    )
    .await;
    let rep_port = baresip::free_port_pair();
    let dir = std::env::temp_dir().join(format!("warmline-siprep-{}", std::process::id()));
    // baresip answers only its account's user.
    let config = rep_config(&dir, &format!("sip:rep@127.0.0.1:{rep_port}"), "");
    let server = start_server(&config, &url);

    let caller_voice = fixture("caller_03.wav");
    let mut rep_voice = Vec::new();
    for _ in 0..6 {
        rep_voice.extend(fixture("agent_01.wav"));
        rep_voice.extend(std::iter::repeat_n(0i16, 4_000));
    }
    // baresip answers, talks, and hangs up (BYE) when it quits.
    let rep_mic = rep_voice.clone();
    let rep = tokio::task::spawn_blocking(move || baresip::answer(rep_port, &rep_mic, 14));
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
    let trace = run.sip_trace();
    assert!(
        trace.iter().any(|(_, line, _)| line.starts_with("INVITE ")),
        "baresip was called: {trace:?}"
    );
    assert!(
        trace
            .iter()
            .any(|(_, line, cseq)| line.starts_with("BYE ") && cseq.ends_with("BYE")),
        "baresip hung up with BYE: {trace:?}"
    );
    let output = seen.lock().expect("lock").outputs[0].1.clone();
    assert!(output.contains("connected"), "{output}");
    // A SIP rep is briefed by default (`[handoff] sip_brief`).
    assert!(output.contains("speaking privately to the rep"), "{output}");

    // The rep heard the caller, and the caller the rep.
    let (at_rep, rate) = run.recording("-dec.wav");
    assert_eq!(rate, 8_000);
    let caller_says = loudest(&caller_voice, 2_000);
    let rep_heard = best_match(&at_rep, caller_says);
    let rep_says = loudest(&rep_voice, 2_000);
    let caller_heard = best_match(&heard_by_caller, rep_says);
    println!(
        "caller's voice in baresip's recording: correlation {rep_heard:.3}; \
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
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baresip_rep_that_registers_with_digest_is_called_at_its_binding() {
    const PASSWORD_VAR: &str = "WARMLINE_REP_SIPREP_SIP_PASSWORD";
    const PASSWORD: &str = "reg-digest-4f1c";
    let (url, seen) = fake_tool_model::start_once_with_audio(
        "escalate_to_human",
        json!({"reason": "wants a person"}),
        Vec::new(),
    )
    .await;
    let dir = std::env::temp_dir().join(format!("warmline-sipreg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    // No `sip_uri`: the only way to reach "rep" is its registration.
    let config = dir.join("registered.toml");
    std::fs::write(
        &config,
        format!(
            "[sip]\nregister_digest_algorithms = [\"MD5\"]\n\n\
             [[reps]]\nid = \"rep\"\nname = \"Rae Phone\"\ntoken_env = \"{TOKEN_VAR}\"\n\
             sip_password_env = \"{PASSWORD_VAR}\"\n\n\
             [handoff]\nwrap_up_secs = 0\n"
        ),
    )
    .expect("config");
    let server = start_server_with(&config, &url, &[(PASSWORD_VAR, Some(PASSWORD))]);
    let caller_voice = fixture("caller_03.wav");
    let rep_voice = fixture("agent_01.wav");
    let rep_port = baresip::free_port_pair();
    let registrar = server.sip.clone();
    let rep_mic = rep_voice.clone();
    let rep = tokio::task::spawn_blocking(move || {
        baresip::register_and_answer(rep_port, &registrar, "rep", PASSWORD, &rep_mic, 14)
    });
    // Registered: the gauge says so.
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let metrics = support::twilio_sim::http_get(&server.server.addr, "/metrics").body;
        let registered = support::twilio_sim::metric(&metrics, "warmline_sip_registered_contacts");
        if registered == Some(1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "baresip never registered: {registered:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    let _ = peer.finish();
    let logs = server.server.logs();
    let tail = logs[logs.len().saturating_sub(60)..].join("\n");
    assert!(
        outcome.passed(),
        "{}\n{tail}\n{}",
        outcome.errors,
        run.output
    );
    let trace = run.sip_trace();
    assert!(
        trace
            .iter()
            .any(|(_, line, _)| line.starts_with("REGISTER ")),
        "baresip registered: {trace:?}"
    );
    assert!(
        trace.iter().any(|(_, line, _)| line.starts_with("INVITE ")),
        "baresip was called at its binding: {trace:?}\n{tail}"
    );
    // The tool's answer reaches the model during the brief (a phone's
    // default), before the agent leaves the bridge.
    let output = seen.lock().expect("lock").outputs.first().cloned();
    let output = output.map(|(_, o)| o).unwrap_or_default();
    assert!(
        output.contains("connected"),
        "the tool said {output:?}\n{tail}"
    );
    let (at_rep, _) = run.recording("-dec.wav");
    let rep_heard = best_match(&at_rep, loudest(&caller_voice, 2_000));
    println!(
        "registered rep: the caller's voice in baresip's recording, correlation {rep_heard:.3}"
    );
    assert!(
        rep_heard > 0.8,
        "rep heard the caller: {rep_heard:.3}\n{tail}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `tests/sipp/<scenario>.xml` as a UAS listening on `port`.
fn sipp_uas(scenario: &str, port: u16, args: &[&str]) -> sipp::SippOutcome {
    let dir = sipp::workdir();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("fixtures/dtmf/dtmf_2833_star.pcap"),
        dir.join("dtmf_star.pcap"),
    )
    .expect("dtmf capture");
    let file = root.join("tests/sipp").join(format!("{scenario}.xml"));
    let media_port = support::server::free_port() & !1;
    let output = Command::new("sipp")
        .current_dir(&dir)
        .arg("-sf")
        .arg(&file)
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &media_port.to_string()])
        .args(["-nostdin", "-trace_err", "-timeout_error"])
        .args(args)
        .output()
        .expect("sipp runs");
    let mut errors = String::from_utf8_lossy(&output.stderr).into_owned();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().ends_with("_errors.log") {
            errors.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    sipp::SippOutcome {
        status: output.status.code().unwrap_or(-1),
        errors,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_sip_rep_gets_a_cancel_and_the_escalation_moves_on() {
    let (url, seen) = fake_tool_model::start_once_with_audio(
        "escalate_to_human",
        json!({"reason": "wants a person"}),
        Vec::new(),
    )
    .await;
    let rep_port = support::server::free_port();
    let dir = std::env::temp_dir().join(format!("warmline-siprep-cancel-{}", std::process::id()));
    let uri = format!("sip:ana@127.0.0.1:{rep_port}");
    let config = rep_config(&dir, &uri, "ring_timeout_secs = 5\n");
    let rep = tokio::task::spawn_blocking(move || {
        sipp_uas(
            "rep_rings_unanswered",
            rep_port,
            &["-m", "1", "-timeout", "30"],
        )
    });
    let server = start_server(&config, &url);
    let sip = server.sip.clone();
    let started = Instant::now();
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
    let rep = rep.await.expect("sipp rep ran");
    let caller = caller.await.expect("sipp caller ran");
    let logs = server.server.logs();
    let tail = logs[logs.len().saturating_sub(60)..].join("\n");
    let (_, output) = first.unwrap_or_else(|| panic!("no tool result\n{tail}"));
    // The rep's phone got the INVITE with the headers, rang, and got the
    // CANCEL when the ring timed out.
    assert!(rep.passed(), "SIPp rep: {}\n{tail}", rep.errors);
    // Nobody else: back to the AI, which is told why.
    assert!(output.contains("nobody_answered"), "{output}\n{tail}");
    assert!(
        answered_after >= Duration::from_secs(5),
        "the tool answered after {answered_after:?}, before the ring timeout"
    );
    assert!(caller.passed(), "SIPp caller: {}\n{tail}", caller.errors);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sip_rep_pressing_star_9_hands_the_caller_back_to_the_ai_and_gets_a_bye() {
    let (url, seen) = fake_tool_model::start_once_with_audio(
        "escalate_to_human",
        json!({"reason": "wants a person"}),
        Vec::new(),
    )
    .await;
    let rep_port = support::server::free_port();
    let dir = std::env::temp_dir().join(format!("warmline-siprep-back-{}", std::process::id()));
    let uri = format!("sip:ana@127.0.0.1:{rep_port}");
    let config = rep_config(&dir, &uri, "");
    let rep = tokio::task::spawn_blocking(move || {
        let outcome = sipp_uas(
            "rep_answers_then_hands_back",
            rep_port,
            &["-m", "1", "-timeout", "30"],
        );
        (outcome, Instant::now())
    });
    let server = start_server(&config, &url);
    let sip = server.sip.clone();
    let caller = tokio::task::spawn_blocking(move || {
        let outcome = sipp::run(
            "call_rtp",
            &sip,
            &["-m", "1", "-d", "14000", "-timeout", "30"],
        );
        (outcome, Instant::now())
    });
    let (rep, rep_done) = rep.await.expect("sipp rep ran");
    let (caller, caller_done) = caller.await.expect("sipp caller ran");
    let logs = server.server.logs();
    let tail = logs[logs.len().saturating_sub(60)..].join("\n");
    // The rep pressed *9 while bridged and got warmline's BYE.
    assert!(rep.passed(), "SIPp rep: {}\n{tail}", rep.errors);
    assert!(caller.passed(), "SIPp caller: {}\n{tail}", caller.errors);
    // The rep's BYE came from the keys, not from the caller hanging up.
    assert!(
        rep_done + Duration::from_secs(4) < caller_done,
        "the rep was hung up {:?} before the caller hung up",
        caller_done.saturating_duration_since(rep_done)
    );
    let seen = seen.lock().expect("lock");
    assert!(
        seen.outputs[0].1.contains("connected"),
        "{:?}",
        seen.outputs
    );
    let handed_back = seen
        .items
        .iter()
        .any(|item| item.to_string().contains("handed the call back"));
    assert!(handed_back, "the agent was told: {:?}\n{tail}", seen.items);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_hanging_up_hangs_up_the_sip_rep_with_a_bye() {
    let (url, seen) = fake_tool_model::start_once_with_audio(
        "escalate_to_human",
        json!({"reason": "wants a person"}),
        Vec::new(),
    )
    .await;
    let rep_port = support::server::free_port();
    let dir = std::env::temp_dir().join(format!("warmline-siprep-bye-{}", std::process::id()));
    let uri = format!("sip:ana@127.0.0.1:{rep_port}");
    let config = rep_config(&dir, &uri, "");
    let rep = tokio::task::spawn_blocking(move || {
        let outcome = sipp_uas(
            "rep_answers_waits_for_bye",
            rep_port,
            &["-m", "1", "-timeout", "30"],
        );
        (outcome, Instant::now())
    });
    let server = start_server(&config, &url);
    let sip = server.sip.clone();
    // The caller talks 6 s and hangs up with BYE.
    let caller = tokio::task::spawn_blocking(move || {
        let outcome = sipp::run(
            "call_rtp",
            &sip,
            &["-m", "1", "-d", "6000", "-timeout", "30"],
        );
        (outcome, Instant::now())
    });
    let (caller, caller_done) = caller.await.expect("sipp caller ran");
    let (rep, rep_done) = rep.await.expect("sipp rep ran");
    let logs = server.server.logs();
    let tail = logs[logs.len().saturating_sub(60)..].join("\n");
    assert!(caller.passed(), "SIPp caller: {}\n{tail}", caller.errors);
    assert!(
        seen.lock().expect("lock").outputs[0]
            .1
            .contains("connected"),
        "the rep was bridged"
    );
    // The rep's phone got its BYE once the caller had hung up.
    assert!(rep.passed(), "SIPp rep: {}\n{tail}", rep.errors);
    let after = rep_done.saturating_duration_since(caller_done);
    assert!(
        rep_done + Duration::from_millis(500) >= caller_done && after < Duration::from_secs(3),
        "the rep's BYE came {after:?} after the caller's"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_behind_an_outbound_trunk_is_called_through_it_with_digest() {
    let (url, seen) = fake_tool_model::start_once_with_audio(
        "escalate_to_human",
        json!({"reason": "wants a person"}),
        Vec::new(),
    )
    .await;
    let pbx_port = support::server::free_port();
    let dir = std::env::temp_dir().join(format!("warmline-siprep-pbx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let config = dir.join("reps.toml");
    std::fs::write(
        &config,
        format!(
            "[[sip.outbound]]\nname = \"pbx\"\naddress = \"127.0.0.1:{pbx_port}\"\n\
             username = \"warmline\"\npassword_env = \"SIPREP_PBX_PASSWORD\"\n\n\
             [[reps]]\nid = \"ana\"\nname = \"Ana Ruiz\"\ntoken_env = \"{TOKEN_VAR}\"\n\
             sip_uri = \"sip:2001@pbx.example.com\"\noutbound = \"pbx\"\n\n\
             [handoff]\nwrap_up_secs = 0\n"
        ),
    )
    .expect("config");
    let pbx = tokio::task::spawn_blocking(move || {
        sipp_uas(
            "rep_behind_pbx_challenges",
            pbx_port,
            &["-m", "1", "-timeout", "20"],
        )
    });
    let server = sipp::start(
        BIN,
        &[
            ("WARMLINE_CONFIG", config.to_str()),
            (TOKEN_VAR, Some("rep-token-siprep")),
            ("SIPREP_PBX_PASSWORD", Some("pbx-secret")),
            ("WARMLINE_MODEL__OPENAI_URL", Some(&url)),
            ("WARMLINE_MODEL__BACKEND", Some("openai")),
            ("OPENAI_API_KEY", Some("sk-test-fake")),
        ],
    );
    let sip = server.sip.clone();
    let caller = tokio::task::spawn_blocking(move || {
        sipp::run(
            "call_rtp",
            &sip,
            &["-m", "1", "-d", "4000", "-timeout", "30"],
        )
    });
    let pbx = pbx.await.expect("sipp pbx ran");
    let caller = caller.await.expect("sipp caller ran");
    let logs = server.server.logs();
    let tail = logs[logs.len().saturating_sub(60)..].join("\n");
    // The PBX took our digest answer for the rep's URI, and its 486 was
    // a decline: nobody else, back to the AI.
    assert!(pbx.passed(), "SIPp PBX: {}\n{tail}", pbx.errors);
    assert!(caller.passed(), "SIPp caller: {}\n{tail}", caller.errors);
    let output = seen.lock().expect("lock").outputs[0].1.clone();
    assert!(output.contains("nobody_answered"), "{output}\n{tail}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sip_rep_whose_phone_sends_no_audio_is_hung_up_and_the_caller_goes_back_to_the_ai() {
    let (url, seen) = fake_tool_model::start_once_with_audio(
        "escalate_to_human",
        json!({"reason": "wants a person"}),
        Vec::new(),
    )
    .await;
    let rep_port = support::server::free_port();
    let dir = std::env::temp_dir().join(format!("warmline-siprep-mute-{}", std::process::id()));
    let uri = format!("sip:ana@127.0.0.1:{rep_port}");
    let config = rep_config(&dir, &uri, "");
    // This phone answers and never sends RTP.
    let rep = tokio::task::spawn_blocking(move || {
        sipp_uas(
            "rep_answers_waits_for_bye",
            rep_port,
            &["-m", "1", "-timeout", "30"],
        )
    });
    let timeout = [("WARMLINE_SIP__MEDIA_TIMEOUT_SECS", Some("4"))];
    let server = start_server_with(&config, &url, &timeout);
    let sip = server.sip.clone();
    let caller = tokio::task::spawn_blocking(move || {
        sipp::run(
            "call_rtp",
            &sip,
            &["-m", "1", "-d", "12000", "-timeout", "30"],
        )
    });
    let rep = rep.await.expect("sipp rep ran");
    let caller = caller.await.expect("sipp caller ran");
    let logs = server.server.logs();
    let tail = logs[logs.len().saturating_sub(60)..].join("\n");
    // The phone got a BYE long before the caller hung up, and the caller
    // stayed on with the AI, which was told why.
    assert!(rep.passed(), "SIPp rep: {}\n{tail}", rep.errors);
    assert!(caller.passed(), "SIPp caller: {}\n{tail}", caller.errors);
    let seen = seen.lock().expect("lock");
    assert!(
        seen.outputs[0].1.contains("connected"),
        "{:?}",
        seen.outputs
    );
    let told = seen
        .items
        .iter()
        .any(|item| item.to_string().contains("lost its audio"));
    assert!(told, "the agent was told: {:?}\n{tail}", seen.items);
    let _ = std::fs::remove_dir_all(&dir);
}
