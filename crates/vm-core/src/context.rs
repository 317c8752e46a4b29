//! `VmContext`: the machine a set of VM objects lives on.
//!
//! It carries the platform seam ([`FrameAllocator`], [`CacheMaintenance`],
//! [`Waiter`]), the shared zero frame that reads of never-written anonymous
//! pages map (digest §6.5), and the registry of discardable VMOs that
//! [`VmContext::reclaim`] may discard (digest §2.11, LOCK/UNLOCK).

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use crate::platform::{CacheMaintenance, FrameAllocator, PhysAddr, Waiter};
use crate::vmo::Vmo;
use crate::{Status, PAGE_SIZE};

/// The platform and shared state under every VMO and VMAR.
pub struct VmContext {
    pub frames: Arc<dyn FrameAllocator>,
    pub cache: Arc<dyn CacheMaintenance>,
    pub waiter: Arc<dyn Waiter>,
    zero_frame: PhysAddr,
    discardable: spin::Mutex<Vec<Weak<Vmo>>>,
}

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
        }))
    }

    /// The shared, always-zero frame; never writable.
    pub fn zero_frame(&self) -> PhysAddr {
        self.zero_frame
    }

    /// Discards every live discardable VMO that is not locked, freeing its
    /// pages; later TRY_LOCKs fail with UNAVAILABLE and LOCK reports the
    /// discarded range. Returns the number of frames freed.
    pub fn reclaim(&self) -> u64 {
        let live: Vec<Arc<Vmo>> = {
            let mut list = self.discardable.lock();
            list.retain(|w| w.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        live.iter().map(|vmo| vmo.discard_if_unlocked()).sum()
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
