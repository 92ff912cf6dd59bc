//! Criterion bench placeholder; filled in by the jitter work.
fn main() {}
