//! Legs joining a live call's room (issue 13, decision 0024), in process
//! and in simulated time: the real `CallDriver` with the offline demo
//! agent, a Twilio-like caller leg (μ-law frames in, frames and marks out,
//! marks echoed as Twilio does), the in-process registry and its
//! `CallHandle`, and linked test legs whose edge tasks send a tone and
//! record what the room gives them. The model's side is tapped to hear
//! what the agent hears.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use warmline::call::driver::{CallDriver, CallSetup};
use warmline::call::leg::{CallerLeg, LegError, LegEvent, Sent};
use warmline::call::registry::{
    CallHandle, CallRegistry, CallState, InProcessRegistry, LegId, LegRole,
};
use warmline::call::room::{LegLink, LegPort, LoopedClip};
use warmline::call::{CallStats, PlaybackTracking};
use warmline::config::Config;
use warmline::media::frame::{Frame, MediaTime, SampleRate};
use warmline::media::g711::{ulaw_decode, ulaw_encode};
use warmline::media::mixer::RoutePolicy;
use warmline::model::link::{Backend, CustomModel, DemoRealtime, ModelSession, RealtimeModel};
use warmline::model::ModelCommand;

const CALLER_HZ: f64 = 400.0;
const LINKED_HZ: f64 = 2_000.0;
const HOLD_HZ: f64 = 3_000.0;
const AMP: f64 = 6_000.0;

/// What a listener got: (time since the call started, 20 ms of PCM).
type Heard = Vec<(Duration, Vec<i16>)>;
/// What the model was sent (μ-law), with when.
type ModelTap = Arc<Mutex<Vec<(Duration, Vec<u8>)>>>;

fn sine(hz: f64, rate: f64, start: usize, n: usize) -> Vec<i16> {
    (start..start + n)
        .map(|i| (AMP * (2.0 * std::f64::consts::PI * hz * i as f64 / rate).sin()) as i16)
        .collect()
}

/// Amplitude of `hz` in `x`.
fn level(x: &[i16], hz: f64, rate: f64) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let (mut re, mut im) = (0.0, 0.0);
    for (i, &s) in x.iter().enumerate() {
        let p = 2.0 * std::f64::consts::PI * hz * i as f64 / rate;
        re += f64::from(s) * p.cos();
        im += f64::from(s) * p.sin();
    }
    2.0 * (re * re + im * im).sqrt() / x.len() as f64
}

