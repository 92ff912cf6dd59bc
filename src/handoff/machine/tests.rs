//! Every path of the escalation in simulated time: the directory is the
//! real in-process one, driven by the test the way the shell drives it.

use super::*;
use crate::config::{AgentAfterBridge, RepConfig};
use crate::handoff::card::Urgency;
use crate::handoff::presence::{InProcessDirectory, Presence, RepDirectory};

struct Sim {
    t0: Instant,
    now: Instant,
    dir: InProcessDirectory,
    esc: Escalation,
    log: Vec<Action>,
    /// What the attached rep answers on.
    kind: RepKind,
    /// The room refuses the rep's leg.
    attach_fails: bool,
}

fn config(brief: bool) -> EscalationConfig {
    EscalationConfig {
        queue_max_wait: Duration::from_secs(120),
        ring_timeout: Duration::from_secs(20),
        announce_every: Duration::from_secs(30),
        brief,
        phone_brief: true,
        agent_after_bridge: AgentAfterBridge::Close,
    }
}

fn rep(id: &str) -> RepId {
    RepId(id.into())
}

impl Sim {
    fn new(config: EscalationConfig, reps: &[&str]) -> Sim {
        let reps: Vec<RepConfig> = reps
            .iter()
            .map(|id| RepConfig {
                id: id.to_string(),
                name: id.to_string(),
                skills: vec![],
                token_env: format!("T_{id}"),
                sip_password_env: None,
                sip_uri: None,
                outbound: None,
            })
            .collect();
        let dir = InProcessDirectory::new(&reps, Duration::from_secs(10), &|_| None);
        let card = ScreenPop {
            call_id: "call-1".into(),
            caller: "+14155550100".into(),
            skill: "default".into(),
            ..ScreenPop::default()
        };
        let request = EscalateRequest {
            reason: "wants a refund".into(),
            summary: Some("Refund for order 42".into()),
            urgency: Urgency::High,
        };
        let t0 = Instant::now();
        Sim {
            t0,
            now: t0,
            dir,
            esc: Escalation::new(config, &request, card),
            log: Vec::new(),
            kind: RepKind::Browser,
            attach_fails: false,
        }
    }

    fn presence(&mut self, id: &str, p: Presence) {
        self.dir
            .set_presence(&rep(id), p, self.now)
            .expect("known rep");
        self.esc.on_reps_changed(self.now);
        self.drain();
    }

    /// Does what the shell does with each action: claims against the
    /// directory, releases reps; everything is logged.
    fn drain(&mut self) {
        while let Some(action) = self.esc.poll_action() {
            match &action {
                Action::Claim { skill, exclude } => {
                    let claim = self.dir.claim(skill, "call-1", exclude, self.now);
                    self.log.push(action.clone());
                    self.esc.on_claim(claim, self.now);
                    continue;
                }
                Action::AttachRep { rep } => {
                    let rep = rep.clone();
                    self.log.push(action);
                    if self.attach_fails {
                        self.esc.on_attach_failed(&rep, self.now);
                    } else {
                        self.esc.on_rep_attached(&rep, self.kind, self.now);
                    }
                    continue;
                }
                Action::Release { rep, how } => self.dir.release(rep, *how, self.now),
                Action::LeaveQueue { skill } => self.dir.leave_queue(skill, "call-1"),
                _ => {}
            }
            self.log.push(action);
        }
    }

    fn start(&mut self) {
        self.esc.start(self.now);
        self.drain();
    }

    /// Advances simulated time to `t` (seconds after start), firing every
    /// deadline on the way.
    fn advance_to(&mut self, secs: f64) {
        let target = self.t0 + Duration::from_secs_f64(secs);
        while let Some(deadline) = self.esc.poll_timeout() {
            if deadline > target {
                break;
            }
            self.now = deadline.max(self.now);
            self.esc.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
    }

    fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.log)
    }

    fn tool_result(&self) -> Option<&Value> {
        self.log.iter().find_map(|a| match a {
            Action::ToolResult(v) => Some(v),
            _ => None,
        })
    }
}

