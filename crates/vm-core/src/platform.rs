//! The platform seam: the few things vm-core asks of the machine under it.
//!
//! Implemented once for aarch64 (`platform-virt`) and once as the host mock
//! (`vm_core::mock`, feature `mock`). Each trait is small on purpose: vm-core
//! decides *what* happens to memory, the platform only carries it out.

use crate::Status;

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
    /// Hardware permissions of one translation.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct MmuFlags: u32 {
        const READ = 1 << 0;
        const WRITE = 1 << 1;
        const EXECUTE = 1 << 2;
    }
}

/// The translation tables of one address space (one root VMAR).
///
/// Break-before-make, TLB maintenance and ASIDs are the implementation's
/// business: when a call returns, no CPU can use a translation it removed or
/// downgraded.
pub trait Translation: Send + Sync {
    /// Maps the page at `va` to `frame` with `flags`, replacing whatever
    /// translation `va` had.
    fn map(&self, va: u64, frame: PhysAddr, flags: MmuFlags) -> Result<(), Status>;
    /// Removes every translation in `[va, va + len)`; page-aligned.
    fn unmap(&self, va: u64, len: u64);
    /// Sets the permissions of every present translation in `[va, va + len)`.
    fn protect(&self, va: u64, len: u64, flags: MmuFlags);
    /// The frame and permissions `va`'s page translates to, if any.
    fn query(&self, va: u64) -> Option<(PhysAddr, MmuFlags)>;
    /// Whether the page at `va` was accessed since the last call; clears it.
    fn harvest_accessed(&self, va: u64) -> bool;
    /// Whether the page at `va` was written since the last call; clears it.
    fn harvest_dirty(&self, va: u64) -> bool;
}

/// Blocking until another CPU or thread completes something.
pub trait Waiter: Send + Sync {
    /// Returns once `done()` is true, sleeping between checks.
    fn wait_until(&self, done: &dyn Fn() -> bool);
    /// Wakes every waiter so that it checks its condition again.
    fn wake_all(&self);
}
