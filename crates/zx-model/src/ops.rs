//! The calls a sequence is made of. Every field is a small raw number that
//! [`crate::run`] maps onto what exists when the call comes (an index
//! modulo the open handles, an offset modulo a little more than the size),
//! so that any sequence of bytes decodes to calls worth making: most in
//! range, some just past it.

use arbitrary::Arbitrary;

/// A child type of `zx_vmo_create_child` (digest §2.10).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildKind {
    Snapshot,
    AtLeastOnWrite,
    Slice,
    Reference,
}

/// An op of `zx_vmo_op_range` that changes or fetches pages.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeOp {
    Commit,
    Decommit,
    Zero,
}

/// One call, or one step of the pager's work.
#[derive(Arbitrary, Clone, Debug)]
pub enum Op {
    /// `vmo_create` of `pages % 7` pages.
    CreateAnon { pages: u8, resizable: bool },
    /// `pager_create_vmo`; the pager thread serves it from its disk.
    CreatePager { pages: u8, resizable: bool, trap_dirty: bool },
    /// `vmo_create_child` of the handle `parent` picks.
    CreateChild { parent: u8, kind: ChildKind, offset: u8, pages: u8, resizable: bool, no_write: bool },
    /// `handle_duplicate` without WRITE (and so without a writable mapping).
    DuplicateReadOnly { handle: u8 },
    /// `vmo_write` of `len` bytes of `byte`.
    Write { handle: u8, offset: u16, len: u16, byte: u8 },
    /// `vmo_read`, compared with the model.
    Read { handle: u8, offset: u16, len: u16 },
    /// A one-byte store through the handle's mapping.
    Store { handle: u8, offset: u16, byte: u8 },
    /// A one-byte load through the handle's mapping, compared.
    Load { handle: u8, offset: u16 },
    /// `vmo_set_size` to `pages % 7` pages.
    SetSize { handle: u8, pages: u8 },
    /// `vmo_op_range`.
    Range { handle: u8, op: RangeOp, offset: u16, len: u16 },
    /// `vmar_unmap` of the handle's mapping and `handle_close`.
    Close { handle: u8 },
    /// The writeback loop over a pager VMO: query, BEGIN, copy to the
    /// pager's disk, END.
    WriteBack { handle: u8 },
    /// Its first half alone: query, BEGIN and copy; the calls until
    /// [`Op::WritebackEnd`] race the writeback.
    WritebackBegin { handle: u8 },
    /// WRITEBACK_END over the whole pager VMO.
    WritebackEnd { handle: u8 },
    /// `pager_op_range(FAIL)` of `pages` pages from `page` with the
    /// `status`th of [`crate::FAIL_STATUSES`], while no request is waiting.
    Fail { handle: u8, page: u8, pages: u8, status: u8 },
    /// `VmContext::reclaim`: every Clean pager page is evicted.
    Reclaim,
    /// `pager_detach_vmo` of the handle's VMO.
    Detach { handle: u8 },
    /// [`Op::Read`] with the pager failing the first READ request it gets
    /// (with ZX_ERR_IO), which the read must return.
    ReadFailing { handle: u8, offset: u16, len: u16 },
    /// [`Op::Load`] likewise.
    LoadFailing { handle: u8, offset: u16 },
}
