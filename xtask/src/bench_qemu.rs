//! PLACEHOLDER on branch issue-13 only, for `bench.rs` to compile: the
//! helper on the QEMU half of issue 13 writes the real module, which
//! replaces this file at merge.

use std::path::Path;

/// `cargo xtask bench qemu`: not here yet.
pub fn run(_root: &Path, _args: &[String]) -> Result<i32, String> {
    Err("bench qemu is not yet there (issue 13's QEMU half)".to_string())
}
