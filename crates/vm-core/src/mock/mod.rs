//! Host mock of the platform seam (feature `mock`): frames in host memory,
//! recording cache maintenance and MMU, and a std-based waiter (and, with
//! feature `shuttle`, one that blocks through shuttle's scheduler).
//!
//! [`Machine`] builds a [`VmContext`] over them in one line and checks frame
//! accounting when it is dropped.

mod cache;
mod frames;
mod mmu;
#[cfg(feature = "shuttle")]
mod shuttle_waiter;
mod waiter;

use std::sync::Arc;

pub use cache::MockCache;
pub use frames::{MockFrames, BASE, POISON};
pub use mmu::{MmuOp, MockMmu, Pte, MOCK_ASPACE_BASE, MOCK_ASPACE_SIZE};
#[cfg(feature = "shuttle")]
pub use shuttle_waiter::ShuttleWaiter;
pub use waiter::MockWaiter;

use crate::context::VmContext;

/// A context over fresh mocks, for tests.
///
/// Dropping it asserts that every frame taken since its creation (other than
/// the context's zero frame) was returned, so declare it before the objects of
/// a test: they are then dropped first.
pub struct Machine {
    pub frames: Arc<MockFrames>,
    pub cache: Arc<MockCache>,
    pub waiter: Arc<MockWaiter>,
    pub ctx: Arc<VmContext>,
    baseline: usize,
}

impl Machine {
    /// A machine with `frames` frames of memory.
    pub fn new(frames: usize) -> Machine {
        let mock_frames = Arc::new(MockFrames::new(frames));
        let cache = Arc::new(MockCache::new());
        let waiter = Arc::new(MockWaiter::new());
        let ctx = VmContext::new(mock_frames.clone(), cache.clone(), waiter.clone()).expect("the zero frame");
        let baseline = mock_frames.used();
        Machine { frames: mock_frames, cache, waiter, ctx, baseline }
    }

    /// Frames in use by VM objects (the zero frame excluded).
    pub fn used_frames(&self) -> usize {
        self.frames.used() - self.baseline
    }

    /// Panics unless every frame taken by VM objects has been returned.
    pub fn assert_no_frames_used(&self) {
        assert_eq!(self.used_frames(), 0, "frames leaked");
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_no_frames_used();
        }
    }
}