fn rms(x: &[i16]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// The samples heard between `from` and `to` (ms since the start).
fn window(heard: &Heard, from: u64, to: u64) -> Vec<i16> {
    heard
        .iter()
        .filter(|(t, _)| *t >= Duration::from_millis(from) && *t < Duration::from_millis(to))
        .flat_map(|(_, s)| s.iter().copied())
        .collect()
}

/// A Twilio-like caller leg: sends what the test queues, records the
/// downlink, echoes every mark at once (Twilio echoes a mark when the
/// audio before it has played).
struct TwilioLikeLeg {
    events: mpsc::Receiver<LegEvent>,
    marks: VecDeque<String>,
    start: Instant,
    downlink: Rc<RefCell<Heard>>,
}

impl CallerLeg for TwilioLikeLeg {
    async fn next_event(&mut self) -> LegEvent {
        if let Some(mark) = self.marks.pop_front() {
            return LegEvent::Mark(mark);
        }
        self.events
            .recv()
            .await
            .unwrap_or_else(|| LegEvent::Ended("test over".into()))
    }

    async fn send_frame(
        &mut self,
        _due: Instant,
        mulaw: &[u8],
        mark: Option<&str>,
    ) -> Result<Sent, LegError> {
        let pcm = mulaw.iter().map(|&c| ulaw_decode(c)).collect();
        self.downlink
            .borrow_mut()
            .push((Instant::now() - self.start, pcm));
        if let Some(mark) = mark {
            self.marks.push_back(mark.to_owned());
        }
        Ok(Sent::Now)
    }

    async fn send_idle(&mut self, _due: Instant) -> Result<Sent, LegError> {
        Ok(Sent::Nothing)
    }

    async fn clear(&mut self) -> Result<(), LegError> {
        self.marks.clear();
        Ok(())
    }

    async fn hang_up(&mut self) {}
}

/// A running call and what everyone heard.
struct Fixture {
    handle: CallHandle,
    registry: Arc<InProcessRegistry>,
    start: Instant,
    downlink: Rc<RefCell<Heard>>,
    /// What the model was sent (μ-law), with when.
    model_heard: ModelTap,
    sessions: Arc<AtomicUsize>,
    call: tokio::task::JoinHandle<CallStats>,
    caller: tokio::task::JoinHandle<()>,
}

/// The demo agent behind a tap on its commands.
fn tapped_demo(start: Instant, heard: ModelTap, sessions: Arc<AtomicUsize>) -> Backend {
    Backend::Custom(CustomModel(Arc::new(move |config| {
        sessions.fetch_add(1, Ordering::SeqCst);
        let inner = DemoRealtime.open(config);
        let (tx, mut rx) = mpsc::channel::<ModelCommand>(64);
        let heard = heard.clone();
        let commands = inner.commands;
        tokio::task::spawn_local(async move {
            while let Some(command) = rx.recv().await {
                if let ModelCommand::AppendAudio(audio) = &command {
                    heard
                        .lock()
                        .expect("not poisoned")
                        .push((Instant::now() - start, audio.clone()));
                }
                if commands.send(command).await.is_err() {
                    break;
                }
            }
        });
        ModelSession {
            commands: tx,
            events: inner.events,
        }
    })))
}

/// Starts a call whose caller sends `caller(tick)` every 20 ms.
async fn start_call(caller: impl Fn(u64) -> Vec<i16> + 'static) -> Fixture {
    let config =
        Config::from_toml_and_env("", std::path::Path::new("t.toml"), Vec::new()).expect("valid");
    let session = warmline::app::session_config(&config);
    let mut call = warmline::app::call_config(&config, &session);
    call.tracking = PlaybackTracking::Marks;
    // The demo asks nothing of a silent caller within these tests.
    call.silence_reprompt_secs = 0;
    call.silence_hangup_secs = 0;
    let start = Instant::now();
    let model_heard = Arc::new(Mutex::new(Vec::new()));
    let sessions = Arc::new(AtomicUsize::new(0));
    let registry = Arc::new(InProcessRegistry::new());
    let setup = CallSetup {
        tool_entries: None,
        events: None,
        registry: Some(registry.clone()),
        backend: tapped_demo(start, model_heard.clone(), sessions.clone()),
        session,
        call,
        ingress: "twilio",
        drain: warmline::drain::Drain::default(),
        identity: warmline::call::tools::CallIdentity::mint("twilio", "CA_room", "", ""),
        tools: None,
    };
    let driver = CallDriver::prewarm(setup);
    let (leg_tx, leg_rx) = mpsc::channel(64);
    let downlink = Rc::new(RefCell::new(Vec::new()));
    let mut leg = TwilioLikeLeg {
        events: leg_rx,
        marks: VecDeque::new(),
        start,
        downlink: downlink.clone(),
    };
    let call = tokio::task::spawn_local(async move { driver.run(&mut leg).await });
    leg_tx.send(LegEvent::Started).await.expect("listens");
    let caller = tokio::task::spawn_local(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for t in 0.. {
            tick.tick().await;
            let mut frame = [0xFFu8; 160];
            for (d, s) in frame.iter_mut().zip(caller(t)) {
                *d = ulaw_encode(s);
            }
            if leg_tx.send(LegEvent::Audio(Box::new(frame))).await.is_err() {
                break;
            }
        }
    });
    let handle = loop {
        tokio::time::sleep(Duration::from_millis(1)).await;
        if let Some(summary) = registry.list(Default::default()).first() {
            break registry.handle(&summary.id).expect("a handle");
        }
    };
    Fixture {
        handle,
        registry,
        start,
        downlink,
        model_heard,
        sessions,
        call,
        caller,
    }
}

impl Fixture {
    async fn until(&self, ms: u64) {
        tokio::time::sleep_until(self.start + Duration::from_millis(ms)).await;
    }

    async fn end(self) -> CallStats {
        self.handle.hang_up().await.expect("the call is up");
        let stats = self.call.await.expect("no panic");
        self.caller.abort();
        stats
    }

    fn model_heard(&self, from: u64, to: u64) -> Vec<i16> {
        self.model_heard
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|(t, _)| *t >= Duration::from_millis(from) && *t < Duration::from_millis(to))
            .flat_map(|(_, a)| a.iter().map(|&c| ulaw_decode(c)).collect::<Vec<_>>())
            .collect()
    }

    fn legs(&self) -> Vec<(u32, LegRole)> {
        let id = self.handle.id();
        self.registry
            .get(&id)
            .expect("listed")
            .legs
            .iter()
            .map(|l| (l.id.0, l.role))
            .collect()
    }

    fn state(&self) -> CallState {
        self.registry.get(&self.handle.id()).expect("listed").state
    }
}

