//! Children of pager VMOs (digest §2.10, §3.4): which kinds are allowed, what
//! they see of the root, how their writes fork, and the ops on them
//! (§2.11, §2.14).

mod support;

use std::sync::Arc;

use support::*;
use zx::ops::*;
use zx::options::*;
use zx::{Handle, Status};

fn page(up: &UserPager, vmo: Handle, page: u64) -> Vec<u8> {
    up.env.read(vmo, page * P, P as usize)
}

fn filled(byte: u8) -> Vec<u8> {
    vec![byte; P as usize]
}

#[test]
fn only_copy_on_write_kinds_that_keep_the_root_live_are_allowed() {
    let up = UserPager::new();
    let root = up.vmo(4, 1);
    assert_eq!(up.zx().vmo_create_child(root, ZX_VMO_CHILD_SNAPSHOT, 0, P), Err(Status::NotSupported));
    let alow = up.zx().vmo_create_child(root, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, 4 * P).unwrap();
    assert_eq!(up.zx().vmo_create_child(alow, ZX_VMO_CHILD_SNAPSHOT, 0, P), Err(Status::NotSupported));
    let modified = up.zx().vmo_create_child(root, ZX_VMO_CHILD_SNAPSHOT_MODIFIED, 0, 4 * P).unwrap();
    let slice = up.zx().vmo_create_child(root, ZX_VMO_CHILD_SLICE, P, 2 * P).unwrap();
    let reference = up.zx().vmo_create_child(root, ZX_VMO_CHILD_REFERENCE, 0, 0).unwrap();
    up.zx().vmo_create_child(slice, ZX_VMO_CHILD_SNAPSHOT_MODIFIED, 0, P).unwrap();
    let clone_slice = up.zx().vmo_create_child(alow, ZX_VMO_CHILD_SLICE, 0, P).unwrap();
    for kind in [ZX_VMO_CHILD_SNAPSHOT_MODIFIED, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE] {
        assert_eq!(up.zx().vmo_create_child(clone_slice, kind, 0, P), Err(Status::NotSupported));
    }
    up.supply(root, 1, 0, 4);
    for vmo in [alow, modified, reference] {
        assert_eq!(page(&up, vmo, 2), filled(tag(1, 2)));
    }
    assert_eq!(page(&up, slice, 0), filled(tag(1, 1)));
    up.expect_no_request();
}

#[test]
fn a_clone_sees_root_writes_until_it_writes_the_page_itself() {
    let up = Arc::new(UserPager::new());
    let root = up.vmo(2, 2);
    let clone = up.zx().vmo_create_child(root, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, 2 * P).unwrap();
    let u = up.clone();
    let t = spawn(move || u.zx().vmo_write(clone, &[0xc1], 0));
    up.expect_read(2, 0, 1);
    up.supply(root, 2, 0, 2);
    t.join().unwrap();
    // The write copied the root's page into the clone: the root keeps its own.
    assert_eq!(up.env.read(clone, 0, 2), [0xc1, tag(2, 0)]);
    assert_eq!(up.env.read(root, 0, 1), [tag(2, 0)]);
    assert_eq!(up.env.machine.used_frames(), 3);
    // Root writes to pages the clone has not forked show through.
    up.zx().vmo_write(root, &[0x70], P).unwrap();
    assert_eq!(up.env.read(clone, P, 1), [0x70]);
    up.zx().vmo_write(root, &[0x71], 0).unwrap();
    assert_eq!(up.env.read(clone, 0, 1), [0xc1]);
}

