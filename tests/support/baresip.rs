//! Runs the real baresip softphone (Debian's `baresip`, 1.0) headless as
//! a caller: a fresh config directory per run with a non-registering
//! account, a WAV file as the microphone (`aufile`), no audio player, and
//! the `sndfile` filter recording both directions of the call.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// A UDP+TCP-free port `p` whose successor is free too: baresip binds
/// SIP on `p` and TCP/TLS on `p + 1`.
pub fn free_port_pair() -> u16 {
    let free = |p: u16| {
        std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
    };
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        let port = udp.local_addr().expect("addr").port();
        drop(udp);
        if port < u16::MAX && free(port) && free(port + 1) {
            return port;
        }
    }
}

/// What one baresip run left behind.
#[derive(Debug)]
pub struct BaresipRun {
    /// stdout and stderr, with the status line's `\r` turned into `\n`.
    pub output: String,
    pub exit_code: Option<i32>,
    /// `127.0.0.1:port` baresip's SIP listened on.
    pub sip: String,
    /// The config (and recording) directory; removed on drop.
    pub dir: PathBuf,
}

impl Drop for BaresipRun {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl BaresipRun {
    /// The single `sndfile` recording whose name ends with `suffix`
    /// (`-dec.wav`: what baresip received and decoded; `-enc.wav`: what it
    /// sent), as 16-bit samples and their sample rate.
    pub fn recording(&self, suffix: &str) -> (Vec<i16>, u32) {
        let dir = self.dir.join("rec");
        let found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "one *{suffix} recording in {}: {found:?}\n{}",
            dir.display(),
            self.output
        );
        let mut reader = hound::WavReader::open(&found[0]).expect("sndfile wav");
        let spec = reader.spec();
        assert_eq!(spec.channels, 1, "{spec:?}");
        assert_eq!(spec.bits_per_sample, 16, "{spec:?}");
        let samples = reader
            .samples::<i16>()
            .map(|s| s.expect("16-bit sample"))
            .collect();
        (samples, spec.sample_rate)
    }

    /// The SIP messages of a `-s` trace over UDP, as (direction
    /// `from -> to`, start line, CSeq value).
    pub fn sip_trace(&self) -> Vec<(String, String, String)> {
        self.sip_trace_over("UDP")
            .into_iter()
            .map(|m| (m.direction, m.start, m.cseq))
            .collect()
    }

    /// The SIP messages of a `-s` trace that went over `transport`
    /// (`UDP`, `TCP`, `TLS`), with their headers.
    pub fn sip_trace_over(&self, transport: &str) -> Vec<TracedMessage> {
        let prefix = format!("{transport} ");
        let is_start = |line: &str| {
            ["UDP ", "TCP ", "TLS "].iter().any(|p| line.starts_with(p)) && line.contains(" -> ")
        };
        let mut messages = Vec::new();
        let mut lines = self.output.lines().peekable();
        while let Some(line) = lines.next() {
            if !is_start(line) {
                continue;
            }
            let mine = line.starts_with(&prefix);
            let direction = line[4..].trim().to_owned();
            let start = lines.next().unwrap_or_default().trim().to_owned();
            let mut headers = Vec::new();
            while let Some(next) = lines.peek() {
                if is_start(next) {
                    break;
                }
                let next = lines.next().unwrap_or_default();
                if let Some((name, value)) = next.split_once(':') {
                    headers.push((name.trim().to_owned(), value.trim().to_owned()));
                }
            }
            if mine {
                let cseq = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("CSeq"))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                messages.push(TracedMessage {
                    direction,
                    start,
                    cseq,
                    headers,
                });
            }
        }
        messages
    }
}

/// One SIP message of a baresip `-s` trace.
#[derive(Clone, Debug)]
pub struct TracedMessage {
    /// `from -> to`.
    pub direction: String,
    /// The request or status line.
    pub start: String,
    /// The CSeq value.
    pub cseq: String,
    /// Every `name: value` line after the start line.
    pub headers: Vec<(String, String)>,
}

