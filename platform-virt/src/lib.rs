//! platform-virt: the aarch64 platform for QEMU's `virt` board.
//!
//! Boot at EL2 or EL1 (dropping to EL1), the device tree read with the `fdt`
//! crate, a PL011 console behind `log`, a heap and a frame allocator from
//! `buddy_system_allocator` over the RAM the tree reports, exception vectors
//! that report and fail, PSCI and semihosting power-off, and the QEMU test
//! harness.
//!
//! The parts that are plain Rust (device tree reading, the memory map, the
//! frame allocator's bookkeeping, syndrome decoding) also build on the host,
//! where `cargo test` checks them.
#![cfg_attr(target_os = "none", no_std)]

extern crate alloc;

pub mod boot_info;
pub mod cache;
pub mod esr;
pub mod frames;
pub mod memory_map;
pub mod mmu;

#[cfg(target_os = "none")]
pub mod console;
#[cfg(target_os = "none")]
mod exceptions;
#[cfg(target_os = "none")]
pub mod power;
#[cfg(target_os = "none")]
mod runtime;
#[cfg(target_os = "none")]
pub mod smp;
#[cfg(target_os = "none")]
pub mod testing;
#[cfg(target_os = "none")]
pub mod vm;
#[cfg(target_os = "none")]
pub mod wait;

#[cfg(target_os = "none")]
pub use runtime::Boot;
