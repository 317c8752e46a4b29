//! `Vmar::fault` (digest §2.12 "Fault behaviour", §4.4, §6.5): statuses,
//! the zero page, write faults, and what ends up in the MMU.

mod vmar_support;

use vm_core::fault::Access;
use vm_core::mock::MmuOp;
use vm_core::platform::MmuFlags;
use vm_core::vmar::VmFlags;
use vm_core::Status;
use vmar_support::*;

#[test]
fn no_mapping_is_not_found() {
    let env = Env::new();
    assert_eq!(env.root.fault(ROOT_BASE, Access::Read), Err(Status::NotFound));
    assert_eq!(env.root.fault(ROOT_BASE - P, Access::Read), Err(Status::NotFound));
    assert_eq!(env.root.fault(u64::MAX, Access::Write), Err(Status::NotFound));
    let sub = env.root.allocate(opts(VmFlags::CAN_MAP_READ), 0, 4 * P).unwrap();
    assert_eq!(env.root.fault(sub.base(), Access::Read), Err(Status::NotFound));
    assert!(env.mmu.log().is_empty());
}

#[test]
fn permission_violations_are_access_denied() {
    // Digest §4.4 ReadOnlyMap / NoPermMap.
    let env = Env::new();
    let vmo = env.vmo(1);
    let ro = env.map(&vmo, R);
    assert_eq!(env.root.fault(ro, Access::Write), Err(Status::AccessDenied));
    assert_eq!(env.root.fault(ro, Access::Execute), Err(Status::AccessDenied));
    let none = env.map(&vmo, VmFlags::empty());
    assert_eq!(env.root.fault(none, Access::Read), Err(Status::AccessDenied));
    assert!(env.mmu.log().is_empty());
    assert_eq!(env.machine.used_frames(), 0);
    let rx = env.map(&vmo, R | VmFlags::PERM_EXECUTE);
    env.root.fault(rx, Access::Execute).unwrap();
    assert_eq!(env.mmu.pte(rx).unwrap().flags, MmuFlags::READ | MmuFlags::EXECUTE);
}

#[test]
fn beyond_the_vmo_is_out_of_range() {
    // Digest §4.4 MappedVmoSmallerThanMapping.
    let env = Env::new();
    let vmo = env.vmo(1);
    let va = env.root.map(opts(RW), 0, &vmo, 0, 3 * P).unwrap();
    env.store(va, b"ok");
    assert_eq!(env.root.fault(va + P, Access::Read), Err(Status::OutOfRange));
    assert_eq!(env.root.fault(va + 2 * P + 5, Access::Write), Err(Status::OutOfRange));
    let off = env.root.map(opts(R), 0, &vmo, 4 * P, P).unwrap();
    assert_eq!(env.root.fault(off, Access::Read), Err(Status::OutOfRange));
}

#[test]
fn read_maps_the_zero_page_and_write_replaces_it() {
    let env = Env::new();
    let vmo = env.vmo(2);
    let va = env.map(&vmo, RW);
    assert_eq!(env.load(va + 100, 4), [0; 4]);
    assert_eq!(env.mmu.log(), vec![MmuOp::Map { va, frame: env.zero_frame(), flags: MmuFlags::READ }]);
    assert_eq!(env.machine.used_frames(), 0);
    env.mmu.take_log();

    env.store(va + 100, b"data");
    let pte = env.mmu.pte(va).unwrap();
    assert_ne!(pte.frame, env.zero_frame());
    assert_eq!(pte.flags, MmuFlags::READ | MmuFlags::WRITE);
    assert!(pte.dirty && pte.accessed);
    assert!(env.mmu.log().contains(&MmuOp::Map {
        va,
        frame: pte.frame,
        flags: MmuFlags::READ | MmuFlags::WRITE
    }));
    assert_eq!(env.machine.used_frames(), 1);
    assert_eq!(vmo_read(&vmo, 100, 4), b"data");
    assert_eq!(env.frame_bytes(va + 100, 4), b"data");
    // A page the VMO already has is mapped writable on a read fault.
    vmo.write(P, b"x").unwrap();
    assert_eq!(env.load(va + P, 1), b"x");
    assert_eq!(env.mmu.pte(va + P).unwrap().flags, MmuFlags::READ | MmuFlags::WRITE);
}

#[test]
fn zero_page_write_through_another_mapping_becomes_visible() {
    // Digest §4.4 ZeroPage: the zero-page translation of the first mapping
    // must be replaced when another mapping writes the page.
    let env = Env::new();
    let vmo = env.vmo(1);
    let a = env.map(&vmo, RW);
    let b = env.map(&vmo, RW);
    assert_eq!(env.load(a, 1), [0]);
    assert_eq!(env.mmu.pte(a).unwrap().frame, env.zero_frame());
    env.store(b, b"B");
    assert_eq!(env.load(a, 1), b"B");
    assert_eq!(env.mmu.pte(a).unwrap().frame, env.mmu.pte(b).unwrap().frame);
    // And through vmo_write too.
    let c = env.map(&vmo, R);
    assert_eq!(env.load(c, 1), b"B");
}

#[test]
fn faults_descend_into_sub_regions_and_use_the_mapping_offset() {
    let env = Env::new();
    let can = VmFlags::CAN_MAP_READ | VmFlags::CAN_MAP_WRITE;
    let sub = env.root.allocate(opts(can), 0, 16 * P).unwrap();
    let nested = sub.allocate(opts(can), 0, 8 * P).unwrap();
    let vmo = env.vmo(4);
    vmo.write(2 * P, b"page two").unwrap();
    let va = nested.map(opts(RW), 0, &vmo, 2 * P, 2 * P).unwrap();
    assert_eq!(env.load(va, 8), b"page two");
    // A fault resolved through the sub-region's own handle.
    nested.fault(va + P, Access::Write).unwrap();
    assert!(env.mmu.pte(va + P).is_some());
    // Not through a sibling region that does not contain it.
    let other = env.root.allocate(opts(can), 0, 4 * P).unwrap();
    assert_eq!(other.fault(va, Access::Read), Err(Status::NotFound));
}
