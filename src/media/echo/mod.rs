//! Line echo control: the agent's own voice coming back in the caller's
//! audio, 0–600 ms late and 6–20 dB down, is found and suppressed before
//! the caller's audio reaches the VAD and the model.
//!
//! [`EchoControl`] owns, per call:
//!
//! - the **delay estimate** (`delay.rs`): every 4 ms sub-block of what was
//!   played and of what came back becomes a 16-bit binary spectrum, and the
//!   lag whose patterns match best over time is the echo path's delay,
//!   followed when it changes;
//! - the **echo return** per band (how far below the far end the echo
//!   comes back), learned on frames that are echo only;
//! - the **double-talk test**: a caller frame whose band energies exceed
//!   the predicted echo plus the line's noise floor is near speech, decided
//!   on the frame in which it starts, with a short hangover;
//! - the **suppressor**: while echo is possible and the caller is not
//!   talking, the frame is scaled down to the line's noise floor (at most
//!   [`EchoConfig::suppression_db`]), so the model hears comfort noise, not
//!   the agent. Caller speech passes at unity gain, echo and all: the
//!   choice of suppression over cancellation is decision 0009.
//!
//! It is sans-IO like the rest of `media`: no clock, no I/O, no allocation
//! after [`EchoControl::new`]. Time is the tick count: one
//! [`EchoControl::far_end`] and one [`EchoControl::near_end`] per 20 ms
//! tick, far end first.
//!
//! ```
//! use warmline::media::echo::{EchoConfig, EchoControl};
//!
//! let mut echo = EchoControl::new(EchoConfig::default());
//! // Each 20 ms tick: what the pacer released to the caller (silence when
//! // nothing played), then the caller's decoded frame of the same tick.
//! let played = [0i16; 160];
//! let mut caller = [0i16; 160];
//! echo.far_end(&played);
//! let verdict = echo.near_end(&mut caller);
//! if verdict.echo_only {
//!     // a VAD onset on this frame is the agent's own voice
//! }
//! assert!(!verdict.near_speech);
//! ```

mod bands;
mod delay;
#[cfg(test)]
mod tests;

use bands::{
    band_energies, fast_log2, BandEnergies, BinarySpectrum, BANDS, FRAME, SUB, SUBS_PER_FRAME,
};
use delay::DelayEstimator;

/// Tuning of [`EchoControl`]. The defaults are the measured choice of
/// decision 0009.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EchoConfig {
    /// The longest echo delay searched, in ms (a Twilio or carrier round
    /// trip is 150–600 ms). Capped at 2000.
    pub max_delay_ms: u32,
    /// Most attenuation applied to a frame that is echo only, in dB. The
    /// frame is brought down to the line's noise floor, but never by more.
    pub suppression_db: f32,
    /// How far a band must stand above the predicted echo plus noise to
    /// count as the caller's, in dB.
    pub double_talk_margin_db: f32,
    /// How far the frame must stand above the line's noise floor to be
    /// near speech at all, in dB (3 dB more than the VAD gate of decision
    /// 0003: pink and brown line noise swings 11 dB frame to frame).
    pub noise_margin_db: f32,
    /// How far below the far end the echo is assumed to return until it
    /// has been measured, in dB. Smaller is safer against echo and harder
    /// on a caller who talks before the delay is known.
    pub initial_echo_loss_db: f32,
    /// How long near speech is held after the last frame that showed it,
    /// in ms (keeps the suppressor open between syllables).
    pub hangover_ms: u32,
}

impl Default for EchoConfig {
    fn default() -> Self {
        EchoConfig {
            max_delay_ms: 600,
            suppression_db: 40.0,
            double_talk_margin_db: 3.0,
            noise_margin_db: 12.0,
            initial_echo_loss_db: 3.0,
            hangover_ms: 60,
        }
    }
}

