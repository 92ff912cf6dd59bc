//! Signal measurements used by tests, evaluations and benches: sine fits,
//! SNR and delay by cross-correlation.
//!
//! Nothing here runs on the audio path; it exists so that every quality
//! figure warmline quotes is computed one way.

/// The result of fitting `a·sin(ωt) + b·cos(ωt) + c` to a signal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SineFit {
    /// Amplitude of the fitted sinusoid.
    pub amplitude: f64,
    /// Ratio of the fitted sinusoid's power to the residual's, in dB
    /// (signal to noise-and-distortion).
    pub snr_db: f64,
}

/// Least-squares fit of a sinusoid of known frequency to `samples`.
pub fn fit_sine(samples: &[f64], rate_hz: f64, tone_hz: f64) -> SineFit {
    let w = 2.0 * std::f64::consts::PI * tone_hz / rate_hz;
    // Normal equations for the basis [sin, cos, 1].
    let mut ata = [[0.0f64; 3]; 3];
    let mut aty = [0.0f64; 3];
    for (i, &y) in samples.iter().enumerate() {
        let basis = [(w * i as f64).sin(), (w * i as f64).cos(), 1.0];
        for r in 0..3 {
            aty[r] += basis[r] * y;
            for c in 0..3 {
                ata[r][c] += basis[r] * basis[c];
            }
        }
    }
    let coef = solve3(ata, aty);
    let mut signal = 0.0;
    let mut residual = 0.0;
    for (i, &y) in samples.iter().enumerate() {
        let s = coef[0] * (w * i as f64).sin() + coef[1] * (w * i as f64).cos();
        signal += s * s;
        let e = y - s - coef[2];
        residual += e * e;
    }
    SineFit {
        amplitude: coef[0].hypot(coef[1]),
        snr_db: 10.0 * (signal / residual.max(f64::MIN_POSITIVE)).log10(),
    }
}

fn solve3(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> [f64; 3] {
    for col in 0..3 {
        let pivot = (col..3)
            .max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        b.swap(col, pivot);
        let p = a[col][col];
        if p.abs() < 1e-12 {
            continue;
        }
        for row in 0..3 {
            if row != col {
                let f = a[row][col] / p;
                let pivot_row = a[col];
                for (dst, &src) in a[row].iter_mut().zip(&pivot_row) {
                    *dst -= f * src;
                }
                b[row] -= f * b[col];
            }
        }
    }
    [b[0] / a[0][0], b[1] / a[1][1], b[2] / a[2][2]]
}

/// The lag (in samples, `0..=max_lag`) at which `delayed` best matches
/// `reference`, by normalised cross-correlation.
pub fn best_lag(reference: &[f64], delayed: &[f64], max_lag: usize) -> usize {
    let mut best = (0, f64::MIN);
    for lag in 0..=max_lag {
        let n = reference.len().min(delayed.len().saturating_sub(lag));
        let mut dot = 0.0;
        let mut energy = 0.0;
        for i in 0..n {
            dot += reference[i] * delayed[i + lag];
            energy += delayed[i + lag] * delayed[i + lag];
        }
        let score = dot / energy.sqrt().max(f64::MIN_POSITIVE);
        if score > best.1 {
            best = (lag, score);
        }
    }
    best.0
}

/// `n` samples of seeded, gently low-passed white noise in ±0.5: a test
/// signal whose cross-correlation has one clear peak.
pub fn lowpassed_noise(seed: u32, n: usize) -> Vec<f64> {
    let mut state = seed.max(1);
    let mut prev = 0.0;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            prev = 0.5 * prev + 0.5 * (f64::from(state) / f64::from(u32::MAX) - 0.5);
            prev
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_amplitude_and_reports_high_snr_for_a_clean_sine() {
        let x: Vec<f64> = (0..800)
            .map(|i| 0.5 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 8000.0 + 0.3).sin())
            .collect();
        let fit = fit_sine(&x, 8000.0, 1000.0);
        assert!((fit.amplitude - 0.5).abs() < 1e-9);
        assert!(fit.snr_db > 100.0);
    }

    #[test]
    fn fit_reports_snr_of_added_distortion() {
        // A third harmonic 40 dB down gives an SNR of 40 dB.
        let x: Vec<f64> = (0..8000)
            .map(|i| {
                let t = 2.0 * std::f64::consts::PI * 500.0 * i as f64 / 8000.0;
                t.sin() + 0.01 * (3.0 * t).sin()
            })
            .collect();
        let fit = fit_sine(&x, 8000.0, 500.0);
        assert!((fit.snr_db - 40.0).abs() < 0.1, "{}", fit.snr_db);
    }

    #[test]
    fn best_lag_finds_a_known_shift() {
        let mut state = 7u32;
        let noise: Vec<f64> = (0..500)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                f64::from(state) / f64::from(u32::MAX) - 0.5
            })
            .collect();
        let mut delayed = vec![0.0; 9];
        delayed.extend_from_slice(&noise);
        assert_eq!(best_lag(&noise, &delayed, 40), 9);
    }
}
