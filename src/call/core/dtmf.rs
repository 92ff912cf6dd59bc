//! `send_dtmf`: the agent presses keys on the call (an IVR's menu, a PIN
//! prompt), as call control handled in the core like `end_call`.
//!
//! The model's arguments are checked here ([`MAX_KEYS`] keys of `0`–`9`,
//! `*`, `#`, `A`–`D`, `w` or `,` for a half-second pause and `W` for a
//! second); a bad string is
//! answered at once with an error object the model can relay. A good one
//! waits until the agent has finished what it is saying (at most
//! [`START_WAIT`]), then owns the playout clock: each 20 ms slot becomes a
//! [`CallOutput::SendDtmf`] instead of agent audio, and the agent's audio
//! is held (the pacer paused) until the last slot. The leg decides how a
//! slot goes out: RFC 4733 events on RTP with a negotiated telephone-event
//! type, in-band tones otherwise (Twilio; SIP without telephone-event).
//! The model hears `{"status": "sent"}` when the last slot has left, so
//! whatever answers the keys comes after its result.
//!
//! Never allocates per slot beyond the slot's 160 μ-law bytes; requests
//! are bounded ([`MAX_QUEUED`]) and a sequence is bounded by its keys
//! (32 × 1 s at most).

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{json, Value};

use super::{CallCore, CallOutput};
use crate::media::dtmf::{DialKey, Digit, ToneSequence, ToneTiming};
use crate::media::g711::ulaw_encode;

/// Most keys (pauses included) one `send_dtmf` call may send.
pub const MAX_KEYS: usize = 32;
/// `send_dtmf` calls of one call waiting or playing at once; more are
/// answered `busy`.
pub const MAX_QUEUED: usize = 4;
/// How long keys wait for the agent to finish speaking before they pause
/// it and go anyway.
pub const START_WAIT: Duration = Duration::from_secs(5);

/// One key press as a leg needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPress {
    /// The key: `0`–`9`, `*`, `#`, `A`–`D`.
    pub digit: char,
    /// This slot is the press's first: an RFC 4733 event starts here.
    pub starts: bool,
    /// The tone's length in 8 kHz samples (the event's final duration).
    pub tone_samples: u16,
}

/// One 20 ms slot of outgoing DTMF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DtmfSlot {
    /// The press this slot belongs to (its tone or the gap after it);
    /// `None` during a pause.
    pub press: Option<KeyPress>,
    /// The slot as in-band audio, μ-law: the tone, or silence in a gap or
    /// pause. What a leg without out-of-band DTMF sends.
    pub mulaw: Vec<u8>,
}

/// One accepted `send_dtmf` call.
#[derive(Debug)]
struct Request {
    call_id: String,
    /// The keys as sent (upper-case letters), for the result and logs.
    digits: String,
    /// When the model asked, on the call clock.
    asked_at: Duration,
    sequence: ToneSequence,
}

/// The call's outgoing DTMF: what waits, and what plays.
#[derive(Debug, Default)]
pub(super) struct DtmfOut {
    waiting: VecDeque<Request>,
    playing: Option<Request>,
}

impl DtmfOut {
    /// Whether keys are waiting or playing (the call must not hang up
    /// under them).
    pub(super) fn busy(&self) -> bool {
        self.playing.is_some() || !self.waiting.is_empty()
    }
}

/// Checks `send_dtmf` arguments: the keys as a normalised string and as
/// dial keys, or a sentence for the model.
pub fn parse_dial_string(arguments: &str) -> Result<(String, Vec<DialKey>), String> {
    let usage = "Call send_dtmf with {\"digits\": \"...\"} using 0-9, *, #, A-D, w for a half-second pause and W for a second.";
    let value: Value = serde_json::from_str(arguments)
        .map_err(|_| format!("The arguments were not JSON, so no keys were sent. {usage}"))?;
    let Some(digits) = value.get("digits").and_then(Value::as_str) else {
        return Err(format!(
            "No digits were given, so no keys were sent. {usage}"
        ));
    };
    if digits.is_empty() {
        return Err(format!(
            "The digits were empty, so no keys were sent. {usage}"
        ));
    }
    let count = digits.chars().count();
    if count > MAX_KEYS {
        return Err(format!(
            "{count} keys is more than the {MAX_KEYS} one call may send, so none were sent. Send them in parts."
        ));
    }
    let mut keys = Vec::with_capacity(count);
    let mut normal = String::with_capacity(count);
    for c in digits.chars() {
        // Asterisk's, Twilio's and Bandwidth's dial strings: `w` (and
        // Bandwidth's `,`) wait half a second, `W` a second.
        let pauses = match c {
            'w' | ',' => 1,
            'W' => 2,
            _ => 0,
        };
        if pauses > 0 {
            keys.extend(std::iter::repeat_n(DialKey::Pause, pauses));
            normal.push(c);
            continue;
        }
        let Some(digit) = Digit::from_char(c) else {
            return Err(format!(
                "{c:?} is not a key on a phone keypad, so no keys were sent. {usage}"
            ));
        };
        keys.push(DialKey::Digit(digit));
        normal.push(digit.as_char());
    }
    Ok((normal, keys))
}

