//! The one source of randomness for secrets and tokens: the digest-nonce
//! secret, Twilio stream tokens, SIP tags, branches and SSRCs.
//!
//! Nothing here falls back. A source that fails at start-up stops the
//! server ([`check`]); one that fails later fails the request that needed
//! it (503 and an error line), never a weaker token. The [`RandomSource`]
//! trait is the seam tests use to inject a failing source.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::SecureRandom;

/// Why random bytes could not be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RandomError {
    /// The operating system's random source returned an error.
    #[error(
        "the operating system's random source failed, and warmline makes no secrets or tokens \
         without it: check that the process may call getrandom(2) (a seccomp profile or a very \
         old kernel can forbid it) or read /dev/urandom (chroot, container without /dev), then \
         restart"
    )]
    Unavailable,
}

/// Fills buffers with cryptographically secure random bytes.
pub trait RandomSource: Send + Sync + fmt::Debug {
    /// Fills `dest`, or says the source failed (then `dest` is unusable).
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError>;
}

/// A shared random source.
pub type Random = Arc<dyn RandomSource>;

/// The operating system's source, through aws-lc-rs (getrandom on Linux).
#[derive(Debug)]
pub struct SystemRandom(aws_lc_rs::rand::SystemRandom);

impl Default for SystemRandom {
    fn default() -> SystemRandom {
        SystemRandom(aws_lc_rs::rand::SystemRandom::new())
    }
}

impl RandomSource for SystemRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        self.0.fill(dest).map_err(|_| RandomError::Unavailable)
    }
}

/// The operating system's source, shared.
pub fn system() -> Random {
    Arc::new(SystemRandom::default())
}

/// Draws a few bytes once, so that a broken source stops start-up with a
/// clear message instead of surfacing in the first call.
pub fn check(source: &dyn RandomSource) -> Result<(), RandomError> {
    let mut probe = [0u8; 32];
    source.fill(&mut probe)
}

/// A random `u64`.
pub fn u64(source: &dyn RandomSource) -> Result<u64, RandomError> {
    let mut bytes = [0u8; 8];
    source.fill(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// `n` random bytes as lowercase hex.
pub fn hex(source: &dyn RandomSource, n: usize) -> Result<String, RandomError> {
    let mut bytes = vec![0u8; n];
    source.fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A source that always fails: the seam for tests of the failure paths.
#[derive(Debug, Default)]
pub struct FailingRandom;

impl RandomSource for FailingRandom {
    fn fill(&self, _dest: &mut [u8]) -> Result<(), RandomError> {
        Err(RandomError::Unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_source_gives_distinct_values_and_hex_of_the_asked_length() {
        let source = system();
        check(&*source).expect("system source");
        let (a, b) = (u64(&*source), u64(&*source));
        assert_ne!(a, b);
        let h = hex(&*source, 12).expect("hex");
        assert_eq!(h.len(), 24);
        assert!(h.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_failing_source_fails_every_draw_with_what_to_do() {
        let source = FailingRandom;
        assert_eq!(check(&source), Err(RandomError::Unavailable));
        assert_eq!(u64(&source), Err(RandomError::Unavailable));
        assert_eq!(hex(&source, 4), Err(RandomError::Unavailable));
        let message = RandomError::Unavailable.to_string();
        assert!(message.contains("getrandom"), "{message}");
        assert!(message.contains("restart"), "{message}");
    }
}
