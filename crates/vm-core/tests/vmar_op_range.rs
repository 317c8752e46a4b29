//! `Vmar::op_range` (digest §2.14, `vmar_op_range.md`): each op through the
//! mappings, and every error vm-core owns, with nothing changed on failure.

mod vmar_support;

use vm_core::fault::Access;
use vm_core::mock::MmuOp;
use vm_core::vmar::{VmFlags, VmarOp};
use vm_core::Status;
use vmar_support::*;

const ALL_OPS: [VmarOp; 7] = [
    VmarOp::Commit,
    VmarOp::Decommit,
    VmarOp::MapRange,
    VmarOp::Zero,
    VmarOp::DontNeed,
    VmarOp::AlwaysNeed,
    VmarOp::Prefetch,
];

#[test]
fn commit_then_decommit_through_the_vmar() {
    let env = Env::new();
    let vmo = env.vmo(4);
    let va = env.map(&vmo, RW);
    env.root.op_range(VmarOp::Commit, va + P, 2 * P).unwrap();
    assert_eq!(vmo.committed_bytes(), 2 * P);
    assert_eq!(env.machine.used_frames(), 2);
    // COMMIT installs nothing: faults stay the only way in (besides MAP_RANGE).
    assert!(env.mmu.ptes().is_empty());

    env.store(va + P, b"data");
    env.mmu.take_log();
    env.root.op_range(VmarOp::Decommit, va, 4 * P).unwrap();
    assert_eq!(vmo.committed_bytes(), 0);
    assert_eq!(env.machine.used_frames(), 0);
    let log = env.mmu.log();
    assert!(
        log.iter().any(|op| matches!(op, MmuOp::Unmap { va: v, len } if *v <= va + P && va + P < v + len)),
        "{log:?}"
    );
    assert!(env.mmu.pte(va + P).is_none());
    assert_eq!(env.load(va + P, 4), [0; 4]);
    // The deprecated ZX_VMO_OP_DECOMMIT has the same value.
    assert_eq!(VmarOp::from_raw(2), Ok(VmarOp::Decommit));
}

#[test]
fn decommit_zeroes_every_mapping_of_the_vmo() {
    // Digest §4.4 Commit: aliased mappings, DECOMMIT of page 1 makes all
    // mappings read 0.
    let env = Env::new();
    let vmo = env.vmo(2);
    let a = env.map(&vmo, RW);
    let b = env.map(&vmo, RW);
    env.store(a + P, b"shared");
    assert_eq!(env.load(b + P, 6), b"shared");
    env.root.op_range(VmarOp::Decommit, a + P, P).unwrap();
    assert!(env.mmu.pte(b + P).is_none());
    assert_eq!(env.load(b + P, 6), [0; 6]);
    assert_eq!(env.load(a + P, 6), [0; 6]);
}

#[test]
fn zero_dont_need_always_need_prefetch() {
    let env = Env::new();
    let vmo = env.vmo(3);
    let va = env.map(&vmo, RW);
    env.store(va, &[7; 16]);
    env.store(va + 2 * P, &[9; 16]);
    env.root.op_range(VmarOp::Zero, va, P).unwrap();
    assert_eq!(env.load(va, 16), [0; 16]);
    assert_eq!(vmo_read(&vmo, 0, 16), [0; 16]);
    for op in [VmarOp::DontNeed, VmarOp::AlwaysNeed, VmarOp::Prefetch] {
        env.root.op_range(op, va, 3 * P).unwrap();
    }
    assert_eq!(env.load(va + 2 * P, 16), [9; 16]);
}

