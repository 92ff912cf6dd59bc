//! RFC 4733 telephone events: the 4-byte payload, a receiver that turns a
//! packet stream into one digit per key press, and a sender.
//!
//! A key press is one event: every packet of it carries the same RTP
//! timestamp (the event's start) and a growing duration; the last one has
//! the E bit and is sent three times. The receiver keys events by RTP
//! timestamp, so it reports a digit once, from whichever packet it sees
//! first with the E bit, even when the start packet (marker) was lost, and
//! reports a digit whose end packets were all lost once `poll_timeout`
//! sees it stale.

use super::{Digit, DigitEvent, DtmfError};

/// Bytes of one telephone-event payload.
pub const TELEPHONE_EVENT_BYTES: usize = 4;

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0–15 are the DTMF keys).
    pub event: u8,
    /// E bit: the last packet(s) of the event.
    pub end: bool,
    /// Volume in −dBm0 (0–63).
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first event of a payload (redundant events in RFC 2198
    /// blocks are not used by trunks we meet).
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, DtmfError> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(DtmfError::TooShort(payload.len()));
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// Encodes the event.
    pub fn encode(&self) -> [u8; TELEPHONE_EVENT_BYTES] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

#[derive(Clone, Copy, Debug)]
struct Current {
    timestamp: u32,
    digit: Option<Digit>,
    duration: u16,
    reported: bool,
}

/// Turns telephone-event packets into digits. Sans-IO.
#[derive(Clone, Debug, Default)]
pub struct DtmfReceiver {
    current: Option<Current>,
    /// Events ignored because their code is not a DTMF key.
    pub unsupported_events: u64,
}

impl DtmfReceiver {
    /// A receiver with no event in progress.
    pub fn new() -> DtmfReceiver {
        DtmfReceiver::default()
    }

    /// Takes one packet's RTP timestamp and payload; returns a digit when a
    /// key press completes.
    pub fn push(
        &mut self,
        rtp_timestamp: u32,
        payload: &[u8],
    ) -> Result<Option<DigitEvent>, DtmfError> {
        let ev = TelephoneEvent::parse(payload)?;
        let digit = Digit::from_event(ev.event);
        if digit.is_none() {
            self.unsupported_events += 1;
        }
        let mut finished = None;
        match self.current {
            Some(cur) if cur.timestamp == rtp_timestamp => {
                let mut cur = cur;
                cur.duration = cur.duration.max(ev.duration);
                if ev.end && !cur.reported {
                    cur.reported = true;
                    finished = Self::report(&cur);
                }
                self.current = Some(cur);
            }
            previous => {
                // A new event. If the previous one never ended, report it now.
                if let Some(prev) = previous.filter(|p| !p.reported) {
                    finished = Self::report(&prev);
                }
                let cur = Current {
                    timestamp: rtp_timestamp,
                    digit,
                    duration: ev.duration,
                    reported: ev.end,
                };
                if ev.end {
                    // Only end packets got through: still one digit.
                    if finished.is_none() {
                        finished = Self::report(&cur);
                    }
                }
                self.current = Some(cur);
            }
        }
        Ok(finished)
    }

    /// Reports an event whose end packets never came, once `now_ts` (the
    /// stream's current RTP time) is `timeout_samples` past its last known
    /// end.
    pub fn poll_timeout(&mut self, now_ts: u32, timeout_samples: u32) -> Option<DigitEvent> {
        let cur = self.current.as_mut()?;
        if cur.reported {
            return None;
        }
        let last = cur.timestamp.wrapping_add(u32::from(cur.duration));
        if now_ts.wrapping_sub(last) as i32 >= timeout_samples as i32 {
            cur.reported = true;
            let cur = *cur;
            return Self::report(&cur);
        }
        None
    }

    fn report(cur: &Current) -> Option<DigitEvent> {
        cur.digit.map(|digit| DigitEvent {
            digit,
            start: u64::from(cur.timestamp),
            duration: u32::from(cur.duration),
        })
    }
}

/// One packet to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboundEvent {
    /// RTP marker bit (set on the first packet).
    pub marker: bool,
    /// RTP timestamp: the event's start, the same for every packet.
    pub timestamp: u32,
    /// When to send, in samples after the first packet.
    pub send_offset: u32,
    /// The payload.
    pub payload: [u8; TELEPHONE_EVENT_BYTES],
}

