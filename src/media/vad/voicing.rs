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
    let mut best = 0.0f32;
    for lag in min_lag..=max_lag {
        let (mut xy, mut xx, mut yy) = (0.0f32, 0.0f32, 0.0f32);
        for (a, b) in samples.iter().zip(&samples[lag..]) {
            let (a, b) = (f32::from(*a), f32::from(*b));
            xy += a * b;
            xx += a * a;
            yy += b * b;
        }
        if xx > 0.0 && yy > 0.0 {
            best = best.max(xy / (xx * yy).sqrt());
        }
    }
    best
}

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
}
