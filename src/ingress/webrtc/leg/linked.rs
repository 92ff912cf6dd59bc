//! The WebRTC leg linked to a live call's room (decision 0024): a
//! browser joins an existing call as monitor, coach or rep. The same str0m
//! shell as the caller leg, with Opus at 16 kHz straight into the room:
//! frames up through the leg's [`LegPort`], the room's mix for this leg
//! down, encoded and written as soon as it comes (the room paces it on
//! the call's clock).

use std::collections::VecDeque;

use str0m::media::{Frequency, MediaTime};
use str0m::Input;
use tokio::time::Instant;

use super::{sleep_opt, WebRtcLeg, WebRtcParts};
use crate::call::leg::{CallerLeg, LegEvent};
use crate::call::room::{LegLink, LegPort};
use crate::ingress::webrtc::codec::{WideOpus, RTP_TICKS_PER_FRAME};
use crate::media::frame::Frame;

/// The wideband side of a linked leg.
#[derive(Debug)]
pub(super) struct Wide {
    codec: WideOpus,
    frames: VecDeque<Frame>,
    /// Frames written: the RTP clock of what we send.
    written: u64,
}

/// What the linked leg's loop hears from its browser.
// Nearly always a frame: boxing it would allocate per frame.
#[allow(clippy::large_enum_variant)]
enum Heard {
    Frame(Frame),
    Ended(String),
}

/// A [`LegLink`] for a browser whose offer `parts` accepted: its edge task
/// runs on the call's worker and ends when the browser leaves (the room
/// detaches it) or the leg is detached (the page is told `hangup`).
pub fn link(parts: WebRtcParts) -> LegLink {
    LegLink::new("webrtc", move |port: LegPort| async move {
        let leg = match WebRtcLeg::new(parts, Instant::now()).and_then(|mut leg| {
            leg.wide = Some(Wide {
                codec: WideOpus::new()?,
                frames: VecDeque::with_capacity(8),
                written: 0,
            });
            Ok(leg)
        }) {
            Ok(leg) => leg,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the linked WebRTC leg");
                port.end(format!("the WebRTC leg could not start: {e}"))
                    .await;
                return;
            }
        };
        run(leg, port).await;
    })
}

async fn run(mut leg: WebRtcLeg, mut port: LegPort) {
    let ended = loop {
        tokio::select! {
            heard = leg.next_heard() => match heard {
                Heard::Frame(frame) => {
                    if port.send_frame(frame).is_err() {
                        break None;
                    }
                }
                Heard::Ended(reason) => break Some(reason),
            },
            // Cancel safe: a mix is taken only when returned.
            mix = port.next_mix() => match mix {
                Some(mix) => leg.write_wide(&mix),
                None => break None,
            },
        }
    };
    match ended {
        // The browser left: the room detaches it.
        Some(reason) => {
            tracing::info!(%reason, "linked WebRTC leg ended");
            port.end(reason).await;
        }
        None => {
            leg.ended
                .get_or_insert_with(|| "detached from the call".into());
        }
    }
    leg.hang_up().await;
}

impl WebRtcLeg {
    /// Decodes a packet of the browser's audio at 16 kHz.
    pub(super) fn on_wide_data(&mut self, packet: &[u8]) {
        if let Some(wide) = &mut self.wide {
            if let Err(e) = wide.codec.decode(packet, &mut wide.frames) {
                tracing::debug!(error = %e, "skipped an Opus packet");
            }
        }
    }

    /// The next frame from the browser, or why it ended. Cancel safe, as
    /// `next_event` is.
    async fn next_heard(&mut self) -> Heard {
        loop {
            if let Some(frame) = self.wide.as_mut().and_then(|w| w.frames.pop_front()) {
                return Heard::Frame(frame);
            }
            if let Some(event) = self.pending.pop_front() {
                match event {
                    LegEvent::Ended(reason) => return Heard::Ended(reason),
                    // Connected, or 8 kHz audio a linked leg never decodes.
                    _ => continue,
                }
            }
            let wake = self.drive();
            if !self.pending.is_empty() || self.wide.as_ref().is_some_and(|w| !w.frames.is_empty())
            {
                continue;
            }
            let give_up_by = self.give_up_by();
            tokio::select! {
                received = self.socket.recv_from(&mut self.buf[..]) => {
                    if let Ok((n, source)) = received {
                        self.on_datagram(n, source);
                    }
                }
                control = self.control.recv() => self.on_control(control),
                () = sleep_opt(wake) => {
                    let _ = self.rtc.handle_input(Input::Timeout(Instant::now().into_std()));
                }
                () = sleep_opt(give_up_by) => self.give_up(),
            }
        }
    }

    /// Encodes one mix and writes it now (the room paced it).
    fn write_wide(&mut self, mix: &Frame) {
        let Some((mid, params)) = self.audio else {
            return;
        };
        if !self.connected || self.ended.is_some() {
            return;
        }
        let Some(wide) = &mut self.wide else { return };
        let n = match wide.codec.encode(mix.samples(), &mut self.packet[..]) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "mix not sent to the linked leg");
                return;
            }
        };
        let rtp_time = MediaTime::new(
            wide.written * RTP_TICKS_PER_FRAME,
            Frequency::FORTY_EIGHT_KHZ,
        );
        wide.written += 1;
        let Some(writer) = self.rtc.writer(mid) else {
            return;
        };
        if let Err(e) = writer.write(
            params.pt(),
            Instant::now().into_std(),
            rtp_time,
            &self.packet[..n],
        ) {
            tracing::debug!(error = %e, "WebRTC write failed");
        }
        self.drive();
    }
}
