//! A script of calls with known outcomes, durations, escalations (answered
//! or not, timed from the request or from the ring), tool latencies,
//! survey answers, barge-ins and false interruptions over three UTC days,
//! two agents, four versions, three numbers and three trunks, plus one
//! call a millisecond before the first day and one at the end of the
//! third; and the analytics figures of any set of them, worked out with
//! plain arithmetic (never through warmline's own code), for the tests of
//! decision 0036 to compare with what the store and the page say.

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::json;
use warmline::store::analytics::{Csat, Figures, GroupBy, Latency, OutcomeCounts, Wait};
use warmline::store::record::StoredToolCall;
use warmline::store::{Outcome, StoredCall};

/// One scripted call.
#[derive(Clone, Debug)]
pub struct Scripted {
    pub started_at: String,
    pub agent: Option<&'static str>,
    pub version: Option<&'static str>,
    pub to: &'static str,
    pub trunk: Option<&'static str>,
    pub ingress: &'static str,
    pub outcome: Outcome,
    pub duration_ms: u64,
    pub barge_ins: u32,
    pub false_interruptions: u32,
    pub csat: Option<u8>,
    /// Latencies of its tool calls (none: cancelled before an answer).
    pub tools: Vec<Option<u64>>,
    /// (requested_at, ring_at, answered_at) of its escalation.
    pub escalation: Option<(Option<String>, Option<String>, Option<String>)>,
}

pub const BILLING: Option<&str> = Some("billing");
pub const SUPPORT: Option<&str> = Some("support");
pub const B1: Option<&str> =
    Some("sha256:6050f936706c70993e49361a8be977a2650fa76a1050f4922133394a7274a0b4");
pub const B2: Option<&str> =
    Some("sha256:bae32160166a9dd0d5b0f6f47ec25ac92f964294259ed28e57e01c7936b146f5");
pub const S1: Option<&str> =
    Some("sha256:209bd2e8e1b639dc2d58d1432da835312b5d6ab47f97d5524a2c58dc3ff57ef1");
pub const S2: Option<&str> =
    Some("sha256:dba6da87678f089dd6389a8ac5c7683a54a33d2954fea85ab601a642e61d3745");
const N1: &str = "+15550001";
const N2: &str = "+15550002";
const N3: &str = "+15550003";
const CARRIER: Option<&str> = Some("carrier-a");
const TWILIO: Option<&str> = Some("twilio");

/// `YYYY-MM-DD` of `first` plus `days`, then `time` (`HH:MM:SS.mmm`).
fn at(first: jiff::civil::Date, days: i64, time: &str) -> String {
    let day = first
        .checked_add(jiff::Span::new().days(days))
        .expect("a date");
    format!("{day}T{time}Z")
}

