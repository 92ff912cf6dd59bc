//! The desk's analytics (issue 17, decision 0036) against the embedded
//! SQLite and a real PostgreSQL (Debian's, started here), with the same
//! script of calls (tests/support/analytics_script.rs): known outcomes, durations, escalations (answered or
//! not, timed from the request or from the ring), tool latencies, survey
//! answers, barge-ins and false interruptions, over three days, two
//! agents, four versions, three numbers and three trunks, plus calls just
//! outside the window. Every figure, in total and for every group of every
//! grouping, must equal what this file computes from the script with
//! plain arithmetic; a few are also written out as numbers worked by hand.
//!
//! A second test writes rows as the first schema did and checks that the
//! analytics migration fills in the version and the time to a human.

mod support {
    pub mod analytics_script;
    pub mod postgres;
    pub mod scratch;
}

use std::path::PathBuf;

use serde_json::Value;
use support::analytics_script::{
    expected, in_window, key, script, stored, Scripted, B1, B2, BILLING as B, S1, S2, SUPPORT as S,
};
use warmline::config::store::StoreTarget;
use warmline::store::analytics::{Csat, Figures, GroupBy, Latency, Wait, Window};
use warmline::store::{Store, StoredCall};

const FROM: &str = "2026-12-01T00:00:00Z";
const TO: &str = "2026-12-04T00:00:00Z";

fn first_day() -> jiff::civil::Date {
    jiff::civil::date(2026, 12, 1)
}

fn window() -> Window {
    Window::new(FROM.parse().expect("from"), TO.parse().expect("to")).expect("a window")
}

