//! Operation codes of `zx_vmo_op_range` and `zx_vmar_op_range`, with
//! Zircon's values (digest §1.4, §1.5), and the LOCK result structure.

use vm_core::vmo::LockState;

// `zx_vmo_op_range` ops (digest §1.4). 5 was LOOKUP and is unused.
pub const ZX_VMO_OP_COMMIT: u32 = 1;
pub const ZX_VMO_OP_DECOMMIT: u32 = 2;
pub const ZX_VMO_OP_LOCK: u32 = 3;
pub const ZX_VMO_OP_UNLOCK: u32 = 4;
pub const ZX_VMO_OP_CACHE_SYNC: u32 = 6;
pub const ZX_VMO_OP_CACHE_INVALIDATE: u32 = 7;
pub const ZX_VMO_OP_CACHE_CLEAN: u32 = 8;
pub const ZX_VMO_OP_CACHE_CLEAN_INVALIDATE: u32 = 9;
pub const ZX_VMO_OP_ZERO: u32 = 10;
pub const ZX_VMO_OP_TRY_LOCK: u32 = 11;
pub const ZX_VMO_OP_DONT_NEED: u32 = 12;
pub const ZX_VMO_OP_ALWAYS_NEED: u32 = 13;
pub const ZX_VMO_OP_PREFETCH: u32 = 14;

// `zx_vmar_op_range` ops (digest §1.5); the numbers match the VMO ops.
pub const ZX_VMAR_OP_COMMIT: u32 = 1;
pub const ZX_VMAR_OP_DECOMMIT: u32 = 2;
pub const ZX_VMAR_OP_MAP_RANGE: u32 = 3;
pub const ZX_VMAR_OP_ZERO: u32 = 10;
pub const ZX_VMAR_OP_DONT_NEED: u32 = 12;
pub const ZX_VMAR_OP_ALWAYS_NEED: u32 = 13;
pub const ZX_VMAR_OP_PREFETCH: u32 = 14;

// `zx_pager_op_range` ops (digest §1.6).
pub const ZX_PAGER_OP_FAIL: u32 = 1;
pub const ZX_PAGER_OP_DIRTY: u32 = 2;
pub const ZX_PAGER_OP_WRITEBACK_BEGIN: u32 = 3;
pub const ZX_PAGER_OP_WRITEBACK_END: u32 = 4;

/// `ZX_VMO_DIRTY_RANGE_IS_ZERO`: a dirty range of zeros
/// (`zx_vmo_dirty_range_t.options`), and WRITEBACK_BEGIN's `data` to write
/// back only such ranges.
pub const ZX_VMO_DIRTY_RANGE_IS_ZERO: u64 = 1;
/// `ZX_PAGER_VMO_STATS_MODIFIED` (`zx_pager_vmo_stats_t.modified`).
pub const ZX_PAGER_VMO_STATS_MODIFIED: u32 = 1;
/// `ZX_PAGER_RESET_VMO_STATS`: `pager_query_vmo_stats` resets the stats.
pub const ZX_PAGER_RESET_VMO_STATS: u32 = 1;

/// `zx_vmo_dirty_range_t`: one entry of `pager_query_dirty_ranges`' buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmoDirtyRange {
    pub offset: u64,
    pub length: u64,
    /// [`ZX_VMO_DIRTY_RANGE_IS_ZERO`] or 0.
    pub options: u64,
}

impl VmoDirtyRange {
    /// `sizeof(zx_vmo_dirty_range_t)`.
    pub const SIZE: usize = 24;

    /// The C layout: three native-endian `u64`s in field order.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        for (chunk, field) in out.chunks_exact_mut(8).zip([self.offset, self.length, self.options]) {
            chunk.copy_from_slice(&field.to_ne_bytes());
        }
        out
    }

    /// The entries a query wrote to `buffer` (its first `count`).
    pub fn from_bytes(buffer: &[u8], count: usize) -> alloc::vec::Vec<VmoDirtyRange> {
        buffer
            .chunks_exact(Self::SIZE)
            .take(count)
            .map(|c| {
                let word = |i: usize| u64::from_ne_bytes(c[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
                VmoDirtyRange { offset: word(0), length: word(1), options: word(2) }
            })
            .collect()
    }
}

/// `zx_vmo_lock_state_t`: what `ZX_VMO_OP_LOCK` writes to its buffer
/// (digest §2.11): the locked range, and the range that was discarded
/// before the lock (size 0 if nothing was).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmoLockState {
    pub offset: u64,
    pub size: u64,
    pub discarded_offset: u64,
    pub discarded_size: u64,
}

impl VmoLockState {
    /// `sizeof(zx_vmo_lock_state_t)`: the buffer size LOCK requires.
    pub const SIZE: usize = 32;

    /// The C layout: four native-endian `u64`s in field order.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        let fields = [self.offset, self.size, self.discarded_offset, self.discarded_size];
        for (chunk, field) in out.chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&field.to_ne_bytes());
        }
        out
    }

    /// Reads the C layout written by [`VmoLockState::to_bytes`].
    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> VmoLockState {
        let field = |i: usize| {
            let mut word = [0; 8];
            word.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            u64::from_ne_bytes(word)
        };
        VmoLockState {
            offset: field(0),
            size: field(1),
            discarded_offset: field(2),
            discarded_size: field(3),
        }
    }
}

impl From<LockState> for VmoLockState {
    fn from(state: LockState) -> VmoLockState {
        VmoLockState {
            offset: state.offset,
            size: state.size,
            discarded_offset: state.discarded_offset,
            discarded_size: state.discarded_size,
        }
    }
}
