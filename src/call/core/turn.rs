//! The call core's side of turn-taking: warmline decides every
//! interruption and every response to a caller's turn (decision 0010).
//!
//! - A candidate interruption (local VAD, or the model's speech-started
//!   backed by warmline's own echo and voicing tests) pauses the agent;
//!   [`TurnJudge`](crate::call::turn::TurnJudge) then resumes it or makes it
//!   an interruption (cancel and truncate).
//! - A caller turn with real speech in it (not echo, not noise) is
//!   answered with `CreateResponse` when it ends: when warmline's VAD and,
//!   for a model with turn detection of its own, the model's speech-stopped
//!   both say so (or warmline's alone after `end_of_turn_fallback_ms`).
//! - Caller audio goes to the model through a 300 ms delay line while the
//!   agent speaks: frames that are only the agent's echo leave as silence,
//!   and a pause marks everything still held as the caller's, so the model
//!   gets the first syllable of a real interruption.

use std::time::Duration;

use super::{
    BargeInRecord, CallCore, CallFigure, CallOutput, FalseInterruptionRecord, ItemPlayback,
    PREROLL_FRAMES,
};
use crate::call::playback::PlaybackTracking;
use crate::call::turn::Judgement;
use crate::media::frame::{Frame, MediaTime};
use crate::media::g711::ulaw_encode;
use crate::media::pacer::SourceId;
use crate::media::vad::VadEvent;
use crate::model::ModelCommand;

impl CallCore {
    /// One 20 ms frame of caller audio: `frame` decoded at 8 kHz, `mulaw`
    /// the original payload (forwarded to a μ-law model untouched, or as
    /// silence while it is only the agent's echo).
    pub fn on_caller_frame(&mut self, now: Duration, frame: &Frame, mulaw: &[u8]) {
        // Speech decisions look at the caller's audio above 200 Hz (see
        // media::highpass); the model gets it as it came.
        let original = frame;
        let mut heard = frame.clone();
        self.highpass.process(heard.samples_mut());
        let frame = &heard;
        // Echo control first gets the agent's audio that was playing by
        // the time this frame was captured (decision 0042).
        for played in self.echo_align.caller_frame(now) {
            self.echo.far_end(&played);
            self.aec.far_end(&played);
        }
        let mut samples = [0i16; 160];
        let n = frame.samples().len().min(160);
        samples[..n].copy_from_slice(&frame.samples()[..n]);
        let verdict = self.echo.near_end(&mut samples[..n]);
        // The suppressor (`media::echo`) runs on the caller's audio as it
        // came and cleans what the model hears. Once it has found the echo
        // path's delay its double-talk test is a second opinion: a frame is
        // the caller's only when both say so (it follows a path whose delay
        // moves faster than the echo gate). Before that it is not consulted:
        // it learns the echo return only on echo, so on a line with little
        // or none it would hold caller speech back for seconds.
        let mut cleaned = [0i16; 160];
        let raw = original.samples();
        let m = raw.len().min(160);
        cleaned[..m].copy_from_slice(&raw[..m]);
        let aec = self.aec.near_end(&mut cleaned[..m]);
        let aec_agrees = aec.near_speech || !aec.far_end_active || self.aec.delay_ms().is_none();
        let near_speech = verdict.near_speech && aec_agrees;
        let event = self.vad.push(frame).ok().flatten();
        // While paused, any caller sound above the predicted echo keeps the
        // sound going (the margin is for starting one).
        let sounding = self.vad.last_decision() && verdict.excess_db > 0.0;
        // The voicing check costs more than the VAD: run it only on frames
        // the VAD calls speech.
        let qualifies = if self.vad.last_decision() {
            self.barge.caller_frame(frame, near_speech)
        } else {
            self.barge.skip_caller_frame(frame);
            false
        };
        // What the model hears: the suppressor's output (the agent's echo
        // scaled down to the line's noise floor), or silence for a frame
        // the echo gate calls echo alone; the caller's own audio as it came.
        let model_audio = if verdict.echo_only && !qualifies {
            Some((
                Frame::silence(original.rate(), original.timestamp()),
                vec![0xFF; mulaw.len()],
            ))
        } else if aec.level_out_dbfs < aec.level_in_dbfs - 0.5 {
            Frame::from_samples(original.rate(), original.timestamp(), &cleaned[..m])
                .ok()
                .map(|f| (f, cleaned[..m].iter().map(|&s| ulaw_encode(s)).collect()))
        } else {
            None
        };
        self.caller_audio_to_model(original, mulaw, model_audio);
        match event {
            Some(VadEvent::SpeechStarted { .. }) => {
                self.model_turn_end = false;
                self.local_turn_end = None;
                self.outputs
                    .push_back(CallOutput::CallerTurn { started: true })
            }
            Some(VadEvent::SpeechStopped { .. }) => {
                // A turn that ends while the agent talks on (a cough, a
                // backchannel) is not waiting for an answer.
                if !self.agent_speaking() {
                    self.turn_ended_at = Some(now);
                }
                if self.turn_real {
                    self.local_turn_end = Some(now);
                }
                self.outputs
                    .push_back(CallOutput::CallerTurn { started: false });
            }
            None => {}
        }
        self.judge_frame(now, frame, sounding);
        self.maybe_end_turn(now);
    }

