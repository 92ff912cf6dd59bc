//! The endpoint's calls, indexed so that no per-message or per-timer step
//! looks at every call: dialog lookup is one hash probe, the next deadline
//! is the first key of an ordered map, a timer pass touches only the calls
//! that are due, and admission reads counters.
//!
//! Sans-IO: time comes in as a `Duration` on the endpoint's clock. The
//! table does not know what a call's deadline means; each value says it
//! through [`Scheduled`]. Any call handed out mutably ([`CallTable::get_mut`],
//! [`CallTable::insert`], [`CallTable::pop_due`]) is marked, and
//! [`CallTable::settle`] re-reads the schedule of the marked calls only, so
//! callers mutate calls freely and settle once per event.
//!
//! Invariants: every call has at most one entry in the timer map, whose key
//! is the one recorded with it; removing a call removes its timer exactly
//! (no stale entries to skip later); the live counters equal what a scan
//! would count once [`CallTable::settle`] has run.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// What the table needs to know about a call, read after each change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// When the call next needs the endpoint's attention, if ever.
    pub deadline: Option<Duration>,
    /// `Some(group)` while the call counts toward admission limits (the
    /// endpoint's groups are trunks); `None` once it is ending.
    pub live_in: Option<usize>,
}

/// A call that can say when it next needs attention.
pub trait Scheduled {
    /// The call's schedule as of now.
    fn schedule(&self) -> Schedule;
}

/// A timer entry's key: deadline, then arming order.
type TimerKey = (Duration, u64);

#[derive(Debug)]
struct Entry<T> {
    value: T,
    armed: Option<TimerKey>,
    live_in: Option<usize>,
    marked: bool,
}

/// The calls of one endpoint, keyed by `"<Call-ID>;<remote tag>"`.
#[derive(Debug)]
pub struct CallTable<T> {
    calls: HashMap<String, Entry<T>>,
    timers: BTreeMap<TimerKey, String>,
    seq: u64,
    marked: Vec<String>,
    live: usize,
    live_by_group: HashMap<usize, usize>,
}

impl<T> Default for CallTable<T> {
    fn default() -> CallTable<T> {
        CallTable {
            calls: HashMap::new(),
            timers: BTreeMap::new(),
            seq: 0,
            marked: Vec::new(),
            live: 0,
            live_by_group: HashMap::new(),
        }
    }
}

/// The table key of a dialog: Call-ID and the caller's tag. Neither may
/// contain `;` (RFC 3261 §25.1: Call-ID is `word ["@" word]`, tags are
/// tokens), so the key is unambiguous.
pub fn dialog_key(call_id: &str, remote_tag: &str) -> String {
    let mut key = String::with_capacity(call_id.len() + 1 + remote_tag.len());
    key.push_str(call_id);
    key.push(';');
    key.push_str(remote_tag);
    key
}

impl<T: Scheduled> CallTable<T> {
    /// An empty table.
    pub fn new() -> CallTable<T> {
        CallTable::default()
    }

    /// The call under `key`, read-only (nothing is marked).
    pub fn get(&self, key: &str) -> Option<&T> {
        self.calls.get(key).map(|e| &e.value)
    }

    /// The call under `key`, marked for [`CallTable::settle`].
    pub fn get_mut(&mut self, key: &str) -> Option<&mut T> {
        let entry = self.calls.get_mut(key)?;
        if !entry.marked {
            entry.marked = true;
            self.marked.push(key.to_owned());
        }
        Some(&mut entry.value)
    }

    /// Adds (or replaces) a call; it is scheduled at the next settle.
    pub fn insert(&mut self, key: String, value: T) {
        self.remove(&key);
        self.calls.insert(
            key.clone(),
            Entry {
                value,
                armed: None,
                live_in: None,
                marked: true,
            },
        );
        self.marked.push(key);
    }

    /// Removes a call with its timer and its share of the counters.
    pub fn remove(&mut self, key: &str) -> Option<T> {
        let entry = self.calls.remove(key)?;
        if let Some(at) = entry.armed {
            self.timers.remove(&at);
        }
        self.count(entry.live_in, -1);
        // A stale mark is skipped by `settle`.
        Some(entry.value)
    }

    /// Calls in the table, ending ones included.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Calls counting toward admission: all, or those of one group.
    pub fn live(&self, group: Option<usize>) -> usize {
        match group {
            None => self.live,
            Some(g) => self.live_by_group.get(&g).copied().unwrap_or(0),
        }
    }

    /// The earliest deadline of any call.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.timers.keys().next().map(|(at, _)| *at)
    }

    /// Takes the earliest call due at `now`, if any, off the timer map and
    /// marks it, so the next settle schedules it again from its new state.
    pub fn pop_due(&mut self, now: Duration) -> Option<String> {
        let (&at, _) = self.timers.iter().next()?;
        if at.0 > now {
            return None;
        }
        let key = self.timers.remove(&at)?;
        if let Some(entry) = self.calls.get_mut(&key) {
            entry.armed = None;
            if !entry.marked {
                entry.marked = true;
                self.marked.push(key.clone());
            }
        }
        Some(key)
    }

    /// Re-reads the schedule of every call marked since the last settle:
    /// re-arms its timer and updates the counters. O(marked · log n).
    pub fn settle(&mut self) {
        for key in std::mem::take(&mut self.marked) {
            let Some(entry) = self.calls.get_mut(&key) else {
                continue;
            };
            entry.marked = false;
            let schedule = entry.value.schedule();
            let old_live = std::mem::replace(&mut entry.live_in, schedule.live_in);
            let wanted = schedule.deadline;
            if entry.armed.map(|(at, _)| at) != wanted {
                if let Some(old) = entry.armed.take() {
                    self.timers.remove(&old);
                }
                if let Some(at) = wanted {
                    self.seq += 1;
                    let timer = (at, self.seq);
                    entry.armed = Some(timer);
                    self.timers.insert(timer, key);
                }
            }
            if old_live != schedule.live_in {
                self.count(old_live, -1);
                self.count(schedule.live_in, 1);
            }
        }
    }

    /// Every key (for a full pass, e.g. ending all calls).
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.calls.keys()
    }

    /// Every call, read-only.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.calls.values().map(|e| &e.value)
    }

    /// Every key with its call, read-only.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &T)> {
        self.calls.iter().map(|(k, e)| (k, &e.value))
    }

    /// Armed timers (tests check nothing is left behind).
    pub fn armed(&self) -> usize {
        self.timers.len()
    }

    fn count(&mut self, live_in: Option<usize>, delta: isize) {
        let Some(group) = live_in else {
            return;
        };
        self.live = self.live.saturating_add_signed(delta);
        let n = self.live_by_group.entry(group).or_insert(0);
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            self.live_by_group.remove(&group);
        }
    }
}

#[cfg(test)]
mod tests;
