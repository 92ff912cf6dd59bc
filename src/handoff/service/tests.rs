//! The shell with a fake room: what it asks of the call, in order, and
//! what the rep's softphone receives.

use std::sync::Mutex;

use tokio::sync::{mpsc, watch};

use super::*;
use crate::config::{AgentAfterBridge, RepConfig};
use crate::handoff::card::CardLine;
use crate::handoff::presence::{InProcessDirectory, Presence};
use crate::handoff::room::CallSnapshot;

/// Records every command; `ended` fires when the test says so.
#[derive(Default)]
struct FakeRoom {
    log: Mutex<Vec<String>>,
    ended: Mutex<Option<watch::Receiver<bool>>>,
}

impl FakeRoom {
    fn record(&self, what: String) -> BoxFuture<'static, Result<(), RoomError>> {
        self.log.lock().expect("log").push(what);
        Box::pin(async { Ok(()) })
    }
    fn log(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }
}

impl RoomControl for FakeRoom {
    fn snapshot(&self) -> BoxFuture<'static, Result<CallSnapshot, RoomError>> {
        Box::pin(async {
            Ok(CallSnapshot {
                transcript: vec![CardLine {
                    who: "caller".into(),
                    text: "I want my money back.".into(),
                }],
                records: vec![],
            })
        })
    }
    fn summarize(&self) -> BoxFuture<'static, Result<CallSummary, RoomError>> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(CallSummary {
                summary: "Refund for order 42.".into(),
                next_action: "Approve it".into(),
            })
        })
    }
    fn hold_caller(&self) -> BoxFuture<'static, Result<(), RoomError>> {
        self.record("hold".into())
    }
    fn announce_position(&self, position: usize) -> BoxFuture<'static, Result<(), RoomError>> {
        self.record(format!("announce {position}"))
    }
    fn attach_rep(&self, rep: &RepId) -> BoxFuture<'static, Result<(), RoomError>> {
        self.record(format!("attach {rep}"))
    }
    fn brief(&self, rep: &RepId) -> BoxFuture<'static, Result<(), RoomError>> {
        self.log.lock().expect("log").push(format!("brief {rep}"));
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        })
    }
    fn bridge(
        &self,
        rep: &RepId,
        agent: AgentAfterBridge,
    ) -> BoxFuture<'static, Result<(), RoomError>> {
        self.record(format!("bridge {rep} {agent:?}"))
    }
    fn detach_rep(&self, rep: &RepId) -> BoxFuture<'static, Result<(), RoomError>> {
        self.record(format!("detach {rep}"))
    }
    fn resume_agent(&self) -> BoxFuture<'static, Result<(), RoomError>> {
        self.record("resume".into())
    }
    fn hand_back(&self, rep: &RepId, note: String) -> BoxFuture<'static, Result<(), RoomError>> {
        self.record(format!("hand_back {rep}: {note}"))
    }
    fn end_call(&self) -> BoxFuture<'static, Result<(), RoomError>> {
        self.record("end".into())
    }
    fn ended(&self) -> BoxFuture<'static, ()> {
        let rx = self.ended.lock().expect("ended").clone();
        Box::pin(async move {
            match rx {
                Some(mut rx) => {
                    let _ = rx.wait_for(|e| *e).await;
                }
                None => std::future::pending().await,
            }
        })
    }
}

struct OneRoom(Arc<FakeRoom>);

impl Rooms for OneRoom {
    fn room(&self, _call_id: &str) -> Option<Arc<dyn RoomControl>> {
        Some(self.0.clone())
    }
}

