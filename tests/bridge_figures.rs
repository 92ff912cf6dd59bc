//! Warm-transfer figures on live calls (issue 14; docs/PERFORMANCE.md,
//! "Warm transfer on live calls"), through the real `warmline` binary on
//! loopback with a simulated Twilio caller, a scripted Realtime model and
//! a rep's softphone peer (tests/support/rep_phone.rs); every timestamp
//! is this process's clock, so the figures need no clock sync.
//!
//! - From the model's `escalate_to_human` leaving the scripted model to
//!   the `ring` reaching the rep's socket, over 20 calls (each declined).
//! - The one-way latency of the bridge, caller to rep and rep to caller:
//!   a 100 ms chirp (300 Hz to 3 kHz) found by cross-correlation in what
//!   the other side received, from the frame carrying its first sample
//!   leaving the sender to that sample arriving; 2.5 s or more after the
//!   bridge (the steady state of a conversation).

mod support {
    pub mod fake_tool_model;
    pub mod rep_phone;
    pub mod server;
    pub mod twilio_sim;
}

use std::time::{Duration, Instant};

use serde_json::json;
use support::rep_phone::{Finish, RepPhone};
use support::server::{ServerProcess, AUTH};
use support::twilio_sim::{connect_stream, signed_webhook, stream_of, SimCall};
use warmline::media::g711::{ulaw_decode, ulaw_encode};

const BIN: &str = env!("CARGO_BIN_EXE_warmline");
const TOKEN_VAR: &str = "WARMLINE_REP_FIGURES_TOKEN";
const TOKEN: &str = "rep-token-figures-55d0";
const ESCALATIONS: usize = 20;

