//! Copy-on-write through mappings (digest §3.4, §4.5): isolation in both
//! directions at depth ≥ 3, write protection of shared pages, read-only
//! MAP_RANGE of clones, protect upgrades, resize and decommit seen by
//! mappings.

mod vmar_support;

use std::sync::Arc;

use vm_core::fault::Access;
use vm_core::mock::MmuOp;
use vm_core::platform::MmuFlags;
use vm_core::vmar::{VmFlags, VmarOp};
use vm_core::vmo::{ChildKind, Vmo, VmoOptions};
use vm_core::Status;
use vmar_support::*;

const PAGES: u64 = 3;

/// Page i of a fresh VMO holds the tag `i + 1` in its first byte
/// (vmo-clone2.cc's InitPageTaggedVmo).
fn tagged(env: &Env) -> Arc<Vmo> {
    let vmo = env.vmo(PAGES);
    for page in 0..PAGES {
        vmo.write(page * P, &[page as u8 + 1]).unwrap();
    }
    vmo
}

fn snapshot(vmo: &Arc<Vmo>) -> Arc<Vmo> {
    vmo.create_child(ChildKind::Snapshot, 0, vmo.size(), false).unwrap()
}

fn tags(env: &Env, va: u64) -> Vec<u8> {
    (0..PAGES).map(|page| env.load(va + page * P, 1)[0]).collect()
}

#[test]
fn snapshot_write_protects_the_parents_mappings() {
    let env = Env::new();
    let parent = tagged(&env);
    let va = env.map(&parent, RW);
    env.store(va, &[10]);
    assert!(env.mmu.pte(va).unwrap().flags.contains(MmuFlags::WRITE));
    env.mmu.take_log();

    let child = snapshot(&parent);
    // The parent's writable translation lost WRITE ...
    assert!(!env.mmu.pte(va).unwrap().flags.contains(MmuFlags::WRITE));
    assert!(env.mmu.log().iter().any(
        |op| matches!(op, MmuOp::Protect { va: v, flags, .. } if *v == va && !flags.contains(MmuFlags::WRITE))
    ));
    // ... so a store through it faults and forks: the child keeps the old
    // contents.
    env.store(va, &[11]);
    assert_eq!(vmo_read(&child, 0, 1), [10]);
    assert_eq!(vmo_read(&parent, 0, 1), [11]);
    assert_eq!(env.load(va, 1), [11]);
}

#[test]
fn isolation_in_both_directions_at_depth_three() {
    let env = Env::new();
    let root = tagged(&env);
    let c1 = snapshot(&root);
    let c2 = snapshot(&c1);
    let c3 = snapshot(&c2);
    let chain = [root.clone(), c1.clone(), c2.clone(), c3.clone()];
    let vas: Vec<u64> = chain.iter().map(|v| env.map(v, RW)).collect();
    for &va in &vas {
        assert_eq!(tags(&env, va), [1, 2, 3]);
    }
    // Read faults map shared frames read-only and allocate nothing.
    let used = env.machine.used_frames();
    assert_eq!(used as u64, PAGES);
    for &va in &vas[1..] {
        let pte = env.mmu.pte(va).unwrap();
        assert_eq!(pte.flags, MmuFlags::READ);
    }

    // Writes through the deepest clone stay there.
    env.store(vas[3] + P, &[30]);
    // Writes through the root stay there.
    env.store(vas[0], &[40]);
    // Writes through a middle clone stay there.
    env.store(vas[2] + 2 * P, &[50]);
    assert_eq!(tags(&env, vas[0]), [40, 2, 3]);
    assert_eq!(tags(&env, vas[1]), [1, 2, 3]);
    assert_eq!(tags(&env, vas[2]), [1, 2, 50]);
    assert_eq!(tags(&env, vas[3]), [1, 30, 3]);
    // The VMOs agree with what the mappings show.
    for (vmo, &va) in chain.iter().zip(&vas) {
        let through_vmo: Vec<u8> = (0..PAGES).map(|p| vmo_read(vmo, p * P, 1)[0]).collect();
        assert_eq!(through_vmo, tags(&env, va));
    }
    // A writer's page is private and writable; the others' stay read-only.
    let writer = env.mmu.pte(vas[3] + P).unwrap();
    assert_eq!(writer.flags, MmuFlags::READ | MmuFlags::WRITE);
    assert_ne!(writer.frame, env.mmu.pte(vas[1] + P).unwrap().frame);
    assert_eq!(env.mmu.pte(vas[1] + P).unwrap().flags, MmuFlags::READ);

    // Closing the middle of the chain keeps every remaining view intact.
    for &va in &vas[1..3] {
        env.root.unmap(va, PAGES * P, false).unwrap();
    }
    drop((c1, c2));
    assert_eq!(tags(&env, vas[0]), [40, 2, 3]);
    assert_eq!(tags(&env, vas[3]), [1, 30, 3]);
    env.store(vas[3], &[60]);
    assert_eq!(tags(&env, vas[0]), [40, 2, 3]);
    assert_eq!(tags(&env, vas[3]), [60, 30, 3]);
}

