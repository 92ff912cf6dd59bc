//! DTMF talk-off: runs the in-band detector (through μ-law, as on a trunk)
//! over every recorded Asterisk prompt under DIR (recursively) and counts digits it
//! reports in speech. Every one is a false digit.
//!
//! Run: `cargo run --release --example dtmf_talkoff [DIR]`
//! (default DIR: /usr/share/asterisk/sounds/en_US_f_Allison, from
//! asterisk-core-sounds-en-wav, installed by scripts/install-deps).

use warmline::media::dtmf::{InbandConfig, InbandDetector};
use warmline::media::frame::{Frame, MediaTime, SampleRate};
use warmline::media::g711::{ulaw_decode, ulaw_encode};

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/usr/share/asterisk/sounds/en_US_f_Allison".to_owned());
    let mut files = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(&dir)];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            eprintln!("cannot read {}", d.display());
            std::process::exit(2);
        };
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "wav") {
                files.push(path);
            }
        }
    }
    files.sort();
    let (mut seconds, mut checked, mut false_digits) = (0.0f64, 0usize, Vec::new());
    for path in &files {
        let Ok(mut reader) = hound::WavReader::open(path) else {
            continue;
        };
        let spec = reader.spec();
        if spec.sample_rate != 8_000 || spec.channels != 1 || spec.bits_per_sample != 16 {
            continue;
        }
        let samples: Vec<i16> = reader.samples::<i16>().map_while(Result::ok).collect();
        let mut detector = InbandDetector::new(InbandConfig::default());
        for (i, chunk) in samples.chunks_exact(160).enumerate() {
            let through_ulaw: Vec<i16> =
                chunk.iter().map(|&s| ulaw_decode(ulaw_encode(s))).collect();
            let Ok(frame) =
                Frame::from_samples(SampleRate::Hz8000, MediaTime(i as u64 * 160), &through_ulaw)
            else {
                continue;
            };
            if let Some(d) = detector.push(&frame) {
                false_digits.push(format!("{} @{} ms: {}", path.display(), i * 20, d.digit));
            }
        }
        seconds += samples.len() as f64 / 8_000.0;
        checked += 1;
    }
    println!(
        "{checked} prompts, {seconds:.0} s of speech, {} false digits",
        false_digits.len()
    );
    for d in &false_digits {
        println!("  {d}");
    }
}
