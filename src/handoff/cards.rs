//! The card shelf: the screen pops warmline has shown each rep, kept so
//! that the card page `/rep/calls/{id}` (the URL a SIP rep's INVITE
//! carries in `X-Warmline-Card`, decision 0040) can show a rep the card of
//! a call they were offered, on their desktop, while their phone rings and
//! after.
//!
//! Plain data fed by [`super::RepHub::push`]: no clock, no I/O. Bounded: at
//! most [`MAX_CARDS`] calls, the least recently changed leaving first, and
//! at most [`MAX_REPS_PER_CARD`] reps remembered per call.

use std::collections::HashMap;

use serde::Serialize;

use super::card::ScreenPop;
use super::hub::RepPush;
use super::presence::RepId;

/// Most calls whose card is kept.
pub const MAX_CARDS: usize = 1_000;
/// Most reps remembered per call (each rang once; a call rings few).
pub const MAX_REPS_PER_CARD: usize = 32;

/// Where the call is, as far as the reps' pushes tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CardState {
    /// Ringing a rep.
    Ringing,
    /// A rep accepted; the AI briefs them.
    Brief,
    /// A rep talks with the caller.
    Bridged,
    /// Over for the reps: rung out, handed back, hung up.
    Ended,
}

/// One call's card as the page reads it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShelvedCard {
    /// The latest card pushed.
    pub card: ScreenPop,
    /// Where the call is.
    pub state: CardState,
}

#[derive(Debug)]
struct Entry {
    shelved: ShelvedCard,
    reps: Vec<RepId>,
    /// The rep rung last: their end is the call's end for the reps.
    current: Option<RepId>,
    /// When it last changed, in pushes seen (orders eviction without a clock).
    touched: u64,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct CardShelf {
    cards: HashMap<String, Entry>,
    pushes: u64,
}

impl CardShelf {
    /// Takes note of a push to `rep`.
    pub fn saw(&mut self, rep: &RepId, push: &RepPush) {
        self.pushes += 1;
        let touched = self.pushes;
        match push {
            RepPush::Ring { card, .. } => {
                let entry = self.entry(card);
                entry.shelved.state = CardState::Ringing;
                entry.current = Some(rep.clone());
                entry.touched = touched;
                if !entry.reps.contains(rep) && entry.reps.len() < MAX_REPS_PER_CARD {
                    entry.reps.push(rep.clone());
                }
            }
            RepPush::Card { card } => {
                // A card for a call this rep was offered updates it; one
                // for a call the shelf never saw rung is kept for them too.
                let entry = self.entry(card);
                entry.shelved.card = (**card).clone();
                entry.touched = touched;
                if !entry.reps.contains(rep) && entry.reps.len() < MAX_REPS_PER_CARD {
                    entry.reps.push(rep.clone());
                }
            }
            RepPush::CallState { call_id, state } => {
                if let Some(entry) = self.cards.get_mut(call_id) {
                    entry.shelved.state = if *state == "brief" {
                        CardState::Brief
                    } else {
                        CardState::Bridged
                    };
                    entry.touched = touched;
                }
            }
            RepPush::CallEnded { call_id, .. } | RepPush::RingCancelled { call_id, .. } => {
                if let Some(entry) = self.cards.get_mut(call_id) {
                    // A rep rung earlier (a missed ring) ending says
                    // nothing of the rep the call went to next.
                    if entry.current.as_ref() == Some(rep) {
                        entry.shelved.state = CardState::Ended;
                        entry.touched = touched;
                    }
                }
            }
            RepPush::Presence { .. } => {}
        }
    }

    fn entry(&mut self, card: &ScreenPop) -> &mut Entry {
        if !self.cards.contains_key(&card.call_id) && self.cards.len() >= MAX_CARDS {
            self.evict_oldest();
        }
        self.cards
            .entry(card.call_id.clone())
            .or_insert_with(|| Entry {
                shelved: ShelvedCard {
                    card: card.clone(),
                    state: CardState::Ringing,
                },
                reps: Vec::new(),
                current: None,
                touched: 0,
            })
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .cards
            .iter()
            .min_by_key(|(_, e)| e.touched)
            .map(|(id, _)| id.clone());
        if let Some(id) = oldest {
            self.cards.remove(&id);
        }
    }

    /// The card of `call_id` when `rep` was offered the call; None
    /// otherwise (another rep's call looks the same as an unknown one).
    pub fn card_for(&self, rep: &RepId, call_id: &str) -> Option<ShelvedCard> {
        let entry = self.cards.get(call_id)?;
        entry.reps.contains(rep).then(|| entry.shelved.clone())
    }

