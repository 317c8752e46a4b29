//! The physical frame allocator: `buddy_system_allocator`'s buddy allocator
//! over the RAM the device tree reports, less every reservation, counting
//! its free frames. On the target one instance, `global`, holds all of it:
//! boot fills it, translation tables and VMOs take their frames from it.

use crate::memory_map::PhysRange;
use buddy_system_allocator::FrameAllocator;
use spin::Mutex;

/// Size of one frame.
pub const FRAME_SIZE: u64 = 4096;

/// Physical frames of [`FRAME_SIZE`] bytes, handed out one at a time.
pub struct Frames {
    inner: Mutex<Inner>,
}

struct Inner {
    buddy: FrameAllocator<32>,
    free: usize,
    total: usize,
}

impl Default for Frames {
    fn default() -> Self {
        Self::new()
    }
}

impl Frames {
    pub const fn new() -> Self {
        Frames { inner: Mutex::new(Inner { buddy: FrameAllocator::new(), free: 0, total: 0 }) }
    }

    /// Gives the whole frames inside `range` to the allocator.
    pub fn add_range(&self, range: PhysRange) {
        let r = range.page_aligned_inward(FRAME_SIZE);
        if r.is_empty() {
            return;
        }
        let (first, end) = ((r.start / FRAME_SIZE) as usize, (r.end / FRAME_SIZE) as usize);
        let mut inner = self.inner.lock();
        inner.buddy.add_frame(first, end);
        inner.free += end - first;
        inner.total += end - first;
    }

    /// Takes one frame; `None` when none is left.
    pub fn alloc(&self) -> Option<u64> {
        let mut inner = self.inner.lock();
        let frame = inner.buddy.alloc(1)?;
        inner.free -= 1;
        Some(frame as u64 * FRAME_SIZE)
    }

    /// Returns a frame taken with [`Frames::alloc`].
    pub fn free(&self, pa: u64) {
        debug_assert_eq!(pa % FRAME_SIZE, 0, "freeing an unaligned frame");
        let mut inner = self.inner.lock();
        inner.buddy.dealloc((pa / FRAME_SIZE) as usize, 1);
        inner.free += 1;
        debug_assert!(inner.free <= inner.total, "more frames freed than added");
    }

    /// Frames that [`Frames::alloc`] can still hand out.
    pub fn free_count(&self) -> usize {
        self.inner.lock().free
    }

    /// Frames ever given to the allocator.
    pub fn total(&self) -> usize {
        self.inner.lock().total
    }
}

/// The platform's frame allocator, filled at boot.
#[cfg(target_os = "none")]
pub fn global() -> &'static Frames {
    static FRAMES: Frames = Frames::new();
    &FRAMES
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn exhaust_free_all_and_count_back() {
        let frames = Frames::new();
        // Two ranges with unaligned edges: 3 + 4 whole frames.
        frames.add_range(PhysRange::new(0x1_0000 + 1, 0x1_4000 + 0x800));
        frames.add_range(PhysRange::new(0x20_0000, 0x20_4000));
        assert_eq!(frames.total(), 7);
        let start = frames.free_count();
        let mut seen = BTreeSet::new();
        while let Some(pa) = frames.alloc() {
            assert_eq!(pa % FRAME_SIZE, 0);
            assert!(
                (0x1_1000..0x1_4000).contains(&pa) || (0x20_0000..0x20_4000).contains(&pa),
                "{pa:#x} outside the ranges"
            );
            assert!(seen.insert(pa), "frame {pa:#x} handed out twice");
        }
        assert_eq!(seen.len(), 7);
        assert_eq!(frames.free_count(), 0);
        for pa in seen {
            frames.free(pa);
        }
        assert_eq!(frames.free_count(), start);
        assert!(frames.alloc().is_some());
    }
}
