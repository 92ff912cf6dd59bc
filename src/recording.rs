//! The recorder (issue 16, decision 0026): one writer thread for the whole
//! process that turns the frames calls hand it (`call::recording`) into
//! one stereo WAV per call, caller on the left and what the caller heard on
//! the right, 16-bit PCM at 8 kHz, and deletes recordings older than
//! `[recording] retention_days`.
//!
//! Never on the audio path: calls reach it through one bounded channel
//! (`CHANNEL_FRAMES`) with `try_send`, and a full channel costs the
//! recording a frame, never the call (counted, see `call::recording`).
//! A file is written as `<call id>.wav.part` and renamed to
//! `<call id>.wav` when the call ends, so a recording that is served is
//! complete. Frames are put in place by their slot on the call's 20 ms
//! clock, with a reorder window of [`WINDOW_SLOTS`] (the caller's and the
//! heard frames of one instant arrive at different moments); a missing
//! frame is silence.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::call::recording::{CallRecorder, Channel, RecorderInput, RecordingTap};
use crate::call::tools::CallIdentity;
use crate::media::g711::ulaw_decode;

/// Frames the channel to the writer holds: 200 calls × 2 sides × 400 ms
/// (about 3 MB). The writer drains it in microseconds; it fills when the
/// disk stalls or the writer thread is starved of CPU (measured: a debug
/// build on a machine at load 11 dropped 0.25 % of frames with 100 ms).
pub const CHANNEL_FRAMES: usize = 16_384;
/// Slots a frame may arrive late and still take its place (1 s).
pub const WINDOW_SLOTS: u64 = 50;
/// How often old recordings are looked for.
pub const SWEEP_EVERY: Duration = Duration::from_secs(3_600);
/// How often the writer looks for calls whose `Close` was lost.
const POLL: Duration = Duration::from_millis(500);
/// Recordings refused because the writer was far behind (a metric).
pub const REFUSED: &str = "warmline_recordings_refused_total";
/// Recordings that failed on the disk (a metric).
pub const FAILED: &str = "warmline_recordings_failed_total";

/// Errors starting the recorder.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The writer thread could not start.
    #[error("cannot start the recording writer thread: {0}")]
    Thread(std::io::Error),
}

/// What the recorder needs (`[recording]`).
#[derive(Clone, Debug)]
pub struct RecorderSettings {
    /// Where the files go (made when the first call is recorded).
    pub dir: PathBuf,
    /// Recordings older than this many days are deleted; 0 keeps them.
    pub retention_days: u32,
}

/// The process's recorder: the writer thread's sending end.
#[derive(Debug)]
pub struct Recorder {
    tx: SyncSender<RecorderInput>,
    next_track: AtomicU64,
    dir: PathBuf,
}

impl Recorder {
    /// Starts the writer thread (named `recorder`).
    pub fn start(settings: RecorderSettings) -> Result<Arc<Recorder>, RecordingError> {
        let (tx, rx) = sync_channel(CHANNEL_FRAMES);
        let dir = settings.dir.clone();
        std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || Writer::new(settings).run(rx))
            .map_err(RecordingError::Thread)?;
        Ok(Arc::new(Recorder {
            tx,
            next_track: AtomicU64::new(1),
            dir,
        }))
    }

    /// Where the recording of `call_id` is once the call ended.
    pub fn path_of(&self, call_id: &str) -> PathBuf {
        self.dir.join(format!("{call_id}.wav"))
    }
}

/// Makes `dir` at start-up when calls will be recorded, so that a
/// directory that cannot be made is said at once, not at the first call.
pub fn prepare_dir(dir: &Path) {
    match std::fs::create_dir_all(dir) {
        Ok(()) => tracing::info!(dir = %dir.display(), "recordings go here"),
        Err(e) => tracing::error!(
            dir = %dir.display(),
            error = %e,
            "recording.dir cannot be made: recorded calls will go unrecorded until it can"
        ),
    }
}

/// The URL a recording is served at (`http::recordings`).
pub fn url_of(call_id: &str) -> String {
    format!("/api/v1/recordings/{call_id}.wav")
}

