//! Graceful drain of the real `warmline` binary: SIGTERM during SIPp calls
//! and during simulated Twilio calls. New calls (SIP INVITE, OPTIONS, the
//! Twilio webhook) get 503 at once and `/readyz` answers 503; calls in
//! progress go on through the grace period; then each hears the closing
//! prompt and is hung up (BYE, stream close), and the process exits 0.
//! A second signal ends the calls at once, with the BYEs still sent; with
//! a long grace the process exits as soon as the last call ends.

mod support {
    pub mod server;
    pub mod sip_ua;
    pub mod sipp;
    pub mod twilio_sim;
    pub mod wav;
}

use std::process::Child;
use std::time::{Duration, Instant};

use support::server::AUTH;
use support::sip_ua::{header, status, Client, ObservedCall};
use support::sipp;
use support::twilio_sim::{
    connect_stream, http_get, metric, post_form, signed_webhook, stream_of, webhook_params, SimCall,
};

const BINARY: &str = env!("CARGO_BIN_EXE_warmline");
/// The grace period the tests set.
const GRACE: Duration = Duration::from_secs(3);
/// The closing prompt's speech runs 150–2110 ms into the recording.
const PROMPT_SPEECH: Duration = Duration::from_millis(1_900);
/// RMS above this (of 32767, about −40 dBFS) is sound; warmline's silence
/// is digital zero.
const AUDIBLE_RMS: f64 = 300.0;

fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -s {name}");
}

