//! What a caller on hold hears: the hold audio, looped, and their queue
//! position now and then, as 20 ms frames of 8 kHz PCM for the room's hold
//! source (decision 0021's `RoutePolicy` row "hold").
//!
//! Sans-IO and allocation-free per frame: the room pulls one frame per
//! tick with [`HoldSource::next_frame`]; [`HoldSource::announce`] queues
//! a position prompt, during which the hold audio pauses and after which
//! it resumes where it stopped (Asterisk's queue announcements do the
//! same with music on hold).
//!
//! Without `[handoff] hold_wav`, the hold audio is a soft two-note chime
//! every 3 s, so the caller knows the line is alive; without
//! `position_wavs`, the positions are recorded prompts built in (the
//! Asterisk core sounds, CC-BY-SA-3.0, fixtures/audio/ATTRIBUTION.md).

use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::config::handoff::{load_prompt_wav, MAX_HOLD_SECS, MAX_POSITION_SECS};
use crate::config::HandoffConfig;

/// Samples per 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;
/// Length of the built-in hold pattern's loop, samples (3 s).
const CHIME_LOOP: usize = 24_000;
/// Peak of the built-in chime (about −26 dBFS: calm, not silence).
const CHIME_PEAK: f32 = 1_600.0;

const BUILTIN_POSITIONS: [&[u8]; 6] = [
    include_bytes!("../../fixtures/audio/handoff_position_1.wav"),
    include_bytes!("../../fixtures/audio/handoff_position_2.wav"),
    include_bytes!("../../fixtures/audio/handoff_position_3.wav"),
    include_bytes!("../../fixtures/audio/handoff_position_4.wav"),
    include_bytes!("../../fixtures/audio/handoff_position_5.wav"),
    include_bytes!("../../fixtures/audio/handoff_position_later.wav"),
];

/// The hold audio and the position prompts, loaded once per process.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldPrompts {
    hold: Arc<[i16]>,
    positions: Vec<Arc<[i16]>>,
}

impl HoldPrompts {
    /// The built-in chime and position prompts.
    pub fn builtin() -> HoldPrompts {
        HoldPrompts {
            hold: chime().into(),
            positions: BUILTIN_POSITIONS
                .iter()
                .map(|bytes| decode_builtin(bytes).into())
                .collect(),
        }
    }