#[test]
fn closing_relatives_keeps_mapped_contents() {
    let env = Env::new();
    let root = tagged(&env);
    let c1 = snapshot(&root);
    let c2 = snapshot(&c1);
    let va2 = env.map(&c2, RW);
    assert_eq!(tags(&env, va2), [1, 2, 3]);
    env.store(va2 + P, &[20]);
    drop(root);
    drop(c1);
    // Pages migrate (or stay) so the mapping still shows the same contents.
    assert_eq!(tags(&env, va2), [1, 20, 3]);
    env.store(va2 + 2 * P, &[21]);
    assert_eq!(tags(&env, va2), [1, 20, 21]);
    assert_eq!(env.machine.used_frames() as u64, PAGES);
}

#[test]
fn read_only_map_range_of_a_clone_forks_nothing() {
    // Digest §4.5 MapRangeReadOnly, §2.12 MAP_RANGE on COW clones.
    let env = Env::new();
    let parent = tagged(&env);
    let clone = snapshot(&parent);
    let used = env.machine.used_frames();
    let ro = env.map(&clone, R | VmFlags::MAP_RANGE);
    assert_eq!(env.mmu.ptes().len() as u64, PAGES);
    let rw = env.map(&clone, RW | VmFlags::MAP_RANGE);
    for page in 0..PAGES {
        assert_eq!(env.mmu.pte(ro + page * P).unwrap().flags, MmuFlags::READ);
        // Even a writable mapping gets the shared pages read-only.
        assert_eq!(env.mmu.pte(rw + page * P).unwrap().flags, MmuFlags::READ);
    }
    assert_eq!(env.machine.used_frames(), used);
    assert_eq!(tags(&env, ro), [1, 2, 3]);
    // The first write through it still forks.
    env.store(rw, &[9]);
    assert_eq!(env.machine.used_frames(), used + 1);
    assert_eq!(vmo_read(&parent, 0, 1), [1]);
    assert_eq!(env.load(ro, 1), [9]);
}

#[test]
fn protect_upgrade_does_not_expose_shared_pages() {
    // Digest §2.13 (DirtyAfterMapProtect for COW pages).
    let env = Env::new();
    let parent = tagged(&env);
    let clone = snapshot(&parent);
    let va = env.map(&clone, R | VmFlags::CAN_MAP_WRITE);
    assert_eq!(env.load(va, 1), [1]);
    let shared = env.mmu.pte(va).unwrap().frame;
    env.root.protect(opts(RW), va, PAGES * P, false).unwrap();
    let pte = env.mmu.pte(va).unwrap();
    assert_eq!((pte.frame, pte.flags), (shared, MmuFlags::READ));
    assert_eq!(env.mmu.touch(va, Access::Write), Err(Access::Write));
    env.store(va, &[7]);
    assert_ne!(env.mmu.pte(va).unwrap().frame, shared);
    assert_eq!(vmo_read(&parent, 0, 1), [1]);
    assert_eq!(vmo_read(&clone, 0, 1), [7]);
}

