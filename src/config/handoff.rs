//! `[[reps]]` and `[handoff]`: the people calls are escalated to, and how a
//! warm transfer waits, rings and bridges (issue 14, decision 0028).
//!
//! A rep's login token is named, never written: `token_env` names the
//! variable that holds it (the override parser leaves it alone, like every
//! `*_env` key), and `warmline check` fails while it is unset. The same
//! holds for `sip_password_env`, the digest password of the rep's SIP
//! phone (decision 0032).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The queue of calls whose agent names no `skill`.
pub const DEFAULT_SKILL: &str = "default";
/// Longest `hold_wav` accepted (seconds); it loops.
pub const MAX_HOLD_SECS: u32 = 60;
/// Longest position prompt accepted (seconds).
pub const MAX_POSITION_SECS: u32 = 10;

/// One `[[reps]]` table.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RepConfig {
    /// Stable id (letters, digits, `-`, `_`): the rep in logs and records.
    pub id: String,
    /// Display name (shown to the rep, never to the caller).
    pub name: String,
    /// Queues this rep takes calls from; empty: `["default"]`.
    #[serde(default)]
    pub skills: Vec<String>,
    /// The variable holding the rep's login token for `/rep`.
    pub token_env: String,
    /// The variable holding the digest password of the rep's SIP phone,
    /// which registers as `sip:<id>@<[sip] domain>`. Unset: this rep has
    /// no SIP phone (a REGISTER for them gets 403).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_password_env: Option<String>,
    /// A SIP phone that takes this rep's calls (decision 0034): a static
    /// `sip:user@ip:port` (a desk phone or softphone listening on a known
    /// address; the host must be an IP address). Such a rep is available
    /// from startup and is rung with an INVITE instead of the softphone
    /// page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_uri: Option<String>,
    /// The `[[sip.outbound]]` trunk `sip_uri` is reached through (a phone
    /// behind a PBX): the INVITE goes to the trunk's address with the
    /// trunk's credentials, and `sip_uri`'s host may then be a name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound: Option<String>,
}

impl RepConfig {
    /// The queues this rep serves (`default` when none is named).
    pub fn queues(&self) -> Vec<String> {
        if self.skills.is_empty() {
            vec![DEFAULT_SKILL.to_owned()]
        } else {
            self.skills.clone()
        }
    }
}

/// What happens to the agent's model session once the rep is bridged.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AgentAfterBridge {
    /// The session is closed (no model cost while the rep talks).
    #[default]
    Close,
    /// The session stays open, muted, hearing both sides, so the
    /// transcript goes on (and a hand-back finds a warm session).
    Listen,
}

/// `[handoff]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HandoffConfig {
    /// A rep is offered no call for this long after each call, seconds.
    pub wrap_up_secs: u64,
    /// Longest a caller waits in a queue for a free rep, seconds; then
    /// the AI is told nobody is available.
    pub queue_max_wait_secs: u64,
    /// How long one rep rings before the next is tried, seconds.
    pub ring_timeout_secs: u64,
    /// Whether the AI speaks its summary to a browser rep (the caller on
    /// hold) before the bridge. The rep can skip it.
    pub brief: bool,
    /// The same for reps reached by SIP (`sip_uri`): on by default, since
    /// a desk phone has no screen for the card.
    pub sip_brief: bool,
    /// The keys a SIP rep presses during the bridge to hand the caller
    /// back to the AI (RFC 4733 telephone-events: `0`–`9`, `*`, `#`,
    /// `A`–`D`; 1 to 8 of them).
    pub sip_hand_back_dtmf: String,
    /// `close` or `listen`: the agent's session after the bridge.
    pub agent_after_bridge: AgentAfterBridge,
    /// Hold audio (8 kHz mono 16-bit WAV, at most 60 s, looped; relative
    /// to the config file). Without it, a soft two-note chime every 3 s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_wav: Option<PathBuf>,
    /// Recorded position announcements: entry k says "you are number
    /// k+1"; callers further back hear the last one. Same format as
    /// `hold_wav`, at most 10 s each. Empty: built-in recorded prompts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub position_wavs: Vec<PathBuf>,
    /// A waiting caller hears their position this often, seconds (and
    /// once when they start waiting).
    pub announce_every_secs: u64,
}

