//! No dead air while a tool hangs (issue 11): the real `CallDriver`, the
//! real tool sidecar and a local tool server that accepts and never
//! answers, in simulated time (tokio's paused clock). The caller's leg
//! records every frame it is sent, so the silence it hears is measured
//! where the caller would hear it.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use warmline::call::driver::{CallDriver, CallSetup};
use warmline::call::leg::{CallerLeg, LegError, LegEvent, Sent};
use warmline::call::PlaybackTracking;
use warmline::config::Config;
use warmline::media::g711::{ulaw_decode, ulaw_encode};
use warmline::model::link::{Backend, CustomModel, ModelLink, ModelSession};
use warmline::model::{ModelCommand, ModelEvent, ResponseStatus};
use warmline::tools::Sidecar;

const SECRET: &str = "whsec_filler_test";
const TIMEOUT_MS: u64 = 4_000;
const FILLER_AFTER_MS: u64 = 500;

/// What one frame sent to the caller sounded like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sound {
    Silence,
    Filler,
    Agent,
}

struct TestLeg {
    events: mpsc::Receiver<LegEvent>,
    sent: Rc<RefCell<Vec<(Instant, Sound)>>>,
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
        let peak = mulaw
            .iter()
            .map(|&c| i32::from(ulaw_decode(c)).abs())
            .max()
            .unwrap_or(0);
        let sound = match peak {
            p if p > 3_000 => Sound::Agent,
            p if p > 100 => Sound::Filler,
            _ => Sound::Silence,
        };
        self.sent.borrow_mut().push((Instant::now(), sound));
        Ok(Sent::Now)
    }

    async fn send_idle(&mut self, _due: Instant) -> Result<Sent, LegError> {
        Ok(Sent::Nothing)
    }

    async fn clear(&mut self) -> Result<(), LegError> {
        Ok(())
    }

    async fn hang_up(&mut self) {}
}

fn loud(ms: usize) -> Vec<u8> {
    (0..ms * 8)
        .map(|i| {
            let t = i as f32 / 8000.0;
            ulaw_encode((6000.0 * (2.0 * std::f32::consts::PI * 180.0 * t).sin()) as i16)
        })
        .collect()
}

type Opened = (mpsc::Receiver<ModelCommand>, mpsc::Sender<ModelLink>);

