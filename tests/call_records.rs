//! What a call's record holds beyond the conversation (issue 16): the
//! recording, the post-call survey and the versions it ran. The real
//! `CallDriver` with a fake OpenAI Realtime model (tests/support) whose
//! first response says some audio and calls `end_call`, and a caller leg
//! that keeps what it was sent:
//!
//! - the caller presses 4 after the agent ended the call, and the call's
//!   `CallEnded.csat` is 4;
//! - the call's WAV holds the caller's voice on the left and what the
//!   caller heard on the right, found by cross-correlation with what was
//!   sent, and neither on the other side;
//! - a reload during a call gives the next call the new instructions (as
//!   the model receives them), and each call's `CallEnded.versions` names
//!   the version it ran.

mod support {
    pub mod fake_tool_model;
}

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use warmline::agents::CallContext;
use warmline::call::driver::{CallDriver, CallSetup};
use warmline::call::events::{CallEnded, CallEvents};
use warmline::call::leg::{CallerLeg, LegError, LegEvent, Sent};
use warmline::call::tools::CallIdentity;
use warmline::call::PlaybackTracking;
use warmline::config::{Config, Secrets};
use warmline::media::g711::{ulaw_decode, ulaw_encode};
use warmline::model::link::{Backend, DemoRealtime};

/// Collects `call.ended`.
#[derive(Debug, Default)]
struct Sink(Mutex<Vec<CallEnded>>);

impl CallEvents for Sink {
    fn call_started(&self, _call: &CallIdentity) {}
    fn call_ended(&self, ended: CallEnded) {
        self.0.lock().expect("sink").push(ended);
    }
}

/// What the caller's side was sent.
#[derive(Default)]
struct Heard {
    /// Every audio frame, in order.
    frames: Vec<Vec<u8>>,
    hung_up: bool,
}

struct TestLeg {
    events: mpsc::Receiver<LegEvent>,
    heard: Rc<RefCell<Heard>>,
}

impl CallerLeg for TestLeg {
    async fn next_event(&mut self) -> LegEvent {
        self.events
            .recv()
            .await
            .unwrap_or_else(|| LegEvent::Ended("test over".into()))
    }

    async fn send_frame(
        &mut self,
        _due: Instant,
        mulaw: &[u8],
        _mark: Option<&str>,
    ) -> Result<Sent, LegError> {
        self.heard.borrow_mut().frames.push(mulaw.to_vec());
        Ok(Sent::Now)
    }

    async fn send_idle(&mut self, _due: Instant) -> Result<Sent, LegError> {
        Ok(Sent::Nothing)
    }

    async fn clear(&mut self) -> Result<(), LegError> {
        Ok(())
    }

    async fn hang_up(&mut self) {
        self.heard.borrow_mut().hung_up = true;
    }
}

/// Pseudo-random noise, as μ-law, `seed` picking the sequence.
fn noise(seed: u32, samples: usize, level: f32) -> Vec<u8> {
    let mut state = seed;
    (0..samples)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let unit = (state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
            ulaw_encode((unit * level) as i16)
        })
        .collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("warmline-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write_tone(path: &Path, ms: usize) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create");
    for i in 0..ms * 8 {
        let t = i as f32 / 8_000.0;
        w.write_sample((3_000.0 * (2.0 * std::f32::consts::PI * 400.0 * t).sin()) as i16)
            .expect("sample");
    }
    w.finalize().expect("finalize");
}

fn secrets() -> Secrets {
    Secrets::from_env(vec![(
        "OPENAI_API_KEY".to_owned(),
        "sk-test-fake".to_owned(),
    )])
}

fn context() -> CallContext<'static> {
    CallContext {
        caller: "+14155550123",
        called: "+14155550100",
        trunk: "twilio",
    }
}

/// The call template, as an ingress has it before routing.
fn template(config: &Config, events: Arc<Sink>) -> CallSetup {
    let session = warmline::app::session_config(config);
    let mut call = warmline::app::call_config(config, &session);
    call.tracking = PlaybackTracking::Released { allowance_ms: 20 };
    CallSetup {
        tool_entries: None,
        events: Some(events),
        registry: None,
        backend: Backend::Demo(DemoRealtime),
        session,
        call,
        ingress: "test",
        drain: warmline::drain::Drain::default(),
        identity: CallIdentity::mint("test", "records", "+14155550123", "+14155550100"),
        tools: None,
    }
}