impl Default for HandoffConfig {
    fn default() -> Self {
        HandoffConfig {
            wrap_up_secs: 10,
            queue_max_wait_secs: 120,
            ring_timeout_secs: 20,
            brief: true,
            sip_brief: true,
            sip_hand_back_dtmf: "*9".to_owned(),
            agent_after_bridge: AgentAfterBridge::Close,
            hold_wav: None,
            position_wavs: Vec::new(),
            announce_every_secs: 30,
        }
    }
}

impl HandoffConfig {
    /// Makes the WAV paths relative to the config file's directory.
    pub fn resolve(&mut self, origin: &Path) {
        let base = origin.parent().unwrap_or(Path::new(".")).to_owned();
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(p) = self.hold_wav.as_mut() {
            fix(p);
        }
        self.position_wavs.iter_mut().for_each(fix);
    }

    /// Checks the values and that every WAV is usable.
    pub fn validate(&self) -> Result<(), String> {
        if self.wrap_up_secs > 600 {
            return Err(format!(
                "handoff.wrap_up_secs ({}) must be ≤ 600",
                self.wrap_up_secs
            ));
        }
        if self.queue_max_wait_secs > 3_600 {
            return Err(format!(
                "handoff.queue_max_wait_secs ({}) must be ≤ 3600 (0: never wait)",
                self.queue_max_wait_secs
            ));
        }
        if !(5..=120).contains(&self.ring_timeout_secs) {
            return Err(format!(
                "handoff.ring_timeout_secs ({}) must be 5..=120",
                self.ring_timeout_secs
            ));
        }
        if !(10..=600).contains(&self.announce_every_secs) {
            return Err(format!(
                "handoff.announce_every_secs ({}) must be 10..=600",
                self.announce_every_secs
            ));
        }
        let keys_ok = (1..=8).contains(&self.sip_hand_back_dtmf.len())
            && self
                .sip_hand_back_dtmf
                .chars()
                .all(|c| matches!(c, '0'..='9' | '*' | '#' | 'A'..='D'));
        if !keys_ok {
            return Err(format!(
                "handoff.sip_hand_back_dtmf ({:?}) must be 1 to 8 of 0-9 * # A-D",
                self.sip_hand_back_dtmf
            ));
        }
        if let Some(path) = &self.hold_wav {
            load_prompt_wav("handoff.hold_wav", path, MAX_HOLD_SECS)?;
        }
        for path in &self.position_wavs {
            load_prompt_wav("handoff.position_wavs", path, MAX_POSITION_SECS)?;
        }
        Ok(())
    }
}

/// Checks `[[reps]]`; `env` answers whether a variable is set.
pub fn validate_reps(reps: &[RepConfig], env: &dyn Fn(&str) -> bool) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for rep in reps {
        let id_ok = !rep.id.is_empty()
            && rep.id.len() <= 64
            && rep
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !id_ok {
            return Err(format!(
                "reps.id {:?} must be 1–64 letters, digits, - or _",
                rep.id
            ));
        }
        if !seen.insert(rep.id.as_str()) {
            return Err(format!("reps.id {:?} appears twice", rep.id));
        }
        if rep.name.trim().is_empty() {
            return Err(format!("reps {:?}: name must not be empty", rep.id));
        }
        if rep.skills.iter().any(|s| s.trim().is_empty()) {
            return Err(format!("reps {:?}: a skill name is empty", rep.id));
        }
        if rep.token_env.is_empty() {
            return Err(format!("reps {:?}: token_env must name a variable", rep.id));
        }
        match (&rep.sip_uri, &rep.outbound) {
            (Some(uri), None) => {
                rep_sip_uri(uri).map_err(|e| format!("reps {:?}: sip_uri {uri:?}: {e}", rep.id))?;
            }
            (Some(uri), Some(_)) => {
                // The trunk's transport decides whether a sips: URI may
                // go through it (checked with the trunks).
                let parsed = warmline_sip::message::Uri::parse(uri).ok().filter(|u| {
                    matches!(
                        u.scheme,
                        warmline_sip::message::Scheme::Sip | warmline_sip::message::Scheme::Sips
                    )
                });
                if parsed.is_none() {
                    return Err(format!(
                        "reps {:?}: sip_uri {uri:?} is not a sip: or sips: URI",
                        rep.id
                    ));
                }
            }
            (None, Some(_)) => {
                return Err(format!(
                    "reps {:?}: outbound names a trunk for sip_uri, which is not set",
                    rep.id
                ));
            }
            (None, None) => {}
        }
        if !env(&rep.token_env) {
            return Err(format!(
                "reps {:?}: token_env names {}, which is not set (the rep's /rep login token)",
                rep.id, rep.token_env
            ));
        }
        if let Some(var) = &rep.sip_password_env {
            if var.is_empty() || !env(var) {
                return Err(format!(
                    "reps {:?}: sip_password_env names {var:?}, which is not set (the digest password of the rep's SIP phone)",
                    rep.id
                ));
            }
        }
    }
    Ok(())
}

