//! Which CPU this is: a dense index, 0 for the boot CPU and 1, 2, … for the
//! others in the device tree's order, kept in `TPIDR_EL1` (set by
//! `asm/boot.S` and `asm/secondary.S` before any Rust code runs). Per-CPU
//! state is an array of [`MAX_CPUS`] indexed by it.

use aarch64_cpu::registers::{Readable, TPIDR_EL1};

pub use crate::boot_info::MAX_CPUS;

/// This CPU's index, below [`MAX_CPUS`].
pub fn index() -> usize {
    TPIDR_EL1.get() as usize
}
