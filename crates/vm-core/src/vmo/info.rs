//! What `ZX_INFO_VMO` reports of a VMO (digest §2.2, §2.10, §4.4 Info,
//! §4.5 Info, Children, ManyChildren), and its name (`ZX_PROP_NAME`).
//!
//! Committed bytes follow one attribution model (digest §7 item 7, the
//! newest kernel's): a page a VMO owns counts wholly for it; a page shared
//! copy-on-write (held by a hidden node of the family) counts in equal
//! shares for every VMO that sees it, so right after a snapshot of a
//! one-page VMO each side reports half a page, and the shares of a family
//! add up to the frames it holds. A page of a pager VMO seen live by its
//! at-least-on-write children counts only for the pager VMO. Slices and
//! references own nothing of their own: their pages count for the VMO they
//! were made from, and they report 0.

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use super::Vmo;
use crate::platform::CachePolicy;

/// `ZX_MAX_NAME_LEN`: a name's buffer, its terminating NUL included.
pub const NAME_LEN: usize = 32;

/// The fields of `zx_info_vmo_t` vm-core knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmoInfo {
    pub koid: u64,
    /// NUL-padded.
    pub name: [u8; NAME_LEN],
    pub size_bytes: u64,
    /// The VMO this one was created from; 0 for a root.
    pub parent_koid: u64,
    /// Children alive: snapshots, slices and references made from it.
    pub num_children: u64,
    /// Mappings of this VMO (each counted, even in one address space).
    pub num_mappings: u64,
    /// Address spaces it is mapped into; 1 with fewer than two mappings,
    /// as in Zircon's `VmObject::share_count`.
    pub share_count: u64,
    pub resizable: bool,
    pub discardable: bool,
    /// Made by a pager, or a child of such a VMO.
    pub pager_backed: bool,
    /// A copy-on-write child (`ZX_INFO_VMO_IS_COW_CLONE`).
    pub cow_clone: bool,
    /// The bytes attributed to it (see the module docs).
    pub committed_bytes: u64,
    /// The same: no content is kept other than in committed frames.
    pub populated_bytes: u64,
    pub cache_policy: CachePolicy,
    /// Heap bytes of its page list.
    pub metadata_bytes: u64,
    /// Evictions and discards that took pages from its family.
    pub committed_change_events: u64,
}

impl Vmo {
    /// The VMO's `ZX_INFO_VMO` fields, read in one hold of the family lock.
    pub fn info(&self) -> VmoInfo {
        let fam = self.family.lock();
        let view = fam.view(self.view);
        let (leaf, base, size) = fam.geometry(self.view);
        let live: Vec<_> = view.mappings.iter().filter_map(|m| m.upgrade()).collect();
        let mut spaces: Vec<usize> = live.iter().map(|m| m.address_space()).collect();
        spaces.sort_unstable();
        spaces.dedup();
        let (committed, metadata) = if view.attributed {
            (fam.cow.attributed_bytes(leaf, base, base + size), fam.cow.metadata_bytes(leaf))
        } else {
            (0, 0)
        };
        VmoInfo {
            koid: self.koid,
            name: self.name(),
            size_bytes: size,
            parent_koid: self.parent.as_ref().map_or(0, |(_, koid)| *koid),
            num_children: self.children.load(Ordering::SeqCst) as u64,
            num_mappings: live.len() as u64,
            share_count: if live.len() < 2 { 1 } else { spaces.len() as u64 },
            resizable: self.resizable,
            discardable: self.discardable,
            pager_backed: fam.source.is_some(),
            cow_clone: self.cow_clone,
            committed_bytes: committed,
            populated_bytes: committed,
            cache_policy: view.cache,
            metadata_bytes: metadata,
            committed_change_events: fam.reclaim_events,
        }
    }

    /// `ZX_PROP_NAME`: the name, NUL-padded.
    pub fn name(&self) -> [u8; NAME_LEN] {
        *self.name.lock()
    }

    /// Sets the name to `name`'s bytes up to the first NUL, cut to
    /// `NAME_LEN - 1` bytes (Zircon keeps room for the NUL).
    pub fn set_name(&self, name: &[u8]) {
        let len = name.iter().position(|&b| b == 0).unwrap_or(name.len()).min(NAME_LEN - 1);
        let mut stored = [0; NAME_LEN];
        stored[..len].copy_from_slice(&name[..len]);
        *self.name.lock() = stored;
    }
}
