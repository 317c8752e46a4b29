//! The VMO syscalls: `zx_vmo_create`, `_read`, `_write`, `_get_size`,
//! `_set_size`, `_create_child`, `_set_cache_policy` and `_op_range`
//! (digest §2.8-2.11, §3.6).

use vm_core::platform::{CacheOp, CachePolicy};
use vm_core::vmo::{ChildKind, Vmo, VmoOptions};

use crate::handle::Handle;
use crate::object::KernelObject;
use crate::ops::*;
use crate::options::*;
use crate::{Rights, Status, VmoLockState, Zx};

impl Zx {
    /// `zx_vmo_create` (digest §1.3, §2.8): options are any of
    /// `ZX_VMO_RESIZABLE`, `ZX_VMO_DISCARDABLE` and `ZX_VMO_UNBOUNDED`;
    /// anything else (`ZX_VMO_TRAP_DIRTY` included) and UNBOUNDED|RESIZABLE
    /// are INVALID_ARGS. The size is rounded up to a page (OUT_OF_RANGE when
    /// that overflows); an UNBOUNDED VMO has the largest size,
    /// [`vm_core::vmo::MAX_SIZE`]. Either way `size` is the content size
    /// (`ZX_PROP_VMO_CONTENT_SIZE`). The handle has [`Rights::DEFAULT_VMO`],
    /// plus [`Rights::RESIZE`] if resizable.
    pub fn vmo_create(&self, size: u64, options: u32) -> Result<Handle, Status> {
        const KNOWN: u32 = ZX_VMO_RESIZABLE | ZX_VMO_DISCARDABLE | ZX_VMO_UNBOUNDED;
        let unbounded = options & ZX_VMO_UNBOUNDED != 0;
        if options & !KNOWN != 0 || (unbounded && options & ZX_VMO_RESIZABLE != 0) {
            return Err(Status::InvalidArgs);
        }
        // vm-core's options carry Zircon's bit values (digest §1.3).
        let vmo_options = VmoOptions::from_bits_truncate(options);
        let vmo = Vmo::create(self.context(), size, vmo_options)?;
        let mut rights = Rights::DEFAULT_VMO;
        if vmo.is_resizable() {
            rights |= Rights::RESIZE;
        }
        Ok(self.add_handle(KernelObject::Vmo(vmo), rights))
    }

    /// `zx_vmo_read`: reads `buffer.len()` bytes at `offset`; needs
    /// [`Rights::READ`]. OUT_OF_RANGE when `offset + len` exceeds the size
    /// or overflows (digest §2.9).
    pub fn vmo_read(&self, handle: Handle, buffer: &mut [u8], offset: u64) -> Result<(), Status> {
        let (vmo, _) = self.vmo(handle, Rights::READ)?;
        vmo.read(offset, buffer)
    }

    /// `zx_vmo_write`: writes `buffer` at `offset`; needs [`Rights::WRITE`].
    /// Errors as [`Zx::vmo_read`].
    pub fn vmo_write(&self, handle: Handle, buffer: &[u8], offset: u64) -> Result<(), Status> {
        let (vmo, _) = self.vmo(handle, Rights::WRITE)?;
        vmo.write(offset, buffer)
    }

    /// `zx_vmo_get_size`: the size in bytes (a page multiple, whatever the
    /// content size); no right needed.
    pub fn vmo_get_size(&self, handle: Handle) -> Result<u64, Status> {
        let (vmo, _) = self.vmo(handle, Rights::empty())?;
        Ok(vmo.size())
    }

    /// `zx_vmo_set_size`: needs [`Rights::WRITE`], and [`Rights::RESIZE`] if
    /// the VMO is resizable (ACCESS_DENIED); a VMO that is not resizable is
    /// UNAVAILABLE (digest §4.4 ResizeRight, NoResize). The size is
    /// rounded up; the content size becomes `size` exactly.
    pub fn vmo_set_size(&self, handle: Handle, size: u64) -> Result<(), Status> {
        let (vmo, rights) = self.vmo(handle, Rights::WRITE)?;
        if vmo.is_resizable() && !rights.contains(Rights::RESIZE) {
            return Err(Status::AccessDenied);
        }
        vmo.set_size(size)
    }