/// The caller's side of one call: silence until the agent's audio and
/// `after_frames` more frames were heard, then `burst` (if any), then
/// `key` (if any); silence again until hung up on.
async fn caller(
    leg_tx: mpsc::Sender<LegEvent>,
    heard: Rc<RefCell<Heard>>,
    after_frames: usize,
    burst: Vec<u8>,
    key: Option<char>,
) {
    leg_tx.send(LegEvent::Started).await.expect("listens");
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut burst = burst
        .chunks(160)
        .map(<[u8]>::to_vec)
        .collect::<Vec<_>>()
        .into_iter();
    let mut key = key;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !heard.borrow().hung_up && Instant::now() < deadline {
        tick.tick().await;
        let ready = heard.borrow().frames.len() >= after_frames;
        let frame = if ready {
            match burst.next() {
                Some(frame) => frame,
                None => {
                    if let Some(digit) = key.take() {
                        let _ = leg_tx.send(LegEvent::Dtmf(digit)).await;
                    }
                    vec![0xFF; 160]
                }
            }
        } else {
            vec![0xFF; 160]
        };
        if leg_tx
            .send(LegEvent::Audio(
                frame.into_boxed_slice().try_into().expect("160 bytes"),
            ))
            .await
            .is_err()
        {
            break;
        }
    }
}

/// Runs one call of `setup` with the caller of [`caller`].
async fn run_call(
    setup: CallSetup,
    after_frames: usize,
    burst: Vec<u8>,
    key: Option<char>,
) -> Rc<RefCell<Heard>> {
    let driver = CallDriver::prewarm(setup);
    let (leg_tx, leg_rx) = mpsc::channel(64);
    let heard = Rc::new(RefCell::new(Heard::default()));
    let mut leg = TestLeg {
        events: leg_rx,
        heard: heard.clone(),
    };
    let call = tokio::task::spawn_local(async move { driver.run(&mut leg).await });
    let side = tokio::task::spawn_local(caller(leg_tx, heard.clone(), after_frames, burst, key));
    tokio::time::timeout(Duration::from_secs(40), call)
        .await
        .expect("the call ends")
        .expect("the call task");
    side.abort();
    heard
}

/// The normalised cross-correlation of `template` with `signal` at the
/// best lag within `lags` of `around`: (correlation, lag).
fn best_match(signal: &[f64], template: &[f64], around: usize, lags: usize) -> (f64, usize) {
    let energy = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>().sqrt();
    let t_energy = energy(template);
    let mut best = (0.0f64, 0usize);
    for start in around.saturating_sub(lags)..=around + lags {
        let Some(window) = signal.get(start..start + template.len()) else {
            break;
        };
        let dot: f64 = window.iter().zip(template).map(|(a, b)| a * b).sum();
        let denominator = energy(window) * t_energy;
        let r = if denominator > 0.0 {
            dot / denominator
        } else {
            0.0
        };
        if r > best.0 {
            best = (r, start);
        }
    }
    best
}

fn pcm(mulaw: &[u8]) -> Vec<f64> {
    mulaw.iter().map(|&c| f64::from(ulaw_decode(c))).collect()
}

/// The first sample louder than `level`.
fn onset(signal: &[f64], level: f64) -> Option<usize> {
    signal.iter().position(|s| s.abs() > level)
}

