//! `[recording]` and `[csat]`: call recordings and the post-call survey
//! (issue 16, decision 0026). Whether a call is recorded is its agent's
//! `record`; whether it gets the survey is `[csat] enabled`, or its
//! agent's `csat` when set.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Longest announcement or survey prompt accepted (seconds).
pub const MAX_PROMPT_SECS: u32 = 30;

/// `[recording]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingSection {
    /// Where recordings go (`<call id>.wav`), relative to the working
    /// directory; made when the first call is recorded.
    pub dir: PathBuf,
    /// Recordings older than this many days are deleted (checked at
    /// start-up and hourly); 0 keeps them.
    pub retention_days: u32,
    /// A prompt (8 kHz mono 16-bit WAV, at most 30 s, relative to the
    /// config file) a recorded call plays to the caller first ("this call
    /// is recorded"); none: no announcement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub announcement_wav: Option<PathBuf>,
}

impl Default for RecordingSection {
    fn default() -> Self {
        RecordingSection {
            dir: PathBuf::from("recordings"),
            retention_days: 30,
            announcement_wav: None,
        }
    }
}

/// `[csat]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CsatSection {
    /// Calls the agent (or a rep) ends hear the survey before the hang-up;
    /// an agent's `csat` overrides this.
    pub enabled: bool,
    /// The prompt asking for a 1–5 rating by keypad (8 kHz mono 16-bit
    /// WAV, at most 30 s, relative to the config file). Needed when any
    /// survey is enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_wav: Option<PathBuf>,
    /// Seconds the caller has to press a key once the prompt has played.
    pub timeout_secs: u64,
}

impl Default for CsatSection {
    fn default() -> Self {
        CsatSection {
            enabled: false,
            prompt_wav: None,
            timeout_secs: 8,
        }
    }
}

/// Makes a relative prompt path relative to the config file's directory.
fn resolve(path: &mut Option<PathBuf>, origin: &Path) {
    if let Some(file) = path.as_ref().filter(|f| f.is_relative()) {
        let base = origin.parent().unwrap_or(Path::new("."));
        *path = Some(base.join(file));
    }
}

impl super::Config {
    /// Resolves the prompt paths, then checks `[recording]`, `[csat]` and
    /// the agents' `csat`.
    pub fn validate_records(&mut self, origin: &Path) -> Result<(), String> {
        resolve(&mut self.recording.announcement_wav, origin);
        resolve(&mut self.csat.prompt_wav, origin);
        if let Some(path) = &self.recording.announcement_wav {
            load_prompt("recording.announcement_wav", path)?;
        }
        if self.recording.dir.as_os_str().is_empty() {
            return Err("recording.dir is empty: name a directory (default \"recordings\")".into());
        }
        if self.recording.retention_days > 36_500 {
            return Err(format!(
                "recording.retention_days ({}) must be at most 36500 (0 keeps recordings)",
                self.recording.retention_days
            ));
        }
        if !(1..=120).contains(&self.csat.timeout_secs) {
            return Err(format!(
                "csat.timeout_secs ({}) must be within 1 and 120",
                self.csat.timeout_secs
            ));
        }
        let wanted = self.csat.enabled || self.agents.iter().any(|a| a.csat == Some(true));
        match &self.csat.prompt_wav {
            Some(path) => {
                load_prompt("csat.prompt_wav", path)?;
            }
            None if wanted => {
                return Err(
                    "csat is enabled (by [csat] enabled or an agent's csat) but \
                     csat.prompt_wav is not set: the survey needs a recorded prompt"
                        .into(),
                )
            }
            None => {}
        }
        Ok(())
    }
}

/// What `warmline check` prints about recordings and the survey: which
/// agents and trunks record, where to, and which agents ask for a rating.
pub fn records_report(config: &super::Config) -> Vec<String> {
    let agents = config.effective_agents();
    let recorded: Vec<&str> = agents
        .iter()
        .filter(|a| a.record)
        .map(|a| a.id.as_str())
        .collect();
    let trunks: Vec<&str> = config
        .sip
        .trunks
        .iter()
        .filter(|t| t.record)
        .map(|t| t.name.as_str())
        .collect();
    let surveyed: Vec<&str> = agents
        .iter()
        .filter(|a| a.csat.unwrap_or(config.csat.enabled))
        .map(|a| a.id.as_str())
        .collect();
    let kept = match config.recording.retention_days {
        0 => "kept until deleted".to_owned(),
        days => format!("kept {days} days"),
    };
    let list = |names: &[&str]| {
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    vec![
        format!(
            "recording: agents {}; trunks {}; into {} ({kept})",
            list(&recorded),
            list(&trunks),
            config.recording.dir.display()
        ),
        format!("csat survey: agents {}", list(&surveyed)),
    ]
}

/// Reads a prompt: 8 kHz mono 16-bit PCM, at most [`MAX_PROMPT_SECS`];
/// `key` names it in errors.
pub fn load_prompt(key: &str, path: &Path) -> Result<Vec<i16>, String> {
    let bad = |what: String| format!("{key} {}: {what}", path.display());
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
    if reader.duration() > MAX_PROMPT_SECS * 8_000 {
        return Err(bad(format!(
            "is {:.1} s long; at most {MAX_PROMPT_SECS} s",
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
    use crate::config::Config;

    fn load(text: &str) -> Result<Config, String> {
        Config::from_toml_and_env(text, std::path::Path::new("t.toml"), Vec::new())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn recording_and_csat_default_to_a_recordings_dir_30_days_and_no_survey() {
        let config = load("").expect("defaults");
        assert_eq!(config.recording.dir, std::path::PathBuf::from("recordings"));
        assert_eq!(config.recording.retention_days, 30);
        assert!(!config.csat.enabled);
        assert_eq!(config.csat.timeout_secs, 8);
    }

    #[test]
    fn an_enabled_survey_without_a_prompt_is_refused_naming_the_key() {
        let error = load("[csat]\nenabled = true\n").expect_err("no prompt");
        assert!(error.contains("csat.prompt_wav"), "{error}");
        let error =
            load("[[agents]]\nid = \"a\"\ninstructions = \"x\"\ndefault = true\ncsat = true\n")
                .expect_err("an agent wants it");
        assert!(error.contains("csat.prompt_wav"), "{error}");
    }

    #[test]
    fn a_missing_announcement_file_is_refused_naming_the_key() {
        let error =
            load("[recording]\nannouncement_wav = \"nope.wav\"\n").expect_err("no such file");
        assert!(error.contains("recording.announcement_wav"), "{error}");
    }

    #[test]
    fn an_unknown_recording_key_is_refused() {
        assert!(load("[recording]\nretention = 3\n").is_err());
    }
}
