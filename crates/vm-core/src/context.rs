//! `VmContext`: the machine a set of VM objects lives on.
//!
//! It carries the platform seam ([`FrameAllocator`], [`CacheMaintenance`],
//! [`Waiter`]), the shared zero frame that reads of never-written anonymous
//! pages map (digest §6.5), and the registries of what
//! [`VmContext::reclaim`] may free: discardable VMOs (digest §2.11,
//! LOCK/UNLOCK) and the Clean pages of pager VMOs (digest §3.1).

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::TypeId;

use crate::platform::{is_same_object, CacheMaintenance, FrameAllocator, PhysAddr, Waiter};
use crate::vmo::{evict_from, Evictable, Vmo};
use crate::{Status, PAGE_SIZE};

/// The platform and shared state under every VMO and VMAR.
pub struct VmContext {
    pub frames: Arc<dyn FrameAllocator>,
    pub cache: Arc<dyn CacheMaintenance>,
    pub waiter: Arc<dyn Waiter>,
    /// The type behind `frames`, for [`VmContext::frames_are`].
    frames_type: TypeId,
    zero_frame: PhysAddr,
    discardable: crate::sync::Mutex<Vec<Weak<Vmo>>>,
    evictable: crate::sync::Mutex<Vec<Evictable>>,
    evicted: core::sync::atomic::AtomicU64,
}

/// A frame allocator that hands out at most `limit` frames at once from
/// another: a machine's memory made smaller, for a VM context that must live
/// within a budget.
pub struct FrameBudget {
    inner: Arc<dyn FrameAllocator>,
    limit: usize,
    used: core::sync::atomic::AtomicUsize,
}

impl FrameBudget {
    pub fn new(inner: Arc<dyn FrameAllocator>, limit: usize) -> FrameBudget {
        FrameBudget { inner, limit, used: core::sync::atomic::AtomicUsize::new(0) }
    }
}

impl FrameAllocator for FrameBudget {
    fn alloc(&self) -> Option<PhysAddr> {
        use core::sync::atomic::Ordering::SeqCst;
        self.used.fetch_update(SeqCst, SeqCst, |used| (used < self.limit).then_some(used + 1)).ok()?;
        let frame = self.inner.alloc();
        if frame.is_none() {
            self.used.fetch_sub(1, SeqCst);
        }
        frame
    }
    fn free(&self, frame: PhysAddr) {
        self.inner.free(frame);
        self.used.fetch_sub(1, core::sync::atomic::Ordering::SeqCst);
    }
    fn free_count(&self) -> usize {
        let left = self.limit - self.used.load(core::sync::atomic::Ordering::SeqCst);
        left.min(self.inner.free_count())
    }
    fn read(&self, frame: PhysAddr, offset: usize, buf: &mut [u8]) {
        self.inner.read(frame, offset, buf)
    }
    fn write(&self, frame: PhysAddr, offset: usize, data: &[u8]) {
        self.inner.write(frame, offset, data)
    }
    fn zero(&self, frame: PhysAddr, offset: usize, len: usize) {
        self.inner.zero(frame, offset, len)
    }
    fn copy(&self, dst: PhysAddr, src: PhysAddr) {
        self.inner.copy(dst, src)
    }
}

/// How many frames an allocation that found none tries to free at a time
/// ([`VmContext::relieve`]).
const PRESSURE_BATCH: u64 = 16;

impl VmContext {
    /// A context over the given platform; takes and zeroes the zero frame.
    /// NO_MEMORY if no frame is free. The allocator's type is recorded, for
    /// [`Vmar::fault_with`](crate::vmar::Vmar::fault_with).
    pub fn new<F: FrameAllocator + 'static>(
        frames: Arc<F>,
        cache: Arc<dyn CacheMaintenance>,
        waiter: Arc<dyn Waiter>,
    ) -> Result<Arc<VmContext>, Status> {
        let zero_frame = frames.alloc().ok_or(Status::NoMemory)?;
        frames.zero(zero_frame, 0, PAGE_SIZE as usize);
        Ok(Arc::new(VmContext {
            frames,
            cache,
            waiter,
            frames_type: TypeId::of::<F>(),
            zero_frame,
            discardable: crate::sync::Mutex::new(Vec::new()),
            evictable: crate::sync::Mutex::new(Vec::new()),
            evicted: core::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// Whether `frames` is this context's allocator, under its own type
    /// ([`is_same_object`]).
    pub(crate) fn frames_are<F: FrameAllocator + 'static>(&self, frames: &F) -> bool {
        is_same_object(&self.frames, self.frames_type, frames)
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

    /// How many Clean pager pages reclaims and memory pressure have evicted
    /// in this context so far.
    pub fn evicted_pages(&self) -> u64 {
        self.evicted.load(core::sync::atomic::Ordering::Relaxed)
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
        self.evicted.fetch_add(freed, core::sync::atomic::Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockFrames;

    #[test]
    fn a_budget_hands_out_at_most_its_limit_and_counts_frees() {
        let inner = Arc::new(MockFrames::new(8));
        let budget = FrameBudget::new(inner.clone(), 3);
        let frames: Vec<PhysAddr> = (0..3).map(|_| budget.alloc().unwrap()).collect();
        assert_eq!(budget.alloc(), None);
        assert_eq!(budget.free_count(), 0);
        assert_eq!(inner.free_count(), 5, "the rest of the machine is untouched");
        budget.free(frames[0]);
        assert_eq!(budget.free_count(), 1);
        let again = budget.alloc().unwrap();
        for frame in [again, frames[1], frames[2]] {
            budget.free(frame);
        }
        assert_eq!((budget.free_count(), inner.free_count()), (3, 8));
    }
}