    /// `zx_vmo_create_child` (digest §2.10): needs [`Rights::DUPLICATE`] and
    /// [`Rights::READ`]. `options` holds exactly one type (SNAPSHOT,
    /// SNAPSHOT_AT_LEAST_ON_WRITE, SNAPSHOT_MODIFIED, SLICE, REFERENCE) and
    /// the modifiers NO_WRITE and RESIZABLE; NO_WRITE|RESIZABLE and unknown
    /// bits are INVALID_ARGS. The rest (a RESIZABLE slice, ranges,
    /// NOT_SUPPORTED parents) is [`Vmo::create_child`]'s.
    ///
    /// The child's handle has the parent handle's rights minus RESIZE, plus
    /// GET/SET_PROPERTY, plus RESIZE if RESIZABLE; NO_WRITE removes WRITE,
    /// and otherwise the snapshot types gain WRITE and lose EXECUTE. The
    /// child takes the parent's name when the parent handle has
    /// GET_PROPERTY (Zircon's `CreateChild(copy_name)`).
    pub fn vmo_create_child(
        &self,
        handle: Handle,
        options: u32,
        offset: u64,
        size: u64,
    ) -> Result<Handle, Status> {
        let (vmo, parent_rights) = self.vmo(handle, Rights::DUPLICATE | Rights::READ)?;
        let no_write = options & ZX_VMO_CHILD_NO_WRITE != 0;
        let resizable = options & ZX_VMO_CHILD_RESIZABLE != 0;
        if no_write && resizable {
            return Err(Status::InvalidArgs);
        }
        let kind = child_kind(options & !(ZX_VMO_CHILD_NO_WRITE | ZX_VMO_CHILD_RESIZABLE))?;
        let child = vmo.create_child(kind, offset, size, resizable)?;
        if parent_rights.contains(Rights::GET_PROPERTY) {
            child.set_name(&vmo.name());
        }

        let mut rights =
            parent_rights.difference(Rights::RESIZE) | Rights::GET_PROPERTY | Rights::SET_PROPERTY;
        if resizable {
            rights |= Rights::RESIZE;
        }
        if no_write {
            rights.remove(Rights::WRITE);
        } else if matches!(
            kind,
            ChildKind::Snapshot | ChildKind::SnapshotAtLeastOnWrite | ChildKind::SnapshotModified
        ) {
            rights.remove(Rights::EXECUTE);
            rights.insert(Rights::WRITE);
        }
        Ok(self.add_handle(KernelObject::Vmo(child), rights))
    }

    /// `zx_vmo_replace_as_executable`: a new handle to the VMO with the
    /// rights of `handle` plus [`Rights::EXECUTE`]; `handle` is invalidated
    /// whatever the outcome, as in Zircon. `vmex` must be
    /// [`Handle::INVALID`]: there are no resource objects here, and every
    /// instance runs under the ambient `ZX_POL_AMBIENT_MARK_VMO_EXEC`
    /// allowance; any other value is BAD_HANDLE. A handle that names
    /// nothing is BAD_HANDLE, one to something other than a VMO WRONG_TYPE.
    pub fn vmo_replace_as_executable(&self, handle: Handle, vmex: Handle) -> Result<Handle, Status> {
        let source = self.remove_handle(handle)?;
        if vmex != Handle::INVALID {
            return Err(Status::BadHandle);
        }
        let KernelObject::Vmo(vmo) = source.object else {
            return Err(Status::WrongType);
        };
        Ok(self.add_handle(KernelObject::Vmo(vmo), source.rights | Rights::EXECUTE))
    }

    /// `zx_vmo_set_cache_policy` (digest §1.10, §3.6): a policy outside
    /// `ZX_CACHE_POLICY_MASK` is INVALID_ARGS, before the handle is looked
    /// at (Zircon's order); the handle needs [`Rights::MAP`]; the state
    /// checks (BAD_STATE while mapped, with children, as a child, or
    /// uncached with pages committed) are
    /// [`Vmo::set_cache_policy`]'s.
    pub fn vmo_set_cache_policy(&self, handle: Handle, cache_policy: u32) -> Result<(), Status> {
        let policy = CachePolicy::from_raw(cache_policy).ok_or(Status::InvalidArgs)?;
        let (vmo, _) = self.vmo(handle, Rights::MAP)?;
        vmo.set_cache_policy(policy)
    }