impl TracedMessage {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Calls `uri` from baresip with `mic` (8 kHz mono 16-bit) as its
/// microphone, and lets baresip quit after `seconds` (`-t`), which hangs
/// up the call with a BYE first. The SIP trace (`-s`) goes to the output.
/// Panics when baresip is missing or still runs after `seconds + 15` s.
pub fn call(uri: &str, mic: &[i16], seconds: u32) -> BaresipRun {
    call_with(uri, mic, seconds, "", "")
}

/// [`call`] with `extra_config` appended to the config file (for example
/// `sip_cafile` for TLS, `module srtp.so` for SRTP) and `account_params`
/// appended to the account line (for example `;mediaenc=srtp-mand`).
pub fn call_with(
    uri: &str,
    mic: &[i16],
    seconds: u32,
    extra_config: &str,
    account_params: &str,
) -> BaresipRun {
    let dir = fresh_dir();
    write_wav(&dir.join("mic.wav"), mic);
    let port = free_port_pair();
    let sip = format!("127.0.0.1:{port}");
    let mut config_text = config(&dir, &sip);
    config_text.push_str(extra_config);
    std::fs::write(dir.join("config"), config_text).expect("config");
    // `regint=0`: no REGISTER, the account only places the call.
    std::fs::write(
        dir.join("accounts"),
        format!("<sip:test@127.0.0.1>;regint=0{account_params}\n"),
    )
    .expect("accounts");

    run(
        dir,
        sip,
        &["-e".to_owned(), format!("/dial {uri}")],
        seconds,
    )
}

/// baresip as a phone that answers: it listens on `127.0.0.1:port` (from
/// [`free_port_pair`]) with an account that never registers and
/// auto-answers (`answermode=auto`), plays `mic` (8 kHz mono 16-bit) to
/// whoever calls, records both directions, and quits after `seconds`,
/// hanging up any call with a BYE first. Blocks until it exits.
pub fn answer(port: u16, mic: &[i16], seconds: u32) -> BaresipRun {
    answer_with(port, mic, seconds, "")
}

/// [`answer`] with `extra_config` appended to the config file: with
/// `sip_certificate` (a PEM file holding the certificate and its key)
/// baresip also answers SIP over TLS, on `port + 1`.
pub fn answer_with(port: u16, mic: &[i16], seconds: u32, extra_config: &str) -> BaresipRun {
    let dir = fresh_dir();
    write_wav(&dir.join("mic.wav"), mic);
    let sip = format!("127.0.0.1:{port}");
    let mut config_text = config(&dir, &sip);
    config_text.push_str(extra_config);
    std::fs::write(dir.join("config"), config_text).expect("config");
    std::fs::write(
        dir.join("accounts"),
        "<sip:rep@127.0.0.1>;regint=0;answermode=auto\n",
    )
    .expect("accounts");
    run(dir, sip, &[], seconds)
}

/// [`answer`], with an account that registers `user` (digest password
/// `password`) with the registrar at `registrar` (`ip:port`) every 60 s,
/// as a rep's softphone does: its AOR is `sip:<user>@<registrar's ip>`.
pub fn register_and_answer(
    port: u16,
    registrar: &str,
    user: &str,
    password: &str,
    mic: &[i16],
    seconds: u32,
) -> BaresipRun {
    let dir = fresh_dir();
    write_wav(&dir.join("mic.wav"), mic);
    let sip = format!("127.0.0.1:{port}");
    std::fs::write(dir.join("config"), config(&dir, &sip)).expect("config");
    let domain = registrar.split(':').next().unwrap_or(registrar);
    std::fs::write(
        dir.join("accounts"),
        format!(
            "<sip:{user}@{domain}>;auth_pass={password};outbound=\"sip:{registrar}\";\
             regint=60;answermode=auto\n"
        ),
    )
    .expect("accounts");
    run(dir, sip, &[], seconds)
}

fn fresh_dir() -> PathBuf {
    static N: AtomicU16 = AtomicU16::new(0);
    let dir = std::env::temp_dir().join(format!(
        "warmline-baresip-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("rec")).expect("baresip dir");
    dir
}

/// Runs baresip in `dir` with `extra` arguments until it quits after
/// `seconds` (killed, and the test failed, 15 s later).
fn run(dir: PathBuf, sip: String, extra: &[String], seconds: u32) -> BaresipRun {
    let mut child = Command::new("baresip")
        .current_dir(&dir)
        .arg("-f")
        .arg(&dir)
        .args(["-n", "127.0.0.1", "-s"])
        .args(extra)
        .args(["-t", &seconds.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("baresip runs (scripts/install-deps installs baresip)");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(u64::from(seconds) + 15);
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait baresip") {
            break status;
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait baresip");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut output = String::from_utf8_lossy(&out.join().expect("stdout reader")).into_owned();
    output.push_str(&String::from_utf8_lossy(
        &err.join().expect("stderr reader"),
    ));
    let output = output.replace('\r', "\n");
    assert!(
        !timed_out,
        "baresip still running after {seconds} + 15 s, killed:\n{output}"
    );
    BaresipRun {
        output,
        exit_code: status.code(),
        sip,
        dir,
    }
}

/// A headless config: SIP over UDP on `sip`, PCMU/PCMA only, the WAV
/// microphone, no player, recordings into `dir/rec`, RTP below the ports
/// the test servers draw their RTP ranges from (20000 and up).
fn config(dir: &Path, sip: &str) -> String {
    format!(
        "poll_method\t\tepoll\n\
         sip_listen\t\t{sip}\n\
         audio_source\t\taufile,{mic}\n\
         audio_srate\t\t8000\n\
         audio_channels\t\t1\n\
         rtp_ports\t\t10000-19998\n\
         rtcp_mux\t\tno\n\
         jitter_buffer_delay\t0-0\n\
         module_path\t\t/usr/lib/baresip/modules\n\
         module\t\t\tg711.so\n\
         module\t\t\taufile.so\n\
         module\t\t\tsndfile.so\n\
         module_app\t\taccount.so\n\
         module_app\t\tmenu.so\n\
         snd_path\t\t{rec}\n",
        mic = dir.join("mic.wav").display(),
        rec = dir.join("rec").display(),
    )
}

fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("mic wav");
    for &s in samples {
        w.write_sample(s).expect("mic sample");
    }
    w.finalize().expect("mic wav");
}
