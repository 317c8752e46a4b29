//! Boot: the device tree's RAM matches QEMU's `-m` (the xtask passes the same
//! size as `ram_mib=` in the boot arguments), the image runs at EL1 whichever
//! level QEMU started it at, and the heap works.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use platform_virt::Boot;

platform_virt::test_image!(
    ram_size_matches_qemu,
    runs_at_el1,
    memory_is_fully_accounted,
    heap_allocates_and_frees,
);

fn ram_size_matches_qemu(boot: &Boot) {
    let mib: u64 = boot
        .info
        .bootarg("ram_mib")
        .and_then(|s| s.parse().ok())
        .expect("the runner passes ram_mib=<QEMU's -m>");
    assert_eq!(boot.info.ram.total(), mib << 20);
}

fn runs_at_el1(boot: &Boot) {
    use aarch64_cpu::registers::{CurrentEL, Readable};
    assert_eq!(CurrentEL.read(CurrentEL::EL), 1);
    let expected: u8 = boot.info.bootarg("entry_el").and_then(|s| s.parse().ok()).unwrap_or(1);
    assert_eq!(boot.entry_el, expected);
}

/// RAM = device tree + image + heap + frames (QEMU reserves nothing else).
fn memory_is_fully_accounted(boot: &Boot) {
    let info = &boot.info;
    let frames = boot.frames().total() as u64 * 4096;
    assert_eq!(info.reserved.total(), 0);
    assert_eq!(frames, boot.frame_ranges.total());
    assert_eq!(info.dtb.len() % 4096, 0, "QEMU's tree fills whole pages");
    assert_eq!(info.dtb.len() + boot.image.len() + boot.heap.len() + frames, info.ram.total());
}

fn heap_allocates_and_frees(_: &Boot) {
    let v: Vec<u64> = (0..100_000).collect();
    assert_eq!(v.iter().sum::<u64>(), 100_000 * 99_999 / 2);
    drop(v);
    let big: Vec<u8> = alloc::vec![0xa5; 4 << 20];
    assert!(big.iter().all(|&b| b == 0xa5));
}