    /// Sends (or holds back) one caller frame for the model: `cleaned` is
    /// what echo control made of it (None: unchanged), as a frame and its
    /// μ-law. It is put in the session's input format only when it leaves,
    /// so the encoder (a resampler for `audio/pcm`) sees one stream.
    pub(super) fn caller_audio_to_model(
        &mut self,
        frame: &Frame,
        mulaw: &[u8],
        cleaned: Option<(Frame, Vec<u8>)>,
    ) {
        if self.model_state != super::ModelState::Ready {
            self.preroll.clear();
            return;
        }
        if !(self.agent_speaking() || self.judge.pause().is_some()) {
            // Nothing to hold back: send straight from the caller's frame
            // (no copy into the pre-roll on the common path).
            self.flush_preroll();
            match &cleaned {
                Some((frame, mulaw)) => self.send_audio(frame, mulaw),
                None => self.send_audio(frame, mulaw),
            }
            return;
        }
        self.preroll
            .push_back(((frame.clone(), mulaw.to_vec()), cleaned));
        while self.preroll.len() > PREROLL_FRAMES {
            if let Some(held) = self.preroll.pop_front() {
                self.append_audio(held);
            }
        }
    }

    /// Caller audio held in the pre-roll leaves for the model.
    fn append_audio(&mut self, (original, cleaned): super::Held) {
        let (frame, mulaw) = cleaned.unwrap_or(original);
        self.send_audio(&frame, &mulaw);
    }

    /// The one place caller audio leaves for the model.
    fn send_audio(&mut self, frame: &Frame, mulaw: &[u8]) {
        let audio = self.model_audio.caller_frame(frame, mulaw);
        self.outputs
            .push_back(CallOutput::Model(ModelCommand::AppendAudio(audio)));
    }

    fn flush_preroll(&mut self) {
        while let Some(held) = self.preroll.pop_front() {
            self.append_audio(held);
        }
    }

    /// Pause-then-decide, one caller frame at a time.
    pub(super) fn judge_frame(&mut self, now: Duration, frame: &Frame, sounding: bool) {
        self.caller_time = frame.timestamp();
        if self.judge.pause().is_some() {
            match self.judge.frame(now, sounding) {
                Judgement::Wait => {}
                Judgement::Resume => self.resume(now),
                Judgement::Interrupt => self.interrupt(now),
            }
            return;
        }
        // Two qualifying frames among the last five while the VAD says
        // speech (not necessarily this frame: the VAD's 60 ms minimum and
        // the echo test need not agree on the same frame).
        let real = self.vad.is_speaking() && self.barge.confirmed();
        if !self.agent_speaking() {
            if real {
                self.turn_real = true;
            }
            return;
        }
        if real {
            let onset = self.vad.onset().unwrap_or(frame.timestamp());
            self.candidate(now, onset, "local_vad");
        }
    }

    /// The model heard the caller start: an input, never a command.
    pub(super) fn on_model_speech_started(&mut self, now: Duration) {
        if self.judge.pause().is_some() || !self.agent_speaking() {
            return;
        }
        // The same tests as the local path: the VAD hears speech now and a
        // recent frame was voiced caller sound above the echo.
        if self.vad.last_decision() && self.barge.qualifying() >= 1 {
            let onset = self.vad.onset().unwrap_or(self.caller_time);
            self.candidate(now, onset, "model_speech_started");
        } else {
            self.stats.model_speech_ignored += 1;
            tracing::debug!("model speech-started not backed by caller sound: ignored");
        }
    }

    /// The model's transcript of the caller's words.
    pub(super) fn on_caller_transcript(&mut self, now: Duration, transcript: &str) {
        if self.judge.transcript(transcript) == Judgement::Interrupt {
            self.interrupt(now);
        }
    }

    fn candidate(&mut self, now: Duration, onset: MediaTime, trigger: &'static str) {
        // The last words of a call (the closing or unavailable prompt) are
        // not interrupted: no agent is left to take the caller's turn.
        if self.model_state == super::ModelState::Closed {
            return;
        }
        self.pause(now, onset, trigger);
        if !self.judge.pauses() {
            self.interrupt(now);
        }
    }

