//! Headless Chromium on the desk's Analytics view (issue 17, decision
//! 0036): the real binary over a SQLite store seeded with the script of
//! tests/support/analytics_script.rs (its three days ending today, one
//! call the day before, one tomorrow), and tests/oracles/dashboard_analytics.py
//! reading what the page shows. The page must show, within 3 s of the tab
//! being opened, every headline figure, the calls of each day by outcome,
//! the daily rates, the table by agent, and each agent's versions side by
//! side, all equal to the figures this test works out from the script by
//! hand for the window the page asked for; then the same by version, and
//! a 30-day range.
//!
//! Saves `dashboard-analytics.png` and `dashboard-analytics-versions.png`
//! under the test's target tmpdir.

mod support {
    pub mod analytics_script;
    pub mod desk_page;
    pub mod server;
}

use std::path::PathBuf;

use serde_json::Value;
use support::analytics_script::{expected, in_window, key, script, stored, Scripted};
use warmline::config::store::StoreTarget;
use warmline::store::analytics::{Figures, GroupBy};
use warmline::store::Store;

const ADMIN: &str = "admin-token-analytics-5e1d";

// The page's formatting (web/dashboard/analytics.js `fmt`), for the
// figures worked out here.
fn rate(r: Option<f64>) -> String {
    r.map_or("—".into(), |r| format!("{:.1}%", r * 100.0))
}

fn duration(ms: Option<f64>) -> String {
    match ms {
        None => "—".into(),
        Some(ms) if ms < 60_000.0 => format!("{:.1} s", ms / 1000.0),
        Some(ms) => {
            let s = (ms / 1000.0).round() as i64;
            format!("{}m {:02}s", s / 60, s % 60)
        }
    }
}

fn per_call(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.2}"))
}

fn kpis(f: &Figures) -> Value {
    serde_json::json!({
        "calls": f.calls.to_string(),
        "containment_rate": rate(f.containment_rate),
        "escalation_rate": rate(f.escalation_rate),
        "avg_handle_time_ms": duration(f.avg_handle_time_ms),
        "time_to_human_ms": duration(f.time_to_human_ms.median.map(|m| m as f64)),
        "csat": f.csat.mean.map_or("—".into(), |m| format!("{m:.2} / 5")),
        "tool_latency_ms": f.tool_latency_ms.p95.map_or("—".into(), |p| format!("{p} ms")),
        "barge_ins_per_call": per_call(f.barge_ins_per_call),
    })
}

