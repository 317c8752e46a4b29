//! `zx_vmo_op_range` (`vmo_op_range.md`, digest §2.11): rights per op, every
//! error condition, and translations of CacheOp, DecommitMisaligned,
//! OpOutOfBounds, Commit, Prefetch, LockUnlock (VmoTestCase) and
//! ZeroLengths, UnalignedSubPage (VmoZeroTestCase).

mod support;

use support::*;
use vm_core::platform::CacheOp;
use zx::ops::*;
use zx::options::*;
use zx::{Handle, Rights, Status, VmoLockState};

const ALL_OPS: [u32; 13] = [
    ZX_VMO_OP_COMMIT,
    ZX_VMO_OP_DECOMMIT,
    ZX_VMO_OP_LOCK,
    ZX_VMO_OP_UNLOCK,
    ZX_VMO_OP_CACHE_SYNC,
    ZX_VMO_OP_CACHE_INVALIDATE,
    ZX_VMO_OP_CACHE_CLEAN,
    ZX_VMO_OP_CACHE_CLEAN_INVALIDATE,
    ZX_VMO_OP_ZERO,
    ZX_VMO_OP_TRY_LOCK,
    ZX_VMO_OP_DONT_NEED,
    ZX_VMO_OP_ALWAYS_NEED,
    ZX_VMO_OP_PREFETCH,
];

const CACHE_OPS: [(u32, CacheOp); 4] = [
    (ZX_VMO_OP_CACHE_SYNC, CacheOp::Sync),
    (ZX_VMO_OP_CACHE_CLEAN, CacheOp::Clean),
    (ZX_VMO_OP_CACHE_CLEAN_INVALIDATE, CacheOp::CleanInvalidate),
    (ZX_VMO_OP_CACHE_INVALIDATE, CacheOp::Invalidate),
];

fn op(env: &Env, vmo: Handle, op: u32, offset: u64, size: u64) -> Result<(), Status> {
    if op == ZX_VMO_OP_LOCK {
        let mut state = [0u8; VmoLockState::SIZE];
        env.zx.vmo_op_range(vmo, op, offset, size, &mut state)
    } else {
        env.zx.vmo_op_range(vmo, op, offset, size, &mut [])
    }
}

