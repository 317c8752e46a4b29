//! `zx_vmo_set_cache_policy` (digest §1.10, §3.6, §4.4 Cache,
//! CachePolicyRace): its errors and state rules, what an uncached VMO
//! refuses, and translations that carry the policy's memory type.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use support::*;
use vm_core::platform::{CacheOp, MmuFlags};
use zx::options::*;
use zx::{Handle, Rights, Status};

fn policy(env: &Env, vmo: Handle) -> u32 {
    env.zx.object_get_info_vmo(vmo).unwrap().cache_policy
}

#[test]
fn argument_and_rights_errors() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let bad = Handle::from_raw(0x7fff_fff3);
    // The policy is checked before the handle.
    assert_eq!(env.zx.vmo_set_cache_policy(bad, ZX_CACHE_POLICY_MASK + 1), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmo_set_cache_policy(vmo, 1 << 8), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmo_set_cache_policy(bad, ZX_CACHE_POLICY_UNCACHED), Err(Status::BadHandle));
    let port = env.zx.port_create(0).unwrap();
    assert_eq!(env.zx.vmo_set_cache_policy(port, ZX_CACHE_POLICY_UNCACHED), Err(Status::WrongType));
    let no_map = env.with_rights(vmo, Rights::DEFAULT_VMO - Rights::MAP);
    assert_eq!(env.zx.vmo_set_cache_policy(no_map, ZX_CACHE_POLICY_UNCACHED), Err(Status::AccessDenied));
    assert_eq!(policy(&env, vmo), ZX_CACHE_POLICY_CACHED, "nothing changed");
    for p in [
        ZX_CACHE_POLICY_UNCACHED,
        ZX_CACHE_POLICY_UNCACHED_DEVICE,
        ZX_CACHE_POLICY_WRITE_COMBINING,
        ZX_CACHE_POLICY_CACHED,
    ] {
        env.zx.vmo_set_cache_policy(vmo, p).unwrap();
        assert_eq!(policy(&env, vmo), p);
    }
    env.close_all_and_check_clean(&[vmo, port, no_map]);
}

#[test]
fn bad_state_while_mapped_related_or_committed_uncached() {
    let env = Env::new();
    let u = ZX_CACHE_POLICY_UNCACHED;
    // Mapped.
    let vmo = env.vmo(1);
    let va = env.map_rw(vmo, 1);
    assert_eq!(env.zx.vmo_set_cache_policy(vmo, u), Err(Status::BadState));
    env.zx.vmar_unmap(env.zx.root_vmar(), va, P).unwrap();
    // With a child, and as a child (of any kind).
    let slice = env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 0, P).unwrap();
    let snapshot = env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, P).unwrap();
    assert_eq!(env.zx.vmo_set_cache_policy(vmo, u), Err(Status::BadState));
    assert_eq!(env.zx.vmo_set_cache_policy(slice, u), Err(Status::BadState));
    assert_eq!(env.zx.vmo_set_cache_policy(snapshot, u), Err(Status::BadState));
    env.zx.handle_close(slice).unwrap();
    env.zx.handle_close(snapshot).unwrap();
    // Cached to uncached with pages committed: allowed, the pages cleaned
    // and invalidated first; back, or to another uncached policy: not.
    env.zx.vmo_write(vmo, &[1], 0).unwrap();
    let _ = env.machine.cache.take();
    env.zx.vmo_set_cache_policy(vmo, u).unwrap();
    let ops = env.machine.cache.take();
    assert_eq!(ops.len(), 1);
    assert_eq!((ops[0].0, ops[0].2), (CacheOp::CleanInvalidate, P));
    assert_eq!(env.zx.vmo_set_cache_policy(vmo, ZX_CACHE_POLICY_CACHED), Err(Status::BadState));
    assert_eq!(env.zx.vmo_set_cache_policy(vmo, ZX_CACHE_POLICY_WRITE_COMBINING), Err(Status::BadState));
    env.zx.vmo_op_range(vmo, zx::ops::ZX_VMO_OP_DECOMMIT, 0, P, &mut []).unwrap();
    env.zx.vmo_set_cache_policy(vmo, ZX_CACHE_POLICY_CACHED).unwrap();
    env.close_all_and_check_clean(&[vmo]);
}

