//! Anonymous VMOs: create, read/write, set_size, op_range (digest §2.8,
//! §2.9, §2.11; vmo.cc and vmo-zero.cc cases).

mod vmo_support;

use vm_core::mock::{Machine, BASE};
use vm_core::platform::{CacheOp, FrameAllocator};
use vm_core::vmo::{ChildKind, Vmo, VmoOptions, MAX_SIZE};
use vm_core::Status;
use vmo_support::*;

#[test]
fn create_rounds_size_up() {
    let m = machine();
    assert_eq!(Vmo::create(&m.ctx, 1, VmoOptions::empty()).unwrap().size(), P);
    assert_eq!(Vmo::create(&m.ctx, 0, VmoOptions::empty()).unwrap().size(), 0);
    assert_eq!(Vmo::create(&m.ctx, P + 1, VmoOptions::empty()).unwrap().size(), 2 * P);
    let huge = Vmo::create(&m.ctx, MAX_SIZE, VmoOptions::empty()).unwrap();
    assert_eq!(huge.size(), MAX_SIZE);
    assert_eq!(m.used_frames(), 0, "creation commits nothing");
    assert_eq!(Vmo::create(&m.ctx, MAX_SIZE + 1, VmoOptions::empty()).err(), Some(Status::OutOfRange));
    assert_eq!(Vmo::create(&m.ctx, u64::MAX, VmoOptions::empty()).err(), Some(Status::OutOfRange));
    let r = Vmo::create(&m.ctx, P, VmoOptions::RESIZABLE | VmoOptions::DISCARDABLE).unwrap();
    assert!(r.is_resizable() && r.is_discardable());
}

#[test]
fn read_write_any_offset_and_length() {
    let m = machine();
    let v = vmo(&m, 4);
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8 + 1).collect();
    v.write(100, &data).unwrap();
    let mut back = vec![0u8; 10_000];
    v.read(100, &mut back).unwrap();
    assert_eq!(back, data);
    let mut all = vec![0xffu8; 4 * P as usize];
    v.read(0, &mut all).unwrap();
    assert!(all[..100].iter().all(|&b| b == 0), "unwritten bytes read zero");
    assert!(all[10_100..].iter().all(|&b| b == 0));
    assert_eq!(v.committed_bytes(), 3 * P);
    assert_eq!(m.used_frames(), 3);
}

#[test]
fn read_write_range_rules() {
    let m = machine();
    let v = vmo(&m, 2);
    let size = v.size();
    let mut b = [0u8; 2];
    assert_eq!(v.read(size, &mut []), Ok(()));
    assert_eq!(v.write(size, &[]), Ok(()));
    assert_eq!(v.read(size + 1, &mut []), Err(Status::OutOfRange));
    assert_eq!(v.write(size + 1, &[]), Err(Status::OutOfRange));
    assert_eq!(v.read(size - 1, &mut b), Err(Status::OutOfRange));
    assert_eq!(v.write(size - 1, &b), Err(Status::OutOfRange));
    assert_eq!(v.read(u64::MAX, &mut b), Err(Status::OutOfRange));
    assert_eq!(v.write(u64::MAX - 1, &b), Err(Status::OutOfRange));
    assert_eq!(m.used_frames(), 0, "failed writes commit nothing");
}

#[test]
fn write_without_memory_changes_nothing() {
    let m = Machine::new(3); // the zero frame and two more
    let v = vmo(&m, 4);
    v.write(0, &[7]).unwrap();
    let free = m.frames.free_count();
    assert_eq!(free, 1);
    assert_eq!(v.write(P, &vec![9u8; 2 * P as usize]), Err(Status::NoMemory));
    assert_eq!(m.frames.free_count(), free);
    assert_eq!(tags(&v), vec![7, 0, 0, 0]);
    assert_eq!(v.commit(0, 4 * P), Err(Status::NoMemory));
    assert_eq!(v.committed_bytes(), P);
}

