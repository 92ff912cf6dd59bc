//! `[call]`: what every call does about dead air: the filler while a tool
//! runs and a silent caller (decision 0017).
//!
//! The silence keys move to each `[[agents]]` table when agents land
//! (issue 12); until then this section is the one default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Longest `filler_wav` accepted (seconds).
pub const MAX_FILLER_SECS: u32 = 10;

/// `[call]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CallSection {
    /// A recorded prompt (8 kHz mono 16-bit WAV, at most 10 s, relative to
    /// the config file) played once at the start of each filler, before
    /// warmline's soft working tone. Without it, the tone alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filler_wav: Option<PathBuf>,
    /// Seconds of dead air (caller quiet, agent idle, no tool running)
    /// before the agent asks whether the caller is still there; 0: never.
    pub silence_reprompt_secs: u64,
    /// Seconds of the caller's silence before the agent says goodbye and
    /// ends the call; 0: never.
    pub silence_hangup_secs: u64,
    /// Seconds with neither side heard, while the AI holds the call,
    /// before the call is flagged "long silence" for supervisors (the
    /// live-call event `long_silence`, decision 0038); 0: never.
    pub long_silence_secs: u64,
}

impl Default for CallSection {
    fn default() -> Self {
        let call = crate::call::CallConfig::default();
        CallSection {
            filler_wav: None,
            silence_reprompt_secs: call.silence_reprompt_secs,
            silence_hangup_secs: call.silence_hangup_secs,
            long_silence_secs: call.long_silence.as_secs(),
        }
    }
}

impl CallSection {
    /// Makes `filler_wav` relative to the config file's directory.
    pub fn resolve(&mut self, origin: &Path) {
        if let Some(file) = &self.filler_wav {
            if file.is_relative() {
                let base = origin.parent().unwrap_or(Path::new("."));
                self.filler_wav = Some(base.join(file));
            }
        }
    }

    /// Checks the values and that `filler_wav` is usable.
    pub fn validate(&self) -> Result<(), String> {
        let (reprompt, hangup) = (self.silence_reprompt_secs, self.silence_hangup_secs);
        if reprompt > 600 || hangup > 3_600 {
            return Err(format!(
                "call.silence_reprompt_secs ({reprompt}) must be ≤ 600 and \
                 call.silence_hangup_secs ({hangup}) ≤ 3600 (0 turns either off)"
            ));
        }
        if self.long_silence_secs > 600 {
            return Err(format!(
                "call.long_silence_secs ({}) must be ≤ 600 (0 turns the flag off)",
                self.long_silence_secs
            ));
        }
        if reprompt > 0 && hangup > 0 && hangup <= reprompt {
            return Err(format!(
                "call.silence_hangup_secs ({hangup}) must be more than \
                 call.silence_reprompt_secs ({reprompt}): the caller is asked before the goodbye"
            ));
        }
        if let Some(path) = &self.filler_wav {
            load_filler_wav(path)?;
        }
        Ok(())
    }
}

/// Reads a filler prompt: 8 kHz mono 16-bit PCM, at most
/// [`MAX_FILLER_SECS`].
pub fn load_filler_wav(path: &Path) -> Result<Vec<i16>, String> {
    let bad = |what: String| format!("call.filler_wav {}: {what}", path.display());
    let mut reader = hound::WavReader::open(path).map_err(|e| bad(e.to_string()))?;
    let spec = reader.spec();
    if spec.sample_rate != 8_000
        || spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(bad(format!(
            "must be 8 kHz mono 16-bit PCM (it is {} Hz, {} channel(s), {} bits); \
             convert it with `sox in.wav -r 8000 -c 1 -b 16 out.wav`",
            spec.sample_rate, spec.channels, spec.bits_per_sample
        )));
    }
    if reader.duration() > MAX_FILLER_SECS * 8_000 {
        return Err(bad(format!(
            "is {:.1} s long; at most {MAX_FILLER_SECS} s (the working tone follows it)",
            f64::from(reader.duration()) / 8_000.0
        )));
    }
    reader
        .samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn load(text: &str, origin: &Path) -> Result<Config, String> {
        Config::from_toml_and_env(text, origin, Vec::new()).map_err(|e| e.to_string())
    }

    fn write_wav(path: &Path, rate: u32, samples: usize) {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).expect("create");
        for i in 0..samples {
            w.write_sample((i % 100) as i16).expect("write");
        }
        w.finalize().expect("finalize");
    }

    #[test]
    fn silence_keys_default_to_8_and_30_and_the_goodbye_must_come_after_the_reprompt() {
        let here = Path::new("warmline.toml");
        let config = load("", here).expect("defaults");
        assert_eq!(config.call.silence_reprompt_secs, 8);
        assert_eq!(config.call.silence_hangup_secs, 30);
        let err = load(
            "[call]\nsilence_reprompt_secs = 20\nsilence_hangup_secs = 10\n",
            here,
        )
        .expect_err("hangup before reprompt");
        assert!(err.contains("call.silence_hangup_secs"), "{err}");
        load(
            "[call]\nsilence_reprompt_secs = 0\nsilence_hangup_secs = 10\n",
            here,
        )
        .expect("reprompt off");
    }

    #[test]
    fn a_filler_wav_is_read_relative_to_the_config_file_and_must_be_8_khz_and_short() {
        let dir = std::env::temp_dir().join(format!("warmline-filler-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let origin = dir.join("warmline.toml");
        write_wav(&dir.join("ok.wav"), 8_000, 8_000);
        write_wav(&dir.join("wide.wav"), 16_000, 8_000);
        write_wav(&dir.join("long.wav"), 8_000, 8_000 * 11);
        let config = load("[call]\nfiller_wav = \"ok.wav\"\n", &origin).expect("valid");
        let path = config.call.filler_wav.expect("kept");
        assert_eq!(load_filler_wav(&path).expect("loads").len(), 8_000);
        let err = load("[call]\nfiller_wav = \"wide.wav\"\n", &origin).expect_err("16 kHz");
        assert!(err.contains("8 kHz mono"), "{err}");
        let err = load("[call]\nfiller_wav = \"long.wav\"\n", &origin).expect_err("11 s");
        assert!(err.contains("at most 10 s"), "{err}");
        let err = load("[call]\nfiller_wav = \"missing.wav\"\n", &origin).expect_err("missing");
        assert!(err.contains("missing.wav"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_filler_after_ms_beyond_the_silence_bound_is_refused() {
        let tool = "[[tools]]\nname = \"end_call\"\nkind = \"builtin\"\nfiller_after_ms = 2000\n";
        let err = load(tool, Path::new("warmline.toml")).expect_err("too late");
        assert!(err.contains("filler_after_ms"), "{err}");
        load(&tool.replace("2000", "1400"), Path::new("warmline.toml")).expect("at the bound");
    }
}
