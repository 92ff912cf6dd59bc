//! Lines the agent's playout up with the caller's audio *in time* before
//! echo control compares them (decision 0042).
//!
//! Both echo detectors ([`EchoGate`](super::echo_gate::EchoGate) and
//! `media::echo::EchoControl`) keep the agent's audio as a history of
//! 20 ms frames and look for its echo a number of frames back. That count
//! only means a delay while one frame goes in per 20 ms of wall time on
//! each side, in step. A stall breaks the step:
//!
//! - **The playout clock runs late** (the process was descheduled): the
//!   overdue frames leave in a burst, the line's playback queue (Twilio's,
//!   or a phone's jitter buffer) ran dry meanwhile, and from then on every
//!   frame plays that much later. Counted in frames, the echo path's delay
//!   jumped, and a detector that learnt the old delay takes the echo for
//!   the caller's voice: the agent stopped for its own echo.
//! - **Caller frames arrive late**, in a burst after a hiccup on the line
//!   or in our own process: counted in frames they meet agent audio that
//!   was played after they were captured.
//!
//! [`EchoAlign`] keeps the far end's playback timeline (what it played
//! when, silence where its queue ran dry: [`FarEndPlayout`]) and releases
//! each frame of it
//! to the detectors only when the caller audio of that moment arrives:
//! the caller frame's capture time is its arrival time less the lateness
//! the stream has above its recent best ([`CaptureClock`]). Sans-IO: time
//! is an argument, on the call's clock.

use std::collections::VecDeque;
use std::time::Duration;

/// Samples per 20 ms frame at 8 kHz.
const FRAME_SAMPLES: usize = 160;
const FRAME: Duration = Duration::from_millis(20);
/// A frame lands in the timeline's current slot unless it is at least
/// this late (half a frame: the modelled timeline stays within ±10 ms of
/// the line's, inside the detectors' 20 ms of slack).
const HALF_FRAME: Duration = Duration::from_millis(10);
/// Agent frames held for caller audio that has not arrived (1.28 s). A
/// caller stream that stopped (hold, a room that mixes) must not grow it.
const MAX_PENDING: usize = 64;
/// A timeline this far behind the clock is a gap (the agent was out of
/// the room), not a queue that ran dry: it restarts at the clock instead
/// of filling the gap with silence frame by frame.
const MAX_CATCH_UP: Duration = Duration::from_secs(1);

/// One 20 ms frame of the far end's playback.
pub type FarFrame = [i16; FRAME_SAMPLES];

/// How the far end plays what we send: where a frame sent late lands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FarEndPlayout {
    /// A playback queue (Twilio's Media Streams): frames play back to
    /// back from when they arrive, so a frame sent after the queue ran dry
    /// plays late, and so does everything after it until the queue next
    /// empties.
    #[default]
    Queue,
    /// By RTP timestamp (a phone's or a browser's jitter buffer): each
    /// slot plays at its own time on the sender's clock; a packet sent
    /// late is absorbed by the buffer or concealed, and never moves the
    /// ones after it.
    Timestamps,
}

/// When each caller frame was captured, on the call's clock.
///
/// Frames come one per 20 ms of the caller's clock; their arrival adds
/// the network's and our own scheduling's delay, which varies. The
/// capture time of frame `n` is `n × 20 ms` plus the smallest
/// `arrival − n × 20 ms` over the last [`WINDOW`](Self::WINDOW) frames:
/// late frames are placed where they belong, and a lasting change of
/// the path's delay is adopted within the window.
#[derive(Debug, Default)]
pub struct CaptureClock {
    frames: u64,
    /// (frame number, arrival − frame × 20 ms), increasing offsets: the
    /// front is the window's minimum.
    window: VecDeque<(u64, Duration)>,
}

impl CaptureClock {
    /// Frames over which the best (least late) arrival is kept (1 s).
    pub const WINDOW: u64 = 50;
    /// A frame later than this past the window's best is a new start
    /// (the stream paused, or fed the room instead), not jitter.
    pub const GAP: Duration = Duration::from_millis(500);

