//! The pager syscalls: `zx_pager_create`, `_create_vmo`, `_detach_vmo`,
//! `_supply_pages` and `_op_range` (digest §2.1-2.5, `pager_op_range.md`,
//! `pager_supply_pages.md`).

use alloc::sync::Arc;

use vm_core::pager::Pager;
use vm_core::vmo::{Vmo, VmoOptions, Writeback};

use crate::handle::Handle;
use crate::object::KernelObject;
use crate::ops::*;
use crate::options::*;
use crate::{Rights, Status, Zx};

impl Zx {
    /// `zx_pager_create`: options must be 0 (INVALID_ARGS). The handle has
    /// [`Rights::DEFAULT_PAGER`]; the pager closes with its last handle.
    pub fn pager_create(&self, options: u32) -> Result<Handle, Status> {
        if options != 0 {
            return Err(Status::InvalidArgs);
        }
        let pager = Pager::new(self.context());
        Ok(self.add_handle(KernelObject::Pager(pager), Rights::DEFAULT_PAGER))
    }

    /// `zx_pager_create_vmo` (digest §2.2): a VMO of `size` whose pages
    /// `pager` supplies, requested on `port` with `key`. The pager handle
    /// needs [`Rights::ATTACH_VMO`]; the port handle's WRITE right is
    /// checked before its type (digest §2). Options: `ZX_VMO_RESIZABLE`,
    /// `ZX_VMO_TRAP_DIRTY` and `ZX_VMO_UNBOUNDED` (the largest size, as
    /// for `vmo_create`); UNBOUNDED|RESIZABLE and anything else
    /// (`ZX_VMO_DISCARDABLE` included) are INVALID_ARGS; a size that cannot
    /// be rounded up to a page is OUT_OF_RANGE. The handle has
    /// [`Rights::DEFAULT_VMO`], plus [`Rights::RESIZE`] if resizable.
    pub fn pager_create_vmo(
        &self,
        pager: Handle,
        options: u32,
        port: Handle,
        key: u64,
        size: u64,
    ) -> Result<Handle, Status> {
        let pager = self.pager(pager, Rights::ATTACH_VMO)?;
        let entry = self.entry(port)?;
        if !entry.rights.contains(Rights::WRITE) {
            return Err(Status::AccessDenied);
        }
        let KernelObject::Port(port) = entry.object else {
            return Err(Status::WrongType);
        };
        const KNOWN: u32 = ZX_VMO_RESIZABLE | ZX_VMO_TRAP_DIRTY | ZX_VMO_UNBOUNDED;
        let unbounded = options & ZX_VMO_UNBOUNDED != 0;
        if options & !KNOWN != 0 || (unbounded && options & ZX_VMO_RESIZABLE != 0) {
            return Err(Status::InvalidArgs);
        }
        // vm-core's options carry Zircon's bit values (digest §1.3).
        let vmo = pager.create_vmo(VmoOptions::from_bits_truncate(options), port, key, size)?;
        let mut rights = Rights::DEFAULT_VMO;
        if vmo.is_resizable() {
            rights |= Rights::RESIZE;
        }
        Ok(self.add_handle(KernelObject::Vmo(vmo), rights))
    }

    /// `zx_pager_detach_vmo` (digest §2.3): the pager handle needs
    /// [`Rights::ATTACH_VMO`] and [`Rights::MANAGE_VMO`], the VMO handle
    /// [`Rights::WRITE`]; INVALID_ARGS for a VMO the pager did not create.
    pub fn pager_detach_vmo(&self, pager: Handle, vmo: Handle) -> Result<(), Status> {
        let pager = self.pager(pager, Rights::ATTACH_VMO | Rights::MANAGE_VMO)?;
        let (vmo, _) = self.vmo(vmo, Rights::WRITE)?;
        pager.detach_vmo(&vmo)
    }

    /// `zx_pager_supply_pages` (digest §2.4): the pager handle needs
    /// [`Rights::MANAGE_VMO`], the pager VMO's [`Rights::WRITE`]; a VMO the
    /// pager did not create is INVALID_ARGS before the aux handle is looked
    /// at, whose handle needs [`Rights::READ`] and [`Rights::WRITE`]. The
    /// rest is [`Pager::supply_pages`]'s.
    pub fn pager_supply_pages(
        &self,
        pager: Handle,
        pager_vmo: Handle,
        offset: u64,
        length: u64,
        aux_vmo: Handle,
        aux_offset: u64,
    ) -> Result<(), Status> {
        let (pager, vmo) = self.pager_and_vmo(pager, pager_vmo)?;
        let (aux, _) = self.vmo(aux_vmo, Rights::READ | Rights::WRITE)?;
        pager.supply_pages(&vmo, offset, length, &aux, aux_offset)
    }

