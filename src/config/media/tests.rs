//! `[media]` changes what a call does: each key, from the configuration
//! text (or the environment) through `app::call_config`, on a recorded
//! caller.

use std::path::Path;
use std::time::Duration;

use crate::call::{CallCore, CallOutput};
use crate::config::Config;
use crate::media::frame::{Frame, MediaTime, SampleRate};
use crate::media::g711::ulaw_encode;
use crate::media::vad::{CallerVad, CallerVadConfig, DetectorKind, VadEvent};
use crate::model::{ModelCommand, ModelEvent};

const TICK: Duration = Duration::from_millis(20);

fn config(toml: &str, env: &[(&str, &str)]) -> Config {
    Config::from_toml_and_env(
        toml,
        Path::new("<test>"),
        env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    )
    .expect("valid config")
}

/// The call settings the server builds from `config`.
fn call_config(config: &Config) -> crate::call::CallConfig {
    crate::app::call_config(config, &crate::app::session_config(config))
}

/// A labelled caller fixture (one utterance), then 1.5 s of silence.
fn caller_frames(name: &str) -> Vec<Frame> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/audio")
        .join(name);
    let mut reader = hound::WavReader::open(&path).expect("fixture");
    let mut samples: Vec<i16> = reader
        .samples::<i16>()
        .collect::<Result<_, _>>()
        .expect("16-bit");
    samples.extend(std::iter::repeat_n(0, 12_000));
    samples
        .chunks_exact(160)
        .enumerate()
        .map(|(i, c)| {
            Frame::from_samples(SampleRate::Hz8000, MediaTime(i as u64 * 160), c).expect("frame")
        })
        .collect()
}

/// When the call reported the caller's turn starting and ending.
fn turn_times(config: &Config) -> (Option<Duration>, Option<Duration>) {
    let mut call = CallCore::new(call_config(config));
    let (mut started, mut stopped) = (None, None);
    for (i, frame) in caller_frames("caller_01.wav").iter().enumerate() {
        let now = TICK * (i as u32 + 1);
        let mulaw: Vec<u8> = frame.samples().iter().map(|&s| ulaw_encode(s)).collect();
        call.on_caller_frame(now, frame, &mulaw);
        while let Some(out) = call.poll_output() {
            match out {
                CallOutput::CallerTurn { started: true } => {
                    started.get_or_insert(now);
                }
                CallOutput::CallerTurn { started: false } => {
                    stopped.get_or_insert(now);
                }
                _ => {}
            }
        }
    }
    (started, stopped)
}

#[test]
fn vad_min_speech_ms_sets_when_the_callers_turn_starts() {
    let (quick, _) = turn_times(&config("[media]\nvad_min_speech_ms = 60\n", &[]));
    let (slow, _) = turn_times(&config("[media]\nvad_min_speech_ms = 200\n", &[]));
    let (quick, slow) = (quick.expect("turn starts"), slow.expect("turn starts"));
    // The 200 ms run of speech cannot end before the 60 ms one does plus
    // the 140 ms between them.
    assert!(
        slow >= quick + Duration::from_millis(140),
        "60 ms: {quick:?}, 200 ms: {slow:?}"
    );
}

#[test]
fn the_min_speech_env_override_reaches_the_call() {
    let from_env = config("", &[("WARMLINE_MEDIA__VAD_MIN_SPEECH_MS", "200")]);
    assert_eq!(call_config(&from_env).vad.onset.min_speech_ms, 200);
    let (default_start, _) = turn_times(&config("", &[]));
    let (env_start, _) = turn_times(&from_env);
    assert!(
        env_start.expect("starts") >= default_start.expect("starts") + Duration::from_millis(140),
        "default {default_start:?}, env {env_start:?}"
    );
}

#[test]
fn vad_hangover_ms_sets_when_the_callers_turn_ends() {
    let (_, short) = turn_times(&config("[media]\nvad_hangover_ms = 300\n", &[]));
    let (_, long) = turn_times(&config("[media]\nvad_hangover_ms = 900\n", &[]));
    let (short, long) = (short.expect("turn ends"), long.expect("turn ends"));
    assert!(
        long >= short + Duration::from_millis(600),
        "300 ms: {short:?}, 900 ms: {long:?}"
    );
}

fn vad_events(vad: CallerVadConfig) -> Vec<VadEvent> {
    let mut vad = CallerVad::new(vad);
    ["caller_05.wav", "noise_brown_m40.wav", "caller_12.wav"]
        .iter()
        .flat_map(|n| caller_frames(n))
        .enumerate()
        .filter_map(|(i, mut f)| {
            f.set_timestamp(MediaTime(i as u64 * 160));
            vad.push(&f).expect("8 kHz")
        })
        .collect()
}

