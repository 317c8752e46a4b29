//! vm-core: the virtual-memory subsystem of Fuchsia's Zircon kernel, without
//! a platform.
//!
//! `no_std` + `alloc`. The machine underneath is reached only through the
//! small traits of [`platform`]; `mock` (feature `mock`) implements them on
//! the host for tests.
//!
//! # Modules
//! - [`context`]: [`context::VmContext`], the platform plus the shared zero
//!   frame and the reclaim of discardable VMOs.
//! - [`vmo`]: [`vmo::Vmo`], anonymous VMOs and their children, with every
//!   argument and state check of the VMO syscalls (digest §2.8-2.11).
//! - [`cow`]: the copy-on-write tree (hidden nodes, forks, migration and
//!   merging on close, digest §3.4).
//! - [`page_list`]: the sparse per-node page list (digest §3.5).
//! - [`vmar`] and [`fault`]: address regions, mappings and the fault path.
//!
//! # Page-list metadata
//! A slot is one `u64`; slots come in boxed nodes of 16 in a `BTreeMap` keyed
//! by node index. A dense list costs **10.1 bytes per committed page** (8 for
//! the slot, about 2 for the map entry and B-tree slack), measured by
//! `benches/vm.rs` with a counting allocator (9.97 at 1 Ki pages, 10.14 at
//! 64 Ki and 1 Mi pages).
//!
//! # Measured costs
//! `cargo bench -p vm-core --features mock --bench vm -- --quick`, on a
//! 2-core x86_64 VM, over the host mock (frames are host heap boxes, so frame
//! allocation, zeroing and copying cost more than on hardware). Medians:
//!
//! | benchmark | time |
//! |---|---|
//! | lookup of a committed page (`lookup_for_fault`, read) | 23 ns |
//! | commit, per page (256-page commit: 268 µs) | 1.05 µs |
//! | cache clean over a 1 TiB VMO holding 16 pages | 0.78 µs |
//! | the same through a snapshot child of it | 0.84 µs |
//! | snapshot creation, 4 KiB committed parent | 107 ns |
//! | snapshot creation, 1 GiB committed parent | 106 ns (ratio 1.00) |
//! | COW write fault on a page shared with a snapshot | 469 ns |
//! | plain 4 KiB copy between two mock frames | 120 ns |
//! | plain 4 KiB `memcpy` | 33 ns |
//! | page-list metadata per committed page (dense) | 10.1 bytes |
//!
//! Scans cost O(populated pages), not O(range length); snapshot creation is
//! O(1) in the parent's size; a COW write fault copies one page (or none when
//! no other VMO still sees the page). Closing a child costs O(pages it could
//! see in its hidden ancestors) in nested trees, O(1) when it closes back
//! into an untouched parent.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(any(test, feature = "mock"))]
extern crate std;

pub mod context;
pub mod cow;
pub mod fault;
pub mod page_list;
pub mod page_source;
pub mod pager;
pub mod platform;
mod slab;
mod status;
pub mod vmar;
pub mod vmo;

#[cfg(any(test, feature = "mock"))]
pub mod mock;

pub use platform::{PhysAddr, PAGE_SIZE};
pub use status::{raw_status, Status};
