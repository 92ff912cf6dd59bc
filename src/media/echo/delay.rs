//! The echo path's delay, found by matching binary spectra.
//!
//! After WebRTC's legacy delay estimator (the one AECM uses): every 4 ms
//! sub-block of each end becomes a 16-bit pattern ([`super::bands`]); for
//! each candidate lag the Hamming distance between the near pattern and the
//! far pattern that many sub-blocks back is smoothed over time, and the lag
//! with the smallest mean distance wins once it stands clearly below the
//! average of all lags. Cost: one XOR and one popcount per lag per
//! sub-block, 151 lags for 600 ms.

/// Smoothing of the mean distances once warmed up: about 128 updates,
/// a second of echo at the usual activity.
const ALPHA_MIN: f32 = 1.0 / 128.0;
/// Updates before a lag may be declared.
const MIN_UPDATES: u32 = 60;
/// How far (in bits, of 16) the best lag must sit below the mean of all
/// lags to be believed.
const MIN_VALLEY_BITS: f32 = 1.2;
/// How much better (in bits) a new lag must match than the current one
/// before the estimate moves: neighbouring lags match almost equally well.
const HYSTERESIS_BITS: f32 = 0.3;

/// Binary-spectrum delay estimator over `0..lags` sub-blocks.
#[derive(Clone, Debug)]
pub(super) struct DelayEstimator {
    /// Far patterns, a ring indexed by absolute sub-block number.
    far_bits: Vec<u32>,
    /// Number of far sub-blocks pushed so far.
    far_count: u64,
    /// Smoothed Hamming distance per lag.
    mean: Vec<f32>,
    updates: u32,
    current: Option<usize>,
}

impl DelayEstimator {
    /// An estimator for lags `0..lags` sub-blocks, keeping `history` far
    /// sub-blocks (at least `lags`).
    pub(super) fn new(lags: usize, history: usize) -> DelayEstimator {
        DelayEstimator {
            far_bits: vec![0; history.max(lags)],
            far_count: 0,
            mean: vec![8.0; lags],
            updates: 0,
            current: None,
        }
    }

    /// Records the next far sub-block's pattern.
    pub(super) fn push_far(&mut self, bits: u32) {
        let len = self.far_bits.len() as u64;
        self.far_bits[(self.far_count % len) as usize] = bits;
        self.far_count += 1;
    }

    /// Matches the near pattern of absolute sub-block `t` (the far
    /// sub-block `t` was played at the same time) against every lag.
    pub(super) fn update(&mut self, t: u64, near_bits: u32) {
        let len = self.far_bits.len() as u64;
        if t >= self.far_count {
            return; // far end not yet pushed for this time: nothing to match
        }
        self.updates = self.updates.saturating_add(1);
        let alpha = (1.0 / self.updates as f32).max(ALPHA_MIN);
        let oldest = self.far_count.saturating_sub(len);
        // Lags reaching back no further than the oldest far pattern kept.
        let n = ((t - oldest + 1) as usize).min(self.mean.len());
        // The ring read backwards from `t`, as two contiguous runs: no
        // division per lag (a modulo per lag was most of this loop's cost).
        let pos = (t % len) as usize;
        let (recent, older) = self.far_bits.split_at(pos + 1);
        let far_by_lag = recent.iter().rev().chain(older.iter().rev());
        for (m, &far) in self.mean[..n].iter_mut().zip(far_by_lag) {
            let distance = (near_bits ^ far).count_ones() as f32;
            *m += alpha * (distance - *m);
        }
        self.decide();
    }

    fn decide(&mut self) {
        if self.updates < MIN_UPDATES {
            return;
        }
        let mut best = 0;
        let mut sum = 0.0;
        for (lag, &m) in self.mean.iter().enumerate() {
            sum += m;
            if m < self.mean[best] {
                best = lag;
            }
        }
        let average = sum / self.mean.len() as f32;
        if average - self.mean[best] < MIN_VALLEY_BITS {
            return;
        }
        match self.current {
            Some(c) if c == best || self.mean[best] > self.mean[c] - HYSTERESIS_BITS => {}
            _ => self.current = Some(best),
        }
    }

    /// The believed lag in sub-blocks, once one stands out.
    pub(super) fn lag(&self) -> Option<usize> {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded pseudo-random 16-bit pattern stream.
    fn patterns(seed: u32, n: usize) -> Vec<u32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                s & 0xffff
            })
            .collect()
    }

    #[test]
    fn a_pure_delay_of_random_patterns_is_found_exactly() {
        let far = patterns(0x1234_5678, 600);
        let mut est = DelayEstimator::new(151, 160);
        for t in 0..far.len() {
            est.push_far(far[t]);
            if t >= 37 {
                est.update(t as u64, far[t - 37]);
            }
        }
        assert_eq!(est.lag(), Some(37));
    }

    #[test]
    fn uncorrelated_near_patterns_never_declare_a_lag() {
        let far = patterns(0x1234_5678, 2000);
        let near = patterns(0x0bad_cafe, 2000);
        let mut est = DelayEstimator::new(151, 160);
        for t in 0..far.len() {
            est.push_far(far[t]);
            est.update(t as u64, near[t]);
        }
        assert_eq!(est.lag(), None);
    }
}
