//! The call records store (issue 16), the same tests against the embedded
//! SQLite and against a real PostgreSQL (Debian's `postgresql`, started by
//! the test on a loopback port): a record reads back whole, a replayed
//! record is stored once, lists come newest first, and records handed to
//! the sink while PostgreSQL is down are spooled and stored, once, when
//! it returns. The audit log of supervisor actions (decision 0038) goes
//! the same way: entries read back newest first, by call, once however
//! often replayed, and spooled through an outage; a gated tool call keeps
//! who approved it.

mod support {
    pub mod postgres;
    pub mod scratch;
}

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use warmline::audit::{Action, Actor, Audit, AuditEntry, AuditSink};
use warmline::call::events::{
    CallEnded, CallEvents, CallQuality, EndReason, Speaker, ToolCallRecord, TranscriptLine,
};
use warmline::call::tools::CallIdentity;
use warmline::config::store::StoreTarget;
use warmline::store::writer::StoreSink;
use warmline::store::{Outcome, Record, Store, StoredCall};

/// An audit entry as `who` would leave it, on `call` when given.
fn entry(who: &str, action: Action, call: Option<&str>, at_second: u32) -> AuditEntry {
    let mut entry = Audit::off().record(
        &Actor::supervisor(who, "session-1"),
        action,
        call,
        json!({"text": format!("{who} at {at_second}")}),
    );
    entry.at = format!("2026-12-04T04:00:{at_second:02}.000Z");
    entry
}

/// An ended call of `lines` transcript lines and two tool calls, started
/// `minute` minutes past a fixed hour (so lists have a known order).
fn ended(provider: &str, minute: u32, lines: usize) -> CallEnded {
    let mut call = CallIdentity::mint("twilio", provider, "+15550001111", "+15550002222");
    call.agent = Some("support".into());
    call.started_at = format!("2026-12-04T03:{minute:02}:00.000Z");
    let transcript = (0..lines)
        .map(|i| TranscriptLine {
            item_id: format!("item_{i}"),
            speaker: if i % 2 == 0 {
                Speaker::Agent
            } else {
                Speaker::Caller
            },
            text: format!("line {i} of {provider}"),
            at: call.started_at.clone(),
            offset_ms: 1_000 * i as u64,
            interrupted: i == 2,
            heard_ms: (i == 2).then_some(400),
        })
        .collect();
    let tool = |id: &str, name: &str| ToolCallRecord {
        id: id.into(),
        name: name.into(),
        arguments: json!({"reason": "caller pressed 0"}),
        outcome: "ok".into(),
        at: call.started_at.clone(),
        offset_ms: 5_000,
        latency_ms: Some(12),
        approval: (name == "escalate_to_human").then(|| "approved".to_owned()),
        approved_by: (name == "escalate_to_human").then(|| "Ada".to_owned()),
    };
    CallEnded {
        transcript,
        tool_calls: vec![tool("fc_1", "escalate_to_human"), tool("fc_2", "end_call")],
        reason: EndReason::AgentEnded,
        detail: None,
        ended_at: format!("2026-12-04T03:{minute:02}:30.000Z"),
        duration_ms: 30_000,
        omitted: 0,
        summary: None,
        escalation: None,
        recording_url: Some(format!("/recordings/{provider}.wav")),
        csat: Some(4),
        versions: BTreeMap::from([("agent".to_owned(), format!("sha256:{provider}"))]),
        quality: CallQuality {
            loss_pct: Some(0.5),
            jitter_ms: Some(3.0),
            barge_ins: 1,
            false_interruptions: 2,
        },
        call,
    }
}

