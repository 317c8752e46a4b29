//! platform-virt: the aarch64 platform for QEMU's `virt` board.
//!
//! Boot at EL2 or EL1 (dropping to EL1), the device tree read with the `fdt`
//! crate, a PL011 console behind `log`, a heap and a frame allocator from
//! `buddy_system_allocator` over the RAM the tree reports, the MMU with
//! vm-core's address spaces on it, SMP, exception vectors that resolve page
//! faults, cores that sleep in `WFI` until a GIC (v2 or v3) SGI or the
//! timer wakes them, a virtio block device (`virtio-drivers`), PSCI and
//! semihosting power-off, and the QEMU test harness.
//!
//! The parts that are plain Rust (device tree reading, the memory map, the
//! frame allocator's bookkeeping, syndrome decoding, the translation tables
//! and their instruction sequences) also build on the host, where
//! `cargo test` checks them.
//!
//! # Layers
//! Each module uses only modules of the layers below it:
//!
//! | layer | modules |
//! |---|---|
//! | boot and the harness | `runtime` (`Boot`, `entry!`), `testing` |
//! | exceptions | `exceptions` (vectors, dispatch of aborts) |
//! | processes | `process` (a `Zx` over its own address space) |
//! | the VM on the platform | `vm` (`vm::AddressSpace`, each CPU's current one, the fault path) |
//! | CPUs | `smp`, `wait` |
//! | the MMU | `mmu`: `tables` (`mmu::tables::TranslationTables`), `hw`, `asid`, `descriptor`, `table_memory` |
//! | caches | `cache` (`cache::CpuCaches`) over `mmu::maintenance` (the instructions) |
//! | memory | `frames` (the frame allocator, `frames::global`) |
//! | faults as values, the end of a run | `fault`, `fatal` (reports, the panic handler) |
//! | devices and this CPU | `block` (virtio-blk), `console`, `gic` (wake-ups), `power`, `cpu` |
//! | facts | `boot_info` (with `fdt_blob`, the blob's check), `memory_map`, `esr` |
//!
//! `mmu::maintenance` sits below `cache`, which sits below the rest of
//! `mmu`.
#![cfg_attr(target_os = "none", no_std)]

extern crate alloc;

pub mod boot_info;
pub mod cache;
pub mod esr;
pub mod fdt_blob;
pub mod frames;
pub mod memory_map;
pub mod mmu;

#[cfg(target_os = "none")]
pub mod block;
#[cfg(target_os = "none")]
pub mod console;
#[cfg(target_os = "none")]
pub mod cpu;
#[cfg(target_os = "none")]
mod exceptions;
#[cfg(target_os = "none")]
pub mod fatal;
#[cfg(target_os = "none")]
pub mod fault;
#[cfg(target_os = "none")]
mod frame_ops;
#[cfg(target_os = "none")]
mod gic;
#[cfg(target_os = "none")]
pub mod power;
#[cfg(target_os = "none")]
pub mod process;
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
