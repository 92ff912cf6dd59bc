//! DTMF against real input: SIPp's RFC 2833 captures, in-band tone fixtures,
//! and speech fixtures that must produce no digits.

mod support {
    pub mod pcap;
    pub mod wav;
}

use std::path::Path;

use warmline::media::dtmf::{Digit, DtmfReceiver, DtmfSender, InbandConfig, InbandDetector};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn sipp_rfc2833_captures_decode_to_their_digit_exactly_once() {
    let cases = [
        ("0", '0'),
        ("1", '1'),
        ("2", '2'),
        ("3", '3'),
        ("4", '4'),
        ("5", '5'),
        ("6", '6'),
        ("7", '7'),
        ("8", '8'),
        ("9", '9'),
        ("star", '*'),
        ("pound", '#'),
    ];
    for (name, want) in cases {
        let path = root().join(format!("fixtures/dtmf/dtmf_2833_{name}.pcap"));
        let bytes = std::fs::read(&path).expect("capture");
        let packets = support::pcap::read_rtp(&bytes).expect("parses");
        assert!(packets.len() >= 4, "{name}: {} packets", packets.len());
        let mut rx = DtmfReceiver::new();
        let digits: Vec<_> = packets
            .iter()
            .filter(|p| p.payload_type == 101)
            .filter_map(|p| rx.push(p.timestamp, &p.payload).expect("valid event"))
            .collect();
        assert_eq!(digits.len(), 1, "{name}: {digits:?}");
        assert_eq!(digits[0].digit.as_char(), want, "{name}");
        assert_eq!(digits[0].duration, 2240, "{name}: 280 ms at 8 kHz");
    }
}

#[test]
fn a_through_d_which_sipp_has_no_captures_for_round_trip_through_sender_and_receiver() {
    let mut rx = DtmfReceiver::new();
    let sent: String = "ABCD".chars().collect();
    let mut got = String::new();
    for (i, c) in sent.chars().enumerate() {
        let digit = Digit::from_char(c).expect("key");
        for p in DtmfSender::default().packets(digit, 10_000 * i as u32) {
            if let Some(d) = rx.push(p.timestamp, &p.payload).expect("valid") {
                got.push(d.digit.as_char());
            }
        }
    }
    assert_eq!(got, sent);
}

#[test]
fn in_band_fixtures_give_their_digits_and_no_other_fixture_gives_any() {
    let dir = root().join("fixtures/audio");
    let mut checked_speech = 0;
    let mut checked_dtmf = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|x| x != "json") || path.ends_with("index.json") {
            continue;
        }
        let label: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("label")).expect("json");
        let wav = dir.join(label["file"].as_str().expect("file"));
        let mut detector = InbandDetector::new(InbandConfig::default());
        // Through μ-law, as the audio arrives on a trunk.
        let got: String = support::wav::frames_8k(&wav)
            .iter()
            .map(|f| {
                let mut f = f.clone();
                for s in f.samples_mut() {
                    *s = warmline::media::g711::ulaw_decode(warmline::media::g711::ulaw_encode(*s));
                }
                f
            })
            .filter_map(|f| detector.push(&f))
            .map(|d| d.digit.as_char())
            .collect();
        let want = label["digits"].as_str().unwrap_or("");
        assert_eq!(got, want, "{}", label["file"]);
        if want.is_empty() {
            if !label["speech"].as_array().expect("speech").is_empty() {
                checked_speech += 1;
            }
        } else {
            checked_dtmf += 1;
        }
    }
    assert!(
        checked_speech >= 30,
        "only {checked_speech} speech fixtures"
    );
    assert_eq!(checked_dtmf, 2);
}
