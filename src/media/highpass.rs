//! A second-order high-pass (Butterworth biquad) for the caller's audio
//! before speech decisions.
//!
//! A telephone channel is specified from 300 Hz up (G.712), yet lines
//! still bring rumble below it (handling noise, wind, mains hum, brown
//! room noise) whose frame levels swing 20 dB and whose strong low-lag
//! correlation looks "voiced". Voices keep their harmonics above 200 Hz,
//! so removing what is below costs the speech decisions nothing. Applied
//! to what the VAD and the barge-in tests see, never to what the model
//! hears. No allocation; state carries across frames.

/// The filter. See the module docs.
#[derive(Clone, Copy, Debug)]
pub struct HighPass {
    b: [f32; 3],
    a: [f32; 2],
    x: [f32; 2],
    y: [f32; 2],
}

impl HighPass {
    /// A high-pass at `cutoff_hz` for audio at `rate_hz` (Q = 1/√2).
    pub fn new(cutoff_hz: f32, rate_hz: f32) -> HighPass {
        let w0 = 2.0 * std::f32::consts::PI * cutoff_hz / rate_hz;
        let alpha = w0.sin() / (2.0 * std::f32::consts::FRAC_1_SQRT_2);
        let cos = w0.cos();
        let a0 = 1.0 + alpha;
        HighPass {
            b: [
                (1.0 + cos) / 2.0 / a0,
                -(1.0 + cos) / a0,
                (1.0 + cos) / 2.0 / a0,
            ],
            a: [-2.0 * cos / a0, (1.0 - alpha) / a0],
            x: [0.0; 2],
            y: [0.0; 2],
        }
    }

    /// Filters `samples` in place.
    pub fn process(&mut self, samples: &mut [i16]) {
        for s in samples.iter_mut() {
            let x0 = f32::from(*s);
            let y0 = self.b[0] * x0 + self.b[1] * self.x[0] + self.b[2] * self.x[1]
                - self.a[0] * self.y[0]
                - self.a[1] * self.y[1];
            self.x = [x0, self.x[0]];
            self.y = [y0, self.y[0]];
            *s = y0.clamp(-32768.0, 32767.0) as i16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rms(s: &[i16]) -> f64 {
        (s.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
    }

    #[test]
    fn passes_speech_band_and_removes_rumble() {
        for (hz, lo, hi) in [(50.0, 0.0, 0.1), (1_000.0, 0.95, 1.05)] {
            let mut f = HighPass::new(200.0, 8_000.0);
            let mut tone: Vec<i16> = (0..8_000)
                .map(|i| {
                    (8_000.0 * (2.0 * std::f32::consts::PI * hz * i as f32 / 8_000.0).sin()) as i16
                })
                .collect();
            let before = rms(&tone[4_000..]);
            f.process(&mut tone);
            let ratio = rms(&tone[4_000..]) / before;
            assert!((lo..=hi).contains(&ratio), "{hz} Hz: {ratio}");
        }
    }
}