/// Produces the packets of one key press (RFC 4733 §2.5.1).
#[derive(Clone, Copy, Debug)]
pub struct DtmfSender {
    /// Length of the tone, in samples (default 100 ms at 8 kHz).
    pub duration_samples: u16,
    /// Packet interval, in samples (default 20 ms).
    pub interval_samples: u16,
    /// Volume in −dBm0.
    pub volume: u8,
}

impl Default for DtmfSender {
    fn default() -> Self {
        DtmfSender {
            duration_samples: 800,
            interval_samples: 160,
            volume: 10,
        }
    }
}

impl DtmfSender {
    /// The packets for `digit` starting at RTP time `timestamp`: a start
    /// packet with the marker bit, continuation packets every interval, and
    /// the final duration three times with the E bit.
    pub fn packets(&self, digit: Digit, timestamp: u32) -> Vec<OutboundEvent> {
        let interval = self.interval_samples.max(1);
        let mut out = Vec::new();
        let mut duration = 0u16;
        while duration < self.duration_samples {
            out.push(self.packet(digit, timestamp, duration, false, out.is_empty()));
            duration = duration.saturating_add(interval).min(self.duration_samples);
        }
        for _ in 0..3 {
            out.push(self.packet(digit, timestamp, self.duration_samples, true, false));
        }
        out
    }

    fn packet(
        &self,
        digit: Digit,
        timestamp: u32,
        duration: u16,
        end: bool,
        first: bool,
    ) -> OutboundEvent {
        OutboundEvent {
            marker: first,
            timestamp,
            send_offset: u32::from(duration),
            payload: TelephoneEvent {
                event: digit.event_code(),
                end,
                volume: self.volume,
                duration,
            }
            .encode(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_digit_round_trips_through_sender_and_receiver_once() {
        let sender = DtmfSender::default();
        let mut rx = DtmfReceiver::new();
        for (i, c) in Digit::ALL.iter().enumerate() {
            let digit = Digit::from_char(*c).expect("key");
            let ts = 1_000 + i as u32 * 2_000;
            let packets = sender.packets(digit, ts);
            assert!(packets[0].marker && packets.iter().skip(1).all(|p| !p.marker));
            assert_eq!(
                packets.iter().filter(|p| p.payload[1] & 0x80 != 0).count(),
                3
            );
            let digits: Vec<_> = packets
                .iter()
                .filter_map(|p| rx.push(p.timestamp, &p.payload).expect("valid"))
                .collect();
            assert_eq!(digits.len(), 1, "{c}");
            assert_eq!(digits[0].digit, digit);
            assert_eq!(digits[0].duration, 800);
            assert_eq!(digits[0].start, u64::from(ts));
        }
    }

    #[test]
    fn a_digit_whose_start_packets_were_lost_is_still_reported_once() {
        let packets = DtmfSender::default().packets(Digit::from_char('7').expect("key"), 500);
        let mut rx = DtmfReceiver::new();
        let digits: Vec<_> = packets[3..]
            .iter()
            .filter_map(|p| rx.push(p.timestamp, &p.payload).expect("valid"))
            .collect();
        assert_eq!(digits.len(), 1);
    }

    #[test]
    fn a_digit_whose_end_packets_were_lost_is_reported_after_the_timeout() {
        let packets = DtmfSender::default().packets(Digit::from_char('#').expect("key"), 0);
        let mut rx = DtmfReceiver::new();
        for p in packets.iter().filter(|p| p.payload[1] & 0x80 == 0) {
            assert_eq!(rx.push(p.timestamp, &p.payload), Ok(None));
        }
        assert_eq!(rx.poll_timeout(1_000, 800), None);
        let d = rx.poll_timeout(1_700, 800).expect("timed out");
        assert_eq!(d.digit.as_char(), '#');
        assert_eq!(rx.poll_timeout(5_000, 800), None, "reported once");
    }

    #[test]
    fn short_payloads_are_errors_and_unknown_events_are_counted() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(rx.push(0, &[1, 2]), Err(DtmfError::TooShort(2)));
        assert_eq!(rx.push(0, &[70, 0x80, 0, 160]), Ok(None));
        assert_eq!(rx.unsupported_events, 1);
    }
}
