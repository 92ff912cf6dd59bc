//! Criterion bench placeholder; filled in by the pacer work.
fn main() {}