fn server(name: &str, model_url: &str) -> ServerProcess {
    let dir = std::env::temp_dir().join(format!("warmline-figures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let config = dir.join(name);
    std::fs::write(
        &config,
        format!(
            "[[reps]]\nid = \"ana\"\nname = \"Ana Ruiz\"\ntoken_env = \"{TOKEN_VAR}\"\n\n\
             [handoff]\nwrap_up_secs = 0\n"
        ),
    )
    .expect("config");
    support::server::start(
        BIN,
        &[
            ("WARMLINE_CONFIG", config.to_str()),
            (TOKEN_VAR, Some(TOKEN)),
            ("WARMLINE_MODEL__OPENAI_URL", Some(model_url)),
            ("WARMLINE_MODEL__BACKEND", Some("openai")),
            ("OPENAI_API_KEY", Some("sk-test-fake")),
        ],
        false,
    )
}

async fn start_call(addr: &str, sid: &str) -> SimCall {
    let answer = signed_webhook(addr, AUTH, sid);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (url, call_token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
    SimCall::start(ws, sid, &call_token).await
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_to_ring_on_live_calls_is_within_300_ms_at_p95() {
    let (url, seen) = support::fake_tool_model::start_per_call_with_summaries(
        "escalate_to_human",
        json!({"reason": "measure"}),
        Vec::new(),
    )
    .await;
    let server = server("ring.toml", &url);
    let addr = server.addr.clone();
    let mut rep = {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || RepPhone::login(&addr, TOKEN))
            .await
            .expect("login")
    };
    let mut latencies = Vec::new();
    for i in 0..ESCALATIONS {
        let mut call = start_call(&addr, &format!("CA_fig_ring_{i}")).await;
        let ringing = tokio::task::spawn_blocking(move || {
            let ring = rep.wait_for("ring", Duration::from_secs(10));
            let rang = Instant::now();
            let call_id = ring["card"]["call_id"].as_str().expect("id").to_owned();
            rep.send(json!({"type": "decline", "call_id": call_id}));
            (rep, rang)
        });
        while !ringing.is_finished() {
            call.stream(&vec![0xFF; 8 * 40]).await;
        }
        let (back, rang) = ringing.await.expect("rang");
        rep = back;
        let called = seen
            .lock()
            .expect("lock")
            .called_at
            .expect("the model called");
        latencies.push(rang.saturating_duration_since(called));
        // The tool result reaches the model before the caller leaves.
        let deadline = Instant::now() + Duration::from_secs(5);
        while seen.lock().expect("lock").outputs.len() < i + 1 && Instant::now() < deadline {
            call.stream(&vec![0xFF; 8 * 40]).await;
        }
    }
    latencies.sort();
    let (median, p95) = (percentile(&latencies, 0.5), percentile(&latencies, 0.95));
    println!(
        "escalate_to_human → ring on live calls over {ESCALATIONS}: median {:.2} ms, p95 {:.2} ms, \
         max {:.2} ms",
        median.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3,
        latencies[ESCALATIONS - 1].as_secs_f64() * 1e3
    );
    assert!(p95 <= Duration::from_millis(300), "{latencies:?}");
}

/// A 100 ms linear chirp from 300 Hz to 3 kHz at `rate`.
fn chirp(rate: f64) -> Vec<f64> {
    let n = (rate * 0.1) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate;
            let phase = 2.0 * std::f64::consts::PI * (300.0 * t + 0.5 * 27_000.0 * t * t);
            let edge = (i.min(n - 1 - i) as f64 / (rate * 0.005)).min(1.0);
            edge * phase.sin()
        })
        .collect()
}

/// Where `template` best matches `signal` (the lag), and the normalised
/// correlation there.
fn onset(signal: &[f64], template: &[f64]) -> (usize, f64) {
    let t_energy: f64 = template.iter().map(|x| x * x).sum::<f64>().sqrt();
    let mut best = (0, 0.0);
    for lag in 0..signal.len().saturating_sub(template.len()) {
        let window = &signal[lag..lag + template.len()];
        let dot: f64 = window.iter().zip(template).map(|(a, b)| a * b).sum();
        let energy: f64 = window.iter().map(|x| x * x).sum::<f64>().sqrt();
        let score = dot / (t_energy * energy).max(1e-9);
        if score > best.1 {
            best = (lag, score);
        }
    }
    best
}

/// Finds the chirp in timestamped frames of `rate` samples per second:
/// when its first sample arrived (its frame's arrival, plus its place in
/// the frame), and the correlation.
fn arrival(frames: &[(Instant, Vec<i16>)], rate: f64) -> (Instant, f64) {
    let signal: Vec<f64> = frames
        .iter()
        .flat_map(|(_, f)| f.iter().map(|&s| f64::from(s)))
        .collect();
    let (lag, score) = onset(&signal, &chirp(rate));
    let mut start = 0;
    for (at, frame) in frames {
        if lag < start + frame.len() {
            let within = (lag - start) as f64 / rate;
            return (*at + Duration::from_secs_f64(within), score);
        }
        start += frame.len();
    }
    (frames.last().map_or_else(Instant::now, |f| f.0), score)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_adds_little_one_way_latency_either_way() {
    let (url, _seen) = support::fake_tool_model::start_once_with_audio(
        "escalate_to_human",
        json!({"reason": "measure"}),
        Vec::new(),
    )
    .await;
    let server = server("latency.toml", &url);
    let addr = server.addr.clone();
    let mut rep = {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || RepPhone::login(&addr, TOKEN))
            .await
            .expect("login")
    };
    let mut call = start_call(&addr, "CA_fig_latency").await;
    call.observed.audio = Some(Vec::new());
    // The rep says the chirp (48 kHz) 4 s after the bridge, once: the
    // figures are the bridge's steady state, past any start-up backlog.
    let mut microphone = vec![0i16; 4 * 48_000];
    microphone.extend(chirp(48_000.0).iter().map(|&x| (x * 12_000.0) as i16));
    microphone.resize(48_000 * 6, 0);
    let rep_side = tokio::task::spawn_blocking(move || {
        let ring = rep.wait_for("ring", Duration::from_secs(10));
        let call_id = ring["card"]["call_id"].as_str().expect("id").to_owned();
        rep.accept_and_talk(
            &call_id,
            &microphone,
            Finish::HangUp(Duration::from_millis(5_000)),
            Duration::from_secs(20),
        )
    });
    // The caller says the chirp (8 kHz) every 1.5 s: the ones before the
    // bridge reach nobody.
    let caller_chirp: Vec<u8> = chirp(8_000.0)
        .iter()
        .map(|&x| ulaw_encode((x * 12_000.0) as i16))
        .collect();
    let mut said = Vec::new();
    while !rep_side.is_finished() && !call.observed.closed_by_server {
        said.push(Instant::now());
        call.stream(&caller_chirp).await;
        call.stream(&vec![0xFF; 8 * 1_400]).await;
    }
    let talk = rep_side.await.expect("the rep ran");
    let bridged = talk.bridged_at.expect("bridged");
    let finished = talk.finished_at.expect("hung up");

    // Caller → rep, from 2.5 s after the bridge.
    let steady = bridged + Duration::from_millis(2_500);
    let heard: Vec<(Instant, Vec<i16>)> = talk
        .heard
        .iter()
        .filter(|(at, _)| *at > steady && *at < finished)
        // 8 kHz is enough for a chirp below 3 kHz and 36 times cheaper
        // to correlate.
        .map(|(at, f)| (*at, f.iter().step_by(6).copied().collect()))
        .collect();
    let (at_rep, score) = arrival(&heard, 8_000.0);
    let sent = said
        .iter()
        .rev()
        .find(|s| **s <= at_rep)
        .copied()
        .expect("a chirp sent before it arrived");
    let caller_to_rep = at_rep - sent;
    assert!(
        score > 0.6,
        "the rep heard no chirp (correlation {score:.2})"
    );

    // Rep → caller: the rep's chirp is in its frame 200 after the bridge.
    let audio = call.observed.audio.as_deref().unwrap_or(&[]);
    let frames: Vec<(Instant, Vec<i16>)> = call
        .observed
        .media_levels
        .iter()
        .zip(audio.chunks(160))
        .filter(|((at, _), _)| *at > bridged && *at < finished)
        .map(|((at, _), f)| (*at, f.iter().map(|&c| ulaw_decode(c)).collect()))
        .collect();
    let (at_caller, caller_score) = arrival(&frames, 8_000.0);
    let rep_sent = *talk.said.get(200).expect("the rep said its chirp");
    let rep_to_caller = at_caller.saturating_duration_since(rep_sent);
    assert!(
        caller_score > 0.6,
        "the caller heard no chirp (correlation {caller_score:.2})"
    );
    println!(
        "one-way through the bridge: caller → rep {:.1} ms (correlation {score:.2}), rep → caller \
         {:.1} ms (correlation {caller_score:.2})",
        caller_to_rep.as_secs_f64() * 1e3,
        rep_to_caller.as_secs_f64() * 1e3
    );
    assert!(
        caller_to_rep < Duration::from_millis(80),
        "{caller_to_rep:?}"
    );
    assert!(
        rep_to_caller < Duration::from_millis(80),
        "{rep_to_caller:?}"
    );
}
