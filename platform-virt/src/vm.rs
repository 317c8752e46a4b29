//! vm-core on this platform: frames through the physmap, cache maintenance
//! by line, address spaces on the hardware tables, and the fault path from
//! the exception vectors into vm-core.

use crate::cache::{maintain, LineSizes};
use crate::mmu::asid::Asids;
use crate::mmu::aspace::{AddressSpace, USER_BASE, VA_SIZE};
use crate::mmu::hw::{self, FrameTables, HwAddressSpace};
use crate::mmu::maintenance::Hardware;
use crate::wait::EventWaiter;
use alloc::sync::Arc;
use spin::RwLock;
use vm_core::context::VmContext;
use vm_core::fault::Access;
use vm_core::platform::{CacheMaintenance, CacheOp, FrameAllocator, PhysAddr, Translation};
use vm_core::vmar::Vmar;
use vm_core::{Status, PAGE_SIZE};

/// The platform's frame allocator, with frame contents reached through the
/// identity-mapped physmap.
pub struct PhysFrames;

fn frame_ptr(frame: PhysAddr, offset: usize, len: usize) -> *mut u8 {
    assert!(frame.is_multiple_of(PAGE_SIZE) && offset + len <= PAGE_SIZE as usize, "outside the frame");
    (frame + offset as u64) as *mut u8
}

impl FrameAllocator for PhysFrames {
    fn alloc(&self) -> Option<PhysAddr> {
        crate::runtime::frames().alloc()
    }

    fn free(&self, frame: PhysAddr) {
        crate::runtime::frames().free(frame)
    }

    fn free_count(&self) -> usize {
        crate::runtime::frames().free_count()
    }

    fn read(&self, frame: PhysAddr, offset: usize, buf: &mut [u8]) {
        let src = frame_ptr(frame, offset, buf.len());
        // SAFETY: the bytes lie inside one frame, which vm-core owns, in
        // identity-mapped RAM; `buf` is a distinct Rust buffer.
        unsafe { core::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len()) }
    }

    fn write(&self, frame: PhysAddr, offset: usize, data: &[u8]) {
        let dst = frame_ptr(frame, offset, data.len());
        // SAFETY: as in `read`.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) }
    }

    fn zero(&self, frame: PhysAddr, offset: usize, len: usize) {
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_bytes(frame_ptr(frame, offset, len), 0, len) }
    }

    fn copy(&self, dst: PhysAddr, src: PhysAddr) {
        let n = PAGE_SIZE as usize;
        assert_ne!(dst, src);
        // SAFETY: two distinct whole frames vm-core owns, identity-mapped.
        unsafe { core::ptr::copy_nonoverlapping(frame_ptr(src, 0, n), frame_ptr(dst, 0, n), n) }
    }
}

/// Cache maintenance by physical range, through the physmap, with the line
/// sizes `CTR_EL0` gives.
pub struct CpuCaches {
    lines: LineSizes,
}

impl CpuCaches {
    pub fn new() -> CpuCaches {
        CpuCaches { lines: LineSizes::this_cpu() }
    }
}

impl Default for CpuCaches {
    fn default() -> Self {
        Self::new()
    }
}

impl CacheMaintenance for CpuCaches {
    fn cache_op(&self, op: CacheOp, pa: PhysAddr, len: u64) {
        maintain(&Hardware, self.lines, op, pa, len)
    }
}

/// A VM context over this platform.
pub fn context() -> Result<Arc<VmContext>, Status> {
    VmContext::new(Arc::new(PhysFrames), Arc::new(CpuCaches::new()), Arc::new(EventWaiter))
}

static ASIDS: Asids = Asids::new();

/// An address space with its root VMAR covering everything above the
/// kernel's identity map.
pub struct Space {
    pub root: Arc<Vmar>,
    pub tables: Arc<HwAddressSpace>,
}

impl Space {
    pub fn new(ctx: &Arc<VmContext>) -> Result<Arc<Space>, Status> {
        Self::with_translation(ctx, |tables| tables)
    }

    /// An address space whose VMARs reach the tables through `wrap`'s
    /// translation (tests interpose on the seam with it).
    pub fn with_translation(
        ctx: &Arc<VmContext>,
        wrap: impl FnOnce(Arc<HwAddressSpace>) -> Arc<dyn Translation>,
    ) -> Result<Arc<Space>, Status> {
        let tables = Arc::new(AddressSpace::with_asid_from(
            FrameTables,
            Hardware,
            &ASIDS,
            Some(hw::kernel_map().root),
        )?);
        let root = Vmar::new_root(ctx, wrap(tables.clone()));
        Ok(Arc::new(Space { root, tables }))
    }

    /// Makes this the address space faults are resolved in, and the current
    /// one on this CPU.
    pub fn activate(self: &Arc<Self>) {
        *CURRENT.write() = Some(self.clone());
        self.enter();
    }

    /// Makes this the current address space on this CPU (for the other CPUs
    /// once one has called [`Space::activate`]).
    pub fn enter(&self) {
        hw::activate(&self.tables);
    }

    /// Back to the kernel's map on this CPU, and no address space for faults.
    pub fn deactivate() {
        hw::deactivate();
        *CURRENT.write() = None;
    }
}

static CURRENT: RwLock<Option<Arc<Space>>> = RwLock::new(None);

/// Resolves an abort at `far` for `access` in the current address space:
/// first the software half of access-flag and dirty management, then
/// vm-core's fault path. `None` when the address is not a VM address.
pub(crate) fn handle_abort(
    far: u64,
    access: Access,
    access_or_permission: bool,
) -> Option<Result<(), Status>> {
    if !(USER_BASE..VA_SIZE).contains(&far) {
        return None;
    }
    let space = CURRENT.read().clone()?;
    if access_or_permission && space.tables.resolve_access_fault(far, access) {
        return Some(Ok(()));
    }
    Some(space.root.fault(far, access))
}

/// " in VMO <koid> at offset <offset>" for the mapping covering `va` in the
/// current address space, or nothing.
pub(crate) fn describe_mapping(va: u64) -> alloc::string::String {
    let vmo = CURRENT.read().as_ref().and_then(|space| space.root.vmo_at(va));
    match vmo {
        Some((vmo, offset)) => alloc::format!(" in VMO {} at offset {offset:#x}", vmo.koid()),
        None => alloc::string::String::new(),
    }
}