#[test]
fn snapshot_modified_of_a_clone_snapshots_its_modified_pages() {
    // Zircon's CloneModifyChain: the snapshot sees the root's new page 0 but
    // the clone's old page 1.
    let up = UserPager::new();
    let root = up.vmo(2, 3);
    up.supply(root, 3, 0, 2);
    let clone = up.zx().vmo_create_child(root, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, 2 * P).unwrap();
    up.zx().vmo_write(clone, &[0xa1], P).unwrap();
    let snapshot = up.zx().vmo_create_child(clone, ZX_VMO_CHILD_SNAPSHOT_MODIFIED, 0, 2 * P).unwrap();
    up.zx().vmo_write(root, &[0xb0], 0).unwrap();
    up.zx().vmo_write(clone, &[0xa2], P).unwrap();
    assert_eq!(up.env.read(snapshot, 0, 1), [0xb0]);
    assert_eq!(up.env.read(snapshot, P, 1), [0xa1]);
    assert_eq!(up.env.read(clone, P, 1), [0xa2]);
    // Writes to the snapshot stay there.
    up.zx().vmo_write(snapshot, &[0x5a], P).unwrap();
    assert_eq!(up.env.read(clone, P, 1), [0xa2]);
    for h in [snapshot, clone] {
        up.zx().handle_close(h).unwrap();
    }
    assert_eq!(up.env.machine.used_frames(), 2, "the clones' pages went with them");
}

#[test]
fn a_chain_a_thousand_deep_reads_the_root_and_closes_cleanly() {
    // Zircon's DeepHierarchy.
    let up = Arc::new(UserPager::new());
    let root = up.vmo(1, 4);
    let mut chain = vec![root];
    for _ in 0..1000 {
        let last = *chain.last().unwrap();
        chain.push(up.zx().vmo_create_child(last, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, P).unwrap());
    }
    let deepest = *chain.last().unwrap();
    let u = up.clone();
    let t = spawn(move || {
        let mut b = [0; 1];
        u.zx().vmo_read(deepest, &mut b, 0).map(|()| b[0])
    });
    up.expect_read(4, 0, 1);
    up.supply(root, 4, 0, 1);
    assert_eq!(t.join(), Ok(tag(4, 0)));
    up.zx().vmo_write(deepest, &[9], 0).unwrap();
    assert_eq!(up.env.read(chain[500], 0, 1), [tag(4, 0)]);
    for h in chain.into_iter().rev() {
        up.zx().handle_close(h).unwrap();
    }
    up.expect_complete(4);
    up.env.machine.assert_no_frames_used();
}

#[test]
fn detach_keeps_forked_pages_and_fails_what_a_clone_never_forked() {
    let up = UserPager::new();
    let root = up.vmo(2, 5);
    up.supply(root, 5, 0, 2);
    let clone = up.zx().vmo_create_child(root, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, 2 * P).unwrap();
    up.zx().vmo_write(clone, &[0xf0], 0).unwrap();
    up.zx().pager_detach_vmo(up.pager, root).unwrap();
    up.expect_complete(5);
    assert_eq!(up.env.read(clone, 0, 2), [0xf0, tag(5, 0)]);
    let mut b = [0; 1];
    assert_eq!(up.zx().vmo_read(clone, &mut b, P), Err(Status::BadState));
}

#[test]
fn ops_on_pager_vmos_and_their_children() {
    let up = Arc::new(UserPager::new());
    let root = up.vmo(4, 6);
    let clone = up.zx().vmo_create_child(root, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, 4 * P).unwrap();
    let slice = up.zx().vmo_create_child(root, ZX_VMO_CHILD_SLICE, 2 * P, 2 * P).unwrap();
    for vmo in [root, clone, slice] {
        assert_eq!(up.zx().vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, P, &mut []), Err(Status::NotSupported));
    }
    // PREFETCH through the slice asks for the root's pages.
    let u = up.clone();
    let t = spawn(move || u.zx().vmo_op_range(slice, ZX_VMO_OP_PREFETCH, 0, 2 * P, &mut []));
    up.expect_read(6, 2, 2);
    up.supply(root, 6, 2, 2);
    t.join().unwrap();
    // ALWAYS_NEED through the clone asks for what it sees and forks nothing.
    let u = up.clone();
    let t = spawn(move || u.zx().vmo_op_range(clone, ZX_VMO_OP_ALWAYS_NEED, 0, 4 * P, &mut []));
    up.expect_read(6, 0, 2);
    up.supply(root, 6, 0, 2);
    t.join().unwrap();
    assert_eq!(up.env.machine.used_frames(), 4);
    // COMMIT of the clone forks its pages; the root needs no more requests.
    up.zx().vmo_op_range(clone, ZX_VMO_OP_COMMIT, 0, 4 * P, &mut []).unwrap();
    assert_eq!(up.env.machine.used_frames(), 8);
    up.expect_no_request();
    // DONT_NEED is a hint that changes nothing.
    up.zx().vmo_op_range(root, ZX_VMO_OP_DONT_NEED, 0, 4 * P, &mut []).unwrap();
    assert_eq!(page(&up, root, 3), filled(tag(6, 3)));
}