    /// Calls on the shelf.
    pub fn len(&self) -> usize {
        self.cards.len()
    }

    /// Whether nothing is on the shelf.
    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(call_id: &str, summary: Option<&str>) -> Box<ScreenPop> {
        Box::new(ScreenPop {
            call_id: call_id.into(),
            caller: "+15550100".into(),
            skill: "default".into(),
            reason: "wants a person".into(),
            summary: summary.map(str::to_owned),
            ..ScreenPop::default()
        })
    }

    fn rep(id: &str) -> RepId {
        RepId(id.into())
    }

    #[test]
    fn a_rep_sees_the_card_of_a_call_they_were_offered_and_its_updates() {
        let mut shelf = CardShelf::default();
        shelf.saw(
            &rep("ana"),
            &RepPush::Ring {
                card: card("c1", None),
                ring_timeout_ms: 20_000,
            },
        );
        let seen = shelf.card_for(&rep("ana"), "c1").expect("offered");
        assert_eq!(seen.state, CardState::Ringing);
        assert_eq!(seen.card.summary, None);

        shelf.saw(
            &rep("ana"),
            &RepPush::Card {
                card: card("c1", Some("Billing dispute")),
            },
        );
        shelf.saw(
            &rep("ana"),
            &RepPush::CallState {
                call_id: "c1".into(),
                state: "bridged",
            },
        );
        let seen = shelf.card_for(&rep("ana"), "c1").expect("offered");
        assert_eq!(seen.card.summary.as_deref(), Some("Billing dispute"));
        assert_eq!(seen.state, CardState::Bridged);

        shelf.saw(
            &rep("ana"),
            &RepPush::CallEnded {
                call_id: "c1".into(),
                reason: "caller_hung_up",
            },
        );
        assert_eq!(
            shelf.card_for(&rep("ana"), "c1").map(|c| c.state),
            Some(CardState::Ended)
        );
    }

    #[test]
    fn another_reps_call_is_not_shown() {
        let mut shelf = CardShelf::default();
        shelf.saw(
            &rep("ana"),
            &RepPush::Ring {
                card: card("c1", None),
                ring_timeout_ms: 20_000,
            },
        );
        assert!(shelf.card_for(&rep("bo"), "c1").is_none());
        assert!(shelf.card_for(&rep("ana"), "c2").is_none());
    }

    #[test]
    fn a_missed_ring_for_one_rep_leaves_the_call_bridged_for_the_next() {
        let mut shelf = CardShelf::default();
        let ring = |id: &str| RepPush::Ring {
            card: card(id, None),
            ring_timeout_ms: 20_000,
        };
        shelf.saw(&rep("ana"), &ring("c1"));
        shelf.saw(
            &rep("ana"),
            &RepPush::RingCancelled {
                call_id: "c1".into(),
                reason: "timeout",
            },
        );
        shelf.saw(&rep("bo"), &ring("c1"));
        shelf.saw(
            &rep("bo"),
            &RepPush::CallState {
                call_id: "c1".into(),
                state: "bridged",
            },
        );
        // ana's page closing its socket late still says nothing of bo's call.
        shelf.saw(
            &rep("ana"),
            &RepPush::CallEnded {
                call_id: "c1".into(),
                reason: "failed",
            },
        );
        let for_ana = shelf
            .card_for(&rep("ana"), "c1")
            .expect("ana was offered it");
        assert_eq!(for_ana.state, CardState::Bridged);
        assert!(shelf.card_for(&rep("bo"), "c1").is_some());
    }

    #[test]
    fn the_shelf_keeps_at_most_its_cap_and_drops_the_least_recently_changed() {
        let mut shelf = CardShelf::default();
        for i in 0..MAX_CARDS + 2 {
            shelf.saw(
                &rep("ana"),
                &RepPush::Ring {
                    card: card(&format!("c{i}"), None),
                    ring_timeout_ms: 1,
                },
            );
            if i == 2 {
                // c0 changes again: it is kept over c1.
                shelf.saw(
                    &rep("ana"),
                    &RepPush::Card {
                        card: card("c0", Some("again")),
                    },
                );
            }
        }
        assert_eq!(shelf.len(), MAX_CARDS);
        assert!(shelf.card_for(&rep("ana"), "c0").is_some());
        assert!(shelf.card_for(&rep("ana"), "c1").is_none());
        assert!(shelf.card_for(&rep("ana"), "c2").is_none());
        assert!(shelf.card_for(&rep("ana"), "c3").is_some());
        assert!(shelf
            .card_for(&rep("ana"), &format!("c{}", MAX_CARDS + 1))
            .is_some());
    }
}
