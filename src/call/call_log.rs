//! [`CallLog`]: what a call said and did, collected as it happens, for its
//! `call.ended` record ([`super::events`]).
//!
//! Sans-IO like the core: it takes the model's events, barge-ins and tool
//! answers with the call-clock time as an argument, and reads no clock.
//! Bounded: a call keeps at most [`MAX_LINES`] transcript lines and
//! [`MAX_TOOL_CALLS`] tool calls; what is beyond is counted, not kept.
//!
//! The agent's lines come from the model's transcript of each audio item.
//! When the caller barges in, the core truncates the item to what was
//! heard; the log cuts the item's text in the same proportion (at a word
//! boundary), since the model gives no word timings. The caller's lines
//! come from the model's input transcription, when it gives one.

use std::time::Duration;

use super::events::{CallEnded, EndReason, Speaker, ToolCallRecord, TranscriptLine};
use super::tools::{rfc3339, CallIdentity};
use super::BargeInRecord;
use crate::model::ModelEvent;

mod callbacks;
use callbacks::{note_callback, with_callbacks, TAKE_CALLBACK};

/// Transcript lines kept per call (a line every 2 s for an hour).
pub const MAX_LINES: usize = 2_000;
/// Tool calls kept per call.
pub const MAX_TOOL_CALLS: usize = 500;
/// Longest arguments kept as given; longer ones are cut (a string).
const MAX_ARGUMENTS_BYTES: usize = 8 * 1024;

/// One agent audio item as the log follows it.
#[derive(Debug)]
struct AgentItem {
    item_id: String,
    offset: Duration,
    text: Option<String>,
    /// Audio received for it, bytes of the model's output format.
    audio_bytes: u64,
    /// What the caller heard before a barge-in, ms.
    heard_ms: Option<u64>,
}

/// A call's transcript and tool calls, so far.
#[derive(Debug)]
pub struct CallLog {
    /// Wall-clock time of the call clock's zero, since the Unix epoch.
    epoch: Duration,
    /// Bytes of agent audio per ms (8 for μ-law, 48 for 24 kHz PCM).
    bytes_per_ms: u64,
    agent: Vec<AgentItem>,
    caller: Vec<TranscriptLine>,
    tools: Vec<ToolCallRecord>,
    omitted: u64,
    /// The hand-over to a person, from `escalate_to_human`'s answer.
    escalation: Option<serde_json::Value>,
    /// Callbacks and messages `take_callback` noted, `(kind, note)`.
    callbacks: Vec<(&'static str, serde_json::Value)>,
}

impl CallLog {
    /// An empty log for a call whose clock's zero is `epoch` (since the
    /// Unix epoch); the agent's audio has `bytes_per_ms`.
    pub fn new(epoch: Duration, bytes_per_ms: u32) -> CallLog {
        CallLog {
            epoch,
            bytes_per_ms: u64::from(bytes_per_ms.max(1)),
            agent: Vec::new(),
            caller: Vec::new(),
            tools: Vec::new(),
            omitted: 0,
            escalation: None,
            callbacks: Vec::new(),
        }
    }

    fn at(&self, offset: Duration) -> String {
        rfc3339(self.epoch + offset)
    }

    fn room(&mut self) -> bool {
        let full = self.agent.len() + self.caller.len() >= MAX_LINES;
        if full {
            self.omitted += 1;
        }
        !full
    }

    fn item(&mut self, now: Duration, item_id: &str) -> Option<&mut AgentItem> {
        // Items are followed in order: the one wanted is nearly always last.
        let found = self.agent.iter().rposition(|i| i.item_id == item_id);
        let index = match found {
            Some(index) => index,
            None => {
                if !self.room() {
                    return None;
                }
                self.agent.push(AgentItem {
                    item_id: item_id.to_owned(),
                    offset: now,
                    text: None,
                    audio_bytes: 0,
                    heard_ms: None,
                });
                self.agent.len() - 1
            }
        };
        self.agent.get_mut(index)
    }