/// The script, its three days starting on `first`.
pub fn script(first: jiff::civil::Date) -> Vec<Scripted> {
    use Outcome::*;
    let call = |day: i64,
                time: &str,
                (agent, version): (Option<&'static str>, Option<&'static str>),
                (to, trunk, ingress): (&'static str, Option<&'static str>, &'static str),
                outcome: Outcome,
                duration_ms: u64,
                (barge_ins, false_interruptions): (u32, u32),
                csat: Option<u8>,
                tools: &[Option<u64>]| Scripted {
        started_at: at(first, day, time),
        agent,
        version,
        to,
        trunk,
        ingress,
        outcome,
        duration_ms,
        barge_ins,
        false_interruptions,
        csat,
        tools: tools.to_vec(),
        escalation: None,
    };
    let b1 = (BILLING, B1);
    let b2 = (BILLING, B2);
    let s1 = (SUPPORT, S1);
    let s2 = (SUPPORT, S2);
    let sip1 = (N1, CARRIER, "sip");
    let tw1 = (N1, TWILIO, "twilio");
    let sip2 = (N2, CARRIER, "sip");
    let tw2 = (N2, TWILIO, "twilio");
    let mut calls = vec![
        // Day 1.
        call(
            0,
            "01:00:00.000",
            b1,
            sip1,
            Contained,
            60_000,
            (2, 1),
            Some(5),
            &[Some(100), Some(300)],
        ),
        call(
            0,
            "02:00:00.000",
            b1,
            tw1,
            Escalated,
            120_000,
            (0, 0),
            None,
            &[Some(200)],
        ),
        call(
            0,
            "03:00:00.000",
            s1,
            tw2,
            Transferred,
            300_000,
            (1, 0),
            Some(4),
            &[Some(50)],
        ),
        // Day 2: the abandoned call's barge-in is not a handled call's.
        call(
            1,
            "01:00:00.000",
            s1,
            sip2,
            Abandoned,
            4_000,
            (1, 0),
            None,
            &[],
        ),
        call(
            1,
            "05:00:00.000",
            b2,
            sip1,
            Contained,
            90_000,
            (3, 2),
            Some(3),
            &[Some(400), Some(100), Some(700)],
        ),
        call(
            1,
            "06:00:00.000",
            b2,
            tw1,
            Failed,
            10_000,
            (0, 0),
            None,
            &[None],
        ),
        call(
            1,
            "07:00:00.000",
            s2,
            sip2,
            Transferred,
            200_000,
            (1, 1),
            Some(2),
            &[Some(150)],
        ),
        // Day 3: a browser call routed without agents (no trunk: its
        // ingress stands in), and an escalation timed from the ring.
        call(
            2,
            "12:00:00.000",
            (None, None),
            (N3, None, "webrtc"),
            Contained,
            30_000,
            (0, 0),
            Some(1),
            &[],
        ),
        call(
            2,
            "13:00:00.000",
            b2,
            tw1,
            Transferred,
            150_000,
            (0, 0),
            None,
            &[Some(250), Some(250)],
        ),
        // A millisecond before day 1, and the first instant after day 3.
        call(
            -1,
            "23:59:59.999",
            b1,
            sip1,
            Failed,
            9_000,
            (9, 9),
            Some(1),
            &[Some(9_999)],
        ),
        call(
            3,
            "00:00:00.000",
            s2,
            tw2,
            Abandoned,
            1_000,
            (0, 0),
            Some(1),
            &[Some(9_999)],
        ),
    ];
    let t = |day, time: &str| Some(at(first, day, time));
    calls[1].escalation = Some((t(0, "02:01:00.000"), None, None));
    calls[2].escalation = Some((
        t(0, "03:00:10.000"),
        t(0, "03:00:20.000"),
        t(0, "03:00:25.000"),
    ));
    calls[6].escalation = Some((t(1, "07:01:00.000"), None, t(1, "07:01:45.500")));
    calls[8].escalation = Some((None, t(2, "13:02:00.000"), t(2, "13:02:03.000")));
    calls[9].escalation = Some((t(-1, "23:59:59.999"), None, t(0, "00:30:00.000")));
    calls
}

/// The record the store would keep of `s` (the `n`th call).
pub fn stored(n: usize, s: &Scripted) -> StoredCall {
    let versions = s
        .version
        .map(|v| BTreeMap::from([("agent".to_owned(), v.to_owned())]))
        .unwrap_or_default();
    let escalation = s.escalation.as_ref().map(|(requested, ring, answered)| {
        json!({"reason": "caller asked", "requested_at": requested, "ring_at": ring,
               "answered_at": answered,
               "outcome": if answered.is_some() { "answered" } else { "nobody_answered" }})
    });
    StoredCall {
        id: format!("0193e0f4-0000-7000-8000-{n:012}"),
        provider_id: format!("CA_script_{n}"),
        ingress: s.ingress.to_owned(),
        agent: s.agent.map(str::to_owned),
        trunk: s.trunk.map(str::to_owned),
        from: "+15559990000".into(),
        to: s.to.into(),
        started_at: s.started_at.clone(),
        ended_at: s.started_at.clone(),
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
            .map(|(i, latency)| StoredToolCall {
                id: format!("fc_{i}"),
                name: "lookup".into(),
                arguments: json!({}),
                result: if latency.is_some() { "ok" } else { "cancelled" }.into(),
                latency_ms: *latency,
                approval: None,
                approved_by: None,
                at: s.started_at.clone(),
                offset_ms: 1_000,
            })
            .collect(),
        escalation,
    }
}

/// Milliseconds since 1970 of an RFC 3339 time.
pub fn ms(at: &str) -> i64 {
    at.parse::<jiff::Timestamp>()
        .expect("a time")
        .as_millisecond()
}

/// Whether `s` started in `[from, to)`.
pub fn in_window(s: &Scripted, from: &str, to: &str) -> bool {
    ms(&s.started_at) >= ms(from) && ms(&s.started_at) < ms(to)
}

/// `a / b` as the API writes it: null when `b` is 0.
pub fn div(a: i64, b: i64) -> Option<f64> {
    if b == 0 {
        None
    } else {
        Some(a as f64 / b as f64)
    }
}

/// The value at rank ⌈p·n/100⌉ of `values` sorted ascending.
pub fn nearest_rank(values: &[i64], p: i64) -> Option<i64> {
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
pub fn expected(calls: &[&Scripted]) -> Figures {
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
        .filter_map(|c| c.escalation.as_ref())
        .filter_map(|(requested, ring, answered)| {
            Some(ms(answered.as_deref()?) - ms(requested.as_deref().or(ring.as_deref())?))
        })
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

/// The group key a scripted call falls in.
pub fn key(s: &Scripted, by: GroupBy) -> Option<String> {
    match by {
        GroupBy::Day => Some(s.started_at[..10].to_owned()),
        GroupBy::Agent => s.agent.map(str::to_owned),
        GroupBy::Number => Some(s.to.to_owned()),
        GroupBy::Trunk => Some(s.trunk.unwrap_or(s.ingress).to_owned()),
        GroupBy::Version => s.version.map(str::to_owned),
    }
}