#[tokio::test(start_paused = true)]
async fn a_hanging_tool_gets_the_filler_in_time_no_long_silence_and_a_timeout_error() {
    // A tool server that takes every connection and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let toml = format!(
        r#"
[call]
silence_reprompt_secs = 0
silence_hangup_secs = 0

[[tools]]
name = "slow_lookup"
description = "Looks an order up, slowly."
kind = "webhook"
url = "http://127.0.0.1:{port}/hang"
timeout_ms = {TIMEOUT_MS}
filler_after_ms = {FILLER_AFTER_MS}
"#
    );
    let env = vec![("WARMLINE_TOOLS_SECRET".to_owned(), SECRET.to_owned())];
    let config = Config::from_toml_and_env(&toml, std::path::Path::new("t.toml"), env)
        .expect("the config passes check");
    let lookup = |name: &str| (name == "WARMLINE_TOOLS_SECRET").then(|| SECRET.to_owned());
    let sidecar =
        Sidecar::new(&config.tools, &lookup, tokio::runtime::Handle::current()).expect("sidecar");

    let (open_tx, mut open_rx) = mpsc::unbounded_channel::<Opened>();
    let backend = Backend::Custom(CustomModel(Arc::new(move |_config| {
        let (commands, cmd_rx) = mpsc::channel(512);
        let (ev_tx, events) = mpsc::channel(64);
        let _ = open_tx.send((cmd_rx, ev_tx));
        ModelSession { commands, events }
    })));
    let session = warmline::app::session_config(&config);
    let mut call = warmline::app::call_config(&config, &session);
    call.tracking = PlaybackTracking::Released { allowance_ms: 20 };
    let setup = CallSetup {
        tool_entries: None,
        events: None,
        registry: None,
        backend,
        session,
        call,
        ingress: "test",
        drain: warmline::drain::Drain::default(),
        identity: warmline::call::tools::CallIdentity::mint("test", "filler", "", ""),
        tools: Some(Arc::new(sidecar)),
    };

    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            let driver = CallDriver::prewarm(setup);
            let (leg_tx, leg_rx) = mpsc::channel(64);
            let sent = Rc::new(RefCell::new(Vec::new()));
            let mut leg = TestLeg {
                events: leg_rx,
                sent: sent.clone(),
            };
            let call = tokio::task::spawn_local(async move { driver.run(&mut leg).await });
            let (mut commands, model) = open_rx.recv().await.expect("session opened");
            let say = |e| ModelLink::Event(e);
            model.send(say(ModelEvent::Ready)).await.expect("listens");
            leg_tx.send(LegEvent::Started).await.expect("listens");
            assert!(matches!(
                commands.recv().await,
                Some(ModelCommand::CreateResponse { .. })
            ));
            // "Let me look that up" (300 ms), then the function call.
            for event in [
                ModelEvent::ResponseStarted {
                    response_id: "resp_1".into(),
                },
                ModelEvent::AudioDelta {
                    response_id: "resp_1".into(),
                    item_id: "item_1".into(),
                    content_index: 0,
                    audio: loud(300),
                },
                ModelEvent::AudioDone {
                    response_id: "resp_1".into(),
                    item_id: "item_1".into(),
                },
                ModelEvent::FunctionCall {
                    call_id: "call_1".into(),
                    name: "slow_lookup".into(),
                    arguments: r#"{"order":"A17"}"#.into(),
                },
                ModelEvent::ResponseDone {
                    response_id: "resp_1".into(),
                    status: ResponseStatus::Completed,
                },
            ] {
                model.send(say(event)).await.expect("listens");
            }
            let called = Instant::now();
            // The model gets the tool's result: an error at the timeout.
            let output = loop {
                match tokio::time::timeout(Duration::from_secs(30), commands.recv()).await {
                    Ok(Some(ModelCommand::FunctionOutput { call_id, output })) => {
                        assert_eq!(call_id, "call_1");
                        break output;
                    }
                    Ok(Some(_)) => {}
                    other => panic!("no function output: {other:?}"),
                }
            };
            let answered = Instant::now();
            let took = answered - called;
            assert!(
                took >= Duration::from_millis(TIMEOUT_MS)
                    && took <= Duration::from_millis(TIMEOUT_MS + 100),
                "the error came {took:?} after the call"
            );
            let output: serde_json::Value = serde_json::from_str(&output).expect("JSON");
            assert_eq!(output["error"]["kind"], "timeout", "{output}");
            // The model answers 300 ms later.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let answer_at = Instant::now();
            for event in [
                ModelEvent::ResponseStarted {
                    response_id: "resp_2".into(),
                },
                ModelEvent::AudioDelta {
                    response_id: "resp_2".into(),
                    item_id: "item_2".into(),
                    content_index: 0,
                    audio: loud(600),
                },
            ] {
                model.send(say(event)).await.expect("listens");
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            drop(leg_tx);
            call.await.expect("the call ends");

            let sent = sent.borrow();
            let first_filler = sent
                .iter()
                .find(|(t, s)| *t >= called && *s == Sound::Filler)
                .map(|(t, _)| *t)
                .expect("the caller hears the filler");
            let start = first_filler - called;
            assert!(
                start <= Duration::from_millis(FILLER_AFTER_MS + 40),
                "the filler started {start:?} after the tool call"
            );
            // The longest stretch without sound from the tool call to the
            // answer, as the caller's leg got it.
            let mut last_sound = called;
            let mut longest = Duration::ZERO;
            for (t, s) in sent.iter().filter(|(t, _)| *t >= called && *t <= answer_at) {
                if *s != Sound::Silence {
                    longest = longest.max(*t - last_sound);
                    last_sound = *t;
                }
            }
            longest = longest.max(answer_at - last_sound);
            assert!(
                longest < Duration::from_millis(1_500),
                "{longest:?} of silence"
            );
            println!(
                "filler started {} ms after the tool call; longest silence {} ms; \
                 error result {} ms after the call",
                start.as_millis(),
                longest.as_millis(),
                took.as_millis()
            );
            // The answer follows; the filler never plays over or after it.
            let first_answer = sent
                .iter()
                .find(|(t, s)| *t >= answer_at && *s == Sound::Agent)
                .map(|(t, _)| *t)
                .expect("the answer plays");
            assert!(first_answer - answer_at <= Duration::from_millis(40));
            assert!(sent
                .iter()
                .all(|(t, s)| *t < first_answer || *s != Sound::Filler));
        })
        .await;
}
