//! Analytics cost: how long `GET /api/v1/analytics`'s queries take over a
//! store of N calls (decision 0036).
//!
//! Run: `cargo run --release --example analytics_query -- [--calls N] [--days D] [--postgres URL] [--keep]`
//!
//! Seeds a fresh store (SQLite in a temp directory, or the PostgreSQL at
//! URL, which should be empty) with N calls (100,000 by default) spread
//! evenly over the D days (90) before today: 5 agents with 2 versions
//! each, 20 numbers, 3 trunks, every outcome, 2 tool calls a call, an
//! escalation on one call in four (answered on half of them), a survey
//! answer on one in three. Then times `Store::analytics` for each
//! grouping over the last 7, 30 and 90 days: the median of 5 runs after
//! one warm-up, in ms. `--keep` keeps the SQLite file (its path is
//! printed) for a look at the query plans.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::json;
use warmline::config::store::StoreTarget;
use warmline::store::analytics::{GroupBy, Window};
use warmline::store::record::StoredToolCall;
use warmline::store::{Outcome, Store, StoredCall};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn time(ms: i64) -> String {
    warmline::call::tools::rfc3339(std::time::Duration::from_millis(ms as u64))
}

/// The `n`th of `calls` seeded calls, started at `start_ms`.
fn seeded(n: u64, start_ms: i64) -> StoredCall {
    let outcome = match n % 20 {
        0..=10 => Outcome::Contained,
        11..=13 => Outcome::Escalated,
        14..=16 => Outcome::Transferred,
        17..=18 => Outcome::Abandoned,
        _ => Outcome::Failed,
    };
    let agent = n % 5;
    let version = format!("sha256:{:064x}", agent * 2 + (n / 7) % 2);
    let escalation = n.is_multiple_of(4).then(|| {
        let answered = n
            .is_multiple_of(8)
            .then(|| time(start_ms + 30_000 + (n % 90) as i64 * 1_000));
        json!({"reason": "asked", "requested_at": time(start_ms + 30_000), "answered_at": answered,
               "outcome": if answered.is_some() { "answered" } else { "nobody_answered" }})
    });
    StoredCall {
        id: format!("0193e0f4-0000-7000-8000-{n:012}"),
        provider_id: format!("CA{n}"),
        ingress: if n.is_multiple_of(3) { "sip" } else { "twilio" }.into(),
        agent: Some(format!("agent-{agent}")),
        trunk: Some(["twilio", "carrier-a", "carrier-b"][(n % 3) as usize].into()),
        from: format!("+1555{:07}", n % 10_000_000),
        to: format!("+1555000{:04}", n % 20),
        started_at: time(start_ms),
        ended_at: time(start_ms + 120_000),
        duration_ms: 30_000 + (n % 300) * 1_000,
        outcome,
        end_reason: "caller_hung_up".into(),
        end_detail: None,
        loss_pct: None,
        jitter_ms: None,
        barge_ins: (n % 4) as u32,
        false_interruptions: (n % 3) as u32,
        summary: None,
        recording_url: None,
        csat: n.is_multiple_of(3).then_some((n % 5 + 1) as u8),
        versions: BTreeMap::from([("agent".to_owned(), version)]),
        omitted: 0,
        transcript: Vec::new(),
        tool_calls: (0..2)
            .map(|i| StoredToolCall {
                id: format!("fc_{i}"),
                name: "lookup".into(),
                arguments: json!({}),
                result: "ok".into(),
                latency_ms: Some(40 + (n * 37 + i * 11) % 900),
                approval: None,
                approved_by: None,
                at: time(start_ms + 10_000),
                offset_ms: 10_000,
            })
            .collect(),
        escalation,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let calls: u64 = arg("--calls")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let days: i64 = arg("--days").and_then(|v| v.parse().ok()).unwrap_or(90);
    let dir = std::env::temp_dir().join(format!("warmline-analytics-query-{}", std::process::id()));
    let target = match arg("--postgres") {
        Some(url) => StoreTarget::Postgres(url),
        None => {
            let _ = std::fs::remove_dir_all(&dir);
            StoreTarget::Sqlite(dir.join("warmline.db"))
        }
    };
    let store = Store::open(&target).await.expect("the store opens");
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let end = today
        .tomorrow()
        .expect("a date")
        .to_zoned(jiff::tz::TimeZone::UTC)
        .expect("midnight")
        .timestamp();
    let span_ms = days * 86_400_000;
    let first_ms = end.as_millisecond() - span_ms;
    let seeding = Instant::now();
    let batch = 1_000;
    for start in (0..calls).step_by(batch) {
        let records: Vec<StoredCall> = (start..(start + batch as u64).min(calls))
            .map(|n| seeded(n, first_ms + (n as i64 * span_ms) / calls as i64))
            .collect();
        store.write(&records).await.expect("seeded");
    }
    println!(
        "{} with {calls} calls over {days} days, seeded in {:.1} s",
        store.kind(),
        seeding.elapsed().as_secs_f64()
    );
    println!("| window | day | agent | number | trunk | version |");
    println!("|---|---|---|---|---|---|");
    for window_days in [7, 30, 90] {
        let from = end - jiff::SignedDuration::from_hours(24 * window_days);
        let window = Window::new(from, end).expect("a window");
        let mut cells = Vec::new();
        for by in GroupBy::ALL {
            let mut took = Vec::new();
            for run in 0..6 {
                let started = Instant::now();
                let answer = store.analytics(window, by, 20).await.expect("analytics");
                if run > 0 {
                    took.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                std::hint::black_box(answer);
            }
            took.sort_by(f64::total_cmp);
            cells.push(format!("{:.1} ms", took[took.len() / 2]));
        }
        println!("| {window_days} days | {} |", cells.join(" | "));
    }
    store.close().await;
    if !std::env::args().any(|a| a == "--keep") {
        let _ = std::fs::remove_dir_all(dir);
    } else {
        println!("kept {}", dir.display());
    }
}
