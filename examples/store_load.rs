//! Store cost: the CPU time of the call-records path for N ended calls
//! (200 by default), as issue 16 asks ("the store's cost per call is
//! measured as the CPU time of its threads at 200 calls").
//!
//! Run: `cargo run --release --example store_load -- [--calls N] [--secs S] [--lines L] [--call-secs D] [--postgres URL]`
//!
//! In-process, the production path: each call's `call.ended` record
//! ([`CallEnded`], L transcript lines and 2 tool calls) goes to the
//! [`StoreSink`] as the media worker would hand it over, spread evenly
//! over S seconds (records of 200 concurrent calls of D seconds end at
//! about N/D a second; S defaults to 20 so the batches are realistic, not
//! one burst). The database is the embedded SQLite in a fresh directory,
//! or PostgreSQL with `--postgres`.
//!
//! Reports:
//! - the CPU time of the store's threads (`store-writer` and SQLite's
//!   connection workers `sqlx-sqlite-*`, read from
//!   /proc/self/task/*/schedstat), in total and per call;
//! - the cost on the caller's side (converting and queueing the record on
//!   the media worker), per call;
//! - the share of a core per call: the per-call CPU over the call's
//!   duration D (default 60 s), against the target of ≤ 0.05 %;
//! - the hypervisor's steal over the run.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use warmline::call::events::{
    CallEnded, CallEvents, CallQuality, EndReason, Speaker, ToolCallRecord, TranscriptLine,
};
use warmline::call::tools::CallIdentity;
use warmline::config::store::StoreTarget;
use warmline::store::writer::StoreSink;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn number(name: &str, default: u64) -> u64 {
    arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CPU time on the CPU of this process's threads whose name starts with
/// one of `prefixes`, ns.
fn threads_cpu_ns(prefixes: &[&str]) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut total = 0;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !prefixes.iter().any(|p| comm.trim().starts_with(p)) {
            continue;
        }
        let schedstat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += schedstat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

/// (steal, total) clock ticks from /proc/stat's `cpu` line.
fn cpu_steal() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    (
        fields.get(7).copied().unwrap_or(0),
        fields.iter().take(8).sum(),
    )
}

fn record(i: u64, lines: u64, call_secs: u64) -> CallEnded {
    let call = CallIdentity::mint(
        "twilio",
        &format!("CA_load_{i}"),
        "+15550001111",
        "+15550002222",
    );
    let transcript = (0..lines)
        .map(|n| TranscriptLine {
            item_id: format!("item_{n}"),
            speaker: if n % 2 == 0 {
                Speaker::Agent
            } else {
                Speaker::Caller
            },
            text: "I would like to change the delivery address of my last order, please."
                .to_owned(),
            at: call.started_at.clone(),
            offset_ms: n * 2_000,
            interrupted: n % 7 == 3,
            heard_ms: (n % 7 == 3).then_some(900),
        })
        .collect();
    let tool = |id: &str, name: &str| ToolCallRecord {
        id: id.to_owned(),
        name: name.to_owned(),
        arguments: json!({"order_id": "A-10023", "address": "1 Main St"}),
        outcome: "ok".to_owned(),
        at: call.started_at.clone(),
        offset_ms: 20_000,
        latency_ms: Some(180),
        approval: None,
        approved_by: None,
    };
    CallEnded {
        transcript,
        tool_calls: vec![tool("fc_1", "lookup_order"), tool("fc_2", "end_call")],
        reason: EndReason::AgentEnded,
        detail: None,
        ended_at: call.started_at.clone(),
        duration_ms: call_secs * 1_000,
        omitted: 0,
        summary: None,
        escalation: None,
        recording_url: Some(format!("/recordings/{}.wav", call.id)),
        csat: Some(5),
        versions: BTreeMap::from([("agent".to_owned(), "sha256:0f3a".to_owned())]),
        quality: CallQuality {
            loss_pct: Some(0.2),
            jitter_ms: Some(4.0),
            barge_ins: 2,
            false_interruptions: 1,
        },
        call,
    }
}

fn main() {
    let calls = number("--calls", 200);
    let secs = number("--secs", 20);
    let lines = number("--lines", 30);
    let call_secs = number("--call-secs", 60).max(1);
    let dir = std::env::temp_dir().join(format!("warmline-store-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let target = match arg("--postgres") {
        Some(url) => StoreTarget::Postgres(url),
        None => StoreTarget::Sqlite(dir.join("warmline.db")),
    };
    println!("store_load: {calls} calls of {call_secs} s ({lines} lines, 2 tool calls each) over {secs} s into {target:?}");
    let (sink, _history) =
        StoreSink::start_with(target, dir.join("spool.jsonl")).expect("the writer starts");
    // Let the writer open and migrate the database first: start-up is
    // not the per-call cost.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sink.is_ready() {
        assert!(Instant::now() < deadline, "the database did not open");
        std::thread::sleep(Duration::from_millis(20));
    }
    let prefixes = ["store-writer", "sqlx-sqlite"];
    let cpu0 = threads_cpu_ns(&prefixes);
    let steal0 = cpu_steal();
    let started = Instant::now();
    let gap = Duration::from_secs(secs) / calls.max(1) as u32;
    let records: Vec<CallEnded> = (0..calls).map(|i| record(i, lines, call_secs)).collect();
    let mut handover = Duration::ZERO;
    for (i, ended) in records.into_iter().enumerate() {
        let due = started + gap * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let t = Instant::now();
        sink.call_ended(ended);
        handover += t.elapsed();
    }
    assert!(
        sink.wait_idle(Duration::from_secs(60)),
        "the writer did not catch up"
    );
    let cpu = threads_cpu_ns(&prefixes).saturating_sub(cpu0);
    let steal = {
        let after = cpu_steal();
        let total = after.1.saturating_sub(steal0.1).max(1) as f64;
        after.0.saturating_sub(steal0.0) as f64 / total
    };
    let spooled = sink.spooled();
    assert!(sink.close(Duration::from_secs(10)));
    let per_call_ms = cpu as f64 / 1e6 / calls as f64;
    let share = per_call_ms / (call_secs as f64 * 1_000.0) * 100.0;
    println!(
        "store threads: {:.1} ms CPU for {calls} calls = {per_call_ms:.3} ms per call",
        cpu as f64 / 1e6
    );
    println!(
        "caller side (convert + queue, on the media worker): {:.1} µs per call",
        handover.as_secs_f64() * 1e6 / calls as f64
    );
    println!(
        "share of a core per call ({call_secs} s calls): {share:.5} % (target ≤ 0.05 %); spooled {spooled}; steal {:.1} %",
        steal * 100.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
