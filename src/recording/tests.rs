use std::time::{Duration, SystemTime};

use super::*;
use crate::media::g711::ulaw_encode;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "warmline-rec-{name}-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn wait_for(path: &Path) {
    for _ in 0..200 {
        if path.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{} never appeared", path.display());
}

fn frame(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| ulaw_encode(s)).collect()
}

#[test]
fn a_recording_is_stereo_8k_with_the_caller_left_and_what_the_caller_heard_right() {
    let dir = temp_dir("lr");
    let recorder = Recorder::start(RecorderSettings {
        dir: dir.clone(),
        retention_days: 0,
    })
    .expect("recorder");
    let call = CallIdentity::mint("test", "lr", "", "");
    let mut tap = recorder.start(&call).expect("a tap");
    // 10 frames: the caller loud on even frames, the agent on odd ones;
    // the heard frames arrive before the caller's, as on a real call.
    for i in 0..10u64 {
        let level = if i % 2 == 1 { 8_000 } else { 0 };
        tap.heard(Duration::from_millis(20 * i), &frame(&[level; 160]));
    }
    for i in 0..10u64 {
        let level = if i % 2 == 0 { -8_000 } else { 0 };
        tap.caller(Duration::from_millis(20 * i + 3), &frame(&[level; 160]));
    }
    let url = tap.finish();
    assert_eq!(url, format!("/api/v1/recordings/{}.wav", call.id));
    let path = recorder.path_of(&call.id);
    wait_for(&path);
    let mut reader = hound::WavReader::open(&path).expect("a WAV");
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8_000, 16)
    );
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    assert_eq!(samples.len(), 10 * 320);
    for i in 0..10usize {
        let (left, right) = (samples[i * 320 + 100], samples[i * 320 + 101]);
        if i % 2 == 0 {
            assert!(left < -7_000 && right == 0, "frame {i}: {left} {right}");
        } else {
            assert!(left == 0 && right > 7_000, "frame {i}: {left} {right}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_frame_is_silence_and_the_file_keeps_time() {
    let dir = temp_dir("gap");
    let recorder = Recorder::start(RecorderSettings {
        dir: dir.clone(),
        retention_days: 0,
    })
    .expect("recorder");
    let call = CallIdentity::mint("test", "gap", "", "");
    let mut tap = recorder.start(&call).expect("a tap");
    tap.heard(Duration::from_millis(0), &frame(&[5_000; 160]));
    // Slots 1–3 never arrive.
    tap.heard(Duration::from_millis(80), &frame(&[5_000; 160]));
    drop(tap);
    let path = recorder.path_of(&call.id);
    wait_for(&path);
    let samples: Vec<i16> = hound::WavReader::open(&path)
        .expect("a WAV")
        .samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    assert_eq!(samples.len(), 5 * 320);
    assert!(samples[1] > 4_000 && samples[4 * 320 + 1] > 4_000);
    assert!(samples[320..4 * 320].iter().all(|&s| s == 0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_sweep_deletes_recordings_older_than_the_retention_and_keeps_the_rest() {
    let dir = temp_dir("sweep");
    let old = dir.join("01890a5d-ac96-774b-bcce-b302099a8057.wav");
    let leftover = dir.join("01890a5d-ac96-774b-bcce-b302099a8058.wav.part");
    let young = dir.join("01890a5d-ac96-774b-bcce-b302099a8059.wav");
    let other = dir.join("notes.txt");
    let foreign = dir.join("holiday-song.wav");
    for path in [&old, &leftover, &young, &other, &foreign] {
        std::fs::write(path, b"x").expect("write");
    }
    let now = SystemTime::now();
    let ten_days_ago = now - Duration::from_secs(10 * 86_400);
    for path in [&old, &leftover, &other, &foreign] {
        let file = File::options().write(true).open(path).expect("open");
        file.set_modified(ten_days_ago).expect("mtime");
    }
    let deleted = sweep(&dir, Duration::from_secs(7 * 86_400), now);
    assert_eq!(deleted, 2);
    assert!(!old.exists() && !leftover.exists());
    assert!(young.exists());
    assert!(
        other.exists() && foreign.exists(),
        "only recordings are swept"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
