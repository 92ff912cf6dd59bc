//! The seam between a call and its recording (issue 16, decision 0026):
//! [`CallRecorder`] starts a recording for a call and hands back a
//! [`RecordingTap`], through which the driver passes each 20 ms frame the
//! caller sent (left channel) and each frame the caller heard (right
//! channel: the agent, later a rep), stamped with its slot on the call's
//! 20 ms clock.
//!
//! The tap never blocks and never allocates: frames go into a bounded
//! channel to a writer thread (`crate::recording`), which does the file
//! I/O. When the channel is full the frame is dropped, counted on the tap
//! (logged when the call ends) and in `warmline_recording_frames_dropped_total`,
//! and the recording holds silence in its place: the call's audio always
//! wins over its recording. Closing the tap (dropping it) finishes the
//! file; that signal cannot be lost (a flag the writer also polls).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use super::tools::CallIdentity;

/// Frames dropped because the writer fell behind (a metric).
pub const FRAMES_DROPPED: &str = "warmline_recording_frames_dropped_total";

/// Which side of the call a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// What the caller sent: the left channel.
    Caller,
    /// What the caller heard (agent or rep): the right channel.
    Heard,
}

/// What the writer thread receives.
#[derive(Debug)]
pub enum RecorderInput {
    /// A call's recording starts: the writer opens its file.
    Open {
        /// The recording's number in this process.
        track: u64,
        /// The call's id, which names the file.
        call_id: String,
        /// Set when the tap is dropped.
        closed: Arc<AtomicBool>,
    },
    /// One 20 ms frame of one side, μ-law at 8 kHz.
    Frame {
        /// The recording.
        track: u64,
        /// Which side.
        channel: Channel,
        /// Its slot on the call's 20 ms clock.
        slot: u64,
        /// The audio.
        mulaw: [u8; 160],
    },
    /// The call ended: the writer finishes the file.
    Close {
        /// The recording.
        track: u64,
    },
}

/// Starts recordings. Called on the media worker: never blocks.
pub trait CallRecorder: Send + Sync + std::fmt::Debug {
    /// Starts recording `call`; `None` when it cannot (the writer is far
    /// behind: the call goes on unrecorded, and that is logged).
    fn start(&self, call: &CallIdentity) -> Option<RecordingTap>;
}

/// The process's recorder, shared by every call.
pub type SharedRecorder = Arc<dyn CallRecorder>;

/// One call's side of its recording.
#[derive(Debug)]
pub struct RecordingTap {
    track: u64,
    tx: SyncSender<RecorderInput>,
    url: String,
    closed: Arc<AtomicBool>,
    /// The caller's frames so far, and the slot of their first.
    caller_frames: u64,
    caller_first_slot: Option<u64>,
    dropped: u64,
}

impl RecordingTap {
    /// A tap for `track`; its `Open` must already be sent with `closed`.
    pub fn new(
        track: u64,
        tx: SyncSender<RecorderInput>,
        url: String,
        closed: Arc<AtomicBool>,
    ) -> RecordingTap {
        RecordingTap {
            track,
            tx,
            url,
            closed,
            caller_frames: 0,
            caller_first_slot: None,
            dropped: 0,
        }
    }

    /// The caller's next frame, arrived at `now` on the call clock. The
    /// caller's frames keep their own (media) clock: the first one's
    /// arrival places the run, the count places the rest, so arrival
    /// jitter does not move them.
    pub fn caller(&mut self, now: Duration, mulaw: &[u8]) {
        let first = *self.caller_first_slot.get_or_insert(slot_of(now));
        let slot = first + self.caller_frames;
        self.caller_frames += 1;
        self.send(Channel::Caller, slot, mulaw);
    }

    /// A frame the caller hears, due at `at` on the call clock.
    pub fn heard(&mut self, at: Duration, mulaw: &[u8]) {
        self.send(Channel::Heard, slot_of(at), mulaw);
    }

    fn send(&mut self, channel: Channel, slot: u64, mulaw: &[u8]) {
        let mut frame = [0xFFu8; 160];
        let n = mulaw.len().min(160);
        frame[..n].copy_from_slice(&mulaw[..n]);
        let input = RecorderInput::Frame {
            track: self.track,
            channel,
            slot,
            mulaw: frame,
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(input)
        {
            self.dropped += 1;
            metrics::counter!(FRAMES_DROPPED).increment(1);
        }
    }

    /// Frames dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Ends the recording; returns where it will be served.
    pub fn finish(self) -> String {
        if self.dropped > 0 {
            tracing::warn!(
                frames = self.dropped,
                "the recording writer fell behind: the recording has silence in their place"
            );
        }
        self.url.clone()
    }
}

impl Drop for RecordingTap {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        // Prompt when there is room; otherwise the writer sees the flag.
        let _ = self.tx.try_send(RecorderInput::Close { track: self.track });
    }
}

/// The 20 ms slot `at` falls in (rounded to the nearest).
fn slot_of(at: Duration) -> u64 {
    (at.as_micros() as u64 + 10_000) / 20_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writer_that_falls_behind_costs_the_recording_frames_never_the_call_a_wait() {
        // Room for one frame, and nobody reading: the writer is stuck.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let closed = Arc::new(AtomicBool::new(false));
        let mut tap = RecordingTap::new(7, tx, "/x.wav".into(), closed.clone());
        for i in 0..3u64 {
            tap.heard(Duration::from_millis(20 * i), &[0x7F; 160]);
        }
        assert_eq!(tap.dropped(), 2, "the full channel drops, it never blocks");
        drop(tap);
        assert!(closed.load(Ordering::Acquire), "the end is seen even so");
        assert!(matches!(
            rx.try_recv(),
            Ok(RecorderInput::Frame {
                track: 7,
                slot: 0,
                ..
            })
        ));
    }

    #[test]
    fn the_caller_s_frames_keep_their_own_clock_after_the_first() {
        let (tx, rx) = std::sync::mpsc::sync_channel(8);
        let mut tap = RecordingTap::new(1, tx, String::new(), Arc::new(AtomicBool::new(false)));
        // Arrivals jitter by up to 15 ms; the slots do not.
        for at in [100, 135, 141, 178] {
            tap.caller(Duration::from_millis(at), &[0xFF; 160]);
        }
        let slots: Vec<u64> = rx
            .try_iter()
            .filter_map(|input| match input {
                RecorderInput::Frame { slot, .. } => Some(slot),
                _ => None,
            })
            .collect();
        assert_eq!(slots, [5, 6, 7, 8]);
    }
}