#[test]
fn map_range_op_installs_committed_pages_only() {
    let env = Env::new();
    let vmo = env.vmo(4);
    let va = env.map(&vmo, RW);
    vmo.write(P, b"one").unwrap();
    vmo.write(3 * P, b"three").unwrap();
    let used = env.machine.used_frames();
    env.root.op_range(VmarOp::MapRange, va, 4 * P).unwrap();
    let mapped: Vec<u64> = env.mmu.ptes().iter().map(|(v, _)| *v).collect();
    assert_eq!(mapped, vec![va + P, va + 3 * P]);
    assert_eq!(env.machine.used_frames(), used);
    assert_eq!(env.frame_bytes(va + 3 * P, 5), b"three");
    // Already present translations are skipped.
    env.mmu.take_log();
    env.root.op_range(VmarOp::MapRange, va, 4 * P).unwrap();
    assert!(env.mmu.log().is_empty());
    // And the hardware may use them without faulting.
    assert!(env.mmu.touch(va + P, Access::Write).is_ok());
}

#[test]
fn map_range_of_a_sparse_snapshot_child_maps_what_it_sees() {
    let env = Env::new();
    // 256 MiB, with pages committed at the far ends only.
    let pages = 1 << 16;
    let parent = env.vmo(pages);
    parent.write(0, b"first").unwrap();
    parent.write((pages - 1) * P, b"last").unwrap();
    let child = parent.create_child(vm_core::vmo::ChildKind::Snapshot, 0, pages * P, false).unwrap();
    child.write(5 * P, b"own").unwrap();
    let va = env.map(&child, RW);
    env.mmu.take_log();
    env.root.op_range(VmarOp::MapRange, va, pages * P).unwrap();
    let maps: Vec<(u64, bool)> = env
        .mmu
        .take_log()
        .into_iter()
        .filter_map(|op| match op {
            MmuOp::Map { va: v, flags, .. } => {
                Some((v - va, flags.contains(vm_core::platform::MmuFlags::WRITE)))
            }
            _ => None,
        })
        .collect();
    // Shared pages read-only (the first write must still fork), own pages writable.
    assert_eq!(maps, vec![(0, false), (5 * P, true), ((pages - 1) * P, false)]);
    assert_eq!(env.frame_bytes(va + (pages - 1) * P, 4), b"last");
    env.store(va, b"child");
    assert_eq!(env.load(va, 5), b"child");
    let mut b = [0; 5];
    parent.read(0, &mut b).unwrap();
    assert_eq!(&b, b"first", "the write forked instead of writing the shared page");
}

#[test]
fn hints_may_span_sub_regions_but_commit_may_not() {
    let env = Env::new();
    let can_rw = VmFlags::CAN_MAP_READ | VmFlags::CAN_MAP_WRITE | VmFlags::CAN_MAP_SPECIFIC;
    let sub = env.root.allocate(opts(can_rw | VmFlags::SPECIFIC), 2 * P, 2 * P).unwrap();
    let vmo = env.vmo(2);
    let spec = opts(RW | VmFlags::SPECIFIC);
    let outer = env.root.map(spec, 0, &vmo, 0, 2 * P).unwrap();
    sub.map(spec, 0, &vmo, 0, 2 * P).unwrap();
    for op in [VmarOp::DontNeed, VmarOp::AlwaysNeed, VmarOp::Prefetch, VmarOp::MapRange] {
        env.root.op_range(op, outer, 4 * P).unwrap();
    }
    for op in [VmarOp::Commit, VmarOp::Decommit, VmarOp::Zero] {
        assert_eq!(env.root.op_range(op, outer, 4 * P), Err(Status::InvalidArgs));
    }
    assert_eq!(vmo.committed_bytes(), 0);
    // Through the sub-region's own handle it works.
    sub.op_range(VmarOp::Commit, sub.base(), 2 * P).unwrap();
    assert_eq!(vmo.committed_bytes(), 2 * P);
}

