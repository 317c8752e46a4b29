//! vm-core: the virtual-memory subsystem of Fuchsia's Zircon kernel, without
//! a platform.
//!
//! `no_std` + `alloc`. The machine underneath is reached only through the
//! small traits of [`platform`].
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(any(test, feature = "mock"))]
extern crate std;

pub mod context;
pub mod cow;
pub mod fault;
pub mod page_list;
pub mod platform;
mod status;
pub mod vmar;
pub mod vmo;

#[cfg(any(test, feature = "mock"))]
pub mod mock;

pub use platform::{PhysAddr, PAGE_SIZE};
pub use status::{raw_status, Status};
