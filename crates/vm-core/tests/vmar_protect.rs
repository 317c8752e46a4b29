//! `Vmar::protect` (digest §2.13): downgrades recorded on the MMU, upgrades
//! that never hand out write access to shared pages, and every error
//! vm-core owns, with nothing changed on failure.

mod vmar_support;

use vm_core::fault::Access;
use vm_core::mock::MmuOp;
use vm_core::platform::MmuFlags;
use vm_core::vmar::VmFlags;
use vm_core::Status;
use vmar_support::*;

const CAN_RW: VmFlags = VmFlags::CAN_MAP_READ.union(VmFlags::CAN_MAP_WRITE);

#[test]
fn downgrade_to_read_only_is_recorded_and_enforced() {
    let env = Env::new();
    let vmo = env.vmo(2);
    let va = env.map(&vmo, RW);
    env.store(va, b"a");
    env.store(va + P, b"b");
    env.mmu.take_log();

    env.root.protect(opts(R), va, 2 * P, false).unwrap();
    assert_eq!(env.mmu.log(), vec![MmuOp::Protect { va, len: 2 * P, flags: MmuFlags::READ }]);
    assert_eq!(env.mmu.pte(va).unwrap().flags, MmuFlags::READ);
    assert_eq!(env.access(va, Access::Write), Err(Status::AccessDenied));
    assert_eq!(env.load(va + P, 1), b"b");
}

#[test]
fn protect_to_nothing_removes_access() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let va = env.map(&vmo, RW | VmFlags::CAN_MAP_READ);
    env.store(va, b"a");
    env.root.protect(opts(VmFlags::empty()), va, P, false).unwrap();
    assert!(env.mmu.pte(va).is_none());
    assert_eq!(env.access(va, Access::Read), Err(Status::AccessDenied));
    assert_eq!(env.access(va, Access::Write), Err(Status::AccessDenied));
    env.root.protect(opts(R), va, P, false).unwrap();
    assert_eq!(env.load(va, 1), b"a");
}

#[test]
fn protect_to_write_again_allows_writes_on_mapped_pages() {
    // Digest §4.4 ProtectToWrite: RW -> R -> RW, including a permission
    // fault on a page that is already mapped.
    let env = Env::new();
    let vmo = env.vmo(1);
    let va = env.map(&vmo, RW);
    env.store(va, b"1");
    env.root.protect(opts(R), va, P, false).unwrap();
    assert!(env.mmu.pte(va).is_some());
    env.root.protect(opts(RW), va, P, false).unwrap();
    let frame = env.mmu.pte(va).unwrap().frame;
    env.store(va, b"2");
    assert_eq!(env.mmu.pte(va).unwrap().frame, frame);
    assert_eq!(vmo_read(&vmo, 0, 1), b"2");
}

#[test]
fn upgrade_never_grants_write_to_the_zero_page() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let va = env.map(&vmo, R | VmFlags::CAN_MAP_WRITE);
    assert_eq!(env.load(va, 1), [0]);
    assert_eq!(env.mmu.pte(va).unwrap().frame, env.zero_frame());
    env.root.protect(opts(RW), va, P, false).unwrap();
    let pte = env.mmu.pte(va).unwrap();
    assert_eq!((pte.frame, pte.flags), (env.zero_frame(), MmuFlags::READ));
    // The write faults, and gets a private page.
    env.store(va, b"w");
    let pte = env.mmu.pte(va).unwrap();
    assert_ne!(pte.frame, env.zero_frame());
    assert_eq!(pte.flags, MmuFlags::READ | MmuFlags::WRITE);
    assert_eq!(vmo_read(&vmo, 0, 1), b"w");
    let mut zero = [1u8; 8];
    vm_core::platform::FrameAllocator::read(&*env.machine.frames, env.zero_frame(), 0, &mut zero);
    assert_eq!(zero, [0; 8]);
}

