//! The store's side of the supervisor's inbox (issue 17, decision 0037),
//! the same tests against the embedded SQLite and a real PostgreSQL
//! (tests/support/postgres.rs): a database of the first release (its one
//! migration) is migrated with its callbacks pending; a
//! callback marked done keeps its first mark and who made it; the inbox's
//! callbacks come pending oldest first, then done most recently done
//! first, each with its call's summary and next action; past hand-overs
//! come newest first and leave out records that only carry callbacks.

mod support {
    pub mod postgres;
    pub mod scratch;
}

use std::borrow::Cow;

use serde_json::json;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::Executor;
use warmline::call::events::{CallEnded, EndReason};
use warmline::call::tools::CallIdentity;
use warmline::config::store::StoreTarget;
use warmline::store::{Store, StoredCall};

/// An ended call started `minute` minutes past a fixed hour, with the
/// escalation JSON `escalation`.
fn ended(provider: &str, minute: u32, escalation: Option<serde_json::Value>) -> StoredCall {
    let mut call = CallIdentity::mint("twilio", provider, "+15550001111", "+15550002222");
    call.started_at = format!("2026-12-04T03:{minute:02}:00.000Z");
    StoredCall::from_ended(CallEnded {
        reason: EndReason::CallerHungUp,
        detail: None,
        ended_at: format!("2026-12-04T03:{minute:02}:30.000Z"),
        duration_ms: 30_000,
        transcript: Vec::new(),
        tool_calls: Vec::new(),
        omitted: 0,
        summary: None,
        escalation,
        recording_url: None,
        csat: None,
        versions: Default::default(),
        quality: Default::default(),
        call,
    })
}