fn setup(brief: bool) -> (Handoff, Arc<FakeRoom>) {
    let reps = [RepConfig {
        id: "ana".into(),
        name: "Ana".into(),
        skills: vec!["billing".into()],
        token_env: "T".into(),
        sip_password_env: None,
        sip_uri: None,
        outbound: None,
    }];
    let directory = Arc::new(InProcessDirectory::new(
        &reps,
        Duration::from_secs(10),
        &|_| Some("tok".into()),
    ));
    let room = Arc::new(FakeRoom::default());
    let config = EscalationConfig {
        queue_max_wait: Duration::from_secs(120),
        ring_timeout: Duration::from_secs(20),
        announce_every: Duration::from_secs(30),
        brief,
        phone_brief: true,
        agent_after_bridge: AgentAfterBridge::Close,
    };
    let skills = HashMap::from([("billing-agent".to_owned(), "billing".to_owned())]);
    let handoff = Handoff::new(
        directory,
        Arc::new(RepHub::default()),
        Arc::new(OneRoom(room.clone())),
        config,
        skills,
    );
    (handoff, room)
}

fn call() -> CallIdentity {
    let mut call = CallIdentity::mint("twilio", "CA1", "+14155550100", "+14155550199");
    call.agent = Some("billing-agent".into());
    call
}

fn login(handoff: &Handoff) -> mpsc::Receiver<RepPush> {
    let ana = RepId("ana".into());
    let (_, rx) = handoff.hub().connect(&ana);
    handoff
        .directory()
        .set_presence(&ana, Presence::Available, now())
        .expect("known");
    rx
}

