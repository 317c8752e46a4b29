//! vm-core on this platform: frames through the physmap, address spaces on
//! the hardware tables, the address space each CPU is in, and the fault path
//! from the exception vectors into vm-core.
//!
//! Each CPU has its own current address space ([`AddressSpace::enter`]): the
//! tables it walks and the root VMAR its faults resolve in are always the
//! same address space's, whatever the other CPUs run.

use crate::cache::CpuCaches;
use crate::cpu::MAX_CPUS;
use crate::fault::MappedVmo;
use crate::mmu::asid::Asids;
use crate::mmu::hw::{self, FrameTables, HwTables};
use crate::mmu::maintenance::Hardware;
use crate::mmu::tables::{TranslationTables, USER_BASE, VA_SIZE};
use crate::wait::EventWaiter;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;
use vm_core::context::{FrameBudget, VmContext};
use vm_core::fault::Access;
use vm_core::platform::{FrameAllocator, PhysAddr};
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
        crate::frames::global().alloc()
    }

    fn free(&self, frame: PhysAddr) {
        crate::frames::global().free(frame)
    }

    fn free_count(&self) -> usize {
        crate::frames::global().free_count()
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

    // Inlined into the fault path, which calls them statically.
    #[inline(always)]
    fn zero(&self, frame: PhysAddr, offset: usize, len: usize) {
        // SAFETY: as in `read`.
        unsafe { crate::frame_ops::zero(frame_ptr(frame, offset, len), len) }
    }

    #[inline(always)]
    fn copy(&self, dst: PhysAddr, src: PhysAddr) {
        assert_ne!(dst, src);
        let n = PAGE_SIZE as usize;
        // SAFETY: two distinct whole frames vm-core owns, identity-mapped.
        unsafe { crate::frame_ops::copy_page(frame_ptr(dst, 0, n), frame_ptr(src, 0, n)) }
    }
}

/// A VM context over this platform.
pub fn context() -> Result<Arc<VmContext>, Status> {
    VmContext::new(Arc::new(PhysFrames), Arc::new(CpuCaches::new()), Arc::new(EventWaiter))
}

/// A VM context whose objects may hold at most `frames` frames at once
/// (its zero frame included); past that, allocations reclaim (evicting
/// Clean pager pages) or fail with NO_MEMORY, as on a smaller machine.
pub fn context_with_budget(frames: usize) -> Result<Arc<VmContext>, Status> {
    let budget = Arc::new(FrameBudget::new(Arc::new(PhysFrames), frames));
    VmContext::new(budget, Arc::new(CpuCaches::new()), Arc::new(EventWaiter))
}

static ASIDS: Asids = Asids::new();

/// New translation tables for an address space: empty above the kernel's
/// identity map, which they share, and with an ASID of their own
/// (`NO_RESOURCES` when all are in use, `NO_MEMORY`).
pub fn new_tables() -> Result<Arc<HwTables>, Status> {
    let tables =
        TranslationTables::with_asid_from(FrameTables, Hardware, &ASIDS, Some(hw::kernel_map().root))?;
    Ok(Arc::new(tables))
}

/// An address space: translation tables and the root VMAR whose mappings
/// they hold.
pub struct AddressSpace {
    pub root: Arc<Vmar>,
    pub tables: Arc<HwTables>,
}

/// The address space each CPU is in, by CPU index; only that CPU reads or
/// changes its entry (the exception handler included).
static CURRENT: [Mutex<Option<Arc<AddressSpace>>>; MAX_CPUS] = [const { Mutex::new(None) }; MAX_CPUS];

impl AddressSpace {
    /// The address space of `tables` whose root VMAR is `root`: a root made
    /// over `tables` by [`Vmar::new_root`] or [`zx::Zx::new`], directly or
    /// through a [`Translation`](vm_core::platform::Translation) that
    /// forwards to them. A root made directly over `tables`, in a context
    /// over [`PhysFrames`], has its faults call both statically
    /// (`Vmar::fault_with`).
    pub fn new(root: Arc<Vmar>, tables: Arc<HwTables>) -> Arc<AddressSpace> {
        Arc::new(AddressSpace { root, tables })
    }

    /// Makes this the address space of this CPU: the CPU walks its tables,
    /// and its faults at VM addresses resolve in its root VMAR.
    pub fn enter(self: &Arc<Self>) {
        let previous = CURRENT[crate::cpu::index()].lock().replace(self.clone());
        hw::activate(&self.tables);
        // An address space that nobody else holds goes away here, unlocked.
        drop(previous);
    }

    /// Takes this CPU out of its address space, back to the kernel's map;
    /// its faults at VM addresses are then nobody's (fatal).
    pub fn leave() {
        hw::deactivate();
        let previous = CURRENT[crate::cpu::index()].lock().take();
        drop(previous);
    }

    /// The address space this CPU is in, if any.
    pub fn current() -> Option<Arc<AddressSpace>> {
        CURRENT[crate::cpu::index()].lock().clone()
    }
}

/// How many aborts at VM addresses took each path, since boot, on every
/// CPU: what tells a hardware dirty-state update (no abort at all) from the
/// software one (a write abort the platform resolves) in tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Access-flag and permission aborts the platform resolved itself
    /// (software access-flag and dirty-state management), of writes.
    pub software_writes: u64,
    /// The same, of reads and instruction fetches.
    pub software_other: u64,
    /// Aborts that went to vm-core's fault path.
    pub vm: u64,
}

static SOFTWARE_WRITES: AtomicU64 = AtomicU64::new(0);
static SOFTWARE_OTHER: AtomicU64 = AtomicU64::new(0);
static VM_FAULTS: AtomicU64 = AtomicU64::new(0);

/// The abort counts so far.
pub fn fault_counts() -> FaultCounts {
    FaultCounts {
        software_writes: SOFTWARE_WRITES.load(Ordering::SeqCst),
        software_other: SOFTWARE_OTHER.load(Ordering::SeqCst),
        vm: VM_FAULTS.load(Ordering::SeqCst),
    }
}

/// Resolves an abort at `far` for `access` in this CPU's address space:
/// first the software half of access-flag and dirty management, then
/// vm-core's fault path. `None` when the address is not a VM address or the
/// CPU is in no address space.
#[inline]
pub(crate) fn handle_abort(
    far: u64,
    access: Access,
    access_or_permission: bool,
) -> Option<Result<(), Status>> {
    if !(USER_BASE..VA_SIZE).contains(&far) {
        return None;
    }
    let space = AddressSpace::current()?;
    if access_or_permission && space.tables.resolve_access_fault(far, access) {
        let counter = if access == Access::Write { &SOFTWARE_WRITES } else { &SOFTWARE_OTHER };
        counter.fetch_add(1, Ordering::SeqCst);
        return Some(Ok(()));
    }
    VM_FAULTS.fetch_add(1, Ordering::SeqCst);
    // Statically, when the root is over these tables and the context over
    // these frames (`Vmar::fault_with`): two indirect branches fewer per
    // call into either.
    Some(space.root.fault_with(far, access, &*space.tables, &PhysFrames))
}

/// The VMO mapped at `va` in this CPU's address space, for fault reports.
/// Cold: kept out of the exception handler, whose faults resolve.
#[cold]
#[inline(never)]
pub(crate) fn mapped_vmo(va: u64) -> Option<MappedVmo> {
    let (vmo, offset) = AddressSpace::current()?.root.vmo_at(va)?;
    Some(MappedVmo { koid: vmo.koid(), offset })
}