/// The server's exit status within `wait`.
fn wait_exit(child: &mut Child, wait: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Waits for `/readyz` to answer 503, which must happen within 500 ms of
/// the signal sent at `signalled`.
fn wait_until_draining(addr: &str, signalled: Instant) {
    while http_get(addr, "/readyz").status != 503 {
        assert!(
            signalled.elapsed() < Duration::from_millis(500),
            "/readyz still ready 500 ms after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn gauge(addr: &str, series: &str) -> f64 {
    metric(&http_get(addr, "/metrics").body, series).unwrap_or(-1.0)
}

fn wait_for_gauge(addr: &str, series: &str, want: f64, wait: Duration) -> f64 {
    let deadline = Instant::now() + wait;
    loop {
        let value = gauge(addr, series);
        if value == want || Instant::now() > deadline {
            return value;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_during_20_sipp_calls_refuses_new_calls_keeps_the_rest_then_ends_each_with_a_prompt_and_bye(
) {
    let grace = GRACE.as_secs().to_string();
    let mut server = sipp::start(
        BINARY,
        &[("WARMLINE_SERVER__SHUTDOWN_GRACE_SECS", Some(&grace))],
    );
    let sip = server.sip.clone();
    let addr = server.server.addr.clone();
    // One call observed packet by packet, then SIPp's 20.
    let observed = ObservedCall::place(&sip, "drain-observed");
    let sipp_run = {
        let sip = sip.clone();
        std::thread::spawn(move || {
            sipp::run(
                "wait_for_bye",
                &sip,
                &["-m", "20", "-r", "20", "-l", "20", "-timeout", "40"],
            )
        })
    };
    let active = wait_for_gauge(
        &addr,
        "warmline_calls_active{ingress=\"sip\"}",
        21.0,
        Duration::from_secs(10),
    );
    assert_eq!(active, 21.0, "all calls up before SIGTERM");
    // The observed call's greeting is over.
    std::thread::sleep(Duration::from_millis(2_500).saturating_sub(observed.answered_at.elapsed()));

    let sigterm = Instant::now();
    signal(&server.server.child, "TERM");

    // Readiness fails at once (the signal is handled asynchronously: the
    // first milliseconds after `kill` may still see the server ready), and
    // from then on new calls and OPTIONS get 503.
    wait_until_draining(&addr, sigterm);
    let probe = Client::new(&sip);
    probe.send(&probe.options("drain-options"));
    let options = probe
        .final_response(Duration::from_secs(1))
        .expect("OPTIONS answered");
    assert_eq!(status(&options), Some(503), "{options}");
    probe.send(&probe.invite("drain-new-call", 40_000));
    let refused = probe
        .final_response(Duration::from_secs(1))
        .expect("INVITE answered");
    assert_eq!(status(&refused), Some(503), "{refused}");
    assert!(header(&refused, "Retry-After").is_some(), "{refused}");
    assert!(
        sigterm.elapsed() < Duration::from_millis(1_000),
        "refusals took {:?}",
        sigterm.elapsed()
    );

    // No call is cut before the grace runs out.
    std::thread::sleep((GRACE - Duration::from_millis(300)).saturating_sub(sigterm.elapsed()));
    assert_eq!(
        gauge(&addr, "warmline_calls_active{ingress=\"sip\"}"),
        21.0,
        "a call ended during the grace"
    );
    assert!(observed.bye_at().is_none(), "BYE during the grace");

    // Then the closing prompt, then BYE.
    let bye = observed
        .wait_for_bye(Duration::from_secs(15))
        .expect("warmline sends BYE after the grace");
    let grace_over = sigterm + GRACE;
    assert!(
        bye >= grace_over + PROMPT_SPEECH,
        "BYE {:?} after SIGTERM: before the prompt could play",
        bye - sigterm
    );
    let quiet = observed.audible_between(
        sigterm + Duration::from_millis(500),
        grace_over - Duration::from_millis(100),
        AUDIBLE_RMS,
    );
    assert_eq!(quiet, 0, "agent audio during the grace, before the prompt");
    let prompt = observed.audible_between(grace_over, bye, AUDIBLE_RMS);
    let prompt_start = observed.first_audible_after(grace_over, AUDIBLE_RMS);
    println!(
        "BYE {:?} after SIGTERM; prompt from {:?}; {prompt} audible packets after the grace, {quiet} during it",
        bye - sigterm,
        prompt_start.map(|t| t - sigterm)
    );
    assert!(
        prompt >= 50,
        "closing prompt: {prompt} audible packets between the grace's end and the BYE"
    );

    // Every SIPp call got its BYE (SIPp passes only then); the process
    // exits 0 once no call is left.
    let outcome = sipp_run.join().expect("sipp thread");
    assert!(outcome.passed(), "{outcome:?}");
    let exit = wait_exit(&mut server.server.child, Duration::from_secs(15))
        .expect("warmline exits after the drain");
    assert!(exit.success(), "exit status {exit:?}");
    drop(observed);
}

#[test]
fn with_a_long_grace_the_process_exits_as_soon_as_the_last_call_ends() {
    let mut server = sipp::start(
        BINARY,
        &[("WARMLINE_SERVER__SHUTDOWN_GRACE_SECS", Some("300"))],
    );
    let sip = server.sip.clone();
    // A 2.5 s call that the caller ends with BYE, which must be answered.
    let call = std::thread::spawn(move || {
        sipp::run(
            "call_rtp",
            &sip,
            &["-m", "1", "-d", "2500", "-timeout", "20"],
        )
    });
    let active = wait_for_gauge(
        &server.server.addr,
        "warmline_calls_active{ingress=\"sip\"}",
        1.0,
        Duration::from_secs(10),
    );
    assert_eq!(active, 1.0);
    let sigterm = Instant::now();
    signal(&server.server.child, "TERM");
    let outcome = call.join().expect("sipp thread");
    assert!(
        outcome.passed(),
        "the caller's BYE is answered: {outcome:?}"
    );
    let exit = wait_exit(&mut server.server.child, Duration::from_secs(10))
        .expect("warmline exits once the call is over");
    assert!(
        sigterm.elapsed() < Duration::from_secs(8),
        "{:?}: waited for the grace",
        sigterm.elapsed()
    );
    assert!(exit.success(), "exit status {exit:?}");
}

#[test]
fn a_second_sigterm_ends_the_calls_at_once_with_a_bye_and_exits() {
    let mut server = sipp::start(
        BINARY,
        &[("WARMLINE_SERVER__SHUTDOWN_GRACE_SECS", Some("300"))],
    );
    let observed = ObservedCall::place(&server.sip, "drain-second");
    std::thread::sleep(Duration::from_millis(500));
    let first = Instant::now();
    signal(&server.server.child, "TERM");
    wait_until_draining(&server.server.addr, first);
    std::thread::sleep(Duration::from_millis(500));
    assert!(observed.bye_at().is_none(), "the first signal ends no call");
    let second = Instant::now();
    signal(&server.server.child, "INT");
    let bye = observed
        .wait_for_bye(Duration::from_secs(5))
        .expect("BYE on the second signal");
    assert!(bye - second < Duration::from_secs(1), "{:?}", bye - second);
    let exit = wait_exit(&mut server.server.child, Duration::from_secs(10))
        .expect("warmline exits after the second signal");
    assert!(exit.success(), "exit status {exit:?}");
}

fn silence(ms: usize) -> Vec<u8> {
    vec![0xFF; ms * 8]
}

/// Streams silence until the server closes the stream (or 30 s).
fn run_call(mut call: SimCall) -> tokio::task::JoinHandle<SimCall> {
    tokio::spawn(async move {
        call.stream(&silence(30_000)).await;
        call
    })
}

fn audible(call: &SimCall, from: Instant, to: Instant) -> usize {
    call.observed
        .media_levels
        .iter()
        .filter(|(at, rms)| *at >= from && *at < to && *rms > AUDIBLE_RMS)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_twilio_calls_refuses_the_webhook_keeps_answered_streams_then_closes_each_after_the_prompt(
) {
    let grace = GRACE.as_secs().to_string();
    let mut server = support::server::start(
        BINARY,
        &[
            ("OPENAI_API_KEY", None),
            ("WARMLINE_SERVER__SHUTDOWN_GRACE_SECS", Some(&grace)),
        ],
        false,
    );
    let addr = server.addr.clone();
    let mut calls = Vec::new();
    for i in 0..10 {
        let sid = format!("CA_drain_{i}");
        let answer = signed_webhook(&addr, AUTH, &sid);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let (url, token) = stream_of(&answer.body);
        let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
        calls.push(run_call(SimCall::start(ws, &sid, &token).await));
    }
    // The greetings are over.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    // A webhook answered just before SIGTERM: its stream connects after.
    let late = signed_webhook(&addr, AUTH, "CA_drain_late");
    assert_eq!(late.status, 200, "{}", late.body);

    let sigterm = Instant::now();
    signal(&server.child, "TERM");
    wait_until_draining(&addr, sigterm);
    let refused = signed_webhook(&addr, AUTH, "CA_drain_refused");
    assert_eq!(refused.status, 503, "{}", refused.body);
    // Status callbacks still work.
    let mut params = webhook_params("CA_drain_0");
    params.retain(|(k, _)| k != "CallStatus");
    params.push(("CallStatus".into(), "in-progress".into()));
    let sig = warmline::ingress::twilio::signature::compute(
        AUTH,
        &format!("http://{addr}/twilio/status"),
        &params,
    );
    assert_eq!(
        post_form(&addr, "/twilio/status", &params, Some(&sig)).status,
        204
    );
    let (url, token) = stream_of(&late.body);
    let ws = connect_stream(&url, AUTH, None)
        .await
        .expect("a stream answered before SIGTERM still connects");
    let late_call = run_call(SimCall::start(ws, "CA_drain_late", &token).await);

    let grace_over = sigterm + GRACE;
    let mut ended = Vec::new();
    for call in calls {
        ended.push(call.await.expect("call task"));
    }
    let late_call = late_call.await.expect("late call task");
    for call in ended.iter().chain(std::iter::once(&late_call)) {
        let closed = call
            .observed
            .closed_at
            .unwrap_or_else(|| panic!("{}: the server closed no stream", call.stream_sid));
        assert!(
            closed >= grace_over + PROMPT_SPEECH,
            "{}: closed {:?} after SIGTERM, before the prompt could play",
            call.stream_sid,
            closed - sigterm
        );
        let prompt = audible(call, grace_over, closed);
        println!(
            "{}: closed {:?} after SIGTERM, {prompt} audible frames after the grace",
            call.stream_sid,
            closed - sigterm
        );
        assert!(
            prompt >= 50,
            "{}: {prompt} audible frames of closing prompt",
            call.stream_sid
        );
    }
    for call in &ended {
        let quiet = audible(
            call,
            sigterm + Duration::from_millis(500),
            grace_over - Duration::from_millis(100),
        );
        assert_eq!(quiet, 0, "{}: audio during the grace", call.stream_sid);
    }
    assert!(
        late_call.observed.media_frames > 0,
        "the late stream got its call"
    );
    let exit = tokio::task::spawn_blocking(move || {
        let exit = wait_exit(&mut server.child, Duration::from_secs(15));
        (exit, server)
    })
    .await
    .expect("wait");
    let status = exit.0.expect("warmline exits after the drain");
    assert!(status.success(), "exit status {status:?}");
}
