//! Deferred work of a change made under a family lock: the mapping calls it
//! owes and the frames it freed, in that order.

use alloc::sync::Arc;
use smallvec::SmallVec;

use super::VmoMapping;
use crate::platform::{FrameAllocator, PhysAddr};
use crate::PAGE_SIZE;

#[derive(Clone, Copy)]
pub(super) enum NoticeKind {
    Unmap,
    RemoveWrite,
}

/// What a change made under the family lock leaves to do: tell the mappings
/// that may translate to pages the family let go of or now shares, and only
/// then return the frames it freed. Both happen before the lock is dropped,
/// so no CPU can use a stale translation to a freed frame (which a new owner
/// may already hold) or write a page through one after it became shared.
///
/// It stands in for the frame allocator of the operations that free frames:
/// their frees wait here for the mapping calls.
/// One mapping call: what to tell whom, for which VMO range.
type Call = (Arc<dyn VmoMapping>, NoticeKind, u64, u64);

/// Its lists are inline for the few entries of a fault: no heap allocation.
pub(super) struct Notices<'a> {
    calls: crate::sync::Mutex<SmallVec<[Call; 1]>>,
    frames: &'a dyn FrameAllocator,
    freed: crate::sync::Mutex<SmallVec<[PhysAddr; 2]>>,
}

impl<'a> Notices<'a> {
    pub(super) fn new(frames: &'a dyn FrameAllocator) -> Self {
        Notices {
            calls: crate::sync::Mutex::new(SmallVec::new()),
            frames,
            freed: crate::sync::Mutex::new(SmallVec::new()),
        }
    }

    /// Queues `kind` for `mapping`'s `[offset, offset + len)`.
    pub(super) fn call(&self, mapping: Arc<dyn VmoMapping>, kind: NoticeKind, offset: u64, len: u64) {
        self.calls.lock().push((mapping, kind, offset, len));
    }

    /// The allocator operations use while the lock is held: frees wait
    /// until [`Notices::deliver`].
    pub(super) fn frames(&self) -> &dyn FrameAllocator {
        self
    }

    /// Makes the mapping calls, then frees the frames. Inlined for its
    /// common case, a change that owes nothing (a read fault); by reference,
    /// so the caller's `Notices` is not moved (copied) to get here.
    #[inline]
    pub(super) fn deliver(&mut self) {
        if !self.calls.get_mut().is_empty() || !self.freed.get_mut().is_empty() {
            self.deliver_queued();
        }
    }

    fn deliver_queued(&mut self) {
        for (mapping, kind, offset, len) in self.calls.get_mut().drain(..) {
            // What these changes unmap or share holds nothing the pager must
            // write back: the written state of the translations goes.
            match kind {
                NoticeKind::Unmap => mapping.unmap_vmo_range(offset, len, &mut |_| {}),
                NoticeKind::RemoveWrite => mapping.remove_write_vmo_range(offset, len, &mut |_| {}),
            }
        }
        for frame in self.freed.get_mut().drain(..) {
            self.frames.free(frame);
        }
    }
}

impl FrameAllocator for Notices<'_> {
    fn alloc(&self) -> Option<PhysAddr> {
        self.frames.alloc()
    }
    fn free(&self, frame: PhysAddr) {
        self.freed.lock().push(frame);
    }
    fn free_count(&self) -> usize {
        self.frames.free_count()
    }
    fn read(&self, frame: PhysAddr, offset: usize, buf: &mut [u8]) {
        self.frames.read(frame, offset, buf)
    }
    fn write(&self, frame: PhysAddr, offset: usize, data: &[u8]) {
        self.frames.write(frame, offset, data)
    }
    fn zero(&self, frame: PhysAddr, offset: usize, len: usize) {
        self.frames.zero(frame, offset, len)
    }
    fn copy(&self, dst: PhysAddr, src: PhysAddr) {
        self.frames.copy(dst, src)
    }
}

/// Page-aligned runs, built in increasing order (inline while there is one).
#[derive(Default)]
pub(super) struct Runs(pub(super) SmallVec<[(u64, u64); 1]>);

impl Runs {
    pub(super) fn add(&mut self, offset: u64) {
        match self.0.last_mut() {
            Some((_, end)) if *end == offset => *end += PAGE_SIZE,
            _ => self.0.push((offset, offset + PAGE_SIZE)),
        }
    }
}