async fn same_store_tests(target: StoreTarget) {
    let store = Store::open(&target).await.expect("opens and migrates");
    // Opening again (a restart) finds the schema in place.
    let again = Store::open(&target).await.expect("reopens");
    again.close().await;

    let mut first = ended("CA_first", 1, 5);
    first.escalation = Some(json!({
        "reason": "billing question",
        "summary": "wants a refund",
        "next_action": "call back tomorrow",
        "rep": null,
        "outcome": "no_answer",
        "callback": {"number": "+15550001111", "message": "after 5 pm", "at": "2026-12-04T03:01:40.000Z"},
    }));
    let first = StoredCall::from_ended(first);
    assert_eq!(first.outcome, Outcome::Escalated);
    let second = StoredCall::from_ended(ended("CA_second", 2, 3));
    assert_eq!(second.outcome, Outcome::Contained);
    store
        .write(&[first.clone(), second.clone()])
        .await
        .expect("writes");

    // Read back whole.
    let detail = store
        .get(&first.id)
        .await
        .expect("reads")
        .expect("the call is there");
    assert_eq!(detail.call.state, "ended");
    assert_eq!(detail.call.outcome, "escalated");
    assert_eq!(detail.call.provider_id, "CA_first");
    assert_eq!(
        detail.recording_url.as_deref(),
        Some("/recordings/CA_first.wav")
    );
    assert_eq!(detail.csat, Some(4));
    assert_eq!(detail.versions, json!({"agent": "sha256:CA_first"}));
    assert_eq!(detail.quality.barge_ins, Some(1));
    assert_eq!(detail.quality.false_interruptions, Some(2));
    assert_eq!(detail.quality.loss_pct, Some(0.5));
    let texts: Vec<&str> = detail.transcript.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        texts,
        (0..5)
            .map(|i| format!("line {i} of CA_first"))
            .collect::<Vec<_>>()
    );
    assert!(detail.transcript[2].truncated);
    assert_eq!(detail.transcript[2].end_ms, Some(2_400));
    assert_eq!(detail.transcript[1].speaker, "caller");
    let tools: Vec<&str> = detail.tool_calls.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tools, ["escalate_to_human", "end_call"]);
    assert_eq!(detail.tool_calls[0].arguments["reason"], "caller pressed 0");
    assert_eq!(detail.tool_calls[0].latency_ms, Some(12));
    assert_eq!(detail.tool_calls[0].approval.as_deref(), Some("approved"));
    assert_eq!(detail.tool_calls[0].approved_by.as_deref(), Some("Ada"));
    assert_eq!(detail.tool_calls[1].approved_by, None);
    assert_eq!(detail.escalations.len(), 1);
    assert_eq!(
        detail.escalations[0].reason.as_deref(),
        Some("billing question")
    );
    assert_eq!(
        detail.escalations[0].next_action.as_deref(),
        Some("call back tomorrow")
    );
    assert!(store.get("not-a-call").await.expect("reads").is_none());

    // A replay stores nothing twice.
    let before = store.counts().await.expect("counts");
    assert_eq!(before, (2, 8, 4));
    store
        .write(&[second.clone(), first.clone()])
        .await
        .expect("rewrites");
    assert_eq!(store.counts().await.expect("counts"), before);

    // Newest first, limited.
    let third = StoredCall::from_ended(ended("CA_third", 3, 1));
    store.write(&[third]).await.expect("writes");
    let listed: Vec<String> = store
        .list(2)
        .await
        .expect("lists")
        .into_iter()
        .map(|c| c.provider_id)
        .collect();
    assert_eq!(listed, ["CA_third", "CA_second"]);

    let callbacks = store.callbacks(10).await.expect("callbacks");
    assert_eq!(callbacks.len(), 1);
    assert_eq!(callbacks[0].kind, "callback");
    assert_eq!(callbacks[0].number.as_deref(), Some("+15550001111"));
    assert_eq!(callbacks[0].message.as_deref(), Some("after 5 pm"));
    assert_eq!(callbacks[0].call_id, first.id);

    // The audit log: written beside calls, once however often replayed,
    // read newest first and by call.
    let whisper = entry("Ada", Action::Whisper, Some(&first.id), 1);
    let listen = entry("Grace", Action::Listen, Some(&second.id), 2);
    let login = entry("Grace", Action::Login, None, 0);
    let records: Vec<Record> = vec![
        login.clone().into(),
        whisper.clone().into(),
        second.clone().into(),
        listen.clone().into(),
    ];
    store.write_records(&records).await.expect("writes");
    store.write_records(&records).await.expect("replays");
    let newest: Vec<AuditEntry> = store.audit(10, None).await.expect("reads");
    assert_eq!(newest, [listen.clone(), whisper.clone(), login.clone()]);
    assert_eq!(
        store.audit(1, None).await.expect("reads"),
        std::slice::from_ref(&listen)
    );
    assert_eq!(
        store.audit(10, Some(&first.id)).await.expect("reads"),
        std::slice::from_ref(&whisper)
    );
    assert_eq!(newest[1].detail["session"], "session-1");
    assert_eq!(newest[1].who, "Ada");

    // The sink: 100 records handed over without waiting, all stored, and
    // audit entries through the same queue.
    let spool = support::scratch::scratch_dir("store-sink").join("spool.jsonl");
    let (sink, _history) = StoreSink::start_with(target.clone(), spool).expect("starts");
    for i in 0..100_usize {
        sink.call_ended(ended(&format!("CA_sink_{i}"), 10 + (i % 40) as u32, 4));
        if i % 10 == 0 {
            AuditSink::record(
                &*sink,
                entry("Linus", Action::HangUp, None, 10 + (i / 10) as u32),
            );
        }
    }
    let stored = wait_for(&store, 103).await;
    assert_eq!(stored, (103, 8 + 1 + 400, 6 + 200));
    assert!(sink.wait_idle(Duration::from_secs(10)));
    let latest = store.audit(100, None).await.expect("reads");
    assert_eq!(latest.len(), 3 + 10);
    assert_eq!(latest[0].who, "Linus");
    assert_eq!(latest[0].at, "2026-12-04T04:00:19.000Z");
    assert!(sink.close(Duration::from_secs(10)));
    assert_eq!(sink.spooled(), 0);
    store.close().await;
}

