//! The caller leg seam: how a call reaches its caller, whatever the
//! transport. Twilio Media Streams and SIP/RTP each implement
//! [`CallerLeg`]; the [`driver`](super::driver) runs any of them against
//! the call core and the model. A later rep leg plugs in the same way.

use std::future::Future;

use tokio::time::Instant;

use super::blind_transfer::{TransferDone, TransferOutcome, TransferTarget};
use super::DtmfSlot;

/// Samples in a 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES_8K: usize = 160;

/// Something the caller's side reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LegEvent {
    /// Media is flowing (Twilio `start`; SIP: the call was answered). The
    /// greeting is requested now.
    Started,
    /// One 20 ms frame of caller audio, μ-law, in order and gap-free: the
    /// leg fills gaps (Twilio) or conceals loss (RTP jitter buffer).
    Audio(Box<[u8; FRAME_SAMPLES_8K]>),
    /// A key press: `0`–`9`, `*`, `#`, `A`–`D`.
    Dtmf(char),
    /// The leg played audio up to a mark (Twilio echoes marks).
    Mark(String),
    /// The caller is gone, or the leg failed; the call ends.
    Ended(String),
    /// The caller was handed elsewhere (a blind transfer succeeded) and
    /// our leg is gone; the call ends as transferred.
    Transferred(String),
}

/// What a call tells a leg that can show it (the WebRTC leg pushes it to
/// the page; phone legs have nowhere to put it and ignore it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegNotice<'a> {
    /// A transcript line: the agent's as the model wrote it, the caller's
    /// as the model transcribed it.
    Transcript {
        /// Who spoke.
        speaker: super::events::Speaker,
        /// The model's conversation item.
        item_id: &'a str,
        /// What was said.
        text: &'a str,
    },
    /// The caller talked over the agent and the agent stopped.
    BargeIn,
}

/// Why a leg could not send.
#[derive(Debug, thiserror::Error)]
pub enum LegError {
    /// The transport is closed or failed; the call ends.
    #[error("caller leg closed: {0}")]
    Closed(String),
}

/// What became of a frame handed to a leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// It left now: the driver records its lateness against the slot.
    Now,
    /// The leg puts it on the wire at its slot and records the timing
    /// itself (RTP, whose send clock is its own).
    AtSlot,
    /// Nothing left (an idle slot on a leg that sends no silence, or the
    /// caller has us on hold).
    Nothing,
}

/// A caller leg: audio frames in and out, DTMF, hang-up.
///
/// The driver calls `next_event` inside `select!`, so it must be cancel
/// safe: an event is either returned or still pending, never lost.
pub trait CallerLeg {
    /// The next caller-side event.
    fn next_event(&mut self) -> impl Future<Output = LegEvent>;

    /// One 20 ms μ-law frame of agent audio for the slot `due` of the
    /// playout clock, and the mark to place after it (legs without marks
    /// ignore it).
    fn send_frame(
        &mut self,
        due: Instant,
        mulaw: &[u8],
        mark: Option<&str>,
    ) -> impl Future<Output = Result<Sent, LegError>>;

    /// The slot `due` of the playout clock passed with nothing to play.
    /// RTP sends silence to keep the far end's clock running; Twilio sends
    /// nothing.
    fn send_idle(&mut self, due: Instant) -> impl Future<Output = Result<Sent, LegError>>;

    /// Drop whatever the far end has queued, and anything the leg itself
    /// still holds back (barge-in).
    fn clear(&mut self) -> impl Future<Output = Result<(), LegError>>;

    /// End the call from our side.
    fn hang_up(&mut self) -> impl Future<Output = ()>;

    /// One 20 ms slot of keys the agent presses (`send_dtmf`), for the
    /// slot `due` of the playout clock. By default the slot's in-band
    /// tone goes out as audio, which is all Media Streams can carry; an
    /// RTP leg with a negotiated telephone-event type sends RFC 4733
    /// events instead.
    fn send_dtmf(
        &mut self,
        due: Instant,
        slot: &DtmfSlot,
    ) -> impl Future<Output = Result<Sent, LegError>> {
        self.send_frame(due, &slot.mulaw, None)
    }

    /// Hand the caller to `target` (a blind transfer, decision 0033) and
    /// answer on `done` when it is known how that went. It must not wait:
    /// the leg passes the request to its signalling side. By default the
    /// leg cannot, and says so.
    fn transfer(&mut self, target: TransferTarget, done: TransferDone) {
        let _ = target;
        let _ = done.send(TransferOutcome::NotSupported {
            reason: "this kind of call cannot be transferred".into(),
        });
    }

    /// Something the caller may want to see. It must not wait: a leg that
    /// cannot pass it on drops it. By default, ignored.
    fn notice(&mut self, _notice: LegNotice<'_>) {}
}