impl CallRecorder for Recorder {
    fn start(&self, call: &CallIdentity) -> Option<RecordingTap> {
        let track = self.next_track.fetch_add(1, Ordering::Relaxed);
        let closed = Arc::new(AtomicBool::new(false));
        let open = RecorderInput::Open {
            track,
            call_id: call.id.clone(),
            closed: closed.clone(),
        };
        if self.tx.try_send(open).is_err() {
            metrics::counter!(REFUSED).increment(1);
            tracing::error!("the recording writer is far behind: this call is not recorded");
            return None;
        }
        Some(RecordingTap::new(
            track,
            self.tx.clone(),
            url_of(&call.id),
            closed,
        ))
    }
}

/// The writer thread's state.
struct Writer {
    settings: RecorderSettings,
    tracks: HashMap<u64, Track>,
    next_sweep: std::time::Instant,
}

impl Writer {
    fn new(settings: RecorderSettings) -> Writer {
        Writer {
            settings,
            tracks: HashMap::new(),
            next_sweep: std::time::Instant::now(),
        }
    }

    fn run(mut self, rx: Receiver<RecorderInput>) {
        let mut last_poll = std::time::Instant::now();
        loop {
            match rx.recv_timeout(POLL) {
                Ok(input) => self.on_input(input),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    for (_, track) in self.tracks.drain() {
                        track.finish();
                    }
                    return;
                }
            }
            let now = std::time::Instant::now();
            if now >= last_poll + POLL {
                last_poll = now;
                // A `Close` that did not fit: finish on the flag, once a
                // whole poll has passed, so that frames queued before it
                // (the channel drains in microseconds) are written first.
                let mut closed = Vec::new();
                for (&id, track) in &mut self.tracks {
                    if track.closed.load(Ordering::Acquire) {
                        if track.closed_seen {
                            closed.push(id);
                        }
                        track.closed_seen = true;
                    }
                }
                for id in closed {
                    if let Some(track) = self.tracks.remove(&id) {
                        track.finish();
                    }
                }
            }
            if now >= self.next_sweep {
                self.next_sweep = now + SWEEP_EVERY;
                if self.settings.retention_days > 0 {
                    let keep =
                        Duration::from_secs(u64::from(self.settings.retention_days) * 86_400);
                    sweep(&self.settings.dir, keep, SystemTime::now());
                }
            }
        }
    }

    fn on_input(&mut self, input: RecorderInput) {
        match input {
            RecorderInput::Open {
                track,
                call_id,
                closed,
            } => match Track::create(&self.settings.dir, &call_id, closed) {
                Ok(t) => {
                    self.tracks.insert(track, t);
                }
                Err(e) => {
                    metrics::counter!(FAILED).increment(1);
                    tracing::error!(call_id, dir = %self.settings.dir.display(), error = %e,
                        "cannot create the recording: this call is not recorded");
                }
            },
            RecorderInput::Frame {
                track,
                channel,
                slot,
                mulaw,
            } => {
                let failed = match self.tracks.get_mut(&track) {
                    Some(t) => t.put(channel, slot, &mulaw).is_err(),
                    None => false,
                };
                if failed {
                    if let Some(t) = self.tracks.remove(&track) {
                        t.fail();
                    }
                }
            }
            RecorderInput::Close { track } => {
                if let Some(t) = self.tracks.remove(&track) {
                    t.finish();
                }
            }
        }
    }
}

/// Stereo samples of one 20 ms slot, interleaved (left, right).
type Slot = [i16; 320];

/// One call's file.
struct Track {
    call_id: String,
    part: PathBuf,
    done: PathBuf,
    out: BufWriter<File>,
    closed: Arc<AtomicBool>,
    /// The flag was seen set at the previous poll.
    closed_seen: bool,
    /// Slots not yet written, by slot.
    pending: BTreeMap<u64, Box<Slot>>,
    /// The next slot to write (none until the first is written).
    next: Option<u64>,
    /// Sample frames (left and right) written.
    frames: u64,
    /// Frames that arrived after their slot was written.
    late: u64,
    bytes: Vec<u8>,
}

