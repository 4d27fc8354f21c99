//! The `kipc` command.
fn main() {}
