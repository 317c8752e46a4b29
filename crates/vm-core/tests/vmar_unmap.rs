//! `Vmar::unmap` (digest §2.13): splitting mappings, destroying covered
//! sub-regions, and every error vm-core owns.

mod vmar_support;

use vm_core::fault::Access;
use vm_core::mock::MmuOp;
use vm_core::vmar::VmFlags;
use vm_core::Status;
use vmar_support::*;

/// A 6-page RW mapping at ROOT_BASE + 8P with page i holding `i`.
fn six_pages(env: &Env) -> (std::sync::Arc<vm_core::vmo::Vmo>, u64) {
    let vmo = env.vmo(6);
    let va = env.root.map(opts(RW | VmFlags::SPECIFIC), 8 * P, &vmo, 0, 6 * P).unwrap();
    for page in 0..6 {
        env.store(va + page * P, &[page as u8]);
    }
    env.mmu.take_log();
    (vmo, va)
}

#[test]
fn unmapping_the_middle_splits_the_mapping() {
    let env = Env::new();
    let (vmo, va) = six_pages(&env);
    env.root.unmap(va + 2 * P, 2 * P, false).unwrap();
    assert_eq!(env.mmu.log(), vec![MmuOp::Unmap { va: va + 2 * P, len: 2 * P }]);
    for page in [2, 3] {
        assert_eq!(env.access(va + page * P, Access::Read), Err(Status::NotFound));
    }
    // Both remaining pieces still show their pages of the VMO, and faults
    // in them still work after their translations are dropped.
    env.root.unmap(va + 5 * P, P, false).unwrap();
    for page in [0, 1, 4] {
        assert_eq!(env.load(va + page * P, 1), [page as u8]);
    }
    vmo.decommit(0, 6 * P).unwrap();
    env.store(va + 4 * P, b"w");
    assert_eq!(vmo_read(&vmo, 4 * P, 1), b"w");
    // The freed space can be mapped again.
    let spec = opts(R | VmFlags::SPECIFIC);
    assert_eq!(env.root.map(spec, 10 * P, &vmo, 0, 2 * P), Ok(va + 2 * P));
}

#[test]
fn unmap_across_mappings_and_gaps() {
    let env = Env::new();
    let vmo = env.vmo(2);
    let spec = opts(RW | VmFlags::SPECIFIC);
    let a = env.root.map(spec, 0, &vmo, 0, 2 * P).unwrap();
    let b = env.root.map(spec, 4 * P, &vmo, 0, 2 * P).unwrap();
    env.store(a, b"a");
    env.store(b + P, b"b");
    env.root.unmap(a + P, 4 * P, false).unwrap();
    assert_eq!(env.load(a, 1), b"a");
    assert_eq!(env.root.fault(a + P, Access::Read), Err(Status::NotFound));
    assert_eq!(env.root.fault(b, Access::Read), Err(Status::NotFound));
    assert_eq!(env.load(b + P, 1), b"b");
    // Nothing left there.
    assert_eq!(env.root.unmap(a + P, 4 * P, false), Err(Status::NotFound));
}

#[test]
fn invalid_args_and_not_found_change_nothing() {
    let env = Env::new();
    let (_vmo, va) = six_pages(&env);
    let invalid = [
        (va + 1, P),
        (va, 0),
        (va, P + 1),
        (ROOT_BASE - P, 2 * P),
        (ROOT_BASE + ROOT_SIZE - P, 2 * P),
        (u64::MAX - P + 1, P),
    ];
    for (addr, len) in invalid {
        assert_eq!(env.root.unmap(addr, len, true), Err(Status::InvalidArgs), "{addr:#x}+{len:#x}");
    }
    assert_eq!(env.root.unmap(ROOT_BASE + 64 * P, P, true), Err(Status::NotFound));
    assert!(env.mmu.log().is_empty());
    assert_eq!(env.mmu.ptes().len(), 6);
}

#[test]
fn sub_regions_are_destroyed_only_when_wholly_covered_and_allowed() {
    let env = Env::new();
    let (_vmo, va) = six_pages(&env);
    let spec = opts(VmFlags::CAN_MAP_READ | VmFlags::CAN_MAP_WRITE | VmFlags::SPECIFIC);
    let sub = env.root.allocate(spec, 16 * P, 4 * P).unwrap();
    let inner_vmo = env.vmo(1);
    let inner = sub.map(opts(RW), 0, &inner_vmo, 0, P).unwrap();
    env.store(inner, b"i");
    env.mmu.take_log();

    // Partly covered: refused even with OP_CHILDREN; the mapping before it is
    // untouched.
    assert_eq!(env.root.unmap(va, 10 * P, true), Err(Status::InvalidArgs));
    // Wholly covered but no OP_CHILDREN: refused.
    assert_eq!(env.root.unmap(va, 12 * P, false), Err(Status::InvalidArgs));
    assert!(env.mmu.log().is_empty());
    assert!(sub.is_alive());

    env.root.unmap(va, 12 * P, true).unwrap();
    assert!(!sub.is_alive());
    assert!(env.mmu.ptes().is_empty());
    assert_eq!(env.root.fault(inner, Access::Read), Err(Status::NotFound));
    assert_eq!(sub.map(opts(R), 0, &inner_vmo, 0, P), Err(Status::BadState));
}

#[test]
fn unmap_inside_a_sub_region_through_its_handle() {
    let env = Env::new();
    let sub = env.root.allocate(opts(VmFlags::CAN_MAP_READ | VmFlags::CAN_MAP_WRITE), 0, 8 * P).unwrap();
    let vmo = env.vmo(2);
    let va = sub.map(opts(RW), 0, &vmo, 0, 2 * P).unwrap();
    env.store(va, b"x");
    // Outside the sub-region: INVALID_ARGS.
    assert_eq!(sub.unmap(sub.base() + 8 * P, P, false), Err(Status::InvalidArgs));
    sub.unmap(va, 2 * P, false).unwrap();
    assert_eq!(env.root.fault(va, Access::Read), Err(Status::NotFound));
    sub.destroy().unwrap();
    assert_eq!(sub.unmap(va, P, false), Err(Status::BadState));
}