/// What [`EchoControl::near_end`] found in one caller frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EchoVerdict {
    /// Agent audio was audible on the far end within the echo window (echo
    /// is possible).
    pub far_end_active: bool,
    /// The near-end energy is explained by the delayed far end: this frame
    /// is (mostly) echo.
    pub echo_only: bool,
    /// Caller speech is present on top of (or without) echo: double-talk or
    /// clean near talk.
    pub near_speech: bool,
    /// Level of the frame before control, dBFS (digital silence reads
    /// −100).
    pub level_in_dbfs: f32,
    /// Level of the frame after control, dBFS (digital silence reads −100).
    pub level_out_dbfs: f32,
}

/// Far sub-blocks quieter than this carry no agent audio worth matching.
const FAR_ACTIVE_DBFS: f32 = -55.0;
/// A far frame this loud makes echo possible for the next `max_delay_ms`.
const FAR_FRAME_ACTIVE_DBFS: f32 = -50.0;
/// The noise floor never goes below this (digital silence would pin it at
/// zero and open the double-talk test to any hiss).
const MIN_FLOOR_DBFS: f32 = -75.0;
/// The floor's slow rise: 0.06 dB per frame, 3 dB/s, as the VAD gate.
const FLOOR_RISE: f32 = 1.013_9;
/// Its rise on a level that has held still for `STABLE_FRAMES` with no
/// agent audio (steady line noise appearing mid-call): straight to it.
const FLOOR_RISE_STABLE: f32 = f32::MAX;
const STABLE_FRAMES: usize = 4;
/// "Held still": the last `STABLE_FRAMES` levels span less than this, in
/// log2 of energy (2 ≈ 6 dB).
const STABLE_SPAN_LOG2: f32 = 2.0;

/// Energy of `samples` samples at `dbfs` RMS, in the band transform's
/// scale (eight times the sum of squares, int16 units).
fn energy_at_dbfs(dbfs: f32, samples: usize) -> f32 {
    let rms = 32768.0 * 10f32.powf(dbfs / 20.0);
    8.0 * samples as f32 * rms * rms
}

fn dbfs_of(sum_sq: f32, samples: usize) -> f32 {
    let mean = sum_sq / samples as f32;
    if mean <= 0.0 {
        -100.0
    } else {
        (10.0 * (mean / (32768.0 * 32768.0)).log10()).max(-100.0)
    }
}

/// Per-call echo controller: delay estimate, echo return, double-talk test
/// and suppressor. Not `Send`-bound by design, but holds no handles.
#[derive(Clone, Debug)]
pub struct EchoControl {
    config: EchoConfig,
    /// Far band energies per sub-block, a ring indexed by sub-block number.
    far_bands: Vec<BandEnergies>,
    far_count: u64,
    /// Far band energies per frame over the echo window, for the
    /// prediction before the delay is known.
    far_frames: Vec<BandEnergies>,
    far_frame_count: u64,
    frames_since_far_active: u32,
    window_frames: u32,
    far_spectrum: BinarySpectrum,
    near_spectrum: BinarySpectrum,
    delay: DelayEstimator,
    /// Echo return per band, log2 of echo energy over aligned far energy.
    erl_log2: [f32; BANDS],
    erl_learning: bool,
    /// The line's noise floor per band, frame energy.
    floor: Option<BandEnergies>,
    /// The same floor tracked on the frame's total energy: steadier than
    /// the sum of band floors, which sit at each band's own low tail.
    floor_total: Option<f32>,
    /// How far (log2 of energy) frames that are not near speech rise above
    /// that floor on average: brown noise swings more than white.
    floor_spread: f32,
    recent_levels: [f32; STABLE_FRAMES],
    frames_seen: u64,
    hangover_left: u32,
    gain: f32,
    // Derived from the config once.
    min_gain: f32,
    margin: f32,
    noise_margin: f32,
    initial_erl: f32,
    hangover_frames: u32,
    levels: Levels,
}