#[test]
fn argument_range_and_gap_errors() {
    let env = Env::new();
    let vmo = env.vmo(2);
    let spec = opts(RW | VmFlags::SPECIFIC);
    let a = env.root.map(spec, 0, &vmo, 0, 2 * P).unwrap();
    env.root.map(spec, 3 * P, &vmo, 0, P).unwrap();
    for op in ALL_OPS {
        assert_eq!(env.root.op_range(op, a, 0), Err(Status::InvalidArgs), "{op:?}");
        assert_eq!(env.root.op_range(op, a + 1, P), Err(Status::InvalidArgs), "{op:?}");
        let outside = ROOT_BASE + ROOT_SIZE - P;
        assert_eq!(env.root.op_range(op, outside, 2 * P), Err(Status::OutOfRange), "{op:?}");
        assert_eq!(env.root.op_range(op, ROOT_BASE - P, P), Err(Status::OutOfRange), "{op:?}");
        // The gap at 2P, in the middle, at the end, or alone.
        assert_eq!(env.root.op_range(op, a, 4 * P), Err(Status::BadState), "{op:?}");
        assert_eq!(env.root.op_range(op, a + P, 2 * P), Err(Status::BadState), "{op:?}");
        assert_eq!(env.root.op_range(op, a + 2 * P, P), Err(Status::BadState), "{op:?}");
    }
    // The length is rounded up to pages, and a rounding overflow is
    // INVALID_ARGS.
    env.root.op_range(VmarOp::Commit, a, 1).unwrap();
    assert_eq!(vmo.committed_bytes(), P);
    assert_eq!(env.root.op_range(VmarOp::Commit, a, u64::MAX), Err(Status::InvalidArgs));
    // Nothing was committed by the failed calls.
    assert_eq!(vmo.committed_bytes(), P);
    // Unknown op values.
    for raw in [0, 4, 5, 6, 7, 8, 9, 11, 15, u32::MAX] {
        assert_eq!(VmarOp::from_raw(raw), Err(Status::InvalidArgs));
    }
}

#[test]
fn write_ops_need_mappings_that_can_be_writable() {
    let env = Env::new();
    let vmo = env.vmo(2);
    vmo.write(0, b"keep").unwrap();
    let spec = VmFlags::SPECIFIC;
    let rw = env.root.map(opts(RW | spec), 0, &vmo, 0, P).unwrap();
    let ro = env.root.map(opts(R | spec), P, &vmo, P, P).unwrap();
    for op in [VmarOp::Commit, VmarOp::Decommit, VmarOp::Zero] {
        assert_eq!(env.root.op_range(op, rw, 2 * P), Err(Status::AccessDenied), "{op:?}");
    }
    assert_eq!(vmo_read(&vmo, 0, 4), b"keep");
    // A read-only mapping that may become writable is enough (Zircon checks
    // the mapping's ceiling).
    let rw_later = env.root.map(opts(R | VmFlags::CAN_MAP_WRITE | spec), 2 * P, &vmo, 0, P).unwrap();
    env.root.op_range(VmarOp::Decommit, rw_later, P).unwrap();
    assert_eq!(vmo_read(&vmo, 0, 4), [0; 4]);
    // Prefetch needs a readable ceiling; hints need nothing.
    let none = env.root.map(opts(spec), 3 * P, &vmo, 0, P).unwrap();
    assert_eq!(env.root.op_range(VmarOp::Prefetch, none, P), Err(Status::AccessDenied));
    env.root.op_range(VmarOp::DontNeed, none, P).unwrap();
    env.root.op_range(VmarOp::Prefetch, ro, P).unwrap();
    assert_eq!(env.mmu.pte(ro).map(|p| p.flags), None);
}

#[test]
fn bad_state_after_destroy() {
    let env = Env::new();
    let sub = env.root.allocate(opts(VmFlags::CAN_MAP_READ), 0, 4 * P).unwrap();
    sub.destroy().unwrap();
    assert_eq!(sub.op_range(VmarOp::DontNeed, sub.base(), P), Err(Status::BadState));
    assert_eq!(sub.op_range(VmarOp::DontNeed, sub.base(), 0), Err(Status::InvalidArgs));
}
