//! [`StoreSink`]: records reach the database off the audio path, and none
//! is lost.
//!
//! A call's `call.ended` becomes a [`StoredCall`] on the call's own thread
//! and goes into a bounded queue ([`QUEUE_CAPACITY`]) with `try_send`: the
//! media worker never waits. A supervisor's action (an [`AuditEntry`],
//! decision 0038) takes the same queue from its request handler, which
//! never waits either. One writer thread (`store-writer`, its own
//! current-thread runtime) takes up to [`BATCH`] records at a time and
//! writes them in one transaction. When the database is down the batch
//! goes to the spool, fsync'd, and the writer retries the database with
//! backoff, replaying the spool once it answers. When the queue is full
//! (the writer is stuck on a slow database) the call's thread appends the
//! record to the spool itself, one buffered write without fsync (the
//! writer syncs it on its next turn). Writes are idempotent, so a record
//! written and then replayed is stored once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::record::{Outcome, Record, StoredCall};
use super::spool::Spool;
use super::{Store, StoreError};
use crate::audit::{AuditEntry, AuditSink};
use crate::call::events::{CallEnded, CallEvents};
use crate::call::tools::CallIdentity;
use crate::config::store::{StoreConfig, StoreTarget};

/// Records waiting for the writer. At 2–20 KiB each, tens of MiB at most.
pub const QUEUE_CAPACITY: usize = 1_024;
/// Records per transaction.
pub const BATCH: usize = 64;
/// How long a batch waits to fill once its first record is in.
const BATCH_WAIT: Duration = Duration::from_millis(20);
/// First wait before trying a database that was down; doubles.
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// Longest wait between tries.
const MAX_RETRY: Duration = Duration::from_secs(5);
/// How long a shutdown waits for the queue to be stored or spooled.
pub const FLUSH_LIMIT: Duration = Duration::from_secs(10);

/// `warmline_store_queue_depth`: records waiting for the writer.
pub const QUEUE_DEPTH: &str = "warmline_store_queue_depth";
/// `warmline_store_spool_records`: records in the spool file.
pub const SPOOL_RECORDS: &str = "warmline_store_spool_records";
/// `warmline_store_calls_total{outcome}`: ended calls handed to the store.
pub const CALLS_BY_OUTCOME: &str = "warmline_store_calls_total";
/// `warmline_store_agent_calls_total{agent}`: the same, by agent.
pub const CALLS_BY_AGENT: &str = "warmline_store_agent_calls_total";
/// `warmline_store_writes_total{result}`: batches stored or spooled.
pub const WRITES: &str = "warmline_store_writes_total";
/// `warmline_store_up`: 1 while the database answers.
pub const UP: &str = "warmline_store_up";

/// Describes the store's series and creates them at zero.
pub fn register_metrics<'a>(agents: impl Iterator<Item = &'a str>) {
    metrics::describe_gauge!(QUEUE_DEPTH, "Call records waiting for the store writer");
    metrics::describe_gauge!(
        SPOOL_RECORDS,
        "Call records in the spool, waiting for the database"
    );
    metrics::describe_counter!(CALLS_BY_OUTCOME, "Ended calls recorded, by outcome");
    metrics::describe_counter!(CALLS_BY_AGENT, "Ended calls recorded, by agent");
    metrics::describe_counter!(WRITES, "Store batches written to the database or the spool");
    metrics::describe_gauge!(UP, "1 while the records database answers");
    metrics::gauge!(QUEUE_DEPTH).set(0.0);
    for outcome in Outcome::ALL {
        metrics::counter!(CALLS_BY_OUTCOME, "outcome" => outcome.as_str()).absolute(0);
    }
    for agent in agents {
        metrics::counter!(CALLS_BY_AGENT, "agent" => agent.to_owned()).absolute(0);
    }
    for result in ["stored", "spooled", "replayed", "rejected"] {
        metrics::counter!(WRITES, "result" => result).absolute(0);
    }
    metrics::gauge!(UP).set(0.0);
}

/// What the sink and its writer share.
#[derive(Debug)]
struct Shared {
    depth: AtomicUsize,
    /// Set when the writer has nothing in hand (queue empty, batch done).
    idle: AtomicBool,
    closing: AtomicBool,
    spool: Spool,
    /// The database, once the writer opened it (the history API reads
    /// through its own pool on the main runtime: see [`History`]).
    ready: OnceLock<()>,
}