fn wait_for(path: &Path) {
    for _ in 0..300 {
        if path.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{} never appeared", path.display());
}

#[tokio::test]
async fn a_caller_who_presses_4_after_the_agent_ends_the_call_rates_it_4_and_the_recording_holds_both_sides(
) {
    let dir = temp_dir("records");
    let prompt = dir.join("rate.wav");
    write_tone(&prompt, 500);
    // The agent says one second of noise B, then ends the call.
    let agent_audio = noise(7, 8_000, 6_000.0);
    let (url, _seen) = support::fake_tool_model::start_with_audio(
        "end_call",
        serde_json::json!({}),
        agent_audio.clone(),
    )
    .await;
    let toml = format!(
        "[model]\nbackend = \"openai\"\nopenai_url = \"{url}\"\n\n\
         [recording]\ndir = \"{}\"\n\n\
         [csat]\nprompt_wav = \"{}\"\ntimeout_secs = 5\n\n\
         [[agents]]\nid = \"support\"\ninstructions = \"Help.\"\ndefault = true\nrecord = true\ncsat = true\n",
        dir.join("recordings").display(),
        prompt.display()
    );
    let config =
        Config::from_toml_and_env(&toml, &dir.join("w.toml"), Vec::new()).expect("valid config");
    let secrets = secrets();
    let agents = warmline::app::build_agents(&config, &secrets).expect("agents");
    let recorder = warmline::recording::Recorder::start(warmline::recording::RecorderSettings {
        dir: config.recording.dir.clone(),
        retention_days: 0,
    })
    .expect("recorder");
    let sink = Arc::new(Sink::default());
    let mut setup = template(&config, sink.clone());
    setup.call.recorder = Some(recorder.clone());
    let agent = agents.route(&context()).expect("routed");
    agent.prepare(&mut setup, &context(), jiff::Timestamp::now());
    assert!(setup.call.record && setup.call.survey.as_ref().is_some_and(|s| s.enabled));
    let call_id = setup.identity.id.clone();
    // The caller speaks noise A (half a second) once the agent's second
    // and the prompt's half second were heard, then presses 4.
    let caller_audio = noise(99, 4_000, 6_000.0);
    let heard = tokio::task::LocalSet::new()
        .run_until(run_call(setup, 50 + 25, caller_audio.clone(), Some('4')))
        .await;

    let ended = sink.0.lock().expect("sink").pop().expect("call.ended");
    assert_eq!(ended.csat, Some(4), "the survey's answer");
    assert_eq!(ended.versions, agent.versions().clone());
    let link = ended.recording_url.expect("the recording is linked");
    assert_eq!(link, format!("/api/v1/recordings/{call_id}.wav"));

    // The recording: left is what the caller sent, right what it heard.
    let path = recorder.path_of(&call_id);
    wait_for(&path);
    let mut reader = hound::WavReader::open(&path).expect("a WAV");
    assert_eq!(reader.spec().channels, 2);
    let samples: Vec<f64> = reader
        .samples::<i16>()
        .map(|s| f64::from(s.expect("sample")))
        .collect();
    let left: Vec<f64> = samples.iter().step_by(2).copied().collect();
    let right: Vec<f64> = samples.iter().skip(1).step_by(2).copied().collect();
    let sent_by_caller = pcm(&caller_audio);
    let heard_audio: Vec<u8> = heard.borrow().frames.concat();
    let agent_heard = pcm(&heard_audio[..8_000]);

    let caller_at = onset(&left, 500.0).expect("the caller's voice is on the left");
    let (r, _) = best_match(&left, &sent_by_caller, caller_at, 400);
    eprintln!("caller on the left: r = {r:.3}");
    assert!(
        r > 0.95,
        "the left channel holds the caller's voice: r = {r:.3}"
    );
    let agent_at = onset(&right, 500.0).expect("the agent is on the right");
    let (r, _) = best_match(&right, &agent_heard, agent_at, 400);
    eprintln!("agent on the right: r = {r:.3}");
    assert!(
        r > 0.95,
        "the right channel holds what the caller heard: r = {r:.3}"
    );
    // Neither leaks into the other side.
    let (r, _) = best_match(&right, &sent_by_caller, caller_at, 400);
    assert!(r < 0.3, "no caller voice on the right: r = {r:.3}");
    let (r, _) = best_match(&left, &agent_heard, agent_at, 400);
    assert!(r < 0.3, "no agent voice on the left: r = {r:.3}");
    // The agent's audio as the model sent it is what was heard.
    assert_eq!(&heard_audio[..8_000], &agent_audio[..]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_reload_during_a_call_gives_the_next_call_the_new_instructions_and_each_record_its_version(
) {
    let dir = temp_dir("reload");
    let (url, seen) = support::fake_tool_model::start_with_audio(
        "end_call",
        serde_json::json!({}),
        noise(3, 4_000, 3_000.0),
    )
    .await;
    let toml = |instructions: &str| {
        format!(
            "[model]\nbackend = \"openai\"\nopenai_url = \"{url}\"\n\n\
             [[agents]]\nid = \"support\"\ninstructions = \"{instructions}\"\ndefault = true\n"
        )
    };
    let load = |text: String| {
        Config::from_toml_and_env(&text, &dir.join("w.toml"), Vec::new()).expect("valid config")
    };
    let config = load(toml("Answer in English."));
    let secrets = secrets();
    let agents = Arc::new(warmline::app::build_agents(&config, &secrets).expect("agents"));
    let reloader = warmline::reload::Reloader::new(&config, &secrets, agents.clone(), None);
    let sink = Arc::new(Sink::default());
    let local = tokio::task::LocalSet::new();

    // Call 1 starts with the first version; the reload happens while it runs.
    let mut first = template(&config, sink.clone());
    agents.route(&context()).expect("routed").prepare(
        &mut first,
        &context(),
        jiff::Timestamp::now(),
    );
    let new_config = load(toml("Answer in Spanish."));
    local
        .run_until(async {
            let call = tokio::task::spawn_local(run_call(first, usize::MAX, Vec::new(), None));
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(!call.is_finished(), "the reload happens during call 1");
            reloader.apply(&new_config).expect("reloaded");
            call.await.expect("call 1");
        })
        .await;

    // Call 2 is routed after the reload.
    let mut second = template(&config, sink.clone());
    agents.route(&context()).expect("routed").prepare(
        &mut second,
        &context(),
        jiff::Timestamp::now(),
    );
    local
        .run_until(run_call(second, usize::MAX, Vec::new(), None))
        .await;

    let instructions = seen.lock().expect("seen").instructions.clone();
    assert_eq!(
        instructions.first().map(String::as_str),
        Some("Answer in English."),
        "{instructions:?}"
    );
    assert_eq!(
        instructions.last().map(String::as_str),
        Some("Answer in Spanish."),
        "{instructions:?}"
    );
    let ended = sink.0.lock().expect("sink").clone();
    assert_eq!(ended.len(), 2);
    let (one, two) = (&ended[0].versions["agent"], &ended[1].versions["agent"]);
    assert_ne!(one, two, "each call records the version it ran");
    assert_eq!(
        agents.version(one).expect("kept").definition["instructions"],
        "Answer in English."
    );
    assert_eq!(
        agents.version(two).expect("kept").definition["instructions"],
        "Answer in Spanish."
    );
    let _ = std::fs::remove_dir_all(&dir);
}
