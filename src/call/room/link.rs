//! How a leg that arrived on its own socket talks to the room (0021, "One
//! worker, one clock"): a [`LegLink`] is the `Send` job an ingress hands to
//! [`CallHandle::attach`](crate::call::registry::CallHandle::attach); the
//! room runs it with `spawn_local` on the call's worker, giving it a
//! [`LegPort`]. The job is the leg's edge task: its socket, codec and
//! conversion to 16 kHz, and nothing else.
//!
//! - **Up** (edge → room): one bounded channel shared by every linked leg
//!   ([`UP_CAPACITY`]). Audio never waits: when the channel is full the
//!   frame is dropped and counted (the leg is behind). DTMF and `Ended` are
//!   control and wait for room.
//! - **Down** (room → edge): one queue of [`DOWN_CAPACITY`] mixes per leg,
//!   on the same thread as the room, so the room can drop the *oldest*
//!   mix when the edge is stuck (counted) and never waits.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use tokio::sync::{mpsc, Notify};

use crate::call::registry::{LegId, LegRole};
use crate::media::frame::Frame;

/// Capacity of the shared up channel (8 frames per possible linked leg).
pub const UP_CAPACITY: usize = 8 * crate::media::mixer::MAX_LEGS;
/// Mixes a leg's down queue holds before the oldest is dropped.
pub const DOWN_CAPACITY: usize = 4;

/// What an edge sends the room.
// Frames are nearly every message: boxing them would allocate per frame.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum LegUp {
    /// 20 ms of the leg's audio at 16 kHz (`media::mixer::INTERNAL_RATE`).
    Frame(Frame),
    /// A key the leg pressed (logged: only the caller's keys reach the agent).
    Dtmf(char),
    /// The leg is gone (its socket closed, its peer hung up): the room
    /// detaches it.
    Ended(String),
}

/// The edge task a [`LegLink`] starts.
pub type EdgeTask = Pin<Box<dyn Future<Output = ()>>>;

type Build = Box<dyn FnOnce(LegPort) -> EdgeTask + Send>;

/// A leg ready to join a call: how to start its edge task on the call's
/// worker. Built by the ingress that accepted the leg's socket.
pub struct LegLink {
    transport: &'static str,
    build: Build,
}

impl std::fmt::Debug for LegLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegLink")
            .field("transport", &self.transport)
            .finish()
    }
}

impl LegLink {
    /// A leg carried by `transport` (`webrtc`, `sip`, `test`) whose edge
    /// task `edge` builds from its port. `edge` is `Send` (it crosses to
    /// the call's worker); the task it returns need not be (it stays
    /// there, so it may own a libopus handle or a str0m `Rtc`).
    pub fn new<F, Fut>(transport: &'static str, edge: F) -> LegLink
    where
        F: FnOnce(LegPort) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        LegLink {
            transport,
            build: Box::new(move |port| Box::pin(edge(port))),
        }
    }

    /// How the leg is carried.
    pub fn transport(&self) -> &'static str {
        self.transport
    }

    pub(crate) fn start(self, port: LegPort) -> EdgeTask {
        (self.build)(port)
    }
}

/// The room closed the leg's link: it was detached or the call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the leg was detached or the call ended: stop the edge task")]
pub struct LinkClosed;

/// A leg's mixes, from the room to its edge (same thread).
#[derive(Debug, Default)]
pub(crate) struct DownQueue {
    frames: RefCell<VecDeque<Frame>>,
    notify: Notify,
    closed: Cell<bool>,
    dropped: Cell<u64>,
}

impl DownQueue {
    /// Queues a mix; drops the oldest when the edge is [`DOWN_CAPACITY`]
    /// behind. Never waits.
    pub(crate) fn push(&self, frame: Frame) {
        let mut frames = self.frames.borrow_mut();
        if frames.len() == DOWN_CAPACITY {
            frames.pop_front();
            self.dropped.set(self.dropped.get() + 1);
        }
        frames.push_back(frame);
        drop(frames);
        self.notify.notify_one();
    }

    pub(crate) fn close(&self) {
        self.closed.set(true);
        self.notify.notify_one();
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.get()
    }
}

/// The edge task's end of its link to the room.
#[derive(Debug)]
pub struct LegPort {
    id: LegId,
    role: LegRole,
    up: mpsc::Sender<(LegId, LegUp)>,
    down: Rc<DownQueue>,
    dropped_up: u64,
}

