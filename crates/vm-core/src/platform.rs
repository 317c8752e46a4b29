//! The platform seam: the few things vm-core asks of the machine under it.
//!
//! Implemented once for aarch64 (`platform-virt`) and once as the host mock
//! (`vm_core::mock`, feature `mock`). Each trait is small on purpose: vm-core
//! decides *what* happens to memory, the platform only carries it out.
//!
//! vm-core holds the platform's objects as trait objects. The fault path can
//! also call them statically, inlined: a platform that has its own objects
//! under their own types passes them to
//! [`Vmar::fault_with`](crate::vmar::Vmar::fault_with), which uses them when
//! it finds them to be the ones vm-core holds, as Linux's
//! `INDIRECT_CALL_*` wrappers call a known target directly. Under QEMU's TCG
//! each dynamic call costs two indirect branches, a lookup each.

use alloc::sync::Arc;
use core::any::TypeId;

use crate::fault::Access;
use crate::Status;

/// Whether `given` is the object behind `held`, whose type is `held_type`
/// (recorded when vm-core was handed the object): the same type, and the
/// same address unless the type is zero-sized, whose values hold nothing
/// to tell apart. Calling `given` statically is then calling `held`.
pub(crate) fn is_same_object<T: 'static, U: ?Sized>(held: &Arc<U>, held_type: TypeId, given: &T) -> bool {
    TypeId::of::<T>() == held_type && (size_of::<T>() == 0 || core::ptr::addr_eq(Arc::as_ptr(held), given))
}

/// A physical address. Frames are [`PAGE_SIZE`]-aligned physical addresses.
pub type PhysAddr = u64;

/// The page size `P` of the digest: 4 KiB on QEMU virt aarch64.
pub const PAGE_SIZE: u64 = 4096;

/// Physical frames: allocation and access to their contents through the
/// platform's physmap.
///
/// `alloc` hands out frames with unspecified contents; vm-core zeroes or fully
/// overwrites every frame before a VMO can observe it.
pub trait FrameAllocator: Send + Sync {
    /// Takes one frame, or `None` when memory is exhausted.
    fn alloc(&self) -> Option<PhysAddr>;
    /// Returns a frame taken with [`FrameAllocator::alloc`].
    fn free(&self, frame: PhysAddr);
    /// How many frames [`FrameAllocator::alloc`] could still hand out.
    fn free_count(&self) -> usize;
    /// Copies `buf.len()` bytes starting `offset` bytes into `frame` to `buf`.
    fn read(&self, frame: PhysAddr, offset: usize, buf: &mut [u8]);
    /// Copies `data` into `frame` starting `offset` bytes in.
    fn write(&self, frame: PhysAddr, offset: usize, data: &[u8]);
    /// Zeroes `len` bytes of `frame` starting `offset` bytes in.
    fn zero(&self, frame: PhysAddr, offset: usize, len: usize);
    /// Copies the whole of frame `src` over frame `dst`.
    fn copy(&self, dst: PhysAddr, src: PhysAddr);
}

/// The data and instruction cache operations behind `ZX_VMO_OP_CACHE_*`
/// (digest §3.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOp {
    /// `ZX_VMO_OP_CACHE_CLEAN`: clean to the point of coherency.
    Clean,
    /// `ZX_VMO_OP_CACHE_INVALIDATE`: invalidate; bytes outside the range are
    /// never discarded (partial lines at the edges are cleaned too).
    Invalidate,
    /// `ZX_VMO_OP_CACHE_CLEAN_INVALIDATE`.
    CleanInvalidate,
    /// `ZX_VMO_OP_CACHE_SYNC`: make written instructions executable.
    Sync,
}

/// Cache maintenance by physical range (through the physmap).
pub trait CacheMaintenance: Send + Sync {
    /// Applies `op` to the bytes `[pa, pa + len)`, which lie in committed
    /// frames; vm-core calls this once per physically contiguous run.
    fn cache_op(&self, op: CacheOp, pa: PhysAddr, len: u64);
}

