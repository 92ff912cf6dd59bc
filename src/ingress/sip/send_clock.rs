//! The RTP send clock: one thread that puts every SIP call's outbound RTP
//! packets on the wire at their 20 ms slots.
//!
//! A call's media worker still decides what each slot carries: the call
//! driver ticks, the pacer releases a frame (or nothing, and the leg sends
//! silence), and the leg builds the packet. It builds it [`LEAD`] ahead of
//! its slot and hands it here; this thread sends it when the slot comes.
//!
//! Why a thread of its own: a media worker is a single-threaded runtime
//! serving a few hundred calls, and a tick that comes due waits behind
//! whatever that worker is doing for the other calls (caller RTP, VAD,
//! model traffic). At 500 SIPp calls on two cores the workers were 55–65 %
//! busy and that queueing put the p99 of outbound RTP 10–20 ms late
//! (docs/PERFORMANCE.md). This thread does nothing but sleep on a precise
//! deadline and `sendto`, so it leaves on time even when a worker is a
//! frame behind; the worker only has to have built the packet within
//! [`LEAD`] of its slot.
//!
//! What it costs, and why it keeps our rules:
//! - One frame ([`LEAD`], 20 ms) more mouth-to-ear delay on agent audio.
//! - A packet waiting here can still be taken back: on barge-in the leg
//!   replaces a waiting audio payload with silence (sequence numbers and
//!   timestamps stay continuous), so after the decision the caller hears at
//!   most the packet already on the wire. That is the one frame the call
//!   core's RTP playback tracking already assumes is not heard
//!   (`PlaybackTracking::Released { allowance_ms: 20 }`), so the
//!   truncation figure stays what actually left.
//! - The lateness and pacing-jitter metrics of SIP calls are recorded here,
//!   at the real send, against the slot.
//!
//! The ordering logic ([`Schedule`], [`CallQueue`]) is sans-IO and tested
//! on its own; the thread around it only reads the clock and sends.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::metrics::PlayoutTiming;

/// How far ahead of its slot a packet is built and handed over.
pub const LEAD: Duration = Duration::from_millis(20);

/// Packets a call may have waiting. One is normal (built [`LEAD`] ahead);
/// more means the send thread is behind, and the oldest is dropped rather
/// than letting a call's audio drift later and later.
const MAX_WAITING: usize = 3;

/// An RTP header as warmline writes it: no CSRC, no extension.
const RTP_HEADER: usize = 12;

/// One packet waiting for its slot.
#[derive(Debug)]
struct Waiting {
    due: Instant,
    packet: Vec<u8>,
    dest: SocketAddr,
    /// For an audio packet, the codec's silence byte: what a barge-in
    /// overwrites the payload with. `None` for DTMF events.
    silence: Option<u8>,
}

/// One call's waiting packets (sans-IO).
#[derive(Debug, Default)]
pub struct CallQueue {
    waiting: VecDeque<Waiting>,
    /// Buffers of packets already sent, reused for the next ones so the
    /// 20 ms path allocates nothing once a call is under way.
    spare: Vec<Vec<u8>>,
    closed: bool,
    dropped: u64,
}

impl CallQueue {
    /// Queues a copy of `packet` for `due`; false when the call is closed.
    fn push(&mut self, due: Instant, packet: &[u8], dest: SocketAddr, silence: Option<u8>) -> bool {
        if self.closed {
            return false;
        }
        if self.waiting.len() >= MAX_WAITING {
            if let Some(old) = self.waiting.pop_front() {
                self.recycle(old.packet);
            }
            self.dropped += 1;
        }
        let mut buffer = self.spare.pop().unwrap_or_default();
        buffer.clear();
        buffer.extend_from_slice(packet);
        self.waiting.push_back(Waiting {
            due,
            packet: buffer,
            dest,
            silence,
        });
        true
    }

    /// Takes back the buffer of a packet that has left.
    fn recycle(&mut self, buffer: Vec<u8>) {
        if self.spare.len() < MAX_WAITING {
            self.spare.push(buffer);
        }
    }