    /// `hold_wav` and `position_wavs` from the config (already checked by
    /// `warmline check`), the built-ins for what it leaves unset.
    pub fn from_config(config: &HandoffConfig) -> Result<HoldPrompts, String> {
        let mut prompts = HoldPrompts::builtin();
        if let Some(path) = &config.hold_wav {
            let hold = load_prompt_wav("handoff.hold_wav", path, MAX_HOLD_SECS)?;
            if hold.is_empty() {
                return Err(format!("handoff.hold_wav {} is empty", path.display()));
            }
            prompts.hold = hold.into();
        }
        if !config.position_wavs.is_empty() {
            prompts.positions = config
                .position_wavs
                .iter()
                .map(|p| {
                    load_prompt_wav("handoff.position_wavs", p, MAX_POSITION_SECS).map(Into::into)
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(prompts)
    }

    /// The prompt for 1-based `position`: past the list, its last entry.
    pub fn position(&self, position: usize) -> Option<&Arc<[i16]>> {
        let index = position
            .saturating_sub(1)
            .min(self.positions.len().checked_sub(1)?);
        self.positions.get(index)
    }

    /// The hold loop.
    pub fn hold(&self) -> &[i16] {
        &self.hold
    }
}

/// Decodes an embedded prompt; they are checked by a test, so a failure
/// here is a build defect and yields silence rather than a panic.
fn decode_builtin(bytes: &[u8]) -> Vec<i16> {
    hound::WavReader::new(Cursor::new(bytes))
        .ok()
        .map(|r| r.into_samples::<i16>().filter_map(Result::ok).collect())
        .unwrap_or_default()
}

/// Two soft notes (A4 then C#5, 250 ms each, 20 ms raised-cosine edges)
/// and 2.5 s of quiet.
fn chime() -> Vec<i16> {
    let mut out = vec![0i16; CHIME_LOOP];
    let note = 2_000; // 250 ms
    let edge = 160; // 20 ms
    for (start, freq) in [(0usize, 440.0f32), (note, 554.37)] {
        for i in 0..note {
            let t = i as f32 / 8_000.0;
            let ramp = if i < edge {
                0.5 - 0.5 * (std::f32::consts::PI * i as f32 / edge as f32).cos()
            } else if i >= note - edge {
                0.5 - 0.5 * (std::f32::consts::PI * (note - i) as f32 / edge as f32).cos()
            } else {
                1.0
            };
            let v = CHIME_PEAK * ramp * (2.0 * std::f32::consts::PI * freq * t).sin();
            out[start + i] = v as i16;
        }
    }
    out
}

/// One caller's hold audio. See the module docs.
#[derive(Debug)]
pub struct HoldSource {
    prompts: Arc<HoldPrompts>,
    hold_at: usize,
    prompt: Option<(Arc<[i16]>, usize)>,
}

impl HoldSource {
    /// Hold audio from the start of the loop.
    pub fn new(prompts: Arc<HoldPrompts>) -> HoldSource {
        HoldSource {
            prompts,
            hold_at: 0,
            prompt: None,
        }
    }

    /// Plays the prompt for `position` next, replacing one still playing
    /// (the newer position is the true one).
    pub fn announce(&mut self, position: usize) {
        if let Some(prompt) = self.prompts.position(position) {
            self.prompt = Some((prompt.clone(), 0));
        }
    }

    /// Whether a position prompt is playing.
    pub fn is_announcing(&self) -> bool {
        self.prompt.is_some()
    }

    /// The next 20 ms: the prompt while one plays (the hold audio waits),
    /// the hold loop otherwise.
    pub fn next_frame(&mut self, out: &mut [i16; FRAME]) {
        if let Some((prompt, at)) = &mut self.prompt {
            let n = FRAME.min(prompt.len() - *at);
            out[..n].copy_from_slice(&prompt[*at..*at + n]);
            out[n..].fill(0);
            *at += n;
            if *at >= prompt.len() {
                self.prompt = None;
            }
            return;
        }
        let hold = &self.prompts.hold;
        for sample in out.iter_mut() {
            *sample = hold[self.hold_at];
            self.hold_at = (self.hold_at + 1) % hold.len();
        }
    }
}

/// A [`HoldSource`] as the room's hold source: its 8 kHz frames
/// converted to the room's 16 kHz, and position prompts asked for from
/// the main runtime through a [`HoldAnnouncer`] (one atomic, so the media
/// worker never waits on the escalation).
pub struct HoldFrames {
    source: HoldSource,
    up: crate::media::halfband::Upsampler2,
    announce: Arc<AtomicUsize>,
}

/// Asks the hold source of a room for a position prompt.
#[derive(Clone, Debug)]
pub struct HoldAnnouncer(Arc<AtomicUsize>);

impl HoldAnnouncer {
    /// The caller hears their 1-based `position` next.
    pub fn announce(&self, position: usize) {
        self.0.store(position.max(1), Ordering::Release);
    }
}

impl HoldFrames {
    /// Hold audio for one call, and the handle that announces positions.
    pub fn new(prompts: Arc<HoldPrompts>) -> (HoldFrames, HoldAnnouncer) {
        let announce = Arc::new(AtomicUsize::new(0));
        let frames = HoldFrames {
            source: HoldSource::new(prompts),
            up: crate::media::halfband::Upsampler2::new(),
            announce: announce.clone(),
        };
        (frames, HoldAnnouncer(announce))
    }
}

impl crate::call::room::FrameSource for HoldFrames {
    fn next_frame(&mut self, out: &mut [i16]) -> bool {
        let position = self.announce.swap(0, Ordering::Acquire);
        if position > 0 {
            self.source.announce(position);
        }
        let mut frame = [0i16; FRAME];
        self.source.next_frame(&mut frame);
        if out.len() == 2 * FRAME {
            self.up.process(&frame, out);
        } else {
            out.fill(0);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rms(samples: &[i16]) -> f64 {
        (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
    }

    #[test]
    fn the_built_in_prompts_are_8_khz_speech_within_their_limits() {
        let prompts = HoldPrompts::builtin();
        assert_eq!(prompts.positions.len(), 6);
        for p in &prompts.positions {
            assert!(p.len() > 8_000 * 2, "at least 2 s of speech");
            assert!(p.len() <= 8_000 * MAX_POSITION_SECS as usize);
            assert!(rms(p) > 500.0, "speech, not silence: rms {}", rms(p));
        }
    }

    #[test]
    fn the_built_in_hold_audio_is_soft_but_not_silence_and_loops_every_3_s() {
        let prompts = HoldPrompts::builtin();
        let peak = prompts.hold().iter().map(|s| s.unsigned_abs()).max();
        assert!(peak.is_some_and(|p| p > 1_000 && p <= 1_600), "{peak:?}");
        let mut source = HoldSource::new(Arc::new(prompts.clone()));
        let mut first = [0i16; FRAME];
        let mut frame = [0i16; FRAME];
        source.next_frame(&mut first);
        for _ in 1..CHIME_LOOP / FRAME {
            source.next_frame(&mut frame);
        }
        source.next_frame(&mut frame);
        assert_eq!(frame, first, "the loop restarts after 3 s");
    }

    #[test]
    fn an_announcement_pauses_the_hold_audio_which_resumes_where_it_stopped() {
        let prompts = Arc::new(HoldPrompts {
            hold: (1..=400).collect::<Vec<i16>>().into(),
            positions: vec![vec![-7i16; 200].into(), vec![-9i16; 100].into()],
        });
        let mut source = HoldSource::new(prompts);
        let mut frame = [0i16; FRAME];
        source.next_frame(&mut frame);
        assert_eq!(frame[0], 1);
        source.announce(1);
        assert!(source.is_announcing());
        source.next_frame(&mut frame);
        assert!(frame.iter().all(|&s| s == -7));
        source.next_frame(&mut frame);
        assert!(frame[..40].iter().all(|&s| s == -7));
        assert!(
            frame[40..].iter().all(|&s| s == 0),
            "the prompt's tail is padded"
        );
        assert!(!source.is_announcing());
        source.next_frame(&mut frame);
        assert_eq!(frame[0], 161, "hold resumes at the sample it paused on");
        // Past the list: the last prompt.
        source.announce(7);
        source.next_frame(&mut frame);
        assert!(frame[..100].iter().all(|&s| s == -9));
    }

    #[test]
    fn the_rooms_hold_frames_are_the_hold_source_at_16_khz_and_announce_from_afar() {
        use crate::call::room::FrameSource;
        let prompts = Arc::new(HoldPrompts {
            hold: vec![1_000i16; 400].into(),
            positions: vec![vec![-3_000i16; 800].into()],
        });
        let (mut frames, announcer) = HoldFrames::new(prompts);
        let mut out = [0i16; 2 * FRAME];
        for _ in 0..3 {
            assert!(frames.next_frame(&mut out));
        }
        // Past the converter's start-up, a constant stays that constant.
        assert!(
            out[100..].iter().all(|&s| (s - 1_000).abs() < 30),
            "{:?}",
            &out[..8]
        );
        announcer.announce(1);
        for _ in 0..3 {
            assert!(frames.next_frame(&mut out));
        }
        assert!(
            out[100..].iter().all(|&s| (s + 3_000).abs() < 90),
            "{:?}",
            &out[..8]
        );
    }

    #[test]
    fn configured_wavs_replace_the_built_ins() {
        let dir = std::env::temp_dir().join(format!("warmline-hold-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let write = |name: &str, value: i16, n: usize| {
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: 8_000,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let path = dir.join(name);
            let mut w = hound::WavWriter::create(&path, spec).expect("create");
            for _ in 0..n {
                w.write_sample(value).expect("write");
            }
            w.finalize().expect("finalize");
            path
        };
        let config = HandoffConfig {
            hold_wav: Some(write("hold.wav", 300, 800)),
            position_wavs: vec![write("first.wav", 5, 400)],
            ..HandoffConfig::default()
        };
        let prompts = HoldPrompts::from_config(&config).expect("loads");
        assert_eq!(prompts.hold().len(), 800);
        assert_eq!(prompts.position(3).map(|p| p[0]), Some(5));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
