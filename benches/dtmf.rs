//! Criterion bench placeholder; filled in by the dtmf work.
fn main() {}