#[test]
fn set_size_shrinks_frees_and_grows_zero() {
    let m = machine();
    let fixed = vmo(&m, 2);
    assert_eq!(fixed.set_size(P), Err(Status::Unavailable));
    assert_eq!(fixed.set_size(u64::MAX), Err(Status::OutOfRange));
    let v = resizable(&m, 4);
    for i in 0..4 {
        set_tag(&v, i, 10 + i as u32);
    }
    v.set_size(P + 1).unwrap();
    assert_eq!(v.size(), 2 * P, "unaligned sizes round up");
    assert_eq!(m.used_frames(), 2);
    assert_eq!(v.write(3 * P, &[1]), Err(Status::OutOfRange));
    v.set_size(4 * P).unwrap();
    assert_eq!(tags(&v), vec![10, 11, 0, 0]);
    assert_eq!(v.set_size(u64::MAX), Err(Status::OutOfRange));
    assert_eq!(v.size(), 4 * P);
}

#[test]
fn commit_decommit() {
    let m = machine();
    let v = vmo(&m, 4);
    assert_eq!(v.commit(P, u64::MAX - P + 1), Err(Status::OutOfRange));
    v.commit(0x10, 0x100).unwrap();
    assert_eq!(v.committed_bytes(), P);
    v.commit(0, 4 * P).unwrap();
    assert_eq!(v.committed_bytes(), 4 * P);
    assert_eq!(tags(&v), vec![0; 4], "committed pages are zeroed");
    set_tag(&v, 1, 5);
    assert_eq!(v.decommit(0x10, 0x100), Err(Status::InvalidArgs));
    assert_eq!(v.decommit(P, 0x100), Err(Status::InvalidArgs));
    assert_eq!(v.decommit(4 * P, P), Err(Status::OutOfRange));
    v.decommit(P, 2 * P).unwrap();
    assert_eq!(v.committed_bytes(), 2 * P);
    assert_eq!(tag(&v, 1), 0);
    v.commit(0, 4 * P).unwrap();
    assert_eq!(m.used_frames(), 4);
    v.decommit(0, 0).unwrap();
    v.decommit(0, 4 * P).unwrap();
    assert_eq!(m.used_frames(), 0);
}

#[test]
fn decommit_misaligned_even_when_empty() {
    let m = machine();
    let v = vmo(&m, 1);
    assert_eq!(v.decommit(0x10, 0x100), Err(Status::InvalidArgs));
    assert_eq!(v.commit(0x10, 0x100), Ok(()));
}

#[test]
fn every_op_out_of_bounds() {
    let m = machine();
    let v = vmo(&m, 1);
    let (o, l) = (0, 2 * P);
    assert_eq!(v.commit(o, l), Err(Status::OutOfRange));
    assert_eq!(v.decommit(o, l), Err(Status::OutOfRange));
    assert_eq!(v.zero(o, l), Err(Status::OutOfRange));
    assert_eq!(v.dont_need(o, l), Err(Status::OutOfRange));
    assert_eq!(v.always_need(o, l), Err(Status::OutOfRange));
    assert_eq!(v.prefetch(o, l), Err(Status::OutOfRange));
    for op in [CacheOp::Clean, CacheOp::Invalidate, CacheOp::CleanInvalidate, CacheOp::Sync] {
        assert_eq!(v.cache_op(op, o, l), Err(Status::OutOfRange));
    }
    assert_eq!(m.used_frames(), 0);
}

#[test]
fn hints_check_ranges_only() {
    let m = machine();
    let v = vmo(&m, 2);
    assert_eq!(v.prefetch(0, 0), Ok(()));
    assert_eq!(v.prefetch(1, 3), Ok(()));
    assert_eq!(v.dont_need(P, P), Ok(()));
    assert_eq!(v.always_need(0, 2 * P), Ok(()));
    assert_eq!(v.prefetch(2 * P + 1, 0), Err(Status::OutOfRange));
    assert_eq!(v.always_need(u64::MAX, 2), Err(Status::OutOfRange));
    assert_eq!(m.used_frames(), 0);
}

#[test]
fn zero_unaligned_sub_page() {
    let m = machine();
    let v = vmo(&m, 1);
    v.write(0, &vec![0xff; P as usize]).unwrap();
    v.zero(42, 91).unwrap();
    let mut b = vec![0u8; P as usize];
    v.read(0, &mut b).unwrap();
    for (i, &x) in b.iter().enumerate() {
        assert_eq!(x, if (42..133).contains(&i) { 0 } else { 0xff }, "byte {i}");
    }
    assert_eq!(v.committed_bytes(), P);
}