/// A linked leg that sends `tone` (if any) every tick and records its mixes.
fn test_leg(start: Instant, tone: Option<f64>) -> (LegLink, Arc<Mutex<Heard>>) {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let record = heard.clone();
    let link = LegLink::new("test", move |mut port: LegPort| async move {
        let mut n = 0usize;
        while let Some(mix) = port.next_mix().await {
            record
                .lock()
                .expect("not poisoned")
                .push((Instant::now() - start, mix.samples().to_vec()));
            if let Some(hz) = tone {
                let pcm = sine(hz, 16_000.0, n * 320, 320);
                let frame = Frame::from_samples(SampleRate::Hz16000, MediaTime(0), &pcm)
                    .expect("one frame");
                if port.send_frame(frame).is_err() {
                    break;
                }
            }
            n += 1;
        }
    });
    (link, heard)
}

fn heard_of(heard: &Arc<Mutex<Heard>>) -> Heard {
    heard.lock().expect("not poisoned").clone()
}

/// The caller: silent for 3 s (the greeting plays), then a tone.
fn silence_then_tone(t: u64) -> Vec<i16> {
    if t < 150 {
        vec![0; 160]
    } else {
        sine(CALLER_HZ, 8_000.0, t as usize * 160, 160)
    }
}

async fn in_local(test: impl std::future::Future<Output = ()>) {
    tokio::task::LocalSet::new().run_until(test).await;
}

