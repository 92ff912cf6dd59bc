//! The rep's audio (decision 0029): the softphone's `offer` on `/rep/ws`
//! after `accept` becomes a linked WebRTC leg (Opus at 16 kHz straight
//! into the room, as a `join` does) that the call's room attaches with the
//! role `rep` when the escalation asks (`handoff::RepMedia`). Its
//! candidates go to the leg; the leg's `state` comes back to the page.

use std::net::IpAddr;

use tokio::sync::mpsc;

use super::leg::Control;
use super::ports::PortRange;
use super::rep_signal::RepServerMessage;
use super::signal::ServerMessage;
use super::WebRtcError;
use crate::handoff::{Handoff, RepId};

/// Control messages from the page in flight to the rep's leg.
const CONTROL_QUEUE: usize = 16;
/// Messages from the rep's leg to the page.
const TO_PAGE_QUEUE: usize = 16;

/// Where reps' audio legs get their media ports and address.
#[derive(Clone, Debug)]
pub struct RepAudio {
    /// Media ports (`[webrtc]`'s range, shared with browser callers).
    pub ports: PortRange,
    /// The address offered to the rep's browser.
    pub public_ip: IpAddr,
}

/// The rep's audio leg as the signalling socket sees it.
#[derive(Debug)]
pub(super) struct RepLeg {
    control: mpsc::Sender<Control>,
    from_leg: mpsc::Receiver<ServerMessage>,
}

impl RepLeg {
    /// Passes a trickled candidate on (waits for room: control).
    pub(super) async fn candidate(&self, candidate: String) {
        if !candidate.is_empty() {
            let _ = self.control.send(Control::Candidate(candidate)).await;
        }
    }

    /// The next message for the page: the leg's `state`; `None` once the
    /// leg is gone.
    pub(super) async fn next_for_page(&mut self) -> Option<RepServerMessage> {
        loop {
            match self.from_leg.recv().await? {
                ServerMessage::State { state } => return Some(RepServerMessage::State { state }),
                // Transcript lines and the like are the caller page's.
                _ => continue,
            }
        }
    }

    /// The rep's page is leaving: the leg ends.
    pub(super) async fn end(&self, reason: &str) {
        let _ = self.control.send(Control::Ended(reason.to_owned())).await;
    }
}

/// Accepts the rep's offer for `call_id` and hands the leg to the call's
/// room through the handoff's rendezvous; returns the SDP answer and the
/// socket's side of the leg.
pub(super) fn offer(
    audio: &RepAudio,
    handoff: &Handoff,
    rep: &RepId,
    call_id: &str,
    sdp: &str,
) -> Result<(String, RepLeg), WebRtcError> {
    let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
    let (page_tx, page_rx) = mpsc::channel(TO_PAGE_QUEUE);
    let (answer, parts) =
        super::accept_sdp(&audio.ports, audio.public_ip, sdp, control_rx, page_tx)?;
    handoff
        .rep_media()
        .offer(rep, call_id, super::leg::link(parts));
    tracing::info!(%rep, call = %call_id, "the rep's audio offer was accepted");
    Ok((
        answer,
        RepLeg {
            control: control_tx,
            from_leg: page_rx,
        },
    ))
}