impl LegPort {
    pub(crate) fn new(
        id: LegId,
        role: LegRole,
        up: mpsc::Sender<(LegId, LegUp)>,
        down: Rc<DownQueue>,
    ) -> LegPort {
        LegPort {
            id,
            role,
            up,
            down,
            dropped_up: 0,
        }
    }

    /// The leg's id in the call.
    pub fn id(&self) -> LegId {
        self.id
    }

    /// The leg's role.
    pub fn role(&self) -> LegRole {
        self.role
    }

    /// Hands the room 20 ms of the leg's audio at 16 kHz. Never waits:
    /// with the room's channel full the frame is dropped and counted.
    ///
    /// # Errors
    /// [`LinkClosed`] once the call has ended.
    pub fn send_frame(&mut self, frame: Frame) -> Result<(), LinkClosed> {
        match self.up.try_send((self.id, LegUp::Frame(frame))) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped_up += 1;
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(LinkClosed),
        }
    }

    /// A key the leg pressed (waits for room: control is never dropped).
    ///
    /// # Errors
    /// [`LinkClosed`] once the call has ended.
    pub async fn send_dtmf(&self, digit: char) -> Result<(), LinkClosed> {
        self.up
            .send((self.id, LegUp::Dtmf(digit)))
            .await
            .map_err(|_| LinkClosed)
    }

    /// The leg is gone: the room detaches it. Call it when the edge's
    /// socket closes; a detached leg's edge just returns.
    pub async fn end(self, reason: String) {
        // A closed room needs no telling.
        let _ = self.up.send((self.id, LegUp::Ended(reason))).await;
    }

    /// The next mix for this leg (16 kHz, one per tick of the call's
    /// clock), or `None` once it is detached or the call ended.
    ///
    /// Cancel safe: a mix is taken only when returned.
    pub async fn next_mix(&self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.down.frames.borrow_mut().pop_front() {
                return Some(frame);
            }
            if self.down.closed.get() {
                return None;
            }
            self.down.notify.notified().await;
        }
    }

    /// The next mix if one is queued now (never waits).
    pub fn try_next_mix(&self) -> Option<Frame> {
        self.down.frames.borrow_mut().pop_front()
    }

    /// Frames this edge dropped because the room's channel was full.
    pub fn dropped_up(&self) -> u64 {
        self.dropped_up
    }

    /// Mixes the room dropped because this edge was behind.
    pub fn dropped_down(&self) -> u64 {
        self.down.dropped()
    }
}

/// Hold audio: where the room's hold source gets its frames (music or a
/// prompt, supplied by whoever puts the caller on hold). Who hears it is
/// the routing table's business ([`RoutePolicy::brief`]
/// (crate::media::mixer::RoutePolicy::brief) routes it to the caller).
pub trait FrameSource: Send + 'static {
    /// Fills one tick (320 samples at 16 kHz); false when the source is
    /// done (the room then stops playing it).
    fn next_frame(&mut self, out: &mut [i16]) -> bool;
}

/// A clip played in a loop: the usual hold music.
#[derive(Clone, Debug)]
pub struct LoopedClip {
    pcm: std::sync::Arc<[i16]>,
    at: usize,
}

impl LoopedClip {
    /// A clip of 16 kHz mono samples (empty plays silence).
    pub fn new_16k(pcm: std::sync::Arc<[i16]>) -> LoopedClip {
        LoopedClip { pcm, at: 0 }
    }

    /// A clip of 8 kHz samples (the prompts `[call]` already loads),
    /// converted once here.
    pub fn from_8k(pcm: &[i16]) -> LoopedClip {
        let mut up = crate::media::halfband::Upsampler2::new();
        let mut out = vec![0; pcm.len() * 2];
        up.process(pcm, &mut out);
        LoopedClip::new_16k(out.into())
    }
}

impl FrameSource for LoopedClip {
    fn next_frame(&mut self, out: &mut [i16]) -> bool {
        if self.pcm.is_empty() {
            out.fill(0);
            return true;
        }
        for s in out.iter_mut() {
            *s = self.pcm[self.at];
            self.at = (self.at + 1) % self.pcm.len();
        }
        true
    }
}
