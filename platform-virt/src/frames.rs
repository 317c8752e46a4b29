//! The physical frame allocator: `buddy_system_allocator`'s buddy allocator
//! over the RAM the device tree reports, less every reservation, counting
//! its free frames. On the target one instance, `global`, holds all of it:
//! boot fills it, translation tables and VMOs take their frames from it.
//!
//! Frames go out one at a time, and a buddy allocator's single-frame
//! operation is its slowest (splitting a block, a `BTreeSet` update per
//! order: about 1,100 instructions a frame). So a stack of free frames sits
//! in front of it: refilled with one aligned block of 32 frames,
//! drained by 32 frames when full. The fault path takes its frame
//! from the stack.

use crate::memory_map::PhysRange;
use buddy_system_allocator::FrameAllocator;
use spin::Mutex;

/// Size of one frame.
pub const FRAME_SIZE: u64 = 4096;

/// Physical frames of [`FRAME_SIZE`] bytes, handed out one at a time.
pub struct Frames {
    inner: Mutex<Inner>,
}

/// Frames the stack holds at most.
const STACK: usize = 2 * BATCH;
/// Frames a refill takes from the buddy allocator (one block, when it has
/// one) and a drain gives back.
const BATCH: usize = 32;

struct Inner {
    buddy: FrameAllocator<32>,
    /// Free frames (frame numbers) out of the buddy allocator; the top is
    /// `stack[stacked - 1]`.
    stack: [usize; STACK],
    stacked: usize,
    /// Free frames, stacked or in the buddy allocator.
    free: usize,
    total: usize,
}

impl Inner {
    /// Moves up to [`BATCH`] frames from the buddy allocator onto the empty
    /// stack, the largest block it has up to that, lowest frame on top so
    /// that successive allocations are contiguous.
    fn refill(&mut self) {
        for order in (0..=BATCH.trailing_zeros()).rev() {
            let n = 1 << order;
            if let Some(first) = self.buddy.alloc(n) {
                for (slot, frame) in self.stack.iter_mut().zip((first..first + n).rev()) {
                    *slot = frame;
                }
                self.stacked = n;
                return;
            }
        }
    }

    /// Gives the [`BATCH`] frames at the bottom of the full stack back to
    /// the buddy allocator.
    fn drain(&mut self) {
        for &frame in &self.stack[..BATCH] {
            self.buddy.dealloc(frame, 1);
        }
        self.stack.copy_within(BATCH.., 0);
        self.stacked -= BATCH;
    }
}

impl Default for Frames {
    fn default() -> Self {
        Self::new()
    }
}

impl Frames {
    pub const fn new() -> Self {
        Frames {
            inner: Mutex::new(Inner {
                buddy: FrameAllocator::new(),
                stack: [0; STACK],
                stacked: 0,
                free: 0,
                total: 0,
            }),
        }
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
    #[inline]
    pub fn alloc(&self) -> Option<u64> {
        let mut inner = self.inner.lock();
        if inner.stacked == 0 {
            inner.refill();
        }
        inner.stacked = inner.stacked.checked_sub(1)?;
        inner.free -= 1;
        Some(inner.stack[inner.stacked] as u64 * FRAME_SIZE)
    }

    /// Returns a frame taken with [`Frames::alloc`].
    #[inline]
    pub fn free(&self, pa: u64) {
        debug_assert_eq!(pa % FRAME_SIZE, 0, "freeing an unaligned frame");
        let mut inner = self.inner.lock();
        // The buddy allocator's sets would absorb a second free of a
        // frame; the stack would hand it out twice.
        debug_assert!(
            !inner.stack[..inner.stacked].contains(&((pa / FRAME_SIZE) as usize)),
            "frame {pa:#x} freed twice"
        );
        if inner.stacked == STACK {
            inner.drain();
        }
        let top = inner.stacked;
        inner.stack[top] = (pa / FRAME_SIZE) as usize;
        inner.stacked += 1;
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

    /// Frames through the stack and back: every frame is handed out once,
    /// frees beyond the stack's size go back to the buddy allocator (all of
    /// them come out again), and a refill hands out a block in order.
    #[test]
    fn the_stack_refills_and_drains() {
        let frames = Frames::new();
        let n = 5 * STACK + 3;
        frames.add_range(PhysRange::new(0x100_0000, 0x100_0000 + n as u64 * FRAME_SIZE));
        let first: Vec<u64> = (0..BATCH).map(|_| frames.alloc().unwrap()).collect();
        assert!(first.windows(2).all(|w| w[1] == w[0] + FRAME_SIZE), "a refill's block in order: {first:x?}");
        let mut taken = first;
        while let Some(pa) = frames.alloc() {
            taken.push(pa);
        }
        assert_eq!(taken.len(), n);
        assert_eq!(taken.iter().collect::<BTreeSet<_>>().len(), n, "a frame handed out twice");
        for &pa in &taken {
            frames.free(pa);
        }
        assert_eq!(frames.free_count(), n);
        let again: BTreeSet<u64> = core::iter::from_fn(|| frames.alloc()).collect();
        assert_eq!(again, taken.into_iter().collect(), "every frame, stacked or drained, comes out again");
        assert_eq!(frames.free_count(), 0);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "freed twice")]
    fn a_second_free_of_a_stacked_frame_is_caught() {
        let frames = Frames::new();
        frames.add_range(PhysRange::new(0x100_0000, 0x100_0000 + 4 * FRAME_SIZE));
        let pa = frames.alloc().unwrap();
        frames.free(pa);
        frames.free(pa);
    }
}