bitflags::bitflags! {
    /// Hardware permissions of one translation, and its memory type when
    /// it is not the normal cached one (one of the last three at most).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct MmuFlags: u32 {
        const READ = 1 << 0;
        const WRITE = 1 << 1;
        const EXECUTE = 1 << 2;
        /// `ZX_CACHE_POLICY_UNCACHED`: uncached, strongly ordered.
        const UNCACHED = 1 << 3;
        /// `ZX_CACHE_POLICY_UNCACHED_DEVICE`: device memory.
        const UNCACHED_DEVICE = 1 << 4;
        /// `ZX_CACHE_POLICY_WRITE_COMBINING`: uncached, writes may merge.
        const WRITE_COMBINING = 1 << 5;
    }
}

impl MmuFlags {
    /// READ, WRITE and EXECUTE.
    pub const PERMS: MmuFlags = MmuFlags::READ.union(MmuFlags::WRITE).union(MmuFlags::EXECUTE);
}

/// How a VMO's pages are mapped (`ZX_CACHE_POLICY_*`, digest §1.10, §3.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum CachePolicy {
    /// `ZX_CACHE_POLICY_CACHED` (0): normal write-back memory.
    #[default]
    Cached = 0,
    /// `ZX_CACHE_POLICY_UNCACHED` (1).
    Uncached = 1,
    /// `ZX_CACHE_POLICY_UNCACHED_DEVICE` (2).
    UncachedDevice = 2,
    /// `ZX_CACHE_POLICY_WRITE_COMBINING` (3).
    WriteCombining = 3,
}

impl CachePolicy {
    /// The policy with Zircon value `raw`, if it names one
    /// (`ZX_CACHE_POLICY_MASK` is 3).
    pub const fn from_raw(raw: u32) -> Option<CachePolicy> {
        Some(match raw {
            0 => CachePolicy::Cached,
            1 => CachePolicy::Uncached,
            2 => CachePolicy::UncachedDevice,
            3 => CachePolicy::WriteCombining,
            _ => return None,
        })
    }

    /// The memory-type bit of [`MmuFlags`] a translation of this policy
    /// carries (none for cached memory).
    pub const fn mmu_flags(self) -> MmuFlags {
        match self {
            CachePolicy::Cached => MmuFlags::empty(),
            CachePolicy::Uncached => MmuFlags::UNCACHED,
            CachePolicy::UncachedDevice => MmuFlags::UNCACHED_DEVICE,
            CachePolicy::WriteCombining => MmuFlags::WRITE_COMBINING,
        }
    }
}

