//! Load benchmark for warm transfer: N bridged calls at once, each a
//! simulated Twilio caller handed by the demo agent (the caller presses 0)
//! to its own rep, a str0m softphone on `/rep/ws`
//! (tests/support/rep_phone.rs), against the release `warmline` binary.
//!
//! Run: `cargo build --release --bin warmline --example bridge_load &&
//! target/release/examples/bridge_load [N] [SECONDS]` (N = 50, a 20 s
//! window by default).
//!
//! Once every call is bridged (checked on `GET /api/v1/calls`), the
//! server's CPU (user + system) is read over the window and its RSS
//! against the idle server; both per bridged call. A bridged call is a
//! room mixing caller and rep every 20 ms: the caller's μ-law up to
//! 16 kHz, the rep's Opus decoded and encoded at 16 kHz, SRTP, and the
//! caller's downlink (the agent is detached: `agent_after_bridge =
//! "close"`). The generator runs at nice 19 in this process.

#[path = "../tests/support/fake_realtime.rs"]
mod fake_realtime;
#[path = "../tests/support/load.rs"]
mod load;
#[path = "../tests/support/rep_phone.rs"]
mod rep_phone;
#[path = "../tests/support/server.rs"]
mod server;
#[path = "../tests/support/twilio_sim.rs"]
mod twilio_sim;

use std::time::{Duration, Instant};

use rep_phone::{Finish, RepPhone};
use serde_json::Value;

const ADMIN: &str = "bridge-load-admin";

/// The rep's voice: a 600 Hz tone at 48 kHz (the content does not matter
/// to the cost; that it is not silence does).
fn rep_voice() -> Vec<i16> {
    (0..48_000)
        .map(|i| {
            (6_000.0 * (2.0 * std::f64::consts::PI * 600.0 * i as f64 / 48_000.0).sin()) as i16
        })
        .collect()
}

/// The caller's voice: a recorded phrase, looped (8 kHz μ-law).
fn caller_voice() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/audio/caller_01.wav");
    let reader = hound::WavReader::open(path).expect("fixture");
    reader
        .into_samples::<i16>()
        .map_while(Result::ok)
        .map(warmline::media::g711::ulaw_encode)
        .collect()
}

