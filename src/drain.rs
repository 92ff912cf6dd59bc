//! Graceful drain: what the process does between the first SIGTERM and
//! its exit, and the one handle every ingress and call shares to take
//! part in it.
//!
//! [`Drain`] owns two things and nothing else: the drain [`DrainPhase`]
//! (a `watch` channel every call driver listens to) and the count of live
//! calls (a [`CallGuard`] per call, counted from the moment an ingress
//! accepts it: the SIP INVITE, the Twilio webhook). What a call *is*
//! lives in the live-call registry (`call::registry`); the drain needs
//! only this much: knowing when no call is left, and telling every call
//! to wind down, even one the registry has not listed yet.
//!
//! The phases only move forward:
//! 1. [`Serving`](DrainPhase::Serving): normal operation.
//! 2. [`Draining`](DrainPhase::Draining) (first signal): `/readyz` 503,
//!    new SIP INVITEs and OPTIONS 503, `POST /twilio/voice` 503; calls in
//!    progress go on, streams whose webhook was answered still connect.
//! 3. [`EndPolitely`](DrainPhase::EndPolitely) (the grace ran out): each
//!    call plays the closing prompt, then hangs up (BYE, stream close).
//! 4. [`EndNow`](DrainPhase::EndNow) (a second signal, or the polite end
//!    took too long): each call hangs up at once, BYEs still sent.
//!
//! [`run`] is the sequence; the process exits as soon as no call is left,
//! in whichever phase (after waiting, bounded, for queued call events:
//! `tools::events::FLUSH_LIMIT`). Decision record 0012 says why the grace defaults to
//! 300 s and what a second signal does.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// How long the closing prompts get, after the grace, before calls are
/// ended at once: the prompt (2.3 s) plus a Twilio mark round trip, with
/// room for a loaded server.
pub const POLITE_END_LIMIT: Duration = Duration::from_secs(10);
/// How long hung-up calls get to finish their signalling (the BYE's 200)
/// before the process exits anyway. The BYE and its first retransmissions
/// have left by then; waiting out SIP's 32 s transaction timeout for a peer
/// that never answers would hold a deploy for nothing.
pub const END_NOW_LIMIT: Duration = Duration::from_secs(5);

/// Where the process is in its shutdown. Ordered: later phases compare
/// greater.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DrainPhase {
    /// Taking new calls.
    Serving,
    /// Refusing new calls; calls in progress go on.
    Draining,
    /// Every call plays the closing prompt, then hangs up.
    EndPolitely,
    /// Every call hangs up now (no prompt).
    EndNow,
}

/// The process's drain state and live-call count. Cheap to clone; every
/// clone is the same drain.
#[derive(Clone)]
pub struct Drain {
    inner: Arc<Inner>,
}

struct Inner {
    phase: watch::Sender<DrainPhase>,
    calls: watch::Sender<usize>,
    closing_prompt: Option<Arc<Vec<i16>>>,
}

impl std::fmt::Debug for Drain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drain")
            .field("phase", &self.phase())
            .field("calls", &self.active_calls())
            .finish()
    }
}

impl Default for Drain {
    fn default() -> Self {
        Drain::new(None)
    }
}

