//! The writeback loop of `pager_op_range.md`'s sample: query the dirty
//! ranges, and for each, `ZX_PAGER_OP_WRITEBACK_BEGIN`, write it to the
//! disk (zeros for a zero range, else the VMO's bytes), then
//! `ZX_PAGER_OP_WRITEBACK_END`. A write landing between BEGIN and END makes
//! its page Dirty again, and END leaves it so: the next pass writes it.

use alloc::vec;
use alloc::vec::Vec;

use disk_layout::PAGE;
use platform_virt::block::{BlockDevice, SECTOR_SIZE};
use zx::ops::{
    VmoDirtyRange, ZX_PAGER_OP_WRITEBACK_BEGIN, ZX_PAGER_OP_WRITEBACK_END, ZX_VMO_DIRTY_RANGE_IS_ZERO,
};
use zx::{Handle, Zx};

/// The most dirty ranges one query returns; the next pass sees the rest.
const RANGES_PER_QUERY: usize = 64;

/// Up to [`RANGES_PER_QUERY`] dirty ranges of `[0, size)` of `vmo`
/// (`zx_pager_query_dirty_ranges`).
fn dirty_ranges(zx: &Zx, pager: Handle, vmo: Handle, size: u64) -> Vec<VmoDirtyRange> {
    let mut buffer = vec![0; VmoDirtyRange::SIZE * RANGES_PER_QUERY];
    let (actual, _avail) = zx.pager_query_dirty_ranges(pager, vmo, 0, size, &mut buffer).expect("query");
    VmoDirtyRange::from_bytes(&buffer, actual)
}

/// How many pages of the first [`RANGES_PER_QUERY`] dirty ranges are dirty.
pub fn dirty_pages(zx: &Zx, pager: Handle, vmo: Handle, size: u64) -> u64 {
    dirty_ranges(zx, pager, vmo, size).iter().map(|range| range.length / PAGE).sum()
}

/// One pass over `[0, size)` of `vmo`; returns how many pages it wrote
/// (0 when nothing was dirty).
pub fn write_back(zx: &Zx, pager: Handle, vmo: Handle, size: u64, disk: &BlockDevice) -> u64 {
    let mut written = 0;
    for range in dirty_ranges(zx, pager, vmo, size) {
        let (offset, len) = (range.offset, range.length);
        zx.pager_op_range(pager, ZX_PAGER_OP_WRITEBACK_BEGIN, vmo, offset, len, 0).expect("BEGIN");
        let mut bytes = vec![0; len as usize];
        if range.options & ZX_VMO_DIRTY_RANGE_IS_ZERO == 0 {
            zx.vmo_read(vmo, &mut bytes, offset).expect("the dirty pages read");
        }
        disk.write(offset / SECTOR_SIZE as u64, &bytes).expect("the disk takes the pages");
        zx.pager_op_range(pager, ZX_PAGER_OP_WRITEBACK_END, vmo, offset, len, 0).expect("END");
        written += len / PAGE;
    }
    written
}