#[test]
fn zero_uncommitted_commits_nothing() {
    let m = machine();
    let v = vmo(&m, 2);
    v.zero(42, 91).unwrap();
    v.zero(0, 2 * P).unwrap();
    v.zero(P - 1, 2).unwrap();
    assert_eq!(v.committed_bytes(), 0);
    assert_eq!(m.used_frames(), 0);
}

#[test]
fn zero_decommits_middle_and_zeroes_edges() {
    let m = machine();
    let v = vmo(&m, 4);
    v.write(0, &vec![0xee; 4 * P as usize]).unwrap();
    v.zero(100, 3 * P).unwrap();
    assert_eq!(v.committed_bytes(), 2 * P, "whole middle pages are freed");
    let mut b = vec![0u8; 4 * P as usize];
    v.read(0, &mut b).unwrap();
    for (i, &x) in b.iter().enumerate() {
        let zeroed = (100..3 * P as usize + 100).contains(&i);
        assert_eq!(x, if zeroed { 0 } else { 0xee }, "byte {i}");
    }
}

#[test]
fn zero_lengths_and_range() {
    let m = machine();
    let v = vmo(&m, 1);
    assert_eq!(v.zero(0, 0), Ok(()));
    assert_eq!(v.zero(10, 0), Ok(()));
    assert_eq!(v.zero(P, 0), Ok(()));
    assert_eq!(v.zero(P + 1, 0), Err(Status::OutOfRange));
    assert_eq!(v.zero(1, u64::MAX), Err(Status::OutOfRange));
}

#[test]
fn lock_unlock_and_reclaim() {
    let m = machine();
    let plain = vmo(&m, 1);
    assert_eq!(plain.lock(0, P), Err(Status::NotSupported));
    assert_eq!(plain.try_lock(0, P), Err(Status::NotSupported));
    assert_eq!(plain.unlock(0, P), Err(Status::NotSupported));

    let v = Vmo::create(&m.ctx, 2 * P, VmoOptions::DISCARDABLE).unwrap();
    set_tag(&v, 0, 1);
    set_tag(&v, 1, 2);
    assert_eq!(m.ctx.reclaim(), 0, "never locked: not eligible");
    assert_eq!(v.unlock(0, 2 * P), Err(Status::BadState));
    assert_eq!(v.lock(P, P), Err(Status::OutOfRange));
    assert_eq!(v.lock(0, P), Err(Status::OutOfRange));
    assert_eq!(v.try_lock(0, 3 * P), Err(Status::OutOfRange));
    let state = v.lock(0, 2 * P - 1).unwrap();
    assert_eq!((state.offset, state.size, state.discarded_size), (0, 2 * P, 0));
    v.try_lock(0, 2 * P).unwrap();
    v.unlock(0, 2 * P).unwrap();
    assert_eq!(m.ctx.reclaim(), 0, "still locked once");
    v.unlock(0, 2 * P).unwrap();
    assert_eq!(v.unlock(0, 2 * P), Err(Status::BadState));
    assert_eq!(m.ctx.reclaim(), 2);
    assert_eq!(m.used_frames(), 0);
    // Until it is locked again, a discarded VMO's pages cannot be looked up.
    let mut b = [0; 8];
    assert_eq!(v.read(0, &mut b), Err(Status::NotFound));
    assert_eq!(v.write(P, &b), Err(Status::NotFound));
    assert_eq!(v.commit(0, P), Err(Status::NotFound));
    assert_eq!(v.lookup_for_fault(0, false).err(), Some(Status::NotFound));
    assert_eq!(v.read(2 * P, &mut b), Err(Status::OutOfRange), "the range is checked first");
    assert_eq!(v.read(0, &mut []), Ok(()));
    assert_eq!(m.used_frames(), 0, "the failed write and commit took nothing");
    assert_eq!(v.try_lock(0, 2 * P), Err(Status::Unavailable));
    let state = v.lock(0, 2 * P).unwrap();
    assert_eq!((state.discarded_offset, state.discarded_size), (0, 2 * P));
    assert_eq!(tags(&v), vec![0, 0], "once locked again, the discarded contents read zero");
    v.try_lock(0, 2 * P).unwrap();
    set_tag(&v, 0, 3);
    assert_eq!(m.ctx.reclaim(), 0);
    assert_eq!(tag(&v, 0), 3);
}

