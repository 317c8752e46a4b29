//! The VMAR syscalls: `zx_vmar_allocate`, `_map`, `_unmap`, `_protect`,
//! `_op_range` and `_destroy` (digest §2.12-2.14).

use alloc::sync::Arc;

use vm_core::vmar::{VmFlags, VmOptions, VmarOp};

use crate::handle::Handle;
use crate::object::KernelObject;
use crate::options::VmOption;
use crate::{Rights, Status, Zx};

impl Zx {
    /// `zx_vmar_allocate`: a sub-region of `size` bytes; returns its handle
    /// and base address. The parent handle needs READ, WRITE and EXECUTE for
    /// each of `ZX_VM_CAN_MAP_READ`, `_WRITE` and `_EXECUTE` requested
    /// (ACCESS_DENIED); the options and placement are then checked by
    /// [`Vmar::allocate`](vm_core::vmar::Vmar::allocate). The new handle has
    /// [`Rights::DEFAULT_VMAR`] plus the rights matching its `CAN_MAP_*`.
    pub fn vmar_allocate(
        &self,
        parent: Handle,
        options: VmOption,
        offset: u64,
        size: u64,
    ) -> Result<(Handle, u64), Status> {
        let can_map = VmFlags::from_bits_truncate(options).can_map();
        let (vmar, _) = self.vmar(parent, Rights::from_perms(can_map))?;
        let child = vmar.allocate(VmOptions::from_raw(options)?, offset, size)?;
        let rights = Rights::DEFAULT_VMAR | Rights::from_perms(child.flags().can_map());
        let base = child.base();
        Ok((self.add_handle(KernelObject::Vmar(child), rights), base))
    }

    /// `zx_vmar_map`: maps `len` bytes of the VMO `vmo` from `vmo_offset`;
    /// returns the address. Checked in Zircon's order: both handles
    /// (BAD_HANDLE, WRONG_TYPE), the VMO handle's MAP right (ACCESS_DENIED,
    /// even with no permissions requested), `ZX_VM_PERM_READ_IF_XOM_UNSUPPORTED`
    /// (which adds READ where execute-only pages cannot be mapped), the
    /// options (INVALID_ARGS for unknown bits, WRITE without READ, EXECUTE
    /// without READ on such tables, or `CAN_MAP_*`, which callers may not
    /// pass), then each requested permission against the
    /// READ/WRITE/EXECUTE rights of both handles (ACCESS_DENIED). What both
    /// handles allow bounds later [`Zx::vmar_protect`] calls on the mapping;
    /// the rest is [`Vmar::map`](vm_core::vmar::Vmar::map)'s.
    pub fn vmar_map(
        &self,
        vmar: Handle,
        options: VmOption,
        vmar_offset: u64,
        vmo: Handle,
        vmo_offset: u64,
        len: u64,
    ) -> Result<u64, Status> {
        let (region, vmar_rights) = self.vmar(vmar, Rights::empty())?;
        let (object, vmo_rights) = self.vmo(vmo, Rights::MAP)?;
        let mut options = VmOptions::from_raw(options)?.resolve_xom(region.can_map_execute_only());
        let flags = options.flags;
        if !flags.valid_protection(region.can_map_execute_only()) || flags.intersects(VmFlags::CAN_MAP_PERMS)
        {
            return Err(Status::InvalidArgs);
        }
        let allowed = vmar_rights & vmo_rights;
        if !allowed.contains(Rights::from_perms(flags.perms())) {
            return Err(Status::AccessDenied);
        }
        options.flags |= VmFlags::from_can_map(allowed.perms());
        region.map(options, vmar_offset, &object, vmo_offset, len)
    }

    /// `zx_vmar_unmap`: no right needed; sub-regions in the range may only be
    /// destroyed through a handle with [`Rights::OP_CHILDREN`]. The rest is
    /// [`Vmar::unmap`](vm_core::vmar::Vmar::unmap)'s.
    pub fn vmar_unmap(&self, vmar: Handle, addr: u64, len: u64) -> Result<(), Status> {
        let (region, rights) = self.vmar(vmar, Rights::empty())?;
        region.unmap(addr, len, rights.contains(Rights::OP_CHILDREN))
    }

    /// `zx_vmar_protect`: the handle needs READ, WRITE and EXECUTE for each
    /// permission requested, READ included when
    /// `ZX_VM_PERM_READ_IF_XOM_UNSUPPORTED` adds it (ACCESS_DENIED, before
    /// the options are checked); sub-regions in the range need
    /// [`Rights::OP_CHILDREN`]. The rest is
    /// [`Vmar::protect`](vm_core::vmar::Vmar::protect)'s.
    pub fn vmar_protect(&self, vmar: Handle, options: VmOption, addr: u64, len: u64) -> Result<(), Status> {
        let (region, rights) = self.vmar(vmar, Rights::empty())?;
        let xom = region.can_map_execute_only();
        let perms = VmOptions::from(VmFlags::from_bits_truncate(options)).resolve_xom(xom).flags.perms();
        if !rights.contains(Rights::from_perms(perms)) {
            return Err(Status::AccessDenied);
        }
        let options = VmOptions::from_raw(options)?;
        region.protect(options, addr, len, rights.contains(Rights::OP_CHILDREN))
    }

    /// `zx_vmar_op_range` (digest §2.14, `vmar_op_range.md`): an unknown op
    /// is INVALID_ARGS; COMMIT, DECOMMIT and ZERO need [`Rights::WRITE`],
    /// MAP_RANGE and PREFETCH [`Rights::READ`], the hints nothing
    /// (ACCESS_DENIED); a non-empty `buffer` is INVALID_ARGS. The rest is
    /// [`Vmar::op_range`](vm_core::vmar::Vmar::op_range)'s.
    pub fn vmar_op_range(
        &self,
        vmar: Handle,
        op: u32,
        addr: u64,
        len: u64,
        buffer: &mut [u8],
    ) -> Result<(), Status> {
        let (region, rights) = self.vmar(vmar, Rights::empty())?;
        let op = VmarOp::from_raw(op)?;
        let required = match op {
            VmarOp::Commit | VmarOp::Decommit | VmarOp::Zero => Rights::WRITE,
            VmarOp::MapRange | VmarOp::Prefetch => Rights::READ,
            VmarOp::DontNeed | VmarOp::AlwaysNeed => Rights::empty(),
        };
        if !rights.contains(required) {
            return Err(Status::AccessDenied);
        }
        if !buffer.is_empty() {
            return Err(Status::InvalidArgs);
        }
        region.op_range(op, addr, len)
    }

    /// `zx_vmar_destroy`: needs [`Rights::OP_CHILDREN`]; the root VMAR cannot
    /// be destroyed (NOT_SUPPORTED); a destroyed VMAR is BAD_STATE.
    pub fn vmar_destroy(&self, vmar: Handle) -> Result<(), Status> {
        let (region, _) = self.vmar(vmar, Rights::OP_CHILDREN)?;
        if Arc::ptr_eq(&region, self.root_vmar_object()) {
            return Err(Status::NotSupported);
        }
        region.destroy()
    }
}
