//! Media worker threads: where calls run.
//!
//! A call's state machine owns its caller VAD, whose libfvad handle is not
//! `Send`, and a call's work is a tight 20 ms loop that gains nothing from
//! hopping threads. So each call runs as a local task on one worker thread
//! (a current-thread tokio runtime with a `LocalSet`), the thread-per-core
//! shape of media servers. Sockets and channels, which are `Send`, are
//! handed to the call's task through the job that starts it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

/// A job: builds the call's future on the worker thread.
pub type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// Errors from the worker pool.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A worker thread could not start.
    #[error("cannot start media worker {index}: {source}")]
    Start {
        /// Which worker.
        index: usize,
        /// Why.
        source: std::io::Error,
    },
    /// Every worker's queue is full or gone: refuse the call.
    #[error("media workers are not accepting calls")]
    Unavailable,
}

/// Handle to the worker threads; cheap to clone.
#[derive(Clone, Debug)]
pub struct MediaWorkers {
    queues: Arc<Vec<mpsc::Sender<Job>>>,
    next: Arc<AtomicUsize>,
}

/// Calls waiting to start per worker before new ones are refused.
const QUEUE: usize = 1_024;

impl MediaWorkers {
    /// Starts `count` worker threads (at least one).
    pub fn start(count: usize) -> Result<MediaWorkers, WorkerError> {
        let mut queues = Vec::new();
        for index in 0..count.max(1) {
            let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|source| WorkerError::Start { index, source })?;
            std::thread::Builder::new()
                .name(format!("media-{index}"))
                .spawn(move || {
                    let local = tokio::task::LocalSet::new();
                    local.block_on(&runtime, async move {
                        while let Some(job) = rx.recv().await {
                            tokio::task::spawn_local(job());
                        }
                    });
                })
                .map_err(|source| WorkerError::Start { index, source })?;
            queues.push(tx);
        }
        Ok(MediaWorkers {
            queues: Arc::new(queues),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Runs `job` on the next worker (round robin).
    pub fn spawn(&self, job: Job) -> Result<(), WorkerError> {
        let n = self.queues.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let mut job = job;
        for i in 0..n {
            match self.queues[(first + i) % n].try_send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::TrySendError::Full(j))
                | Err(mpsc::error::TrySendError::Closed(j)) => job = j,
            }
        }
        Err(WorkerError::Unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_on_worker_threads_and_may_hold_non_send_state() {
        let workers = MediaWorkers::start(2).expect("threads");
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..4 {
            let tx = tx.clone();
            workers
                .spawn(Box::new(move || {
                    Box::pin(async move {
                        // Rc is not Send: fine on a LocalSet.
                        let local = std::rc::Rc::new(i);
                        tokio::task::yield_now().await;
                        let name = std::thread::current().name().unwrap_or("").to_owned();
                        let _ = tx.send((*local, name));
                    })
                }))
                .expect("accepted");
        }
        let mut got: Vec<(i32, String)> = (0..4)
            .map(|_| {
                rx.recv_timeout(std::time::Duration::from_secs(5))
                    .expect("ran")
            })
            .collect();
        got.sort();
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        assert!(got.iter().all(|g| g.1.starts_with("media-")));
    }
}