#[test]
fn an_uncached_vmo_refuses_copies_and_snapshots_but_not_slices() {
    let env = Env::new();
    let vmo = env.vmo(2);
    env.zx.vmo_set_cache_policy(vmo, ZX_CACHE_POLICY_UNCACHED_DEVICE).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(env.zx.vmo_read(vmo, &mut buf, 0), Err(Status::BadState));
    assert_eq!(env.zx.vmo_write(vmo, &buf, 0), Err(Status::BadState));
    assert_eq!(env.zx.vmo_read(vmo, &mut buf, 3 * P), Err(Status::OutOfRange), "the range comes first");
    for kind in
        [ZX_VMO_CHILD_SNAPSHOT, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, ZX_VMO_CHILD_SNAPSHOT_MODIFIED]
    {
        assert_eq!(env.zx.vmo_create_child(vmo, kind, 0, P), Err(Status::BadState));
    }
    let slice = env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 0, P).unwrap();
    assert_eq!(policy(&env, slice), ZX_CACHE_POLICY_UNCACHED_DEVICE, "a slice maps as its parent");
    assert_eq!(env.zx.vmo_read(slice, &mut buf, 0), Err(Status::BadState));
    env.zx.vmo_op_range(vmo, zx::ops::ZX_VMO_OP_COMMIT, 0, 2 * P, &mut []).unwrap();
    env.zx.vmo_op_range(vmo, zx::ops::ZX_VMO_OP_CACHE_CLEAN, 0, 2 * P, &mut []).unwrap();
    env.close_all_and_check_clean(&[slice, vmo]);
}

#[test]
fn translations_carry_the_policys_memory_type() {
    let env = Env::new();
    for (policy, bit) in [
        (ZX_CACHE_POLICY_CACHED, MmuFlags::empty()),
        (ZX_CACHE_POLICY_UNCACHED, MmuFlags::UNCACHED),
        (ZX_CACHE_POLICY_UNCACHED_DEVICE, MmuFlags::UNCACHED_DEVICE),
        (ZX_CACHE_POLICY_WRITE_COMBINING, MmuFlags::WRITE_COMBINING),
    ] {
        let vmo = env.vmo(2);
        env.zx.vmo_set_cache_policy(vmo, policy).unwrap();
        let va = env.map_rw(vmo, 2);
        env.store(va, &[1]).unwrap();
        env.load(va + P, 1).unwrap();
        for page in [va, va + P] {
            let pte = env.mmu.pte(page).expect("mapped by the fault");
            assert_eq!(pte.flags - MmuFlags::PERMS, bit, "policy {policy}");
        }
        // A protect keeps the memory type.
        env.zx.vmar_protect(env.zx.root_vmar(), ZX_VM_PERM_READ, va, 2 * P).unwrap();
        assert_eq!(env.mmu.pte(va).unwrap().flags, MmuFlags::READ | bit);
        // So does a MAP_RANGE mapping.
        let again =
            env.zx.vmar_map(env.zx.root_vmar(), ZX_VM_PERM_READ | ZX_VM_MAP_RANGE, 0, vmo, 0, P).unwrap();
        assert_eq!(env.mmu.pte(again).unwrap().flags, MmuFlags::READ | bit);
        env.zx.vmar_unmap(env.zx.root_vmar(), va, 2 * P).unwrap();
        env.zx.vmar_unmap(env.zx.root_vmar(), again, P).unwrap();
        env.zx.handle_close(vmo).unwrap();
    }
    env.close_all_and_check_clean(&[]);
}

#[test]
fn mappings_made_while_the_policy_is_toggled_agree_with_it() {
    // Digest §4.4 CachePolicyRace: every mapping takes the policy that was
    // set when it was made, never one set while it was mapped.
    let env = Arc::new(Env::new());
    let vmo = env.vmo(1);
    env.zx.vmo_write(vmo, &[1], 0).unwrap();
    env.zx.vmo_op_range(vmo, zx::ops::ZX_VMO_OP_DECOMMIT, 0, P, &mut []).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let toggler = {
        let (env, stop) = (env.clone(), stop.clone());
        spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let p = if i.is_multiple_of(2) { ZX_CACHE_POLICY_UNCACHED } else { ZX_CACHE_POLICY_CACHED };
                i += u64::from(env.zx.vmo_set_cache_policy(vmo, p).is_ok());
            }
        })
    };
    // Map until mappings of both policies were seen.
    let (mut seen_cached, mut seen_uncached) = (false, false);
    let start = std::time::Instant::now();
    while !(seen_cached && seen_uncached) {
        assert!(start.elapsed() < PATIENCE, "the policy never changed between mappings");
        let va = env.zx.vmar_map(env.zx.root_vmar(), ZX_VM_PERM_READ, 0, vmo, 0, P).unwrap();
        let during = policy(&env, vmo);
        env.load(va, 1).unwrap();
        let uncached = env.mmu.pte(va).unwrap().flags.contains(MmuFlags::UNCACHED);
        assert_eq!(uncached, during == ZX_CACHE_POLICY_UNCACHED, "the policy cannot change while mapped");
        seen_cached |= !uncached;
        seen_uncached |= uncached;
        env.zx.vmar_unmap(env.zx.root_vmar(), va, P).unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    toggler.join();
    env.close_all_and_check_clean(&[vmo]);
}
