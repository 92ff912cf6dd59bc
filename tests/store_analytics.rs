//! The desk's analytics (issue 17, decision 0036) against the embedded
//! SQLite and a real PostgreSQL (Debian's, started here), with the same
//! script of calls: known outcomes, durations, escalations (answered or
//! not, timed from the request or from the ring), tool latencies, survey
//! answers, barge-ins and false interruptions, over three days, two
//! agents, three versions, three numbers and three trunks, plus calls just
//! outside the window. Every figure, in total and for every group of every
//! grouping, must equal what this file computes from the script with
//! plain arithmetic; a few are also written out as numbers worked by hand.
//!
//! A second test writes rows as the first schema did and checks that the
//! analytics migration fills in the version and the time to a human.

mod support {
    pub mod postgres;
}

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};
use warmline::config::store::StoreTarget;
use warmline::store::analytics::{Csat, Figures, GroupBy, Latency, OutcomeCounts, Wait, Window};
use warmline::store::{Outcome, Store, StoredCall};

/// One scripted call.
#[derive(Clone, Debug)]
struct Scripted {
    started_at: &'static str,
    agent: Option<&'static str>,
    version: Option<&'static str>,
    to: &'static str,
    trunk: Option<&'static str>,
    ingress: &'static str,
    outcome: Outcome,
    duration_ms: u64,
    barge_ins: u32,
    false_interruptions: u32,
    csat: Option<u8>,
    /// Latencies of its tool calls (none: cancelled before an answer).
    tools: &'static [Option<u64>],
    /// (requested_at, ring_at, answered_at) of its escalation.
    escalation: Option<(
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    )>,
}

const FROM: &str = "2026-12-01T00:00:00Z";
const TO: &str = "2026-12-04T00:00:00Z";

#[allow(clippy::too_many_arguments)]
const fn call(
    started_at: &'static str,
    agent: Option<&'static str>,
    version: Option<&'static str>,
    to: &'static str,
    trunk: Option<&'static str>,
    ingress: &'static str,
    outcome: Outcome,
    duration_ms: u64,
    quality: (u32, u32),
    csat: Option<u8>,
    tools: &'static [Option<u64>],
) -> Scripted {
    Scripted {
        started_at,
        agent,
        version,
        to,
        trunk,
        ingress,
        outcome,
        duration_ms,
        barge_ins: quality.0,
        false_interruptions: quality.1,
        csat,
        tools,
        escalation: None,
    }
}

const B: Option<&str> = Some("billing");
const S: Option<&str> = Some("support");
const B1: Option<&str> = Some("sha256:b1");
const B2: Option<&str> = Some("sha256:b2");
const S1: Option<&str> = Some("sha256:s1");
const S2: Option<&str> = Some("sha256:s2");
const N1: &str = "+15550001";
const N2: &str = "+15550002";
const N3: &str = "+15550003";
const CARRIER: Option<&str> = Some("carrier-a");
const TWILIO: Option<&str> = Some("twilio");