fn kinds(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .map(|a| match a {
            Action::Claim { .. } => "claim",
            Action::RequestSummary => "summary",
            Action::HoldCaller => "hold",
            Action::AnnouncePosition(_) => "announce",
            Action::LeaveQueue { .. } => "leave",
            Action::Ring { .. } => "ring",
            Action::UpdateCard { .. } => "update",
            Action::CancelRing { .. } => "cancel",
            Action::Release { .. } => "release",
            Action::ToolResult(_) => "result",
            Action::AttachRep { .. } => "attach",
            Action::StartBrief { .. } => "brief",
            Action::Bridge { .. } => "bridge",
            Action::DetachRep { .. } => "detach",
            Action::ResumeAgent => "resume",
            Action::HandBack { .. } => "handback",
            Action::EndCall => "end",
        })
        .collect()
}

#[test]
fn nobody_logged_in_answers_the_tool_at_once_without_hold() {
    let mut sim = Sim::new(config(true), &["ana"]);
    sim.start();
    let result = sim.tool_result().expect("answered at once").clone();
    assert_eq!(result["status"], "unavailable");
    assert_eq!(result["reason"], "nobody_logged_in");
    assert_eq!(result["urgency"], "high");
    assert!(result["message"]
        .as_str()
        .is_some_and(|m| m.contains("callback")));
    assert_eq!(kinds(&sim.take()), ["claim", "result"]);
    assert_eq!(sim.esc.phase(), Phase::Done);
    assert_eq!(sim.esc.poll_timeout(), None);
}

#[test]
fn an_available_rep_rings_with_the_card_then_accept_briefs_and_bridges() {
    let mut sim = Sim::new(config(true), &["ana"]);
    sim.presence("ana", Presence::Available);
    sim.start();
    let actions = sim.take();
    assert_eq!(kinds(&actions), ["claim", "hold", "summary", "ring"]);
    let Some(Action::Ring { rep: r, card }) = actions.last() else {
        panic!("ring");
    };
    assert_eq!(r, &rep("ana"));
    assert_eq!(card.caller, "+14155550100");
    assert_eq!(card.summary.as_deref(), Some("Refund for order 42"));
    assert_eq!(card.reason, "wants a refund");
    // The model's summary replaces the tool's while it rings.
    sim.esc.on_summary(CallSummary {
        summary: "Caller wants a refund for order 42.".into(),
        next_action: "Approve the refund".into(),
    });
    sim.drain();
    let Some(Action::UpdateCard { card, .. }) = sim.take().pop() else {
        panic!("update");
    };
    assert_eq!(card.next_action.as_deref(), Some("Approve the refund"));

    sim.advance_to(3.0);
    sim.esc.on_accept(&rep("ana"), sim.now);
    sim.drain();
    let actions = sim.take();
    assert_eq!(kinds(&actions), ["attach", "brief", "result"]);
    let Action::ToolResult(result) = &actions[2] else {
        panic!("result");
    };
    assert_eq!(result["status"], "connected");
    assert_eq!(result["summary"], "Caller wants a refund for order 42.");
    assert_eq!(sim.esc.phase(), Phase::Briefing);

    sim.advance_to(10.0);
    sim.esc.on_brief_done(sim.now);
    sim.drain();
    assert_eq!(
        sim.take(),
        [Action::Bridge {
            rep: rep("ana"),
            agent: AgentAfterBridge::Close
        }]
    );
    assert_eq!(sim.esc.phase(), Phase::Bridged);
}

#[test]
fn without_the_brief_accept_bridges_at_once() {
    let mut sim = Sim::new(config(false), &["ana"]);
    sim.presence("ana", Presence::Available);
    sim.start();
    sim.take();
    sim.esc.on_accept(&rep("ana"), sim.now);
    sim.drain();
    assert_eq!(kinds(&sim.take()), ["attach", "result", "bridge"]);
}

#[test]
fn a_phone_rep_is_briefed_by_default_when_browser_reps_are_not() {
    let mut sim = Sim::new(config(false), &["ana"]);
    sim.kind = RepKind::Phone;
    sim.presence("ana", Presence::Available);
    sim.start();
    sim.take();
    sim.esc.on_accept(&rep("ana"), sim.now);
    sim.drain();
    assert_eq!(kinds(&sim.take()), ["attach", "brief", "result"]);
    assert_eq!(sim.esc.phase(), Phase::Briefing);
}

