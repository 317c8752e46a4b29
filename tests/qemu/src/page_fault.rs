//! An unresolvable fault — a store through a read-only mapping — must be
//! reported once as a fatal page fault naming the address, the access and
//! the VMO, and fail the run: the xtask expects this image to fail.
#![no_std]
#![no_main]

use platform_virt::vm::{context, Space};
use platform_virt::Boot;
use vm_core::vmar::VmFlags;
use vm_core::vmo::{Vmo, VmoOptions};

platform_virt::test_image!(store_to_read_only_mapping,);

fn store_to_read_only_mapping(_: &Boot) {
    let ctx = context().unwrap();
    let space = Space::new(&ctx).unwrap();
    space.activate();
    let vmo = Vmo::create(&ctx, 2 * 4096, VmoOptions::empty()).unwrap();
    let va = space.root.map(VmFlags::PERM_READ.into(), 0, &vmo, 0, 2 * 4096).unwrap();
    platform_virt::println!("storing to {:#x}, VMO {}", va + 4096 + 8, vmo.koid());
    // SAFETY: deliberately wrong: the mapping is read-only, so this store
    // must end the run with a fatal page fault.
    unsafe { ((va + 4096 + 8) as *mut u64).write_volatile(1) };
    panic!("a store through a read-only mapping succeeded");
}
