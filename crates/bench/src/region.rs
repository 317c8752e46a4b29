//! Anonymous host memory mapped for a job: the frame pool's backing, the
//! buffers of the limits, and the regions Linux's side works on.

use std::io;

use crate::PAGE;

/// `MADV_POPULATE_WRITE` (Linux 5.14), not in every libc.
pub const MADV_POPULATE_WRITE: libc::c_int = 23;

/// A private anonymous mapping, unmapped on drop.
pub struct Region {
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; which thread
// touches it is up to its users, as for a `Vec`.
unsafe impl Send for Region {}
// SAFETY: as above; `Region` hands out only raw addresses.
unsafe impl Sync for Region {}

/// How a region's pages are backed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Pages {
    /// 4 KiB pages only (`MADV_NOHUGEPAGE`): what Linux's side of each job
    /// works with, page for page as vm-core does.
    Small,
    /// Huge pages where the kernel can (`MADV_HUGEPAGE`), as a physmap's
    /// block mappings: the frame pool and the limits' buffers.
    Huge,
}

impl Region {
    /// `len` bytes (a multiple of the page size) of fresh memory, not
    /// populated; `MADV_DONTFORK` when `fork_excluded`, so that fork
    /// measures only the regions it is about.
    pub fn new(len: usize, pages: Pages, fork_excluded: bool) -> io::Result<Region> {
        assert!(len > 0 && len.is_multiple_of(PAGE), "a region is whole pages");
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        // SAFETY: a new anonymous mapping at an address the kernel chooses;
        // no existing memory is affected.
        let base = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0)
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let region = Region { base: base.cast(), len };
        let advice = match pages {
            Pages::Small => libc::MADV_NOHUGEPAGE,
            Pages::Huge => libc::MADV_HUGEPAGE,
        };
        region.advise(0, len, advice)?;
        if fork_excluded {
            region.advise(0, len, libc::MADV_DONTFORK)?;
        }
        Ok(region)
    }

    /// A region whose every page is present and written.
    pub fn populated(len: usize, pages: Pages, fork_excluded: bool) -> io::Result<Region> {
        let region = Region::new(len, pages, fork_excluded)?;
        region.advise(0, len, MADV_POPULATE_WRITE)?;
        Ok(region)
    }

    /// `madvise` over `[offset, offset + len)` of the region.
    pub fn advise(&self, offset: usize, len: usize, advice: libc::c_int) -> io::Result<()> {
        assert!(offset + len <= self.len, "advice outside the region");
        // SAFETY: the range lies inside this mapping; the advice values used
        // here only change how its pages are backed, never other memory.
        if unsafe { libc::madvise(self.base.add(offset).cast(), len, advice) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn addr(&self) -> usize {
        self.base as usize
    }

    pub fn size(&self) -> usize {
        self.len
    }

    /// The bytes of the region.
    pub fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `len` readable and writable bytes that live
        // as long as `self`, borrowed mutably here.
        unsafe { std::slice::from_raw_parts_mut(self.base, self.len) }
    }

    /// Reads the byte at `offset` (faulting its page in if need be).
    pub fn read(&self, offset: usize) -> u8 {
        assert!(offset < self.len);
        // SAFETY: inside the mapping; a volatile load so that the access
        // (and its fault) happens where the job times it.
        unsafe { self.base.add(offset).read_volatile() }
    }

    /// Writes `value` at `offset` (faulting its page in if need be).
    pub fn write(&self, offset: usize, value: u8) {
        assert!(offset < self.len);
        // SAFETY: inside the mapping; volatile as in `read`. Concurrent
        // users of one region write disjoint pages.
        unsafe { self.base.add(offset).write_volatile(value) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping `new` made, no longer referenced.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}
