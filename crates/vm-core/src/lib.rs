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
//! - [`vmo`]: [`vmo::Vmo`], anonymous and pager-backed VMOs and their
//!   children, with every argument and state check of the VMO syscalls
//!   (digest §2.8-2.11); its submodules hold a family's views, the deferred
//!   mapping notices and frees, discardable locking, cache-op runs, the
//!   cache policy, the content size, what `ZX_INFO_VMO` reports (with the
//!   attribution of shared pages), the pager's side of a VMO, the
//!   dirty-state machine and writeback (§3.1, §3.2), and the eviction of
//!   Clean pager pages.
//! - [`cow`]: the copy-on-write tree (hidden nodes, at-least-on-write
//!   children, forks, migration and merging on close, digest §3.4).
//! - [`page_list`]: the sparse per-node page list with zero intervals
//!   (digest §3.5).
//! - [`page_source`]: page requests, and how operations wait for them
//!   without holding locks (digest §2.15, §3.3).
//! - [`pager`]: [`pager::Pager`], which creates pager VMOs, supplies their
//!   pages, fails their requests and detaches them (digest §2.1-2.5).
//! - [`vmar`] and [`fault`]: address regions, mappings and the fault path.
//! - [`signals`]: an object's signals and their observers
//!   (`ZX_VMO_ZERO_CHILDREN`, digest §1.9).
//!
//! # Lock order
//! Every lock is a `spin::Mutex` (the mock waiter's is a std one; feature
//! `shuttle` makes them visible to that scheduler, see `sync`). A thread
//! holding one of these may take only those further down the list:
//!
//! 1. An address space's VMAR tree ([`vmar`]). Taken to change or look up
//!    regions and mappings; cutting a mapping unregisters it from its VMO
//!    (2), and cutting or protecting one holds the VMO's family lock (2)
//!    across the translations it removes and the dirty state they carried
//!    (`Vmo::taking_translations`), so no eviction sees a written page as
//!    Clean in between. It is dropped before any VMO operation that may allocate or wait:
//!    `op_range` collects the mappings first, the fault path only looks up
//!    its target.
//! 2. A VMO family ([`vmo`]): the copy-on-write tree, the views and their
//!    mapping lists, and a pager family's page source. Mapping notices are
//!    delivered under it (3, 4) before the frames a change released are
//!    freed; page-request packets are queued and withdrawn under it (5). Two
//!    families are never held at once: a supply takes the aux VMO's pages
//!    under the aux family's lock and releases it before taking the pager
//!    VMO's.
//! 3. A mapping's state (runs and generation, [`vmar`]). Notices take it,
//!    and so does a fault that takes over its own notice (it starts the
//!    generation a notice would have, under 2).
//! 4. An address space's translation tables (the platform's
//!    [`Translation`](platform::Translation)).
//! 5. Leaves, which take nothing else: a port's packet queue, the frame
//!    allocator, the pager's list of its families, the registry of
//!    discardable VMOs (collected, then released before any family is
//!    locked), the platform waiter's own lock, a VMO's name and its
//!    signals (whose observers fire after that lock is dropped).
//!
//! # Waiting
//! Nothing sleeps holding any of these locks. An operation that needs a page
//! the pager has not supplied takes a ticket and returns to its caller's
//! loop, which drops the family lock and waits on the ticket through the
//! platform's [`Waiter`](platform::Waiter); see [`page_source`] for the
//! whole flow. A waiter's condition reads only atomics (a ticket) or a leaf
//! (a port queue), and wake-ups are issued after the state they announce is
//! written, so none is lost. The fault path waits the same way, holding no
//! VMAR, VMO, mapping or table lock; a mapping changed meanwhile makes it
//! retry (generation numbers), so a fault that waited on a page of a region
//! unmapped in the meantime ends with NOT_FOUND.
//!
//! # Page-list metadata
//! A slot is one `u64`; slots come in boxed nodes of 16 in a `BTreeMap` keyed
//! by node index. A dense list costs **10.1 bytes per committed page** (8 for
//! the slot, about 2 for the map entry and B-tree slack), measured by
//! `cargo xtask bench host` with a counting allocator.
//!
//! # Costs
//! `cargo xtask bench host` measures vm-core's jobs next to Linux's and their
//! physical limits (the README's performance section has a run's table).
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
pub mod signals;
mod slab;
mod status;
mod sync;
pub mod vmar;
pub mod vmo;

#[cfg(any(test, feature = "mock"))]
pub mod mock;

pub use platform::{PhysAddr, PAGE_SIZE};
pub use status::{raw_status, Status};