#[test]
fn a_brief_that_never_ends_bridges_after_its_time_box() {
    let mut sim = Sim::new(config(true), &["ana"]);
    sim.presence("ana", Presence::Available);
    sim.start();
    sim.esc.on_accept(&rep("ana"), sim.now);
    sim.drain();
    sim.take();
    sim.advance_to(BRIEF_MAX.as_secs_f64() - 0.5);
    assert!(sim.take().is_empty());
    sim.advance_to(BRIEF_MAX.as_secs_f64());
    assert_eq!(kinds(&sim.take()), ["bridge"]);
}

#[test]
fn a_decline_rings_the_next_rep_and_a_second_decline_returns_to_the_ai() {
    let mut sim = Sim::new(config(true), &["ana", "bo"]);
    sim.presence("ana", Presence::Available);
    sim.advance_to(1.0);
    sim.presence("bo", Presence::Available);
    sim.start();
    let first = sim.take();
    assert!(first.contains(&Action::Ring {
        rep: rep("ana"),
        card: Box::new(sim.esc.card().clone())
    }));
    sim.esc.on_decline(&rep("ana"), sim.now);
    sim.drain();
    let second = sim.take();
    assert_eq!(kinds(&second), ["release", "claim", "ring"]);
    assert!(matches!(&second[2], Action::Ring { rep: r, .. } if r == &rep("bo")));
    sim.esc.on_decline(&rep("bo"), sim.now);
    sim.drain();
    let last = sim.take();
    assert_eq!(kinds(&last), ["release", "claim", "resume", "result"]);
    let Action::ToolResult(result) = &last[3] else {
        panic!("result")
    };
    assert_eq!(result["reason"], "nobody_answered");
    // Declining keeps a rep available.
    let ana = sim.dir.status(&rep("ana"), sim.now).expect("known");
    assert_eq!((ana.presence, ana.engaged), (Presence::Available, None));
}

#[test]
fn a_ring_timeout_sets_the_rep_away_and_returns_to_the_ai() {
    let mut sim = Sim::new(config(true), &["ana"]);
    sim.presence("ana", Presence::Available);
    sim.start();
    sim.take();
    sim.advance_to(19.9);
    assert!(sim.take().is_empty(), "still ringing");
    sim.advance_to(20.0);
    let actions = sim.take();
    assert_eq!(
        kinds(&actions),
        ["cancel", "release", "claim", "resume", "result"]
    );
    assert_eq!(sim.tool_result(), None, "taken");
    let Action::ToolResult(result) = &actions[4] else {
        panic!("result")
    };
    assert_eq!(result["reason"], "nobody_answered");
    let ana = sim.dir.status(&rep("ana"), sim.now).expect("known");
    assert_eq!(ana.presence, Presence::Away);
}

#[test]
fn busy_reps_make_the_caller_wait_on_hold_hearing_its_position_until_a_rep_frees() {
    let mut sim = Sim::new(config(true), &["ana"]);
    sim.presence("ana", Presence::Busy);
    sim.start();
    assert_eq!(kinds(&sim.take()), ["claim", "hold", "summary", "announce"]);
    sim.advance_to(29.0);
    let retries = sim.take();
    assert!(retries.iter().all(|a| matches!(a, Action::Claim { .. })));
    assert_eq!(retries.len(), 29, "one retry a second");
    sim.advance_to(30.0);
    let at_30 = sim.take();
    assert!(at_30.contains(&Action::AnnouncePosition(1)), "{at_30:?}");
    sim.advance_to(45.5);
    sim.take();
    sim.presence("ana", Presence::Available);
    let actions = sim.take();
    assert_eq!(kinds(&actions), ["claim", "ring"], "no second hold");
    assert_eq!(sim.dir.position("default", "call-1"), None);
}

#[test]
fn a_busy_queue_reaching_its_maximum_wait_returns_to_the_ai_and_leaves_the_queue() {
    let mut sim = Sim::new(config(true), &["ana"]);
    sim.presence("ana", Presence::Away);
    sim.start();
    sim.take();
    sim.advance_to(119.0);
    let announced = sim
        .take()
        .iter()
        .filter(|a| matches!(a, Action::AnnouncePosition(_)))
        .count();
    assert_eq!(announced, 3, "at 30, 60 and 90 s");
    sim.advance_to(120.0);
    let actions = sim.take();
    assert_eq!(kinds(&actions), ["leave", "resume", "result"]);
    let Action::ToolResult(result) = &actions[2] else {
        panic!("result")
    };
    assert_eq!(result["reason"], "queue_timeout");
    assert_eq!(sim.dir.position("default", "call-1"), None);
    assert_eq!(sim.esc.phase(), Phase::Done);
}

