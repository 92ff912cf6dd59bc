//! A silent caller (issue 12), end to end in simulated time: the real
//! `CallDriver` with the offline demo agent and a caller leg that sends
//! nothing but silence. The agent asks whether the caller is still there
//! after `silence_reprompt_secs` and says goodbye and hangs up after
//! `silence_hangup_secs`; a caller who speaks restarts the clock (the core
//! tests cover that, frame by frame).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use warmline::call::driver::{CallDriver, CallSetup};
use warmline::call::leg::{CallerLeg, LegError, LegEvent, Sent};
use warmline::call::PlaybackTracking;
use warmline::config::Config;
use warmline::media::g711::ulaw_decode;
use warmline::model::link::{Backend, DemoRealtime};

#[derive(Default)]
struct Heard {
    /// When each audible frame was sent.
    sound: Vec<Instant>,
    hung_up: Option<Instant>,
}

struct SilentLeg {
    events: mpsc::Receiver<LegEvent>,
    heard: Rc<RefCell<Heard>>,
}

impl CallerLeg for SilentLeg {
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
        if mulaw.iter().any(|&c| ulaw_decode(c).abs() > 200) {
            self.heard.borrow_mut().sound.push(Instant::now());
        }
        Ok(Sent::Now)
    }

    async fn send_idle(&mut self, _due: Instant) -> Result<Sent, LegError> {
        Ok(Sent::Nothing)
    }

    async fn clear(&mut self) -> Result<(), LegError> {
        Ok(())
    }

    async fn hang_up(&mut self) {
        self.heard.borrow_mut().hung_up = Some(Instant::now());
    }
}

/// Runs of sound with gaps under half a second: (start, end).
fn bursts(sound: &[Instant]) -> Vec<(Instant, Instant)> {
    let mut out: Vec<(Instant, Instant)> = Vec::new();
    for &t in sound {
        match out.last_mut() {
            Some((_, end)) if t - *end < Duration::from_millis(500) => *end = t,
            _ => out.push((t, t)),
        }
    }
    out
}

#[tokio::test(start_paused = true)]
async fn a_silent_caller_is_asked_after_silence_reprompt_secs_and_hung_up_after_silence_hangup_secs(
) {
    let toml = "[call]\nsilence_reprompt_secs = 5\nsilence_hangup_secs = 12\n";
    let config =
        Config::from_toml_and_env(toml, std::path::Path::new("t.toml"), Vec::new()).expect("valid");
    let session = warmline::app::session_config(&config);
    let mut call = warmline::app::call_config(&config, &session);
    call.tracking = PlaybackTracking::Released { allowance_ms: 20 };
    let setup = CallSetup {
        tool_entries: None,
        events: None,
        registry: None,
        backend: Backend::Demo(DemoRealtime),
        session,
        call,
        ingress: "test",
        drain: warmline::drain::Drain::default(),
        identity: warmline::call::tools::CallIdentity::mint("test", "silent", "", ""),
        tools: None,
    };
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            let driver = CallDriver::prewarm(setup);
            let (leg_tx, leg_rx) = mpsc::channel(64);
            let heard = Rc::new(RefCell::new(Heard::default()));
            let mut leg = SilentLeg {
                events: leg_rx,
                heard: heard.clone(),
            };
            let call = tokio::task::spawn_local(async move { driver.run(&mut leg).await });
            leg_tx.send(LegEvent::Started).await.expect("listens");
            // The caller sends silence (and nothing else) until hung up on.
            let caller = tokio::task::spawn_local(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                loop {
                    tick.tick().await;
                    if leg_tx
                        .send(LegEvent::Audio(Box::new([0xFF; 160])))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            });
            tokio::time::timeout(Duration::from_secs(60), call)
                .await
                .expect("the call ends on its own")
                .expect("no panic");
            caller.abort();
            let heard = heard.borrow();
            let bursts = bursts(&heard.sound);
            // Greeting, re-prompt, goodbye (a second re-prompt would come
            // within 5 s of the goodbye: skipped).
            assert_eq!(bursts.len(), 3, "{bursts:?}");
            let greeting_end = bursts[0].1;
            // Each demo prompt starts and ends with 100 ms of silence, and
            // its speech fades in and out below the threshold: sound is
            // measured up to 350 ms later than the clock starts and stops.
            let reprompt = bursts[1].0 - greeting_end;
            assert!(
                reprompt >= Duration::from_secs(5) && reprompt <= Duration::from_millis(5_350),
                "re-prompt {reprompt:?} after the greeting"
            );
            let goodbye = bursts.last().expect("goodbye");
            let asked = goodbye.0 - greeting_end;
            assert!(
                asked >= Duration::from_secs(12) && asked <= Duration::from_millis(12_350),
                "goodbye {asked:?} after the greeting"
            );
            let hung_up = heard.hung_up.expect("warmline hung up");
            assert!(
                hung_up >= goodbye.1 && hung_up - goodbye.1 <= Duration::from_millis(300),
                "hung up {:?} after the goodbye's last sound",
                hung_up - goodbye.1
            );
        })
        .await;
}