fn script() -> Vec<Scripted> {
    use Outcome::*;
    let mut calls = vec![
        // Day 1.
        call(
            "2026-12-01T01:00:00.000Z",
            B,
            B1,
            N1,
            CARRIER,
            "sip",
            Contained,
            60_000,
            (2, 1),
            Some(5),
            &[Some(100), Some(300)],
        ),
        call(
            "2026-12-01T02:00:00.000Z",
            B,
            B1,
            N1,
            TWILIO,
            "twilio",
            Escalated,
            120_000,
            (0, 0),
            None,
            &[Some(200)],
        ),
        call(
            "2026-12-01T03:00:00.000Z",
            S,
            S1,
            N2,
            TWILIO,
            "twilio",
            Transferred,
            300_000,
            (1, 0),
            Some(4),
            &[Some(50)],
        ),
        // Day 2: the abandoned call's barge-in is not a handled call's.
        call(
            "2026-12-02T01:00:00.000Z",
            S,
            S1,
            N2,
            CARRIER,
            "sip",
            Abandoned,
            4_000,
            (1, 0),
            None,
            &[],
        ),
        call(
            "2026-12-02T05:00:00.000Z",
            B,
            B2,
            N1,
            CARRIER,
            "sip",
            Contained,
            90_000,
            (3, 2),
            Some(3),
            &[Some(400), Some(100), Some(700)],
        ),
        call(
            "2026-12-02T06:00:00.000Z",
            B,
            B2,
            N1,
            TWILIO,
            "twilio",
            Failed,
            10_000,
            (0, 0),
            None,
            &[None],
        ),
        call(
            "2026-12-02T07:00:00.000Z",
            S,
            S2,
            N2,
            CARRIER,
            "sip",
            Transferred,
            200_000,
            (1, 1),
            Some(2),
            &[Some(150)],
        ),
        // Day 3: a browser call routed without agents (no trunk: its
        // ingress stands in), and an escalation timed from the ring.
        call(
            "2026-12-03T12:00:00.000Z",
            None,
            None,
            N3,
            None,
            "webrtc",
            Contained,
            30_000,
            (0, 0),
            Some(1),
            &[],
        ),
        call(
            "2026-12-03T13:00:00.000Z",
            B,
            B2,
            N1,
            TWILIO,
            "twilio",
            Transferred,
            150_000,
            (0, 0),
            None,
            &[Some(250), Some(250)],
        ),
        // Outside the window, by a millisecond either side.
        call(
            "2026-11-30T23:59:59.999Z",
            B,
            B1,
            N1,
            CARRIER,
            "sip",
            Failed,
            9_000,
            (9, 9),
            Some(1),
            &[Some(9_999)],
        ),
        call(
            "2026-12-04T00:00:00.000Z",
            S,
            S2,
            N2,
            TWILIO,
            "twilio",
            Abandoned,
            1_000,
            (0, 0),
            Some(1),
            &[Some(9_999)],
        ),
    ];
    calls[1].escalation = Some((Some("2026-12-01T02:01:00.000Z"), None, None));
    calls[2].escalation = Some((
        Some("2026-12-01T03:00:10.000Z"),
        Some("2026-12-01T03:00:20.000Z"),
        Some("2026-12-01T03:00:25.000Z"),
    ));
    calls[6].escalation = Some((
        Some("2026-12-02T07:01:00.000Z"),
        None,
        Some("2026-12-02T07:01:45.500Z"),
    ));
    calls[8].escalation = Some((
        None,
        Some("2026-12-03T13:02:00.000Z"),
        Some("2026-12-03T13:02:03.000Z"),
    ));
    calls[9].escalation = Some((
        Some("2026-11-30T23:59:59.999Z"),
        None,
        Some("2026-12-01T00:30:00.000Z"),
    ));
    calls
}

fn stored(n: usize, s: &Scripted) -> StoredCall {
    let versions = s
        .version
        .map(|v| BTreeMap::from([("agent".to_owned(), v.to_owned())]))
        .unwrap_or_default();
    let escalation = s.escalation.map(|(requested, ring, answered)| {
        json!({"reason": "caller asked", "requested_at": requested, "ring_at": ring,
               "answered_at": answered, "outcome": if answered.is_some() { "answered" } else { "nobody_answered" }})
    });
    StoredCall {
        id: format!("0193e0f4-0000-7000-8000-{n:012}"),
        provider_id: format!("CA_{n}"),
        ingress: s.ingress.to_owned(),
        agent: s.agent.map(str::to_owned),
        trunk: s.trunk.map(str::to_owned),
        from: "+15559990000".into(),
        to: s.to.into(),
        started_at: s.started_at.into(),
        ended_at: s.started_at.into(),
        duration_ms: s.duration_ms,
        outcome: s.outcome,
        end_reason: "caller_hung_up".into(),
        end_detail: None,
        loss_pct: None,
        jitter_ms: None,
        barge_ins: s.barge_ins,
        false_interruptions: s.false_interruptions,
        summary: None,
        recording_url: None,
        csat: s.csat,
        versions,
        omitted: 0,
        transcript: Vec::new(),
        tool_calls: s
            .tools
            .iter()
            .enumerate()
            .map(|(i, latency)| warmline::store::record::StoredToolCall {
                id: format!("fc_{i}"),
                name: "lookup".into(),
                arguments: json!({}),
                result: if latency.is_some() { "ok" } else { "cancelled" }.into(),
                latency_ms: *latency,
                approval: None,
                approved_by: None,
                at: s.started_at.into(),
                offset_ms: 1_000,
            })
            .collect(),
        escalation,
    }
}

/// Milliseconds since 1970 of a time written as the script writes them.
fn ms(at: &str) -> i64 {
    at.parse::<jiff::Timestamp>()
        .expect("a time")
        .as_millisecond()
}

/// `a / b` as the API writes it: null when `b` is 0.
fn div(a: i64, b: i64) -> Option<f64> {
    if b == 0 {
        None
    } else {
        Some(a as f64 / b as f64)
    }
}

/// The value at rank ⌈p·n/100⌉ of `values` sorted ascending.
fn nearest_rank(values: &[i64], p: i64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len() as i64;
    let rank = (p * n + 99) / 100;
    Some(sorted[(rank - 1) as usize])
}