/// The fixed energy thresholds, computed once (a `powf` per use would cost
/// more than the band split).
#[derive(Clone, Copy, Debug)]
struct Levels {
    far_sub_active: f32,
    far_frame_active: f32,
    far_band_active: f32,
    near_sub_audible: f32,
    min_band_floor: f32,
}

impl Levels {
    fn new() -> Levels {
        Levels {
            far_sub_active: energy_at_dbfs(FAR_ACTIVE_DBFS, SUB),
            far_frame_active: energy_at_dbfs(FAR_FRAME_ACTIVE_DBFS, FRAME),
            far_band_active: energy_at_dbfs(FAR_ACTIVE_DBFS, FRAME) / BANDS as f32,
            near_sub_audible: energy_at_dbfs(-60.0, SUB),
            min_band_floor: energy_at_dbfs(MIN_FLOOR_DBFS, FRAME) / BANDS as f32,
        }
    }
}

impl EchoControl {
    /// A controller that has heard nothing yet.
    pub fn new(config: EchoConfig) -> EchoControl {
        let max_delay_ms = config.max_delay_ms.min(2000);
        let lags = (max_delay_ms as usize).div_ceil(4) + 1;
        // Lags, the prediction's look-around (−3..+1) and a frame.
        let history = lags + 8 + SUBS_PER_FRAME;
        let window_frames = max_delay_ms.div_ceil(20) + 2;
        let initial_erl_log2 = -config.initial_echo_loss_db / 3.0103;
        EchoControl {
            config,
            far_bands: vec![[0.0; BANDS]; history],
            far_count: 0,
            far_frames: vec![[0.0; BANDS]; window_frames as usize],
            far_frame_count: 0,
            frames_since_far_active: u32::MAX,
            window_frames,
            far_spectrum: BinarySpectrum::new(),
            near_spectrum: BinarySpectrum::new(),
            delay: DelayEstimator::new(lags, history),
            erl_log2: [initial_erl_log2; BANDS],
            erl_learning: false,
            floor: None,
            floor_total: None,
            floor_spread: 0.0,
            recent_levels: [0.0; STABLE_FRAMES],
            frames_seen: 0,
            hangover_left: 0,
            gain: 1.0,
            min_gain: 10f32.powf(-config.suppression_db.max(0.0) / 20.0),
            margin: 10f32.powf(config.double_talk_margin_db / 10.0),
            noise_margin: 10f32.powf(config.noise_margin_db / 10.0),
            initial_erl: 10f32.powf(-config.initial_echo_loss_db / 10.0),
            hangover_frames: config.hangover_ms / 20,
            levels: Levels::new(),
        }
    }

    /// The 20 ms of agent audio (8 kHz, 160 samples) released to the caller
    /// on this playout tick; call with silence (`&[0; 160]`) on ticks where
    /// nothing played. A shorter slice is padded with silence, a longer one
    /// cut to 160 samples.
    pub fn far_end(&mut self, played: &[i16]) {
        let active = self.levels.far_sub_active;
        let mut frame_bands = [0.0f32; BANDS];
        for j in 0..SUBS_PER_FRAME {
            let mut block = [0.0f32; SUB];
            for (i, s) in block.iter_mut().enumerate() {
                *s = f32::from(played.get(j * SUB + i).copied().unwrap_or(0));
            }
            let e = band_energies(&block);
            let total: f32 = e.iter().sum();
            let bits = self.far_spectrum.bits(&e, total > active);
            self.delay.push_far(bits);
            let len = self.far_bands.len() as u64;
            self.far_bands[(self.far_count % len) as usize] = e;
            self.far_count += 1;
            for (f, x) in frame_bands.iter_mut().zip(&e) {
                *f += x;
            }
        }
        let slot = (self.far_frame_count % u64::from(self.window_frames)) as usize;
        self.far_frames[slot] = frame_bands;
        self.far_frame_count += 1;
        let total: f32 = frame_bands.iter().sum();
        if total > self.levels.far_frame_active {
            self.frames_since_far_active = 0;
        } else {
            self.frames_since_far_active = self.frames_since_far_active.saturating_add(1);
        }
    }