    /// The next packet whose slot has come by `now`.
    fn pop_due(&mut self, now: Instant) -> Option<Waiting> {
        match self.waiting.front() {
            Some(w) if w.due <= now => self.waiting.pop_front(),
            _ => None,
        }
    }

    /// Barge-in: every waiting audio payload becomes silence; returns how
    /// many packets were silenced.
    fn silence_waiting(&mut self) -> usize {
        let mut silenced = 0;
        for w in &mut self.waiting {
            if let (Some(code), Some(payload)) = (w.silence, w.packet.get_mut(RTP_HEADER..)) {
                payload.fill(code);
                silenced += 1;
            }
        }
        silenced
    }

    /// The call is over: nothing more leaves.
    fn close(&mut self) {
        self.closed = true;
        self.waiting.clear();
        self.spare.clear();
    }
}

/// Which call has a packet due when, earliest first (sans-IO). Ties keep
/// the order they were scheduled in.
#[derive(Debug)]
pub struct Schedule<T> {
    heap: BinaryHeap<Reverse<(Instant, u64, Entry<T>)>>,
    order: u64,
}

/// A heap entry that orders by its key alone.
#[derive(Debug)]
struct Entry<T>(T);

impl<T> PartialEq for Entry<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<T> Default for Schedule<T> {
    fn default() -> Self {
        Schedule {
            heap: BinaryHeap::new(),
            order: 0,
        }
    }
}

impl<T> Schedule<T> {
    /// `item` has a packet due at `due`; true when that is now the
    /// earliest deadline (the sender should wake up).
    pub fn push(&mut self, due: Instant, item: T) -> bool {
        let earliest = self.next_due().is_none_or(|next| due < next);
        self.order += 1;
        self.heap.push(Reverse((due, self.order, Entry(item))));
        earliest
    }

    /// The earliest deadline.
    pub fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((due, _, _))| *due)
    }

    /// The next item due by `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.next_due()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse((_, _, Entry(item)))| item)
    }
}

/// A call as the send thread sees it.
#[derive(Debug)]
struct CallEntry {
    socket: UdpSocket,
    state: Mutex<CallState>,
}

#[derive(Debug)]
struct CallState {
    queue: CallQueue,
    timing: PlayoutTiming,
}

#[derive(Debug, Default)]
struct Shared {
    schedule: Mutex<Schedule<Arc<CallEntry>>>,
    wake: Condvar,
    /// Whether the send thread runs; a lock, not a flag, because two media
    /// workers may register their first calls at the same moment.
    started: Mutex<bool>,
    realtime: bool,
}

/// The process's RTP send clock; cheap to clone. Its thread starts with
/// the first call and lives as long as the process.
#[derive(Clone, Debug, Default)]
pub struct SendClock {
    shared: Arc<Shared>,
}

/// Locks, carrying on with the data if a holder panicked: the queues stay
/// consistent at every step, and audio must not stop for a poisoned lock.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SendClock {
    /// A clock with no calls yet. With `realtime`, its thread asks for
    /// `SCHED_FIFO` priority [`REALTIME_PRIORITY`] when it starts.
    pub fn new(realtime: bool) -> SendClock {
        SendClock {
            shared: Arc::new(Shared {
                realtime,
                ..Shared::default()
            }),
        }
    }

    /// A call that sends from `socket` (its RTP socket, or a clone of it).
    pub fn register(&self, socket: UdpSocket) -> std::io::Result<CallSender> {
        let mut started = lock(&self.shared.started);
        if !*started {
            let shared = self.shared.clone();
            std::thread::Builder::new()
                .name("rtp-send".into())
                .spawn(move || {
                    if shared.realtime {
                        raise_priority();
                    }
                    run(&shared)
                })?;
            *started = true;
        }
        drop(started);
        Ok(CallSender {
            call: Arc::new(CallEntry {
                socket,
                state: Mutex::new(CallState {
                    queue: CallQueue::default(),
                    timing: PlayoutTiming::new(),
                }),
            }),
            shared: self.shared.clone(),
        })
    }
}

