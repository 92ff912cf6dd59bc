//! Never panic, whatever the bytes. A small deterministic xorshift stands
//! in for a fuzzer so this runs in every `cargo test`.

use super::super::*;
use super::*;
use std::net::IpAddr;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Everything a caller might do with a parsed body. If it parses, it must
/// also serialise to something that parses back to the same value.
fn exercise(bytes: &[u8]) {
    let Ok(parsed) = SessionDescription::parse(bytes) else {
        return;
    };
    let text = parsed.to_string();
    assert_eq!(
        SessionDescription::parse(text.as_bytes()).as_ref(),
        Ok(&parsed),
        "{text}"
    );
    let local = LocalMedia::new(IpAddr::from([192, 0, 2, 9]), 40000, 1);
    if let Ok(n) = answer(&parsed, &local) {
        assert_eq!(sdp(&n.answer.to_string()), n.answer);
    }
    let _ = accept_answer(&offer(&local), &parsed);
    let _ = classify_reoffer(&parsed, &parsed);
    for m in &parsed.media {
        let _ = (
            m.payload_formats(),
            m.rtcp(),
            m.ptime(),
            m.maxptime(),
            m.fmtp(101),
        );
    }
}

#[test]
fn every_truncation_of_every_fixture_never_panics() {
    for text in VALID {
        let bytes = text.as_bytes();
        for end in 0..=bytes.len() {
            exercise(&bytes[..end]);
        }
    }
}

#[test]
fn every_malformed_seed_is_rejected() {
    let seeds: [&[u8]; 4] = [
        include_bytes!("../../../fuzz/corpus/sdp/malformed_port_out_of_range.sdp"),
        include_bytes!("../../../fuzz/corpus/sdp/malformed_missing_timing.sdp"),
        include_bytes!("../../../fuzz/corpus/sdp/malformed_bad_origin.sdp"),
        include_bytes!("../../../fuzz/corpus/sdp/malformed_nul_byte.sdp"),
    ];
    let errors: Vec<_> = seeds
        .iter()
        .map(|s| SessionDescription::parse(s).unwrap_err())
        .collect();
    assert_eq!(errors[0], SdpError::PortOutOfRange { line: 6, kind: 'm' });
    assert_eq!(errors[1], SdpError::Missing { kind: 't' });
    assert_eq!(errors[2].line(), Some(2));
    assert_eq!(errors[3], SdpError::ControlCharacter { line: 3, kind: 's' });
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3000 {
        let len = rng.below(300);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        exercise(&bytes);
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    // Mostly-valid input reaches the deep code paths that random bytes
    // never get past `v=0`.
    let alphabet = b"=: /0123456789\r\n\xffamvcot-.";
    let mut rng = XorShift(0x0123_4567_89AB_CDEF);
    for round in 0..6000 {
        let mut bytes = VALID[round % VALID.len()].as_bytes().to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(bytes.len());
            match rng.below(3) {
                0 => bytes[at] = alphabet[rng.below(alphabet.len())],
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, alphabet[rng.below(alphabet.len())]),
            }
        }
        exercise(&bytes);
    }
}