    /// An event from the model, at `now` on the call clock.
    pub fn on_model_event(&mut self, now: Duration, event: &ModelEvent) {
        match event {
            ModelEvent::AudioDelta { item_id, audio, .. } => {
                if let Some(item) = self.item(now, item_id) {
                    item.audio_bytes += audio.len() as u64;
                }
            }
            ModelEvent::AgentTranscriptDone {
                item_id,
                transcript,
            } => {
                if let Some(item) = self.item(now, item_id) {
                    item.text = Some(transcript.clone());
                }
            }
            ModelEvent::CallerTranscript {
                item_id,
                transcript,
            } => self.caller_said(now, item_id, transcript),
            ModelEvent::FunctionCall {
                call_id,
                name,
                arguments,
            } => {
                if self.tools.len() >= MAX_TOOL_CALLS {
                    self.omitted += 1;
                    return;
                }
                let arguments = if arguments.len() > MAX_ARGUMENTS_BYTES {
                    serde_json::Value::String("(over 8 KiB; not kept)".into())
                } else {
                    serde_json::from_str(arguments)
                        .unwrap_or_else(|_| serde_json::Value::String(arguments.clone()))
                };
                // end_call is answered inside the call core at once.
                let done = name == "end_call";
                self.tools.push(ToolCallRecord {
                    id: call_id.clone(),
                    name: name.clone(),
                    arguments,
                    outcome: if done { "ok" } else { "cancelled" }.to_owned(),
                    at: self.at(now),
                    offset_ms: now.as_millis() as u64,
                    latency_ms: done.then_some(0),
                    approval: None,
                    approved_by: None,
                });
            }
            _ => {}
        }
    }

    fn caller_said(&mut self, now: Duration, item_id: &str, transcript: &str) {
        if !self.room() {
            return;
        }
        let line = TranscriptLine {
            item_id: item_id.to_owned(),
            speaker: Speaker::Caller,
            text: transcript.to_owned(),
            at: self.at(now),
            offset_ms: now.as_millis() as u64,
            interrupted: false,
            heard_ms: None,
        };
        self.caller.push(line);
    }

    /// The caller barged in: the interrupted item was cut to what was heard.
    pub fn on_barge_in(&mut self, record: &BargeInRecord) {
        if let Some((item_id, heard_ms)) = &record.truncated_item {
            if let Some(item) = self.agent.iter_mut().rev().find(|i| i.item_id == *item_id) {
                item.heard_ms = Some(*heard_ms);
            }
        }
    }

    /// A tool's answer reached the call at `now`.
    /// Tool calls still waiting for their result.
    pub fn tools_pending(&self) -> usize {
        self.tools.iter().filter(|t| t.latency_ms.is_none()).count()
    }

    /// Records a tool call's answer from the sidecar: its result, and how
    /// its approval went when it had a gate.
    pub fn on_tool_output(&mut self, now: Duration, answer: &super::tools::ToolOutput) {
        if let Some(approval) = &answer.approval {
            if let Some(record) = self
                .tools
                .iter_mut()
                .rev()
                .find(|t| t.id == answer.call_id && t.latency_ms.is_none())
            {
                record.approval = Some(approval.decision.clone());
                record.approved_by = approval.by.clone();
            }
        }
        self.on_tool_result(now, &answer.call_id, &answer.output);
    }

    /// Records a tool call's result.
    pub fn on_tool_result(&mut self, now: Duration, call_id: &str, output: &str) {
        let Some(record) = self
            .tools
            .iter_mut()
            .rev()
            .find(|t| t.id == call_id && t.latency_ms.is_none())
        else {
            return;
        };
        let outcome = serde_json::from_str::<serde_json::Value>(output)
            .ok()
            .and_then(|v| {
                v.get("error").map(|e| {
                    e.get("kind")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("error")
                        .to_owned()
                })
            })
            .unwrap_or_else(|| "ok".to_owned());
        record.outcome = outcome;
        record.latency_ms = Some(
            now.saturating_sub(Duration::from_millis(record.offset_ms))
                .as_millis() as u64,
        );
        if record.name == "escalate_to_human" {
            let record = record.clone();
            let answered_at = self.at(now);
            self.note_escalation(&record, output, answered_at);
        } else if record.name == TAKE_CALLBACK {
            let at = self.at(now);
            self.callbacks.extend(note_callback(output, at));
        }
    }

