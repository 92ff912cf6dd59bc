//! The call's playout clock grid: where each call's 20 ms ticks fall.

use std::time::Duration;

use tokio::time::Instant;

/// How many tick phases share the 20 ms frame period.
const TICK_PHASES: u64 = 5;

/// The start of a call's clock, on a process-wide grid of `TICK_PHASES`
/// slots per 20 ms frame (4 ms apart), with calls dealt round-robin over
/// the slots.
///
/// Why a grid: calls that tick at the same instant share one timer wake-up
/// instead of one each (measured: with per-call phases, kernel scheduling
/// was over half the CPU of a loaded server). Why more than one slot: a
/// single-threaded media worker serves every call of a slot in one burst,
/// so the last frame of the burst is late by the whole burst. With 500
/// calls on two workers and one slot, the p99 lateness was 7.5–10 ms;
/// five slots brought it to 4–5 ms for five wake-ups per frame period
/// (docs/PERFORMANCE.md). Ten slots measured no better than five.
pub fn aligned_start() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    static NEXT_PHASE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let epoch = *EPOCH.get_or_init(Instant::now);
    let phase = NEXT_PHASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % TICK_PHASES;
    let since = Instant::now().saturating_duration_since(epoch).as_micros() as u64;
    let frame = 20_000u64;
    let slot = frame / TICK_PHASES;
    epoch + Duration::from_micros(since.div_ceil(frame) * frame + phase * slot)
}