/// The figures of `calls`, worked out from the script.
fn expected(calls: &[&Scripted]) -> Figures {
    let count = |o: Outcome| calls.iter().filter(|c| c.outcome == o).count() as i64;
    let outcomes = OutcomeCounts {
        contained: count(Outcome::Contained),
        escalated: count(Outcome::Escalated),
        transferred: count(Outcome::Transferred),
        abandoned: count(Outcome::Abandoned),
        failed: count(Outcome::Failed),
    };
    let handled: Vec<&&Scripted> = calls
        .iter()
        .filter(|c| c.outcome != Outcome::Abandoned)
        .collect();
    let n = handled.len() as i64;
    let duration: i64 = handled.iter().map(|c| c.duration_ms as i64).sum();
    let barge_ins: i64 = handled.iter().map(|c| i64::from(c.barge_ins)).sum();
    let false_interruptions: i64 = handled
        .iter()
        .map(|c| i64::from(c.false_interruptions))
        .sum();
    let waits: Vec<i64> = calls
        .iter()
        .filter_map(|c| c.escalation)
        .filter_map(|(requested, ring, answered)| Some(ms(answered?) - ms(requested.or(ring)?)))
        .collect();
    let latencies: Vec<i64> = calls
        .iter()
        .flat_map(|c| c.tools.iter().flatten().map(|&l| l as i64))
        .collect();
    let scores: Vec<i64> = calls.iter().filter_map(|c| c.csat.map(i64::from)).collect();
    Figures {
        calls: calls.len() as i64,
        outcomes,
        handled: n,
        containment_rate: div(outcomes.contained, n),
        escalation_rate: div(outcomes.escalated + outcomes.transferred, n),
        avg_handle_time_ms: div(duration, n),
        time_to_human_ms: Wait {
            count: waits.len() as i64,
            mean: div(waits.iter().sum(), waits.len() as i64),
            median: nearest_rank(&waits, 50),
        },
        barge_ins,
        barge_ins_per_call: div(barge_ins, n),
        false_interruptions,
        false_interruptions_per_call: div(false_interruptions, n),
        tool_latency_ms: Latency {
            count: latencies.len() as i64,
            mean: div(latencies.iter().sum(), latencies.len() as i64),
            p50: nearest_rank(&latencies, 50),
            p95: nearest_rank(&latencies, 95),
        },
        csat: Csat {
            count: scores.len() as i64,
            mean: div(scores.iter().sum(), scores.len() as i64),
        },
    }
}

fn in_window(s: &Scripted) -> bool {
    ms(s.started_at) >= ms(FROM) && ms(s.started_at) < ms(TO)
}

/// The group key a scripted call falls in.
fn key(s: &Scripted, by: GroupBy) -> Option<String> {
    match by {
        GroupBy::Day => Some(s.started_at[..10].to_owned()),
        GroupBy::Agent => s.agent.map(str::to_owned),
        GroupBy::Number => Some(s.to.to_owned()),
        GroupBy::Trunk => Some(s.trunk.unwrap_or(s.ingress).to_owned()),
        GroupBy::Version => s.version.map(str::to_owned),
    }
}

fn window() -> Window {
    Window::new(FROM.parse().expect("from"), TO.parse().expect("to")).expect("a window")
}

async fn figures_equal_the_hand_computed_ones(target: StoreTarget) {
    let store = Store::open(&target).await.expect("opens and migrates");
    let script = script();
    let records: Vec<StoredCall> = script
        .iter()
        .enumerate()
        .map(|(n, s)| stored(n, s))
        .collect();
    store.write(&records).await.expect("writes");
    let inside: Vec<&Scripted> = script.iter().filter(|s| in_window(s)).collect();
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
            let starts: Vec<&str> = members.iter().map(|s| s.started_at).collect();
            assert_eq!(group.first_call_at.as_deref(), starts.iter().min().copied());
            assert_eq!(group.last_call_at.as_deref(), starts.iter().max().copied());
            let agent = (by == GroupBy::Version)
                .then(|| members.iter().find_map(|s| s.agent))
                .flatten();
            assert_eq!(group.agent.as_deref(), agent, "{by:?} {:?}", group.key);
        }
    }

    // Versions side by side: billing's two, support's two, and the call
    // that ran none.
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
            (B1, B, 2),
            (S1, S, 2),
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
    assert_eq!(shown, [B2, B1]);
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
    let dir = std::env::temp_dir().join(format!(
        "warmline-analytics-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
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
