//! `VmContext`: the machine a set of VM objects lives on.
//!
//! It carries the platform seam ([`FrameAllocator`], [`CacheMaintenance`],
//! [`Waiter`]), the shared zero frame that reads of never-written anonymous
//! pages map (digest §6.5), and the registries of what
//! [`VmContext::reclaim`] may free: discardable VMOs (digest §2.11,
//! LOCK/UNLOCK) and the Clean pages of pager VMOs (digest §3.1).

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use crate::platform::{CacheMaintenance, FrameAllocator, PhysAddr, Waiter};
use crate::vmo::{evict_from, Evictable, Vmo};
use crate::{Status, PAGE_SIZE};

/// The platform and shared state under every VMO and VMAR.
pub struct VmContext {
    pub frames: Arc<dyn FrameAllocator>,
    pub cache: Arc<dyn CacheMaintenance>,
    pub waiter: Arc<dyn Waiter>,
    zero_frame: PhysAddr,
    discardable: spin::Mutex<Vec<Weak<Vmo>>>,
    evictable: spin::Mutex<Vec<Evictable>>,
}

/// How many frames an allocation that found none tries to free at a time
/// ([`VmContext::relieve`]).
const PRESSURE_BATCH: u64 = 16;

impl VmContext {
    /// A context over the given platform; takes and zeroes the zero frame.
    /// NO_MEMORY if no frame is free.
    pub fn new(
        frames: Arc<dyn FrameAllocator>,
        cache: Arc<dyn CacheMaintenance>,
        waiter: Arc<dyn Waiter>,
    ) -> Result<Arc<VmContext>, Status> {
        let zero_frame = frames.alloc().ok_or(Status::NoMemory)?;
        frames.zero(zero_frame, 0, PAGE_SIZE as usize);
        Ok(Arc::new(VmContext {
            frames,
            cache,
            waiter,
            zero_frame,
            discardable: spin::Mutex::new(Vec::new()),
            evictable: spin::Mutex::new(Vec::new()),
        }))
    }

    /// The shared, always-zero frame; never writable.
    pub fn zero_frame(&self) -> PhysAddr {
        self.zero_frame
    }

    /// Discards every live discardable VMO that is not locked (later
    /// TRY_LOCKs fail with UNAVAILABLE and LOCK reports the discarded range)
    /// and evicts every Clean pager page not hinted ALWAYS_NEED (the pager
    /// supplies it again when it is next needed). Returns the number of
    /// frames freed.
    pub fn reclaim(&self) -> u64 {
        self.discard_all() + self.evict(u64::MAX)
    }

    /// Frees some frames for an allocation that found none: Clean pager
    /// pages first (DONT_NEED ones before the others), then unlocked
    /// discardable VMOs. Returns how many it freed; 0 when nothing could go.
    /// Called with no VM lock held.
    pub(crate) fn relieve(&self) -> u64 {
        match self.evict(PRESSURE_BATCH) {
            0 => self.discard_all(),
            freed => freed,
        }
    }

    fn discard_all(&self) -> u64 {
        let live: Vec<Arc<Vmo>> = {
            let mut list = self.discardable.lock();
            list.retain(|w| w.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        live.iter().map(|vmo| vmo.discard_if_unlocked()).sum()
    }

    /// Evicts up to `max` Clean pager pages, family by family.
    fn evict(&self, max: u64) -> u64 {
        let families: Vec<Evictable> = {
            let mut list = self.evictable.lock();
            list.retain(|w| w.strong_count() > 0);
            list.clone()
        };
        let mut freed = 0;
        for family in &families {
            if freed == max {
                break;
            }
            freed += evict_from(family, self, max - freed);
        }
        freed
    }

    /// Enters a pager VMO's family in the eviction registry.
    pub(crate) fn register_evictable(&self, family: Evictable) {
        let mut list = self.evictable.lock();
        list.retain(|w| w.strong_count() > 0);
        list.push(family);
    }

    /// Enters a new discardable VMO in the reclaim registry.
    pub(crate) fn register_discardable(&self, vmo: &Arc<Vmo>) {
        let mut list = self.discardable.lock();
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(vmo));
    }
}

impl Drop for VmContext {
    fn drop(&mut self) {
        self.frames.free(self.zero_frame);
    }
}
