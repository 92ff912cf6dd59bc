//! The playout pacer: warmline's own 20 ms clock for audio going out to a
//! caller.
//!
//! The model sends audio faster than real time and in arbitrary chunk
//! sizes. The pacer queues it, cuts it into 20 ms frames, and releases
//! exactly one frame per tick of the call's clock. Because nothing leaves
//! before its tick, at most the frame just released is beyond recall, so a
//! barge-in can [`flush`](Pacer::flush) the rest within one frame, and the
//! pacer can say, to the sample, how much of each source item the caller was
//! actually sent (what truncation reports back to the model).
//!
//! Sans-IO: time is an argument ([`Duration`] since the call's clock
//! started). The driver asks [`Pacer::next_deadline`], sleeps until then, and
//! calls [`Pacer::poll`] until it returns `None`.
//!
//! Decisions:
//! - A frame carries audio of one source only. When a source ends mid-frame
//!   (or the next source starts), the frame is padded with silence and
//!   [`PacedFrame::audio_samples`] says how much of it is real audio.
//! - A source that is still streaming and has less than a frame queued is
//!   not released early: the tick reports an underrun and the audio waits
//!   for the rest, so partial frames never split a word.
//! - When the driver wakes late by more than [`PacerConfig::max_catch_up`]
//!   ticks, the missed ticks are skipped (counted in
//!   [`PacerStats::skipped_ticks`]) instead of being released in a burst: a
//!   burst would put audio beyond recall.
//! - The queue is bounded in samples; [`Pacer::push`] refuses audio past the
//!   cap instead of growing without limit.
//! - [`Pause`](Pacer::pause) keeps the queue and releases nothing (ticks
//!   report `Idle`) until [`resume`](Pacer::resume); audio that left but
//!   was never played (a Twilio `clear` drops it) goes back to the front
//!   with [`requeue_front`](Pacer::requeue_front), so a resumed stream
//!   neither loses nor repeats a sample.

use std::collections::VecDeque;
use std::time::Duration;

use super::frame::{Frame, MediaTime, SampleRate, FRAME_MS};

const TICK: Duration = Duration::from_millis(FRAME_MS as u64);

/// Identifies where queued audio came from (for example one assistant item
/// of the model's response). Chosen by the caller; the pacer only compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u64);

/// Errors from feeding the pacer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PacerError {
    /// The queue is full; the producer is far ahead of real time. Drop or
    /// slow the producer; the pacer keeps what it already has.
    #[error("playout queue full: {queued} samples queued, cap {cap}, {offered} offered")]
    QueueFull {
        /// Samples queued now.
        queued: usize,
        /// The configured cap.
        cap: usize,
        /// Samples in the refused push.
        offered: usize,
    },
}

/// Pacer settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacerConfig {
    /// The rate of the audio the pacer releases.
    pub rate: SampleRate,
    /// The most audio the queue holds, in milliseconds.
    pub max_queued_ms: u32,
    /// How many overdue ticks a late poll may still release back to back
    /// before the rest are skipped.
    pub max_catch_up: u32,
}

impl PacerConfig {
    /// Defaults for a given rate: 120 s of queue (a long model answer
    /// arrives well ahead of playout), catch up at most 2 ticks.
    pub fn new(rate: SampleRate) -> PacerConfig {
        PacerConfig {
            rate,
            max_queued_ms: 120_000,
            max_catch_up: 2,
        }
    }
}

/// A contiguous run of queued samples from one source.
#[derive(Clone, Copy, Debug)]
struct Run {
    source: SourceId,
    /// Samples of this run still queued.
    samples: usize,
    /// Offset, in samples from the source's start, of the run's next sample.
    source_offset: u64,
    /// No more audio will be appended to this run.
    closed: bool,
}

/// One frame released on a tick.
#[derive(Clone, Debug)]
pub struct PacedFrame {
    /// The audio, stamped with the pacer's output media time.
    pub frame: Frame,
    /// Where the audio came from.
    pub source: SourceId,
    /// Offset of the frame's first sample within the source, in samples.
    pub source_offset: u64,
    /// Samples of real audio at the start of the frame; the rest is padding.
    pub audio_samples: usize,
}

/// What one tick of the clock produced.
// The frame is returned inline on purpose: boxing it would allocate on every
// tick of every call.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Tick {
    /// A frame to send now.
    Frame(PacedFrame),
    /// Nothing queued: send silence or nothing, as the transport prefers.
    Idle {
        /// Output media time of the tick.
        at: MediaTime,
    },
    /// A source is streaming but has less than a frame queued.
    Underrun {
        /// Output media time of the tick.
        at: MediaTime,
        /// The starved source.
        source: SourceId,
    },
}