#[test]
fn discardable_has_no_children() {
    let m = machine();
    let v = Vmo::create(&m.ctx, P, VmoOptions::DISCARDABLE).unwrap();
    for kind in [
        ChildKind::Snapshot,
        ChildKind::SnapshotAtLeastOnWrite,
        ChildKind::SnapshotModified,
        ChildKind::Slice,
    ] {
        assert_eq!(v.create_child(kind, 0, P, false).err(), Some(Status::NotSupported));
    }
    assert_eq!(v.create_child(ChildKind::Reference, 0, 0, false).err(), Some(Status::NotSupported));
}

#[test]
fn cache_op_ranges() {
    let m = machine();
    let v = vmo(&m, 8);
    v.commit(0, 8 * P).unwrap();
    let size = v.size();
    for op in [CacheOp::Clean, CacheOp::Invalidate, CacheOp::CleanInvalidate, CacheOp::Sync] {
        for (o, l) in [
            (0, 1),
            (1, 1),
            (0, size),
            (1, size - 1),
            (0x5200, 1),
            (0x5200, 0x800),
            (0x5200, 0x1000),
            (0x5200, 0x1200),
        ] {
            assert_eq!(v.cache_op(op, o, l), Ok(()), "{op:?} ({o:#x}, {l:#x})");
        }
        assert_eq!(v.cache_op(op, 0, 0), Err(Status::InvalidArgs));
        for (o, l) in
            [(1, size), (size, 1), (size + 1, 1), (u64::MAX - 1, 1), (u64::MAX, 1), (u64::MAX, u64::MAX)]
        {
            assert_eq!(v.cache_op(op, o, l), Err(Status::OutOfRange), "{op:?} ({o:#x}, {l:#x})");
        }
    }
}

#[test]
fn cache_op_once_per_contiguous_run() {
    let m = machine();
    let v = vmo(&m, 8);
    v.commit(0, 2 * P).unwrap(); // frames f0, f1: contiguous
    v.commit(3 * P, P).unwrap(); // f2 = f1 + P, but not adjacent in the VMO
    m.cache.take();
    v.cache_op(CacheOp::Clean, 0x10, 3 * P).unwrap();
    let f0 = BASE + P; // the zero frame took BASE
    assert_eq!(
        m.cache.take(),
        vec![(CacheOp::Clean, f0 + 0x10, 2 * P - 0x10), (CacheOp::Clean, f0 + 2 * P, 0x10)]
    );
    v.cache_op(CacheOp::Sync, 2 * P, P).unwrap();
    assert_eq!(m.cache.take(), vec![], "uncommitted pages are skipped");
}

#[test]
fn cache_op_on_huge_sparse_vmo() {
    let m = machine();
    let v = Vmo::create(&m.ctx, MAX_SIZE, VmoOptions::empty()).unwrap();
    v.cache_op(CacheOp::Clean, 0, MAX_SIZE).unwrap();
    assert_eq!(m.cache.take(), vec![]);
    for i in 0..64u64 {
        v.write(i * (MAX_SIZE / 64 / P) * P, &[1]).unwrap();
    }
    v.cache_op(CacheOp::Clean, 0, MAX_SIZE).unwrap();
    let log = m.cache.take();
    assert_eq!(log.len(), 64);
    assert!(log.iter().all(|&(op, _, len)| op == CacheOp::Clean && len == P));
}

#[test]
fn fault_lookup() {
    let m = machine();
    let v = vmo(&m, 2);
    let read = v.lookup_for_fault(0, false).unwrap();
    assert_eq!((read.frame, read.writable), (m.ctx.zero_frame(), false));
    assert_eq!(m.used_frames(), 0);
    let write = v.lookup_for_fault(P + 5, true).unwrap();
    assert!(write.writable);
    assert_ne!(write.frame, m.ctx.zero_frame());
    assert_eq!(v.lookup_for_fault(P, false).unwrap(), write);
    assert_eq!(v.lookup_for_fault(2 * P, false), Err(Status::OutOfRange));
    assert_eq!(v.lookup_for_fault(2 * P, true), Err(Status::OutOfRange));
    assert_eq!(m.used_frames(), 1);
}

