//! The spool: records the database could not take yet, as JSON lines in
//! `<data_dir>/spool.jsonl`, replayed when it returns.
//!
//! Appends come from the writer thread (a batch the database refused:
//! fsync'd at once) and, rarely, from a call's thread when the writer's
//! queue is full (one buffered `write`, never an fsync: the writer syncs
//! the file on its next turn). A replay first renames the file to
//! `spool.replay.jsonl` under the lock, so appends go on into a fresh
//! file while the old one is written to the database; the renamed file
//! is removed only once all of it is stored. A crash mid-replay replays
//! it again at the next start, which the idempotent writes make harmless.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use super::record::Record;
use super::StoreError;

/// The spool file and its line count.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    replay_path: PathBuf,
    file: Mutex<Option<File>>,
    records: AtomicU64,
    unsynced: AtomicBool,
}

impl Spool {
    /// The spool at `path` (not created until something is spooled);
    /// counts what an earlier run left.
    pub fn open(path: PathBuf) -> Spool {
        let replay_path = path.with_extension("replay.jsonl");
        let left = count_lines(&path) + count_lines(&replay_path);
        let spool = Spool {
            path,
            replay_path,
            file: Mutex::new(None),
            records: AtomicU64::new(left),
            unsynced: AtomicBool::new(false),
        };
        spool.report();
        spool
    }

    /// Records spooled and not yet stored.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    fn report(&self) {
        metrics::gauge!(super::writer::SPOOL_RECORDS).set(self.records() as f64);
    }

    fn err(&self, source: std::io::Error) -> StoreError {
        StoreError::Spool {
            path: self.path.clone(),
            source,
        }
    }

    /// Appends `records`; `sync` makes them durable before returning.
    pub fn append(&self, records: &[Record], sync: bool) -> Result<(), StoreError> {
        let mut text = String::new();
        for record in records {
            // Plain data: serialising cannot fail.
            if let Ok(line) = serde_json::to_string(record) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
            }
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&self.path)
                .map_err(|e| self.err(e))?;
            if !ends_with_newline(&mut file).map_err(|e| self.err(e))? {
                // A line torn by a crash: end it, so the next record
                // starts a line of its own (the torn one is skipped).
                file.write_all(b"\n").map_err(|e| self.err(e))?;
            }
            *guard = Some(file);
        }
        let Some(file) = guard.as_mut() else {
            return Ok(());
        };
        file.write_all(text.as_bytes()).map_err(|e| self.err(e))?;
        if sync {
            file.sync_data().map_err(|e| self.err(e))?;
            self.unsynced.store(false, Ordering::Relaxed);
        } else {
            self.unsynced.store(true, Ordering::Relaxed);
        }
        drop(guard);
        self.records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        self.report();
        Ok(())
    }

    /// Makes unsynced appends durable (the writer calls it each turn).
    pub fn sync(&self) -> Result<(), StoreError> {
        if !self.unsynced.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = guard.as_ref() {
            file.sync_data().map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Moves the spool aside for a replay and returns the file to replay
    /// (none when nothing is spooled). Appends go on into a new file.
    pub fn take_for_replay(&self) -> Result<Option<PathBuf>, StoreError> {
        if self.replay_path.exists() {
            // Left by a replay that did not finish: that one first.
            return Ok(Some(self.replay_path.clone()));
        }
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if !self.path.exists() {
            return Ok(None);
        }
        if let Some(file) = guard.take() {
            file.sync_data().map_err(|e| self.err(e))?;
        }
        std::fs::rename(&self.path, &self.replay_path).map_err(|e| self.err(e))?;
        Ok(Some(self.replay_path.clone()))
    }

    /// Reads a replay file: its records, in order (a line that does not
    /// parse, e.g. torn by a crash mid-write, is skipped and logged).
    pub fn read(&self, path: &Path) -> Result<Vec<Record>, StoreError> {
        let file = File::open(path).map_err(|e| self.err(e))?;
        let mut records = Vec::new();
        for (n, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| self.err(e))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Record>(&line) {
                Ok(record) => records.push(record),
                Err(e) => tracing::warn!(
                    line = n + 1,
                    error = %e,
                    file = %path.display(),
                    "a spooled record does not parse (torn by a crash?): skipped"
                ),
            }
        }
        Ok(records)
    }

    /// The replay of `path` (holding `records` lines) is stored: removes it.
    pub fn replayed(&self, path: &Path, records: u64) -> Result<(), StoreError> {
        std::fs::remove_file(path).map_err(|e| self.err(e))?;
        let guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if self.path.exists() {
            let _ = self
                .records
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(records))
                });
        } else {
            // Nothing appended meanwhile: none left (a torn line counted
            // at start-up but never parsed must not stay counted).
            self.records.store(0, Ordering::Relaxed);
        }
        drop(guard);
        self.report();
        Ok(())
    }

    /// Where records the database refused on their own are kept
    /// (`rejected.jsonl` beside the spool; never replayed automatically).
    pub fn rejected_path(&self) -> PathBuf {
        self.path.with_file_name("rejected.jsonl")
    }

    /// Keeps a record the database refused, synced.
    pub fn reject(&self, record: &Record) -> Result<(), StoreError> {
        let path = self.rejected_path();
        let mut line = serde_json::to_string(record).unwrap_or_default();
        line.push('\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| StoreError::Spool {
                path: path.clone(),
                source,
            })?;
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|source| StoreError::Spool { path, source })
    }

    /// Whether anything waits in the spool.
    pub fn is_empty(&self) -> bool {
        self.records() == 0 && !self.path.exists() && !self.replay_path.exists()
    }
}

/// Whether `file` is empty or ends with a newline.
fn ends_with_newline(file: &mut File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

fn count_lines(path: &Path) -> u64 {
    File::open(path)
        .map(|f| {
            BufReader::new(f)
                .lines()
                .map_while(Result::ok)
                .filter(|l| !l.trim().is_empty())
                .count() as u64
        })
        .unwrap_or(0)
}
