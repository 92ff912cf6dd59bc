//! A model session that stops reading its commands (a stalled socket)
//! while the caller talks over the agent: the call driver drops caller
//! audio (counted in the metric) but delivers the barge-in's cancel and
//! truncate, in order, once the session reads again. Runs the real
//! `CallDriver` in simulated time against a model played over its channels.

mod support {
    pub mod wav;
}

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use warmline::call::driver::{CallDriver, CallSetup};
use warmline::call::leg::{CallerLeg, LegError, LegEvent, Sent};
use warmline::call::{CallConfig, PlaybackTracking};
use warmline::media::g711::ulaw_encode;
use warmline::model::link::{Backend, CustomModel, ModelLink, ModelSession};
use warmline::model::{ModelCommand, ModelEvent};

/// The fake session's command queue: small, so it fills in a third of a
/// second of caller audio (the real link's holds 512).
const QUEUE: usize = 16;
const TICK: Duration = Duration::from_millis(20);

#[derive(Default)]
struct Played {
    /// Agent frames sent to the caller before the first clear.
    frames_before_clear: u64,
    cleared: bool,
}

struct TestLeg {
    events: mpsc::Receiver<LegEvent>,
    played: Rc<RefCell<Played>>,
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
        _mulaw: &[u8],
        _mark: Option<&str>,
    ) -> Result<Sent, LegError> {
        let mut played = self.played.borrow_mut();
        if !played.cleared {
            played.frames_before_clear += 1;
        }
        Ok(Sent::Now)
    }

    async fn send_idle(&mut self, _due: Instant) -> Result<Sent, LegError> {
        Ok(Sent::Nothing)
    }

    async fn clear(&mut self) -> Result<(), LegError> {
        self.played.borrow_mut().cleared = true;
        Ok(())
    }

    async fn hang_up(&mut self) {}
}

type Opened = (mpsc::Receiver<ModelCommand>, mpsc::Sender<ModelLink>);

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/audio")
        .join(name)
}