    /// One 20 ms caller frame (8 kHz, 160 samples), already decoded; echo is
    /// removed or suppressed in place. Returns the verdict for this frame.
    /// A frame of any other length passes untouched and teaches nothing.
    pub fn near_end(&mut self, caller: &mut [i16]) -> EchoVerdict {
        let sum_sq_in: f32 = caller.iter().map(|&s| f32::from(s) * f32::from(s)).sum();
        let level_in_dbfs = dbfs_of(sum_sq_in, caller.len().max(1));
        if caller.len() != FRAME {
            return EchoVerdict {
                far_end_active: self.far_end_active(),
                echo_only: false,
                near_speech: false,
                level_in_dbfs,
                level_out_dbfs: level_in_dbfs,
            };
        }
        self.frames_seen += 1;
        let far_end_active = self.far_end_active();

        // Band energies of the frame's sub-blocks.
        let mut sub_bands = [[0.0f32; BANDS]; SUBS_PER_FRAME];
        let mut near = [0.0f32; BANDS];
        for (j, bands) in sub_bands.iter_mut().enumerate() {
            let mut block = [0.0f32; SUB];
            for (d, &s) in block.iter_mut().zip(&caller[j * SUB..(j + 1) * SUB]) {
                *d = f32::from(s);
            }
            *bands = band_energies(&block);
            for (n, x) in near.iter_mut().zip(bands.iter()) {
                *n += x;
            }
        }
        let near_total: f32 = near.iter().sum();
        let min_floor = self.levels.min_band_floor;
        let floor = *self
            .floor
            .get_or_insert_with(|| near.map(|e| e.max(min_floor)));
        let floor_total: f32 = floor.iter().sum();
        let line_floor = *self
            .floor_total
            .get_or_insert(near_total.max(min_floor * BANDS as f32));

        // The sub-block this frame's first near sub-block was played with.
        let t0 = self.far_count.checked_sub(SUBS_PER_FRAME as u64);

        // Delay estimation on sub-blocks that carry sound while echo is
        // possible; not during double-talk once the delay is known.
        let sub_active =
            (floor_total / SUBS_PER_FRAME as f32 * 4.0).max(self.levels.near_sub_audible);
        let learn_delay = far_end_active && !(self.hangover_left > 0 && self.delay.lag().is_some());
        for (j, bands) in sub_bands.iter().enumerate() {
            let total: f32 = bands.iter().sum();
            let active = total > sub_active;
            let bits = self.near_spectrum.bits(bands, active);
            if let (Some(t0), true, true) = (t0, active, learn_delay) {
                self.delay.update(t0 + j as u64, bits);
            }
        }

        // The echo this frame should contain, per band.
        let mut sub_predicted = [[0.0f32; BANDS]; SUBS_PER_FRAME];
        let (predicted, aligned_far) = self.predict(t0, far_end_active, &mut sub_predicted);
        // Double-talk: energy the echo and the noise cannot explain.
        let mut explained_total = 0.0;
        let mut excess = 0.0;
        for b in 0..BANDS {
            let explained = predicted[b] + floor[b];
            explained_total += explained;
            excess += (near[b] - self.margin * explained).max(0.0);
        }
        // A quarter of the explained energy again, outside the margin: a caller
        // about as loud as the echo in a few bands.
        let noise_bar = fast_log2(self.noise_margin * line_floor) + 2.0 * self.floor_spread;
        let mut near_raw = excess > 0.25 * explained_total && fast_log2(near_total) > noise_bar;
        if !near_raw && aligned_far.is_some() {
            // The same test on 8 ms (two sub-blocks) with a higher bar: an
            // onset in the frame's last milliseconds is not diluted by the
            // echo-only milliseconds before it.
            let pair_bar = noise_bar + fast_log2(2.0 / SUBS_PER_FRAME as f32);
            for j in 1..SUBS_PER_FRAME {
                let (mut pair_excess, mut pair_explained, mut pair_total) = (0.0, 0.0, 0.0);
                for b in 0..BANDS {
                    let e = sub_bands[j - 1][b] + sub_bands[j][b];
                    let explained = sub_predicted[j - 1][b]
                        + sub_predicted[j][b]
                        + floor[b] * (2.0 / SUBS_PER_FRAME as f32);
                    pair_explained += explained;
                    pair_total += e;
                    pair_excess += (e - self.margin * explained).max(0.0);
                }
                if pair_excess > pair_explained && fast_log2(pair_total) > pair_bar {
                    near_raw = true;
                    break;
                }
            }
        }
        if !near_raw && !far_end_active {
            // Learned on line noise alone: echo is not noise. Capped at
            // 6 dB, so the bar is never more than 12 dB above the margin.
            let gap = (fast_log2(near_total) - fast_log2(line_floor)).max(0.0);
            self.floor_spread += 0.05 * (gap.min(2.0) - self.floor_spread);
        }
        if near_raw {
            self.hangover_left = self.hangover_frames;
        } else {
            self.hangover_left = self.hangover_left.saturating_sub(1);
        }
        let near_speech = near_raw || self.hangover_left > 0;

        if !near_speech {
            if let Some(far) = aligned_far {
                self.learn_echo_return(&near, &far, &floor);
            }
        }
        self.track_floor(&near, near_total, far_end_active);

        // Suppression: echo-only frames down to the noise floor.
        let target = if near_speech || !far_end_active {
            1.0
        } else {
            (floor_total / near_total.max(1.0))
                .sqrt()
                .clamp(self.min_gain, 1.0)
        };
        let start = self.gain;
        let mut sum_sq_out = 0.0f32;
        for (i, s) in caller.iter_mut().enumerate() {
            let g = if i < SUB {
                start + (target - start) * (i + 1) as f32 / SUB as f32
            } else {
                target
            };
            let v = (f32::from(*s) * g).round().clamp(-32768.0, 32767.0);
            sum_sq_out += v * v;
            *s = v as i16;
        }
        self.gain = target;

        EchoVerdict {
            far_end_active,
            echo_only: far_end_active && !near_speech && near_total > 2.0 * floor_total,
            near_speech,
            level_in_dbfs,
            level_out_dbfs: dbfs_of(sum_sq_out, FRAME),
        }
    }