/// The process's record sink (a [`CallEvents`]). Cheap to share.
#[derive(Debug)]
pub struct StoreSink {
    queue: SyncSender<Record>,
    shared: Arc<Shared>,
    done: std::sync::Mutex<Option<mpsc::Receiver<()>>>,
}

/// What the history API reads from: the same database, through a pool
/// opened on the caller's runtime once the writer has migrated it.
#[derive(Clone, Debug)]
pub struct History {
    target: StoreTarget,
    shared: Arc<Shared>,
    store: Arc<tokio::sync::OnceCell<Store>>,
}

impl History {
    /// The store, or an error while the database is not (yet) reachable.
    pub async fn store(&self) -> Result<&Store, StoreError> {
        if self.shared.ready.get().is_none() {
            return Err(StoreError::Unavailable(
                "the store is starting or the database has not answered yet".into(),
            ));
        }
        self.store
            .get_or_try_init(|| Store::connect(&self.target))
            .await
    }

    /// Records waiting in the spool.
    pub fn spooled(&self) -> u64 {
        self.shared.spool.records()
    }
}

impl StoreSink {
    /// Starts the writer thread for `[store]` (the database from `env`).
    pub fn start(
        config: &StoreConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Arc<StoreSink>, History), StoreError> {
        // The spool must be writable whatever the database: a directory
        // that is not stops start-up here, with its name, rather than
        // losing records later.
        std::fs::create_dir_all(&config.data_dir)
            .and_then(|()| {
                let probe = config.data_dir.join(".warmline-write-check");
                std::fs::write(&probe, b"ok")?;
                std::fs::remove_file(probe)
            })
            .map_err(|source| StoreError::DataDir {
                path: config.data_dir.clone(),
                source,
            })?;
        let target = config.target(env);
        StoreSink::start_with(target, config.spool_path())
    }

    /// Starts the writer for `target`, spooling to `spool`.
    pub fn start_with(
        target: StoreTarget,
        spool: std::path::PathBuf,
    ) -> Result<(Arc<StoreSink>, History), StoreError> {
        let (queue, rx) = mpsc::sync_channel(QUEUE_CAPACITY);
        let shared = Arc::new(Shared {
            depth: AtomicUsize::new(0),
            idle: AtomicBool::new(true),
            closing: AtomicBool::new(false),
            spool: Spool::open(spool),
            ready: OnceLock::new(),
        });
        let (done_tx, done_rx) = mpsc::channel();
        let writer = Writer {
            rx,
            shared: shared.clone(),
            target: target.clone(),
            store: None,
            retry: FIRST_RETRY,
            next_try: Instant::now(),
        };
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                writer.run();
                let _ = done_tx.send(());
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        let history = History {
            target,
            shared: shared.clone(),
            store: Arc::new(tokio::sync::OnceCell::new()),
        };
        Ok((
            Arc::new(StoreSink {
                queue,
                shared,
                done: std::sync::Mutex::new(Some(done_rx)),
            }),
            history,
        ))
    }

    /// Records queued or in the writer's hands.
    pub fn pending(&self) -> usize {
        self.shared.depth.load(Ordering::Relaxed)
            + usize::from(!self.shared.idle.load(Ordering::Relaxed))
    }

    /// Records in the spool.
    pub fn spooled(&self) -> u64 {
        self.shared.spool.records()
    }

    /// Whether the writer has opened the database.
    pub fn is_ready(&self) -> bool {
        self.shared.ready.get().is_some()
    }

    /// Hands a call's record over without waiting; spools it when the
    /// queue is full. Never drops it.
    pub fn submit(&self, call: StoredCall) {
        self.submit_record(call.into());
    }

    /// Hands a record over without waiting; spools it when the queue is
    /// full. Never drops it.
    pub fn submit_record(&self, record: Record) {
        self.shared.depth.fetch_add(1, Ordering::Relaxed);
        let record = match self.queue.try_send(record) {
            Ok(()) => {
                metrics::gauge!(QUEUE_DEPTH).set(self.shared.depth.load(Ordering::Relaxed) as f64);
                return;
            }
            Err(TrySendError::Full(record) | TrySendError::Disconnected(record)) => record,
        };
        self.shared.depth.fetch_sub(1, Ordering::Relaxed);
        if let Err(e) = self
            .shared
            .spool
            .append(std::slice::from_ref(&record), false)
        {
            // Nowhere left to put it: say so loudly with the record's id
            // (the events webhook may still carry a call's).
            tracing::error!(record = %record.id(), error = %e, "record lost: queue full and spool unwritable");
            return;
        }
        metrics::counter!(WRITES, "result" => "spooled").increment(1);
    }