#[test]
fn a_zero_maximum_wait_never_holds_a_caller_in_the_queue() {
    let mut cfg = config(true);
    cfg.queue_max_wait = Duration::ZERO;
    let mut sim = Sim::new(cfg, &["ana"]);
    sim.presence("ana", Presence::Busy);
    sim.start();
    assert_eq!(
        kinds(&sim.take()),
        ["claim", "hold", "summary", "leave", "resume", "result"]
    );
}

#[test]
fn a_rep_hang_up_after_the_bridge_ends_the_call_and_starts_wrap_up() {
    let mut sim = Sim::new(config(false), &["ana"]);
    sim.presence("ana", Presence::Available);
    sim.start();
    sim.esc.on_accept(&rep("ana"), sim.now);
    sim.drain();
    sim.take();
    sim.advance_to(60.0);
    sim.esc.on_rep_hangup(&rep("ana"), sim.now);
    sim.drain();
    assert_eq!(kinds(&sim.take()), ["release", "end"]);
    // Hung up later: the tool was answered long ago.
    sim.esc.on_caller_hangup(sim.now);
    sim.drain();
    assert!(sim.take().is_empty());
    let ana = sim.dir.status(&rep("ana"), sim.now).expect("known");
    assert_eq!(ana.wrap_up_ms, 10_000);
}

#[test]
fn a_hand_back_tells_the_ai_what_happened_with_the_rep_s_note() {
    let mut sim = Sim::new(config(false), &["ana"]);
    sim.presence("ana", Presence::Available);
    sim.start();
    sim.esc.on_accept(&rep("ana"), sim.now);
    sim.drain();
    sim.take();
    sim.esc
        .on_hand_back(&rep("ana"), Some("refund approved, ref R-7"), sim.now);
    sim.drain();
    let actions = sim.take();
    assert_eq!(kinds(&actions), ["release", "handback"]);
    let Action::HandBack { note, .. } = &actions[1] else {
        panic!("handback")
    };
    assert!(note.contains("refund approved, ref R-7"), "{note}");
    assert!(note.contains("handed the call back"), "{note}");
}

#[test]
fn a_caller_hang_up_withdraws_the_ring_and_frees_the_rep() {
    let mut sim = Sim::new(config(true), &["ana"]);
    sim.presence("ana", Presence::Available);
    sim.start();
    sim.take();
    sim.esc.on_caller_hangup(sim.now);
    sim.drain();
    assert_eq!(kinds(&sim.take()), ["cancel", "release", "result"]);
    let ana = sim.dir.status(&rep("ana"), sim.now).expect("known");
    assert_eq!(ana.engaged, None);
    // A late accept does nothing.
    sim.esc.on_accept(&rep("ana"), sim.now);
    sim.drain();
    assert!(sim.take().is_empty());
}

#[test]
fn a_caller_hang_up_while_waiting_leaves_the_queue() {
    let mut sim = Sim::new(config(true), &["ana"]);
    sim.presence("ana", Presence::Busy);
    sim.start();
    sim.take();
    assert_eq!(sim.dir.position("default", "call-1"), Some(1));
    sim.esc.on_caller_hangup(sim.now);
    sim.drain();
    assert_eq!(kinds(&sim.take()), ["leave", "result"]);
    assert_eq!(sim.dir.position("default", "call-1"), None);
}

#[test]
fn a_rep_leaving_during_the_brief_resumes_the_ai_with_a_note() {
    let mut sim = Sim::new(config(true), &["ana"]);
    sim.presence("ana", Presence::Available);
    sim.start();
    sim.esc.on_accept(&rep("ana"), sim.now);
    sim.drain();
    sim.take();
    sim.esc.on_rep_hangup(&rep("ana"), sim.now);
    sim.drain();
    assert_eq!(kinds(&sim.take()), ["detach", "release", "handback"]);
}