    /// Current delay estimate, if converged, in ms (4 ms steps).
    pub fn delay_ms(&self) -> Option<u32> {
        self.delay.lag().map(|lag| lag as u32 * 4)
    }

    /// Forgets everything learned (delay, echo return, noise floor), as
    /// after a long pause or a transfer to another line.
    pub fn reset(&mut self) {
        *self = EchoControl::new(self.config);
    }

    fn far_end_active(&self) -> bool {
        self.frames_since_far_active <= self.window_frames
    }

    /// The predicted echo energy per band for this frame, and (once the
    /// delay is known) the aligned far energy it was scaled from.
    fn predict(
        &self,
        t0: Option<u64>,
        far_end_active: bool,
        sub_predicted: &mut [BandEnergies; SUBS_PER_FRAME],
    ) -> (BandEnergies, Option<BandEnergies>) {
        let mut predicted = [0.0f32; BANDS];
        *sub_predicted = [[0.0; BANDS]; SUBS_PER_FRAME];
        if !far_end_active {
            return (predicted, None);
        }
        let (Some(t0), Some(lag)) = (t0, self.delay.lag()) else {
            // No delay yet: any far frame of the window may come back, only
            // `initial_echo_loss_db` down.
            for frame in &self.far_frames {
                for (p, &e) in predicted.iter_mut().zip(frame) {
                    *p = p.max(e);
                }
            }
            return (predicted.map(|p| p * self.initial_erl), None);
        };
        let len = self.far_bands.len() as u64;
        let oldest = self.far_count.saturating_sub(len);
        let mut far = [0.0f32; BANDS];
        let erl = self.erl_log2.map(f32::exp2);
        for j in 0..SUBS_PER_FRAME as u64 {
            let t = t0 + j;
            // From three sub-blocks before the lag to one after: the delay
            // is known to 4 ms, and the echo path smears the far end.
            let mut peak = [0.0f32; BANDS];
            let centre = t.checked_sub(lag as u64);
            if let Some(centre) = centre {
                let from = centre.saturating_sub(3).max(oldest);
                let to = (centre + 2).min(self.far_count);
                for far_t in from..to {
                    let e = &self.far_bands[(far_t % len) as usize];
                    for (p, &x) in peak.iter_mut().zip(e) {
                        *p = p.max(x);
                    }
                }
            }
            for (f, p) in far.iter_mut().zip(&peak) {
                *f += p;
            }
            for b in 0..BANDS {
                sub_predicted[j as usize][b] = peak[b] * erl[b];
            }
        }
        for b in 0..BANDS {
            predicted[b] = far[b] * erl[b];
        }
        (predicted, Some(far))
    }