    /// Stops the writer after it has stored or spooled everything queued,
    /// waiting at most `limit`. Returns whether it finished.
    pub fn close(&self, limit: Duration) -> bool {
        self.shared.closing.store(true, Ordering::Relaxed);
        let done = self.done.lock().unwrap_or_else(|p| p.into_inner()).take();
        match done {
            Some(done) => done.recv_timeout(limit).is_ok(),
            None => true,
        }
    }

    /// Waits (polling, off any runtime thread) until nothing is queued or
    /// in hand, at most `limit`.
    pub fn wait_idle(&self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while self.pending() > 0 {
            if Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

impl CallEvents for StoreSink {
    fn call_started(&self, _call: &CallIdentity) {}

    fn call_ended(&self, ended: CallEnded) {
        let call = StoredCall::from_ended(ended);
        metrics::counter!(CALLS_BY_OUTCOME, "outcome" => call.outcome.as_str()).increment(1);
        if let Some(agent) = &call.agent {
            metrics::counter!(CALLS_BY_AGENT, "agent" => agent.clone()).increment(1);
        }
        self.submit(call);
    }
}

impl AuditSink for StoreSink {
    fn record(&self, entry: AuditEntry) {
        self.submit_record(entry.into());
    }
}

/// The writer thread's state.
struct Writer {
    rx: mpsc::Receiver<Record>,
    shared: Arc<Shared>,
    target: StoreTarget,
    store: Option<Store>,
    retry: Duration,
    next_try: Instant,
}

impl Writer {
    fn run(mut self) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "the store writer cannot start a runtime: records go to the spool");
                return self.spool_forever();
            }
        };
        runtime.block_on(self.serve());
    }

    /// No runtime: everything goes to the spool (never lost).
    fn spool_forever(self) {
        while let Ok(record) = self.rx.recv() {
            self.shared.depth.fetch_sub(1, Ordering::Relaxed);
            let _ = self.shared.spool.append(&[record], true);
        }
    }

    async fn serve(&mut self) {
        loop {
            let closing = self.shared.closing.load(Ordering::Relaxed);
            self.connect_if_due().await;
            if self.store.is_some() && !self.shared.spool.is_empty() {
                self.replay().await;
            }
            if let Err(e) = self.shared.spool.sync() {
                tracing::error!(error = %e, "cannot sync the store's spool");
            }
            let batch = self.next_batch(if closing {
                Duration::ZERO
            } else {
                Duration::from_millis(500)
            });
            if batch.is_empty() {
                self.shared.idle.store(true, Ordering::Relaxed);
                if closing {
                    break;
                }
                continue;
            }
            self.write(batch).await;
            self.shared.idle.store(true, Ordering::Relaxed);
        }
        let _ = self.shared.spool.sync();
        if let Some(store) = self.store.take() {
            store.close().await;
        }
    }

    /// Up to [`BATCH`] records: waits `wait` for the first, then
    /// [`BATCH_WAIT`] for the batch to fill.
    fn next_batch(&mut self, wait: Duration) -> Vec<Record> {
        let first = match self.rx.recv_timeout(wait) {
            Ok(call) => call,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return Vec::new(),
        };
        self.shared.idle.store(false, Ordering::Relaxed);
        let mut batch = vec![first];
        let until = Instant::now() + BATCH_WAIT;
        while batch.len() < BATCH {
            match self.rx.try_recv() {
                Ok(call) => batch.push(call),
                Err(_)
                    if Instant::now() < until && !self.shared.closing.load(Ordering::Relaxed) =>
                {
                    match self
                        .rx
                        .recv_timeout(until.saturating_duration_since(Instant::now()))
                    {
                        Ok(call) => batch.push(call),
                        Err(_) => break,
                    }
                }
                Err(_) => break,
            }
        }
        self.shared.depth.fetch_sub(batch.len(), Ordering::Relaxed);
        metrics::gauge!(QUEUE_DEPTH).set(self.shared.depth.load(Ordering::Relaxed) as f64);
        batch
    }

    async fn connect_if_due(&mut self) {
        if self.store.is_some() || Instant::now() < self.next_try {
            return;
        }
        match Store::open(&self.target).await {
            Ok(store) => {
                tracing::info!(database = ?self.target, "the records database is open");
                let _ = self.shared.ready.set(());
                metrics::gauge!(UP).set(1.0);
                self.store = Some(store);
                self.retry = FIRST_RETRY;
            }
            Err(e) => self.down(&e),
        }
    }

    /// The database failed: spool until it is tried again.
    fn down(&mut self, e: &StoreError) {
        if self.retry == FIRST_RETRY || self.store.is_some() {
            tracing::warn!(error = %e, "the records database is down: records go to the spool");
        }
        metrics::gauge!(UP).set(0.0);
        self.store = None;
        self.next_try = Instant::now() + self.retry;
        self.retry = (self.retry * 2).min(MAX_RETRY);
    }

    async fn write(&mut self, batch: Vec<Record>) {
        if !self.shared.spool.is_empty() || self.store.is_none() {
            // Keep the order: while anything is spooled, new records
            // join it and are replayed after it.
            return self.spool(&batch);
        }
        let Some(store) = &self.store else {
            return self.spool(&batch);
        };
        match store.write_records(&batch).await {
            Ok(()) => {
                metrics::counter!(WRITES, "result" => "stored").increment(1);
            }
            Err(e) if e.is_transient() => {
                self.down(&e);
                self.spool(&batch);
            }
            Err(e) => {
                tracing::warn!(error = %e, "a batch of records was refused: storing one by one");
                self.write_each(batch).await;
            }
        }
    }

    /// A batch the database refused as a whole: each record alone, so
    /// one bad record does not hold back the others; a record refused on
    /// its own stays in the spool (kept, logged) rather than lost.
    async fn write_each(&mut self, batch: Vec<Record>) {
        for record in batch {
            let Some(store) = &self.store else {
                self.spool(std::slice::from_ref(&record));
                continue;
            };
            match store.write_records(std::slice::from_ref(&record)).await {
                Ok(()) => metrics::counter!(WRITES, "result" => "stored").increment(1),
                Err(e) if e.is_transient() => {
                    self.down(&e);
                    self.spool(std::slice::from_ref(&record));
                }
                Err(e) => {
                    tracing::error!(record = %record.id(), error = %e, "the database refused a record: kept in rejected.jsonl");
                    metrics::counter!(WRITES, "result" => "rejected").increment(1);
                    if let Err(e) = self.shared.spool.reject(&record) {
                        tracing::error!(record = %record.id(), error = %e, "record lost: cannot keep it in rejected.jsonl");
                    }
                }
            }
        }
    }

    fn spool(&self, batch: &[Record]) {
        match self.shared.spool.append(batch, true) {
            Ok(()) => metrics::counter!(WRITES, "result" => "spooled").increment(1),
            Err(e) => {
                tracing::error!(error = %e, records = batch.len(), "call records lost: the spool is unwritable")
            }
        }
    }

    /// Writes the spool to the database, oldest first, in batches.
    async fn replay(&mut self) {
        loop {
            let path = match self.shared.spool.take_for_replay() {
                Ok(Some(path)) => path,
                Ok(None) => return,
                Err(e) => {
                    tracing::error!(error = %e, "cannot replay the store's spool");
                    return;
                }
            };
            let records = match self.shared.spool.read(&path) {
                Ok(records) => records,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the store's spool");
                    return;
                }
            };
            let lines = records.len() as u64;
            for chunk in records.chunks(BATCH) {
                let Some(store) = &self.store else { return };
                match store.write_records(chunk).await {
                    Ok(()) => {}
                    Err(e) if e.is_transient() => {
                        // Down again: the replay file stays and is taken
                        // up first next time (what was stored is skipped).
                        self.down(&e);
                        return;
                    }
                    Err(_) => self.write_each(chunk.to_vec()).await,
                }
            }
            if let Err(e) = self.shared.spool.replayed(&path, lines) {
                tracing::error!(error = %e, "cannot remove the replayed spool");
                return;
            }
            metrics::counter!(WRITES, "result" => "replayed").increment(1);
            tracing::info!(records = lines, "spooled call records stored");
        }
    }
}
