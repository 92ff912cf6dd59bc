//! The analytics of the supervisor's desk (issue 17, decision 0036):
//! figures over the calls that started in a time window, for the whole
//! window and per group (UTC day, agent, called number, trunk, agent
//! version).
//!
//! Every figure is computed by the database, with one SQL text for SQLite
//! and PostgreSQL (aggregates, `CASE`, and window functions for the
//! percentiles); Rust only divides, so a rate or a mean is exactly the
//! quotient of two integers the database summed. Figures are defined once,
//! on [`Figures`], and in docs/API.md.
//!
//! Bounded: a [`Window`] spans at most [`MAX_DAYS`] days, and a grouping
//! other than by day returns at most [`MAX_GROUPS`] groups (the busiest),
//! saying how many it left out. Reads only; never on a media worker (the
//! history API's pool).

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::StoreError;

/// Longest window, days: a quarter.
pub const MAX_DAYS: i64 = 92;
/// Most groups a grouping other than by day returns.
pub const MAX_GROUPS: u32 = 100;

/// What the window is wrong about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// `to` is not after `from`.
    #[error("the window is empty: `to` must be after `from`")]
    Empty,
    /// Longer than [`MAX_DAYS`].
    #[error("the window is longer than {MAX_DAYS} days: ask for a shorter one")]
    TooLong,
    /// Before 1970 (call records never are).
    #[error("the window starts before 1970")]
    BeforeEpoch,
}

/// Calls that started in `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    from: jiff::Timestamp,
    to: jiff::Timestamp,
}

impl Window {
    /// The window `[from, to)`.
    pub fn new(from: jiff::Timestamp, to: jiff::Timestamp) -> Result<Window, WindowError> {
        if from < jiff::Timestamp::UNIX_EPOCH {
            return Err(WindowError::BeforeEpoch);
        }
        if to <= from {
            return Err(WindowError::Empty);
        }
        if to.as_millisecond() - from.as_millisecond() > MAX_DAYS * 86_400_000 {
            return Err(WindowError::TooLong);
        }
        Ok(Window { from, to })
    }

    /// Where it starts.
    pub fn from(&self) -> jiff::Timestamp {
        self.from
    }

    /// Where it ends (excluded).
    pub fn to(&self) -> jiff::Timestamp {
        self.to
    }

    /// The bounds as the store writes times (`YYYY-MM-DDTHH:MM:SS.mmmZ`),
    /// so that comparing text compares time.
    fn bounds(&self) -> (String, String) {
        (stored_time(self.from), stored_time(self.to))
    }

    /// The UTC dates the window touches, in order.
    fn days(&self) -> Vec<String> {
        let first = self.from.to_zoned(jiff::tz::TimeZone::UTC).date();
        let last = (self.to - jiff::SignedDuration::from_millis(1))
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date();
        let mut days = Vec::new();
        let mut day = first;
        while day <= last {
            days.push(day.to_string());
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        days
    }
}

/// A time as the store writes it.
fn stored_time(at: jiff::Timestamp) -> String {
    let ms = u64::try_from(at.as_millisecond()).unwrap_or(0);
    crate::call::tools::rfc3339(std::time::Duration::from_millis(ms))
}

/// What the groups are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// The UTC date the call started (every date of the window, calls or not).
    Day,
    /// The agent that answered.
    Agent,
    /// The number (or URI) called.
    Number,
    /// The trunk it came in on (a `[[sip.trunks]]` name, `twilio`,
    /// `webrtc`; the ingress for calls routed without a trunk).
    Trunk,
    /// The agent's version (its content hash, decision 0026).
    Version,
}

impl GroupBy {
    /// Every grouping, as the API names them.
    pub const ALL: [GroupBy; 5] = [
        GroupBy::Day,
        GroupBy::Agent,
        GroupBy::Number,
        GroupBy::Trunk,
        GroupBy::Version,
    ];

    /// Its name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Day => "day",
            GroupBy::Agent => "agent",
            GroupBy::Number => "number",
            GroupBy::Trunk => "trunk",
            GroupBy::Version => "version",
        }
    }

    /// The grouping named `name`.
    pub fn parse(name: &str) -> Option<GroupBy> {
        GroupBy::ALL.into_iter().find(|g| g.as_str() == name)
    }

    /// The SQL of a call's group key (over `calls`).
    fn key(self) -> &'static str {
        match self {
            GroupBy::Day => "SUBSTR(calls.started_at, 1, 10)",
            GroupBy::Agent => "calls.agent",
            GroupBy::Number => "calls.to_party",
            GroupBy::Trunk => "COALESCE(calls.trunk, calls.ingress)",
            GroupBy::Version => "calls.agent_version",
        }
    }
}

