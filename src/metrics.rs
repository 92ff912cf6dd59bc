//! Process metrics: the names warmline records, and the Prometheus
//! exporter behind `GET /metrics`.
//!
//! Recording goes through the [`metrics`] facade, so the per-call figures
//! are hooks any recorder can take (Prometheus here; StatsD or
//! OpenTelemetry by installing another recorder instead). Without an
//! installed recorder, as in unit tests, every record is a no-op.
//!
//! Units follow Prometheus conventions: durations in seconds, counters end
//! in `_total`. Histograms have fixed buckets chosen for each figure, so a
//! scrape costs the same however many calls ran.

use std::time::Duration;

use metrics::{counter, gauge, histogram, Histogram};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::time::Instant;

use crate::call::{BargeInRecord, CallFigure};

/// Calls accepted, by ingress (`twilio`, `sip`).
pub const CALLS_STARTED: &str = "warmline_calls_started_total";
/// Calls in progress, by ingress.
pub const CALLS_ACTIVE: &str = "warmline_calls_active";
/// Stream start (or answer) to the first agent audio sent to the caller.
pub const FIRST_AUDIO: &str = "warmline_first_audio_seconds";
/// Caller turn end to the first audio of the agent's answer.
pub const MODEL_ROUND_TRIP: &str = "warmline_model_round_trip_seconds";
/// Barge-in reaction: the caller's speech onset to the agent's audio
/// stopping (the pause; the cancel follows once it is judged real).
pub const BARGE_IN_REACTION: &str = "warmline_barge_in_reaction_seconds";
/// How much of the interrupted item the caller had heard (the truncation
/// point sent to the model).
pub const BARGE_IN_TRUNCATION: &str = "warmline_barge_in_truncated_audio_seconds";
/// Barge-ins, by trigger (`local_vad`, `model`).
pub const BARGE_INS: &str = "warmline_barge_ins_total";
/// Pauses of the agent for a caller sound that proved not to be an
/// interruption (a cough, a click, a backchannel): the agent resumed.
pub const FALSE_INTERRUPTIONS: &str = "warmline_false_interruptions_total";
/// How long the agent stayed paused before a false interruption resumed it.
pub const FALSE_INTERRUPTION_PAUSE: &str = "warmline_false_interruption_pause_seconds";
/// Model sessions lost mid-call and reopened.
pub const MODEL_RECONNECTS: &str = "warmline_model_reconnects_total";
/// 20 ms frames of caller audio dropped because the model session's queue
/// was full (its socket fell behind). Control commands are never dropped.
pub const MODEL_AUDIO_DROPPED: &str = "warmline_model_audio_frames_dropped_total";
/// RTP packets a media worker built only after their slot had passed: the
/// worker is a frame or more behind (overloaded), so the send clock could
/// not put them out on time.
pub const RTP_BUILT_LATE: &str = "warmline_rtp_built_late_total";
/// How late each outbound 20 ms frame left, against its slot on the
/// playout clock: agent audio on every leg, and the silence an RTP leg
/// sends while the agent is quiet.
pub const PLAYOUT_LATENESS: &str = "warmline_playout_lateness_seconds";
/// Pacing jitter: for each outbound frame sent in the slot right after the
/// previous one, how far its spacing from that frame strayed from 20 ms
/// (the difference of their lateness; RFC 3550's D(i−1, i), taken at the
/// sender and not smoothed). A constant lateness is no jitter.
pub const PLAYOUT_JITTER: &str = "warmline_playout_jitter_seconds";

/// Requests and connections refused, by ingress (`twilio`, `sip`) and
/// reason (see [`crate::refusals`]).
pub const REFUSED: &str = "warmline_refused_total";
/// 1 while the process drains (after SIGTERM/SIGINT), else 0.
pub const DRAINING: &str = "warmline_draining";