/// The calls of `inside` in the group `k` of `by`.
fn members<'a>(inside: &[&'a Scripted], by: GroupBy, k: &Option<String>) -> Vec<&'a Scripted> {
    inside
        .iter()
        .copied()
        .filter(|s| &key(s, by) == k)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analytics_view_shows_the_hand_computed_figures_within_3_s() {
    warmline::tls::install_crypto_provider();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard_analytics");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("artifact dir");
    let data = dir.join("data");
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let first = today
        .checked_sub(jiff::Span::new().days(2))
        .expect("a date");
    let script = script(first);
    let store = Store::open(&StoreTarget::Sqlite(data.join("warmline.db")))
        .await
        .expect("the store opens");
    let records: Vec<_> = script
        .iter()
        .enumerate()
        .map(|(n, s)| stored(n, s))
        .collect();
    store.write(&records).await.expect("seeded");
    store.close().await;

    let data_dir = data.to_string_lossy().into_owned();
    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[
            ("OPENAI_API_KEY", None),
            ("WARMLINE_ADMIN_TOKEN", Some(ADMIN)),
            ("WARMLINE_STORE__DATA_DIR", Some(&data_dir)),
        ],
        std::env::var_os("WT_ECHO").is_some(),
    );
    let (mut page, mut child) =
        support::desk_page::open_script("dashboard_analytics.py", &server.addr, ADMIN, &dir, &[]);

    // The view as first shown: the last 7 UTC days, by agent.
    let shown = page.next(60).await;
    assert_eq!(shown["error"], "", "{shown}");
    let took = shown["ready_at"].as_f64().unwrap_or(f64::MAX)
        - shown["clicked_at"].as_f64().expect("clicked");
    assert!(
        took < 3.0,
        "the figures showed {took:.2} s after the tab opened: {shown}"
    );
    // The window the page asked for (7 days ending with today, UTC, by
    // the browser's clock); the figures are worked out for it.
    let window = shown["window"].as_str().expect("the window is shown");
    let first_shown = &window[..10];
    let last_shown = &window[14..24];
    let from = format!("{first_shown}T00:00:00Z");
    let last: jiff::civil::Date = last_shown.parse().expect("a date");
    let to = format!("{}T00:00:00Z", last.tomorrow().expect("a date"));
    assert_eq!(
        support::analytics_script::ms(&to) - support::analytics_script::ms(&from),
        7 * 86_400_000,
        "{window}"
    );
    let inside: Vec<&Scripted> = script.iter().filter(|s| in_window(s, &from, &to)).collect();
    // The scripted days and the day before them; not tomorrow's call.
    assert_eq!(inside.len(), 10, "{window}");
    let total = expected(&inside);
    assert_eq!(shown["kpis"], kpis(&total), "{shown}");
    assert_eq!(
        shown["notes"]["containment_rate"],
        format!("{} of {} handled", total.outcomes.contained, total.handled)
    );

    // Calls per day, stacked by outcome: every day of the window.
    let days = shown["days"].as_array().expect("day bars");
    assert_eq!(days.len(), 7, "{shown}");
    let start: jiff::civil::Date = first_shown.parse().expect("a date");
    for (i, bar) in days.iter().enumerate() {
        let day = start
            .checked_add(jiff::Span::new().days(i as i64))
            .expect("a date")
            .to_string();
        assert_eq!(bar["day"], day.as_str());
        let calls = members(&inside, GroupBy::Day, &Some(day.clone()));
        let figures = expected(&calls);
        assert_eq!(bar["calls"], figures.calls, "{day}");
        let o = figures.outcomes;
        for (outcome, n) in [
            ("contained", o.contained),
            ("transferred", o.transferred),
            ("escalated", o.escalated),
            ("failed", o.failed),
            ("abandoned", o.abandoned),
        ] {
            assert_eq!(
                bar["outcomes"][outcome].as_i64().unwrap_or(0),
                n,
                "{day} {outcome}: {bar}"
            );
        }
        // The rates' dots: on days with handled calls only.
        let dot = |field: &str| {
            shown["rates"]
                .as_array()
                .and_then(|r| {
                    r.iter()
                        .find(|d| d["day"] == day.as_str() && d["field"] == field)
                })
                .and_then(|d| d["value"].as_f64())
        };
        assert_eq!(dot("containment_rate"), figures.containment_rate, "{day}");
        assert_eq!(dot("escalation_rate"), figures.escalation_rate, "{day}");
    }

    // The table by agent: busiest first, the call without an agent last,
    // then the window's total.
    let rows = shown["table"].as_array().expect("rows");
    let keys: Vec<&str> = rows
        .iter()
        .map(|r| r["key"].as_str().unwrap_or("total"))
        .collect();
    assert_eq!(keys, ["billing", "support", "", "total"], "{shown}");
    for row in rows {
        let k = row["key"]
            .as_str()
            .map(|k| (!k.is_empty()).then(|| k.to_owned()));
        let figures = match k {
            Some(k) => expected(&members(&inside, GroupBy::Agent, &k)),
            None => total,
        };
        let cells: Vec<&str> = row["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            cells[1..],
            [
                figures.calls.to_string(),
                rate(figures.containment_rate),
                rate(figures.escalation_rate),
                duration(figures.avg_handle_time_ms),
                duration(figures.time_to_human_ms.median.map(|m| m as f64)),
                per_call(figures.barge_ins_per_call),
                per_call(figures.false_interruptions_per_call),
                figures
                    .tool_latency_ms
                    .p95
                    .map_or("—".into(), |p| format!("{p} ms")),
                figures
                    .csat
                    .mean
                    .map_or("—".into(), |m| format!("{m:.2} / 5")),
            ],
            "{row}"
        );
    }

    // Each agent's versions side by side, the one with the latest call
    // first; the calls of each.
    let versions = shown["versions"].as_array().expect("version cards");
    for card in versions {
        let agent = card["agent"].as_str().expect("an agent");
        let shown_versions: Vec<&str> = card["versions"]
            .as_array()
            .expect("versions")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let of_agent: Vec<&Scripted> = inside
            .iter()
            .copied()
            .filter(|s| s.agent.unwrap_or("No agent") == agent)
            .collect();
        let mut by_version: Vec<(String, String, i64)> = Vec::new();
        for s in &of_agent {
            let v = s.version.unwrap_or("").to_owned();
            match by_version.iter_mut().find(|(k, ..)| *k == v) {
                Some(entry) => {
                    entry.1 = entry.1.clone().max(s.started_at.clone());
                    entry.2 += 1;
                }
                None => by_version.push((v, s.started_at.clone(), 1)),
            }
        }
        by_version.sort_by(|a, b| b.1.cmp(&a.1));
        let want: Vec<&str> = by_version.iter().map(|(k, ..)| k.as_str()).collect();
        assert_eq!(shown_versions, want, "{agent}");
        let calls: Vec<String> = by_version.iter().map(|(.., n)| n.to_string()).collect();
        assert_eq!(card["calls"], serde_json::json!(calls), "{agent}");
    }
    let agents: Vec<&str> = versions
        .iter()
        .filter_map(|c| c["agent"].as_str())
        .collect();
    assert_eq!(agents.len(), 3, "{agents:?}");

    // By version: the busiest versions first (ties by hash), the calls
    // without a version last.
    let by_version = page.next(20).await;
    assert_eq!(by_version["error"], "", "{by_version}");
    let mut want: Vec<Option<String>> = Vec::new();
    for s in &inside {
        let k = key(s, GroupBy::Version);
        if !want.contains(&k) {
            want.push(k);
        }
    }
    let count = |k: &Option<String>| members(&inside, GroupBy::Version, k).len();
    want.sort_by(|a, b| {
        count(b)
            .cmp(&count(a))
            .then(a.is_none().cmp(&b.is_none()))
            .then(a.cmp(b))
    });
    let groups: Vec<(String, i64)> = by_version["groups"]
        .as_array()
        .expect("group bars")
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap_or_default().to_owned(),
                g["calls"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let want: Vec<(String, i64)> = want
        .iter()
        .map(|k| (k.clone().unwrap_or_default(), count(k) as i64))
        .collect();
    assert_eq!(groups, want, "{by_version}");

    // 30 days: the same calls, a longer axis.
    let month = page.next(20).await;
    assert_eq!(month["days"].as_array().map(Vec::len), Some(30), "{month}");
    assert_eq!(month["kpis"]["calls"], total.calls.to_string());
    let status = child.wait().expect("python exits");
    assert!(status.success());
    assert!(dir.join("dashboard-analytics.png").exists());
    assert!(dir.join("dashboard-analytics-versions.png").exists());
    println!(
        "analytics shown {took:.2} s after the tab opened; {} calls, containment {}, escalation {}",
        total.calls,
        rate(total.containment_rate),
        rate(total.escalation_rate)
    );
    drop(server);
}