    /// Stops the agent's audio at once, keeping everything not yet played.
    fn pause(&mut self, now: Duration, onset: MediaTime, trigger: &'static str) {
        self.pacer.pause();
        self.stats.pauses += 1;
        if self.config.tracking == PlaybackTracking::Marks {
            // The clear drops what the leg holds; put it back, newest
            // first, so playback resumes at the first unplayed sample.
            let unplayed = self.playback.take_unplayed();
            self.outputs.push_back(CallOutput::ClearPlayback);
            self.echo_align.cleared(now);
            for u in unplayed.iter().rev() {
                let done = self.playback.item_mut(u.source).is_some_and(|i| i.done);
                self.pacer
                    .requeue_front(SourceId(u.source), u.source_offset, u.audio(), done);
            }
        }
        // An RTP leg has at most the one frame already built; it plays out.
        self.judge.paused(now, onset, trigger);
        // What is held is the caller's: the model gets it as it came.
        for held in self.preroll.iter_mut() {
            held.1 = None;
        }
        tracing::debug!(trigger, "agent paused for caller sound");
    }

    /// The sound was not an interruption: play on from where it stopped.
    fn resume(&mut self, now: Duration) {
        let Some(pause) = self.judge.resumed(now) else {
            return;
        };
        self.pacer.resume();
        self.barge.reset_caller();
        let record = FalseInterruptionRecord {
            onset: pause.onset,
            paused_at: pause.paused_at,
            resumed_at: now,
            trigger: pause.trigger,
        };
        tracing::info!(
            paused_ms = now.saturating_sub(pause.paused_at).as_millis() as u64,
            trigger = pause.trigger,
            "false interruption: agent resumed"
        );
        self.stats.false_interruptions.push(record.clone());
        self.outputs
            .push_back(CallOutput::Figure(CallFigure::FalseInterruption(record)));
    }

    /// A real interruption: drop the agent's audio, cancel, truncate.
    fn interrupt(&mut self, now: Duration) {
        let Some(pause) = self.judge.clear() else {
            return;
        };
        let flushed = self.pacer.flush();
        self.pacer.resume();
        self.outputs.push_back(CallOutput::ClearPlayback);
        self.echo_align.cleared(now);
        if let Some(active) = self.active_response.take() {
            self.outputs
                .push_back(CallOutput::Model(ModelCommand::CancelResponse));
            self.remember_discarded(active);
        }
        // Truncate every item that was playing to what the caller heard.
        let mut truncated = None;
        let items: Vec<ItemPlayback> = self.playback.items.drain(..).collect();
        for item in items {
            let was_in_flight = flushed.sources.iter().any(|s| s.source.0 == item.source)
                || item.released_ms > item.heard_ms;
            if !was_in_flight {
                continue;
            }
            self.outputs
                .push_back(CallOutput::Model(ModelCommand::Truncate {
                    item_id: item.item_id.clone(),
                    content_index: item.content_index,
                    audio_end_ms: item.heard_ms,
                }));
            truncated.get_or_insert((item.item_id.clone(), item.heard_ms));
        }
        self.playback.new_generation();
        self.barge.reset_caller();
        // The caller has the turn; the model hears it from the first
        // syllable, now.
        self.turn_real = true;
        self.flush_preroll();
        let onset_on_clock =
            self.stream_started_at.unwrap_or_default() + Duration::from_micros(pause.onset.0 * 125);
        let record = BargeInRecord {
            onset: pause.onset,
            paused_at: pause.paused_at,
            decided_at: now,
            reaction_ms: pause.paused_at.as_millis() as i64 - onset_on_clock.as_millis() as i64,
            truncated_item: truncated,
            trigger: pause.trigger,
        };
        tracing::info!(
            reaction_ms = record.reaction_ms,
            decided_after_ms = now.saturating_sub(pause.paused_at).as_millis() as u64,
            truncated = ?record.truncated_item,
            trigger = pause.trigger,
            "barge-in"
        );
        self.stats.barge_ins.push(record.clone());
        self.outputs.push_back(CallOutput::BargeIn(record));
    }

    /// Requests the answer to a real caller turn once it has ended.
    pub(super) fn maybe_end_turn(&mut self, now: Duration) {
        if !self.turn_real || self.judge.pause().is_some() || self.agent_speaking() {
            return;
        }
        let Some(local_end) = self.local_turn_end else {
            return;
        };
        let fallback = Duration::from_millis(u64::from(self.config.turn.end_of_turn_fallback_ms));
        if self.model_has_vad && !self.model_turn_end && now < local_end + fallback {
            return;
        }
        self.turn_real = false;
        self.local_turn_end = None;
        self.model_turn_end = false;
        self.stats.turn_responses += 1;
        self.outputs
            .push_back(CallOutput::Model(ModelCommand::CreateResponse {
                instructions: None,
            }));
    }

    /// Drops all agent audio (the session is gone or replaced).
    pub(super) fn drop_playback(&mut self) {
        self.pacer.flush();
        self.pacer.resume();
        self.judge.clear();
    }
}