async fn figures_equal_the_hand_computed_ones(target: StoreTarget) {
    let store = Store::open(&target).await.expect("opens and migrates");
    let script = script(first_day());
    let records: Vec<StoredCall> = script
        .iter()
        .enumerate()
        .map(|(n, s)| stored(n, s))
        .collect();
    store.write(&records).await.expect("writes");
    let inside: Vec<&Scripted> = script.iter().filter(|s| in_window(s, FROM, TO)).collect();
    assert_eq!(inside.len(), 9);

    let answer = store
        .analytics(window(), GroupBy::Day, 20)
        .await
        .expect("analytics");
    assert_eq!(answer.from, "2026-12-01T00:00:00.000Z");
    assert_eq!(answer.to, "2026-12-04T00:00:00.000Z");
    assert_eq!(answer.total, expected(&inside));
    // The same, worked out by hand: 9 calls, 8 handled (one abandoned),
    // 3 contained, 1 escalated and 3 transferred, 960 s of handled calls,
    // waits of 15 s, 45.5 s and 3 s, ten tool latencies summing to 2.5 s,
    // five survey answers 5+4+3+2+1.
    let total = &answer.total;
    assert_eq!((total.calls, total.handled), (9, 8));
    assert_eq!(total.containment_rate, Some(3.0 / 8.0));
    assert_eq!(total.escalation_rate, Some(4.0 / 8.0));
    assert_eq!(total.avg_handle_time_ms, Some(120_000.0));
    assert_eq!(
        total.time_to_human_ms,
        Wait {
            count: 3,
            mean: Some(63_500.0 / 3.0),
            median: Some(15_000)
        }
    );
    assert_eq!(
        (total.barge_ins, total.barge_ins_per_call),
        (7, Some(7.0 / 8.0))
    );
    assert_eq!(total.false_interruptions_per_call, Some(4.0 / 8.0));
    assert_eq!(
        total.tool_latency_ms,
        Latency {
            count: 10,
            mean: Some(250.0),
            p50: Some(200),
            p95: Some(700)
        }
    );
    assert_eq!(
        total.csat,
        Csat {
            count: 5,
            mean: Some(3.0)
        }
    );

    for by in GroupBy::ALL {
        let answer = store.analytics(window(), by, 20).await.expect("analytics");
        assert_eq!(answer.by, by);
        assert_eq!(answer.total, expected(&inside), "{by:?}");
        let mut keys: Vec<Option<String>> = Vec::new();
        for s in &inside {
            let k = key(s, by);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        // By day every date in order; otherwise most calls first, then by
        // key, the null key last.
        let count = |k: &Option<String>| inside.iter().filter(|s| &key(s, by) == k).count();
        if by != GroupBy::Day {
            keys.sort_by(|a, b| {
                count(b)
                    .cmp(&count(a))
                    .then(a.is_none().cmp(&b.is_none()))
                    .then(a.cmp(b))
            });
        }
        let shown: Vec<Option<String>> = answer.groups.iter().map(|g| g.key.clone()).collect();
        assert_eq!(shown, keys, "{by:?}");
        assert_eq!(answer.groups_omitted, 0, "{by:?}");
        for group in &answer.groups {
            let members: Vec<&Scripted> = inside
                .iter()
                .copied()
                .filter(|s| key(s, by) == group.key)
                .collect();
            assert_eq!(group.figures, expected(&members), "{by:?} {:?}", group.key);
            let starts: Vec<&str> = members.iter().map(|s| s.started_at.as_str()).collect();
            assert_eq!(group.first_call_at.as_deref(), starts.iter().min().copied());
            assert_eq!(group.last_call_at.as_deref(), starts.iter().max().copied());
            let agent = (by == GroupBy::Version)
                .then(|| members.iter().find_map(|s| s.agent))
                .flatten();
            assert_eq!(group.agent.as_deref(), agent, "{by:?} {:?}", group.key);
        }
    }

    // Versions side by side: billing's two, support's two, and the call
    // that ran none (ties by hash: support's first version sorts before
    // billing's).
    let versions = store
        .analytics(window(), GroupBy::Version, 20)
        .await
        .expect("analytics");
    let shown: Vec<(Option<&str>, Option<&str>, i64)> = versions
        .groups
        .iter()
        .map(|g| (g.key.as_deref(), g.agent.as_deref(), g.figures.calls))
        .collect();
    assert_eq!(
        shown,
        [
            (B2, B, 3),
            (S1, S, 2),
            (B1, B, 2),
            (S2, S, 1),
            (None, None, 1)
        ]
    );
    // The cap keeps the busiest and says how many it left out.
    let capped = store
        .analytics(window(), GroupBy::Version, 2)
        .await
        .expect("analytics");
    let shown: Vec<Option<&str>> = capped.groups.iter().map(|g| g.key.as_deref()).collect();
    assert_eq!(shown, [B2, S1]);
    assert_eq!(capped.groups_omitted, 3);

    // A day without calls is there, with nothing in it.
    let quiet = Window::new(
        "2026-12-03T00:00:00Z".parse().expect("t"),
        "2026-12-06T00:00:00Z".parse().expect("t"),
    )
    .expect("a window");
    let days = store
        .analytics(quiet, GroupBy::Day, 20)
        .await
        .expect("analytics");
    let shown: Vec<(Option<&str>, i64)> = days
        .groups
        .iter()
        .map(|g| (g.key.as_deref(), g.figures.calls))
        .collect();
    assert_eq!(
        shown,
        [
            (Some("2026-12-03"), 2),
            (Some("2026-12-04"), 1),
            (Some("2026-12-05"), 0)
        ]
    );
    assert_eq!(days.groups[2].figures, Figures::default());
    assert_eq!(days.groups[2].first_call_at, None);
    let json = serde_json::to_value(&days.groups[2]).expect("JSON");
    assert_eq!(json["containment_rate"], Value::Null);
    assert_eq!(json["tool_latency_ms"]["p95"], Value::Null);
    store.close().await;
}

/// Rows as the first schema's writer wrote them (no trunk, version or
/// wait columns): the analytics migration fills them from the JSON.
async fn older_rows_are_filled_in_by_the_migration(target: StoreTarget) {
    let old = Store::open_at_version(&target, 1).await.expect("schema 1");
    old.execute(
        "INSERT INTO calls (id, provider_id, ingress, agent, from_party, to_party, started_at, \
         ended_at, duration_ms, outcome, end_reason, barge_ins, false_interruptions, csat, \
         versions, omitted, stored_at) VALUES ('c-old', 'CA_old', 'twilio', 'billing', '+1', '+2', \
         '2026-12-01T10:00:00.000Z', '2026-12-01T10:05:00.000Z', 300000, 'transferred', \
         'caller_hung_up', 0, 0, NULL, '{\"agent\":\"sha256:old\",\"tools\":\"sha256:t\"}', 0, \
         '2026-12-01T10:05:00.000Z')",
    )
    .await
    .expect("an old call");
    old.execute(
        "INSERT INTO escalations (call_id, seq, answered_at, outcome, detail) VALUES ('c-old', 0, \
         '2026-12-01T10:01:12.250Z', 'answered', \
         '{\"requested_at\":\"2026-12-01T10:01:00.000Z\",\"answered_at\":\"2026-12-01T10:01:12.250Z\"}')",
    )
    .await
    .expect("its escalation");
    old.close().await;

    let store = Store::open(&target).await.expect("migrates");
    let answer = store
        .analytics(window(), GroupBy::Version, 20)
        .await
        .expect("analytics");
    assert_eq!(answer.groups.len(), 1);
    let group = &answer.groups[0];
    assert_eq!(group.key.as_deref(), Some("sha256:old"));
    assert_eq!(group.agent.as_deref(), Some("billing"));
    // 10:01:00.000 to 10:01:12.250.
    assert_eq!(
        group.figures.time_to_human_ms,
        Wait {
            count: 1,
            mean: Some(12_250.0),
            median: Some(12_250)
        }
    );
    let trunks = store
        .analytics(window(), GroupBy::Trunk, 20)
        .await
        .expect("analytics");
    assert_eq!(trunks.groups[0].key.as_deref(), Some("twilio"));
    store.close().await;
}

fn temp_db(name: &str) -> (PathBuf, StoreTarget) {
    let dir = support::scratch::scratch_dir(&format!("analytics-{name}"));
    let target = StoreTarget::Sqlite(dir.join("warmline.db"));
    (dir, target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_figures_equal_the_hand_computed_ones_in_sqlite() {
    let (dir, target) = temp_db("figures");
    figures_equal_the_hand_computed_ones(target).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_figures_equal_the_hand_computed_ones_in_postgresql() {
    let pg = support::postgres::Postgres::start();
    figures_equal_the_hand_computed_ones(StoreTarget::Postgres(pg.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_stored_before_the_analytics_columns_are_filled_in_sqlite() {
    let (dir, target) = temp_db("backfill");
    older_rows_are_filled_in_by_the_migration(target).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_stored_before_the_analytics_columns_are_filled_in_postgresql() {
    let pg = support::postgres::Postgres::start();
    older_rows_are_filled_in_by_the_migration(StoreTarget::Postgres(pg.url())).await;
}
