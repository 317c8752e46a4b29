//! Copy-on-write children of anonymous VMOs (digest §2.10, §3.4; the
//! vmo-clone2.cc and vmo-zero.cc scenarios that vm-core can express).

mod vmo_support;

use vm_core::vmo::{ChildKind, MAX_SIZE};
use vm_core::Status;
use vmo_support::*;

#[test]
fn snapshot_reads_and_isolates_both_ways() {
    let m = machine();
    let v = tagged(&m, 4);
    let c = snapshot(&v, 0, 4);
    assert_eq!(tags(&c), vec![1, 2, 3, 4]);
    assert_eq!(m.used_frames(), 4, "creation copies nothing");
    set_tag(&c, 0, 10);
    set_tag(&v, 1, 20);
    assert_eq!(tags(&v), vec![1, 20, 3, 4]);
    assert_eq!(tags(&c), vec![10, 2, 3, 4]);
    assert_eq!(m.used_frames(), 6);
}

#[test]
fn every_snapshot_kind_is_a_snapshot_on_anonymous_memory() {
    let m = machine();
    let v = tagged(&m, 2);
    for kind in [ChildKind::Snapshot, ChildKind::SnapshotAtLeastOnWrite, ChildKind::SnapshotModified] {
        let c = v.create_child(kind, 0, 2 * P, false).unwrap();
        set_tag(&v, 0, 50);
        assert_eq!(tags(&c), vec![1, 2], "{kind:?} must not see later parent writes");
        set_tag(&c, 1, 60);
        assert_eq!(tag(&v, 1), 2);
        set_tag(&v, 0, 1);
    }
}

#[test]
fn parent_write_migrates_original_to_clone() {
    // ObjMemAccounting: the parent's write forks, the clone owns the original.
    let m = machine();
    let v = tagged(&m, 2);
    let c = snapshot(&v, 0, 2);
    assert_eq!((v.committed_bytes(), c.committed_bytes()), (0, 0));
    set_tag(&v, 0, 7);
    assert_eq!(m.used_frames(), 3);
    set_tag(&c, 0, 8);
    assert_eq!(m.used_frames(), 3, "the clone's write moved the page, no copy");
    assert_eq!((v.committed_bytes(), c.committed_bytes()), (P, P));
}

#[test]
fn zero_page_clones_allocate_only_when_written() {
    let m = machine();
    let v = vmo(&m, 4);
    let c = snapshot(&v, 0, 4);
    let cc = snapshot(&c, 0, 4);
    assert_eq!(tags(&cc), vec![0; 4]);
    assert_eq!(m.used_frames(), 0);
    set_tag(&cc, 2, 1);
    assert_eq!(m.used_frames(), 1);
    assert_eq!(tags(&c), vec![0; 4]);
}

#[test]
fn close_original_or_clone() {
    let m = machine();
    let v = tagged(&m, 3);
    let c = snapshot(&v, 0, 3);
    drop(v);
    assert_eq!(tags(&c), vec![1, 2, 3]);
    assert_eq!(c.committed_bytes(), 3 * P, "pages migrated to the survivor");
    assert_eq!(m.used_frames(), 3);
    let d = snapshot(&c, 0, 3);
    set_tag(&c, 0, 9);
    drop(d);
    assert_eq!(tags(&c), vec![9, 2, 3]);
    assert_eq!(m.used_frames(), 3);
}

#[test]
fn offset_clone_and_parent_close() {
    let m = machine();
    let v = tagged(&m, 3);
    let c = snapshot(&v, 1, 3);
    assert_eq!(tags(&c), vec![2, 3, 0]);
    drop(v);
    assert_eq!(tags(&c), vec![2, 3, 0]);
    assert_eq!(m.used_frames(), 2, "pages outside the clone's window are freed");
}

#[test]
fn clone_beyond_parent_reads_zero() {
    let m = machine();
    let v = tagged(&m, 2);
    let out = snapshot(&v, 4, 2);
    assert_eq!(tags(&out), vec![0, 0]);
    let big = snapshot(&v, 0, 4);
    assert_eq!(tags(&big), vec![1, 2, 0, 0]);
    set_tag(&big, 3, 5);
    assert_eq!(v.size(), 2 * P);
    let grand = snapshot(&big, 1, 4);
    assert_eq!(tags(&grand), vec![2, 0, 5, 0]);
}

