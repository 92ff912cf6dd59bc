//! Voicing: does a stretch of audio have a pitch? Speech onsets are voiced
//! (vowels); coughs, breath and clicks are noise. Barge-in uses this to
//! tell a caller talking over the agent from a cough.
//!
//! Normalised autocorrelation over the lags of a 60–400 Hz pitch; pure
//! arithmetic on the samples given, no state.

/// The highest normalised autocorrelation at pitch lags (0..1; voiced
/// speech is typically above 0.5, noise well below).
pub fn voicing(samples: &[i16], rate_hz: u32) -> f32 {
    let min_lag = (rate_hz / 400) as usize;
    let max_lag = (rate_hz / 60) as usize;
    if samples.len() < max_lag * 2 {
        return 0.0;
    }
    // Exact integer sums: the energies of the two overlapping stretches
    // come from prefix sums of squares (O(1) per lag), and the cross term
    // is an i64 accumulation the compiler vectorises. The f32 version ran
    // one dependent add chain per lag and cost tens of µs per frame.
    let n = samples.len();
    let mut prefix = [0i64; MAX_SAMPLES + 1];
    let prefix = &mut prefix[..=n.min(MAX_SAMPLES)];
    let samples = &samples[..prefix.len() - 1];
    let n = samples.len();
    for (i, &s) in samples.iter().enumerate() {
        prefix[i + 1] = prefix[i] + i64::from(s) * i64::from(s);
    }
    let mut best = 0.0f32;
    for lag in min_lag..=max_lag.min(n.saturating_sub(1)) {
        let xy: i64 = samples[..n - lag]
            .iter()
            .zip(&samples[lag..])
            .map(|(&a, &b)| i64::from(i32::from(a) * i32::from(b)))
            .sum();
        let xx = prefix[n - lag];
        let yy = prefix[n] - prefix[lag];
        if xx > 0 && yy > 0 {
            let r = xy as f64 / ((xx as f64) * (yy as f64)).sqrt();
            best = best.max(r as f32);
        }
    }
    best
}

/// Longest stretch analysed (40 ms at 8 kHz, two frames): longer input is
/// cut to it.
const MAX_SAMPLES: usize = 960;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pitched_tone_is_voiced_and_noise_is_not() {
        let tone: Vec<i16> = (0..320)
            .map(|i| {
                let t = i as f32 / 8000.0;
                (3000.0 * (2.0 * std::f32::consts::PI * 150.0 * t).sin()
                    + 1500.0 * (2.0 * std::f32::consts::PI * 300.0 * t).sin())
                    as i16
            })
            .collect();
        assert!(voicing(&tone, 8000) > 0.8);
        let mut state = 12345u32;
        let noise: Vec<i16> = (0..320)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 8000) as i16 - 4000
            })
            .collect();
        assert!(voicing(&noise, 8000) < 0.3);
    }

    /// The reference: the plain f32 normalised autocorrelation.
    fn reference(samples: &[i16], rate_hz: u32) -> f32 {
        let (min_lag, max_lag) = ((rate_hz / 400) as usize, (rate_hz / 60) as usize);
        let mut best = 0.0f32;
        for lag in min_lag..=max_lag {
            let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
            for (a, b) in samples.iter().zip(&samples[lag..]) {
                let (a, b) = (f64::from(*a), f64::from(*b));
                xy += a * b;
                xx += a * a;
                yy += b * b;
            }
            if xx > 0.0 && yy > 0.0 {
                best = best.max((xy / (xx * yy).sqrt()) as f32);
            }
        }
        best
    }

    #[test]
    fn the_fast_sums_match_the_plain_autocorrelation() {
        let mut state = 777u32;
        for case in 0..200 {
            let pitch = 60.0 + 3.0 * case as f32;
            let samples: Vec<i16> = (0..320)
                .map(|i| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    let t = i as f32 / 8000.0;
                    let tone = 8000.0 * (2.0 * std::f32::consts::PI * pitch * t).sin();
                    let noise = (state % 20_000) as f32 - 10_000.0;
                    (tone * (case % 3) as f32 + noise * 0.5 * (case % 4) as f32)
                        .clamp(-32768.0, 32767.0) as i16
                })
                .collect();
            let (fast, plain) = (voicing(&samples, 8000), reference(&samples, 8000));
            assert!(
                (fast - plain).abs() < 1e-5,
                "case {case}: {fast} vs {plain}"
            );
        }
    }
}