#[test]
fn protecting_part_of_a_mapping_splits_it() {
    let env = Env::new();
    let vmo = env.vmo(3);
    let va = env.map(&vmo, RW);
    env.root.protect(opts(R), va + P, P, false).unwrap();
    env.store(va, b"0");
    env.store(va + 2 * P, b"2");
    assert_eq!(env.access(va + P, Access::Write), Err(Status::AccessDenied));
    assert_eq!(env.load(va + P, 1), [0]);
    // Unmapping across the pieces still works.
    env.root.unmap(va, 3 * P, false).unwrap();
    assert!(env.mmu.ptes().is_empty());
    assert_eq!(env.root.fault(va + P, Access::Read), Err(Status::NotFound));
}

#[test]
fn errors_change_nothing() {
    let env = Env::new();
    let vmo = env.vmo(2);
    let spec = opts(RW | VmFlags::SPECIFIC);
    let a = env.root.map(spec, 0, &vmo, 0, 2 * P).unwrap();
    // A read-only mapping whose ceiling has no WRITE, right after a gap.
    let ro = opts(R | VmFlags::SPECIFIC);
    let b = env.root.map(ro, 3 * P, &vmo, 0, P).unwrap();
    env.store(a, b"a");
    env.load(b, 1);
    env.mmu.take_log();

    let invalid = [
        (opts(VmFlags::PERM_WRITE), a, P),
        (opts(R | VmFlags::SPECIFIC), a, P),
        (opts(R), a + 1, P),
        (opts(R), a, 0),
        (opts(R), a, P + 1),
        (opts(R), ROOT_BASE + ROOT_SIZE - P, 2 * P),
    ];
    for (options, addr, len) in invalid {
        let result = env.root.protect(options, addr, len, true);
        assert_eq!(result, Err(Status::InvalidArgs), "{options:?} {addr:#x}+{len:#x}");
    }
    // A gap anywhere in the range.
    assert_eq!(env.root.protect(opts(R), a, 4 * P, true), Err(Status::NotFound));
    assert_eq!(env.root.protect(opts(R), a + 2 * P, P, true), Err(Status::NotFound));
    // Beyond the ceiling of the second mapping: the first is left alone.
    let adjacent = env.root.map(opts(R | VmFlags::SPECIFIC), 2 * P, &vmo, 0, P).unwrap();
    assert_eq!(env.root.protect(opts(RW), a, 3 * P, true), Err(Status::AccessDenied));
    assert_eq!(env.root.protect(opts(RW), b, P, true), Err(Status::AccessDenied));
    assert!(env.mmu.log().is_empty());
    let pte = env.mmu.pte(a).unwrap();
    assert_eq!(pte.flags, MmuFlags::READ | MmuFlags::WRITE);
    env.store(a + P, b"still writable");
    assert_eq!(env.access(adjacent, Access::Write), Err(Status::AccessDenied));
}

#[test]
fn sub_regions_need_op_children() {
    let env = Env::new();
    let sub = env
        .root
        .allocate(opts(CAN_RW | VmFlags::CAN_MAP_SPECIFIC | VmFlags::SPECIFIC), 8 * P, 2 * P)
        .unwrap();
    let vmo = env.vmo(2);
    let spec = opts(RW | VmFlags::SPECIFIC);
    let outer = env.root.map(spec, 6 * P, &vmo, 0, 2 * P).unwrap();
    let inner = sub.map(spec, 0, &vmo, 0, 2 * P).unwrap();
    assert_eq!(inner, outer + 2 * P);
    assert_eq!(env.root.protect(opts(R), outer, 4 * P, false), Err(Status::InvalidArgs));
    env.root.protect(opts(R), outer, 4 * P, true).unwrap();
    assert_eq!(env.access(inner + P, Access::Write), Err(Status::AccessDenied));
    assert_eq!(env.access(outer, Access::Write), Err(Status::AccessDenied));
    // A sub-region whose mappings cannot execute refuses EXECUTE.
    let rx = opts(R | VmFlags::PERM_EXECUTE);
    assert_eq!(env.root.protect(rx, inner, P, true), Err(Status::AccessDenied));
    sub.destroy().unwrap();
    assert_eq!(sub.protect(opts(R), inner, P, true), Err(Status::BadState));
}
