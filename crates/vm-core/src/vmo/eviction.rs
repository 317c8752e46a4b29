//! Eviction of a pager VMO's Clean pages (digest §3.1: Clean pages are
//! evictable, Dirty and AwaitingClean ones are not; §2.11 DONT_NEED and
//! ALWAYS_NEED), when the context reclaims or runs short of frames.
//!
//! An evicted page goes missing: the next access asks the pager for it
//! again. Pages hinted DONT_NEED go first; pages hinted ALWAYS_NEED never go
//! (the hint is sticky, as in Zircon, even against a later DONT_NEED).
//! Before a page goes, every translation of it is removed at once, taking
//! its dirty state with it: a page the hardware dirtied is Dirty instead,
//! and stays.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use super::family::Family;
use super::notices::Notices;
use super::{range_end, round_down, round_up, Vmo, MAX_SIZE};
use crate::context::VmContext;
use crate::{Status, PAGE_SIZE};

/// A set of page ranges of a paged root, kept sorted and disjoint.
#[derive(Default)]
pub(super) struct Ranges(Vec<(u64, u64)>);

impl Ranges {
    /// Adds `[start, end)` (bytes), merging with what it touches.
    fn add(&mut self, start: u64, end: u64) {
        let mut merged = (start, end);
        self.0.retain(|&(s, e)| {
            let apart = e < merged.0 || s > merged.1;
            if !apart {
                merged = (merged.0.min(s), merged.1.max(e));
            }
            apart
        });
        let at = self.0.partition_point(|&(s, _)| s < merged.0);
        self.0.insert(at, merged);
    }

    fn contains(&self, offset: u64) -> bool {
        self.0.iter().any(|&(s, e)| (s..e).contains(&offset))
    }
}

/// The eviction hints of a pager family's root.
#[derive(Default)]
pub(super) struct Hints {
    always_need: Ranges,
    dont_need: Ranges,
}

/// A family the context may evict pages from.
pub(crate) type Evictable = Weak<crate::sync::Mutex<Family>>;

impl Family {
    /// Evicts up to `max` Clean pages of the paged root, DONT_NEED ones
    /// first, never ALWAYS_NEED ones; returns how many frames went.
    fn evict(&mut self, max: u64, notices: &Notices) -> u64 {
        let Some(root) = self.paged_root() else { return 0 };
        let mut hinted = Vec::new();
        let mut other = Vec::new();
        for (s, e) in self.cow.clean_runs(root, 0, MAX_SIZE, false) {
            for offset in (s..e).step_by(PAGE_SIZE as usize) {
                if self.hints.always_need.contains(offset) {
                    continue;
                }
                if self.hints.dont_need.contains(offset) {
                    hinted.push(offset);
                } else {
                    other.push(offset);
                }
            }
        }
        let chosen: Vec<(u64, u64)> =
            hinted.into_iter().chain(other).take(max as usize).map(|o| (o, o + PAGE_SIZE)).collect();
        let before = self.cow.own_pages(root);
        self.drop_clean(root, &chosen, notices);
        let freed = before - self.cow.own_pages(root);
        self.reclaim_events += u64::from(freed > 0);
        freed
    }
}

/// Evicts up to `max` Clean pages from `family`, if it is still there;
/// returns the frames freed.
pub(crate) fn evict_from(family: &Evictable, ctx: &VmContext, max: u64) -> u64 {
    let Some(family) = family.upgrade() else { return 0 };
    let mut fam = family.lock();
    let mut notices = Notices::new(&*ctx.frames);
    let freed = fam.evict(max, &notices);
    notices.deliver();
    freed
}

impl Vmo {
    /// The root page range (bytes) a hint of `[offset, offset + len)` of
    /// this VMO covers: through a clone or a slice, the root's pages it sees.
    fn hint_range(&self, fam: &Family, offset: u64, len: u64) -> Result<(u64, u64), Status> {
        let (leaf, base, size) = fam.geometry(self.view);
        let end = range_end(offset, len, size)?;
        let shift = fam.cow.root_offset(leaf) + base;
        Ok((round_down(shift + offset), round_up(shift + end).unwrap_or(MAX_SIZE)))
    }

    /// `ZX_VMO_OP_DONT_NEED` (digest §2.11): range checked (OUT_OF_RANGE);
    /// on a pager family, the Clean pages of the range are evicted first.
    /// Commits nothing; trivially OK on anonymous VMOs.
    pub fn dont_need(&self, offset: u64, len: u64) -> Result<(), Status> {
        let mut fam = self.family.lock();
        let (start, end) = self.hint_range(&fam, offset, len)?;
        if fam.source.is_some() {
            fam.hints.dont_need.add(start, end);
        }
        Ok(())
    }

    /// `ZX_VMO_OP_ALWAYS_NEED` (digest §2.11): on a pager family the pages
    /// of the range are never evicted from now on, and every page the VMO
    /// sees there is supplied first, as for PREFETCH.
    pub fn always_need(&self, offset: u64, len: u64) -> Result<(), Status> {
        {
            let mut fam = self.family.lock();
            let (start, end) = self.hint_range(&fam, offset, len)?;
            if fam.source.is_some() {
                fam.hints.always_need.add(start, end);
            }
        }
        self.prefetch(offset, len)
    }

    /// Registers a pager VMO's family with the context, for eviction.
    pub(super) fn register_evictable(self: &Arc<Self>) {
        self.ctx.register_evictable(Arc::downgrade(&self.family));
    }
}