    /// A caller frame arrived at `now`: when it was captured.
    pub fn arrived(&mut self, now: Duration) -> Duration {
        let n = self.frames;
        self.frames += 1;
        let nominal = FRAME * (n as u32);
        let offset = now.saturating_sub(nominal);
        if self
            .window
            .front()
            .is_some_and(|&(_, best)| offset > best + Self::GAP)
        {
            self.window.clear();
        }
        while self.window.back().is_some_and(|&(_, o)| o >= offset) {
            self.window.pop_back();
        }
        self.window.push_back((n, offset));
        while self
            .window
            .front()
            .is_some_and(|&(first, _)| first + Self::WINDOW <= n)
        {
            self.window.pop_front();
        }
        let best = self.window.front().map_or(offset, |&(_, o)| o);
        // Frame numbers overflow a u32 of 20 ms only after 2.7 years.
        (best + nominal).min(now)
    }
}

/// The far end's playback timeline, released to echo control in step
/// with the caller audio of the same moment.
#[derive(Debug, Default)]
pub struct EchoAlign {
    playout: FarEndPlayout,
    /// Frames played (or silent slots), with when each starts playing,
    /// not yet compared with caller audio.
    pending: VecDeque<(Duration, FarFrame)>,
    /// When the last frame in the timeline ends; `None` before the first.
    timeline_end: Option<Duration>,
    capture: CaptureClock,
    /// Silence frames the timeline gained where the line's queue ran dry
    /// (the playout clock was late).
    gaps_filled: u64,
}

impl EchoAlign {
    pub fn new(playout: FarEndPlayout) -> EchoAlign {
        // Both queues are bounded: allocated once, here, not while a
        // call's frames go through.
        EchoAlign {
            playout,
            pending: VecDeque::with_capacity(MAX_PENDING),
            capture: CaptureClock {
                frames: 0,
                window: VecDeque::with_capacity(CaptureClock::WINDOW as usize + 1),
            },
            ..EchoAlign::default()
        }
    }

    /// A frame of the agent's audio (or our own DTMF tones) left for the
    /// line at `now`, in the next playout slot. With a queue that ran dry
    /// since the last one, it plays from now: the gap is silence.
    pub fn played(&mut self, now: Duration, samples: &[i16]) {
        let start = self.catch_up(now);
        let mut frame = [0i16; FRAME_SAMPLES];
        let n = samples.len().min(FRAME_SAMPLES);
        frame[..n].copy_from_slice(&samples[..n]);
        self.push(start, frame);
    }

    /// A playout slot with nothing sent at `now`: silence. A queue that
    /// has not run out yet is still playing what was sent before, so the
    /// slot adds nothing to its timeline.
    pub fn idle(&mut self, now: Duration) {
        let start = self.catch_up(now);
        if self.playout == FarEndPlayout::Timestamps || start < now + HALF_FRAME {
            self.push(start, [0; FRAME_SAMPLES]);
        }
    }

    /// The line was told to drop what it holds (Twilio's `clear`) at
    /// `now`: a queue never plays what had not started by then. A far end
    /// playing by timestamp holds at most a frame, which plays out.
    pub fn cleared(&mut self, now: Duration) {
        if self.playout != FarEndPlayout::Queue {
            return;
        }
        // Nothing starting after `now` has been released to echo control
        // yet (no caller audio of that time has arrived).
        while self.pending.back().is_some_and(|(start, _)| *start >= now) {
            self.pending.pop_back();
        }
        if let Some(end) = self.timeline_end {
            let kept_end = self.pending.back().map_or(now, |(start, _)| *start + FRAME);
            self.timeline_end = Some(end.min(now.max(kept_end)));
        }
    }