#[test]
fn accept_or_decline_from_a_rep_that_is_not_ringing_is_ignored() {
    let mut sim = Sim::new(config(true), &["ana", "bo"]);
    sim.presence("ana", Presence::Available);
    sim.start();
    sim.take();
    sim.esc.on_accept(&rep("bo"), sim.now);
    sim.esc.on_decline(&rep("bo"), sim.now);
    sim.drain();
    assert!(sim.take().is_empty());
    assert_eq!(sim.esc.phase(), Phase::Ringing);
}

#[test]
fn exactly_one_tool_result_whatever_happens() {
    let mut sim = Sim::new(config(true), &["ana"]);
    sim.presence("ana", Presence::Available);
    sim.start();
    sim.esc.on_accept(&rep("ana"), sim.now);
    sim.esc.on_decline(&rep("ana"), sim.now);
    sim.esc.on_caller_hangup(sim.now);
    sim.drain();
    let results = sim
        .take()
        .iter()
        .filter(|a| matches!(a, Action::ToolResult(_)))
        .count();
    assert_eq!(results, 1);
}

#[test]
fn a_rep_whose_audio_cannot_join_is_released_and_the_next_rep_rings() {
    let mut sim = Sim::new(config(true), &["ana", "bo"]);
    sim.presence("ana", Presence::Available);
    sim.advance_to(1.0);
    sim.presence("bo", Presence::Available);
    sim.start();
    sim.take();
    sim.attach_fails = true;
    sim.esc.on_accept(&rep("ana"), sim.now);
    sim.drain();
    let actions = sim.take();
    assert_eq!(
        kinds(&actions),
        ["attach", "cancel", "release", "claim", "ring"]
    );
    assert!(matches!(&actions[4], Action::Ring { rep: r, .. } if r == &rep("bo")));
    assert_eq!(sim.tool_result(), None, "the tool waits for the outcome");
}

#[test]
fn an_attach_that_never_completes_is_given_up_after_its_time_box() {
    let mut sim = Sim::new(config(true), &["ana"]);
    sim.presence("ana", Presence::Available);
    sim.start();
    sim.take();
    // The shell never reports the attach.
    sim.esc.on_accept(&rep("ana"), sim.now);
    assert_eq!(
        sim.esc.poll_action(),
        Some(Action::AttachRep { rep: rep("ana") })
    );
    sim.advance_to(ATTACH_MAX.as_secs_f64());
    let actions = sim.take();
    assert_eq!(
        kinds(&actions),
        ["cancel", "release", "claim", "resume", "result"]
    );
    let ana = sim.dir.status(&rep("ana"), sim.now).expect("known");
    assert_eq!((ana.presence, ana.engaged), (Presence::Available, None));
}

#[test]
fn a_rep_lost_mid_bridge_hands_the_caller_back_to_the_ai_saying_so() {
    let mut sim = Sim::new(config(false), &["ana"]);
    sim.presence("ana", Presence::Available);
    sim.start();
    sim.esc.on_accept(&rep("ana"), sim.now);
    sim.drain();
    sim.take();
    sim.esc.on_rep_lost(&rep("ana"), sim.now);
    sim.drain();
    let actions = sim.take();
    assert_eq!(kinds(&actions), ["release", "handback"], "not an end");
    let Action::HandBack { note, .. } = &actions[1] else {
        panic!("handback")
    };
    assert!(note.contains("dropped"), "{note}");
}

#[test]
fn a_rep_lost_while_ringing_counts_as_a_decline() {
    let mut sim = Sim::new(config(true), &["ana", "ben"]);
    sim.presence("ana", Presence::Available);
    sim.start();
    sim.presence("ben", Presence::Available);
    sim.take();
    sim.esc.on_rep_lost(&rep("ana"), sim.now);
    sim.drain();
    let mut lost = Sim::new(config(true), &["ana", "ben"]);
    lost.presence("ana", Presence::Available);
    lost.start();
    lost.presence("ben", Presence::Available);
    lost.take();
    lost.esc.on_decline(&rep("ana"), lost.now);
    lost.drain();
    assert_eq!(kinds(&sim.take()), kinds(&lost.take()));
}
