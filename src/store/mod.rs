//! The call records (issue 16, decision 0025): every ended call, its
//! transcript, tool calls, escalations, callbacks, survey answer and the
//! versions it ran, and the audit log of supervisor actions ([`audit`],
//! decision 0038), in SQLite (the embedded default, a file under
//! `[store] data_dir`) or PostgreSQL (`DATABASE_URL`).
//!
//! - [`Store`]: the database: migrations at open, idempotent batched
//!   writes ([`Store::write`]), and the reads of the history API.
//! - [`analytics`]: the figures of the supervisor's desk (issue 17),
//!   aggregated by the database over a time window.
//! - [`writer`]: how records get there without touching the audio path:
//!   [`writer::StoreSink`] is a [`CallEvents`](crate::call::events::CallEvents)
//!   that hands each `call.ended` to a writer thread through a bounded
//!   queue, and spools to a local file ([`spool`]) whatever the database
//!   cannot take, to replay it later.
//!
//! Never on a media worker: the worker only converts the record and
//! `try_send`s it. Nothing is dropped: a full queue or a database that is
//! down sends records to the spool; every write is
//! `INSERT … ON CONFLICT DO NOTHING` on a natural key, so a replay never
//! duplicates.

use std::borrow::Cow;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row};

use crate::config::store::StoreTarget;

pub mod analytics;
pub mod audit;
pub mod inbox;
pub mod read;
pub mod record;
pub mod spool;
mod write;
pub mod writer;

pub use inbox::{InboxCallback, PastEscalation};
pub use read::{CallDetail, CallbackItem, HistoryItem};
pub use record::{Outcome, Record, StoredCall};

/// What went wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory cannot be made or written.
    #[error("cannot use the store's data directory {path}: {source} (set [store] data_dir to a writable directory)")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The database cannot be reached or refused us.
    #[error("the database is unavailable: {0} (records go to the spool until it returns)")]
    Unavailable(String),
    /// A migration failed: the schema is not what this release expects.
    #[error("database migration failed: {0} (is the database another program's, or from a newer warmline?)")]
    Migrate(String),
    /// A query failed for another reason.
    #[error("database query failed: {0}")]
    Query(String),
    /// The spool file cannot be written or read.
    #[error("the store's spool {path} failed: {source}")]
    Spool {
        /// The spool file.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether retrying later may succeed (the database was down), as
    /// opposed to a record the database will never take.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => StoreError::Unavailable(e.to_string()),
            sqlx::Error::Database(db) => {
                // PostgreSQL shutting down or restarting (class 57, 08):
                // the record is fine, the server is not.
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                if code.starts_with("57") || code.starts_with("08") || code == "5" {
                    // SQLite 5 is SQLITE_BUSY: another writer holds the file.
                    StoreError::Unavailable(db.to_string())
                } else {
                    StoreError::Query(db.to_string())
                }
            }
            other => StoreError::Query(other.to_string()),
        }
    }
}

/// The schema, embedded: the same migrations for SQLite and PostgreSQL,
/// except the backfill of migration 2 (`kind` picks it), which reads JSON
/// and subtracts times, two things the databases spell differently.
fn migrator(kind: &str) -> Migrator {
    let backfill = if kind == "postgres" {
        include_str!("migrations/0002_backfill_postgres.sql")
    } else {
        include_str!("migrations/0002_backfill_sqlite.sql")
    };
    let migrations = vec![
        Migration::new(
            1,
            Cow::Borrowed("records"),
            MigrationType::Simple,
            Cow::Borrowed(include_str!("migrations/0001_records.sql")),
            false,
        ),
        Migration::new(
            2,
            Cow::Borrowed("analytics"),
            MigrationType::Simple,
            Cow::Owned(format!(
                "{}\n{backfill}",
                include_str!("migrations/0002_analytics.sql")
            )),
            false,
        ),
        Migration::new(
            3,
            Cow::Borrowed("audit log"),
            MigrationType::Simple,
            Cow::Borrowed(include_str!("migrations/0003_audit_log.sql")),
            false,
        ),
        Migration::new(
            4,
            Cow::Borrowed("callback done"),
            MigrationType::Simple,
            Cow::Borrowed(include_str!("migrations/0004_callback_done.sql")),
            false,
        ),
    ];
    Migrator {
        migrations: Cow::Owned(migrations),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    }
}

/// How long a query may wait for a connection before the database counts
/// as down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The records database. Cheap to clone (a pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    kind: &'static str,
}