#[test]
fn vmar_op_range_commits_and_prefetches_through_mappings() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(4, 7);
    let va = up.env.map_rw(vmo, 4);
    let u = up.clone();
    let root = up.zx().root_vmar();
    let t = spawn(move || u.zx().vmar_op_range(root, ZX_VMAR_OP_COMMIT, va, 2 * P, &mut []));
    up.expect_read(7, 0, 2);
    up.fail(vmo, 0, 2, Status::IoDataIntegrity);
    assert_eq!(t.join(), Err(Status::IoDataIntegrity));
    let u = up.clone();
    let t = spawn(move || u.zx().vmar_op_range(root, ZX_VMAR_OP_PREFETCH, va, 4 * P, &mut []));
    up.expect_read(7, 0, 4);
    up.supply(vmo, 7, 0, 4);
    t.join().unwrap();
    assert_eq!(up.env.load(va + 3 * P, 1), Ok(vec![tag(7, 3)]));
    up.expect_no_request();
}

#[test]
fn a_root_shrink_unmaps_what_a_clones_mapping_saw_of_it() {
    // Found by the model check (zx-model): the shrink clipped the clone's
    // window onto the root before telling the clone's mappings, which kept
    // translations to the freed root pages.
    let up = UserPager::new();
    let root = up.vmo_with(4, 1, ZX_VMO_RESIZABLE);
    let clone = up.zx().vmo_create_child(root, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, 4 * P).unwrap();
    up.supply(root, 1, 0, 4);
    let va = up.env.map_rw(clone, 4);
    for page in 0..4 {
        assert_eq!(up.env.load(va + page * P, 1), Ok(vec![tag(1, page)]));
    }
    up.zx().vmo_set_size(root, P).unwrap();
    assert_eq!(up.env.load(va, 1), Ok(vec![tag(1, 0)]));
    for page in 1..4 {
        assert_eq!(up.env.load(va + page * P, 1), Ok(vec![0]), "page {page} is past the root's end");
    }
    up.expect_no_request();
}

#[test]
fn a_clone_of_a_slice_sees_nothing_past_the_slice() {
    // Found by the model check: the clone's window onto the root ran to the
    // root's end, not the slice's (digest §2.10: out-of-parent ranges read
    // zero).
    let up = UserPager::new();
    let root = up.vmo(4, 1);
    up.supply(root, 1, 0, 4);
    let slice = up.zx().vmo_create_child(root, ZX_VMO_CHILD_SLICE, P, P).unwrap();
    let clone = up.zx().vmo_create_child(slice, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, 3 * P).unwrap();
    assert_eq!(page(&up, clone, 0), filled(tag(1, 1)));
    for p in 1..3 {
        assert_eq!(page(&up, clone, p), filled(0), "page {p} is past the slice");
    }
    let va = up.env.map_rw(clone, 3);
    assert_eq!(up.env.load(va + 2 * P, 1), Ok(vec![0]));
}

#[test]
fn a_clones_mapping_reads_what_its_vmo_read_reads_after_a_root_write_into_a_zero_range() {
    // Found by the model check: the root's write into a zero range gave it
    // a new page, but the clone's mapping kept the zero frame it had mapped
    // there, while vmo_read of the clone read the write.
    let up = UserPager::new();
    let root = up.vmo(2, 1);
    up.supply(root, 1, 0, 2);
    let clone = up.zx().vmo_create_child(root, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, 2 * P).unwrap();
    up.zx().vmo_op_range(root, ZX_VMO_OP_ZERO, P, P, &mut []).unwrap();
    let va = up.env.map_rw(clone, 2);
    assert_eq!(up.env.load(va + P, 1), Ok(vec![0]));
    up.zx().vmo_write(root, &[0x5a], P).unwrap();
    assert_eq!(page(&up, clone, 1)[0], 0x5a, "the clone sees the root's page");
    assert_eq!(up.env.load(va + P, 1), Ok(vec![0x5a]), "and so does its mapping");
}
