use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use super::record::{Outcome, Record, StoredCall};
use super::spool::Spool;
use super::writer::StoreSink;
use crate::audit::{Action, AuditEntry};
use crate::call::events::{CallEnded, CallEvents, EndReason, Speaker, TranscriptLine};
use crate::call::tools::CallIdentity;
use crate::config::store::StoreTarget;

fn temp(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("warmline-store-unit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn ended(reason: EndReason, agent_spoke: bool) -> CallEnded {
    let transcript = agent_spoke
        .then(|| TranscriptLine {
            item_id: "i1".into(),
            speaker: Speaker::Agent,
            text: "Hello.".into(),
            at: "2026-12-04T00:00:00.000Z".into(),
            offset_ms: 0,
            interrupted: false,
            heard_ms: None,
        })
        .into_iter()
        .collect();
    CallEnded {
        call: CallIdentity::mint("sip", "c1", "a", "b"),
        reason,
        detail: None,
        ended_at: "2026-12-04T00:00:05.000Z".into(),
        duration_ms: 5_000,
        transcript,
        tool_calls: Vec::new(),
        omitted: 0,
        summary: None,
        escalation: None,
        recording_url: None,
        csat: None,
        versions: Default::default(),
        quality: Default::default(),
    }
}

#[test]
fn the_outcome_follows_the_escalation_then_the_end_reason() {
    let of = |e: &CallEnded| Outcome::of(e);
    assert_eq!(of(&ended(EndReason::AgentEnded, true)), Outcome::Contained);
    assert_eq!(
        of(&ended(EndReason::CallerHungUp, true)),
        Outcome::Contained
    );
    assert_eq!(
        of(&ended(EndReason::CallerHungUp, false)),
        Outcome::Abandoned
    );
    assert_eq!(
        of(&ended(EndReason::ModelUnreachable, false)),
        Outcome::Failed
    );
    assert_eq!(of(&ended(EndReason::ConnectionLost, true)), Outcome::Failed);
    let mut escalated = ended(EndReason::CallerHungUp, true);
    escalated.escalation = Some(json!({"reason": "billing", "outcome": "no_answer"}));
    assert_eq!(of(&escalated), Outcome::Escalated);
    escalated.escalation =
        Some(json!({"reason": "billing", "answered_at": "2026-12-04T00:00:03Z"}));
    assert_eq!(of(&escalated), Outcome::Transferred);
}

#[test]
fn a_survey_answer_outside_1_to_5_is_not_kept() {
    let mut e = ended(EndReason::AgentEnded, true);
    e.csat = Some(9);
    assert_eq!(StoredCall::from_ended(e).csat, None);
}

fn audit_entry(who: &str) -> AuditEntry {
    AuditEntry {
        id: uuid::Uuid::now_v7().to_string(),
        at: "2026-12-04T00:00:03.000Z".into(),
        who: who.into(),
        action: Action::Whisper,
        call_id: Some("0192f1a0-0000-7000-8000-000000000000".into()),
        detail: json!({"text": "offer a callback"}),
    }
}

#[test]
fn the_spool_replays_in_order_while_new_records_go_to_a_fresh_file() {
    let dir = temp("spool");
    let spool = Spool::open(dir.join("spool.jsonl"));
    assert!(spool.is_empty());
    let a: Record = StoredCall::from_ended(ended(EndReason::AgentEnded, true)).into();
    let b: Record = audit_entry("Ada").into();
    spool
        .append(&[a.clone(), b.clone()], true)
        .expect("appends");
    assert_eq!(spool.records(), 2);
    let replay = spool.take_for_replay().expect("moves").expect("a file");
    // Appended while the replay runs: kept apart, not lost.
    let c: Record = StoredCall::from_ended(ended(EndReason::Drained, true)).into();
    spool
        .append(std::slice::from_ref(&c), false)
        .expect("appends");
    assert_eq!(spool.read(&replay).expect("reads"), [a, b]);
    spool.replayed(&replay, 2).expect("removes");
    assert_eq!(spool.records(), 1);
    assert!(!spool.is_empty());
    // A restart counts what is left.
    spool.sync().expect("syncs");
    let reopened = Spool::open(dir.join("spool.jsonl"));
    assert_eq!(reopened.records(), 1);
    let next = reopened.take_for_replay().expect("moves").expect("a file");
    assert_eq!(reopened.read(&next).expect("reads"), [c]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_spool_line_of_the_release_before_audit_entries_replays_as_a_call() {
    let call = StoredCall::from_ended(ended(EndReason::AgentEnded, true));
    let line = serde_json::to_string(&call).expect("JSON");
    let record: Record = serde_json::from_str(&line).expect("reads");
    assert_eq!(record, Record::from(call));
    let entry = audit_entry("Grace");
    let line = serde_json::to_string(&Record::from(entry.clone())).expect("JSON");
    assert!(line.starts_with(r#"{"audit":"#), "{line}");
    assert_eq!(
        serde_json::from_str::<Record>(&line).expect("reads"),
        Record::from(entry)
    );
}

#[test]
fn a_torn_last_line_is_skipped_and_the_rest_replayed() {
    let dir = temp("torn");
    let spool = Spool::open(dir.join("spool.jsonl"));
    let a: Record = StoredCall::from_ended(ended(EndReason::AgentEnded, true)).into();
    spool
        .append(std::slice::from_ref(&a), true)
        .expect("appends");
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("spool.jsonl"))
        .expect("opens");
    file.write_all(b"{\"id\":\"half a rec").expect("writes");
    // The next run appends after the torn line, on a line of its own.
    let next_run = Spool::open(dir.join("spool.jsonl"));
    let b: Record = StoredCall::from_ended(ended(EndReason::CallerHungUp, true)).into();
    next_run
        .append(std::slice::from_ref(&b), true)
        .expect("appends");
    let replay = next_run.take_for_replay().expect("moves").expect("a file");
    assert_eq!(next_run.read(&replay).expect("reads"), [a, b]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn with_the_database_unreachable_every_record_lands_in_the_spool() {
    let dir = temp("unreachable");
    // A port nobody listens on: connection refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let target = StoreTarget::Postgres(format!("postgres://x@127.0.0.1:{port}/x"));
    let (sink, _history) = StoreSink::start_with(target, dir.join("spool.jsonl")).expect("starts");
    for _ in 0..50 {
        sink.call_ended(ended(EndReason::AgentEnded, true));
    }
    assert!(sink.close(Duration::from_secs(10)), "the writer stops");
    assert!(!sink.is_ready());
    assert_eq!(sink.spooled(), 50);
    let spool = Spool::open(dir.join("spool.jsonl"));
    assert_eq!(spool.records(), 50);
    let _ = std::fs::remove_dir_all(dir);
}
