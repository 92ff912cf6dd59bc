//! One ring of a SIP rep: the outbound INVITE for a call the escalation
//! offers the rep, and the rep's side of it until its dialog ends.
//!
//! Runs on the main runtime and talks to the escalation only through the
//! hub's answers (`accept`, `decline`, `hangup`, `hand_back`) and to the
//! room only through the rep media rendezvous (the linked leg is offered
//! before `accept` is answered, so the room finds it waiting).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use warmline_sip::dialog::uac::{EndReason, UacEvent};
use warmline_sip::sdp::{accept_answer, offer, LocalMedia, SessionDescription};

use super::edge::{self, EdgeEvent, EdgeParts};
use super::Shared;
use crate::handoff::{RepId, RepInput, ScreenPop};
use crate::ingress::sip::rtp_session::RtpSessionConfig;
use crate::ingress::sip::uac::PlaceCall;
use crate::media::g711::Law;

/// Why a rep call could not be placed or bridged (logged; the escalation
/// hears `decline`).
#[derive(Debug, thiserror::Error)]
pub(super) enum RepCallError {
    /// No address for the rep's phone: give the rep a `sip_uri` (or let
    /// the phone register).
    #[error("no SIP address for the rep")]
    NoTarget,
    /// No RTP port pair was free: widen `[sip] rtp_port_min..max`.
    #[error(transparent)]
    Ports(#[from] crate::ingress::sip::ports::PortError),
    /// The random source failed: nothing can be placed safely.
    #[error(transparent)]
    Random(#[from] crate::random::RandomError),
    /// The SIP endpoint is gone or full.
    #[error(transparent)]
    Outbound(#[from] crate::ingress::sip::uac::OutboundError),
    /// The RTP socket just bound has no local address (the OS refused):
    /// check the `[sip] rtp_port_min..max` range and the host's sockets.
    #[error("the rep's RTP socket is unusable: {0}")]
    Socket(#[from] std::io::Error),
}

/// The caller's number as a SIP user part: digits and `+` only, else
/// `anonymous`.
fn presented(caller: &str) -> String {
    let user = caller.strip_prefix("sip:").unwrap_or(caller);
    let user = user.split('@').next().unwrap_or_default();
    let ok = !user.is_empty()
        && user.len() <= 32
        && user
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || (i == 0 && c == '+'));
    if ok {
        user.to_owned()
    } else {
        "anonymous".to_owned()
    }
}

/// Rings `rep` for the call on `card` until the dialog ends; `stop` is
/// the escalation cancelling the ring or ending the rep's part.
pub(super) async fn run(
    shared: Arc<Shared>,
    rep: RepId,
    card: Box<ScreenPop>,
    stop: oneshot::Receiver<()>,
) {
    let hub = shared.reps.handoff.hub().clone();
    let call_id = card.call_id.clone();
    match ring(&shared, &rep, &card, stop).await {
        Ok(()) => {}
        Err(e) => {
            tracing::warn!(%rep, call = %call_id, error = %e, "SIP rep not rung; declined");
            hub.answer(&rep, &call_id, RepInput::Decline).await;
        }
    }
}

async fn ring(
    shared: &Shared,
    rep: &RepId,
    card: &ScreenPop,
    mut stop: oneshot::Receiver<()>,
) -> Result<(), RepCallError> {
    let service = &shared.service;
    let hub = shared.reps.handoff.hub().clone();
    let now = tokio::time::Instant::now().into_std();
    let target = shared
        .reps
        .targets
        .target(rep, now)
        .ok_or(RepCallError::NoTarget)?;
    let sockets = service.ports.allocate()?;
    let rtp_port = sockets.0.local_addr()?.port();
    let ip = service.advertised_ip(target.peer);
    let mut ids = [0u8; 16];
    service.random.fill(&mut ids)?;
    let session_id = u64::from_be_bytes(ids[..8].try_into().unwrap_or_default()) >> 1;
    let our_offer = offer(&LocalMedia::new(ip, rtp_port, session_id));
    let sip_call_id = format!("wl-rep-{}", crate::random::hex(&*service.random, 12)?);
    let card_url = format!("{}/rep/calls/{}", shared.reps.card_base, card.call_id);
    let number = presented(&card.caller);
    let place = PlaceCall {
        target: target.uri.clone(),
        peer: target.peer,
        transport: target.transport,
        from_display: (number != "anonymous").then(|| number.clone()),
        from_user: number,
        call_id: sip_call_id.clone(),
        local_tag: crate::random::hex(&*service.random, 8)?,
        sdp: our_offer.to_string().into_bytes(),
        headers: vec![
            ("X-Warmline-Call-Id".to_owned(), card.call_id.clone()),
            ("X-Warmline-Card".to_owned(), card_url),
        ],
        credentials: target.credentials.clone(),
    };
    let mut events = service.outbound.place(place).await?;
    tracing::info!(%rep, call = %card.call_id, sip_call = %sip_call_id, uri = %target.uri, "ringing SIP rep");
    let mut sockets = Some(sockets);
    let (edge_tx, mut edge_events) = mpsc::channel(2);
    let mut edge_stop: Option<oneshot::Sender<()>> = None;
    let mut answered = false;
    let mut hung_up = false;
    let answer = |input: RepInput| {
        let hub = hub.clone();
        let (rep, call_id) = (rep.clone(), card.call_id.clone());
        async move { hub.answer(&rep, &call_id, input).await }
    };
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                match event {
                    UacEvent::Provisional { status, .. } => {
                        tracing::info!(%rep, sip_call = %sip_call_id, status, "SIP rep's phone rings");
                    }
                    UacEvent::Answered { .. } if hung_up => {
                        // An answer that raced our CANCEL: the UAC hangs it up.
                    }
                    UacEvent::Answered { sdp } => {
                        let media = SessionDescription::parse(&sdp)
                            .map_err(|e| e.to_string())
                            .and_then(|a| accept_answer(&our_offer, &a).map_err(|e| e.to_string()));
                        let (Ok(media), Some(sockets)) = (media, sockets.take()) else {
                            // No G.711 in the phone's answer: check its codecs.
                            tracing::warn!(%rep, "the SIP rep's SDP answer is unusable; hanging up");
                            let _ = service.outbound.hang_up(&sip_call_id).await;
                            hung_up = true;
                            answer(RepInput::Decline).await;
                            continue;
                        };
                        let law = if media.payload_type == 8 { Law::Alaw } else { Law::Ulaw };
                        let mut r = [0u8; 10];
                        service.random.fill(&mut r)?;
                        let session = RtpSessionConfig {
                            payload_type: media.payload_type,
                            law,
                            telephone_event_pt: media.telephone_event_pt,
                            remote: media.remote_rtp,
                            signalling_ip: target.peer.ip(),
                            ssrc: u32::from_be_bytes([r[0], r[1], r[2], r[3]]),
                            initial_sequence: u16::from_be_bytes([r[4], r[5]]),
                            initial_timestamp: u32::from_be_bytes([r[6], r[7], r[8], r[9]]),
                            cname: format!("warmline@{ip}"),
                            jitter: service.jitter,
                            srtp: None,
                        };
                        let (stop_tx, stop_rx) = oneshot::channel();
                        edge_stop = Some(stop_tx);
                        let link = edge::link(sockets, EdgeParts {
                            session,
                            hand_back: shared.reps.hand_back.clone(),
                            media_timeout: std::time::Duration::from_secs(
                                service.config.media_timeout_secs,
                            ),
                            events: edge_tx.clone(),
                            stop: stop_rx,
                        });
                        shared.reps.handoff.rep_media().offer(rep, &card.call_id, link);
                        answered = true;
                        tracing::info!(%rep, "SIP rep answered");
                        answer(RepInput::Accept).await;
                    }
                    UacEvent::Ended(reason) => {
                        tracing::info!(%rep, ?reason, "SIP rep call over");
                        match reason {
                            EndReason::LocalBye | EndReason::Cancelled => {}
                            _ if hung_up => {}
                            EndReason::RemoteBye | EndReason::Failed(_) if answered => {
                                answer(RepInput::Hangup).await;
                            }
                            EndReason::Failed(error) => {
                                // Not reached (a transport or TLS failure,
                                // no answer in time): the TCP/TLS log line
                                // before this one says why in detail.
                                tracing::warn!(%rep, peer = %target.peer, %error, "SIP rep's phone not reached; declined");
                                answer(RepInput::Decline).await;
                            }
                            _ => {
                                answer(RepInput::Decline).await;
                            }
                        }
                        break;
                    }
                    UacEvent::ReinviteReceived { .. }
                    | UacEvent::ReinviteAnswered { .. }
                    | UacEvent::ReinviteRejected { .. }
                    | UacEvent::ReinviteAcked { .. } => {}
                }
            }
            _ = &mut stop, if !hung_up => {
                hung_up = true;
                tracing::info!(%rep, "the escalation ends the SIP rep's call");
                service.outbound.hang_up(&sip_call_id).await?;
            }
            Some(event) = edge_events.recv() => match event {
                EdgeEvent::HandBack => {
                    tracing::info!(%rep, "SIP rep pressed the hand-back keys");
                    answer(RepInput::HandBack { note: None }).await;
                }
                EdgeEvent::MediaLost if !hung_up => {
                    // The phone vanished without a BYE: the caller goes
                    // back to the AI (or, before the bridge, the rep
                    // counts as gone) and the phone gets a BYE.
                    tracing::warn!(%rep, "no RTP from the SIP rep's phone: hanging it up");
                    let note = "The rep's phone lost its audio.".to_owned();
                    answer(RepInput::HandBack { note: Some(note) }).await;
                    answer(RepInput::Hangup).await;
                    hung_up = true;
                    service.outbound.hang_up(&sip_call_id).await?;
                }
                EdgeEvent::MediaLost => {}
            },
        }
    }
    drop(edge_stop);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::presented;

    #[test]
    fn the_caller_s_number_is_presented_and_anything_else_is_anonymous() {
        assert_eq!(presented("+15559870000"), "+15559870000");
        assert_eq!(presented("sip:+15559870000@10.0.0.1"), "+15559870000");
        assert_eq!(presented("web:abc\r\nVia: x"), "anonymous");
        assert_eq!(presented(""), "anonymous");
    }
}
