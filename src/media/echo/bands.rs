//! Sub-block features shared by the far and the near end: eight band
//! energies of a 4 ms sub-block and the binary spectrum built from them.
//!
//! The bands come from a three-level Haar wavelet packet (sums and
//! differences of neighbouring samples, three times). Its bands overlap
//! heavily, but it costs about six additions per sample, needs no FFT and
//! no window, and the same transform runs on both ends, so their band
//! energies compare like with like, which is all echo control needs.

/// Samples in one sub-block (4 ms at 8 kHz): the delay estimate's
/// resolution and the suppressor's gain step.
pub(super) const SUB: usize = 32;
/// Sub-blocks in one 20 ms frame.
pub(super) const SUBS_PER_FRAME: usize = 5;
/// Samples in one 20 ms frame at 8 kHz.
pub(super) const FRAME: usize = SUB * SUBS_PER_FRAME;
/// Bands of the Haar packet.
pub(super) const BANDS: usize = 8;

/// Band energies of one sub-block, in the transform's own scale (eight
/// times the sample energy in int16 units, summed over the bands).
pub(super) type BandEnergies = [f32; BANDS];

/// Splits one sub-block into eight band energies.
pub(super) fn band_energies(block: &[f32; SUB]) -> BandEnergies {
    // Level 1: 16 low + 16 high coefficients.
    let mut l1 = [0.0f32; SUB];
    for i in 0..SUB / 2 {
        let (a, b) = (block[2 * i], block[2 * i + 1]);
        l1[i] = a + b;
        l1[SUB / 2 + i] = a - b;
    }
    // Level 2: each half again, four groups of eight.
    let mut l2 = [0.0f32; SUB];
    for half in 0..2 {
        let src = &l1[half * 16..half * 16 + 16];
        for i in 0..8 {
            let (a, b) = (src[2 * i], src[2 * i + 1]);
            l2[half * 16 + i] = a + b;
            l2[half * 16 + 8 + i] = a - b;
        }
    }
    // Level 3: eight groups of four; only their energies are kept.
    let mut out = [0.0f32; BANDS];
    for quarter in 0..4 {
        let src = &l2[quarter * 8..quarter * 8 + 8];
        let (mut lo, mut hi) = (0.0f32, 0.0f32);
        for i in 0..4 {
            let (a, b) = (src[2 * i], src[2 * i + 1]);
            lo += (a + b) * (a + b);
            hi += (a - b) * (a - b);
        }
        out[2 * quarter] = lo;
        out[2 * quarter + 1] = hi;
    }
    out
}

/// A cheap `log2` (exponent plus linear mantissa, error under 0.09): the
/// binary spectrum and the echo-return estimate need ranks and ratios, not
/// exact logarithms, and a true `log2` per band per sub-block would cost
/// more than everything else here.
pub(super) fn fast_log2(x: f32) -> f32 {
    let bits = x.max(1e-3).to_bits();
    let exponent = ((bits >> 23) & 0xff) as f32 - 127.0;
    let mantissa = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    exponent + mantissa - 1.0
}

/// Builds the binary spectrum of one sub-block and keeps the per-band
/// thresholds it compares against.
///
/// Bit `b` says band `b` is above its own long-term mean (in log2); bit
/// `8 + b` says band `b` rose by more than 3 dB since the previous
/// sub-block. Level bits make the pattern independent of the echo's
/// attenuation, rise bits make it sharp in time.
#[derive(Clone, Debug)]
pub(super) struct BinarySpectrum {
    threshold: [f32; BANDS],
    previous: [f32; BANDS],
    started: bool,
}

impl BinarySpectrum {
    pub(super) fn new() -> BinarySpectrum {
        BinarySpectrum {
            threshold: [0.0; BANDS],
            previous: [0.0; BANDS],
            started: false,
        }
    }

    /// The pattern of `energies`; `active` sub-blocks (above the stream's
    /// silence) also move the thresholds.
    pub(super) fn bits(&mut self, energies: &BandEnergies, active: bool) -> u32 {
        let mut logs = [0.0f32; BANDS];
        for (l, &e) in logs.iter_mut().zip(energies) {
            *l = fast_log2(e);
        }
        if active {
            if !self.started {
                self.threshold = logs;
                self.started = true;
            } else {
                for (t, &l) in self.threshold.iter_mut().zip(&logs) {
                    *t += (l - *t) * (1.0 / 64.0);
                }
            }
        }
        let mut bits = 0u32;
        for (b, ((&l, &t), &p)) in logs
            .iter()
            .zip(&self.threshold)
            .zip(&self.previous)
            .enumerate()
        {
            if l > t {
                bits |= 1 << b;
            }
            if l > p + 1.0 {
                bits |= 1 << (BANDS + b);
            }
        }
        self.previous = logs;
        bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq_hz: f32) -> [f32; SUB] {
        let mut b = [0.0; SUB];
        for (i, s) in b.iter_mut().enumerate() {
            *s = 1000.0 * (2.0 * std::f32::consts::PI * freq_hz * i as f32 / 8000.0).sin();
        }
        b
    }

    #[test]
    fn band_energies_preserve_total_energy_up_to_the_transform_scale() {
        let b = tone(700.0);
        let direct: f32 = b.iter().map(|s| s * s).sum();
        let bands: f32 = band_energies(&b).iter().sum();
        assert!((bands / direct - 8.0).abs() < 1e-3, "{}", bands / direct);
    }

    #[test]
    fn low_and_high_tones_land_in_different_bands() {
        let argmax = |e: BandEnergies| {
            (0..BANDS)
                .max_by(|&a, &b| e[a].total_cmp(&e[b]))
                .unwrap_or(0)
        };
        assert_ne!(
            argmax(band_energies(&tone(250.0))),
            argmax(band_energies(&tone(3700.0)))
        );
    }

    #[test]
    fn fast_log2_is_within_a_tenth_of_the_true_log2() {
        for x in [1.0f32, 3.0, 10.0, 1234.5, 1e6, 7.7e9] {
            assert!((fast_log2(x) - x.log2()).abs() < 0.1, "{x}");
        }
    }
}
