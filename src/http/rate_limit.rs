//! Failed-credential rate limiting, sans-IO: a token bucket of refused
//! attempts. A request with the right credential always passes; refused
//! ones spend a token, and once the bucket is empty further refused ones
//! get 429 (with Retry-After) instead of 401 until it refills. That bounds
//! how fast anyone can guess a token (the admin token, bearer only) while
//! a legitimate client is never slowed by an attacker's failures.
//!
//! One bucket per protected surface, not per client address: guessing is
//! bounded globally, the memory is constant, and a botnet gains nothing.

use std::time::{Duration, Instant};

/// Refused attempts allowed in a burst.
pub const BURST: u32 = 20;
/// Refused attempts allowed per second once the burst is spent.
pub const PER_SECOND: u32 = 2;

/// A token bucket of refused attempts.
#[derive(Debug, Clone)]
pub struct FailureBucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Option<Instant>,
}

impl Default for FailureBucket {
    fn default() -> Self {
        FailureBucket::new(BURST, PER_SECOND)
    }
}

impl FailureBucket {
    /// A full bucket of `burst`, refilled at `per_second`.
    pub fn new(burst: u32, per_second: u32) -> FailureBucket {
        FailureBucket {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            per_second: f64::from(per_second.max(1)),
            last: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        }
        self.last = Some(now);
    }

    /// A refused attempt at `now`: `Ok` to answer it normally (401), or
    /// `Err(retry_after)` when the limit is reached (429).
    pub fn refused(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.per_second;
            Err(Duration::from_secs_f64(wait).max(Duration::from_secs(1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_failures_is_answered_then_limited_until_the_bucket_refills() {
        let start = Instant::now();
        let mut bucket = FailureBucket::new(3, 1);
        for _ in 0..3 {
            assert_eq!(bucket.refused(start), Ok(()));
        }
        let wait = bucket.refused(start).expect_err("limited");
        assert_eq!(wait, Duration::from_secs(1));
        assert!(bucket.refused(start + Duration::from_millis(500)).is_err());
        assert_eq!(bucket.refused(start + Duration::from_millis(1_100)), Ok(()));
        assert!(bucket
            .refused(start + Duration::from_millis(1_200))
            .is_err());
        // A long pause refills only up to the burst.
        let later = start + Duration::from_secs(3_600);
        for _ in 0..3 {
            assert_eq!(bucket.refused(later), Ok(()));
        }
        assert!(bucket.refused(later).is_err());
    }
}