/// The translation tables of one address space (one root VMAR).
///
/// Break-before-make, TLB maintenance and ASIDs are the implementation's
/// business: when a call returns, no CPU can use a translation it removed or
/// downgraded.
///
/// vm-core only asks for what the tables can do: addresses inside
/// [`Translation::va_range`] (the root VMAR covers exactly that range) and,
/// unless [`Translation::can_map_execute_only`], no EXECUTE without READ. A
/// call outside that contract is a bug in vm-core, which an implementation
/// may report by panicking.
///
/// A writable translation records whether it was written through (the
/// *dirty state*: kept by FEAT_HAFDBS hardware, or by the platform on the
/// permission fault of the first write to a writable-clean entry), so a
/// page may be mapped writable and still be known clean until written.
/// Every call that takes a translation's dirty state away reports it: it
/// calls `dirty(va)` for each such page, with the state read from the entry
/// in the same atomic step that invalidates or write-protects it, so a
/// store racing the call is either reported or faults.
pub trait Translation: Send + Sync {
    /// The virtual addresses these tables translate: `(base, size)` of
    /// `[base, base + size)`, page-aligned and non-empty.
    fn va_range(&self) -> (u64, u64);
    /// Whether a translation can allow instruction fetches without allowing
    /// loads (Zircon's `ZX_VM_FEATURE_CAN_MAP_XOM`).
    fn can_map_execute_only(&self) -> bool;
    /// Maps the page at `va` to `frame` with `flags` (permissions, and the
    /// memory type its cache bits name), replacing whatever translation
    /// `va` had. `access` is the access whose fault the
    /// translation resolves, if any: the translation starts accessed, and
    /// after a write also dirty (the fault path made the page Dirty already),
    /// so the retried access takes no access-flag or dirty-state fault on a
    /// CPU that manages those in software. Otherwise it starts not accessed
    /// and clean.
    fn map(&self, va: u64, frame: PhysAddr, flags: MmuFlags, access: Option<Access>) -> Result<(), Status>;
    /// Takes what a [`Translation::map`] of `va` would have to allocate (the
    /// tables on the way to its entry), or fails with NO_MEMORY. Once it has
    /// succeeded, a `map` of `va` does not fail for want of memory while
    /// these tables last, so the fault path calls it before it changes the
    /// VMO: a fault that finds no memory changes nothing.
    fn prepare(&self, va: u64) -> Result<(), Status>;
    /// Removes every translation in `[va, va + len)` (page-aligned),
    /// reporting the dirty ones to `dirty`.
    fn unmap(&self, va: u64, len: u64, dirty: &mut dyn FnMut(u64));
    /// Sets the permissions of every present translation in `[va, va + len)`,
    /// reporting to `dirty` the dirty ones it takes WRITE from. Memory types
    /// stay as mapped: vm-core passes the same cache bits the translations
    /// were mapped with.
    fn protect(&self, va: u64, len: u64, flags: MmuFlags, dirty: &mut dyn FnMut(u64));
    /// The frame and permissions `va`'s page translates to, if any.
    fn query(&self, va: u64) -> Option<(PhysAddr, MmuFlags)>;
    /// Whether the page at `va` was accessed since the last call; clears it.
    fn harvest_accessed(&self, va: u64) -> bool;
    /// Reports to `dirty` every translation in `[va, va + len)` written
    /// since it was mapped or last harvested, and makes it clean again (the
    /// next write is recorded anew). Costs O(present translations).
    fn harvest_dirty(&self, va: u64, len: u64, dirty: &mut dyn FnMut(u64));
}

/// A deadline meaning "never": [`Waiter::wait_until_deadline`] then waits
/// as long as it takes (Zircon's `ZX_TIME_INFINITE`).
pub const INFINITE: u64 = u64::MAX;

/// Blocking until another CPU or thread completes something, or until a
/// time on the platform's monotonic clock.
///
/// `done` is called with no VM lock held and must take none itself: it reads
/// state that the waker changes (atomics, or locks that are leaves of the
/// lock order) before calling [`Waiter::wake_all`].
pub trait Waiter: Send + Sync {
    /// The monotonic clock, in nanoseconds since an arbitrary fixed point.
    fn now(&self) -> u64;
    /// Returns `true` once `done()` is true, sleeping between checks, or
    /// `false` once the clock reads `deadline` or later with `done()` still
    /// false. A deadline of [`INFINITE`] never passes.
    fn wait_until_deadline(&self, done: &dyn Fn() -> bool, deadline: u64) -> bool;
    /// Returns once `done()` is true.
    fn wait_until(&self, done: &dyn Fn() -> bool) {
        self.wait_until_deadline(done, INFINITE);
    }
    /// Wakes every waiter so that it checks its condition (and its deadline)
    /// again.
    fn wake_all(&self);
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Stateless;

    /// The same object is the same type at the same address; values of a
    /// zero-sized type are all the same object.
    #[test]
    fn an_object_is_itself_under_its_own_type_only() {
        let held: Arc<u64> = Arc::new(7);
        let same_value_elsewhere = 7u64;
        assert!(is_same_object(&held, TypeId::of::<u64>(), &*held));
        assert!(!is_same_object(&held, TypeId::of::<u64>(), &same_value_elsewhere));
        let as_i64: &i64 = &0;
        assert!(!is_same_object(&held, TypeId::of::<u64>(), as_i64), "another type");
        let held: Arc<dyn core::any::Any> = Arc::new(Stateless);
        assert!(is_same_object(&held, TypeId::of::<Stateless>(), &Stateless));
        assert!(!is_same_object(&held, TypeId::of::<u8>(), &Stateless));
    }
}