impl Track {
    fn create(dir: &Path, call_id: &str, closed: Arc<AtomicBool>) -> std::io::Result<Track> {
        // The call id is ours (a UUID), but a path must never escape.
        if call_id.is_empty()
            || !call_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(std::io::Error::other("call id unfit for a file name"));
        }
        std::fs::create_dir_all(dir)?;
        let part = dir.join(format!("{call_id}.wav.part"));
        let done = dir.join(format!("{call_id}.wav"));
        let mut out = BufWriter::with_capacity(64 * 1024, File::create(&part)?);
        out.write_all(&wav_header(0))?;
        Ok(Track {
            call_id: call_id.to_owned(),
            part,
            done,
            out,
            closed,
            closed_seen: false,
            pending: BTreeMap::new(),
            next: None,
            frames: 0,
            late: 0,
            bytes: Vec::with_capacity(640),
        })
    }

    fn put(&mut self, channel: Channel, slot: u64, mulaw: &[u8; 160]) -> std::io::Result<()> {
        if self.next.is_some_and(|next| slot < next) {
            self.late += 1;
            return Ok(());
        }
        let entry = self
            .pending
            .entry(slot)
            .or_insert_with(|| Box::new([0; 320]));
        let side = match channel {
            Channel::Caller => 0,
            Channel::Heard => 1,
        };
        for (i, &code) in mulaw.iter().enumerate() {
            entry[2 * i + side] = ulaw_decode(code);
        }
        let newest = slot;
        while let Some((&oldest, _)) = self.pending.first_key_value() {
            if oldest + WINDOW_SLOTS > newest {
                break;
            }
            self.write_through(oldest)?;
        }
        Ok(())
    }

    /// Writes every slot up to and including `last`, silence for gaps.
    fn write_through(&mut self, last: u64) -> std::io::Result<()> {
        let Some((&first, _)) = self.pending.first_key_value() else {
            return Ok(());
        };
        let mut slot = self.next.unwrap_or(first);
        while slot <= last {
            self.bytes.clear();
            match self.pending.remove(&slot) {
                Some(samples) => {
                    for s in samples.iter() {
                        self.bytes.extend_from_slice(&s.to_le_bytes());
                    }
                }
                None => self.bytes.resize(640, 0),
            }
            self.out.write_all(&self.bytes)?;
            self.frames += 160;
            slot += 1;
        }
        self.next = Some(slot);
        Ok(())
    }

    fn finish(mut self) {
        let last = self.pending.last_key_value().map(|(&s, _)| s);
        let result = (|| {
            if let Some(last) = last {
                self.write_through(last)?;
            }
            let data = (self.frames * 4).min(u64::from(u32::MAX - 36)) as u32;
            self.out.seek(SeekFrom::Start(0))?;
            self.out.write_all(&wav_header(data))?;
            self.out.flush()?;
            self.out.get_ref().sync_data()?;
            std::fs::rename(&self.part, &self.done)
        })();
        match result {
            Ok(()) => tracing::debug!(
                call_id = self.call_id,
                seconds = self.frames / 8_000,
                late = self.late,
                "recording written"
            ),
            Err(e) => {
                tracing::error!(call_id = self.call_id, error = %e, "the recording could not be finished");
                self.fail();
            }
        }
    }

    fn fail(self) {
        metrics::counter!(FAILED).increment(1);
        tracing::error!(
            call_id = self.call_id,
            "recording abandoned after a disk error"
        );
        let _ = std::fs::remove_file(&self.part);
    }
}

/// The 44-byte header of a 16-bit stereo 8 kHz PCM WAV with `data` bytes.
fn wav_header(data: u32) -> [u8; 44] {
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36 + data).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&2u16.to_le_bytes()); // channels
    h[24..28].copy_from_slice(&8_000u32.to_le_bytes());
    h[28..32].copy_from_slice(&32_000u32.to_le_bytes()); // bytes per second
    h[32..34].copy_from_slice(&4u16.to_le_bytes()); // block align
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

/// Whether `name` has the shape of a call id (a UUID: 36 of hex and `-`).
fn is_call_id(name: &str) -> bool {
    name.len() == 36 && name.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// Deletes recordings (and abandoned `.wav.part` files) in `dir` last
/// written more than `keep` before `now`; returns how many.
pub fn sweep(dir: &Path, keep: Duration, now: SystemTime) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut deleted = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Only files this recorder names (`<call id>.wav[.part]`): a `dir`
        // pointed at a folder of other audio never loses any of it.
        let stem = name
            .strip_suffix(".wav")
            .or_else(|| name.strip_suffix(".wav.part"));
        if !stem.is_some_and(is_call_id) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age > keep);
        if old {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => deleted += 1,
                Err(e) => tracing::warn!(file = %entry.path().display(), error = %e,
                    "cannot delete an expired recording"),
            }
        }
    }
    if deleted > 0 {
        tracing::info!(deleted, dir = %dir.display(), "expired recordings deleted");
    }
    deleted
}

#[cfg(test)]
mod tests;
