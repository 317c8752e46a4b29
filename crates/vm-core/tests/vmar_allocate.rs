//! `Vmar::allocate` and `Vmar::destroy`: sub-regions, their `CAN_MAP_*`
//! permissions, placement and every error vm-core owns.

mod vmar_support;

use vm_core::fault::Access;
use vm_core::mock::MmuOp;
use vm_core::vmar::{VmFlags, VmOptions};
use vm_core::Status;
use vmar_support::*;

const CAN_RW: VmFlags = VmFlags::CAN_MAP_READ.union(VmFlags::CAN_MAP_WRITE);

#[test]
fn allocate_anywhere_specific_and_aligned() {
    let env = Env::new();
    let a = env.root.allocate(opts(CAN_RW), 0, 16 * P).unwrap();
    assert_eq!(a.size(), 16 * P);
    assert_eq!(a.flags(), CAN_RW);
    let b = env.root.allocate(opts(CAN_RW | VmFlags::SPECIFIC), 64 * P, 4 * P).unwrap();
    assert_eq!(b.base(), ROOT_BASE + 64 * P);
    let aligned = VmOptions::from_raw(CAN_RW.bits() | (21 << 24)).unwrap();
    let c = env.root.allocate(aligned, 0, P).unwrap();
    assert_eq!(c.base() % (1 << 21), 0);
    let ranges = [(a.base(), a.size()), (b.base(), b.size()), (c.base(), c.size())];
    for (i, &(x, xs)) in ranges.iter().enumerate() {
        for &(y, ys) in &ranges[i + 1..] {
            assert!(x + xs <= y || y + ys <= x, "overlap");
        }
    }
    // A nested region inside a sub-region.
    let nested = a.allocate(opts(VmFlags::CAN_MAP_READ), 0, 4 * P).unwrap();
    assert!(nested.base() >= a.base() && nested.base() + 4 * P <= a.base() + a.size());
}

#[test]
fn can_map_bits_must_be_a_subset_of_the_parent() {
    let env = Env::new();
    let ro = env.root.allocate(opts(VmFlags::CAN_MAP_READ), 0, 16 * P).unwrap();
    assert_eq!(ro.allocate(opts(CAN_RW), 0, P).err(), Some(Status::AccessDenied));
    let exec = opts(VmFlags::CAN_MAP_EXECUTE);
    assert_eq!(ro.allocate(exec, 0, P).err(), Some(Status::AccessDenied));
    // SPECIFIC needs the parent's CAN_MAP_SPECIFIC.
    let specific = opts(VmFlags::CAN_MAP_READ | VmFlags::SPECIFIC);
    assert_eq!(ro.allocate(specific, 0, P).err(), Some(Status::AccessDenied));
    // A region without CAN_MAP_WRITE refuses writable mappings.
    let vmo = env.vmo(1);
    assert_eq!(ro.map(opts(RW), 0, &vmo, 0, P), Err(Status::AccessDenied));
}

#[test]
fn invalid_args() {
    let env = Env::new();
    let spec = |f: VmFlags| opts(f | VmFlags::SPECIFIC);
    let cases = [
        // Map-only options.
        (opts(VmFlags::PERM_READ), 0, P),
        (opts(VmFlags::MAP_RANGE), 0, P),
        (opts(VmFlags::SPECIFIC_OVERWRITE), 0, P),
        // Size 0 or not page-aligned.
        (opts(CAN_RW), 0, 0),
        (opts(CAN_RW), 0, P - 1),
        // An offset without SPECIFIC.
        (opts(CAN_RW), P, P),
        // Specific: misaligned, outside, straddling the end.
        (spec(CAN_RW), 1, P),
        (spec(CAN_RW), ROOT_SIZE, P),
        (spec(CAN_RW), ROOT_SIZE - P, 2 * P),
        (spec(CAN_RW), u64::MAX - P + 1, P),
    ];
    for (options, offset, size) in cases {
        let result = env.root.allocate(options, offset, size);
        assert_eq!(result.err(), Some(Status::InvalidArgs), "{options:?} {offset:#x} {size:#x}");
    }
}

#[test]
fn overlap_is_already_exists_and_full_is_no_resources() {
    let env = Env::new();
    let spec = opts(CAN_RW | VmFlags::SPECIFIC);
    env.root.allocate(spec, 8 * P, 8 * P).unwrap();
    assert_eq!(env.root.allocate(spec, 12 * P, 8 * P).err(), Some(Status::AlreadyExists));
    assert_eq!(env.root.allocate(spec, 4 * P, 8 * P).err(), Some(Status::AlreadyExists));
    let vmo = env.vmo(1);
    env.root.map(opts(R | VmFlags::SPECIFIC), 20 * P, &vmo, 0, P).unwrap();
    assert_eq!(env.root.allocate(spec, 20 * P, P).err(), Some(Status::AlreadyExists));

    let small = env.root.allocate(opts(CAN_RW), 0, 4 * P).unwrap();
    small.allocate(opts(CAN_RW), 0, 3 * P).unwrap();
    assert_eq!(small.allocate(opts(CAN_RW), 0, 2 * P).err(), Some(Status::NoResources));
    small.allocate(opts(CAN_RW), 0, P).unwrap();
}

#[test]
fn destroy_unmaps_everything_below_and_kills_handles() {
    let env = Env::new();
    let vmo = env.vmo(2);
    let sub = env.root.allocate(opts(CAN_RW), 0, 64 * P).unwrap();
    let nested = sub.allocate(opts(CAN_RW), 0, 16 * P).unwrap();
    let va1 = sub.map(opts(RW), 0, &vmo, 0, 2 * P).unwrap();
    let va2 = nested.map(opts(RW), 0, &vmo, 0, 2 * P).unwrap();
    env.store(va1, b"1");
    env.store(va2 + P, b"2");
    env.mmu.take_log();

    sub.destroy().unwrap();
    let log = env.mmu.log();
    assert!(log.contains(&MmuOp::Unmap { va: va1, len: 2 * P }), "{log:?}");
    assert!(log.contains(&MmuOp::Unmap { va: va2, len: 2 * P }), "{log:?}");
    assert!(env.mmu.ptes().is_empty());
    assert!(!sub.is_alive() && !nested.is_alive());
    assert_eq!(sub.destroy(), Err(Status::BadState));
    assert_eq!(nested.allocate(opts(CAN_RW), 0, P).err(), Some(Status::BadState));
    assert_eq!(env.root.fault(va2, Access::Read), Err(Status::NotFound));
    // The VMO keeps its contents; the space is free again.
    assert_eq!(vmo_read(&vmo, 0, 1), b"1");
    assert_eq!(vmo_read(&vmo, P, 1), b"2");
    let spec = opts(CAN_RW | VmFlags::SPECIFIC);
    env.root.allocate(spec, sub.base() - ROOT_BASE, 64 * P).unwrap();
}

#[test]
fn destroying_the_root_unmaps_everything() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let va = env.map(&vmo, RW);
    env.store(va, b"x");
    env.root.destroy().unwrap();
    assert!(env.mmu.ptes().is_empty());
    assert_eq!(env.root.fault(va, Access::Read), Err(Status::NotFound));
    assert_eq!(env.root.map(opts(R), 0, &vmo, 0, P), Err(Status::BadState));
}

#[test]
fn dropping_the_last_handle_tears_the_address_space_down() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let va = env.map(&vmo, RW);
    env.store(va, b"x");
    let Env { root, mmu, machine } = env;
    drop(root);
    assert!(mmu.ptes().is_empty());
    drop(vmo);
    machine.assert_no_frames_used();
}
