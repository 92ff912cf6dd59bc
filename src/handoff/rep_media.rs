//! Where a rep's audio meets the call they accepted (decision 0029).
//!
//! The rep's softphone sends its WebRTC offer on its own signalling
//! socket (`/rep/ws`) after `accept`; the ingress accepts it and makes a
//! [`LegLink`]. The escalation, meanwhile, asks the call's room to attach
//! the rep ([`super::RoomControl::attach_rep`]). Either may come first:
//! [`RepMedia`] parks the link until the room asks, or the room's request
//! until the link comes, for one rep and one call at a time, and never
//! longer than the room's wait. It knows no transport: the ingress builds
//! the link, the room attaches it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::presence::RepId;
use crate::call::room::LegLink;

/// Longest a parked offer waits for its call's room: past it, its media
/// port is freed (the escalation gave up on this rep long before).
pub const PARKED_FOR: Duration = Duration::from_secs(15);

enum Slot {
    /// The rep's audio came first.
    Parked {
        call_id: String,
        link: LegLink,
        /// Names this offer for its expiry.
        number: u64,
    },
    /// The room asked first.
    Waiting {
        call_id: String,
        tx: oneshot::Sender<LegLink>,
    },
}

/// The rendezvous of reps' audio legs and the calls they accepted.
#[derive(Default)]
pub struct RepMedia {
    slots: Mutex<HashMap<RepId, Slot>>,
    offers: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for RepMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepMedia").finish_non_exhaustive()
    }
}

impl RepMedia {
    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<RepId, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The rep's softphone offered audio for `call_id`: handed to the
    /// call's room if it waits for it, parked otherwise (replacing an
    /// older offer of the same rep, whose media port then closes) for at
    /// most [`PARKED_FOR`]. Call from a tokio runtime.
    pub fn offer(self: &Arc<Self>, rep: &RepId, call_id: &str, link: LegLink) {
        let number = self
            .offers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut slots = self.slots();
        let link = match slots.remove(rep) {
            Some(Slot::Waiting { call_id: c, tx }) if c == call_id => match tx.send(link) {
                Ok(()) => return,
                // The room gave up waiting: park it for a retry.
                Err(link) => link,
            },
            _ => link,
        };
        slots.insert(
            rep.clone(),
            Slot::Parked {
                call_id: call_id.to_owned(),
                link,
                number,
            },
        );
        drop(slots);
        let (media, rep) = (Arc::downgrade(self), rep.clone());
        tokio::spawn(async move {
            tokio::time::sleep(PARKED_FOR).await;
            if let Some(media) = media.upgrade() {
                let mut slots = media.slots();
                if matches!(slots.get(&rep), Some(Slot::Parked { number: n, .. }) if *n == number) {
                    slots.remove(&rep);
                }
            }
        });
    }

    /// The rep's audio for `call_id`, waiting for it up to `wait`; `None`
    /// when the softphone sent no offer in time.
    pub async fn take(&self, rep: &RepId, call_id: &str, wait: Duration) -> Option<LegLink> {
        let rx = {
            let mut slots = self.slots();
            match slots.remove(rep) {
                Some(Slot::Parked {
                    call_id: c, link, ..
                }) if c == call_id => return Some(link),
                // An offer for another call is stale: dropped.
                _ => {}
            }
            let (tx, rx) = oneshot::channel();
            let call_id = call_id.to_owned();
            slots.insert(rep.clone(), Slot::Waiting { call_id, tx });
            rx
        };
        let link = tokio::time::timeout(wait, rx).await.ok()?.ok();
        if link.is_none() {
            let mut slots = self.slots();
            if matches!(slots.get(rep), Some(Slot::Waiting { tx, .. }) if tx.is_closed()) {
                slots.remove(rep);
            }
        }
        link
    }

    /// Forgets whatever the rep left (their socket closed).
    pub fn forget(&self, rep: &RepId) {
        self.slots().remove(rep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> LegLink {
        LegLink::new("test", |_port| async {})
    }

    #[tokio::test]
    async fn an_offer_that_comes_first_is_parked_for_its_call_only() {
        let media = Arc::new(RepMedia::default());
        let ana = RepId("ana".into());
        media.offer(&ana, "call-1", link());
        let short = Duration::from_millis(20);
        assert!(media.take(&ana, "call-2", short).await.is_none());
        media.offer(&ana, "call-1", link());
        assert!(media.take(&ana, "call-1", short).await.is_some());
        assert!(
            media.take(&ana, "call-1", short).await.is_none(),
            "taken once"
        );
    }

    #[tokio::test]
    async fn a_room_that_asks_first_gets_the_offer_when_it_comes() {
        let media = Arc::new(RepMedia::default());
        let ana = RepId("ana".into());
        let waiting = {
            let media = media.clone();
            let ana = ana.clone();
            tokio::spawn(async move { media.take(&ana, "c", Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        media.offer(&ana, "c", link());
        assert!(waiting.await.expect("task").is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn an_offer_no_room_takes_is_let_go() {
        let media = Arc::new(RepMedia::default());
        let ana = RepId("ana".into());
        media.offer(&ana, "c", link());
        tokio::time::sleep(PARKED_FOR + Duration::from_millis(10)).await;
        assert!(media.slots().is_empty());
    }
}
