//! authd: placeholder entry point, replaced by the real binary.
fn main() {}