#[tokio::test(start_paused = true)]
async fn a_monitor_hears_the_callers_tone_and_the_agents_speech_and_is_heard_by_nobody() {
    in_local(async {
        let call = start_call(silence_then_tone).await;
        call.until(300).await;
        let mut events = call.registry.subscribe(&call.handle.id()).expect("listed");
        let (link, heard) = test_leg(call.start, Some(LINKED_HZ));
        let id = call
            .handle
            .attach(LegRole::Monitor, link)
            .await
            .expect("attached");
        assert_eq!(id, LegId(2));
        assert_eq!(
            call.legs(),
            vec![
                (0, LegRole::Caller),
                (1, LegRole::Agent),
                (2, LegRole::Monitor)
            ]
        );
        // Subscribers hear of it.
        let legs_event = loop {
            match events.try_recv() {
                Ok(event) => {
                    let json = serde_json::to_value(&event).expect("JSON");
                    if json["type"] == "legs" {
                        break json;
                    }
                }
                Err(e) => panic!("no legs event: {e:?}"),
            }
        };
        assert_eq!(legs_event["legs"][2]["role"], "monitor", "{legs_event}");
        call.until(4_000).await;
        let monitor = heard_of(&heard);
        // The greeting (the caller is silent): the monitor hears the agent.
        let greeting = window(&monitor, 400, 1_500);
        assert!(
            rms(&greeting) > 300.0,
            "agent speech rms {}",
            rms(&greeting)
        );
        // Then the caller's tone.
        let tone = window(&monitor, 3_200, 4_000);
        assert!(level(&tone, CALLER_HZ, 16_000.0) > AMP / 3.0);
        // Nobody hears the monitor's tone: not the caller, not the agent.
        let downlink = window(&call.downlink.borrow(), 400, 4_000);
        assert!(!downlink.is_empty());
        assert!(level(&downlink, LINKED_HZ, 8_000.0) < 30.0);
        let model = call.model_heard(400, 4_000);
        assert!(
            level(&model, CALLER_HZ, 8_000.0) > AMP / 10.0,
            "the agent hears the caller"
        );
        assert!(level(&model, LINKED_HZ, 8_000.0) < 30.0);
        let stats = call.end().await;
        assert!(stats.room_mixed_ticks > 100, "{stats:?}");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_rep_is_heard_by_the_caller_and_by_the_agent() {
    in_local(async {
        let call = start_call(|_| vec![0; 160]).await;
        call.until(200).await;
        let (link, heard) = test_leg(call.start, Some(LINKED_HZ));
        call.handle
            .attach(LegRole::Rep, link)
            .await
            .expect("attached");
        call.until(3_000).await;
        let downlink = window(&call.downlink.borrow(), 400, 3_000);
        assert!(level(&downlink, LINKED_HZ, 8_000.0) > AMP / 3.0);
        let model = call.model_heard(400, 3_000);
        assert!(
            level(&model, LINKED_HZ, 8_000.0) > AMP / 10.0,
            "the agent hears the rep"
        );
        // The rep hears the agent's greeting.
        assert!(rms(&window(&heard_of(&heard), 400, 1_500)) > 300.0);
        call.end().await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn in_the_brief_the_caller_hears_the_hold_frames_and_the_rep_hears_the_agent() {
    in_local(async {
        let call = start_call(silence_then_tone).await;
        call.until(200).await;
        let (link, heard) = test_leg(call.start, None);
        call.handle
            .attach(LegRole::Rep, link)
            .await
            .expect("attached");
        let hold = sine(HOLD_HZ, 16_000.0, 0, 16_000);
        call.handle
            .set_hold(Some(Box::new(LoopedClip::new_16k(hold.into()))))
            .await
            .expect("set");
        call.handle
            .set_routing(RoutePolicy::brief())
            .await
            .expect("set");
        assert_eq!(call.state(), CallState::Brief);
        call.until(4_000).await;
        let downlink = window(&call.downlink.borrow(), 300, 4_000);
        assert!(level(&downlink, HOLD_HZ, 8_000.0) > AMP / 3.0);
        // The caller does not hear the agent: nothing but the hold tone.
        let residue = rms(&downlink) - level(&downlink, HOLD_HZ, 8_000.0) / 2f64.sqrt();
        assert!(
            residue.abs() < 150.0,
            "more than hold in the caller's ear: {residue}"
        );
        let rep = heard_of(&heard);
        assert!(
            rms(&window(&rep, 400, 1_500)) > 300.0,
            "the rep hears the agent"
        );
        // Nor does the rep or the agent hear the caller's tone.
        assert!(level(&window(&rep, 3_200, 4_000), CALLER_HZ, 16_000.0) < 30.0);
        assert!(level(&call.model_heard(3_200, 4_000), CALLER_HZ, 8_000.0) < 30.0);
        call.end().await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_detached_agent_stops_and_speaks_again_once_it_comes_back() {
    in_local(async {
        let call = start_call(|_| vec![0; 160]).await;
        call.until(200).await;
        let (link, _heard) = test_leg(call.start, None);
        call.handle
            .attach(LegRole::Rep, link)
            .await
            .expect("attached");
        call.until(700).await;
        let speaking = window(&call.downlink.borrow(), 500, 700);
        assert!(rms(&speaking) > 300.0, "the greeting plays");
        call.handle.detach_agent().await.expect("it was in");
        assert_eq!(call.state(), CallState::Bridged);
        assert!(call.legs().iter().all(|(_, r)| *r != LegRole::Agent));
        assert!(call.handle.detach_agent().await.is_err(), "already out");
        call.until(3_000).await;
        // One tick of fade, then nothing from the agent.
        let after = window(&call.downlink.borrow(), 760, 3_000);
        assert!(rms(&after) < 5.0, "the agent still sounds: {}", rms(&after));
        assert_eq!(call.sessions.load(Ordering::SeqCst), 1);
        call.handle
            .attach_agent("The rep answered the billing question and handed the call back.".into())
            .await
            .expect("it was out");
        assert_eq!(call.sessions.load(Ordering::SeqCst), 2, "a new session");
        call.until(5_000).await;
        let back = window(&call.downlink.borrow(), 3_000, 5_000);
        assert!(rms(&back) > 300.0, "the agent speaks again");
        assert_eq!(call.state(), CallState::Live);
        call.end().await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn detaching_a_leg_mid_greeting_steps_no_more_than_the_speech_itself() {
    in_local(async {
        let call = start_call(|_| vec![0; 160]).await;
        call.until(300).await;
        let (link, _heard) = test_leg(call.start, None);
        let id = call
            .handle
            .attach(LegRole::Monitor, link)
            .await
            .expect("attached");
        call.until(900).await;
        call.handle.detach(id).await.expect("in the room");
        assert_eq!(call.legs().len(), 2);
        call.until(1_600).await;
        let downlink = call.downlink.borrow().clone();
        let step = |x: &[i16]| {
            x.windows(2)
                .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
                .max()
                .unwrap_or(0)
        };
        // Around each switch (engage at 300 ms, disengage after 900 ms) the
        // largest step is within the largest step of the speech elsewhere.
        let speech = step(&window(&downlink, 400, 850)).max(step(&window(&downlink, 1_000, 1_600)));
        for at in [300u64, 900] {
            let around = step(&window(&downlink, at - 20, at + 80));
            assert!(
                around <= speech,
                "{around} at {at} ms vs {speech} in the speech"
            );
        }
        call.end().await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_call_with_no_third_leg_keeps_the_direct_path() {
    in_local(async {
        let call = start_call(silence_then_tone).await;
        call.until(4_000).await;
        assert!(rms(&window(&call.downlink.borrow(), 400, 1_500)) > 300.0);
        let stats = call.end().await;
        assert_eq!(stats.room_mixed_ticks, 0, "the mixer engaged");
    })
    .await;
}
