//! The cache operations of `zx_vmo_op_range` (digest §2.11, §3.6) over the
//! committed pages of a range, in physically contiguous runs.

use super::family::Family;
use super::{range_end, round_down, round_up, Vmo, MAX_SIZE};
use crate::platform::{CacheOp, PhysAddr};
use crate::{Status, PAGE_SIZE};

impl Vmo {
    /// The cache operations (digest §2.11, §3.6): `op` is applied to the
    /// committed pages of the byte range, once per physically contiguous run;
    /// uncommitted pages are skipped. Size 0 → INVALID_ARGS. Costs
    /// O(committed pages), whatever the range length.
    pub fn cache_op(&self, op: CacheOp, offset: u64, len: u64) -> Result<(), Status> {
        if len == 0 {
            return Err(Status::InvalidArgs);
        }
        let fam = self.family.lock();
        let (_, base, size) = fam.geometry(self.view);
        let end = range_end(offset, len, size)?;
        self.cache_op_locked(&fam, op, base + offset, base + end);
        Ok(())
    }

    /// Applies `op` to the committed pages the view sees in its leaf's
    /// `[start, end)` (bytes), once per physically contiguous run.
    pub(super) fn cache_op_locked(&self, fam: &Family, op: CacheOp, start: u64, end: u64) {
        let (leaf, _, _) = fam.geometry(self.view);
        let pages = fam.cow.visible(leaf, round_down(start), round_up(end).unwrap_or(MAX_SIZE));
        // The current run: physical start, length, and the VMO offset it
        // reaches; a run continues only where both are contiguous.
        let mut run: Option<(PhysAddr, u64, u64)> = None;
        for (off, frame) in pages {
            let lo = off.max(start);
            let hi = (off + PAGE_SIZE).min(end);
            let pa = frame + (lo - off);
            run = match run {
                Some((run_pa, len, next)) if run_pa + len == pa && next == lo => {
                    Some((run_pa, len + hi - lo, hi))
                }
                Some((run_pa, len, _)) => {
                    self.ctx.cache.cache_op(op, run_pa, len);
                    Some((pa, hi - lo, hi))
                }
                None => Some((pa, hi - lo, hi)),
            };
        }
        if let Some((run_pa, len, _)) = run {
            self.ctx.cache.cache_op(op, run_pa, len);
        }
    }
}