impl Drain {
    /// A serving process with no calls; `closing_prompt` (8 kHz PCM) is
    /// what each call plays when the grace runs out (none: it just hangs
    /// up).
    pub fn new(closing_prompt: Option<Arc<Vec<i16>>>) -> Drain {
        Drain {
            inner: Arc::new(Inner {
                phase: watch::Sender::new(DrainPhase::Serving),
                calls: watch::Sender::new(0),
                closing_prompt,
            }),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> DrainPhase {
        *self.inner.phase.borrow()
    }

    /// Whether new calls are refused.
    pub fn is_draining(&self) -> bool {
        self.phase() >= DrainPhase::Draining
    }

    /// Moves to `to` if that is later than the current phase; returns
    /// whether it moved.
    pub fn advance(&self, to: DrainPhase) -> bool {
        self.inner.phase.send_if_modified(|phase| {
            let later = to > *phase;
            if later {
                *phase = to;
            }
            later
        })
    }

    /// Follows the phase. The receiver has already seen the current phase:
    /// check [`DrainPhase`] through `borrow()` once before waiting on
    /// `changed()` (which is cancel safe: dropping it loses nothing).
    pub fn watch(&self) -> watch::Receiver<DrainPhase> {
        self.inner.phase.subscribe()
    }

    /// What a call plays before a polite end.
    pub fn closing_prompt(&self) -> Option<&Arc<Vec<i16>>> {
        self.inner.closing_prompt.as_ref()
    }

    /// Counts a call until the guard drops. Take it where the ingress
    /// accepts the call, before answering, so that no window exists where
    /// an accepted call is not counted.
    pub fn call_started(&self) -> CallGuard {
        self.inner.calls.send_modify(|n| *n += 1);
        CallGuard {
            drain: self.clone(),
        }
    }

    /// Calls counted now.
    pub fn active_calls(&self) -> usize {
        *self.inner.calls.borrow()
    }

    /// Completes when no call is counted (at once if none is).
    pub async fn calls_ended(&self) {
        let mut calls = self.inner.calls.subscribe();
        // The sender lives in `self`: `wait_for` cannot fail here.
        let _ = calls.wait_for(|n| *n == 0).await;
    }
}

/// Keeps one call counted; dropping it uncounts the call.
#[must_use = "the call is uncounted as soon as the guard drops"]
pub struct CallGuard {
    drain: Drain,
}

impl std::fmt::Debug for CallGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallGuard")
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.drain
            .inner
            .calls
            .send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// How a drain finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrainOutcome {
    /// Every call ended in this phase: by itself while
    /// [`Draining`](DrainPhase::Draining), after its closing prompt in
    /// [`EndPolitely`](DrainPhase::EndPolitely), or hung up at once in
    /// [`EndNow`](DrainPhase::EndNow).
    AllEnded(DrainPhase),
    /// Calls were still counted [`END_NOW_LIMIT`] after they were told to
    /// end now; the process stops anyway.
    GaveUp {
        /// How many.
        calls: usize,
    },
}

/// Runs the drain after the first signal: refuse new calls, let calls go
/// on for up to `grace`, then end each one politely (at most
/// [`POLITE_END_LIMIT`]), then at once. `second_signal` completing ends
/// every call at once whatever the phase. Returns as soon as no call is
/// left.
pub async fn run(
    drain: &Drain,
    grace: Duration,
    second_signal: impl Future<Output = ()>,
) -> DrainOutcome {
    drain.advance(DrainPhase::Draining);
    let mut second = std::pin::pin!(second_signal);
    let calls = drain.active_calls();
    if calls > 0 {
        tracing::info!(
            calls,
            grace_secs = grace.as_secs(),
            "draining: new calls are refused; calls in progress get the grace period \
             (a second SIGTERM or SIGINT ends them now)"
        );
    }
    tokio::select! {
        () = drain.calls_ended() => return DrainOutcome::AllEnded(DrainPhase::Draining),
        () = tokio::time::sleep(grace) => {}
        () = &mut second => return end_now(drain, "second signal").await,
    }
    drain.advance(DrainPhase::EndPolitely);
    tracing::info!(
        calls = drain.active_calls(),
        "grace period over: each call hears the closing prompt, then is hung up"
    );
    tokio::select! {
        () = drain.calls_ended() => DrainOutcome::AllEnded(DrainPhase::EndPolitely),
        () = tokio::time::sleep(POLITE_END_LIMIT) => end_now(drain, "closing prompts took too long").await,
        () = &mut second => end_now(drain, "second signal").await,
    }
}

async fn end_now(drain: &Drain, why: &'static str) -> DrainOutcome {
    drain.advance(DrainPhase::EndNow);
    tracing::info!(calls = drain.active_calls(), why, "ending every call now");
    match tokio::time::timeout(END_NOW_LIMIT, drain.calls_ended()).await {
        Ok(()) => DrainOutcome::AllEnded(DrainPhase::EndNow),
        Err(_) => DrainOutcome::GaveUp {
            calls: drain.active_calls(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// A call that ends itself when told to end politely (after `prompt`)
    /// or now.
    fn obedient_call(drain: &Drain, prompt: Duration) {
        let guard = drain.call_started();
        let mut phase = drain.watch();
        tokio::spawn(async move {
            let _guard = guard;
            let _ = phase.wait_for(|p| *p >= DrainPhase::EndPolitely).await;
            if *phase.borrow() == DrainPhase::EndPolitely {
                tokio::select! {
                    () = tokio::time::sleep(prompt) => {}
                    _ = phase.wait_for(|p| *p == DrainPhase::EndNow) => {}
                }
            }
        });
    }

    #[test]
    fn phases_only_move_forward() {
        let drain = Drain::default();
        assert!(!drain.is_draining());
        assert!(drain.advance(DrainPhase::EndPolitely));
        assert!(!drain.advance(DrainPhase::Draining));
        assert_eq!(drain.phase(), DrainPhase::EndPolitely);
        assert!(drain.is_draining());
        assert!(drain.advance(DrainPhase::EndNow));
        assert!(!drain.advance(DrainPhase::EndNow));
    }

    #[test]
    fn a_guard_counts_its_call_until_dropped() {
        let drain = Drain::default();
        let a = drain.call_started();
        let b = drain.clone().call_started();
        assert_eq!(drain.active_calls(), 2);
        drop(a);
        assert_eq!(drain.active_calls(), 1);
        drop(b);
        assert_eq!(drain.active_calls(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn with_no_call_the_drain_ends_at_once() {
        let drain = Drain::default();
        let started = Instant::now();
        let outcome = run(&drain, Duration::from_secs(300), std::future::pending()).await;
        assert_eq!(outcome, DrainOutcome::AllEnded(DrainPhase::Draining));
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(drain.phase(), DrainPhase::Draining);
    }

    #[tokio::test(start_paused = true)]
    async fn the_drain_ends_when_the_last_call_does_without_waiting_out_the_grace() {
        let drain = Drain::default();
        let guard = drain.call_started();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(42)).await;
            drop(guard);
        });
        let started = Instant::now();
        let outcome = run(&drain, Duration::from_secs(300), std::future::pending()).await;
        assert_eq!(outcome, DrainOutcome::AllEnded(DrainPhase::Draining));
        assert_eq!(started.elapsed(), Duration::from_secs(42));
    }

    #[tokio::test(start_paused = true)]
    async fn calls_left_at_the_end_of_the_grace_end_politely() {
        let drain = Drain::default();
        for _ in 0..3 {
            obedient_call(&drain, Duration::from_millis(2_300));
        }
        let started = Instant::now();
        let outcome = run(&drain, Duration::from_secs(3), std::future::pending()).await;
        assert_eq!(outcome, DrainOutcome::AllEnded(DrainPhase::EndPolitely));
        assert_eq!(started.elapsed(), Duration::from_millis(5_300));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_outlasts_the_polite_end_is_told_to_end_now() {
        let drain = Drain::default();
        obedient_call(&drain, Duration::from_secs(3_600));
        let started = Instant::now();
        let outcome = run(&drain, Duration::from_secs(3), std::future::pending()).await;
        assert_eq!(outcome, DrainOutcome::AllEnded(DrainPhase::EndNow));
        assert_eq!(started.elapsed(), Duration::from_secs(3) + POLITE_END_LIMIT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_signal_during_the_grace_ends_calls_now() {
        let drain = Drain::default();
        obedient_call(&drain, Duration::from_secs(2));
        let second = tokio::time::sleep(Duration::from_secs(7));
        let started = Instant::now();
        let outcome = run(&drain, Duration::from_secs(300), second).await;
        assert_eq!(outcome, DrainOutcome::AllEnded(DrainPhase::EndNow));
        assert_eq!(started.elapsed(), Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_never_ends_is_given_up_on() {
        let drain = Drain::default();
        let _stuck = drain.call_started();
        let started = Instant::now();
        let outcome = run(&drain, Duration::from_secs(1), std::future::pending()).await;
        assert_eq!(outcome, DrainOutcome::GaveUp { calls: 1 });
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(1) + POLITE_END_LIMIT + END_NOW_LIMIT
        );
    }
}