/// Calls by how they ended ([`super::Outcome`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OutcomeCounts {
    /// The agent handled it to the end.
    pub contained: i64,
    /// Handed to a person who did not answer.
    pub escalated: i64,
    /// Handed to a person who answered (or blind-transferred).
    pub transferred: i64,
    /// The caller left before the agent was heard.
    pub abandoned: i64,
    /// The call broke.
    pub failed: i64,
}

/// A spread of durations (ms): how many, their mean and their median.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Wait {
    /// Answered escalations measured.
    pub count: i64,
    /// Their mean; null without any.
    pub mean: Option<f64>,
    /// Their nearest-rank median (the value at rank ⌈n/2⌉ in ascending
    /// order); null without any.
    pub median: Option<i64>,
}

/// Tool latencies (ms).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Tool calls with a latency (answered or failed; not cancelled ones
    /// that never got an answer).
    pub count: i64,
    /// Their mean; null without any.
    pub mean: Option<f64>,
    /// Nearest-rank 50th percentile: the value at rank ⌈0.50·n⌉.
    pub p50: Option<i64>,
    /// Nearest-rank 95th percentile: the value at rank ⌈0.95·n⌉.
    pub p95: Option<i64>,
}

/// Survey answers (1–5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Csat {
    /// Calls with an answer.
    pub count: i64,
    /// Their mean score; null without any.
    pub mean: Option<f64>,
}

/// The figures of a set of calls (all calls that started in the window,
/// or one group of them). "Handled" calls are every call but the
/// abandoned ones: the agent was heard, so it had the chance to contain
/// the call; a failed call counts as handled and not contained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Calls that started in the window.
    pub calls: i64,
    /// By outcome; they add up to `calls`.
    pub outcomes: OutcomeCounts,
    /// `calls − abandoned`.
    pub handled: i64,
    /// `contained / handled`; null when nothing was handled.
    pub containment_rate: Option<f64>,
    /// `(escalated + transferred) / handled`; null when nothing was handled.
    pub escalation_rate: Option<f64>,
    /// Mean `duration_ms` of the handled calls (answer to hang-up,
    /// including any time with a person); null when nothing was handled.
    pub avg_handle_time_ms: Option<f64>,
    /// The agent asking for a person (`requested_at`, else the rep's
    /// phone ringing) to a person answering, over escalations a person
    /// answered.
    pub time_to_human_ms: Wait,
    /// Barge-ins over the handled calls.
    pub barge_ins: i64,
    /// `barge_ins / handled`.
    pub barge_ins_per_call: Option<f64>,
    /// Pauses for a caller sound that was not an interruption, over the
    /// handled calls.
    pub false_interruptions: i64,
    /// `false_interruptions / handled`.
    pub false_interruptions_per_call: Option<f64>,
    /// The model asking for a tool to the tool's answer.
    pub tool_latency_ms: Latency,
    /// The post-call survey.
    pub csat: Csat,
}

/// One group's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Group {
    /// The date (`YYYY-MM-DD`), agent id, number, trunk or version hash;
    /// null for calls without one (no agent, no version recorded).
    pub key: Option<String>,
    /// With `by=version`: the agent the version is of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The group's first call's `started_at` in the window (null: none).
    pub first_call_at: Option<String>,
    /// Its last call's.
    pub last_call_at: Option<String>,
    /// The figures.
    #[serde(flatten)]
    pub figures: Figures,
}

/// The answer: the window's figures and its groups'.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Analytics {
    /// The window's start, as stored times are written.
    pub from: String,
    /// Its end (excluded).
    pub to: String,
    /// The grouping.
    pub by: GroupBy,
    /// Every call of the window.
    pub total: Figures,
    /// By day: every date of the window in order; otherwise the busiest
    /// groups first (most calls, then by key, the null key last).
    pub groups: Vec<Group>,
    /// Groups left out by the cap.
    pub groups_omitted: i64,
}