/// RTP packets received from SIP callers (counted when each call ends).
pub const RTP_RECEIVED: &str = "warmline_rtp_packets_received_total";
/// RTP packets sent to SIP callers.
pub const RTP_SENT: &str = "warmline_rtp_packets_sent_total";
/// RTP packets lost on the way in, by sequence numbers (RFC 3550 A.3).
pub const RTP_LOST: &str = "warmline_rtp_packets_lost_total";
/// Frames the jitter buffer concealed.
pub const RTP_CONCEALED: &str = "warmline_rtp_frames_concealed_total";
/// RTP packets refused (wrong source, payload type, malformed).
pub const RTP_REJECTED: &str = "warmline_rtp_packets_rejected_total";
/// Histogram: a tool call from the model's request to its output, by
/// `tool` and `outcome` (`ok` or the error kind, docs/TOOLS.md).
pub const TOOL_DURATION: &str = "warmline_tool_duration_seconds";
/// Counter: tool calls, by `tool` and `outcome`.
pub const TOOL_CALLS: &str = "warmline_tool_calls_total";
/// Counter: gated tool calls, by `outcome` (`approved`, `rejected`,
/// `timeout`, `cancelled`, `refused`; [`crate::tools::approval::OUTCOMES`]).
pub const APPROVALS: &str = "warmline_approvals_total";
/// Gauge: approvals waiting for a decision.
pub const APPROVALS_PENDING: &str = "warmline_approvals_pending";
/// Calls in the live-call registry (the admin API's `GET /api/v1/calls`).
pub const REGISTRY_CALLS: &str = "warmline_registry_calls";
/// Histogram: the sidecar's own overhead, from a function call arriving in
/// the call to its webhook request leaving (first attempt), seconds.
pub const TOOL_DISPATCH: &str = "warmline_tool_dispatch_seconds";
/// Counter: call events by `event` and `outcome` (`delivered`, `failed`
/// after every retry, `dropped` because the queue was full).
pub const CALL_EVENTS: &str = "warmline_call_events_total";
/// Gauge: call events queued or being delivered.
pub const CALL_EVENTS_PENDING: &str = "warmline_call_events_pending";

/// How far a frame's spacing from the previous one (`previous`: its slot
/// and lateness) strayed from the frame period; `None` unless the previous
/// frame was sent in the slot right before.
fn spacing_jitter(
    previous: Option<(Instant, Duration)>,
    due: Instant,
    late: Duration,
) -> Option<Duration> {
    let (previous_due, previous_late) = previous?;
    (due.saturating_duration_since(previous_due) == FRAME).then(|| late.abs_diff(previous_late))
}

/// The playout clock's frame period.
const FRAME: Duration = Duration::from_millis(20);

const LATENCY_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
];
/// The tool sidecar's dispatch overhead: its target is p99 ≤ 5 ms.
const DISPATCH_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1,
];
const REACTION_BUCKETS: &[f64] = &[0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0];
const TRUNCATION_BUCKETS: &[f64] = &[0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
const LATENESS_BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.02, 0.04, 0.1, 0.5,
];

