//! An unexpected data abort must be reported (syndrome decoded, addresses
//! printed) and must fail the run: the xtask expects this image to fail.
#![no_std]
#![no_main]

use platform_virt::Boot;

platform_virt::test_image!(read_beyond_physical_address_space,);

/// With the MMU off, an address above every implemented physical address
/// size takes an address size fault.
fn read_beyond_physical_address_space(_: &Boot) {
    let p = 0x00ff_dead_0000_0000u64 as *const u64;
    // SAFETY: deliberately unsound: this read must fault.
    let value = unsafe { p.read_volatile() };
    panic!("read {value:#x} from an address that does not exist");
}