#[test]
fn op_codes_have_zircon_values() {
    assert_eq!(ALL_OPS, [1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    assert_eq!(
        [ZX_VMAR_OP_COMMIT, ZX_VMAR_OP_DECOMMIT, ZX_VMAR_OP_MAP_RANGE, ZX_VMAR_OP_ZERO],
        [1, 2, 3, 10]
    );
    assert_eq!([ZX_VMAR_OP_DONT_NEED, ZX_VMAR_OP_ALWAYS_NEED, ZX_VMAR_OP_PREFETCH], [12, 13, 14]);
}

#[test]
fn unknown_ops_are_invalid_args() {
    let env = Env::new();
    let vmo = env.vmo(1);
    for code in [0, 5, 15, 16, 100, u32::MAX] {
        assert_eq!(op(&env, vmo, code, 0, P), Err(Status::InvalidArgs), "op {code}");
    }
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn ops_needing_write() {
    // COMMIT, DECOMMIT, ZERO and CACHE_INVALIDATE need WRITE.
    let env = Env::new();
    let vmo = env.vmo(1);
    let ro = env.with_rights(vmo, Rights::DEFAULT_VMO - Rights::WRITE);
    for code in [ZX_VMO_OP_COMMIT, ZX_VMO_OP_DECOMMIT, ZX_VMO_OP_ZERO, ZX_VMO_OP_CACHE_INVALIDATE] {
        assert_eq!(op(&env, ro, code, 0, P), Err(Status::AccessDenied), "op {code}");
        // Rights come before range and alignment checks.
        assert_eq!(op(&env, ro, code, 1, 100 * P), Err(Status::AccessDenied), "op {code}");
        let wo = env.with_rights(vmo, Rights::WRITE);
        assert_eq!(op(&env, wo, code, 0, P), Ok(()), "op {code}");
        env.zx.handle_close(wo).unwrap();
    }
    assert_eq!(env.machine.used_frames(), 0, "the failed COMMIT took nothing");
    env.close_all_and_check_frames(&[vmo, ro]);
}

#[test]
fn ops_needing_read() {
    // CACHE_SYNC, CACHE_CLEAN, CACHE_CLEAN_INVALIDATE and PREFETCH need READ.
    let env = Env::new();
    let vmo = env.vmo(1);
    let wo = env.with_rights(vmo, Rights::DEFAULT_VMO - Rights::READ);
    let ro = env.with_rights(vmo, Rights::READ);
    for code in
        [ZX_VMO_OP_CACHE_SYNC, ZX_VMO_OP_CACHE_CLEAN, ZX_VMO_OP_CACHE_CLEAN_INVALIDATE, ZX_VMO_OP_PREFETCH]
    {
        assert_eq!(op(&env, wo, code, 0, P), Err(Status::AccessDenied), "op {code}");
        assert_eq!(op(&env, wo, code, 0, 0), Err(Status::AccessDenied), "op {code}");
        assert_eq!(op(&env, ro, code, 0, P), Ok(()), "op {code}");
    }
    env.close_all_and_check_frames(&[vmo, wo, ro]);
}

#[test]
fn hints_need_no_rights() {
    let env = Env::new();
    let vmo = env.vmo(2);
    let bare = env.with_rights(vmo, Rights::empty());
    for code in [ZX_VMO_OP_DONT_NEED, ZX_VMO_OP_ALWAYS_NEED] {
        assert_eq!(op(&env, bare, code, 0, 2 * P), Ok(()));
        assert_eq!(op(&env, bare, code, 3, 5), Ok(()));
        assert_eq!(op(&env, bare, code, P, 2 * P), Err(Status::OutOfRange));
    }
    // Every other op needs some right.
    for code in ALL_OPS {
        if code != ZX_VMO_OP_DONT_NEED && code != ZX_VMO_OP_ALWAYS_NEED {
            assert_eq!(op(&env, bare, code, 0, P), Err(Status::AccessDenied), "op {code}");
        }
    }
    env.close_all_and_check_frames(&[vmo, bare]);
}

#[test]
fn lock_ops_need_read_or_write() {
    let env = Env::new();
    let vmo = env.zx.vmo_create(P, ZX_VMO_DISCARDABLE).unwrap();
    let none = env.with_rights(vmo, Rights::DEFAULT_VMO - Rights::READ - Rights::WRITE);
    for code in [ZX_VMO_OP_LOCK, ZX_VMO_OP_TRY_LOCK, ZX_VMO_OP_UNLOCK] {
        assert_eq!(op(&env, none, code, 0, P), Err(Status::AccessDenied), "op {code}");
    }
    for rights in [Rights::READ, Rights::WRITE] {
        let handle = env.with_rights(vmo, rights);
        assert_eq!(op(&env, handle, ZX_VMO_OP_LOCK, 0, P), Ok(()));
        assert_eq!(op(&env, handle, ZX_VMO_OP_TRY_LOCK, 0, P), Ok(()));
        assert_eq!(op(&env, handle, ZX_VMO_OP_UNLOCK, 0, P), Ok(()));
        assert_eq!(op(&env, handle, ZX_VMO_OP_UNLOCK, 0, P), Ok(()));
        env.zx.handle_close(handle).unwrap();
    }
    env.close_all_and_check_frames(&[vmo, none]);
}

#[test]
fn commit_allocates_and_decommit_frees() {
    // VmoTestCase.Commit.
    let env = Env::new();
    let vmo = env.vmo(4);
    op(&env, vmo, ZX_VMO_OP_COMMIT, 0, 4 * P).unwrap();
    assert_eq!(env.machine.used_frames(), 4);
    env.zx.vmo_write(vmo, &[9; 4], P).unwrap();
    op(&env, vmo, ZX_VMO_OP_DECOMMIT, P, P).unwrap();
    assert_eq!(env.machine.used_frames(), 3);
    assert_eq!(env.read(vmo, P, 4), [0; 4]);
    // A commit rounds out to pages.
    op(&env, vmo, ZX_VMO_OP_COMMIT, P + 1, 1).unwrap();
    assert_eq!(env.machine.used_frames(), 4);
    assert_eq!(op(&env, vmo, ZX_VMO_OP_COMMIT, P, u64::MAX - P + 1), Err(Status::OutOfRange));
    op(&env, vmo, ZX_VMO_OP_DECOMMIT, 0, 4 * P).unwrap();
    assert_eq!(env.machine.used_frames(), 0);
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn decommit_misaligned() {
    // VmoTestCase.DecommitMisaligned.
    let env = Env::new();
    let vmo = env.vmo(2);
    assert_eq!(op(&env, vmo, ZX_VMO_OP_DECOMMIT, 0x10, 0x100), Err(Status::InvalidArgs));
    assert_eq!(op(&env, vmo, ZX_VMO_OP_COMMIT, 0x10, 0x100), Ok(()));
    assert_eq!(op(&env, vmo, ZX_VMO_OP_DECOMMIT, 0x10, 0x100), Err(Status::InvalidArgs));
    assert_eq!(op(&env, vmo, ZX_VMO_OP_DECOMMIT, 0, 0x100), Err(Status::InvalidArgs));
    // INVALID_ARGS comes before OUT_OF_RANGE.
    assert_eq!(op(&env, vmo, ZX_VMO_OP_DECOMMIT, 0x10, 10 * P), Err(Status::InvalidArgs));
    assert_eq!(env.machine.used_frames(), 1, "nothing was decommitted");
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn decommit_of_a_clone_is_not_supported() {
    let env = Env::new();
    let parent = env.vmo(1);
    let clone = env.zx.vmo_create_child(parent, ZX_VMO_CHILD_SNAPSHOT, 0, P).unwrap();
    assert_eq!(op(&env, clone, ZX_VMO_OP_DECOMMIT, 0, P), Err(Status::NotSupported));
    // Slices of an anonymous VMO decommit the parent's pages, within the
    // slice (DecommitChildSliceTests).
    let other = env.vmo(4);
    env.zx.vmo_write(other, &[1; 4 * 4096], 0).unwrap();
    let slice = env.zx.vmo_create_child(other, ZX_VMO_CHILD_SLICE, P, 2 * P).unwrap();
    assert_eq!(op(&env, slice, ZX_VMO_OP_DECOMMIT, 0, 2 * P), Ok(()));
    assert_eq!(env.read(other, P - 1, 2), [1, 0]);
    assert_eq!(op(&env, slice, ZX_VMO_OP_DECOMMIT, 0, 3 * P), Err(Status::OutOfRange));
    env.close_all_and_check_frames(&[parent, clone, other, slice]);
}

#[test]
fn op_out_of_bounds() {
    // VmoTestCase.OpOutOfBounds: every op over a 2-page range of a 1-page
    // VMO is OUT_OF_RANGE.
    let env = Env::new();
    let vmo = env.zx.vmo_create(P, ZX_VMO_DISCARDABLE).unwrap();
    for code in ALL_OPS {
        assert_eq!(op(&env, vmo, code, 0, 2 * P), Err(Status::OutOfRange), "op {code}");
        assert_eq!(op(&env, vmo, code, P, P), Err(Status::OutOfRange), "op {code}");
    }
    let plain = env.vmo(1);
    for code in ALL_OPS {
        if ![ZX_VMO_OP_LOCK, ZX_VMO_OP_TRY_LOCK, ZX_VMO_OP_UNLOCK].contains(&code) {
            assert_eq!(op(&env, plain, code, 0, 2 * P), Err(Status::OutOfRange), "op {code}");
        }
    }
    assert_eq!(env.machine.used_frames(), 0);
    env.close_all_and_check_frames(&[vmo, plain]);
}

#[test]
fn cache_op_ranges() {
    // VmoTestCase.CacheOp, for each of the four ops.
    let env = Env::new();
    let size = 0x8000;
    let vmo = env.zx.vmo_create(size, 0).unwrap();
    for (code, _) in CACHE_OPS {
        for (offset, len) in [
            (0, 1),
            (1, 1),
            (0, size),
            (1, size - 1),
            (0x5200, 1),
            (0x5200, 0x800),
            (0x5200, 0x1000),
            (0x5200, 0x1200),
        ] {
            assert_eq!(op(&env, vmo, code, offset, len), Ok(()), "op {code} ({offset:#x}, {len:#x})");
        }
        assert_eq!(op(&env, vmo, code, 0, 0), Err(Status::InvalidArgs), "op {code}");
        for (offset, len) in
            [(1, size), (size, 1), (size + 1, 1), (u64::MAX - 1, 1), (u64::MAX, 1), (u64::MAX, u64::MAX)]
        {
            assert_eq!(
                op(&env, vmo, code, offset, len),
                Err(Status::OutOfRange),
                "op {code} ({offset:#x}, {len:#x})"
            );
        }
    }
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn cache_ops_reach_only_committed_pages() {
    let env = Env::new();
    let vmo = env.vmo(4);
    env.zx.vmo_write(vmo, b"x", P).unwrap();
    env.machine.cache.take();
    for (code, cache_op) in CACHE_OPS {
        op(&env, vmo, code, 0, 4 * P).unwrap();
        let calls = env.machine.cache.take();
        assert_eq!(calls.len(), 1, "op {code}: {calls:?}");
        assert_eq!((calls[0].0, calls[0].2), (cache_op, P));
        // A byte range inside the page reaches exactly those bytes.
        op(&env, vmo, code, P + 10, 20).unwrap();
        let calls = env.machine.cache.take();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].2, 20);
        assert_eq!(calls[0].1 % P, 10);
        // Uncommitted pages are skipped.
        op(&env, vmo, code, 2 * P, 2 * P).unwrap();
        assert!(env.machine.cache.take().is_empty());
    }
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn zero_lengths() {
    // VmoZeroTestCase.ZeroLengths.
    let env = Env::new();
    let vmo = env.vmo(1);
    for offset in [0, 10, P] {
        assert_eq!(op(&env, vmo, ZX_VMO_OP_ZERO, offset, 0), Ok(()));
    }
    assert_eq!(op(&env, vmo, ZX_VMO_OP_ZERO, P + 1, 0), Err(Status::OutOfRange));
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn zero_unaligned_sub_page() {
    // VmoZeroTestCase.UnalignedSubPage: ZERO(42, 91) zeroes exactly [42, 133).
    let env = Env::new();
    let vmo = env.vmo(1);
    env.zx.vmo_write(vmo, &[0xff; 4096], 0).unwrap();
    op(&env, vmo, ZX_VMO_OP_ZERO, 42, 91).unwrap();
    let contents = env.read(vmo, 0, P as usize);
    for (i, byte) in contents.iter().enumerate() {
        let expect = if (42..133).contains(&i) { 0 } else { 0xff };
        assert_eq!(*byte, expect, "byte {i}");
    }
    // Zeroing whole pages frees them.
    op(&env, vmo, ZX_VMO_OP_ZERO, 0, P).unwrap();
    assert_eq!(env.machine.used_frames(), 0);
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn prefetch() {
    // VmoTestCase.Prefetch.
    let env = Env::new();
    let vmo = env.vmo(2);
    assert_eq!(op(&env, vmo, ZX_VMO_OP_PREFETCH, 0, 0), Ok(()));
    assert_eq!(op(&env, vmo, ZX_VMO_OP_PREFETCH, 7, 100), Ok(()));
    assert_eq!(op(&env, vmo, ZX_VMO_OP_PREFETCH, 0, 2 * P), Ok(()));
    assert_eq!(op(&env, vmo, ZX_VMO_OP_PREFETCH, P, 2 * P), Err(Status::OutOfRange));
    let no_read = env.with_rights(vmo, Rights::WRITE);
    assert_eq!(op(&env, no_read, ZX_VMO_OP_PREFETCH, 0, P), Err(Status::AccessDenied));
    env.close_all_and_check_frames(&[vmo, no_read]);
}

#[test]
fn lock_needs_a_lock_state_sized_buffer() {
    let env = Env::new();
    let vmo = env.zx.vmo_create(2 * P, ZX_VMO_DISCARDABLE).unwrap();
    for len in [0, 1, VmoLockState::SIZE - 1, VmoLockState::SIZE + 1] {
        let mut buf = vec![0xee; len];
        assert_eq!(env.zx.vmo_op_range(vmo, ZX_VMO_OP_LOCK, 0, 2 * P, &mut buf), Err(Status::InvalidArgs));
        assert!(buf.iter().all(|&b| b == 0xee));
    }
    // The failed LOCKs locked nothing.
    assert_eq!(op(&env, vmo, ZX_VMO_OP_UNLOCK, 0, 2 * P), Err(Status::BadState));
    let mut buf = [0u8; VmoLockState::SIZE];
    env.zx.vmo_op_range(vmo, ZX_VMO_OP_LOCK, 0, 2 * P, &mut buf).unwrap();
    let expect = VmoLockState { offset: 0, size: 2 * P, discarded_offset: 0, discarded_size: 0 };
    assert_eq!(VmoLockState::from_bytes(&buf), expect);
    assert_eq!(buf, expect.to_bytes());
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn lock_unlock() {
    // VmoTestCase.LockUnlock (digest §2.11).
    let env = Env::new();
    let plain = env.vmo(1);
    for code in [ZX_VMO_OP_LOCK, ZX_VMO_OP_TRY_LOCK, ZX_VMO_OP_UNLOCK] {
        assert_eq!(op(&env, plain, code, 0, P), Err(Status::NotSupported), "op {code}");
    }
    let vmo = env.zx.vmo_create(2 * P, ZX_VMO_DISCARDABLE).unwrap();
    // The range must be exactly (0, size), size rounded up.
    for (offset, len) in [(0, P), (P, P), (0, 3 * P), (1, 2 * P - 1)] {
        for code in [ZX_VMO_OP_LOCK, ZX_VMO_OP_TRY_LOCK, ZX_VMO_OP_UNLOCK] {
            assert_eq!(op(&env, vmo, code, offset, len), Err(Status::OutOfRange), "op {code}");
        }
    }
    assert_eq!(op(&env, vmo, ZX_VMO_OP_UNLOCK, 0, 2 * P), Err(Status::BadState));
    assert_eq!(op(&env, vmo, ZX_VMO_OP_LOCK, 0, 2 * P - 5), Ok(()));
    env.zx.vmo_write(vmo, &[3; 8192], 0).unwrap();
    // Locked: reclaim leaves it alone.
    assert_eq!(env.machine.ctx.reclaim(), 0);
    assert_eq!(op(&env, vmo, ZX_VMO_OP_UNLOCK, 0, 2 * P), Ok(()));
    // Unlocked: reclaim discards it, TRY_LOCK fails, LOCK reports it.
    assert_eq!(env.machine.ctx.reclaim(), 2);
    assert_eq!(op(&env, vmo, ZX_VMO_OP_TRY_LOCK, 0, 2 * P), Err(Status::Unavailable));
    let mut buf = [0u8; VmoLockState::SIZE];
    env.zx.vmo_op_range(vmo, ZX_VMO_OP_LOCK, 0, 2 * P, &mut buf).unwrap();
    let state = VmoLockState::from_bytes(&buf);
    assert_eq!((state.offset, state.size), (0, 2 * P));
    assert_eq!((state.discarded_offset, state.discarded_size), (0, 2 * P));
    assert_eq!(env.read(vmo, 0, 8), [0; 8]);
    env.close_all_and_check_frames(&[plain, vmo]);
}