/// Installs the Prometheus recorder for the process and returns the
/// handle `/metrics` renders from. Call once, before calls start.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(FIRST_AUDIO.into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(MODEL_ROUND_TRIP.into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(BARGE_IN_REACTION.into()), REACTION_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full(BARGE_IN_TRUNCATION.into()),
            TRUNCATION_BUCKETS,
        )?
        .set_buckets_for_metric(Matcher::Full(PLAYOUT_LATENESS.into()), LATENESS_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(PLAYOUT_JITTER.into()), LATENESS_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full(FALSE_INTERRUPTION_PAUSE.into()),
            LATENCY_BUCKETS,
        )?
        .set_buckets_for_metric(Matcher::Full(TOOL_DURATION.into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(TOOL_DISPATCH.into()), DISPATCH_BUCKETS)?
        .install_recorder()?;
    describe();
    register_zeros();
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(CALLS_STARTED, "Calls accepted, by ingress");
    describe_gauge!(CALLS_ACTIVE, "Calls in progress, by ingress");
    describe_histogram!(
        FIRST_AUDIO,
        Unit::Seconds,
        "Stream start to the first agent audio sent"
    );
    describe_histogram!(
        MODEL_ROUND_TRIP,
        Unit::Seconds,
        "Caller turn end to the first audio of the answer"
    );
    describe_histogram!(
        BARGE_IN_REACTION,
        Unit::Seconds,
        "Caller speech onset to the agent's audio stopping (the pause)"
    );
    describe_counter!(
        FALSE_INTERRUPTIONS,
        "Agent pauses for a caller sound that was not an interruption (resumed)"
    );
    describe_histogram!(
        FALSE_INTERRUPTION_PAUSE,
        Unit::Seconds,
        "How long the agent stayed paused before a false interruption resumed it"
    );
    describe_histogram!(
        BARGE_IN_TRUNCATION,
        Unit::Seconds,
        "Audio of the interrupted item the caller heard"
    );
    describe_counter!(BARGE_INS, "Barge-ins, by trigger");
    describe_counter!(MODEL_RECONNECTS, "Model sessions reopened mid-call");
    describe_counter!(
        MODEL_AUDIO_DROPPED,
        "Caller audio frames dropped because the model socket fell behind"
    );
    describe_counter!(
        REFUSED,
        "Requests and connections refused, by ingress and reason"
    );
    describe_gauge!(DRAINING, "1 while the process drains after SIGTERM/SIGINT");
    describe_counter!(RTP_RECEIVED, "RTP packets received from SIP callers");
    describe_counter!(RTP_SENT, "RTP packets sent to SIP callers");
    describe_counter!(RTP_LOST, "RTP packets lost on the way in");
    describe_counter!(RTP_CONCEALED, "Frames the jitter buffer concealed");
    describe_counter!(RTP_REJECTED, "RTP packets refused");
    describe_counter!(TOOL_CALLS, "Tool calls, by tool and outcome");
    describe_histogram!(
        TOOL_DURATION,
        Unit::Seconds,
        "Tool calls from the model's request to the output, by tool and outcome"
    );
    describe_histogram!(
        TOOL_DISPATCH,
        Unit::Seconds,
        "The tool sidecar's own overhead: function call arriving to webhook request leaving"
    );
    describe_counter!(CALL_EVENTS, "Call events, by event and outcome");
    describe_gauge!(CALL_EVENTS_PENDING, "Call events queued or being delivered");
    describe_counter!(
        APPROVALS,
        "Tool calls that needed approval, by outcome (approved, rejected, timeout, cancelled, refused)"
    );
    describe_gauge!(APPROVALS_PENDING, "Approvals waiting for a decision");
    describe_gauge!(REGISTRY_CALLS, "Calls in the live-call registry");
    describe_counter!(
        RTP_BUILT_LATE,
        "RTP packets built after their slot had passed (media worker overloaded)"
    );
    describe_histogram!(
        PLAYOUT_LATENESS,
        Unit::Seconds,
        "Lateness of outbound 20 ms frames against the playout clock"
    );
    describe_histogram!(
        PLAYOUT_JITTER,
        Unit::Seconds,
        "Deviation of consecutive outbound frames' spacing from 20 ms"
    );
}