impl Store {
    /// Opens (creating if needed) the database and runs the migrations.
    pub async fn open(target: &StoreTarget) -> Result<Store, StoreError> {
        let store = Store::connect(target).await?;
        migrator(store.kind)
            .run(&store.pool)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(e) => StoreError::from(e),
                other => StoreError::Migrate(other.to_string()),
            })?;
        Ok(store)
    }

    /// Opens the database with the schema only up to `version` (tests of
    /// a later migration's backfill start from an older schema).
    #[doc(hidden)]
    pub async fn open_at_version(target: &StoreTarget, version: i64) -> Result<Store, StoreError> {
        let store = Store::connect(target).await?;
        let mut migrator = migrator(store.kind);
        migrator.migrations = Cow::Owned(
            migrator
                .migrations
                .iter()
                .filter(|m| m.version <= version)
                .cloned()
                .collect(),
        );
        migrator.run(&store.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => StoreError::from(e),
            other => StoreError::Migrate(other.to_string()),
        })?;
        Ok(store)
    }

    /// Runs one statement (tests writing rows as an older release did).
    #[doc(hidden)]
    pub async fn execute(&self, sql: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(sql).execute(&self.pool).await?.rows_affected())
    }

    /// Connects to a database whose schema is already migrated (the
    /// history API's pool, opened after the writer's [`Store::open`]).
    pub async fn connect(target: &StoreTarget) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, kind, max) = match target {
            StoreTarget::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                        path: dir.to_owned(),
                        source,
                    })?;
                }
                // One writer at a time is what SQLite does anyway; a few
                // connections let the API read while the writer writes (WAL).
                (format!("sqlite://{}?mode=rwc", path.display()), "sqlite", 4)
            }
            StoreTarget::Postgres(url) => (url.clone(), "postgres", 4),
        };
        let is_sqlite = kind == "sqlite";
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if is_sqlite {
                        // WAL: readers do not block the writer; NORMAL
                        // sync is durable across a process crash (the
                        // spool covers the rest); wait for a busy file.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 5000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(Store { pool, kind })
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Writes `calls` in one transaction. Idempotent: a call already
    /// stored (by id), and each of its children (by call and position),
    /// is left as it is.
    pub async fn write(&self, calls: &[StoredCall]) -> Result<(), StoreError> {
        write::write_batch(&self.pool, calls).await
    }

    /// Writes `records` (calls and audit entries) in one transaction,
    /// idempotently like [`Store::write`].
    pub async fn write_records(&self, records: &[Record]) -> Result<(), StoreError> {
        write::write_records(&self.pool, records).await
    }

    /// Audit entries newest first, at most `limit` (1 to
    /// [`audit::MAX_LIMIT`]), of one call when `call_id` is given.
    pub async fn audit(
        &self,
        limit: u32,
        call_id: Option<&str>,
    ) -> Result<Vec<crate::audit::AuditEntry>, StoreError> {
        audit::read(&self.pool, limit, call_id).await
    }

    /// Records a definition under its content hash (once).
    pub async fn put_version(&self, hash: &str, kind: &str, body: &str) -> Result<(), StoreError> {
        write::put_version(&self.pool, hash, kind, Some(body)).await
    }

    /// Ended calls, newest first, at most `limit`.
    pub async fn list(&self, limit: u32) -> Result<Vec<HistoryItem>, StoreError> {
        read::list(&self.pool, limit).await
    }

    /// One ended call with its transcript, tool calls and escalations.
    pub async fn get(&self, id: &str) -> Result<Option<CallDetail>, StoreError> {
        read::get(&self.pool, id).await
    }

    /// Callbacks and messages, newest first, at most `limit`.
    pub async fn callbacks(&self, limit: u32) -> Result<Vec<CallbackItem>, StoreError> {
        read::callbacks(&self.pool, limit).await
    }

    /// The analytics of the calls that started in `window`, grouped `by`,
    /// at most `limit` groups (decision 0036).
    pub async fn analytics(
        &self,
        window: analytics::Window,
        by: analytics::GroupBy,
        limit: u32,
    ) -> Result<analytics::Analytics, StoreError> {
        analytics::analytics(&self.pool, window, by, limit).await
    }

    /// Marks the callback or message `seq` of call `call_id` done by
    /// `by` at `at` (RFC 3339). Idempotent: one already done keeps its
    /// first mark. `None` when there is no such callback.
    pub async fn mark_callback_done(
        &self,
        call_id: &str,
        seq: i64,
        by: &str,
        at: &str,
    ) -> Result<Option<CallbackItem>, StoreError> {
        inbox::mark_done(&self.pool, call_id, seq, by, at).await
    }

    /// Callbacks and messages for the inbox, with their call's caller and
    /// escalation: `done` false gives the pending ones oldest first, true
    /// the done ones most recently done first; at most `limit`.
    pub async fn inbox_callbacks(
        &self,
        done: bool,
        limit: u32,
    ) -> Result<Vec<InboxCallback>, StoreError> {
        inbox::callbacks(&self.pool, done, limit).await
    }

    /// Hand-overs to a person that were tried (`escalate_to_human`), the
    /// newest call first, at most `limit`.
    pub async fn past_escalations(&self, limit: u32) -> Result<Vec<PastEscalation>, StoreError> {
        inbox::past_escalations(&self.pool, limit).await
    }

    /// Counts per table, for tests and `warmline check`-style reports:
    /// `(calls, transcript_items, tool_calls)`.
    pub async fn counts(&self) -> Result<(i64, i64, i64), StoreError> {
        let one = |table: &'static str| {
            let pool = self.pool.clone();
            async move {
                let row: AnyRow = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
                    .fetch_one(&pool)
                    .await?;
                Ok::<i64, StoreError>(row.try_get::<i64, _>("n")?)
            }
        };
        Ok((
            one("calls").await?,
            one("transcript_items").await?,
            one("tool_calls").await?,
        ))
    }
}

#[cfg(test)]
mod tests;
