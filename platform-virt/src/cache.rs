//! The cache maintenance behind `ZX_VMO_OP_CACHE_*` (digest §3.6), by VA
//! over the physmap, one instruction per cache line.
//!
//! - CLEAN: `DC CVAC` per data line, then `DSB SY`.
//! - CLEAN_INVALIDATE: `DC CIVAC` per line, then `DSB SY`.
//! - INVALIDATE: `DC IVAC` on lines wholly inside the range; a partial line
//!   at either edge is cleaned and invalidated (`DC CIVAC`), so bytes outside
//!   the range are never discarded. Then `DSB SY`.
//! - SYNC (make written code executable): `DC CVAU` per data line,
//!   `DSB ISH`, `IC IVAU` per instruction line, `DSB ISH`, `ISB`.

use crate::mmu::maintenance::{DcOp, Maintenance};
use vm_core::platform::CacheOp;
#[cfg(target_os = "none")]
use vm_core::platform::{CacheMaintenance, PhysAddr};

/// Smallest data and instruction cache line sizes, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineSizes {
    pub data: u64,
    pub instruction: u64,
}

impl LineSizes {
    /// From `CTR_EL0`: `DminLine` (bits \[19:16\]) and `IminLine` (bits
    /// \[3:0\]) are log2 of the line size in 4-byte words.
    pub const fn from_ctr(ctr: u64) -> LineSizes {
        LineSizes { data: 4 << ((ctr >> 16) & 0xf), instruction: 4 << (ctr & 0xf) }
    }

    /// This CPU's line sizes.
    #[cfg(target_os = "none")]
    pub fn this_cpu() -> LineSizes {
        let ctr: u64;
        // SAFETY: reading CTR_EL0 has no side effects (EL1 may always read it).
        unsafe {
            core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags))
        };
        LineSizes::from_ctr(ctr)
    }
}

/// The start addresses of the `line`-sized lines overlapping `[va, end)`.
fn lines(va: u64, end: u64, line: u64) -> impl Iterator<Item = u64> {
    (va & !(line - 1)..end).step_by(line as usize)
}

/// Applies `op` to `[va, va + len)`.
pub fn maintain(m: &impl Maintenance, sizes: LineSizes, op: CacheOp, va: u64, len: u64) {
    if len == 0 {
        return;
    }
    let end = va + len;
    match op {
        CacheOp::Clean | CacheOp::CleanInvalidate => {
            let dc = if op == CacheOp::Clean { DcOp::Cvac } else { DcOp::Civac };
            for line in lines(va, end, sizes.data) {
                m.dc(dc, line);
            }
            m.dsb_sy();
        }
        CacheOp::Invalidate => {
            for line in lines(va, end, sizes.data) {
                let whole = line >= va && line + sizes.data <= end;
                m.dc(if whole { DcOp::Ivac } else { DcOp::Civac }, line);
            }
            m.dsb_sy();
        }
        CacheOp::Sync => {
            for line in lines(va, end, sizes.data) {
                m.dc(DcOp::Cvau, line);
            }
            m.dsb_ish();
            for line in lines(va, end, sizes.instruction) {
                m.ic_ivau(line);
            }
            m.dsb_ish();
            m.isb();
        }
    }
}

/// vm-core's cache maintenance on this CPU: by physical range through the
/// identity-mapped physmap, with the line sizes `CTR_EL0` gives.
#[cfg(target_os = "none")]
pub struct CpuCaches {
    lines: LineSizes,
}

#[cfg(target_os = "none")]
impl CpuCaches {
    pub fn new() -> CpuCaches {
        CpuCaches { lines: LineSizes::this_cpu() }
    }
}

#[cfg(target_os = "none")]
impl Default for CpuCaches {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(target_os = "none")]
impl CacheMaintenance for CpuCaches {
    fn cache_op(&self, op: CacheOp, pa: PhysAddr, len: u64) {
        maintain(&crate::mmu::maintenance::Hardware, self.lines, op, pa, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmu::maintenance::{Op, Recorder};

    const SIZES: LineSizes = LineSizes { data: 64, instruction: 32 };

    fn run(op: CacheOp, va: u64, len: u64) -> std::vec::Vec<Op> {
        let r = Recorder::default();
        maintain(&r, SIZES, op, va, len);
        r.take()
    }

    #[test]
    fn line_sizes_from_ctr() {
        // QEMU's cortex-a72: CTR_EL0 = 0x8444c004 (64-byte lines).
        assert_eq!(LineSizes::from_ctr(0x8444_c004), LineSizes { data: 64, instruction: 64 });
        assert_eq!(LineSizes::from_ctr(0x3 | (0x2 << 16)), LineSizes { data: 16, instruction: 32 });
    }

    #[test]
    fn clean_covers_every_overlapping_line_once() {
        // [0x1030, 0x10c1) overlaps lines 0x1000, 0x1040, 0x1080, 0x10c0.
        let log = run(CacheOp::Clean, 0x1030, 0x91);
        assert_eq!(
            log,
            [
                Op::Dc(DcOp::Cvac, 0x1000),
                Op::Dc(DcOp::Cvac, 0x1040),
                Op::Dc(DcOp::Cvac, 0x1080),
                Op::Dc(DcOp::Cvac, 0x10c0),
                Op::DsbSy
            ]
        );
        assert_eq!(run(CacheOp::CleanInvalidate, 0x1000, 0x40), [Op::Dc(DcOp::Civac, 0x1000), Op::DsbSy]);
        assert!(run(CacheOp::Clean, 0x1000, 0).is_empty());
    }

    #[test]
    fn invalidate_never_discards_partial_edge_lines() {
        let log = run(CacheOp::Invalidate, 0x1010, 0xa0);
        assert_eq!(
            log,
            [
                Op::Dc(DcOp::Civac, 0x1000), // [0x1000, 0x1010) is outside
                Op::Dc(DcOp::Ivac, 0x1040),
                Op::Dc(DcOp::Civac, 0x1080), // [0x10b0, 0x10c0) is outside
                Op::DsbSy
            ]
        );
        // Aligned ranges invalidate outright.
        assert_eq!(
            run(CacheOp::Invalidate, 0x2000, 0x80),
            [Op::Dc(DcOp::Ivac, 0x2000), Op::Dc(DcOp::Ivac, 0x2040), Op::DsbSy]
        );
        // One byte inside a line.
        assert_eq!(run(CacheOp::Invalidate, 0x2001, 1), [Op::Dc(DcOp::Civac, 0x2000), Op::DsbSy]);
    }

    #[test]
    fn sync_cleans_to_pou_then_invalidates_instructions() {
        let log = run(CacheOp::Sync, 0x3000, 0x40);
        assert_eq!(
            log,
            [
                Op::Dc(DcOp::Cvau, 0x3000),
                Op::DsbIsh,
                Op::IcIvau(0x3000),
                Op::IcIvau(0x3020),
                Op::DsbIsh,
                Op::Isb
            ]
        );
    }
}