#[test]
fn vad_kind_selects_the_detector_the_call_runs() {
    let webrtc = call_config(&config("[media]\nvad = \"webrtc\"\n", &[])).vad;
    let earshot = call_config(&config("[media]\nvad = \"earshot\"\n", &[])).vad;
    assert_eq!(
        earshot.detector,
        DetectorKind::Earshot(super::EARSHOT_THRESHOLD)
    );
    let webrtc_events = vad_events(webrtc);
    let earshot_events = vad_events(earshot);
    assert!(!webrtc_events.is_empty() && !earshot_events.is_empty());
    // The earshot pipeline hears the recordings as a directly built earshot
    // pipeline does, and not as the WebRTC one does.
    assert_eq!(
        earshot_events,
        vad_events(CallerVadConfig {
            detector: DetectorKind::Earshot(super::EARSHOT_THRESHOLD),
            ..CallerVadConfig::default()
        })
    );
    assert_ne!(earshot_events, webrtc_events);
}

#[test]
fn the_call_answers_a_turn_with_the_media_vad_settings() {
    // warmline decides when a caller's turn ends (decision 0010) and asks
    // the model (here the demo agent, which has no ears) to answer: with a
    // longer hangover, later.
    let answer_after = |toml: &str| {
        let mut call = CallCore::new(crate::call::CallConfig {
            greeting: None,
            ..call_config(&config(toml, &[]))
        });
        call.on_model_event(Duration::ZERO, ModelEvent::Ready);
        call.on_stream_start(Duration::ZERO);
        let mut frames = caller_frames("caller_01.wav");
        let n = frames.len() as u64;
        frames.extend((n..n + 100).map(|i| Frame::silence(SampleRate::Hz8000, MediaTime(i * 160))));
        for (i, frame) in frames.iter().enumerate() {
            let now = TICK * (i as u32 + 1);
            let mulaw: Vec<u8> = frame.samples().iter().map(|&s| ulaw_encode(s)).collect();
            call.on_caller_frame(now, frame, &mulaw);
            call.on_tick(now);
            while let Some(out) = call.poll_output() {
                if out == CallOutput::Model(ModelCommand::CreateResponse { instructions: None }) {
                    return Some(now);
                }
            }
        }
        None
    };
    let short = answer_after("[media]\nvad_hangover_ms = 300\n").expect("answers");
    let long = answer_after("[media]\nvad_hangover_ms = 900\n").expect("answers");
    assert!(
        long >= short + Duration::from_millis(600),
        "300 ms: {short:?}, 900 ms: {long:?}"
    );
}

#[test]
fn the_assembled_server_gives_sip_calls_the_media_settings_and_the_demo_mulaw() {
    let config = config(
        "[media]\nvad_min_speech_ms = 200\njitter_min_ms = 20\njitter_max_ms = 40\n\
         [model]\nbackend = \"demo\"\naudio_format = \"pcm24k\"\n",
        &[],
    );
    let app = crate::app::build(
        &config,
        &crate::config::Secrets::default(),
        crate::http::AppState::new(),
    )
    .expect("builds");
    let sip = app.sip.expect("SIP is on by default");
    assert_eq!(sip.call.vad.onset.min_speech_ms, 200);
    assert_eq!((sip.jitter.min_depth_ms, sip.jitter.max_depth_ms), (20, 40));
    // The demo agent runs in-process and speaks μ-law whatever the key.
    assert_eq!(sip.session.input_format, crate::model::AudioFormat::Pcmu);
    assert_eq!(
        sip.call.model_audio,
        crate::call::model_audio::ModelAudioFormats::default()
    );
    // With OpenAI, the key reaches both the session and the call.
    let openai = Config {
        model: crate::config::ModelConfig {
            backend: crate::config::ModelBackend::Openai,
            ..config.model.clone()
        },
        ..config.clone()
    };
    let secrets = crate::config::Secrets {
        openai_api_key: Some("sk-test".into()),
        ..Default::default()
    };
    let app = crate::app::build(&openai, &secrets, crate::http::AppState::new()).expect("builds");
    let sip = app.sip.expect("SIP");
    let pcm = crate::model::AudioFormat::Pcm16 { rate: 24_000 };
    assert_eq!(
        (sip.session.input_format, sip.session.output_format),
        (pcm, pcm)
    );
    assert_eq!(
        (sip.call.model_audio.input, sip.call.model_audio.output),
        (pcm, pcm)
    );
}