fn config(reps: usize) -> String {
    let dir = std::env::temp_dir().join(format!("warmline-bridge-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let mut text = String::new();
    for i in 0..reps {
        text.push_str(&format!(
            "[[reps]]\nid = \"rep{i}\"\nname = \"Rep {i}\"\ntoken_env = \"WARMLINE_BL_REP{i}\"\n\n"
        ));
    }
    text.push_str(
        "[handoff]\nwrap_up_secs = 0\nbrief = false\nring_timeout_secs = 30\nqueue_max_wait_secs = 120\n",
    );
    let file = dir.join("bridge_load.toml");
    std::fs::write(&file, text).expect("config");
    file.to_string_lossy().into_owned()
}

/// How many live calls are bridged to a rep now.
fn bridged(addr: &str) -> usize {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return 0;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!(
        "GET /api/v1/calls HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return 0;
    }
    let mut raw = String::new();
    let _ = stream.read_to_string(&mut raw);
    let json = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let body: Value = serde_json::from_str(json).unwrap_or(Value::Null);
    body["calls"].as_array().map_or(0, |calls| {
        calls.iter().filter(|c| c["state"] == "bridged").count()
    })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let calls: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let generator = load::become_background(load::Background::Nice19);
    let binary = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/warmline");
    let config = config(calls);
    let tokens: Vec<(String, String)> = (0..calls)
        .map(|i| {
            (
                format!("WARMLINE_BL_REP{i}"),
                format!("rep-token-{i}-bridge-load"),
            )
        })
        .collect();
    let mut env: Vec<(&str, Option<&str>)> = vec![
        ("WARMLINE_CONFIG", Some(&config)),
        ("WARMLINE_ADMIN_TOKEN", Some(ADMIN)),
        ("OPENAI_API_KEY", None),
    ];
    env.extend(tokens.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))));
    let server = server::start(binary, &env, false);
    let pid = server.child.id();
    let addr = server.addr.clone();
    std::thread::sleep(Duration::from_secs(1));
    let (_, idle_rss) = load::cpu_and_rss(pid);

    // The reps log in, each takes one ring and talks until the window is
    // over, then hangs up.
    let hold_for = Duration::from_secs(seconds + 25);
    let reps: Vec<_> = tokens
        .iter()
        .map(|(_, token)| {
            let addr = addr.clone();
            let token = token.clone();
            std::thread::spawn(move || {
                let mut rep = RepPhone::login(&addr, &token);
                let ring = rep.wait_for("ring", Duration::from_secs(90));
                let call_id = ring["card"]["call_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                rep.accept_and_talk(
                    &call_id,
                    &rep_voice(),
                    Finish::HangUp(hold_for),
                    hold_for + Duration::from_secs(30),
                )
            })
        })
        .collect();

    // The callers: the greeting, 0 for a person, then their phrase until
    // the rep hangs up.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let voice = std::sync::Arc::new(caller_voice());
    let callers: Vec<_> = (0..calls)
        .map(|i| {
            let addr = addr.clone();
            let voice = voice.clone();
            runtime.spawn(async move {
                // Calls arrive over the first five seconds.
                tokio::time::sleep(Duration::from_millis(
                    i as u64 * 5_000 / calls.max(1) as u64,
                ))
                .await;
                let sid = format!("CA_bridge_load_{i}");
                let answer = twilio_sim::signed_webhook(&addr, server::AUTH, &sid);
                if answer.status != 200 {
                    return false;
                }
                let (url, call_token) = twilio_sim::stream_of(&answer.body);
                let Ok(ws) = twilio_sim::connect_stream(&url, server::AUTH, None).await else {
                    return false;
                };
                let mut call = twilio_sim::SimCall::start(ws, &sid, &call_token).await;
                call.stream(&vec![0xFF; 8 * 2_500]).await;
                call.dtmf('0').await;
                while !call.observed.closed_by_server {
                    call.stream(&voice).await;
                }
                true
            })
        })
        .collect();

    // Every call bridged, then the window.
    let started = Instant::now();
    let mut up = 0;
    while started.elapsed() < Duration::from_secs(60) {
        up = bridged(&addr);
        if up >= calls {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let settled = started.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let steal_before = load::cpu_steal();
    let (cpu0, _) = load::cpu_and_rss(pid);
    let window = Duration::from_secs(seconds);
    std::thread::sleep(window);
    let (cpu1, rss) = load::cpu_and_rss(pid);
    let steal = load::steal_share(steal_before, load::cpu_steal());
    let still = bridged(&addr);

    let talks: Vec<_> = reps.into_iter().filter_map(|r| r.join().ok()).collect();
    let done: Vec<bool> = callers
        .into_iter()
        .map(|c| runtime.block_on(c).unwrap_or(false))
        .collect();
    let heard_min = talks.iter().map(|t| t.heard.len()).min().unwrap_or(0);
    let measured = still.min(up).max(1);
    let cpu_per_call = (cpu1 - cpu0) / window.as_secs_f64() / measured as f64 * 100.0;
    let rss_per_call = rss.saturating_sub(idle_rss) as f64 / measured as f64 / 1e6;
    println!("generator: {generator}");
    println!(
        "bridged {up} of {calls} after {:.1} s, {still} at the window's end; callers done {} of {calls}; fewest frames a rep heard {heard_min}",
        settled.as_secs_f64(),
        done.iter().filter(|d| **d).count()
    );
    println!("| bridged calls | CPU per bridged call (% of a core) | RSS per bridged call (MB) | window (s) | steal |");
    println!("|---|---|---|---|---|");
    println!(
        "| {measured} | {cpu_per_call:.3} | {rss_per_call:.3} | {seconds} | {:.1} % |",
        steal * 100.0
    );
}