#[test]
fn small_clone_never_copies_outside_its_window() {
    let m = machine();
    let v = tagged(&m, 4);
    let c = snapshot(&v, 1, 1);
    for i in [0, 2, 3] {
        set_tag(&v, i, 100);
    }
    assert_eq!(m.used_frames(), 4, "pages only the parent sees are moved, not copied");
    set_tag(&v, 1, 100);
    assert_eq!(m.used_frames(), 5);
    drop(v);
    assert_eq!(tags(&c), vec![2]);
    assert_eq!(m.used_frames(), 1);
}

#[test]
fn isolation_at_depth_and_width() {
    let m = machine();
    let a = tagged(&m, 4);
    let b = snapshot(&a, 0, 4);
    set_tag(&b, 0, 20);
    let c = snapshot(&b, 0, 4);
    set_tag(&c, 1, 30);
    let d = snapshot(&c, 0, 4);
    set_tag(&d, 2, 40);
    let b2 = snapshot(&a, 0, 4);
    let c2 = snapshot(&b, 0, 4);
    set_tag(&a, 3, 10);
    set_tag(&b, 3, 21);
    set_tag(&c, 3, 31);
    assert_eq!(tags(&a), vec![1, 2, 3, 10]);
    assert_eq!(tags(&b), vec![20, 2, 3, 21]);
    assert_eq!(tags(&c), vec![20, 30, 3, 31]);
    assert_eq!(tags(&d), vec![20, 30, 40, 4]);
    assert_eq!(tags(&b2), vec![1, 2, 3, 4]);
    assert_eq!(tags(&c2), vec![20, 2, 3, 4]);
    set_tag(&d, 0, 41);
    set_tag(&c2, 0, 22);
    assert_eq!(tag(&b, 0), 20);
    assert_eq!(tag(&c, 0), 20);
    drop(b);
    drop(c);
    assert_eq!(tags(&d), vec![41, 30, 40, 4]);
    assert_eq!(tags(&c2), vec![22, 2, 3, 4]);
    assert_eq!(tags(&b2), vec![1, 2, 3, 4]);
}

#[test]
fn many_children_in_every_close_order() {
    for order in 0..24usize {
        let m = machine();
        let v = tagged(&m, 2);
        let mut kids: Vec<_> = (0..3).map(|_| snapshot(&v, 0, 2)).collect();
        for (i, k) in kids.iter().enumerate() {
            set_tag(k, 0, 10 + i as u32);
        }
        kids.insert(0, v);
        // The `order`th permutation of the four VMOs.
        let mut pool: Vec<usize> = (0..4).collect();
        let mut rest = order;
        let mut perm = Vec::new();
        for n in (1..=4).rev() {
            perm.push(pool.remove(rest % n));
            rest /= n;
        }
        let mut live: Vec<Option<_>> = kids.into_iter().map(Some).collect();
        for &i in &perm {
            live[i] = None;
            for (j, k) in live.iter().enumerate() {
                if let Some(k) = k {
                    let expect0 = if j == 0 { 1 } else { 9 + j as u32 };
                    assert_eq!(tags(k), vec![expect0, 2], "order {perm:?}");
                }
            }
            let pages: usize = live.iter().flatten().count();
            let expected = if pages == 0 {
                0
            } else {
                pages + 1 // each page 0 is private; page 1 is shared once
            };
            assert_eq!(m.used_frames(), expected, "order {perm:?}");
        }
    }
}

#[test]
fn repeated_snapshot_close_cycles_hold_no_extra_frames() {
    let m = machine();
    let mut v = tagged(&m, 4);
    for round in 0..50u32 {
        let c = snapshot(&v, 0, 4);
        set_tag(&c, round as u64 % 4, 1000 + round);
        set_tag(&v, (round as u64 + 1) % 4, 2000 + round);
        if round % 2 == 0 {
            drop(c);
        } else {
            v = c;
        }
        assert_eq!(m.used_frames(), 4, "round {round}");
    }
}

#[test]
fn progressive_clone_chain_close() {
    let m = machine();
    let mut chain = vec![tagged(&m, 6)];
    for i in 1..6u64 {
        let next = snapshot(chain.last().unwrap(), 0, 6);
        set_tag(&next, i, 100 + i as u32);
        chain.push(next);
    }
    let last = chain.pop().unwrap();
    let expect: Vec<u32> = (0..6u32).map(|i| if i == 0 { 1 } else { 100 + i }).collect();
    assert_eq!(tags(&last), expect);
    chain.clear();
    assert_eq!(tags(&last), expect);
    assert_eq!(m.used_frames(), 6);
    assert_eq!(last.committed_bytes(), 6 * P);
}

