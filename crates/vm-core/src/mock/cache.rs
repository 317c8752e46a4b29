//! `MockCache`: records every cache-maintenance call.

use std::sync::Mutex;
use std::vec::Vec;

use crate::platform::{CacheMaintenance, CacheOp, PhysAddr};

/// A [`CacheMaintenance`] that logs `(op, pa, len)` for each call.
#[derive(Default)]
pub struct MockCache {
    log: Mutex<Vec<(CacheOp, PhysAddr, u64)>>,
}

impl MockCache {
    /// An empty log.
    pub fn new() -> MockCache {
        MockCache::default()
    }

    /// Returns and clears the calls recorded so far, in order.
    pub fn take(&self) -> Vec<(CacheOp, PhysAddr, u64)> {
        core::mem::take(&mut *self.log.lock().unwrap())
    }
}

impl CacheMaintenance for MockCache {
    fn cache_op(&self, op: CacheOp, pa: PhysAddr, len: u64) {
        self.log.lock().unwrap().push((op, pa, len));
    }
}
