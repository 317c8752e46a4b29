//! An unresolvable fault outside any catcher — a store through a read-only
//! zx mapping — must be reported once as a fatal page fault naming the
//! address, the access and the VMO, and fail the run: the xtask expects
//! this image to fail.
#![no_std]
#![no_main]

use platform_virt::process::Process;
use platform_virt::Boot;
use zx::options::ZX_VM_PERM_READ;

platform_virt::test_image!(store_to_read_only_mapping,);

fn store_to_read_only_mapping(_: &Boot) {
    let p = Process::new().unwrap();
    p.enter();
    let vmo = p.zx.vmo_create(2 * 4096, 0).unwrap();
    let va = p.zx.vmar_map(p.zx.root_vmar(), ZX_VM_PERM_READ, 0, vmo, 0, 2 * 4096).unwrap();
    platform_virt::println!("storing to {:#x}", va + 4096 + 8);
    // SAFETY: deliberately wrong: the mapping is read-only, so this store
    // must end the run with a fatal page fault.
    unsafe { ((va + 4096 + 8) as *mut u64).write_volatile(1) };
    panic!("a store through a read-only mapping succeeded");
}