#[tokio::test]
async fn with_nobody_logged_in_the_tool_answers_within_a_second_without_touching_the_call() {
    let (handoff, room) = setup(true);
    let started = std::time::Instant::now();
    let result = handoff
        .escalate(&call(), r#"{"reason":"angry","urgency":"high"}"#)
        .await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(result["status"], "unavailable");
    assert_eq!(result["reason"], "nobody_logged_in");
    assert!(room.log().is_empty(), "{:?}", room.log());
}

#[tokio::test]
async fn without_a_room_a_logged_in_rep_is_not_rung() {
    let (handoff, _) = setup(true);
    let handoff = Handoff::new(
        handoff.directory().clone(),
        handoff.hub().clone(),
        Arc::new(crate::handoff::room::NoRooms),
        handoff.0.config.clone(),
        handoff.0.skills.clone(),
    );
    let mut pushes = login(&handoff);
    let result = handoff.escalate(&call(), r#"{"reason":"x"}"#).await;
    assert_eq!(result["reason"], "transfer_not_ready");
    assert!(pushes.try_recv().is_err());
}

#[tokio::test(start_paused = true)]
async fn a_rep_accepts_hears_the_brief_talks_and_hangs_up() {
    let (handoff, room) = setup(true);
    let mut pushes = login(&handoff);
    let tool = tokio::spawn(
        handoff.escalate(&call(), r#"{"reason":"refund","summary":"wants a refund"}"#),
    );
    let Some(RepPush::Ring {
        card,
        ring_timeout_ms,
    }) = pushes.recv().await
    else {
        panic!("ring");
    };
    assert_eq!(ring_timeout_ms, 20_000);
    assert_eq!(card.skill, "billing");
    assert_eq!(card.summary.as_deref(), Some("wants a refund"));
    assert_eq!(card.transcript[0].text, "I want my money back.");
    // The model's summary replaces the tool's on the ringing card.
    let Some(RepPush::Card { card }) = pushes.recv().await else {
        panic!("card");
    };
    assert_eq!(card.next_action.as_deref(), Some("Approve it"));
    let ana = RepId("ana".into());
    assert!(
        handoff
            .hub()
            .answer(&ana, &card.call_id, RepInput::Accept)
            .await
    );
    let result = tool.await.expect("tool task");
    assert_eq!(result["status"], "connected");
    assert_eq!(result["summary"], "Refund for order 42.");
    let Some(RepPush::CallState { state: "brief", .. }) = pushes.recv().await else {
        panic!("brief");
    };
    let Some(RepPush::CallState {
        state: "bridged", ..
    }) = pushes.recv().await
    else {
        panic!("bridged after the brief's 5 s");
    };
    assert!(
        handoff
            .hub()
            .answer(&ana, &card.call_id, RepInput::Hangup)
            .await
    );
    let Some(RepPush::Presence { status }) = pushes.recv().await else {
        panic!("presence");
    };
    assert_eq!(status.wrap_up_ms, 10_000);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        room.log(),
        ["hold", "attach ana", "brief ana", "bridge ana Close", "end"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_decline_resumes_the_agent_with_a_tool_result() {
    let (handoff, room) = setup(false);
    let mut pushes = login(&handoff);
    let tool = tokio::spawn(handoff.escalate(&call(), r#"{"reason":"refund"}"#));
    let Some(RepPush::Ring { card, .. }) = pushes.recv().await else {
        panic!("ring");
    };
    let ana = RepId("ana".into());
    assert!(
        handoff
            .hub()
            .answer(&ana, &card.call_id, RepInput::Decline)
            .await
    );
    let result = tool.await.expect("tool task");
    assert_eq!(result["reason"], "nobody_answered");
    assert_eq!(room.log(), ["hold", "resume"]);
}

#[tokio::test(start_paused = true)]
async fn a_hand_back_gives_the_agent_the_rep_s_note() {
    let (handoff, room) = setup(false);
    let mut pushes = login(&handoff);
    let tool = tokio::spawn(handoff.escalate(&call(), r#"{"reason":"refund"}"#));
    let Some(RepPush::Ring { card, .. }) = pushes.recv().await else {
        panic!("ring");
    };
    let ana = RepId("ana".into());
    handoff
        .hub()
        .answer(&ana, &card.call_id, RepInput::Accept)
        .await;
    assert_eq!(tool.await.expect("tool")["status"], "connected");
    let note = RepInput::HandBack {
        note: Some("refund approved".into()),
    };
    handoff.hub().answer(&ana, &card.call_id, note).await;
    loop {
        match pushes.recv().await {
            Some(RepPush::CallEnded { reason, .. }) => {
                assert_eq!(reason, "handed_back");
                break;
            }
            Some(_) => continue,
            None => panic!("pushes ended"),
        }
    }
    let log = room.log();
    assert!(
        log.last()
            .is_some_and(|l| l.starts_with("hand_back ana:") && l.contains("refund approved")),
        "{log:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_caller_hang_up_while_ringing_withdraws_the_ring() {
    let (handoff, room) = setup(true);
    let (ended_tx, ended_rx) = watch::channel(false);
    *room.ended.lock().expect("ended") = Some(ended_rx);
    let mut pushes = login(&handoff);
    let tool = tokio::spawn(handoff.escalate(&call(), r#"{"reason":"refund"}"#));
    let Some(RepPush::Ring { .. }) = pushes.recv().await else {
        panic!("ring");
    };
    ended_tx.send_replace(true);
    let mut cancelled = false;
    while let Some(push) = pushes.recv().await {
        if let RepPush::RingCancelled { .. } = push {
            cancelled = true;
        }
        if let RepPush::Presence { status } = push {
            assert_eq!(status.engaged, None);
            break;
        }
    }
    assert!(cancelled);
    // The tool still gets its one answer (nobody reads it: the call is gone).
    assert_eq!(tool.await.expect("tool")["reason"], "caller_hung_up");
}

#[tokio::test(start_paused = true)]
async fn a_second_escalation_of_a_call_in_transfer_answers_in_progress() {
    let (handoff, _room) = setup(true);
    let mut pushes = login(&handoff);
    let call = call();
    let first = tokio::spawn(handoff.escalate(&call, r#"{"reason":"refund"}"#));
    let Some(RepPush::Ring { card, .. }) = pushes.recv().await else {
        panic!("ring");
    };
    let second = handoff.escalate(&call, r#"{"reason":"again"}"#).await;
    assert_eq!(second["status"], "in_progress");
    let ana = RepId("ana".into());
    handoff
        .hub()
        .answer(&ana, &card.call_id, RepInput::Decline)
        .await;
    assert_eq!(first.await.expect("tool")["reason"], "nobody_answered");
    // Over: the call may escalate again.
    let third = tokio::spawn(handoff.escalate(&call, r#"{"reason":"third"}"#));
    loop {
        match pushes.recv().await {
            Some(RepPush::Ring { .. }) => break,
            Some(_) => continue,
            None => panic!("pushes ended"),
        }
    }
    third.abort();
}