/// Logs and counts a `send_dtmf` call like every other tool call (the
/// sidecar's `tool call` line and `warmline_tool_*` series); `took` runs
/// from the model's call to the last key sent.
fn record(outcome: &'static str, took: Duration) {
    tracing::info!(
        tool = "send_dtmf",
        outcome,
        latency_ms = took.as_millis() as u64,
        "tool call"
    );
    let labels = [("tool", "send_dtmf"), ("outcome", outcome)];
    metrics::histogram!(crate::metrics::TOOL_DURATION, &labels).record(took.as_secs_f64());
    metrics::counter!(crate::metrics::TOOL_CALLS, &labels).increment(1);
}

fn error(kind: &str, message: String) -> String {
    json!({"error": {"kind": kind, "message": message}}).to_string()
}

impl CallCore {
    /// The model called `send_dtmf`: queue the keys, or answer at once
    /// when they are malformed or too many calls wait.
    pub(super) fn on_send_dtmf(&mut self, now: Duration, call_id: String, arguments: &str) {
        let (digits, keys) = match parse_dial_string(arguments) {
            Ok(parsed) => parsed,
            Err(message) => {
                tracing::info!(%message, "send_dtmf refused: bad arguments");
                record("bad_arguments", Duration::ZERO);
                self.on_tool_result(&call_id, &error("bad_arguments", message));
                return;
            }
        };
        let queued = self.dtmf.waiting.len() + usize::from(self.dtmf.playing.is_some());
        if queued >= MAX_QUEUED {
            let message = format!(
                "{queued} send_dtmf calls are already waiting or playing; {digits} was not sent. Try again when one answers."
            );
            record("busy", Duration::ZERO);
            self.on_tool_result(&call_id, &error("busy", message));
            return;
        }
        self.dtmf.waiting.push_back(Request {
            call_id,
            digits,
            asked_at: now,
            sequence: ToneSequence::new(keys, ToneTiming::default()),
        });
    }

    /// Whether the next playout slot belongs to DTMF. Starts the next
    /// waiting keys once the agent is quiet (or has had [`START_WAIT`]);
    /// while keys play the pacer is held paused, so the tick that follows
    /// releases no agent audio.
    pub(super) fn dtmf_takes_next_slot(&mut self, now: Duration) -> bool {
        if self.dtmf.playing.is_none() {
            let Some(next) = self.dtmf.waiting.front() else {
                return false;
            };
            let overdue = now >= next.asked_at + START_WAIT;
            if self.agent_speaking() && !overdue {
                return false;
            }
            let Some(request) = self.dtmf.waiting.pop_front() else {
                return false;
            };
            tracing::info!(
                digits = %request.digits,
                waited_ms = now.saturating_sub(request.asked_at).as_millis() as u64,
                agent_paused = self.agent_speaking(),
                "sending DTMF"
            );
            self.dtmf.playing = Some(request);
        }
        // Held at every slot, not once: the turn judge resumes the pacer
        // when a pause proves a false interruption.
        self.pacer.pause();
        true
    }

    /// The slot of a tick that [`dtmf_takes_next_slot`](Self::dtmf_takes_next_slot)
    /// claimed: one [`CallOutput::SendDtmf`]; after the last, the model's
    /// answer and the agent's audio again.
    pub(super) fn dtmf_slot(&mut self, now: Duration) {
        let Some(request) = self.dtmf.playing.as_mut() else {
            return;
        };
        if let Some(frame) = request.sequence.next_frame() {
            // Our own tones are what echo control will hear back.
            self.echo_align.played(now, &frame.samples);
            let tone_samples = (ToneTiming::default().tone_ms * 8) as u16;
            let slot = DtmfSlot {
                press: frame.press.map(|(digit, starts)| KeyPress {
                    digit: digit.as_char(),
                    starts,
                    tone_samples,
                }),
                mulaw: frame.samples.iter().map(|&s| ulaw_encode(s)).collect(),
            };
            self.outputs.push_back(CallOutput::SendDtmf(slot));
        }
        if request.sequence.remaining_frames() > 0 {
            return;
        }
        let Some(done) = self.dtmf.playing.take() else {
            return;
        };
        tracing::info!(digits = %done.digits, "DTMF sent");
        record("ok", now.saturating_sub(done.asked_at));
        let output = json!({"status": "sent", "digits": done.digits}).to_string();
        self.on_tool_result(&done.call_id, &output);
        self.dtmf_release_pacer();
    }

    /// Whether a key the leg reports is to be ignored: while our own keys
    /// play, a key "from the caller" is most likely their echo, detected
    /// by the far end (Twilio reports in-band keys it hears as `dtmf`).
    /// The 100 ms gap ending every press covers the echo's delay.
    pub(super) fn dtmf_ignores_caller_key(&self, digit: char) -> bool {
        let Some(playing) = &self.dtmf.playing else {
            return false;
        };
        tracing::debug!(%digit, sending = %playing.digits, "caller key while our keys play: taken for their echo");
        true
    }

    /// The call is ending: keys not yet sent are dropped.
    pub(super) fn dtmf_abort(&mut self) {
        if !self.dtmf.busy() {
            return;
        }
        let dropped: Vec<String> = self
            .dtmf
            .playing
            .take()
            .into_iter()
            .chain(self.dtmf.waiting.drain(..))
            .map(|r| r.digits)
            .collect();
        tracing::info!(?dropped, "call ending: DTMF not sent");
        self.dtmf_release_pacer();
    }

    /// Lets agent audio play again, unless the turn judge holds it.
    fn dtmf_release_pacer(&mut self) {
        if self.judge.pause().is_none() {
            self.pacer.resume();
        }
    }
}

#[cfg(test)]
mod tests;
