//! Criterion bench placeholder; filled in by the resample work.
fn main() {}