#[test]
fn commit_through_a_clone_mapping_forks_into_the_clone() {
    // Digest §2.14 OpCommitCloneVmar.
    let env = Env::new();
    let parent = tagged(&env);
    let clone = snapshot(&parent);
    let va = env.map(&clone, RW);
    assert_eq!(env.load(va, 1), [1]);
    let used = env.machine.used_frames();
    env.root.op_range(VmarOp::Commit, va, 2 * P).unwrap();
    assert_eq!(env.machine.used_frames(), used + 2);
    // The read-only translation of the shared page went away with the fork.
    assert!(env.mmu.pte(va).is_none());
    assert_eq!(tags(&env, va), [1, 2, 3]);
    env.store(va, &[5]);
    assert_eq!(vmo_read(&parent, 0, 1), [1]);
    assert_eq!(tags(&env, va), [5, 2, 3]);
    // DECOMMIT of a clone is the VMO's NOT_SUPPORTED.
    assert_eq!(env.root.op_range(VmarOp::Decommit, va, P), Err(Status::NotSupported));
}

#[test]
fn decommit_of_the_vmo_unmaps_the_mapping() {
    let env = Env::new();
    let vmo = env.vmo(2);
    let va = env.map(&vmo, RW);
    env.store(va + P, b"x");
    env.mmu.take_log();
    vmo.decommit(P, P).unwrap();
    assert_eq!(env.mmu.log(), vec![MmuOp::Unmap { va: va + P, len: P }]);
    assert_eq!(env.load(va + P, 1), [0]);
    assert_eq!(env.machine.used_frames(), 0);
}

#[test]
fn shrinking_a_mapped_vmo_makes_faults_out_of_range() {
    // Digest §4.4 ResizeHazard / GrowMappedVmo.
    let env = Env::new();
    let vmo = Vmo::create(&env.machine.ctx, 2 * P, VmoOptions::RESIZABLE).unwrap();
    let va = env.root.map(opts(RW), 0, &vmo, 0, 4 * P).unwrap();
    env.store(va + P, b"gone");
    vmo.set_size(P).unwrap();
    assert!(env.mmu.pte(va + P).is_none());
    assert_eq!(env.access(va + P, Access::Read), Err(Status::OutOfRange));
    assert_eq!(env.machine.used_frames(), 0);
    vmo.set_size(4 * P).unwrap();
    env.store(va + 3 * P, b"grown");
    assert_eq!(vmo_read(&vmo, 3 * P, 5), b"grown");
    assert_eq!(env.load(va + P, 4), [0; 4]);
}

/// A copy-on-write fault replaces the faulting mapping's read-only
/// translation itself (one map, break before make in the MMU), and only the
/// other mappings that may translate the shared frame are told to unmap it.
#[test]
fn a_fork_replaces_its_own_translation_and_unmaps_the_others() {
    let env = Env::new();
    let parent = tagged(&env);
    let child = snapshot(&parent);
    let (va, other) = (env.map(&child, RW), env.map(&child, RW));
    assert_eq!(tags(&env, va), [1, 2, 3]);
    assert_eq!(tags(&env, other), [1, 2, 3]);
    let shared = env.mmu.pte(va).unwrap().frame;
    env.mmu.take_log();

    env.store(va, &[9]);
    let log = env.mmu.take_log();
    let private = env.mmu.pte(va).unwrap();
    assert_ne!(private.frame, shared);
    assert!(private.flags.contains(MmuFlags::WRITE));
    assert_eq!(
        log.iter().filter(|op| matches!(op, MmuOp::Map { va: v, .. } if *v == va)).count(),
        1,
        "one fault, one install: {log:?}"
    );
    assert!(!log.iter().any(|op| matches!(op, MmuOp::Unmap { va: v, .. } if *v == va)), "{log:?}");
    assert!(env.mmu.pte(other).is_none(), "the other mapping's translation of the shared frame went");
    assert_eq!(env.load(other, 1), [9]);
    assert_eq!(vmo_read(&parent, 0, 1), [1]);
}
