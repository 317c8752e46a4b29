//! Fatal page faults as values (`platform_virt::fault::catch`): a store to a
//! read-only zx mapping gives ACCESS_DENIED, a load beyond a shrunk VMO's
//! end OUT_OF_RANGE, each with the address, the access and the VMO, and the
//! image goes on; on the boot CPU and on a secondary one; catchers nest and
//! re-arm.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use platform_virt::fault::{catch, FatalFault};
use platform_virt::process::Process;
use platform_virt::smp::run_on;
use platform_virt::vm::AddressSpace;
use platform_virt::Boot;
use qemu_tests::access::{caught_load, caught_store, load, store};
use zx::options::*;
use zx::{Access, Status};

platform_virt::test_image!(
    a_store_to_a_read_only_mapping_is_access_denied,
    a_load_beyond_a_shrunk_vmo_is_out_of_range,
    both_are_caught_on_a_secondary_cpu,
    catchers_nest_and_rearm,
    every_frame_comes_back,
);

const P: u64 = 4096;
const R: u32 = ZX_VM_PERM_READ;
const RW: u32 = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE;

/// Two read-only mappings of one VMO and one of another: the faults name
/// the VMO behind each address, and the CPU goes on after each.
fn store_to_read_only(p: &Process) {
    let zx = &p.zx;
    let (vmo, other) = (zx.vmo_create(2 * P, 0).unwrap(), zx.vmo_create(P, 0).unwrap());
    zx.vmo_write(vmo, &7u64.to_le_bytes(), P + 8).unwrap();
    let va = zx.vmar_map(zx.root_vmar(), R, 0, vmo, 0, 2 * P).unwrap();
    let again = zx.vmar_map(zx.root_vmar(), R, 0, vmo, 0, 2 * P).unwrap();
    let elsewhere = zx.vmar_map(zx.root_vmar(), R, 0, other, 0, P).unwrap();
    let fault = caught_store(va + P + 8, 1).expect_err("a store through a read-only mapping");
    assert_eq!(
        (fault.address, fault.access, fault.status),
        (va + P + 8, Access::Write, Status::AccessDenied)
    );
    let koid = fault.vmo.expect("the fault names the VMO").koid;
    assert_eq!(fault.vmo.unwrap().offset, P + 8);
    let fault = caught_store(again + 16, 1).expect_err("the same through the second mapping");
    assert_eq!(fault.vmo.map(|v| (v.koid, v.offset)), Some((koid, 16)), "the same VMO");
    let fault = caught_store(elsewhere, 1).expect_err("and through the other VMO's");
    assert_ne!(fault.vmo.map(|v| v.koid), Some(koid), "another VMO");
    // The image goes on: loads there work, and stores elsewhere.
    assert_eq!(load(va + P + 8), 7);
    let writable = zx.vmar_map(zx.root_vmar(), RW, 0, vmo, 0, 2 * P).unwrap();
    store(writable + P + 8, 9);
    assert_eq!(load(va + P + 8), 9);
}

/// A resizable VMO mapped whole, then shrunk under the mapping.
fn load_beyond_shrunk(p: &Process) {
    let zx = &p.zx;
    let vmo = zx.vmo_create(4 * P, ZX_VMO_RESIZABLE).unwrap();
    zx.vmo_write(vmo, &5u64.to_le_bytes(), 3 * P).unwrap();
    zx.vmo_write(vmo, &6u64.to_le_bytes(), P).unwrap();
    let va = zx.vmar_map(zx.root_vmar(), R, 0, vmo, 0, 4 * P).unwrap();
    assert_eq!(caught_load(va + 3 * P), Ok(5));
    zx.vmo_set_size(vmo, 2 * P).unwrap();
    let fault = caught_load(va + 3 * P + 24).expect_err("a load beyond the VMO's end");
    assert_eq!(
        (fault.address, fault.access, fault.status),
        (va + 3 * P + 24, Access::Read, Status::OutOfRange)
    );
    assert_eq!(fault.vmo.map(|v| v.offset), Some(3 * P + 24));
    assert_eq!(load(va + P), 6, "the pages below the end are still there");
}

/// Runs `scenario` in a new process entered on `cpu`.
fn in_process_on(cpu: usize, scenario: fn(&Process)) {
    let p = Arc::new(Process::new().unwrap());
    let q = p.clone();
    run_on(cpu, move || {
        q.enter();
        scenario(&q);
        AddressSpace::leave();
    })
    .join();
}

fn a_store_to_a_read_only_mapping_is_access_denied(_: &Boot) {
    in_process_on(0, store_to_read_only);
}

fn a_load_beyond_a_shrunk_vmo_is_out_of_range(_: &Boot) {
    in_process_on(0, load_beyond_shrunk);
}

fn both_are_caught_on_a_secondary_cpu(_: &Boot) {
    in_process_on(1, store_to_read_only);
    in_process_on(2, load_beyond_shrunk);
}

fn catchers_nest_and_rearm(_: &Boot) {
    in_process_on(0, |p| {
        let zx = &p.zx;
        let vmo = zx.vmo_create(P, 0).unwrap();
        let va = zx.vmar_map(zx.root_vmar(), R, 0, vmo, 0, P).unwrap();
        // SAFETY: the closures hold nothing but the inner result.
        let outer = unsafe {
            catch(|| {
                let inner = caught_store(va, 1);
                assert_eq!(inner.map_err(|f| f.status), Err(Status::AccessDenied));
                // The outer catcher is armed again: this one is its.
                store(va + 8, 2);
                unreachable!("the store faulted");
            })
        };
        let fault: FatalFault = outer.expect_err("the outer catcher caught the second store");
        assert_eq!((fault.address, fault.status), (va + 8, Status::AccessDenied));
        // Without a fault the closure's value comes back; catching again
        // and again works.
        assert_eq!(caught_load(va), Ok(0));
        for i in 0..3 {
            assert_eq!(caught_store(va + 8 * i, i).map_err(|f| f.address), Err(va + 8 * i));
        }
    });
}

fn every_frame_comes_back(boot: &Boot) {
    let free = boot.frames().free_count();
    in_process_on(0, store_to_read_only);
    in_process_on(1, load_beyond_shrunk);
    assert_eq!(boot.frames().free_count(), free);
}