#[test]
fn resize_never_reexposes_parent_data() {
    let m = machine();
    let v = tagged(&m, 4);
    let c = v.create_child(ChildKind::Snapshot, 0, 4 * P, true).unwrap();
    assert!(c.is_resizable());
    c.set_size(P).unwrap();
    c.set_size(4 * P).unwrap();
    assert_eq!(tags(&c), vec![1, 0, 0, 0]);
    assert_eq!(tags(&v), vec![1, 2, 3, 4]);
    assert_eq!(m.used_frames(), 4);
    drop(v);
    assert_eq!(m.used_frames(), 1, "only the page the clone sees is kept");
}

#[test]
fn resize_original_migrates_or_frees() {
    let m = machine();
    let v = resizable(&m, 4);
    for i in 0..4 {
        set_tag(&v, i, i as u32 + 1);
    }
    let c = snapshot(&v, 2, 2);
    v.set_size(P).unwrap();
    assert_eq!(m.used_frames(), 3, "page 1 is seen by no one");
    assert_eq!(c.committed_bytes(), 2 * P, "pages 2 and 3 moved to the clone");
    assert_eq!(tags(&c), vec![3, 4]);
    v.set_size(4 * P).unwrap();
    assert_eq!(tags(&v), vec![1, 0, 0, 0]);
}

#[test]
fn shrink_parent_below_child_offset_keeps_child() {
    let m = machine();
    let v = resizable(&m, 4);
    for i in 0..4 {
        set_tag(&v, i, i as u32 + 1);
    }
    let c = snapshot(&v, 2, 2);
    v.set_size(0).unwrap();
    assert_eq!(tags(&c), vec![3, 4]);
    assert_eq!(m.used_frames(), 2);
}

#[test]
fn zero_in_clone_hides_parent_content() {
    let m = machine();
    let v = tagged(&m, 3);
    let c = snapshot(&v, 0, 3);
    c.zero(0, P).unwrap();
    assert_eq!(tags(&c), vec![0, 2, 3]);
    assert_eq!(tags(&v), vec![1, 2, 3]);
    assert_eq!(v.committed_bytes(), P, "the page only the parent sees moved to it");
    c.zero(P + 4, 8).unwrap();
    assert_eq!(tag(&c, 1), 2, "bytes outside the zeroed range survive");
    let mut b = [0xffu8; 8];
    c.read(P + 4, &mut b).unwrap();
    assert_eq!(b, [0; 8]);
    assert_eq!(tag(&v, 1), 2);
    drop(v);
    assert_eq!(tags(&c), vec![0, 2, 3]);
    assert_eq!(m.used_frames(), 2);
}

#[test]
fn zero_parent_migrates_page_to_child() {
    // MergeZeroChildren: the child keeps the page, closing it does not move
    // it back.
    let m = machine();
    let v = tagged(&m, 1);
    let c = snapshot(&v, 0, 1);
    v.zero(0, P).unwrap();
    assert_eq!(tag(&v, 0), 0);
    assert_eq!(tag(&c, 0), 1);
    assert_eq!(c.committed_bytes(), P);
    assert_eq!(m.used_frames(), 1);
    drop(c);
    assert_eq!(m.used_frames(), 0);
    assert_eq!(tag(&v, 0), 0);
}

#[test]
fn zero_then_write_allocates_fresh_zero_page() {
    let m = machine();
    let v = tagged(&m, 2);
    let c = snapshot(&v, 0, 2);
    c.zero(0, 2 * P).unwrap();
    c.write(P + 8, &[1]).unwrap();
    let mut b = [0xffu8; 8];
    c.read(P, &mut b).unwrap();
    assert_eq!(b, [0; 8], "the forked page is zero, not the parent's");
    assert_eq!(tags(&v), vec![1, 2]);
}

#[test]
fn commit_forks_into_clone_and_decommit_is_refused() {
    let m = machine();
    let v = tagged(&m, 2);
    let c = snapshot(&v, 0, 3);
    assert_eq!(c.decommit(0, P), Err(Status::NotSupported));
    assert_eq!(v.decommit(0, P), Err(Status::NotSupported), "a parent with a clone");
    assert_eq!(c.decommit(1, P), Err(Status::InvalidArgs));
    c.commit(0, 3 * P).unwrap();
    assert_eq!(c.committed_bytes(), 3 * P);
    assert_eq!(tags(&c), vec![1, 2, 0]);
    assert_eq!(m.used_frames(), 5);
    set_tag(&c, 0, 9);
    assert_eq!(tag(&v, 0), 1);
    drop(c);
    v.decommit(0, P).unwrap();
    assert_eq!(tags(&v), vec![0, 2]);
}