    /// Tracks an upper percentile (about the 90th) of echo over aligned far
    /// energy per band, on frames that are not near speech: the prediction
    /// should cover nearly all of the echo, not its average.
    fn learn_echo_return(&mut self, near: &BandEnergies, far: &BandEnergies, floor: &BandEnergies) {
        let far_active = self.levels.far_band_active;
        for b in 0..BANDS {
            if far[b] < far_active || far[b] * self.erl_log2[b].exp2() < 2.0 * floor[b] {
                continue; // echo here, if any, would drown in the noise
            }
            let ratio = fast_log2(near[b]) - fast_log2(far[b]);
            let erl = &mut self.erl_log2[b];
            if ratio < *erl - 2.0 {
                *erl -= 0.25;
            } else if ratio < *erl {
                *erl -= 0.05;
            } else if ratio < *erl + 3.0 {
                *erl += 0.45;
            }
            *erl = erl.clamp(-14.0, 1.0);
        }
        self.erl_learning = true;
    }

    /// The line's noise floor: down fast, up at 3 dB/s, or at once when the
    /// level has held still for 80 ms with no agent audio (steady noise).
    fn track_floor(&mut self, near: &BandEnergies, near_total: f32, far_end_active: bool) {
        let level = fast_log2(near_total);
        let slot = (self.frames_seen as usize) % STABLE_FRAMES;
        self.recent_levels[slot] = level;
        let stable = self.frames_seen >= STABLE_FRAMES as u64 && {
            let (lo, hi) = self
                .recent_levels
                .iter()
                .fold((f32::MAX, f32::MIN), |(lo, hi), &l| (lo.min(l), hi.max(l)));
            hi - lo < STABLE_SPAN_LOG2
        };
        // Only without agent audio: during echo a steady stretch is more
        // likely a held vowel of double-talk than new line noise.
        let rise = if stable && !far_end_active {
            FLOOR_RISE_STABLE
        } else {
            FLOOR_RISE
        };
        let min_floor = self.levels.min_band_floor;
        if let Some(f) = self.floor_total.as_mut() {
            // Down by a fifth of the gap per frame: near the noise's low
            // tail but not pinned to its deepest dip.
            *f = if near_total < *f {
                *f + 0.2 * (near_total - *f)
            } else {
                (*f * rise).min(near_total)
            };
            *f = f.max(min_floor * BANDS as f32);
        }
        if let Some(floor) = self.floor.as_mut() {
            for (f, &e) in floor.iter_mut().zip(near) {
                *f = if e < *f {
                    *f + 0.5 * (e - *f)
                } else {
                    (*f * rise).min(e)
                };
                *f = f.max(min_floor);
            }
        }
    }
}
