//! Criterion benches: TODO
fn main() {}