#[test]
fn child_argument_errors() {
    let m = machine();
    let v = tagged(&m, 2);
    let snap = |o, s| v.create_child(ChildKind::Snapshot, o, s, false).err();
    assert_eq!(snap(1, P), Some(Status::InvalidArgs));
    assert_eq!(snap(0, u64::MAX), Some(Status::OutOfRange));
    assert_eq!(snap(u64::MAX - P + 1, 2 * P), Some(Status::InvalidArgs));
    // NoAccumulatedOverflow.
    let far = v.create_child(ChildKind::Snapshot, MAX_SIZE, 0, false).unwrap();
    assert_eq!(far.create_child(ChildKind::Snapshot, P, 0, false).err(), Some(Status::InvalidArgs));
    let r = far.create_child(ChildKind::Snapshot, 0, 0, true).unwrap();
    assert_eq!(r.set_size(P), Err(Status::InvalidArgs));
    assert_eq!(r.set_size(0), Ok(()));
}

#[test]
fn snapshots_of_slices_and_slices_of_snapshots() {
    let m = machine();
    let v = tagged(&m, 4);
    let s = v.create_child(ChildKind::Slice, P, 2 * P, false).unwrap();
    let c = snapshot(&s, 0, 3);
    assert_eq!(tags(&c), vec![2, 3, 0], "the slice's window bounds the snapshot");
    set_tag(&s, 0, 20);
    assert_eq!(tag(&c, 0), 2);
    let cs = c.create_child(ChildKind::Slice, P, P, false).unwrap();
    set_tag(&cs, 0, 30);
    assert_eq!(tags(&c), vec![2, 30, 0]);
    assert_eq!(tags(&v), vec![1, 20, 3, 4]);
    drop(c);
    assert_eq!(tags(&cs), vec![30]);
}

#[test]
fn snapshot_of_reference_snapshots_the_shared_pages() {
    let m = machine();
    let v = tagged(&m, 2);
    let r = v.create_child(ChildKind::Reference, 0, 0, false).unwrap();
    let c = snapshot(&r, 0, 2);
    set_tag(&v, 0, 5);
    assert_eq!(tag(&r, 0), 5);
    assert_eq!(tag(&c, 0), 1);
}

#[test]
fn deep_chain_reads_through_every_level() {
    let m = machine();
    let mut chain = vec![vmo(&m, 4)];
    for level in 0..300u32 {
        let next = snapshot(chain.last().unwrap(), 0, 4);
        set_tag(&next, u64::from(level % 4), level + 1);
        chain.push(next);
    }
    assert_eq!(tags(chain.last().unwrap()), vec![297, 298, 299, 300]);
    assert_eq!(tags(&chain[150]), vec![149, 150, 147, 148]);
    // Close every other level, oldest first; the survivors keep their view.
    let mut kept = Vec::new();
    for (i, v) in chain.into_iter().enumerate() {
        if i % 2 == 1 {
            kept.push((i, v));
        }
    }
    for (i, v) in &kept {
        let want: Vec<u32> =
            (0..4u32).map(|p| (1..=*i as u32).rev().find(|l| (l - 1) % 4 == p).unwrap_or(0)).collect();
        assert_eq!(tags(v), want, "level {i}");
    }
    assert!(m.used_frames() <= 4 * kept.len());
}

#[test]
fn resize_over_hidden_markers() {
    let m = machine();
    let v = resizable(&m, 2);
    set_tag(&v, 0, 1);
    set_tag(&v, 1, 2);
    let c1 = snapshot(&v, 0, 2);
    v.zero(0, P).unwrap();
    let c2 = snapshot(&v, 0, 2);
    v.set_size(0).unwrap();
    assert_eq!(tags(&c2), vec![0, 2], "the hidden marker still hides page 0");
    c2.write(8, &[1]).unwrap();
    assert_eq!(tags(&c2), vec![0, 2], "the fork is a fresh zero page");
    assert_eq!(tags(&c1), vec![1, 2]);
    assert_eq!(m.used_frames(), 3);
}
