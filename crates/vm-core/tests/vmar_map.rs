//! `Vmar::map` (digest §2.12): placement, permissions, every error vm-core
//! owns, SPECIFIC_OVERWRITE and MAP_RANGE.

mod vmar_support;

use vm_core::fault::Access;
use vm_core::mock::MmuOp;
use vm_core::platform::MmuFlags;
use vm_core::vmar::{VmFlags, VmOptions};
use vm_core::vmo::{Vmo, VmoOptions};
use vm_core::Status;
use vmar_support::*;

#[test]
fn map_then_fault_writes_reach_the_vmo_and_the_frame() {
    let env = Env::new();
    let vmo = env.vmo(4);
    let va = env.map(&vmo, RW);
    assert!(va >= ROOT_BASE && va + 4 * P <= ROOT_BASE + ROOT_SIZE);
    assert_eq!(va % P, 0);

    env.store(va + P + 10, b"hello");
    assert_eq!(vmo_read(&vmo, P + 10, 5), b"hello");
    assert_eq!(env.frame_bytes(va + P + 10, 5), b"hello");
    assert_eq!(env.load(va + P + 10, 5), b"hello");
    // A store across a page boundary lands in both pages.
    env.store(va + 3 * P - 2, b"abcd");
    assert_eq!(vmo_read(&vmo, 3 * P - 2, 4), b"abcd");
    vmo.write(2 * P + 100, b"xyz").unwrap();
    assert_eq!(env.load(va + 2 * P + 100, 3), b"xyz");
}

#[test]
fn mappings_placed_anywhere_do_not_overlap_and_honour_alignment() {
    let env = Env::new();
    let vmo = env.vmo(3);
    let a = env.map(&vmo, R);
    let b = env.map(&vmo, R);
    assert!(a + 3 * P <= b || b + 3 * P <= a);
    let align_1m = VmOptions::from_raw(R.bits() | (20 << 24)).unwrap();
    let c = env.root.map(align_1m, 0, &vmo, 0, P).unwrap();
    assert_eq!(c % (1 << 20), 0);
    for other in [a, b] {
        assert!(c + P <= other || other + 3 * P <= c);
    }
}

#[test]
fn placement_skips_gaps_that_are_too_small() {
    let env = Env::new();
    let vmo = env.vmo(2);
    let spec = opts(R | VmFlags::SPECIFIC);
    env.root.map(spec, 0, &vmo, 0, P).unwrap();
    env.root.map(spec, 2 * P, &vmo, 0, P).unwrap();
    assert_eq!(env.root.map(opts(R), 0, &vmo, 0, 2 * P), Ok(ROOT_BASE + 3 * P));
    assert_eq!(env.root.map(opts(R), 0, &vmo, 0, P), Ok(ROOT_BASE + P));
}

#[test]
fn specific_and_upper_limit_placement() {
    let env = Env::new();
    let vmo = env.vmo(2);
    let specific = opts(R | VmFlags::SPECIFIC);
    assert_eq!(env.root.map(specific, 5 * P, &vmo, 0, 2 * P), Ok(ROOT_BASE + 5 * P));
    let upper = opts(R | VmFlags::OFFSET_IS_UPPER_LIMIT);
    let va = env.root.map(upper, 16 * P, &vmo, 0, 2 * P).unwrap();
    assert!(va + 2 * P <= ROOT_BASE + 16 * P);
    assert!(va + 2 * P <= ROOT_BASE + 5 * P || va >= ROOT_BASE + 7 * P);
    // No room below the limit any more for 8 pages.
    let big = Vmo::create(&env.machine.ctx, 8 * P, VmoOptions::empty()).unwrap();
    assert_eq!(env.root.map(upper, 8 * P, &big, 0, 8 * P), Err(Status::NoResources));
    assert_eq!(env.root.map(upper, P, &big, 0, 8 * P), Err(Status::InvalidArgs));
}

/// Every failure leaves the address space as it was: no translation, no
/// mapping at the address a specific map asked for.
fn assert_untouched(env: &Env, va: u64) {
    assert!(env.mmu.log().is_empty(), "{:?}", env.mmu.log());
    assert_eq!(env.root.fault(va, Access::Read), Err(Status::NotFound));
}