/// Counts per group of the `calls` rows of the window; `{key}` and
/// `{agent}` are filled in. Every sum is cast to BIGINT: PostgreSQL sums
/// BIGINTs as NUMERIC, which the `Any` driver cannot read.
const CALLS_SQL: &str = "WITH c AS (SELECT {key} AS k, {agent} AS a, outcome, duration_ms, \
     barge_ins, false_interruptions, csat, started_at FROM calls \
     WHERE calls.started_at >= $1 AND calls.started_at < $2) \
     SELECT k, MIN(a) AS a, COUNT(*) AS n_calls, \
     CAST(COALESCE(SUM(CASE WHEN outcome = 'contained' THEN 1 ELSE 0 END), 0) AS BIGINT) AS contained, \
     CAST(COALESCE(SUM(CASE WHEN outcome = 'escalated' THEN 1 ELSE 0 END), 0) AS BIGINT) AS escalated, \
     CAST(COALESCE(SUM(CASE WHEN outcome = 'transferred' THEN 1 ELSE 0 END), 0) AS BIGINT) AS transferred, \
     CAST(COALESCE(SUM(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END), 0) AS BIGINT) AS abandoned, \
     CAST(COALESCE(SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT) AS failed, \
     CAST(COALESCE(SUM(CASE WHEN outcome <> 'abandoned' THEN duration_ms ELSE 0 END), 0) AS BIGINT) AS handled_ms, \
     CAST(COALESCE(SUM(CASE WHEN outcome <> 'abandoned' THEN COALESCE(barge_ins, 0) ELSE 0 END), 0) AS BIGINT) AS barge_ins, \
     CAST(COALESCE(SUM(CASE WHEN outcome <> 'abandoned' THEN COALESCE(false_interruptions, 0) ELSE 0 END), 0) AS BIGINT) AS false_interruptions, \
     COUNT(csat) AS csat_count, CAST(COALESCE(SUM(csat), 0) AS BIGINT) AS csat_sum, \
     MIN(started_at) AS first_at, MAX(started_at) AS last_at \
     FROM c GROUP BY k ORDER BY n_calls DESC, CASE WHEN k IS NULL THEN 1 ELSE 0 END, k LIMIT $3";

/// Count, sum and nearest-rank percentiles per group of one measured
/// column of a child table (`{table}` joined to its calls, `{value}` not
/// null). Rank ⌈p·n/100⌉ is `(p·n + 99) / 100` in integer division,
/// which both databases do on BIGINTs.
const SPREAD_SQL: &str = "WITH v AS (SELECT {key} AS k, t.{value} AS x FROM {table} t \
     JOIN calls ON calls.id = t.call_id \
     WHERE calls.started_at >= $1 AND calls.started_at < $2 AND t.{value} IS NOT NULL), \
     r AS (SELECT k, x, ROW_NUMBER() OVER (PARTITION BY k ORDER BY x) AS rn, \
     COUNT(*) OVER (PARTITION BY k) AS n FROM v) \
     SELECT k, MAX(n) AS n, CAST(SUM(x) AS BIGINT) AS total, \
     MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN x END) AS p50, \
     MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN x END) AS p95 \
     FROM r GROUP BY k";

/// How many groups the window has.
const GROUPS_SQL: &str = "SELECT COUNT(*) AS n FROM (SELECT {key} AS k FROM calls \
     WHERE calls.started_at >= $1 AND calls.started_at < $2 GROUP BY {key}) g";

/// One count and sum with its percentiles, per group key.
#[derive(Clone, Copy, Debug, Default)]
struct Spread {
    count: i64,
    total: i64,
    p50: Option<i64>,
    p95: Option<i64>,
}

impl Spread {
    fn mean(&self) -> Option<f64> {
        ratio(self.total, self.count)
    }
}

/// `a / b`, or none when `b` is 0.
fn ratio(a: i64, b: i64) -> Option<f64> {
    (b != 0).then(|| a as f64 / b as f64)
}

/// The group key of a row (SQLite and PostgreSQL both give text or null).
fn key_of(row: &AnyRow) -> Result<Option<String>, sqlx::Error> {
    row.try_get::<Option<String>, _>("k")
}

async fn spreads(
    pool: &AnyPool,
    key: &str,
    table: &str,
    value: &str,
    bounds: &(String, String),
) -> Result<BTreeMap<Option<String>, Spread>, StoreError> {
    let sql = SPREAD_SQL
        .replace("{key}", key)
        .replace("{table}", table)
        .replace("{value}", value);
    let rows = sqlx::query(&sql)
        .bind(&bounds.0)
        .bind(&bounds.1)
        .fetch_all(pool)
        .await?;
    let mut found = BTreeMap::new();
    for row in &rows {
        found.insert(
            key_of(row)?,
            Spread {
                count: row.try_get("n")?,
                total: row.try_get("total")?,
                p50: row.try_get("p50")?,
                p95: row.try_get("p95")?,
            },
        );
    }
    Ok(found)
}

/// One row of [`CALLS_SQL`]: the key, the agent and the figures that
/// come from `calls` alone.
struct CallsRow {
    key: Option<String>,
    agent: Option<String>,
    first_at: Option<String>,
    last_at: Option<String>,
    figures: Figures,
}

