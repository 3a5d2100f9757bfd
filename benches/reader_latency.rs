//! Benchmark slot: filled by the work on this part.

fn main() {}
