//! zx: a Zircon-shaped object layer over vm-core.
#![no_std]

extern crate alloc;

pub use vm_core::Status;
