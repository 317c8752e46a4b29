//! The frame allocator: allocate until exhausted, no frame handed out twice,
//! every frame inside the ranges given to it and real RAM, free all, free
//! count back to its start.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use platform_virt::Boot;

platform_virt::test_image!(exhaust_and_free_all, reuse_after_free,);

fn exhaust_and_free_all(boot: &Boot) {
    let frames = boot.frames();
    let start = frames.free_count();
    // The kernel's identity map holds its two tables.
    assert_eq!(frames.total() - start, 2);
    let ram = boot.info.ram.as_slice()[0];
    let mut handed_out = vec![0u64; (ram.len() / 4096).div_ceil(64) as usize];
    let mut taken = Vec::with_capacity(start);
    while let Some(pa) = frames.alloc() {
        assert!(boot.frame_ranges.as_slice().iter().any(|r| r.start <= pa && pa + 4096 <= r.end));
        let index = ((pa - ram.start) / 4096) as usize;
        let (word, bit) = (index / 64, 1u64 << (index % 64));
        assert_eq!(handed_out[word] & bit, 0, "frame {pa:#x} handed out twice");
        handed_out[word] |= bit;
        // The frame is real, writable RAM that nothing else uses.
        let p = pa as *mut u64;
        // SAFETY: the frame is ours until freed; the MMU is off, so its
        // physical address is directly accessible.
        unsafe {
            p.write_volatile(pa);
            p.add(511).write_volatile(!pa);
        }
        taken.push(pa);
    }
    assert_eq!(taken.len(), start);
    assert_eq!(frames.free_count(), 0);
    for &pa in &taken {
        let p = pa as *const u64;
        // SAFETY: as above; no other frame's writes may have landed here.
        let (first, last) = unsafe { (p.read_volatile(), p.add(511).read_volatile()) };
        assert_eq!((first, last), (pa, !pa), "frame {pa:#x} overlaps another");
    }
    for pa in taken {
        frames.free(pa);
    }
    assert_eq!(frames.free_count(), start);
}

fn reuse_after_free(boot: &Boot) {
    let frames = boot.frames();
    let start = frames.free_count();
    let a = frames.alloc().expect("a frame");
    frames.free(a);
    let b = frames.alloc().expect("a frame");
    frames.free(b);
    assert_eq!(frames.free_count(), start);
}