/// Creates the counter and gauge series at zero, so that `/metrics` lists
/// every `warmline_` series before the first call (dashboards and alerts
/// see 0, not "no data").
fn register_zeros() {
    for ingress in crate::ingress::NAMES {
        counter!(CALLS_STARTED, "ingress" => ingress).absolute(0);
        gauge!(CALLS_ACTIVE, "ingress" => ingress).set(0.0);
    }
    // Barge-ins are left out: their series appear per trigger with the
    // first one (a reader of the unlabelled name sees that one's count).
    for (ingress, reason) in crate::refusals::KINDS {
        counter!(REFUSED, "ingress" => ingress, "reason" => reason).absolute(0);
    }
    for name in [
        MODEL_RECONNECTS,
        MODEL_AUDIO_DROPPED,
        RTP_RECEIVED,
        RTP_SENT,
        RTP_LOST,
        RTP_CONCEALED,
        RTP_REJECTED,
        RTP_BUILT_LATE,
    ] {
        counter!(name).absolute(0);
    }
    gauge!(DRAINING).set(0.0);
    for outcome in crate::tools::approval::OUTCOMES {
        counter!(APPROVALS, "outcome" => outcome).absolute(0);
    }
    gauge!(APPROVALS_PENDING).set(0.0);
    gauge!(REGISTRY_CALLS).set(0.0);
    for event in ["call.started", "call.ended"] {
        for outcome in ["delivered", "failed", "dropped"] {
            counter!(CALL_EVENTS, "event" => event, "outcome" => outcome).absolute(0);
        }
    }
    gauge!(CALL_EVENTS_PENDING).set(0.0);
}

/// Drains the recorder's histogram buffers into their buckets. Histograms
/// buffer raw samples between upkeeps; without this their memory grows
/// with the number of frames sent. Run it every few seconds.
pub async fn run_upkeep(handle: PrometheusHandle, every: Duration) {
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        handle.run_upkeep();
    }
}

/// The timing of one call's outbound frames: lateness against the slot
/// and the spacing jitter between consecutive slots. Whoever puts the
/// frames on the wire records them: the call driver for legs that send at
/// once, the RTP send clock for SIP.
#[derive(Debug)]
pub struct PlayoutTiming {
    lateness: Histogram,
    jitter: Histogram,
    /// The last frame sent: its slot and how late it left.
    last_frame: Option<(Instant, Duration)>,
}

impl PlayoutTiming {
    /// Timing for a new call (the histogram handles are looked up once:
    /// they are recorded for every frame).
    pub fn new() -> PlayoutTiming {
        PlayoutTiming {
            lateness: histogram!(PLAYOUT_LATENESS),
            jitter: histogram!(PLAYOUT_JITTER),
            last_frame: None,
        }
    }

    /// The outbound frame of the slot `due` left at `sent`.
    pub fn frame_sent(&mut self, due: Instant, sent: Instant) {
        let late = sent.saturating_duration_since(due);
        self.lateness.record(late.as_secs_f64());
        if let Some(jitter) = spacing_jitter(self.last_frame, due, late) {
            self.jitter.record(jitter.as_secs_f64());
        }
        self.last_frame = Some((due, late));
    }
}

impl Default for PlayoutTiming {
    fn default() -> Self {
        PlayoutTiming::new()
    }
}

/// The figures of one call, recorded as they happen.
#[derive(Debug)]
pub struct CallMetrics {
    ingress: &'static str,
    playout: PlayoutTiming,
    /// The agent answering, counted in [`AGENT_CALLS_ACTIVE`].
    agent: Option<String>,
}

impl CallMetrics {
    /// A call has started on `ingress`.
    pub fn start(ingress: &'static str) -> CallMetrics {
        counter!(CALLS_STARTED, "ingress" => ingress).increment(1);
        gauge!(CALLS_ACTIVE, "ingress" => ingress).increment(1.0);
        CallMetrics {
            ingress,
            playout: PlayoutTiming::new(),
            agent: None,
        }
    }

    /// Counts the call for `agent` too (by agent id: ids come from the
    /// config, a bounded set of label values).
    pub fn for_agent(mut self, agent: Option<&str>) -> CallMetrics {
        if let Some(agent) = agent {
            counter!(AGENT_CALLS, "agent" => agent.to_owned()).increment(1);
            gauge!(AGENT_CALLS_ACTIVE, "agent" => agent.to_owned()).increment(1.0);
            self.agent = Some(agent.to_owned());
        }
        self
    }