    /// `escalate_to_human` answered: the call's `escalation` (what the
    /// records store keeps, and what makes the call's outcome `escalated`
    /// or `transferred`). A later attempt replaces an earlier one, unless
    /// the earlier one reached a person.
    fn note_escalation(&mut self, call: &ToolCallRecord, output: &str, answered_at: String) {
        let Ok(answer) = serde_json::from_str::<serde_json::Value>(output) else {
            return;
        };
        let text = |v: &serde_json::Value, key: &str| {
            v.get(key)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let status = text(&answer, "status").unwrap_or_default();
        // A second request while a transfer runs is not an escalation.
        if status == "in_progress" {
            return;
        }
        let connected = status == "connected";
        if self.escalation.as_ref().is_some_and(|e| {
            e.get("outcome").and_then(serde_json::Value::as_str) == Some("answered")
        }) {
            return;
        }
        let outcome = if connected {
            "answered".to_owned()
        } else {
            text(&answer, "reason")
                .or_else(|| answer.get("error").map(|_| "failed".to_owned()))
                .unwrap_or_else(|| "unavailable".to_owned())
        };
        self.escalation = Some(serde_json::json!({
            "reason": text(&call.arguments, "reason"),
            "urgency": text(&call.arguments, "urgency"),
            "requested_at": call.at,
            "outcome": outcome,
            "rep": text(&answer, "rep"),
            "answered_at": connected.then_some(answered_at),
            "summary": text(&answer, "summary"),
            "next_action": text(&answer, "next_action"),
        }));
    }

    /// The call's record as it ended at `now`.
    pub fn finish(
        self,
        now: Duration,
        call: CallIdentity,
        reason: EndReason,
        detail: Option<String>,
    ) -> CallEnded {
        let mut transcript = Vec::with_capacity(self.agent.len() + self.caller.len());
        transcript.extend(self.agent.iter().filter_map(|item| self.agent_line(item)));
        transcript.extend(self.caller.iter().cloned());
        // Stable: an agent line and a caller line of the same ms keep
        // the order they were noted in.
        transcript.sort_by_key(|l| l.offset_ms);
        CallEnded {
            ended_at: self.at(now),
            duration_ms: now.as_millis() as u64,
            call,
            reason,
            detail,
            transcript,
            tool_calls: self.tools,
            omitted: self.omitted,
            summary: None,
            escalation: with_callbacks(self.escalation, self.callbacks),
            recording_url: None,
            csat: None,
            versions: Default::default(),
            quality: Default::default(),
        }
    }
}

impl CallLog {
    /// The line of `item_id` as it stands now (an agent line once its
    /// transcript is done, cut to what was heard after a barge-in; a
    /// caller line once transcribed), for the live events.
    pub fn line(&self, item_id: &str) -> Option<TranscriptLine> {
        if let Some(item) = self.agent.iter().rev().find(|i| i.item_id == item_id) {
            return self.agent_line(item);
        }
        self.caller
            .iter()
            .rev()
            .find(|l| l.item_id == item_id)
            .cloned()
    }