/// One call's handle on the send clock. Dropping it discards whatever the
/// call still had waiting.
#[derive(Debug)]
pub struct CallSender {
    call: Arc<CallEntry>,
    shared: Arc<Shared>,
}

impl CallSender {
    /// Sends `packet` to `dest` at `due`. `silence` is the codec's silence
    /// byte when the packet carries audio (a barge-in may blank it).
    pub fn schedule(&self, due: Instant, packet: &[u8], dest: SocketAddr, silence: Option<u8>) {
        if Instant::now() > due {
            metrics::counter!(crate::metrics::RTP_BUILT_LATE).increment(1);
        }
        let queued = lock(&self.call.state)
            .queue
            .push(due, packet, dest, silence);
        if queued && lock(&self.shared.schedule).push(due, self.call.clone()) {
            self.shared.wake.notify_one();
        }
    }

    /// Barge-in: what has not left yet goes out as silence. Returns how
    /// many packets were blanked.
    pub fn silence_waiting(&self) -> usize {
        lock(&self.call.state).queue.silence_waiting()
    }
}

impl Drop for CallSender {
    fn drop(&mut self) {
        lock(&self.call.state).queue.close();
    }
}

/// The real-time priority the send thread asks for: above every normal
/// thread, far below the kernel's own (migration, watchdog at 99). The
/// kernel's real-time throttling (`sched_rt_runtime_us`, 95 % by default)
/// still bounds it, and the thread only ever sleeps or sends.
pub const REALTIME_PRIORITY: u8 = 10;

/// Asks for `SCHED_FIFO`; logs the outcome either way.
fn raise_priority() {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, RealtimeThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };
    let result = ThreadPriority::try_from(REALTIME_PRIORITY)
        .map_err(|e| e.to_string())
        .and_then(|priority| {
            set_thread_priority_and_policy(
                thread_native_id(),
                priority,
                ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
            )
            .map_err(|e| format!("{e:?}"))
        });
    match result {
        Ok(()) => tracing::info!(
            priority = REALTIME_PRIORITY,
            "RTP send thread runs at real-time priority (SCHED_FIFO)"
        ),
        Err(error) => tracing::warn!(
            %error,
            "RTP send thread stays at normal priority (real-time needs root or CAP_SYS_NICE; \
             set sip.rtp_send_realtime = false to silence this): outbound RTP may be late \
             on a busy machine"
        ),
    }
}

/// The send thread: sleep until the earliest slot, send what is due.
fn run(shared: &Shared) {
    let mut due_now: Vec<Arc<CallEntry>> = Vec::new();
    let mut schedule = lock(&shared.schedule);
    loop {
        let now = Instant::now();
        while let Some(call) = schedule.pop_due(now) {
            due_now.push(call);
        }
        if due_now.is_empty() {
            schedule = match schedule.next_due() {
                Some(next) => {
                    shared
                        .wake
                        .wait_timeout(schedule, next.saturating_duration_since(now))
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0
                }
                None => shared
                    .wake
                    .wait(schedule)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            };
            continue;
        }
        drop(schedule);
        for call in due_now.drain(..) {
            send_due(&call, now);
        }
        schedule = lock(&shared.schedule);
    }
}