    /// The outbound frame of the slot `due` left at `sent`.
    pub fn frame_sent(&mut self, due: Instant, sent: Instant) {
        self.playout.frame_sent(due, sent);
    }

    /// A figure the call core reported.
    pub fn figure(&self, figure: &CallFigure) {
        match figure {
            CallFigure::FirstAudio(after) => histogram!(FIRST_AUDIO).record(after.as_secs_f64()),
            CallFigure::ModelRoundTrip(took) => {
                histogram!(MODEL_ROUND_TRIP).record(took.as_secs_f64())
            }
            CallFigure::ModelReconnect => counter!(MODEL_RECONNECTS).increment(1),
            CallFigure::FalseInterruption(record) => {
                counter!(FALSE_INTERRUPTIONS, "trigger" => record.trigger).increment(1);
                histogram!(FALSE_INTERRUPTION_PAUSE).record(
                    record
                        .resumed_at
                        .saturating_sub(record.paused_at)
                        .as_secs_f64(),
                );
            }
        }
    }

    /// `frames` of caller audio were dropped on the way to the model.
    pub fn model_audio_dropped(&self, frames: u64) {
        counter!(MODEL_AUDIO_DROPPED).increment(frames);
    }

    /// A barge-in the call core decided.
    pub fn barge_in(&self, record: &BargeInRecord) {
        counter!(BARGE_INS, "trigger" => record.trigger).increment(1);
        histogram!(BARGE_IN_REACTION).record(record.reaction_ms.max(0) as f64 / 1000.0);
        if let Some((_, heard_ms)) = &record.truncated_item {
            histogram!(BARGE_IN_TRUNCATION).record(*heard_ms as f64 / 1000.0);
        }
    }
}

impl Drop for CallMetrics {
    fn drop(&mut self) {
        gauge!(CALLS_ACTIVE, "ingress" => self.ingress).decrement(1.0);
        if let Some(agent) = self.agent.take() {
            gauge!(AGENT_CALLS_ACTIVE, "agent" => agent).decrement(1.0);
        }
    }
}

/// Calls answered, by agent id.
pub const AGENT_CALLS: &str = "warmline_agent_calls_total";
/// Calls in progress, by agent id.
pub const AGENT_CALLS_ACTIVE: &str = "warmline_agent_calls_active";

/// Describes the per-agent series and creates them at zero for every
/// configured agent (dashboards see 0, not "no data").
pub fn register_agents<'a>(ids: impl Iterator<Item = &'a str>) {
    metrics::describe_counter!(AGENT_CALLS, "Calls answered, by agent");
    metrics::describe_gauge!(AGENT_CALLS_ACTIVE, "Calls in progress, by agent");
    for id in ids {
        counter!(AGENT_CALLS, "agent" => id.to_owned()).absolute(0);
        gauge!(AGENT_CALLS_ACTIVE, "agent" => id.to_owned()).set(0.0);
    }
}

/// The live-call registry now holds `calls` calls.
pub fn registry_calls(calls: usize) {
    gauge!(REGISTRY_CALLS).set(calls as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_the_change_in_lateness_between_consecutive_slots() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(spacing_jitter(None, t, ms(3)), None);
        // 1 ms late, then 4 ms late one slot on: spaced 23 ms, 3 ms off.
        assert_eq!(
            spacing_jitter(Some((t, ms(1))), t + FRAME, ms(4)),
            Some(ms(3))
        );
        // Earlier than the one before is off by as much.
        assert_eq!(
            spacing_jitter(Some((t, ms(4))), t + FRAME, ms(1)),
            Some(ms(3))
        );
        // Steadily late is steady pacing.
        assert_eq!(
            spacing_jitter(Some((t, ms(5))), t + FRAME, ms(5)),
            Some(ms(0))
        );
        // A skipped slot (the agent was quiet on a leg that sends nothing)
        // says nothing about pacing.
        assert_eq!(spacing_jitter(Some((t, ms(1))), t + 2 * FRAME, ms(9)), None);
    }
}
