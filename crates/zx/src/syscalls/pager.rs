//! The pager syscalls: `zx_pager_create`, `_create_vmo`, `_detach_vmo`,
//! `_supply_pages` and `_op_range` (digest §2.1-2.5, `pager_op_range.md`,
//! `pager_supply_pages.md`).

use alloc::sync::Arc;

use vm_core::pager::Pager;
use vm_core::vmo::{Vmo, VmoOptions, MAX_SIZE};

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
        let size = if unbounded { MAX_SIZE } else { size };
        let vmo =
            pager.create_vmo(VmoOptions::from_bits_truncate(options & !ZX_VMO_UNBOUNDED), port, key, size)?;
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
    /// [`Pager::fail_pages`]'s. DIRTY, WRITEBACK_BEGIN and WRITEBACK_END
    /// need the dirty-state machine, which vm-core does not have yet:
    /// NOT_SUPPORTED, as is any other op.
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
        match op {
            ZX_PAGER_OP_FAIL => {
                let status =
                    i32::try_from(data as i64).ok().and_then(Status::from_raw).ok_or(Status::InvalidArgs)?;
                pager.fail_pages(&vmo, offset, length, status)
            }
            _ => Err(Status::NotSupported),
        }
    }

    /// The checks every call that names a pager and one of its VMOs starts
    /// with: the pager handle with [`Rights::MANAGE_VMO`], the VMO handle
    /// with [`Rights::WRITE`], then INVALID_ARGS unless the pager created
    /// the VMO.
    fn pager_and_vmo(&self, pager: Handle, vmo: Handle) -> Result<(Arc<Pager>, Arc<Vmo>), Status> {
        let pager = self.pager(pager, Rights::MANAGE_VMO)?;
        let (vmo, _) = self.vmo(vmo, Rights::WRITE)?;
        if !vmo.is_paged_by(&pager) {
            return Err(Status::InvalidArgs);
        }
        Ok((pager, vmo))
    }
}