fn send_due(call: &CallEntry, now: Instant) {
    let mut state = lock(&call.state);
    while let Some(waiting) = state.queue.pop_due(now) {
        // A failed send (ICMP unreachable from an earlier packet, a full
        // socket buffer) is not the end of the call: the media timeout
        // decides that.
        if let Err(e) = call.socket.send_to(&waiting.packet, waiting.dest) {
            tracing::debug!(error = %e, dest = %waiting.dest, "RTP send failed");
        }
        let sent = Instant::now();
        state.timing.frame_sent(
            tokio::time::Instant::from_std(waiting.due),
            tokio::time::Instant::from_std(sent),
        );
        state.queue.recycle(waiting.packet);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(payload: u8) -> Vec<u8> {
        let mut packet = vec![0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        packet.extend([payload; 160]);
        packet
    }

    /// Queues an RTP packet whose payload is all `payload`.
    fn push(queue: &mut CallQueue, due: Instant, payload: u8, silence: Option<u8>) -> bool {
        let dest = "127.0.0.1:4000".parse().expect("address");
        queue.push(due, &packet(payload), dest, silence)
    }

    #[test]
    fn schedule_releases_items_in_deadline_order_and_only_when_due() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let mut schedule = Schedule::default();
        assert!(schedule.push(t + ms(8), "b"));
        assert!(schedule.push(t + ms(4), "a"));
        assert!(
            !schedule.push(t + ms(8), "c"),
            "a later deadline needs no wake-up"
        );
        assert_eq!(schedule.pop_due(t + ms(3)), None);
        assert_eq!(schedule.pop_due(t + ms(4)), Some("a"));
        assert_eq!(schedule.pop_due(t + ms(7)), None);
        assert_eq!(schedule.next_due(), Some(t + ms(8)));
        // Equal deadlines leave in the order they were scheduled.
        assert_eq!(schedule.pop_due(t + ms(9)), Some("b"));
        assert_eq!(schedule.pop_due(t + ms(9)), Some("c"));
        assert_eq!(schedule.pop_due(t + ms(100)), None);
    }

    #[test]
    fn a_packet_leaves_only_once_its_slot_has_come() {
        let t = Instant::now();
        let mut queue = CallQueue::default();
        assert!(push(&mut queue, t + LEAD, 0x11, Some(0xFF)));
        assert!(queue.pop_due(t).is_none());
        let sent = queue.pop_due(t + LEAD).expect("due");
        assert_eq!(sent.packet[RTP_HEADER], 0x11);
    }

    #[test]
    fn barge_in_blanks_waiting_audio_but_not_dtmf_events() {
        let t = Instant::now();
        let mut queue = CallQueue::default();
        push(&mut queue, t, 0x11, Some(0xFF));
        push(&mut queue, t, 0x22, None);
        assert_eq!(queue.silence_waiting(), 1);
        let audio = queue.pop_due(t).expect("audio");
        assert!(audio.packet[RTP_HEADER..].iter().all(|&b| b == 0xFF));
        assert_eq!(&audio.packet[..RTP_HEADER], &packet(0)[..RTP_HEADER]);
        let dtmf = queue.pop_due(t).expect("dtmf");
        assert!(dtmf.packet[RTP_HEADER..].iter().all(|&b| b == 0x22));
    }

    #[test]
    fn a_closed_call_sends_nothing_more() {
        let t = Instant::now();
        let mut queue = CallQueue::default();
        push(&mut queue, t, 0x11, Some(0xFF));
        queue.close();
        assert!(queue.pop_due(t + LEAD).is_none());
        assert!(!push(&mut queue, t, 0x11, Some(0xFF)));
    }

    #[test]
    fn a_backlog_beyond_the_cap_drops_the_oldest_packet() {
        let t = Instant::now();
        let mut queue = CallQueue::default();
        for i in 0..=MAX_WAITING as u8 {
            push(&mut queue, t, i, Some(0xFF));
        }
        assert_eq!(queue.dropped, 1);
        assert_eq!(queue.pop_due(t).expect("oldest kept").packet[RTP_HEADER], 1);
    }

    #[test]
    fn the_thread_sends_each_packet_at_its_slot() {
        let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind");
        receiver
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let dest = receiver.local_addr().expect("addr");
        let clock = SendClock::new(false);
        let sender = clock
            .register(UdpSocket::bind("127.0.0.1:0").expect("bind"))
            .expect("register");
        let start = Instant::now();
        let slots = [Duration::from_millis(30), Duration::from_millis(50)];
        for (i, slot) in slots.iter().enumerate() {
            sender.schedule(start + *slot, &[0x80, 0, 0, i as u8], dest, None);
        }
        let mut buf = [0u8; 64];
        for (i, slot) in slots.iter().enumerate() {
            let n = receiver.recv(&mut buf).expect("packet");
            let arrived = start.elapsed();
            assert_eq!(&buf[..n], &[0x80, 0, 0, i as u8]);
            assert!(
                arrived >= *slot,
                "packet {i} left early: {arrived:?} < {slot:?}"
            );
        }
    }
}