fn calls_row(row: &AnyRow) -> Result<CallsRow, sqlx::Error> {
    let outcomes = OutcomeCounts {
        contained: row.try_get("contained")?,
        escalated: row.try_get("escalated")?,
        transferred: row.try_get("transferred")?,
        abandoned: row.try_get("abandoned")?,
        failed: row.try_get("failed")?,
    };
    let calls: i64 = row.try_get("n_calls")?;
    let handled = calls - outcomes.abandoned;
    let handled_ms: i64 = row.try_get("handled_ms")?;
    let barge_ins: i64 = row.try_get("barge_ins")?;
    let false_interruptions: i64 = row.try_get("false_interruptions")?;
    let csat_count: i64 = row.try_get("csat_count")?;
    let csat_sum: i64 = row.try_get("csat_sum")?;
    Ok(CallsRow {
        key: key_of(row)?,
        agent: row.try_get("a")?,
        first_at: row.try_get("first_at")?,
        last_at: row.try_get("last_at")?,
        figures: Figures {
            calls,
            outcomes,
            handled,
            containment_rate: ratio(outcomes.contained, handled),
            escalation_rate: ratio(outcomes.escalated + outcomes.transferred, handled),
            avg_handle_time_ms: ratio(handled_ms, handled),
            time_to_human_ms: Wait::default(),
            barge_ins,
            barge_ins_per_call: ratio(barge_ins, handled),
            false_interruptions,
            false_interruptions_per_call: ratio(false_interruptions, handled),
            tool_latency_ms: Latency::default(),
            csat: Csat {
                count: csat_count,
                mean: ratio(csat_sum, csat_count),
            },
        },
    })
}

/// The groups of `key` (the constant `''` for the window as a whole),
/// at most `limit`, with every figure filled.
async fn grouped(
    pool: &AnyPool,
    key: &str,
    agent: &str,
    limit: i64,
    bounds: &(String, String),
) -> Result<Vec<CallsRow>, StoreError> {
    let sql = CALLS_SQL.replace("{key}", key).replace("{agent}", agent);
    let rows = sqlx::query(&sql)
        .bind(&bounds.0)
        .bind(&bounds.1)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    let mut groups = rows.iter().map(calls_row).collect::<Result<Vec<_>, _>>()?;
    let latencies = spreads(pool, key, "tool_calls", "latency_ms", bounds).await?;
    let waits = spreads(pool, key, "escalations", "wait_ms", bounds).await?;
    for group in &mut groups {
        if let Some(l) = latencies.get(&group.key) {
            group.figures.tool_latency_ms = Latency {
                count: l.count,
                mean: l.mean(),
                p50: l.p50,
                p95: l.p95,
            };
        }
        if let Some(w) = waits.get(&group.key) {
            group.figures.time_to_human_ms = Wait {
                count: w.count,
                mean: w.mean(),
                median: w.p50,
            };
        }
    }
    Ok(groups)
}

/// The figures of `window`, grouped `by`, at most `limit` groups (by day:
/// every date of the window).
pub(super) async fn analytics(
    pool: &AnyPool,
    window: Window,
    by: GroupBy,
    limit: u32,
) -> Result<Analytics, StoreError> {
    let bounds = window.bounds();
    let total = grouped(pool, "''", "NULL", 1, &bounds)
        .await?
        .pop()
        .map(|t| t.figures)
        .unwrap_or_default();
    let agent = if by == GroupBy::Version {
        "calls.agent"
    } else {
        "NULL"
    };
    let days = window.days();
    let limit = match by {
        GroupBy::Day => days.len() as i64,
        _ => i64::from(limit.clamp(1, MAX_GROUPS)),
    };
    let found = grouped(pool, by.key(), agent, limit, &bounds).await?;
    let group = |row: CallsRow| Group {
        key: row.key,
        agent: row.agent,
        first_call_at: row.first_at,
        last_call_at: row.last_at,
        figures: row.figures,
    };
    let (groups, omitted) = if by == GroupBy::Day {
        let mut by_day: BTreeMap<Option<String>, CallsRow> =
            found.into_iter().map(|r| (r.key.clone(), r)).collect();
        let groups = days
            .into_iter()
            .map(|day| match by_day.remove(&Some(day.clone())) {
                Some(row) => group(row),
                None => Group {
                    key: Some(day),
                    agent: None,
                    first_call_at: None,
                    last_call_at: None,
                    figures: Figures::default(),
                },
            })
            .collect();
        (groups, 0)
    } else {
        let shown = found.len() as i64;
        let omitted = if shown < limit {
            0
        } else {
            let row = sqlx::query(&GROUPS_SQL.replace("{key}", by.key()))
                .bind(&bounds.0)
                .bind(&bounds.1)
                .fetch_one(pool)
                .await?;
            row.try_get::<i64, _>("n")? - shown
        };
        (found.into_iter().map(group).collect(), omitted)
    };
    Ok(Analytics {
        from: bounds.0,
        to: bounds.1,
        by,
        total,
        groups,
        groups_omitted: omitted,
    })
}

#[cfg(test)]
mod tests;
