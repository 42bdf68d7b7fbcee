//! Project tasks: `cargo xtask ci | vectors | dist | bench`.
fn main() {}