    /// `zx_vmo_op_range` (digest §2.11, `vmo_op_range.md`). The rights each
    /// op needs are checked after the handle's type: WRITE for COMMIT,
    /// DECOMMIT, ZERO and CACHE_INVALIDATE; READ for CACHE_SYNC, CACHE_CLEAN,
    /// CACHE_CLEAN_INVALIDATE and PREFETCH; READ or WRITE for LOCK, TRY_LOCK
    /// and UNLOCK; none for the hints DONT_NEED and ALWAYS_NEED. An unknown
    /// op is INVALID_ARGS. CACHE_INVALIDATE is always available, as on a
    /// Zircon booted with `kernel.enable-debugging-syscalls` (which the core
    /// tests use; without it Zircon answers NOT_SUPPORTED).
    ///
    /// `buffer` is only used by LOCK, which writes a [`VmoLockState`] into it
    /// and needs it to be exactly [`VmoLockState::SIZE`] bytes (INVALID_ARGS
    /// otherwise, checked before anything changes).
    pub fn vmo_op_range(
        &self,
        handle: Handle,
        op: u32,
        offset: u64,
        size: u64,
        buffer: &mut [u8],
    ) -> Result<(), Status> {
        let (vmo, rights) = self.vmo(handle, Rights::empty())?;
        let needs = |required: Rights| {
            if rights.intersects(required) {
                Ok(())
            } else {
                Err(Status::AccessDenied)
            }
        };
        let cache = |op: CacheOp, required: Rights| {
            needs(required)?;
            vmo.cache_op(op, offset, size)
        };
        match op {
            ZX_VMO_OP_COMMIT => needs(Rights::WRITE).and_then(|_| vmo.commit(offset, size)),
            ZX_VMO_OP_DECOMMIT => needs(Rights::WRITE).and_then(|_| vmo.decommit(offset, size)),
            ZX_VMO_OP_ZERO => needs(Rights::WRITE).and_then(|_| vmo.zero(offset, size)),
            ZX_VMO_OP_LOCK => {
                needs(Rights::READ | Rights::WRITE)?;
                let out: &mut [u8; VmoLockState::SIZE] =
                    buffer.try_into().map_err(|_| Status::InvalidArgs)?;
                let state = vmo.lock(offset, size)?;
                *out = VmoLockState::from(state).to_bytes();
                Ok(())
            }
            ZX_VMO_OP_TRY_LOCK => {
                needs(Rights::READ | Rights::WRITE).and_then(|_| vmo.try_lock(offset, size))
            }
            ZX_VMO_OP_UNLOCK => needs(Rights::READ | Rights::WRITE).and_then(|_| vmo.unlock(offset, size)),
            ZX_VMO_OP_CACHE_SYNC => cache(CacheOp::Sync, Rights::READ),
            ZX_VMO_OP_CACHE_INVALIDATE => cache(CacheOp::Invalidate, Rights::WRITE),
            ZX_VMO_OP_CACHE_CLEAN => cache(CacheOp::Clean, Rights::READ),
            ZX_VMO_OP_CACHE_CLEAN_INVALIDATE => cache(CacheOp::CleanInvalidate, Rights::READ),
            ZX_VMO_OP_DONT_NEED => vmo.dont_need(offset, size),
            ZX_VMO_OP_ALWAYS_NEED => vmo.always_need(offset, size),
            ZX_VMO_OP_PREFETCH => needs(Rights::READ).and_then(|_| vmo.prefetch(offset, size)),
            _ => Err(Status::InvalidArgs),
        }
    }
}

/// The child type `options` (modifiers removed) names: exactly one type bit,
/// else INVALID_ARGS.
fn child_kind(options: u32) -> Result<ChildKind, Status> {
    Ok(match options {
        ZX_VMO_CHILD_SNAPSHOT => ChildKind::Snapshot,
        ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE => ChildKind::SnapshotAtLeastOnWrite,
        ZX_VMO_CHILD_SNAPSHOT_MODIFIED => ChildKind::SnapshotModified,
        ZX_VMO_CHILD_SLICE => ChildKind::Slice,
        ZX_VMO_CHILD_REFERENCE => ChildKind::Reference,
        _ => return Err(Status::InvalidArgs),
    })
}