    /// `zx_pager_op_range` (`pager_op_range.md`, digest §2.5): the pager
    /// handle needs [`Rights::MANAGE_VMO`], the VMO handle
    /// [`Rights::WRITE`]; INVALID_ARGS for a VMO the pager did not create.
    /// `ZX_PAGER_OP_FAIL` takes in `data` a `zx_status_t` sign-extended to
    /// 64 bits, one of IO, IO_DATA_INTEGRITY, BAD_STATE, NO_SPACE and
    /// BUFFER_TOO_SMALL (else INVALID_ARGS); the rest is
    /// [`Pager::fail_pages`]'s. `ZX_PAGER_OP_DIRTY` and
    /// `ZX_PAGER_OP_WRITEBACK_END` take `data` 0, `ZX_PAGER_OP_WRITEBACK_BEGIN`
    /// 0 or [`ZX_VMO_DIRTY_RANGE_IS_ZERO`] (else INVALID_ARGS). Any other op
    /// is NOT_SUPPORTED.
    pub fn pager_op_range(
        &self,
        pager: Handle,
        op: u32,
        pager_vmo: Handle,
        offset: u64,
        length: u64,
        data: u64,
    ) -> Result<(), Status> {
        let (pager, vmo) = self.pager_and_vmo(pager, pager_vmo)?;
        let no_data = |data: u64| if data == 0 { Ok(()) } else { Err(Status::InvalidArgs) };
        match op {
            ZX_PAGER_OP_FAIL => {
                let status =
                    i32::try_from(data as i64).ok().and_then(Status::from_raw).ok_or(Status::InvalidArgs)?;
                pager.fail_pages(&vmo, offset, length, status)
            }
            ZX_PAGER_OP_DIRTY => {
                no_data(data)?;
                pager.dirty_pages(&vmo, offset, length)
            }
            ZX_PAGER_OP_WRITEBACK_BEGIN => {
                let what = match data {
                    0 => Writeback::All,
                    ZX_VMO_DIRTY_RANGE_IS_ZERO => Writeback::ZeroRanges,
                    _ => return Err(Status::InvalidArgs),
                };
                pager.writeback_begin(&vmo, offset, length, what)
            }
            ZX_PAGER_OP_WRITEBACK_END => {
                no_data(data)?;
                pager.writeback_end(&vmo, offset, length)
            }
            _ => Err(Status::NotSupported),
        }
    }

    /// `zx_pager_query_dirty_ranges` (digest §2.6): the pager handle needs
    /// [`Rights::MANAGE_VMO`], the VMO handle [`Rights::READ`]; INVALID_ARGS
    /// for a VMO the pager did not create (clones and slices included);
    /// `offset` and `length` are rounded out to pages (OUT_OF_RANGE beyond
    /// the size). Writes as many [`VmoDirtyRange`]s as fit whole in `buffer`
    /// and returns `(actual, avail)`: how many it wrote, and how many there
    /// are.
    pub fn pager_query_dirty_ranges(
        &self,
        pager: Handle,
        pager_vmo: Handle,
        offset: u64,
        length: u64,
        buffer: &mut [u8],
    ) -> Result<(usize, usize), Status> {
        let (pager, vmo) = self.pager_and_vmo_with(pager, pager_vmo, Rights::READ)?;
        let ranges = pager.query_dirty_ranges(&vmo, offset, length)?;
        let mut actual = 0;
        for (slot, range) in buffer.chunks_exact_mut(VmoDirtyRange::SIZE).zip(&ranges) {
            let options = if range.zero { ZX_VMO_DIRTY_RANGE_IS_ZERO } else { 0 };
            let entry = VmoDirtyRange { offset: range.offset, length: range.length, options };
            slot.copy_from_slice(&entry.to_bytes());
            actual += 1;
        }
        Ok((actual, ranges.len()))
    }

    /// `zx_pager_query_vmo_stats` (digest §2.7): rights and ownership as for
    /// [`Zx::pager_query_dirty_ranges`]; BUFFER_TOO_SMALL for a buffer
    /// shorter than `zx_pager_vmo_stats_t` (4 bytes), then INVALID_ARGS for
    /// options other than 0 and [`ZX_PAGER_RESET_VMO_STATS`]. Writes
    /// `modified` ([`ZX_PAGER_VMO_STATS_MODIFIED`] or 0) to the buffer.
    pub fn pager_query_vmo_stats(
        &self,
        pager: Handle,
        pager_vmo: Handle,
        options: u32,
        buffer: &mut [u8],
    ) -> Result<(), Status> {
        let (pager, vmo) = self.pager_and_vmo_with(pager, pager_vmo, Rights::READ)?;
        let out: &mut [u8; 4] =
            buffer.get_mut(..4).ok_or(Status::BufferTooSmall)?.try_into().expect("4 bytes");
        let reset = match options {
            0 => false,
            ZX_PAGER_RESET_VMO_STATS => true,
            _ => return Err(Status::InvalidArgs),
        };
        let modified = if pager.query_vmo_stats(&vmo, reset)? { ZX_PAGER_VMO_STATS_MODIFIED } else { 0 };
        *out = modified.to_ne_bytes();
        Ok(())
    }

    /// The checks every call that names a pager and one of its VMOs starts
    /// with: the pager handle with [`Rights::MANAGE_VMO`], the VMO handle
    /// with [`Rights::WRITE`], then INVALID_ARGS unless the pager created
    /// the VMO.
    fn pager_and_vmo(&self, pager: Handle, vmo: Handle) -> Result<(Arc<Pager>, Arc<Vmo>), Status> {
        self.pager_and_vmo_with(pager, vmo, Rights::WRITE)
    }

    /// [`Zx::pager_and_vmo`] with `vmo_rights` required of the VMO handle.
    fn pager_and_vmo_with(
        &self,
        pager: Handle,
        vmo: Handle,
        vmo_rights: Rights,
    ) -> Result<(Arc<Pager>, Arc<Vmo>), Status> {
        let pager = self.pager(pager, Rights::MANAGE_VMO)?;
        let (vmo, _) = self.vmo(vmo, vmo_rights)?;
        if !vmo.is_paged_by(&pager) {
            return Err(Status::InvalidArgs);
        }
        Ok((pager, vmo))
    }
}
