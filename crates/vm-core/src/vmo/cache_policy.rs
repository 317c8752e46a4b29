//! `zx_vmo_set_cache_policy` (digest §1.10, §3.6, §4.4 Cache): how the
//! VMO's pages are mapped. Mappings take the policy when they register
//! (`Vmo::add_mapping`), under the lock this call checks them under.

use core::sync::atomic::Ordering;

use super::Vmo;
use crate::platform::{CacheOp, CachePolicy};
use crate::Status;

impl Vmo {
    /// The policy new mappings of the VMO take.
    pub fn cache_policy(&self) -> CachePolicy {
        self.family.lock().view(self.view).cache
    }

    /// Sets the policy. BAD_STATE while the VMO is mapped, has children or
    /// is a child itself, and when it holds committed pages and is not
    /// cached (digest §3.6); a cached VMO may leave the cache with pages
    /// committed, which are cleaned and invalidated first so that no dirty
    /// line written through the physmap lands on them later.
    pub fn set_cache_policy(&self, policy: CachePolicy) -> Result<(), Status> {
        let mut fam = self.family.lock();
        let (leaf, _, size) = fam.geometry(self.view);
        let view = fam.view(self.view);
        let mapped = view.mappings.iter().any(|m| m.strong_count() > 0);
        let current = view.cache;
        let committed = fam.cow.own_pages(leaf) > 0;
        if mapped
            || self.children.load(Ordering::SeqCst) > 0
            || self.parent.is_some()
            || (committed && current != CachePolicy::Cached)
        {
            return Err(Status::BadState);
        }
        if current == CachePolicy::Cached && policy != CachePolicy::Cached {
            self.cache_op_locked(&fam, CacheOp::CleanInvalidate, 0, size);
        }
        fam.views.get_mut(self.view).cache = policy;
        Ok(())
    }
}