#[test]
fn invalid_args() {
    let env = Env::new();
    let vmo = env.vmo(4);
    let spec = |f: VmFlags| opts(f | VmFlags::SPECIFIC);
    let cases: Vec<(VmOptions, u64, u64, u64)> = vec![
        // WRITE without READ.
        (opts(VmFlags::PERM_WRITE), 0, 0, P),
        // MAP_RANGE with SPECIFIC_OVERWRITE.
        (opts(R | VmFlags::SPECIFIC_OVERWRITE | VmFlags::MAP_RANGE), 0, 0, P),
        // Allocation-only options.
        (opts(R | VmFlags::COMPACT), 0, 0, P),
        (opts(R | VmFlags::CAN_MAP_SPECIFIC), 0, 0, P),
        // len 0 and misaligned.
        (opts(R), 0, 0, 0),
        (opts(R), 0, 0, P + 1),
        // Misaligned vmo_offset.
        (opts(R), 0, 12, P),
        // A VMAR offset without SPECIFIC.
        (opts(R), P, 0, P),
        // SPECIFIC with OFFSET_IS_UPPER_LIMIT.
        (opts(R | VmFlags::SPECIFIC | VmFlags::OFFSET_IS_UPPER_LIMIT), P, 0, P),
        // SPECIFIC misaligned, at UINTPTR_MAX, past the end, straddling it.
        (spec(R), 100, 0, P),
        (spec(R), u64::MAX, 0, P),
        (spec(R), ROOT_SIZE, 0, P),
        (spec(R), ROOT_SIZE - P, 0, 2 * P),
        // SPECIFIC not at the requested alignment.
        (VmOptions::from_raw((R | VmFlags::SPECIFIC).bits() | (16 << 24)).unwrap(), P, 0, P),
    ];
    for (options, vmar_offset, vmo_offset, len) in cases {
        let result = env.root.map(options, vmar_offset, &vmo, vmo_offset, len);
        assert_eq!(result, Err(Status::InvalidArgs), "{options:?} {vmar_offset:#x} {len:#x}");
    }
    assert_eq!(VmOptions::from_raw(1 << 20), Err(Status::InvalidArgs));
    assert_untouched(&env, ROOT_BASE + P);
}

#[test]
fn access_denied_beyond_can_map() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let sub = env.root.allocate(opts(VmFlags::CAN_MAP_READ), 0, 16 * P).unwrap();
    assert_eq!(sub.map(opts(RW), 0, &vmo, 0, P), Err(Status::AccessDenied));
    assert_eq!(sub.map(opts(R | VmFlags::PERM_EXECUTE), 0, &vmo, 0, P), Err(Status::AccessDenied));
    // No CAN_MAP_SPECIFIC: SPECIFIC, SPECIFIC_OVERWRITE and
    // OFFSET_IS_UPPER_LIMIT are refused.
    for f in [VmFlags::SPECIFIC, VmFlags::SPECIFIC_OVERWRITE, VmFlags::OFFSET_IS_UPPER_LIMIT] {
        assert_eq!(sub.map(opts(R | f), 0, &vmo, 0, P), Err(Status::AccessDenied));
    }
    let va = sub.map(opts(R), 0, &vmo, 0, P).unwrap();
    assert!(va >= sub.base() && va < sub.base() + sub.size());
}

#[test]
fn out_of_range_when_vmo_offset_plus_len_overflows() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let offset = u64::MAX - P + 1;
    assert_eq!(env.root.map(opts(R), 0, &vmo, offset, 2 * P), Err(Status::OutOfRange));
    // Precedence: a misaligned len is INVALID_ARGS first.
    assert_eq!(env.root.map(opts(R), 0, &vmo, offset, 2 * P - 1), Err(Status::InvalidArgs));
    // A mapping past the VMO's end is allowed (digest §2.12, ALLOW_FAULTS).
    assert!(env.root.map(opts(R), 0, &vmo, 0, 4 * P).is_ok());
}

#[test]
fn not_supported_for_resizable_and_discardable_vmos() {
    let env = Env::new();
    let ctx = &env.machine.ctx;
    let resizable = Vmo::create(ctx, P, VmoOptions::RESIZABLE).unwrap();
    let require = opts(R | VmFlags::REQUIRE_NON_RESIZABLE);
    assert_eq!(env.root.map(require, 0, &resizable, 0, P), Err(Status::NotSupported));
    assert!(env.root.map(opts(R), 0, &resizable, 0, P).is_ok());

    let discardable = Vmo::create(ctx, P, VmoOptions::DISCARDABLE).unwrap();
    assert_eq!(env.root.map(opts(R), 0, &discardable, 0, P), Err(Status::NotSupported));
    let faults = opts(R | VmFlags::ALLOW_FAULTS);
    assert!(env.root.map(faults, 0, &discardable, 0, P).is_ok());
}