fn metric(rendered: &str, name: &str) -> f64 {
    rendered
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(start_paused = true)]
async fn a_stalled_model_socket_gets_cancel_and_truncate_in_order_and_dropped_audio_is_counted() {
    let metrics = warmline::metrics::install().expect("the only recorder of this test binary");
    let (open_tx, mut open_rx) = mpsc::unbounded_channel::<Opened>();
    let backend = Backend::Custom(CustomModel(Arc::new(move |_config| {
        let (commands, cmd_rx) = mpsc::channel(QUEUE);
        let (ev_tx, events) = mpsc::channel(64);
        let _ = open_tx.send((cmd_rx, ev_tx));
        ModelSession { commands, events }
    })));
    let setup = CallSetup {
        tool_entries: None,
        backend,
        session: warmline::app::session_config(&warmline::config::Config::default()),
        call: CallConfig {
            tracking: PlaybackTracking::Released { allowance_ms: 0 },
            ..CallConfig::default()
        },
        ingress: "test",
        drain: warmline::drain::Drain::default(),
        identity: warmline::call::tools::CallIdentity::mint("test", "stall", "", ""),
        tools: None,
        events: None,
        registry: None,
    };
    let label: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("overlap_01.json")).expect("label"))
            .expect("json");
    let agent = support::wav::fixture_mulaw(label["agent_source"].as_str().expect("agent"));
    let caller: Vec<[u8; 160]> = support::wav::frames_8k(&fixture("overlap_01.wav"))
        .iter()
        .map(|f| {
            let mut mulaw = [0u8; 160];
            for (d, &s) in mulaw.iter_mut().zip(f.samples()) {
                *d = ulaw_encode(s);
            }
            mulaw
        })
        .collect();

    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            let driver = CallDriver::prewarm(setup);
            let (leg_tx, leg_rx) = mpsc::channel(64);
            let played = Rc::new(RefCell::new(Played::default()));
            let mut leg = TestLeg {
                events: leg_rx,
                played: played.clone(),
            };
            let call = tokio::task::spawn_local(async move { driver.run(&mut leg).await });
            let (mut commands, model_events) = open_rx.recv().await.expect("session opened");
            model_events
                .send(ModelLink::Event(ModelEvent::Ready))
                .await
                .expect("call listens");
            leg_tx.send(LegEvent::Started).await.expect("call listens");
            assert!(
                matches!(
                    commands.recv().await,
                    Some(ModelCommand::CreateResponse { .. })
                ),
                "the greeting is asked for first"
            );
            // The model answers at once, then its socket stalls: nothing
            // reads the command queue until the caller has finished.
            let response = |e| ModelLink::Event(e);
            model_events
                .send(response(ModelEvent::ResponseStarted {
                    response_id: "resp_1".into(),
                }))
                .await
                .expect("call listens");
            for chunk in agent.chunks(1_600) {
                model_events
                    .send(response(ModelEvent::AudioDelta {
                        response_id: "resp_1".into(),
                        item_id: "item_1".into(),
                        content_index: 0,
                        audio: chunk.to_vec(),
                    }))
                    .await
                    .expect("call listens");
            }
            for frame in &caller {
                leg_tx
                    .send(LegEvent::Audio(Box::new(*frame)))
                    .await
                    .expect("call listens");
                tokio::time::sleep(TICK).await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert!(played.borrow().cleared, "the caller's speech barged in");

            // The socket drains: everything queued arrives.
            let mut received = Vec::new();
            while let Ok(Some(c)) =
                tokio::time::timeout(Duration::from_millis(200), commands.recv()).await
            {
                received.push(c);
            }
            let cancel = received
                .iter()
                .position(|c| *c == ModelCommand::CancelResponse)
                .expect("the cancel was delivered");
            let truncate = received
                .iter()
                .position(|c| matches!(c, ModelCommand::Truncate { .. }))
                .expect("the truncate was delivered");
            assert!(cancel < truncate, "cancel before truncate");
            // Control, in order: the barge-in's cancel and truncate, then at
            // most the answer to the caller's turn, which warmline asks for
            // itself once that turn ends (decision 0010). Nothing else.
            let control: Vec<&ModelCommand> = received
                .iter()
                .filter(|c| !matches!(c, ModelCommand::AppendAudio(_)))
                .collect();
            assert!(
                matches!(
                    control.as_slice(),
                    [ModelCommand::CancelResponse, ModelCommand::Truncate { .. }]
                        | [
                            ModelCommand::CancelResponse,
                            ModelCommand::Truncate { .. },
                            ModelCommand::CreateResponse { instructions: None }
                        ]
                ),
                "cancel, truncate, then at most the turn's answer: {control:?}"
            );
            let Some(ModelCommand::Truncate {
                item_id,
                audio_end_ms,
                ..
            }) = received.get(truncate)
            else {
                unreachable!("found above");
            };
            assert_eq!(item_id, "item_1");
            let played_ms = played.borrow().frames_before_clear * 20;
            assert!(
                audio_end_ms.abs_diff(played_ms) <= 20,
                "truncated to {audio_end_ms} ms, {played_ms} ms played"
            );
            // Only audio was dropped, and each dropped frame is counted.
            let appended = received
                .iter()
                .filter(|c| matches!(c, ModelCommand::AppendAudio(_)))
                .count() as f64;
            let dropped = metric(
                &metrics.render(),
                "warmline_model_audio_frames_dropped_total",
            );
            assert!(
                dropped > 100.0,
                "a 4 s stall drops most caller audio: {dropped}"
            );
            assert_eq!(
                appended + dropped,
                caller.len() as f64,
                "every caller frame was either delivered or counted as dropped"
            );
            drop(leg_tx);
            call.await.expect("call ends");
        })
        .await;
}
