//! [`ModelOutbox`]: what the call has for its model session but the
//! session's command queue cannot take yet.
//!
//! The model link reads commands from a bounded channel and writes them to
//! the provider's socket. When the socket stalls the channel fills, and the
//! call must not wait for it (the 20 ms clock runs on the same task). The
//! rule here, as LiveKit's and Pipecat's transports have it: caller audio
//! is perishable and may be dropped under back-pressure (counted); control
//! is not. A `response.cancel`, a truncate, a function output, a replay,
//! a session update or a DTMF note is kept, in order, and handed to the
//! channel as soon as it has room.
//!
//! Order is simple to keep because audio is never queued here: while
//! control waits, newer audio is dropped rather than sent ahead of it,
//! and control never overtakes audio already in the channel.
//!
//! Sans-IO apart from `try_send`, which never blocks: the driver pushes
//! every command through [`ModelOutbox::push`] and, while
//! [`ModelOutbox::has_control`], awaits the channel's `reserve_owned()`
//! (cancel safe: a dropped reservation loses its place, never a command)
//! and calls
//! [`ModelOutbox::send_next`] with the permit.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::mpsc::{self, error::TrySendError};

use crate::model::ModelCommand;

/// Control commands queued behind a full channel before the session counts
/// as dead. The channel already holds 512 commands (about ten seconds of
/// caller audio); a call issues a handful of control commands per turn, so
/// a session that leaves 1024 of them unread is not coming back, and the
/// driver reopens it and replays the conversation instead.
pub const MAX_QUEUED_CONTROL: usize = 1_024;

/// What became of a command.
#[derive(Debug, PartialEq)]
pub enum Pushed {
    /// It is in the channel.
    Sent,
    /// Control, kept until the channel has room.
    Queued,
    /// Caller audio, dropped (counted) because the channel is full or
    /// control is waiting ahead of it.
    AudioDropped,
    /// The channel is closed: the session is gone or being replaced. Its
    /// successor gets the conversation replayed, so nothing is owed to it.
    Closed,
    /// [`MAX_QUEUED_CONTROL`] commands are waiting: the session is stuck.
    /// The command is handed back; the caller must replace the session.
    Overflow(ModelCommand),
}

/// Caller audio dropped since the last report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DroppedAudio {
    /// `AppendAudio` commands (20 ms frames each).
    pub frames: u64,
    /// Their bytes, in the session's input format.
    pub bytes: u64,
}

impl DroppedAudio {
    /// The dropped audio's duration (every frame is 20 ms).
    pub fn ms(&self) -> u64 {
        self.frames * 20
    }
}

/// How often, at most, a call logs the caller audio it dropped.
pub const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

/// Commands for the model that wait for room. See the module docs.
#[derive(Debug, Default)]
pub struct ModelOutbox {
    control: VecDeque<ModelCommand>,
    /// Dropped since the last report.
    dropped: DroppedAudio,
    /// Dropped over the whole call.
    dropped_total: DroppedAudio,
    /// When the last drop report was made (call clock).
    reported_at: Option<Duration>,
}

fn is_audio(command: &ModelCommand) -> bool {
    matches!(command, ModelCommand::AppendAudio(_))
}

impl ModelOutbox {
    /// An empty outbox.
    pub fn new() -> ModelOutbox {
        ModelOutbox::default()
    }

    /// Whether control is waiting for room in the channel.
    pub fn has_control(&self) -> bool {
        !self.control.is_empty()
    }

    /// Control commands waiting.
    pub fn queued(&self) -> usize {
        self.control.len()
    }

    /// Hands `command` to the channel now, or queues it (control), or
    /// drops it (audio). Never blocks.
    pub fn push(&mut self, tx: &mpsc::Sender<ModelCommand>, command: ModelCommand) -> Pushed {
        if is_audio(&command) {
            // Room may have freed since control was queued: move it first.
            if self.has_control() && self.drain(tx) != Drained::Empty {
                self.drop_audio(&command);
                return Pushed::AudioDropped;
            }
            return match tx.try_send(command) {
                Ok(()) => Pushed::Sent,
                Err(TrySendError::Full(command)) => {
                    self.drop_audio(&command);
                    Pushed::AudioDropped
                }
                Err(TrySendError::Closed(_)) => Pushed::Closed,
            };
        }
        if self.has_control() {
            // Behind earlier control; try to move the queue first.
            if self.drain(tx) == Drained::Closed {
                return Pushed::Closed;
            }
        }
        if !self.has_control() {
            match tx.try_send(command) {
                Ok(()) => return Pushed::Sent,
                Err(TrySendError::Closed(_)) => return Pushed::Closed,
                Err(TrySendError::Full(back)) => return self.enqueue(back),
            }
        }
        self.enqueue(command)
    }

    fn enqueue(&mut self, command: ModelCommand) -> Pushed {
        if self.control.len() >= MAX_QUEUED_CONTROL {
            return Pushed::Overflow(command);
        }
        self.control.push_back(command);
        Pushed::Queued
    }

    fn drop_audio(&mut self, command: &ModelCommand) {
        if let ModelCommand::AppendAudio(bytes) = command {
            for d in [&mut self.dropped, &mut self.dropped_total] {
                d.frames += 1;
                d.bytes += bytes.len() as u64;
            }
        }
    }

    /// Moves queued control into the channel while it has room.
    pub fn drain(&mut self, tx: &mpsc::Sender<ModelCommand>) -> Drained {
        while let Some(command) = self.control.pop_front() {
            match tx.try_send(command) {
                Ok(()) => {}
                Err(TrySendError::Full(command)) => {
                    self.control.push_front(command);
                    return Drained::Full;
                }
                Err(TrySendError::Closed(command)) => {
                    self.control.push_front(command);
                    return Drained::Closed;
                }
            }
        }
        Drained::Empty
    }

    /// Sends the oldest queued command with a permit the driver awaited,
    /// then as many more as fit.
    pub fn send_next(
        &mut self,
        permit: mpsc::OwnedPermit<ModelCommand>,
        tx: &mpsc::Sender<ModelCommand>,
    ) -> Drained {
        if let Some(command) = self.control.pop_front() {
            // The returned sender is a clone of `tx`; dropping it is free.
            let _ = permit.send(command);
        }
        self.drain(tx)
    }

    /// Forgets the queued control because its session is gone (closed or
    /// replaced): the next session is brought up to date by the replay.
    /// Returns how many commands that was, for the log.
    pub fn session_replaced(&mut self) -> usize {
        let n = self.control.len();
        self.control.clear();
        n
    }

    /// The audio dropped since the last report, when a log line about it
    /// is due at `now` (call clock): at the first drop, then at most once
    /// per [`DROP_LOG_EVERY`], so a long stall logs a few aggregated lines
    /// rather than one per frame.
    pub fn drop_report(&mut self, now: Duration) -> Option<DroppedAudio> {
        if self.dropped.frames == 0 {
            return None;
        }
        if self
            .reported_at
            .is_some_and(|at| now.saturating_sub(at) < DROP_LOG_EVERY)
        {
            return None;
        }
        self.reported_at = Some(now);
        Some(std::mem::take(&mut self.dropped))
    }

    /// Audio dropped over the whole call.
    pub fn dropped_total(&self) -> DroppedAudio {
        self.dropped_total
    }
}

/// Where a drain stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drained {
    /// Nothing left queued.
    Empty,
    /// The channel is full again.
    Full,
    /// The channel is closed.
    Closed,
}

#[cfg(test)]
mod tests;
