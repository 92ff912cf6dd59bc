//! Criterion bench placeholder; filled in by the vad work.
fn main() {}
