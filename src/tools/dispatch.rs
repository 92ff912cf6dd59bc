//! The sidecar's own overhead, timed in-process: from a function call
//! arriving in the call (stamped by the call's driver) to its webhook
//! request leaving (the first attempt, just before `send`), recorded as
//! `warmline_tool_dispatch_seconds`.
//!
//! The arrival rides in a task-local of the tool call's task, so the
//! request code needs no extra argument; it is taken once, so retries are
//! not counted. Costs two clock reads and a histogram record per call.

use std::cell::Cell;
use std::future::Future;
use std::time::Instant;

tokio::task_local! {
    static ARRIVED: Cell<Option<Instant>>;
}

/// Runs `task` with the function call's arrival time in reach of
/// [`request_leaving`].
pub async fn with_arrival<F: Future>(arrived: Instant, task: F) -> F::Output {
    ARRIVED.scope(Cell::new(Some(arrived)), task).await
}

/// A webhook request is about to leave: records the dispatch time, once
/// per tool call (nothing outside a tool call's task).
pub fn request_leaving() {
    let arrived = ARRIVED.try_with(Cell::take).ok().flatten();
    if let Some(arrived) = arrived {
        metrics::histogram!(crate::metrics::TOOL_DISPATCH).record(arrived.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_arrival_is_taken_once_and_only_inside_the_task() {
        request_leaving(); // outside: a no-op, no panic
        let left = with_arrival(Instant::now(), async {
            request_leaving();
            ARRIVED.with(Cell::get)
        })
        .await;
        assert_eq!(left, None, "a retry must not be counted again");
    }
}