    /// A caller frame arrived at `now`: the far-end frames that started
    /// playing by the time it was captured, oldest first, to go to echo
    /// control before the caller frame does.
    pub fn caller_frame(&mut self, now: Duration) -> impl Iterator<Item = FarFrame> + '_ {
        let captured = self.capture.arrived(now);
        let due = self
            .pending
            .iter()
            .take_while(|(start, _)| *start <= captured)
            .count();
        self.pending.drain(..due).map(|(_, frame)| frame)
    }

    /// Silence frames inserted where the line's queue ran dry.
    pub fn gaps_filled(&self) -> u64 {
        self.gaps_filled
    }

    /// Brings the timeline up to `now` and says where the next frame
    /// starts: at the timeline's end, or (the queue ran dry) after
    /// silence up to now.
    fn catch_up(&mut self, now: Duration) -> Duration {
        let end = match self.timeline_end {
            Some(end) if now <= end + MAX_CATCH_UP => end,
            _ => {
                self.timeline_end = Some(now);
                return now;
            }
        };
        if self.playout == FarEndPlayout::Timestamps {
            return end;
        }
        let mut end = end;
        while now > end + HALF_FRAME {
            self.push(end, [0; FRAME_SAMPLES]);
            self.gaps_filled += 1;
            end += FRAME;
        }
        end
    }

    fn push(&mut self, start: Duration, frame: FarFrame) {
        if self.pending.len() == MAX_PENDING {
            // No caller audio is asking for it: the oldest is dropped, and
            // echo control's history simply skips it.
            self.pending.pop_front();
        }
        self.pending.push_back((start, frame));
        self.timeline_end = Some(start + FRAME);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn frame(v: i16) -> [i16; FRAME_SAMPLES] {
        [v; FRAME_SAMPLES]
    }

    /// The first sample of each far frame the caller frame arriving at
    /// `caller_at` releases.
    fn released(align: &mut EchoAlign, caller_at: Duration) -> Vec<i16> {
        align.caller_frame(caller_at).map(|f| f[0]).collect()
    }

    #[test]
    fn on_time_playout_and_caller_frames_pair_one_to_one() {
        let mut align = EchoAlign::new(FarEndPlayout::Queue);
        for k in 0..50u64 {
            align.played(ms(20 * k + 1), &frame(k as i16 + 1));
            // The caller frame of the same slot arrives a little later.
            let got = released(&mut align, ms(20 * k + 3));
            assert_eq!(got, vec![k as i16 + 1], "slot {k}");
        }
        assert_eq!(align.gaps_filled(), 0);
    }

    /// Slots 0..10 on time (frames of 1), then a 150 ms stall of our
    /// process: slots 10..=17 (frames of 2) leave together at 350 ms, and
    /// the caller frames captured 200..340 ms are processed after them.
    /// Returns what the caller frames released.
    fn through_a_150_ms_stall(align: &mut EchoAlign) -> Vec<i16> {
        let mut got = Vec::new();
        for k in 0..10u64 {
            align.played(ms(20 * k), &frame(1));
            got.extend(released(align, ms(20 * k + 2)));
        }
        for _ in 10..18u64 {
            align.played(ms(350), &frame(2));
        }
        for _ in 10..18u64 {
            got.extend(released(align, ms(350)));
        }
        got
    }

    #[test]
    fn a_late_playout_clock_moves_the_rest_of_the_speech_later() {
        let mut align = EchoAlign::new(FarEndPlayout::Queue);
        // The line's queue ran dry at 200 ms, so it plays the burst from
        // there.
        let mut got = through_a_150_ms_stall(&mut align);
        // From here on time is kept again; the line's queue holds 160 ms.
        for k in 18..40u64 {
            align.played(ms(20 * k), &frame(3));
            got.extend(released(&mut align, ms(20 * k + 2)));
        }
        // Seven silent frames went in where the queue ran dry, so the
        // agent's frames sit where they were heard: the first late frame
        // at 340 ms, not at 200.
        assert_eq!(align.gaps_filled(), 7);
        assert_eq!(&got[..10], &[1; 10]);
        assert_eq!(&got[10..17], &[0; 7]);
        assert_eq!(got[17], 2);
        // Every caller frame got exactly the far audio of its own moment:
        // caller frame k (captured 20k ms) released the timeline up to it.
        assert_eq!(got.len(), 40);
    }

    #[test]
    fn caller_frames_in_a_burst_meet_the_agent_audio_of_their_capture_time() {
        let mut align = EchoAlign::new(FarEndPlayout::Queue);
        let mut got = Vec::new();
        for k in 0..20u64 {
            align.played(ms(20 * k), &frame(k as i16 + 1));
            got.push(released(&mut align, ms(20 * k + 2)));
        }
        // The caller stream stalls 120 ms: our playout goes on.
        for k in 20..26u64 {
            align.played(ms(20 * k), &frame(k as i16 + 1));
        }
        // Its frames 20..=25 then arrive together at 522 ms: each meets
        // only the agent frame played when it was captured.
        for k in 20..26u64 {
            assert_eq!(
                released(&mut align, ms(522)),
                vec![k as i16 + 1],
                "caller frame {k}"
            );
        }
        assert!(got.iter().all(|g| g.len() == 1));
    }

    #[test]
    fn idle_slots_add_silence_only_once_the_queue_has_played_out() {
        let mut align = EchoAlign::new(FarEndPlayout::Queue);
        // A burst of 5 frames at once: the line plays them 0..100 ms.
        for _ in 0..5 {
            align.played(ms(0), &frame(1));
        }
        // Idle slots at 20..80 ms fall inside what is still playing.
        for k in 1..5u64 {
            align.idle(ms(20 * k));
        }
        // From 100 ms the line is silent.
        align.idle(ms(100));
        align.idle(ms(120));
        let got = released(&mut align, ms(130));
        assert_eq!(got, vec![1, 1, 1, 1, 1, 0, 0]);
    }

    #[test]
    fn a_clear_drops_what_the_queue_had_not_played() {
        let mut align = EchoAlign::new(FarEndPlayout::Queue);
        // A burst of 10 frames at 0 ms: queued to play until 200 ms.
        for _ in 0..10 {
            align.played(ms(0), &frame(1));
        }
        // Cleared at 65 ms: frames from 80 ms on never play, and the next
        // frame, sent at 100 ms, plays at once.
        align.cleared(ms(65));
        align.idle(ms(80));
        align.played(ms(100), &frame(2));
        let got = released(&mut align, ms(130));
        // 0, 20, 40, 60 played; silence from 80 (the idle slot); then 2.
        assert_eq!(got, vec![1, 1, 1, 1, 0, 2]);
    }

    #[test]
    fn a_timestamped_far_end_keeps_late_frames_on_their_own_slots() {
        let mut align = EchoAlign::new(FarEndPlayout::Timestamps);
        // The jitter buffer plays slots 10..=17 at their timestamps (or
        // conceals them); nothing moves.
        let mut got = through_a_150_ms_stall(&mut align);
        for k in 18..30u64 {
            align.idle(ms(20 * k));
            got.extend(released(&mut align, ms(20 * k + 2)));
        }
        assert_eq!(align.gaps_filled(), 0);
        assert_eq!(&got[..10], &[1; 10]);
        assert_eq!(&got[10..18], &[2; 8]);
        assert_eq!(&got[18..], &[0; 12]);
    }

    #[test]
    fn a_long_absence_restarts_the_timeline_instead_of_filling_it() {
        let mut align = EchoAlign::new(FarEndPlayout::Queue);
        align.played(ms(0), &frame(1));
        let _ = released(&mut align, ms(2)).len();
        // The agent was out of the room for a minute.
        align.played(ms(60_000), &frame(2));
        assert_eq!(align.gaps_filled(), 0);
        assert!(align.pending.len() <= MAX_PENDING);
    }

    #[test]
    fn a_silent_caller_stream_holds_at_most_the_cap() {
        let mut align = EchoAlign::new(FarEndPlayout::Queue);
        for k in 0..1_000u64 {
            align.played(ms(20 * k), &frame(1));
        }
        assert_eq!(align.pending.len(), MAX_PENDING);
    }

    #[test]
    fn capture_clock_keeps_the_best_arrival_and_restarts_after_a_gap() {
        let mut clock = CaptureClock::default();
        assert_eq!(clock.arrived(ms(5)), ms(5));
        assert_eq!(clock.arrived(ms(25)), ms(25));
        // Frame 2 arrives 100 ms late: captured at 45 ms all the same.
        assert_eq!(clock.arrived(ms(145)), ms(45));
        assert_eq!(clock.arrived(ms(146)), ms(65));
        // The stream pauses 2 s: a new start, not 2 s of lateness.
        assert_eq!(clock.arrived(ms(2_100)), ms(2_100));
        assert_eq!(clock.arrived(ms(2_120)), ms(2_120));
    }

    #[test]
    fn capture_clock_adopts_a_lasting_delay_within_its_window() {
        let mut clock = CaptureClock::default();
        for n in 0..10u64 {
            clock.arrived(ms(20 * n));
        }
        // Every frame now comes 80 ms later than before, for good.
        let mut last = Duration::ZERO;
        for n in 10..(10 + CaptureClock::WINDOW + 1) {
            last = clock.arrived(ms(20 * n + 80));
        }
        let n = 10 + CaptureClock::WINDOW;
        assert_eq!(last, ms(20 * n + 80));
    }
}
