//! What the caller has heard of each assistant item.
//!
//! The pacer knows what left warmline; the leg knows what was played. With
//! Twilio, every released frame is followed by a mark whose name carries a
//! generation tag and the item's cumulative milliseconds; Twilio echoes it
//! when the audio before it has played. Marks echoed after a `clear` carry
//! an old generation and are ignored, so discarded audio is never counted
//! as heard. An RTP leg has no acknowledgement: what the pacer released,
//! minus an allowance for the far end's jitter buffer, is what was heard.

use std::collections::VecDeque;

/// How a leg reports playback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaybackTracking {
    /// The leg echoes marks (Twilio Media Streams).
    Marks,
    /// No acknowledgement (RTP): released audio minus this allowance.
    Released {
        /// Far-end buffering assumed, ms.
        allowance_ms: u64,
    },
}

/// One assistant item being played.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ItemPlayback {
    pub response_id: String,
    pub item_id: String,
    pub content_index: u32,
    /// The pacer source carrying it.
    pub source: u64,
    /// Milliseconds released towards the caller.
    pub released_ms: u64,
    /// Milliseconds acknowledged as played.
    pub heard_ms: u64,
    /// The model finished this item's audio.
    pub done: bool,
}

/// A frame sent to a marking leg and not yet acknowledged: kept so that a
/// pause (whose `clear` drops it at the leg) can put it back.
#[derive(Clone, Debug)]
pub(crate) struct Unplayed {
    pub source: u64,
    /// Offset of the audio's first sample within the source.
    pub source_offset: u64,
    pub samples: [i16; 160],
    pub len: usize,
}

impl Unplayed {
    pub fn audio(&self) -> &[i16] {
        &self.samples[..self.len]
    }
}

/// Items in play and the marks outstanding for them.
#[derive(Debug, Default)]
pub(crate) struct Playback {
    pub generation: u32,
    pub items: VecDeque<ItemPlayback>,
    mark_seq: u64,
    /// Outstanding marks: (name, source, cumulative ms, the audio).
    pending: VecDeque<(String, u64, u64, Unplayed)>,
}

/// Bound on remembered items and outstanding marks per call.
const MAX_ITEMS: usize = 32;
const MAX_PENDING_MARKS: usize = 4_096;

impl Playback {
    pub fn item_mut(&mut self, source: u64) -> Option<&mut ItemPlayback> {
        self.items.iter_mut().find(|i| i.source == source)
    }

    pub fn add_item(&mut self, item: ItemPlayback) {
        if self.items.len() == MAX_ITEMS {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    /// Records a released frame (`audio`, starting `source_offset` samples
    /// into the source) and returns the mark name to send after it.
    pub fn released(
        &mut self,
        source: u64,
        ms: u64,
        source_offset: u64,
        audio: &[i16],
    ) -> Option<String> {
        let generation = self.generation;
        let item = self.item_mut(source)?;
        item.released_ms += ms;
        let total = item.released_ms;
        self.mark_seq += 1;
        let name = format!("g{generation}:s{source}:{total}:m{}", self.mark_seq);
        if self.pending.len() == MAX_PENDING_MARKS {
            self.pending.pop_front();
        }
        let mut unplayed = Unplayed {
            source,
            source_offset,
            samples: [0; 160],
            len: audio.len().min(160),
        };
        unplayed.samples[..unplayed.len].copy_from_slice(&audio[..unplayed.len]);
        self.pending
            .push_back((name.clone(), source, total, unplayed));
        Some(name)
    }

    /// A mark came back; returns whether it counted.
    pub fn acknowledged(&mut self, name: &str) -> bool {
        let Some(pos) = self.pending.iter().position(|(n, ..)| n == name) else {
            // A stale mark (from before a clear) or a stranger: ignore.
            return false;
        };
        // Marks come back in order; anything before this one is played too.
        let acked: Vec<_> = self.pending.drain(..=pos).collect();
        for (_, source, total, _) in acked {
            if let Some(item) = self.item_mut(source) {
                item.heard_ms = item.heard_ms.max(total);
            }
        }
        true
    }

    /// Marks still outstanding (audio sent, not yet played).
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// The leg dropped everything not yet played (a `clear` for a pause):
    /// returns that audio, oldest first, takes it off the items' released
    /// counts and starts a new generation.
    pub fn take_unplayed(&mut self) -> Vec<Unplayed> {
        let taken: Vec<Unplayed> = self.pending.drain(..).map(|(.., u)| u).collect();
        for u in &taken {
            if let Some(item) = self.item_mut(u.source) {
                item.released_ms = item.released_ms.saturating_sub(u.len as u64 / 8);
            }
        }
        self.generation += 1;
        taken
    }

    /// Starts a new generation: outstanding marks become stale.
    pub fn new_generation(&mut self) {
        self.generation += 1;
        self.pending.clear();
    }
}
