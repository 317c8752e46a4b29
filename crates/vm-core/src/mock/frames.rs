//! `MockFrames`: a fixed pool of 4 KiB frames in host memory.
//!
//! Physical addresses are fake (`BASE + index * PAGE_SIZE`). Memory is
//! allocated per frame while it is in use, so a large pool costs nothing until
//! it is used. Every frame handed out by [`FrameAllocator::alloc`] is filled
//! with [`POISON`], so a page vm-core forgets to zero or fill shows up in the
//! contents tests. Freeing twice, freeing or touching a frame that is not
//! allocated, and foreign addresses panic.
//!
//! Allocation failure can be injected: after [`MockFrames::fail_after`]`(n)`
//! the next `n` allocations behave as usual and every later one fails as an
//! exhausted pool would, until [`MockFrames::disarm`]. Running a step once
//! for each `n` from 0 until it completes without a refusal makes each of
//! its allocations in turn the first to fail.

use std::boxed::Box;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use crate::platform::{FrameAllocator, PhysAddr};
use crate::PAGE_SIZE;

/// The byte every newly allocated frame is filled with.
pub const POISON: u8 = 0xa5;

/// Physical address of the first mock frame.
pub const BASE: PhysAddr = 0x4000_0000;

type Frame = Box<[u8; PAGE_SIZE as usize]>;

struct Pool {
    frames: Vec<Option<Frame>>,
    /// Free indices; popped from the back, lowest address first.
    free: Vec<usize>,
    /// While failure is injected: how many more allocations may succeed.
    allowed: Option<u64>,
    /// Allocations refused by injection since it was last armed.
    refused: u64,
}

/// A [`FrameAllocator`] over `count` host-memory frames.
pub struct MockFrames {
    count: usize,
    pool: Mutex<Pool>,
}

impl MockFrames {
    /// A pool of `count` frames, all free.
    pub fn new(count: usize) -> MockFrames {
        MockFrames {
            count,
            pool: Mutex::new(Pool {
                frames: (0..count).map(|_| None).collect(),
                free: (0..count).rev().collect(),
                allowed: None,
                refused: 0,
            }),
        }
    }

    /// Total frames in the pool.
    pub fn capacity(&self) -> usize {
        self.count
    }

    /// How many frames are allocated now.
    pub fn used(&self) -> usize {
        self.count - self.free_count()
    }

    /// Injects allocation failure: the next `n` allocations succeed (while
    /// frames are free), every later one returns `None` until
    /// [`MockFrames::disarm`]. Frees and [`FrameAllocator::free_count`] are
    /// unaffected.
    pub fn fail_after(&self, n: u64) {
        let mut pool = self.pool();
        pool.allowed = Some(n);
        pool.refused = 0;
    }

    /// Ends failure injection; returns how many allocations it refused.
    pub fn disarm(&self) -> u64 {
        let mut pool = self.pool();
        pool.allowed = None;
        core::mem::take(&mut pool.refused)
    }

    fn index(&self, frame: PhysAddr) -> usize {
        assert!(frame >= BASE && (frame - BASE).is_multiple_of(PAGE_SIZE), "foreign frame {frame:#x}");
        let index = ((frame - BASE) / PAGE_SIZE) as usize;
        assert!(index < self.count, "foreign frame {frame:#x}");
        index
    }

    /// The pool, even after a panic while it was locked (a use of a free
    /// frame, a double free): the first panic reports the bug, and what
    /// unwinds after it must not panic again.
    fn pool(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn with_frame<R>(&self, frame: PhysAddr, f: impl FnOnce(&mut Frame) -> R) -> R {
        let index = self.index(frame);
        let mut pool = self.pool();
        let data = pool.frames[index].as_mut().unwrap_or_else(|| panic!("access to free frame {frame:#x}"));
        f(data)
    }
}

impl FrameAllocator for MockFrames {
    fn alloc(&self) -> Option<PhysAddr> {
        let mut pool = self.pool();
        match pool.allowed {
            Some(0) => {
                pool.refused += 1;
                return None;
            }
            Some(ref mut left) => *left -= 1,
            None => {}
        }
        let index = pool.free.pop()?;
        pool.frames[index] = Some(Box::new([POISON; PAGE_SIZE as usize]));
        Some(BASE + index as u64 * PAGE_SIZE)
    }

    fn free(&self, frame: PhysAddr) {
        let index = self.index(frame);
        let mut pool = self.pool();
        assert!(pool.frames[index].take().is_some(), "double free of frame {frame:#x}");
        pool.free.push(index);
    }

    fn free_count(&self) -> usize {
        self.pool().free.len()
    }

    fn read(&self, frame: PhysAddr, offset: usize, buf: &mut [u8]) {
        self.with_frame(frame, |d| buf.copy_from_slice(&d[offset..offset + buf.len()]));
    }

    fn write(&self, frame: PhysAddr, offset: usize, data: &[u8]) {
        self.with_frame(frame, |d| d[offset..offset + data.len()].copy_from_slice(data));
    }

    fn zero(&self, frame: PhysAddr, offset: usize, len: usize) {
        self.with_frame(frame, |d| d[offset..offset + len].fill(0));
    }

    fn copy(&self, dst: PhysAddr, src: PhysAddr) {
        let mut page = [0u8; PAGE_SIZE as usize];
        self.read(src, 0, &mut page);
        self.write(dst, 0, &page);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_poisons_and_free_returns() {
        let f = MockFrames::new(2);
        let a = f.alloc().unwrap();
        let b = f.alloc().unwrap();
        assert_eq!((a, b), (BASE, BASE + PAGE_SIZE));
        assert_eq!(f.alloc(), None);
        let mut buf = [0u8; 4];
        f.read(a, 10, &mut buf);
        assert_eq!(buf, [POISON; 4]);
        f.write(a, 10, &[1, 2, 3, 4]);
        f.copy(b, a);
        f.read(b, 10, &mut buf);
        assert_eq!(buf, [1, 2, 3, 4]);
        f.zero(b, 11, 2);
        f.read(b, 10, &mut buf);
        assert_eq!(buf, [1, 0, 0, 4]);
        f.free(a);
        assert_eq!(f.free_count(), 1);
        assert_eq!(f.alloc(), Some(a));
        f.read(a, 10, &mut buf);
        assert_eq!(buf, [POISON; 4], "reused frames are poisoned again");
    }

    #[test]
    fn injected_failure_refuses_after_n() {
        let f = MockFrames::new(4);
        f.fail_after(1);
        let a = f.alloc().unwrap();
        assert_eq!((f.alloc(), f.alloc()), (None, None));
        assert_eq!(f.free_count(), 3, "a refusal takes nothing");
        f.free(a);
        assert_eq!(f.alloc(), None, "frees do not re-arm it");
        assert_eq!(f.disarm(), 3);
        assert_eq!(f.alloc(), Some(a));
        assert_eq!(f.disarm(), 0);
    }

    #[test]
    #[should_panic(expected = "double free")]
    fn double_free_panics() {
        let f = MockFrames::new(1);
        let a = f.alloc().unwrap();
        f.free(a);
        f.free(a);
    }

    #[test]
    #[should_panic(expected = "foreign frame")]
    fn foreign_frame_panics() {
        MockFrames::new(1).free(BASE + PAGE_SIZE);
    }
}