/// Checks each rep's `outbound` against `[[sip.outbound]]`: the trunk
/// exists, its password variable is set (`env` answers whether one is),
/// and a `sips:` URI goes through a TLS trunk only (decision 0039).
pub fn validate_rep_trunks(
    reps: &[RepConfig],
    trunks: &[super::OutboundConfig],
    env: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    for rep in reps {
        let Some(name) = &rep.outbound else { continue };
        let Some(trunk) = trunks.iter().find(|o| &o.name == name) else {
            return Err(format!(
                "reps {:?}: outbound {name:?} names no [[sip.outbound]]",
                rep.id
            ));
        };
        if let Some(var) = trunk.password_env.as_deref().filter(|v| !env(v)) {
            return Err(format!(
                "sip.outbound {name:?}: password_env names {var}, which is not set"
            ));
        }
        let sips = rep
            .sip_uri
            .as_deref()
            .and_then(|uri| warmline_sip::message::Uri::parse(uri).ok())
            .is_some_and(|uri| uri.scheme == warmline_sip::message::Scheme::Sips);
        if sips && !trunk.is_tls() {
            return Err(format!(
                "reps {:?}: sip_uri is a sips: URI, which must travel over TLS, but sip.outbound \
                 {name:?} has transport = \"{}\": use a trunk with transport = \"tls\"",
                rep.id,
                trunk.transport.as_str()
            ));
        }
    }
    Ok(())
}

/// A rep's `sip_uri` called directly (no `outbound`), checked: a `sip:`
/// URI whose host is an IP address (names are not resolved: reach such
/// phones through a PBX's address), called over UDP. A phone over TCP or
/// TLS is a `[[sip.outbound]]` entry of its own (decision 0039): TLS needs
/// the certificate's name and trust anchors, which a URI cannot carry, so
/// `sips:` and `;transport=` other than `udp` are refused here rather than
/// sent over UDP.
pub fn rep_sip_uri(uri: &str) -> Result<warmline_sip::message::Uri, String> {
    const THROUGH_OUTBOUND: &str = "declare the phone as a [[sip.outbound]] entry (address = its \
         ip:port, transport = \"tls\" with tls_server_name, or \"tcp\") and set outbound = \
         \"<its name>\" on the rep";
    let parsed = warmline_sip::message::Uri::parse(uri).map_err(|e| e.to_string())?;
    match parsed.scheme {
        warmline_sip::message::Scheme::Sip => {}
        warmline_sip::message::Scheme::Sips => {
            return Err(format!(
                "a sips: URI must be called over TLS, which needs the certificate's name: \
                 {THROUGH_OUTBOUND}"
            ))
        }
        warmline_sip::message::Scheme::Tel => {
            return Err("must be a sip: URI (tel: is not supported)".into())
        }
    }
    match parsed.transport().as_deref() {
        None | Some("udp") => {}
        Some(other) => {
            return Err(format!(
                "a phone called directly is called over UDP, not {other}: {THROUGH_OUTBOUND}"
            ))
        }
    }
    match parsed.host {
        warmline_sip::message::Host::Ip(_) => Ok(parsed),
        warmline_sip::message::Host::Name(_) => {
            Err("the host must be an IP address (host names are not resolved)".into())
        }
    }
}

