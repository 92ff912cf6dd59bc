//! A simulated Twilio call to the real `warmline` binary with no API key:
//! the demo agent greets, answers a turn, is barged in on, and the call
//! ends on DTMF 9. Also: unsigned, wrongly signed and reused-token requests
//! get 403.

mod support {
    pub mod oracle;
    pub mod server;
    pub mod twilio_sim;
    pub mod wav;
}

use std::time::Duration;

use support::server::{ServerProcess, AUTH};
use support::twilio_sim::{
    connect_stream, http_get, metric, post_form, signed_webhook, stream_of, webhook_params, SimCall,
};

fn start_server() -> ServerProcess {
    support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[("OPENAI_API_KEY", None)],
        true,
    )
}

fn silence(ms: usize) -> Vec<u8> {
    vec![0xFF; ms * 8]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_call_greets_answers_a_turn_honours_barge_in_and_ends_on_dtmf_9() {
    let server = start_server();
    let answer = signed_webhook(&server.addr, AUTH, "CA_demo_1");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (url, call_token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None)
        .await
        .expect("upgrade accepted");
    let mut call = SimCall::start(ws, "CA_demo_1", &call_token).await;

    // The greeting plays while the caller is silent.
    call.stream(&silence(2_500)).await;
    let greeting_frames = call.observed.media_frames;
    assert!(
        greeting_frames >= 50,
        "greeting audio: {greeting_frames} frames"
    );
    assert!(call.observed.first_media_at.expect("audio") < Duration::from_millis(1_500));

    // The caller takes a turn; the demo answers after it.
    call.stream(&support::wav::fixture_mulaw("caller_03.wav"))
        .await;
    call.stream(&silence(1_500)).await;
    let after_turn = call.observed.media_frames;
    assert!(
        after_turn > greeting_frames + 20,
        "no answer to the turn: {after_turn}"
    );

    // Another turn, then talk over the answer: barge-in clears playback.
    call.stream(&support::wav::fixture_mulaw("caller_05.wav"))
        .await;
    call.stream(&silence(400)).await; // the answer starts
    let clears_before = call.observed.clears;
    call.stream(&support::wav::fixture_mulaw("caller_07.wav"))
        .await;
    assert!(
        call.observed.clears > clears_before,
        "barge-in did not clear playback"
    );

    // DTMF 9: the agent says goodbye and the server ends the stream.
    call.stream(&silence(1_500)).await;
    call.dtmf('9').await;
    call.stream(&silence(5_000)).await;
    assert!(
        call.observed.closed_by_server,
        "the call did not end on DTMF 9"
    );

    // The call's figures reached the metrics endpoint.
    let metrics = http_get(&server.addr, "/metrics");
    assert_eq!(metrics.status, 200);
    let m = |series: &str| metric(&metrics.body, series).unwrap_or(-1.0);
    assert_eq!(
        m("warmline_calls_started_total{ingress=\"twilio\"}"),
        1.0,
        "{}",
        metrics.body
    );
    assert_eq!(m("warmline_first_audio_seconds_count"), 1.0);
    let first_audio = m("warmline_first_audio_seconds_sum");
    assert!((0.0..1.5).contains(&first_audio), "{first_audio}");
    assert!(m("warmline_model_round_trip_seconds_count") >= 1.0);
    assert!(m("warmline_barge_ins_total") >= 1.0, "{}", metrics.body);
    assert!(m("warmline_barge_in_reaction_seconds_count") >= 1.0);
    assert!(m("warmline_barge_in_truncated_audio_seconds_count") >= 1.0);
    // Every agent frame sent was timed against its slot.
    assert!(m("warmline_playout_lateness_seconds_count") >= greeting_frames as f64);

    // The call's lines carry warmline's own UUIDv7 call id, with the
    // CallSid apart as provider_id.
    let logs = server.logs();
    let line = logs
        .iter()
        .find(|l| l.contains("provider_id=CA_demo_1"))
        .unwrap_or_else(|| panic!("no line of the call: {logs:?}"));
    let call_id = line
        .split("call_id=")
        .nth(1)
        .and_then(|rest| rest.split([' ', '}']).next())
        .unwrap_or_else(|| panic!("no call_id: {line}"));
    let uuid = uuid::Uuid::parse_str(call_id).unwrap_or_else(|e| panic!("{call_id}: {e}"));
    assert_eq!(uuid.get_version_num(), 7, "{line}");
    assert!(line.contains("ingress=\"twilio\""), "{line}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_wrongly_signed_and_reused_requests_get_403() {
    let server = start_server();
    let params = webhook_params("CA_bad");
    assert_eq!(
        post_form(&server.addr, "/twilio/voice", &params, None).status,
        403
    );
    assert_eq!(
        post_form(
            &server.addr,
            "/twilio/voice",
            &params,
            Some("bm90IGEgc2lnbmF0dXJl")
        )
        .status,
        403
    );
    let wrong_token = warmline::ingress::twilio::signature::compute(
        "other-token",
        &format!("http://{}/twilio/voice", server.addr),
        &params,
    );
    assert_eq!(
        post_form(&server.addr, "/twilio/voice", &params, Some(&wrong_token)).status,
        403
    );

    let answer = signed_webhook(&server.addr, AUTH, "CA_ok");
    assert_eq!(answer.status, 200);
    let (url, call_token) = stream_of(&answer.body);
    assert_eq!(
        connect_stream(&url, AUTH, Some("bm9wZQ==".into()))
            .await
            .err(),
        Some(403),
        "wrongly signed upgrade"
    );
    let ws = connect_stream(&url, AUTH, None)
        .await
        .expect("first use accepted");
    let _call = SimCall::start(ws, "CA_ok", &call_token).await;
    assert_eq!(
        connect_stream(&url, AUTH, None).await.err(),
        Some(403),
        "reused token"
    );
    let forged = url.replace(&call_token, "forgedtoken");
    assert_eq!(
        connect_stream(&forged, AUTH, None).await.err(),
        Some(403),
        "unknown token"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_signed_by_the_twilio_package_gets_twiml_the_twilio_package_builds_identically() {
    let server = start_server();
    let params = webhook_params("CA_oracle");
    let url = format!("http://{}/twilio/voice", server.addr);
    let signed = support::oracle::answer(
        "twilio_oracle.py",
        &serde_json::json!({"signatures": [{
            "token": AUTH, "url": url,
            "params": params.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
        }]}),
    );
    let signature = signed["signatures"][0].as_str().expect("signature");
    let answer = post_form(&server.addr, "/twilio/voice", &params, Some(signature));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (stream_url, token) = stream_of(&answer.body);
    let rebuilt = support::oracle::answer(
        "twilio_oracle.py",
        &serde_json::json!({"twiml": [{
            "url": stream_url, "name": "warmline", "status_callback": null,
            "parameters": [["call_token", token]],
        }]}),
    );
    assert_eq!(rebuilt["twiml"][0].as_str(), Some(answer.body.as_str()));
    drop(server);
}
