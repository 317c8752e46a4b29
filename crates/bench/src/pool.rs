//! `PoolFrames`: vm-core's frames as physical memory behaves, on the host.
//!
//! The host mock's frames (`vm_core::mock::MockFrames`) are heap boxes: each
//! allocation is a `malloc` plus a 4 KiB poison fill under one lock, so any
//! figure dominated by frame allocation (commit, a COW fault) measures the
//! host's heap, not vm-core. This pool is what the aarch64 platform does
//! instead: the platform's own buddy allocator (`platform_virt::frames`)
//! over one region mapped and populated up front (huge
//! pages where the kernel gives them, as the physmap's block mappings), whose
//! "physical" addresses are the host addresses of the frames, as the
//! identity-mapped physmap's are; contents are reached as
//! `platform_virt::vm::PhysFrames` reaches them, by plain loads and stores.

use std::io;

use platform_virt::frames::Frames;
use platform_virt::memory_map::PhysRange;
use vm_core::platform::{FrameAllocator, PhysAddr};

use crate::region::{Pages, Region};
use crate::PAGE;

/// A pool of frames in one pre-faulted host region.
pub struct PoolFrames {
    region: Region,
    frames: Frames,
}

impl PoolFrames {
    /// A pool of `count` frames, every one present in memory.
    pub fn new(count: usize) -> io::Result<PoolFrames> {
        let region = Region::populated(count * PAGE, Pages::Huge, true)?;
        let frames = Frames::new();
        let start = region.addr() as u64;
        frames.add_range(PhysRange::new(start, start + region.size() as u64));
        Ok(PoolFrames { region, frames })
    }

    /// A pointer to `len` bytes at `offset` in `frame`, checked to lie in
    /// the pool.
    fn ptr(&self, frame: PhysAddr, offset: usize, len: usize) -> *mut u8 {
        let start = self.region.addr() as u64;
        assert!(
            (start..start + self.region.size() as u64).contains(&frame)
                && frame.is_multiple_of(PAGE as u64)
                && offset + len <= PAGE,
            "outside the pool's frames"
        );
        (frame as usize + offset) as *mut u8
    }
}

impl FrameAllocator for PoolFrames {
    fn alloc(&self) -> Option<PhysAddr> {
        self.frames.alloc()
    }

    fn free(&self, frame: PhysAddr) {
        self.frames.free(frame)
    }

    fn free_count(&self) -> usize {
        self.frames.free_count()
    }

    fn read(&self, frame: PhysAddr, offset: usize, buf: &mut [u8]) {
        let src = self.ptr(frame, offset, buf.len());
        // SAFETY: the bytes lie in one frame of the pool's live mapping
        // (checked by `ptr`), which vm-core owns; `buf` is another buffer.
        unsafe { std::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len()) }
    }

    fn write(&self, frame: PhysAddr, offset: usize, data: &[u8]) {
        let dst = self.ptr(frame, offset, data.len());
        // SAFETY: as in `read`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) }
    }

    fn zero(&self, frame: PhysAddr, offset: usize, len: usize) {
        // SAFETY: as in `read`.
        unsafe { std::ptr::write_bytes(self.ptr(frame, offset, len), 0, len) }
    }

    fn copy(&self, dst: PhysAddr, src: PhysAddr) {
        assert_ne!(dst, src);
        // SAFETY: two distinct whole frames of the pool, which vm-core owns.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr(src, 0, PAGE), self.ptr(dst, 0, PAGE), PAGE) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_from_the_region_and_hold_data() {
        let pool = PoolFrames::new(4).unwrap();
        let frames: Vec<PhysAddr> = (0..4).map(|_| pool.alloc().unwrap()).collect();
        assert_eq!(pool.alloc(), None);
        pool.write(frames[0], 8, &[1, 2, 3]);
        pool.copy(frames[1], frames[0]);
        pool.zero(frames[1], 9, 1);
        let mut buf = [0u8; 3];
        pool.read(frames[1], 8, &mut buf);
        assert_eq!(buf, [1, 0, 3]);
        for f in frames {
            pool.free(f);
        }
        assert_eq!(pool.free_count(), 4);
    }
}