/// Reads a prompt: 8 kHz mono 16-bit PCM, at most `max_secs` long.
pub fn load_prompt_wav(key: &str, path: &Path, max_secs: u32) -> Result<Vec<i16>, String> {
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
    if reader.duration() > max_secs * 8_000 {
        return Err(bad(format!(
            "is {:.1} s long; at most {max_secs} s",
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
    use std::path::Path;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::from_toml_and_env(text, Path::new("warmline.toml"), env).map_err(|e| e.to_string())
    }

    const REP: &str = "[[reps]]\nid = \"ana\"\nname = \"Ana\"\nskills = [\"billing\"]\n\
                       token_env = \"WARMLINE_REP_ANA\"\n";

    #[test]
    fn handoff_defaults_are_the_issue_s() {
        let config = load("", &[]).expect("defaults");
        let h = &config.handoff;
        assert_eq!(
            (h.wrap_up_secs, h.queue_max_wait_secs, h.ring_timeout_secs),
            (10, 120, 20)
        );
        assert!(h.brief);
        assert_eq!(h.agent_after_bridge, super::AgentAfterBridge::Close);
    }

    #[test]
    fn check_fails_while_a_rep_s_token_variable_is_unset() {
        let err = load(REP, &[]).expect_err("unset token");
        assert!(err.contains("WARMLINE_REP_ANA"), "{err}");
        let config = load(REP, &[("WARMLINE_REP_ANA", "s3cret")]).expect("set");
        assert_eq!(config.reps[0].queues(), ["billing"]);
    }

    #[test]
    fn a_rep_sip_password_variable_must_be_set_and_is_no_override() {
        let rep = format!("{REP}sip_password_env = \"WARMLINE_REP_ANA_SIP\"\n");
        let err = load(&rep, &[("WARMLINE_REP_ANA", "x")]).expect_err("unset password");
        assert!(err.contains("WARMLINE_REP_ANA_SIP"), "{err}");
        let env = [("WARMLINE_REP_ANA", "x"), ("WARMLINE_REP_ANA_SIP", "pw")];
        let config = load(&rep, &env).expect("set, and skipped as an override");
        assert_eq!(
            config.reps[0].sip_password_env.as_deref(),
            Some("WARMLINE_REP_ANA_SIP")
        );
    }

    #[test]
    fn sip_reps_on_a_wildcard_listen_need_a_domain() {
        let rep = format!("{REP}sip_password_env = \"ANA_SIP\"\n");
        let env = [("WARMLINE_REP_ANA", "x"), ("ANA_SIP", "pw")];
        let wildcard = format!("[sip]\nlisten = \"0.0.0.0:5060\"\n{rep}");
        let err = load(&wildcard, &env).expect_err("no domain");
        assert!(err.contains("sip.domain"), "{err}");
        let named = wildcard.replace("[sip]\n", "[sip]\ndomain = \"pbx.example.com\"\n");
        let config = load(&named, &env).expect("domain set");
        assert_eq!(config.sip.registrar_domain(), "pbx.example.com");
        assert_eq!(
            load(&rep, &env).expect("loopback").sip.registrar_domain(),
            "127.0.0.1"
        );
        // Without SIP reps a wildcard listen needs nothing more.
        assert!(load("[sip]\nlisten = \"0.0.0.0:5060\"\n", &[]).is_ok());
    }

    #[test]
    fn a_rep_token_variable_is_not_taken_for_an_override() {
        // WARMLINE_REP_ANA looks like an override (WARMLINE_ prefix) but a
        // token_env names it: it must be skipped, not refused.
        let config = load(REP, &[("WARMLINE_REP_ANA", "x")]).expect("skipped");
        assert_eq!(config.reps.len(), 1);
    }

    #[test]
    fn duplicate_ids_bad_values_and_unknown_keys_are_refused() {
        let env = [("WARMLINE_REP_ANA", "x")];
        let twice = format!("{REP}{REP}");
        assert!(load(&twice, &env).is_err_and(|e| e.contains("twice")));
        let no_skill = REP.replace("skills = [\"billing\"]\n", "");
        let config = load(&no_skill, &env).expect("skills optional");
        assert_eq!(config.reps[0].queues(), ["default"]);
        let bad_id = REP.replace("\"ana\"", "\"a b\"");
        assert!(load(&bad_id, &env).is_err_and(|e| e.contains("reps.id")));
        assert!(load("[handoff]\nring_timeout_secs = 1\n", &[])
            .is_err_and(|e| e.contains("ring_timeout_secs")));
        assert!(load("[handoff]\nagent_after_bridge = \"nap\"\n", &[]).is_err());
        assert!(load("[handoff]\nhold_wav = \"missing.wav\"\n", &[])
            .is_err_and(|e| e.contains("missing.wav")));
        let listen = load("[handoff]\nagent_after_bridge = \"listen\"\n", &[]).expect("listen");
        assert_eq!(
            listen.handoff.agent_after_bridge,
            super::AgentAfterBridge::Listen
        );
    }

    #[test]
    fn a_rep_s_sip_uri_needs_an_ip_host_and_the_hand_back_keys_are_checked() {
        let env = [("WARMLINE_REP_ANA", "x")];
        let with = |uri: &str| format!("[sip]\nenabled = true\n\n{REP}sip_uri = \"{uri}\"\n");
        let config = load(&with("sip:ana@127.0.0.1:5070"), &env).expect("an IP");
        assert_eq!(
            config.reps[0].sip_uri.as_deref(),
            Some("sip:ana@127.0.0.1:5070")
        );
        assert!(
            load(&with("sip:ana@pbx.example.com"), &env).is_err_and(|e| e.contains("IP address"))
        );
        assert!(load(&with("tel:+15550001"), &env).is_err_and(|e| e.contains("sip_uri")));
        let no_sip = format!("[sip]\nenabled = false\n\n{REP}sip_uri = \"sip:ana@127.0.0.1\"\n");
        assert!(load(&no_sip, &env).is_err_and(|e| e.contains("[sip] enabled")));
        let h = &load("", &[]).expect("defaults").handoff;
        assert_eq!((h.sip_brief, h.sip_hand_back_dtmf.as_str()), (true, "*9"));
        assert!(load("[handoff]\nsip_hand_back_dtmf = \"#\"\n", &[]).is_ok());
        assert!(load("[handoff]\nsip_hand_back_dtmf = \"*x\"\n", &[])
            .is_err_and(|e| e.contains("sip_hand_back_dtmf")));
        assert!(load("[handoff]\nsip_hand_back_dtmf = \"\"\n", &[]).is_err());
    }

    #[test]
    fn a_rep_s_outbound_trunk_must_exist_and_have_its_password() {
        let trunk = "[[sip.outbound]]\nname = \"pbx\"\naddress = \"192.0.2.1:5060\"\n\
                     username = \"wl\"\npassword_env = \"PBX_PW\"\n\n";
        let rep = format!("{REP}sip_uri = \"sip:2001@pbx.example.com\"\noutbound = \"pbx\"\n");
        let env = [("WARMLINE_REP_ANA", "x"), ("PBX_PW", "pw")];
        let config = load(&format!("{trunk}{rep}"), &env).expect("a host name behind a trunk");
        assert_eq!(config.sip.outbound[0].name, "pbx");
        assert!(load(&format!("{trunk}{rep}"), &env[..1]).is_err_and(|e| e.contains("PBX_PW")));
        assert!(load(&rep, &env).is_err_and(|e| e.contains("names no [[sip.outbound]]")));
        let no_uri = format!("{REP}outbound = \"pbx\"\n");
        assert!(load(&format!("{trunk}{no_uri}"), &env).is_err_and(|e| e.contains("sip_uri")));
    }
}