    fn agent_line(&self, item: &AgentItem) -> Option<TranscriptLine> {
        let text = item.text.as_ref()?;
        let audio_ms = item.audio_bytes / self.bytes_per_ms;
        let cut = item.heard_ms.filter(|&heard| heard < audio_ms);
        Some(TranscriptLine {
            item_id: item.item_id.clone(),
            speaker: Speaker::Agent,
            text: match cut {
                Some(heard) => heard_text(text, heard, audio_ms),
                None => text.clone(),
            },
            at: self.at(item.offset),
            offset_ms: item.offset.as_millis() as u64,
            interrupted: cut.is_some(),
            heard_ms: cut,
        })
    }
}

/// The part of `text` heard in `heard_ms` of `audio_ms`, assuming an
/// even speaking rate, cut back to a word boundary.
fn heard_text(text: &str, heard_ms: u64, audio_ms: u64) -> String {
    let chars: Vec<char> = text.chars().collect();
    let keep = (chars.len() as u64 * heard_ms / audio_ms.max(1)) as usize;
    let keep = keep.min(chars.len());
    let mut end = keep;
    if keep < chars.len() && !chars[keep].is_whitespace() {
        // Mid-word: drop the partial word.
        end = chars[..keep]
            .iter()
            .rposition(|c| c.is_whitespace())
            .unwrap_or(0);
    }
    chars[..end]
        .iter()
        .collect::<String>()
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::frame::MediaTime;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn identity() -> CallIdentity {
        CallIdentity::mint("twilio", "CA1", "+1", "+2")
    }

    fn agent_says(log: &mut CallLog, at: u64, item: &str, text: &str, audio_ms: usize) {
        log.on_model_event(
            ms(at),
            &ModelEvent::AudioDelta {
                response_id: "r".into(),
                item_id: item.into(),
                content_index: 0,
                audio: vec![0xFF; audio_ms * 8],
            },
        );
        log.on_model_event(
            ms(at + 5),
            &ModelEvent::AgentTranscriptDone {
                item_id: item.into(),
                transcript: text.into(),
            },
        );
    }

    #[test]
    fn both_sides_come_out_in_time_order_with_wall_clock_times() {
        let mut log = CallLog::new(Duration::from_secs(1_764_792_000), 8);
        agent_says(&mut log, 100, "i1", "Hello, how can I help?", 1_000);
        log.on_model_event(
            ms(3_000),
            &ModelEvent::CallerTranscript {
                item_id: "u1".into(),
                transcript: "Where is my order?".into(),
            },
        );
        agent_says(&mut log, 3_500, "i2", "Let me look.", 600);
        let ended = log.finish(ms(5_000), identity(), EndReason::CallerHungUp, None);
        let lines: Vec<(&str, Speaker, u64)> = ended
            .transcript
            .iter()
            .map(|l| (l.text.as_str(), l.speaker, l.offset_ms))
            .collect();
        assert_eq!(
            lines,
            [
                ("Hello, how can I help?", Speaker::Agent, 100),
                ("Where is my order?", Speaker::Caller, 3_000),
                ("Let me look.", Speaker::Agent, 3_500),
            ]
        );
        assert_eq!(ended.transcript[1].at, "2025-12-03T20:00:03.000Z");
        assert_eq!(ended.ended_at, "2025-12-03T20:00:05.000Z");
        assert_eq!(ended.duration_ms, 5_000);
        assert!(ended.summary.is_none() && ended.recording_url.is_none());
    }

    #[test]
    fn an_interrupted_agent_line_keeps_the_words_heard_before_the_barge_in() {
        let mut log = CallLog::new(Duration::ZERO, 8);
        agent_says(
            &mut log,
            0,
            "i1",
            "Your order shipped on Monday by courier",
            4_000,
        );
        log.on_barge_in(&BargeInRecord {
            onset: MediaTime(0),
            paused_at: ms(1_900),
            decided_at: ms(2_000),
            reaction_ms: 100,
            truncated_item: Some(("i1".into(), 2_000)),
            trigger: "vad",
        });
        let ended = log.finish(ms(3_000), identity(), EndReason::CallerHungUp, None);
        let line = &ended.transcript[0];
        // 39 characters, half heard: 19, which ends where "on" starts.
        assert_eq!(line.text, "Your order shipped");
        assert!(line.interrupted);
        assert_eq!(line.heard_ms, Some(2_000));
    }

    #[test]
    fn a_barge_in_after_the_item_was_fully_heard_cuts_nothing() {
        let mut log = CallLog::new(Duration::ZERO, 8);
        agent_says(&mut log, 0, "i1", "Thank you.", 500);
        log.on_barge_in(&BargeInRecord {
            onset: MediaTime(0),
            paused_at: ms(900),
            decided_at: ms(1_000),
            reaction_ms: 0,
            truncated_item: Some(("i1".into(), 500)),
            trigger: "vad",
        });
        let ended = log.finish(ms(1_000), identity(), EndReason::AgentEnded, None);
        assert_eq!(ended.transcript[0].text, "Thank you.");
        assert!(!ended.transcript[0].interrupted);
    }

    #[test]
    fn tool_calls_carry_arguments_outcome_and_latency_and_unanswered_ones_are_cancelled() {
        let mut log = CallLog::new(Duration::ZERO, 8);
        let call = |id: &str, name: &str, args: &str| ModelEvent::FunctionCall {
            call_id: id.into(),
            name: name.into(),
            arguments: args.into(),
        };
        log.on_model_event(ms(1_000), &call("c1", "lookup_order", r#"{"order":"A17"}"#));
        log.on_model_event(ms(1_100), &call("c2", "book_slot", "not json"));
        log.on_model_event(ms(1_200), &call("c3", "slow", "{}"));
        log.on_tool_result(ms(1_250), "c1", r#"{"status":"shipped"}"#);
        log.on_tool_result(
            ms(6_100),
            "c2",
            r#"{"error":{"kind":"timeout","message":"…"}}"#,
        );
        log.on_model_event(ms(7_000), &call("c4", "end_call", "{}"));
        let ended = log.finish(ms(8_000), identity(), EndReason::AgentEnded, None);
        let got: Vec<(&str, &str, Option<u64>)> = ended
            .tool_calls
            .iter()
            .map(|t| (t.name.as_str(), t.outcome.as_str(), t.latency_ms))
            .collect();
        assert_eq!(
            got,
            [
                ("lookup_order", "ok", Some(250)),
                ("book_slot", "timeout", Some(5_000)),
                ("slow", "cancelled", None),
                ("end_call", "ok", Some(0)),
            ]
        );
        assert_eq!(ended.tool_calls[0].arguments["order"], "A17");
        assert_eq!(ended.tool_calls[1].arguments, "not json");
    }

    #[test]
    fn an_escalation_answered_by_a_rep_is_kept_and_an_earlier_unanswered_one_replaced() {
        let mut log = CallLog::new(Duration::ZERO, 8);
        let escalate = |id: &str| ModelEvent::FunctionCall {
            call_id: id.into(),
            name: "escalate_to_human".into(),
            arguments: r#"{"reason":"billing dispute","urgency":"high"}"#.into(),
        };
        log.on_model_event(ms(1_000), &escalate("e1"));
        log.on_tool_result(
            ms(21_000),
            "e1",
            r#"{"status":"unavailable","reason":"nobody_answered","message":"…"}"#,
        );
        let first = log.escalation.clone().expect("an escalation");
        assert_eq!(first["outcome"], "nobody_answered");
        assert!(first["answered_at"].is_null());

        log.on_model_event(ms(30_000), &escalate("e2"));
        log.on_tool_result(
            ms(31_500),
            "e2",
            r#"{"status":"connected","rep":"ana","summary":"Disputes a charge","next_action":"Refund"}"#,
        );
        // A third request while the transfer runs changes nothing.
        log.on_model_event(ms(32_000), &escalate("e3"));
        log.on_tool_result(ms(32_001), "e3", r#"{"status":"in_progress"}"#);
        let ended = log.finish(ms(90_000), identity(), EndReason::CallerHungUp, None);
        let kept = ended.escalation.expect("an escalation");
        assert_eq!(kept["outcome"], "answered");
        assert_eq!(kept["rep"], "ana");
        assert_eq!(kept["reason"], "billing dispute");
        assert_eq!(kept["urgency"], "high");
        assert_eq!(kept["summary"], "Disputes a charge");
        assert_eq!(kept["next_action"], "Refund");
        assert_eq!(kept["answered_at"], "1970-01-01T00:00:31.500Z");
        assert_eq!(kept["requested_at"], "1970-01-01T00:00:30.000Z");
    }

    #[test]
    fn a_call_without_escalate_to_human_has_no_escalation() {
        let mut log = CallLog::new(Duration::ZERO, 8);
        log.on_model_event(
            ms(1_000),
            &ModelEvent::FunctionCall {
                call_id: "c1".into(),
                name: "lookup_order".into(),
                arguments: "{}".into(),
            },
        );
        log.on_tool_result(ms(1_200), "c1", r#"{"status":"connected"}"#);
        let ended = log.finish(ms(2_000), identity(), EndReason::AgentEnded, None);
        assert!(ended.escalation.is_none());
    }

    #[test]
    fn a_long_call_keeps_a_bounded_transcript_and_counts_the_rest() {
        let mut log = CallLog::new(Duration::ZERO, 8);
        for i in 0..(MAX_LINES as u64 + 10) {
            log.on_model_event(
                ms(i * 10),
                &ModelEvent::CallerTranscript {
                    item_id: format!("u{i}"),
                    transcript: "hi".into(),
                },
            );
        }
        let ended = log.finish(ms(1), identity(), EndReason::CallerHungUp, None);
        assert_eq!(ended.transcript.len(), MAX_LINES);
        assert_eq!(ended.omitted, 10);
    }
}