#[test]
fn slices_act_on_the_parent() {
    let m = machine();
    let v = tagged(&m, 4);
    let s = v.create_child(ChildKind::Slice, P, 2 * P, false).unwrap();
    assert_eq!(s.size(), 2 * P);
    assert_eq!(tags(&s), vec![2, 3]);
    set_tag(&s, 0, 20);
    assert_eq!(tag(&v, 1), 20);
    set_tag(&v, 2, 30);
    assert_eq!(tag(&s, 1), 30);
    assert_eq!(s.write(2 * P, &[1]), Err(Status::OutOfRange));
    let ss = s.create_child(ChildKind::Slice, P, P, false).unwrap();
    assert_eq!(tags(&ss), vec![30]);
    ss.decommit(0, P).unwrap();
    assert_eq!(tag(&v, 2), 0);
    assert_eq!(ss.decommit(0, 2 * P), Err(Status::OutOfRange));
    assert_eq!(
        s.create_child(ChildKind::Slice, P, 2 * P, false).err(),
        Some(Status::InvalidArgs),
        "a slice must lie within its parent"
    );
    assert_eq!(s.create_child(ChildKind::Slice, 1, P, false).err(), Some(Status::InvalidArgs));
    assert_eq!(s.create_child(ChildKind::Slice, 0, P, true).err(), Some(Status::InvalidArgs));
    let r = resizable(&m, 1);
    assert_eq!(r.create_child(ChildKind::Slice, 0, P, false).err(), Some(Status::NotSupported));
    drop(v);
    assert_eq!(tags(&s), vec![20, 0], "a slice keeps the pages alive");
}

#[test]
fn decommit_through_nested_slices() {
    let m = machine();
    let v = vmo(&m, 4);
    v.commit(0, 4 * P).unwrap();
    let s1 = v.create_child(ChildKind::Slice, P, 3 * P, false).unwrap();
    let s2 = s1.create_child(ChildKind::Slice, P, 2 * P, false).unwrap();
    let s3 = s2.create_child(ChildKind::Slice, P, P, false).unwrap();
    assert_eq!(s3.decommit(0, 2 * P), Err(Status::OutOfRange));
    s3.decommit(0, P).unwrap();
    assert_eq!(v.committed_bytes(), 3 * P);
    assert_eq!(s3.committed_bytes(), 0);
    assert_eq!(s1.committed_bytes(), 2 * P);
}

#[test]
fn references_share_everything() {
    let m = machine();
    let v = resizable(&m, 2);
    assert_eq!(v.create_child(ChildKind::Reference, P, 0, false).err(), Some(Status::InvalidArgs));
    assert_eq!(v.create_child(ChildKind::Reference, 0, P, false).err(), Some(Status::InvalidArgs));
    let r = v.create_child(ChildKind::Reference, 0, 0, false).unwrap();
    assert!(!r.is_resizable());
    assert_eq!(r.set_size(P), Err(Status::Unavailable));
    set_tag(&r, 1, 9);
    assert_eq!(tag(&v, 1), 9);
    v.set_size(4 * P).unwrap();
    assert_eq!(r.size(), 4 * P);
    let rr = v.create_child(ChildKind::Reference, 0, 0, true).unwrap();
    rr.set_size(P).unwrap();
    assert_eq!(v.size(), P);
    let fixed = vmo(&m, 1);
    assert_eq!(fixed.create_child(ChildKind::Reference, 0, 0, true).err(), Some(Status::NotSupported));
    drop(v);
    set_tag(&r, 0, 4);
    assert_eq!(tag(&rr, 0), 4);
}

#[test]
fn koids_are_unique() {
    let m = machine();
    let a = vmo(&m, 1);
    let b = a.create_child(ChildKind::Snapshot, 0, P, false).unwrap();
    let c = vmo(&m, 1);
    assert!(a.koid() != b.koid() && b.koid() != c.koid() && a.koid() != c.koid());
    assert!(a.koid() > 0);
}