/// How much of one source was released and dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourcePlayout {
    /// The source.
    pub source: SourceId,
    /// Samples of the source released so far.
    pub played_samples: u64,
    /// Samples of the source dropped by the flush.
    pub dropped_samples: u64,
}

/// What [`Pacer::flush`] dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Queued samples dropped.
    pub dropped_samples: usize,
    /// Per source that had queued audio: released and dropped samples.
    pub sources: Vec<SourcePlayout>,
}

/// Counters for logs and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacerStats {
    /// Ticks that released a frame.
    pub frames_released: u64,
    /// Ticks with nothing queued.
    pub idle_ticks: u64,
    /// Ticks where a streaming source had less than a frame.
    pub underruns: u64,
    /// Ticks skipped because the driver woke too late.
    pub skipped_ticks: u64,
    /// Flushes.
    pub flushes: u64,
    /// Ticks that released nothing because the pacer was paused.
    pub paused_ticks: u64,
}

/// How many recent sources keep their played-sample counts.
const TRACKED_SOURCES: usize = 32;

/// The playout queue and clock. See the module docs.
#[derive(Debug)]
pub struct Pacer {
    config: PacerConfig,
    samples: VecDeque<i16>,
    runs: VecDeque<Run>,
    cap_samples: usize,
    /// Index of the next tick; its deadline is `next_tick * 20 ms`.
    next_tick: u64,
    /// Played samples of recent sources, oldest first.
    played: VecDeque<(SourceId, u64)>,
    stats: PacerStats,
    paused: bool,
}

impl Pacer {
    /// A pacer whose first tick is due at time zero.
    pub fn new(config: PacerConfig) -> Pacer {
        let cap_samples = config.max_queued_ms as usize * config.rate.samples_per_ms() as usize;
        Pacer {
            config,
            samples: VecDeque::new(),
            runs: VecDeque::new(),
            cap_samples,
            next_tick: 0,
            played: VecDeque::with_capacity(TRACKED_SOURCES),
            stats: PacerStats::default(),
            paused: false,
        }
    }

    /// Queues audio of `source`. Consecutive pushes of the same source join
    /// into one stream; a push of another source closes the previous one.
    pub fn push(&mut self, source: SourceId, audio: &[i16]) -> Result<(), PacerError> {
        if self.samples.len() + audio.len() > self.cap_samples {
            return Err(PacerError::QueueFull {
                queued: self.samples.len(),
                cap: self.cap_samples,
                offered: audio.len(),
            });
        }
        if audio.is_empty() {
            return Ok(());
        }
        self.samples.extend(audio.iter().copied());
        match self.runs.back_mut() {
            Some(run) if run.source == source && !run.closed => run.samples += audio.len(),
            last => {
                let mut source_offset = 0;
                if let Some(run) = last {
                    run.closed = true;
                }
                // A source resumed after another one keeps counting from
                // where it was.
                if let Some(prev) = self.runs.iter().rev().find(|r| r.source == source) {
                    source_offset = prev.source_offset + prev.samples as u64;
                } else if let Some(&(_, played)) = self.played.iter().find(|(s, _)| *s == source) {
                    source_offset = played;
                }
                self.runs.push_back(Run {
                    source,
                    samples: audio.len(),
                    source_offset,
                    closed: false,
                });
            }
        }
        Ok(())
    }

    /// Marks `source` as complete, so its last partial frame is released
    /// padded with silence instead of waiting for more.
    pub fn finish(&mut self, source: SourceId) {
        for run in self.runs.iter_mut().filter(|r| r.source == source) {
            run.closed = true;
        }
    }

    /// When the next tick is due, on the call's clock.
    pub fn next_deadline(&self) -> Duration {
        TICK * u32::try_from(self.next_tick).unwrap_or(u32::MAX)
    }

    /// Runs the clock up to `now`: returns the next due tick, or `None` when
    /// the next tick is in the future. Call it until it returns `None`.
    pub fn poll(&mut self, now: Duration) -> Option<Tick> {
        let now_ticks = (now.as_nanos() / TICK.as_nanos()) as u64;
        if now_ticks < self.next_tick {
            return None;
        }
        let overdue = now_ticks - self.next_tick;
        if overdue > u64::from(self.config.max_catch_up) {
            let skip = overdue - u64::from(self.config.max_catch_up);
            self.next_tick += skip;
            self.stats.skipped_ticks += skip;
        }
        let tick_index = self.next_tick;
        self.next_tick += 1;
        Some(self.release(tick_index))
    }