/// The database of the first release (migration 1 only, run as that
/// release ran it), with one callback stored: an existing deployment.
async fn first_release(target: &StoreTarget) {
    let url = match target {
        StoreTarget::Sqlite(path) => format!("sqlite://{}?mode=rwc", path.display()),
        StoreTarget::Postgres(url) => url.clone(),
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.expect("connects");
    let first = Migrator {
        migrations: Cow::Owned(vec![Migration::new(
            1,
            Cow::Borrowed("records"),
            MigrationType::Simple,
            Cow::Borrowed(include_str!("../src/store/migrations/0001_records.sql")),
            false,
        )]),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    };
    first.run(&pool).await.expect("the first schema");
    pool.execute(
        "INSERT INTO calls (id, provider_id, ingress, from_party, to_party, started_at, ended_at, \
         duration_ms, outcome, end_reason, versions, omitted, stored_at) VALUES ('old-call', 'CA_old', \
         'twilio', '+1555', '+1556', '2026-12-01T00:00:00.000Z', '2026-12-01T00:00:30.000Z', \
         30000, 'escalated', 'caller_hung_up', '{}', 0, '2026-12-01T00:00:31.000Z')",
    )
    .await
    .expect("an old call");
    pool.execute(
        "INSERT INTO callbacks_and_messages (call_id, seq, kind, number, message, created_at, \
         detail) VALUES ('old-call', 0, 'callback', '+1555', 'from before', \
         '2026-12-01T00:00:20.000Z', '{}')",
    )
    .await
    .expect("an old callback");
    pool.close().await;
}

async fn same_inbox_tests(target: StoreTarget) {
    first_release(&target).await;
    let store = Store::open(&target).await.expect("opens and migrates");

    let answered = ended(
        "CA_answered",
        1,
        Some(json!({
            "reason": "billing", "outcome": "answered", "rep": "ana",
            "answered_at": "2026-12-04T03:01:20.000Z", "requested_at": "2026-12-04T03:01:10.000Z",
            "summary": "Charged twice.", "next_action": "Refund the duplicate.",
            "callback": [{"number": "+15550001111", "message": "receipt by email", "at": "2026-12-04T03:01:25.000Z"}],
        })),
    );
    // Only a message the agent took: no hand-over was tried.
    let message_only = ended(
        "CA_message",
        2,
        Some(
            json!({"message": [{"number": "+15550001111", "message": "tell Ana", "at": "2026-12-04T03:02:10.000Z"}]}),
        ),
    );
    let unanswered = ended(
        "CA_unanswered",
        3,
        Some(
            json!({"reason": "angry", "outcome": "nobody_answered", "urgency": "high",
                    "requested_at": "2026-12-04T03:03:05.000Z"}),
        ),
    );
    store
        .write(&[answered.clone(), message_only.clone(), unanswered.clone()])
        .await
        .expect("writes");

    // Pending, oldest first, with the call's escalation.
    let open = store.inbox_callbacks(false, 10).await.expect("reads");
    let calls: Vec<&str> = open.iter().map(|c| c.item.call_id.as_str()).collect();
    // The first release's callback was migrated as pending.
    assert_eq!(
        calls,
        ["old-call", answered.id.as_str(), message_only.id.as_str()]
    );
    assert_eq!(open[0].item.done_at, None);
    let first = open
        .iter()
        .find(|c| c.item.call_id == answered.id)
        .expect("the answered call's callback");
    assert_eq!(first.summary.as_deref(), Some("Charged twice."));
    assert_eq!(first.next_action.as_deref(), Some("Refund the duplicate."));
    assert_eq!(first.escalation_outcome.as_deref(), Some("answered"));
    assert_eq!(first.call_outcome, "transferred");
    assert_eq!(first.item.kind, "callback");
    let message = open
        .iter()
        .find(|c| c.item.call_id == message_only.id)
        .expect("the message");
    assert_eq!(message.item.kind, "message");
    assert_eq!(message.summary, None);

    // Marked done once: a second mark keeps the first.
    let marked = store
        .mark_callback_done(
            &answered.id,
            0,
            "ana.supervisor",
            "2026-12-04T04:00:00.000Z",
        )
        .await
        .expect("marks")
        .expect("the callback exists");
    assert_eq!(marked.done_at.as_deref(), Some("2026-12-04T04:00:00.000Z"));
    assert_eq!(marked.done_by.as_deref(), Some("ana.supervisor"));
    let again = store
        .mark_callback_done(&answered.id, 0, "admin", "2026-12-04T05:00:00.000Z")
        .await
        .expect("marks")
        .expect("the callback exists");
    assert_eq!(again, marked, "a second mark changed the first");
    assert!(store
        .mark_callback_done(&answered.id, 9, "admin", "2026-12-04T05:00:00.000Z")
        .await
        .expect("reads")
        .is_none());
    assert!(store
        .mark_callback_done("no-such-call", 0, "admin", "2026-12-04T05:00:00.000Z")
        .await
        .expect("reads")
        .is_none());
    store
        .mark_callback_done(&message_only.id, 0, "admin", "2026-12-04T04:30:00.000Z")
        .await
        .expect("marks");

    // Done: the most recently done first; pending no longer lists them.
    let done = store.inbox_callbacks(true, 10).await.expect("reads");
    let done_calls: Vec<&str> = done.iter().map(|c| c.item.call_id.as_str()).collect();
    assert_eq!(done_calls, [message_only.id.as_str(), answered.id.as_str()]);
    let open = store.inbox_callbacks(false, 10).await.expect("reads");
    assert!(open
        .iter()
        .all(|c| c.item.call_id != answered.id && c.item.call_id != message_only.id));
    // The history API's list and the call's detail say the same.
    let listed = store.callbacks(10).await.expect("reads");
    assert!(listed
        .iter()
        .any(|c| c.call_id == answered.id && c.done_by.as_deref() == Some("ana.supervisor")));
    let detail = store
        .get(&answered.id)
        .await
        .expect("reads")
        .expect("the call");
    assert_eq!(detail.callbacks.len(), 1);
    assert_eq!(
        detail.callbacks[0].done_at.as_deref(),
        Some("2026-12-04T04:00:00.000Z")
    );
    assert_eq!(
        detail.escalations[0].requested_at.as_deref(),
        Some("2026-12-04T03:01:10.000Z")
    );

    // Past hand-overs: newest first; the message-only record is none.
    let past = store.past_escalations(10).await.expect("reads");
    let past_calls: Vec<&str> = past.iter().map(|e| e.call_id.as_str()).collect();
    assert_eq!(past_calls, [unanswered.id.as_str(), answered.id.as_str()]);
    assert_eq!(past[0].urgency.as_deref(), Some("high"));
    assert_eq!(past[0].outcome.as_deref(), Some("nobody_answered"));
    assert_eq!(past[1].rep.as_deref(), Some("ana"));
    assert_eq!(
        past[1].next_action.as_deref(),
        Some("Refund the duplicate.")
    );
    assert_eq!(
        store.past_escalations(1).await.expect("reads").len(),
        1,
        "the limit holds"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_are_marked_done_once_and_the_inbox_reads_them_in_order_in_sqlite() {
    let dir = support::scratch::scratch_dir("store-inbox-sqlite");
    same_inbox_tests(StoreTarget::Sqlite(dir.join("warmline.db"))).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_are_marked_done_once_and_the_inbox_reads_them_in_order_in_postgresql() {
    let pg = support::postgres::Postgres::start();
    same_inbox_tests(StoreTarget::Postgres(pg.url())).await;
}