/// Polls until `calls` calls are stored (at most 20 s); the counts then.
async fn wait_for(store: &Store, calls: i64) -> (i64, i64, i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let counts = store.counts().await.expect("counts");
        if counts.0 >= calls || tokio::time::Instant::now() > deadline {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_keeps_and_reads_back_call_records_in_sqlite() {
    let dir = support::scratch::scratch_dir("store-sqlite");
    same_store_tests(StoreTarget::Sqlite(dir.join("warmline.db"))).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_keeps_and_reads_back_call_records_in_postgresql() {
    let pg = support::postgres::Postgres::start();
    same_store_tests(StoreTarget::Postgres(pg.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_handed_over_while_postgresql_is_down_are_stored_once_when_it_returns() {
    let pg = support::postgres::Postgres::start();
    let target = StoreTarget::Postgres(pg.url());
    let store = Store::open(&target).await.expect("opens");
    let dir = support::scratch::scratch_dir("store-outage");
    let (sink, _history) =
        StoreSink::start_with(target.clone(), dir.join("spool.jsonl")).expect("starts");
    for i in 0..10 {
        sink.call_ended(ended(&format!("CA_before_{i}"), i, 3));
    }
    assert_eq!(wait_for(&store, 10).await.0, 10);
    store.close().await;

    pg.down();
    for i in 0..10 {
        sink.call_ended(ended(&format!("CA_during_{i}"), 20 + i, 3));
        AuditSink::record(&*sink, entry("Ada", Action::Whisper, None, i));
    }
    // The writer finds the database gone and spools the records.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sink.spooled() < 20 {
        assert!(std::time::Instant::now() < deadline, "nothing spooled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(dir.join("spool.jsonl").exists());

    pg.up();
    for i in 0..10 {
        sink.call_ended(ended(&format!("CA_after_{i}"), 40 + i, 3));
    }
    let store = Store::open(&target).await.expect("opens again");
    assert_eq!(wait_for(&store, 30).await, (30, 90, 60));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sink.spooled() > 0 {
        assert!(std::time::Instant::now() < deadline, "spool not replayed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sink.close(Duration::from_secs(10)));
    assert_eq!(store.counts().await.expect("counts"), (30, 90, 60));
    let audit = store.audit(100, None).await.expect("reads");
    assert_eq!(audit.len(), 10, "each entry of the outage once");
    assert_eq!(audit[0].at, "2026-12-04T04:00:09.000Z");
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