    fn release(&mut self, tick_index: u64) -> Tick {
        let frame_len = self.config.rate.samples_per_frame();
        let at = MediaTime(tick_index * frame_len as u64);
        if self.paused {
            self.stats.paused_ticks += 1;
            return Tick::Idle { at };
        }
        let Some(run) = self.runs.front_mut() else {
            self.stats.idle_ticks += 1;
            return Tick::Idle { at };
        };
        if run.samples < frame_len && !run.closed {
            self.stats.underruns += 1;
            return Tick::Underrun {
                at,
                source: run.source,
            };
        }
        let take = run.samples.min(frame_len);
        let source = run.source;
        let source_offset = run.source_offset;
        run.samples -= take;
        run.source_offset += take as u64;
        if run.samples == 0 {
            self.runs.pop_front();
        }
        let mut frame = Frame::silence(self.config.rate, at);
        for (dst, src) in frame
            .samples_mut()
            .iter_mut()
            .zip(self.samples.drain(..take))
        {
            *dst = src;
        }
        self.add_played(source, take as u64);
        self.stats.frames_released += 1;
        Tick::Frame(PacedFrame {
            frame,
            source,
            source_offset,
            audio_samples: take,
        })
    }

    fn add_played(&mut self, source: SourceId, samples: u64) {
        if let Some(entry) = self.played.iter_mut().find(|(s, _)| *s == source) {
            entry.1 += samples;
            return;
        }
        if self.played.len() == TRACKED_SOURCES {
            self.played.pop_front();
        }
        self.played.push_back((source, samples));
    }

    /// Drops everything queued (barge-in) and reports, per source, what was
    /// released and what was dropped.
    pub fn flush(&mut self) -> FlushReport {
        let mut report = FlushReport {
            dropped_samples: self.samples.len(),
            sources: Vec::new(),
        };
        for run in self.runs.drain(..) {
            match report.sources.iter_mut().find(|s| s.source == run.source) {
                Some(entry) => entry.dropped_samples += run.samples as u64,
                None => report.sources.push(SourcePlayout {
                    source: run.source,
                    played_samples: 0,
                    dropped_samples: run.samples as u64,
                }),
            }
        }
        for entry in &mut report.sources {
            entry.played_samples = self.played_samples(entry.source);
        }
        self.samples.clear();
        self.stats.flushes += 1;
        report
    }

    /// Stops releasing audio; the queue is kept. Ticks report `Idle` until
    /// [`resume`](Self::resume).
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Releases audio again from where it paused.
    pub fn resume(&mut self) {
        self.paused = false;
    }

    /// Whether the pacer is paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Puts audio of `source` that was released but never played back at
    /// the front of the queue, to be released again. `source_offset` is the
    /// offset of `audio`'s first sample within the source; `closed` says
    /// whether the source has ended (its last partial frame need not wait
    /// for more). Requeue the newest audio first when putting back several
    /// pieces. The source's released count goes down by what came back.
    /// Ignores the cap: the audio was queued once already.
    pub fn requeue_front(
        &mut self,
        source: SourceId,
        source_offset: u64,
        audio: &[i16],
        closed: bool,
    ) {
        if audio.is_empty() {
            return;
        }
        for &s in audio.iter().rev() {
            self.samples.push_front(s);
        }
        let n = audio.len();
        match self.runs.front_mut() {
            // Continuous with the run at the front: join it, so no partial
            // frame (and no padding) is made at the seam.
            Some(run) if run.source == source && source_offset + n as u64 == run.source_offset => {
                run.samples += n;
                run.source_offset = source_offset;
            }
            front => {
                // Another source follows, so this one is complete.
                let closed = closed || front.is_some();
                self.runs.push_front(Run {
                    source,
                    samples: n,
                    source_offset,
                    closed,
                });
            }
        }
        if let Some(entry) = self.played.iter_mut().find(|(s, _)| *s == source) {
            entry.1 = entry.1.saturating_sub(n as u64);
        }
    }

    /// Samples of `source` released so far (0 for unknown sources).
    pub fn played_samples(&self, source: SourceId) -> u64 {
        self.played
            .iter()
            .find(|(s, _)| *s == source)
            .map_or(0, |&(_, n)| n)
    }

    /// Milliseconds of `source` released so far, rounded down.
    pub fn played_ms(&self, source: SourceId) -> u64 {
        self.played_samples(source) / u64::from(self.config.rate.samples_per_ms())
    }

    /// Samples queued and not yet released.
    pub fn queued_samples(&self) -> usize {
        self.samples.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Counters.
    pub fn stats(&self) -> PacerStats {
        self.stats
    }

    /// The configuration.
    pub fn config(&self) -> PacerConfig {
        self.config
    }
}

#[cfg(test)]
mod tests;
