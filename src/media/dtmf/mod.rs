//! DTMF: RFC 4733 telephone events (receive and send), an in-band
//! Goertzel detector for G.711 audio, and in-band tone generation.
//!
//! Both receivers are sans-IO: they take packets or frames with their
//! timestamps and report one [`DigitEvent`] per key press.

mod inband;
mod rfc4733;
mod tones;

pub use inband::{InbandConfig, InbandDetector};
pub use rfc4733::{DtmfReceiver, DtmfSender, TelephoneEvent, TELEPHONE_EVENT_BYTES};
pub use tones::{DialKey, ToneFrame, ToneSequence, ToneTiming, TONE_FRAME_SAMPLES};

/// A DTMF key: 0–9, `*`, `#`, A–D (RFC 4733 events 0–15).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Digit(u8);

impl Digit {
    /// All sixteen keys in event-code order.
    pub const ALL: [char; 16] = [
        '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
    ];

    /// The digit for an RFC 4733 event code, if it is one of the 16 keys.
    pub fn from_event(code: u8) -> Option<Digit> {
        (code < 16).then_some(Digit(code))
    }

    /// The digit for a character (`a`–`d` accepted in lower case).
    pub fn from_char(c: char) -> Option<Digit> {
        let c = c.to_ascii_uppercase();
        Digit::ALL
            .iter()
            .position(|&d| d == c)
            .map(|i| Digit(i as u8))
    }

    /// The RFC 4733 event code.
    pub fn event_code(self) -> u8 {
        self.0
    }

    /// The key as a character.
    pub fn as_char(self) -> char {
        Digit::ALL[usize::from(self.0)]
    }

    /// The (low, high) tone pair in Hz.
    pub fn tones(self) -> (f32, f32) {
        const LOW: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
        const HIGH: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
        let (row, col) = match self.as_char() {
            '1' => (0, 0),
            '2' => (0, 1),
            '3' => (0, 2),
            'A' => (0, 3),
            '4' => (1, 0),
            '5' => (1, 1),
            '6' => (1, 2),
            'B' => (1, 3),
            '7' => (2, 0),
            '8' => (2, 1),
            '9' => (2, 2),
            'C' => (2, 3),
            '*' => (3, 0),
            '0' => (3, 1),
            '#' => (3, 2),
            _ => (3, 3), // 'D'
        };
        (LOW[row], HIGH[col])
    }
}

impl std::fmt::Display for Digit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// One key press.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigitEvent {
    /// The key.
    pub digit: Digit,
    /// Start, in samples of the stream's clock (RTP timestamp for RFC 4733).
    pub start: u64,
    /// Duration in samples.
    pub duration: u32,
}

/// Errors from parsing telephone events.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DtmfError {
    /// The payload is shorter than one 4-byte event.
    #[error("telephone-event payload of {0} bytes; at least 4 are needed")]
    TooShort(usize),
}