#[test]
fn overlap_is_already_exists_and_changes_nothing() {
    let env = Env::new();
    let a = env.vmo(4);
    let b = env.vmo(4);
    let spec = opts(RW | VmFlags::SPECIFIC);
    let va = env.root.map(spec, 8 * P, &a, 0, 4 * P).unwrap();
    env.store(va, b"a");
    env.mmu.take_log();
    assert_eq!(env.root.map(spec, 10 * P, &b, 0, 4 * P), Err(Status::AlreadyExists));
    assert_eq!(env.root.map(spec, 6 * P, &b, 0, 4 * P), Err(Status::AlreadyExists));
    assert!(env.mmu.log().is_empty());
    assert_eq!(env.load(va, 1), b"a");
    assert_eq!(env.root.fault(ROOT_BASE + 6 * P, Access::Read), Err(Status::NotFound));
}

#[test]
fn no_resources_when_full() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let sub = env.root.allocate(opts(VmFlags::CAN_MAP_READ), 0, 2 * P).unwrap();
    sub.map(opts(R), 0, &vmo, 0, P).unwrap();
    sub.map(opts(R), 0, &vmo, 0, P).unwrap();
    assert_eq!(sub.map(opts(R), 0, &vmo, 0, P), Err(Status::NoResources));
}

#[test]
fn bad_state_after_destroy() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let sub = env.root.allocate(opts(VmFlags::CAN_MAP_READ), 0, 4 * P).unwrap();
    sub.destroy().unwrap();
    assert_eq!(sub.map(opts(R), 0, &vmo, 0, P), Err(Status::BadState));
    // Argument errors come first.
    assert_eq!(sub.map(opts(R), 0, &vmo, 0, 0), Err(Status::InvalidArgs));
}

#[test]
fn specific_overwrite_replaces_mappings_atomically() {
    let env = Env::new();
    let a = env.vmo(4);
    let b = env.vmo(2);
    let spec = opts(RW | VmFlags::SPECIFIC);
    let va = env.root.map(spec, 8 * P, &a, 0, 4 * P).unwrap();
    for page in 0..4 {
        env.store(va + page * P, &[b'a' + page as u8]);
    }
    env.mmu.take_log();
    let overwrite = opts(RW | VmFlags::SPECIFIC_OVERWRITE);
    assert_eq!(env.root.map(overwrite, 9 * P, &b, 0, 2 * P), Ok(va + P));
    // The old translations of the covered pages went away ...
    assert_eq!(env.mmu.log(), vec![MmuOp::Unmap { va: va + P, len: 2 * P }]);
    // ... the new mapping shows the new VMO, and the pieces of the old one
    // around it still show theirs.
    assert_eq!(env.load(va + P, 1), [0]);
    env.store(va + P, b"B");
    assert_eq!(vmo_read(&b, 0, 1), b"B");
    assert_eq!(vmo_read(&a, P, 1), b"b");
    assert_eq!(env.load(va, 1), b"a");
    assert_eq!(env.load(va + 3 * P, 1), b"d");

    // Over a sub-region it is refused, and nothing changes.
    let sub = env.root.allocate(opts(VmFlags::CAN_MAP_READ | VmFlags::SPECIFIC), 16 * P, 2 * P);
    let sub = sub.unwrap();
    env.mmu.take_log();
    assert_eq!(env.root.map(overwrite, 15 * P, &b, 0, 2 * P), Err(Status::InvalidArgs));
    assert!(env.mmu.log().is_empty());
    assert!(sub.is_alive());
}

#[test]
fn map_range_populates_committed_pages_only() {
    let env = Env::new();
    let vmo = env.vmo(4);
    vmo.write(0, b"zero").unwrap();
    vmo.write(2 * P, b"two").unwrap();
    let used = env.machine.used_frames();
    let va = env.map(&vmo, RW | VmFlags::MAP_RANGE);
    let ptes = env.mmu.ptes();
    assert_eq!(ptes.len(), 2);
    assert_eq!(ptes[0].0, va);
    assert_eq!(ptes[1].0, va + 2 * P);
    assert!(ptes.iter().all(|(_, pte)| pte.flags == MmuFlags::READ | MmuFlags::WRITE));
    // Nothing was committed, and the contents are the VMO's.
    assert_eq!(env.machine.used_frames(), used);
    assert_eq!(env.frame_bytes(va + 2 * P, 3), b"two");
    assert!(env.mmu.touch(va + 2 * P, Access::Write).is_ok());
    // A mapping without permissions gets no translations at all.
    env.mmu.take_log();
    env.map(&vmo, VmFlags::MAP_RANGE);
    assert!(env.mmu.log().is_empty());
}
