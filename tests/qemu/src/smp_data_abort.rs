//! An unexpected data abort on a secondary CPU must be reported like one on
//! the boot CPU and must fail the run: the xtask expects this image to fail.
#![no_std]
#![no_main]

use platform_virt::smp::run_on;
use platform_virt::Boot;

platform_virt::test_image!(read_unmapped_address_on_cpu_1,);

/// An address beyond the 48-bit VA range takes a translation fault.
fn read_unmapped_address_on_cpu_1(_: &Boot) {
    let value = run_on(1, || {
        let p = 0x00ff_dead_0000_0000u64 as *const u64;
        // SAFETY: deliberately unsound: this read must fault.
        unsafe { p.read_volatile() }
    })
    .join();
    panic!("read {value:#x} on CPU 1 from an address that does not exist");
}
