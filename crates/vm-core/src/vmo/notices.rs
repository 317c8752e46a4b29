//! Deferred work of a change made under a family lock: the mapping calls it
//! owes and the frames it freed, in that order.

use alloc::sync::{Arc, Weak};
use smallvec::SmallVec;

use super::VmoMapping;
use crate::platform::{FrameAllocator, PhysAddr};
use crate::PAGE_SIZE;

#[derive(Clone, Copy)]
pub(super) enum NoticeKind {
    Unmap,
    RemoveWrite,
}

/// One mapping call: what to tell whom, for which VMO range.
type Call = (Arc<dyn VmoMapping>, NoticeKind, u64, u64);

/// The calls queued so far, and the one page a fault takes over.
#[derive(Default)]
struct Calls {
    queued: SmallVec<[Call; 1]>,
    /// A faulting mapping (its address) and page offset: that mapping
    /// replaces its own translation of that page, so no unmap of it is
    /// queued; whether one was left out.
    taken_over: Option<(usize, u64, bool)>,
}

/// What a change made under the family lock leaves to do: tell the mappings
/// that may translate to pages the family let go of or now shares, and only
/// then return the frames it freed. Both happen before the lock is dropped,
/// so no CPU can use a stale translation to a freed frame (which a new owner
/// may already hold) or write a page through one after it became shared.
///
/// It stands in for the frame allocator of the operations that free frames:
/// their frees wait here for the mapping calls. Its lists are inline for
/// the few entries of a fault: no heap allocation.
pub(super) struct Notices<'a> {
    calls: crate::sync::Mutex<Calls>,
    frames: &'a dyn FrameAllocator,
    freed: crate::sync::Mutex<SmallVec<[PhysAddr; 2]>>,
}

impl<'a> Notices<'a> {
    pub(super) fn new(frames: &'a dyn FrameAllocator) -> Self {
        Notices {
            calls: crate::sync::Mutex::new(Calls::default()),
            frames,
            freed: crate::sync::Mutex::new(SmallVec::new()),
        }
    }

    /// Queues `kind` for `mapping`'s `[offset, offset + len)` if the mapping
    /// is still there, unless it is the unmap of the one page
    /// [`Notices::take_over`] named. That one is told apart by address
    /// before any upgrade: the faulting mapping is alive, and a weak
    /// reference keeps its allocation, so no other mapping has its address.
    pub(super) fn call(&self, mapping: &Weak<dyn VmoMapping>, kind: NoticeKind, offset: u64, len: u64) {
        let mut calls = self.calls.lock();
        if let (NoticeKind::Unmap, Some((who, page, taken))) = (kind, calls.taken_over.as_mut()) {
            if mapping.as_ptr() as *const () as usize == *who && (offset, len) == (*page, PAGE_SIZE) {
                *taken = true;
                return;
            }
        }
        if let Some(mapping) = mapping.upgrade() {
            calls.queued.push((mapping, kind, offset, len));
        }
    }

    /// Names the page at `offset` of `mapping`, which is faulting on it:
    /// it will replace its translation of the page itself (break before
    /// make), so [`Notices::call`] leaves out an unmap of just that page
    /// (a longer unmap goes out whole; the fault then looks again).
    pub(super) fn take_over(&self, mapping: &dyn VmoMapping, offset: u64) {
        self.calls.lock().taken_over = Some((address(mapping), offset, false));
    }

    /// Whether an unmap of the page named by [`Notices::take_over`] was
    /// left out.
    pub(super) fn took_over(&self) -> bool {
        self.calls.lock().taken_over.is_some_and(|(_, _, taken)| taken)
    }

    /// The allocator operations use while the lock is held: frees wait
    /// until [`Notices::deliver`].
    pub(super) fn frames(&self) -> &dyn FrameAllocator {
        self
    }

    /// The allocator itself, for a [`Reserve`](crate::cow::Reserve): the
    /// frames it returns unused no translation has seen, so they need not
    /// wait, and its zeroing and copying reach the platform in one call
    /// rather than through this one's.
    pub(super) fn allocator(&self) -> &'a dyn FrameAllocator {
        self.frames
    }

    /// Makes the mapping calls, then frees the frames. Inlined for its
    /// common case, a change that owes nothing (a read fault); by reference,
    /// so the caller's `Notices` is not moved (copied) to get here.
    #[inline]
    pub(super) fn deliver(&mut self) {
        if !self.calls.get_mut().queued.is_empty() || !self.freed.get_mut().is_empty() {
            self.deliver_queued();
        }
    }

    fn deliver_queued(&mut self) {
        for (mapping, kind, offset, len) in self.calls.get_mut().queued.drain(..) {
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

/// A mapping's identity: the address of the object.
fn address(mapping: &dyn VmoMapping) -> usize {
    mapping as *const dyn VmoMapping as *const () as usize
}

/// Page-aligned runs, built in increasing order (inline while there is one).
#[derive(Default)]
pub(super) struct Runs(pub(super) SmallVec<[(u64, u64); 1]>);

impl Runs {
    #[inline(always)]
    pub(super) fn add(&mut self, offset: u64) {
        match self.0.last_mut() {
            Some((_, end)) if *end == offset => *end += PAGE_SIZE,
            _ => self.0.push((offset, offset + PAGE_SIZE)),
        }
    }
}
