//! `zx_vmar_op_range` (`vmar_op_range.md`, digest §2.14): rights per op,
//! every error condition, and the ops' effects through mappings.

mod support;

use support::*;
use vm_core::mock::MOCK_ASPACE_BASE as USER_ASPACE_BASE;
use zx::ops::*;
use zx::options::*;
use zx::{Access, Handle, Rights, Status};

const R: u32 = ZX_VM_PERM_READ;
const RW: u32 = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE;
const ALL_OPS: [u32; 7] = [
    ZX_VMAR_OP_COMMIT,
    ZX_VMAR_OP_DECOMMIT,
    ZX_VMAR_OP_MAP_RANGE,
    ZX_VMAR_OP_ZERO,
    ZX_VMAR_OP_DONT_NEED,
    ZX_VMAR_OP_ALWAYS_NEED,
    ZX_VMAR_OP_PREFETCH,
];

fn op(env: &Env, vmar: Handle, code: u32, addr: u64, len: u64) -> Result<(), Status> {
    env.zx.vmar_op_range(vmar, code, addr, len, &mut [])
}

#[test]
fn unknown_ops_are_invalid_args() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let va = env.map_rw(vmo, 1);
    for code in [0, 4, 5, 6, 7, 8, 9, 11, 15, u32::MAX] {
        assert_eq!(op(&env, env.zx.root_vmar(), code, va, P), Err(Status::InvalidArgs), "op {code}");
    }
    // The deprecated ZX_VMO_OP_DECOMMIT alias has DECOMMIT's value.
    assert_eq!(op(&env, env.zx.root_vmar(), ZX_VMO_OP_DECOMMIT, va, P), Ok(()));
    env.zx.vmar_unmap(env.zx.root_vmar(), va, P).unwrap();
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn rights_per_op() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let va = env.map_rw(vmo, 1);
    let root = env.zx.root_vmar();
    let no_write = env.with_rights(root, env.rights(root) - Rights::WRITE);
    let no_read = env.with_rights(root, env.rights(root) - Rights::READ);
    let bare = env.with_rights(root, Rights::empty());
    for code in [ZX_VMAR_OP_COMMIT, ZX_VMAR_OP_DECOMMIT, ZX_VMAR_OP_ZERO] {
        assert_eq!(op(&env, no_write, code, va, P), Err(Status::AccessDenied), "op {code}");
        assert_eq!(op(&env, no_read, code, va, P), Ok(()), "op {code}");
    }
    for code in [ZX_VMAR_OP_MAP_RANGE, ZX_VMAR_OP_PREFETCH] {
        assert_eq!(op(&env, no_read, code, va, P), Err(Status::AccessDenied), "op {code}");
        assert_eq!(op(&env, no_write, code, va, P), Ok(()), "op {code}");
    }
    for code in [ZX_VMAR_OP_DONT_NEED, ZX_VMAR_OP_ALWAYS_NEED] {
        assert_eq!(op(&env, bare, code, va, P), Ok(()), "op {code}");
    }
    // ACCESS_DENIED comes before the buffer and range checks.
    let mut buf = [0u8; 1];
    assert_eq!(
        env.zx.vmar_op_range(no_write, ZX_VMAR_OP_COMMIT, va + 1, 0, &mut buf),
        Err(Status::AccessDenied)
    );
    env.zx.vmar_unmap(root, va, P).unwrap();
    env.close_all_and_check_frames(&[vmo, no_write, no_read, bare]);
}

#[test]
fn buffer_must_be_empty() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let va = env.map_rw(vmo, 1);
    for code in ALL_OPS {
        let mut buf = [0u8; 8];
        assert_eq!(
            env.zx.vmar_op_range(env.zx.root_vmar(), code, va, P, &mut buf),
            Err(Status::InvalidArgs),
            "op {code}"
        );
    }
    assert_eq!(env.machine.used_frames(), 0, "the failed COMMIT did nothing");
    env.zx.vmar_unmap(env.zx.root_vmar(), va, P).unwrap();
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn range_errors() {
    let env = Env::new();
    let root = env.zx.root_vmar();
    let vmo = env.vmo(2);
    let va = env.zx.vmar_map(root, RW | ZX_VM_SPECIFIC, 16 * P, vmo, 0, 2 * P).unwrap();
    for code in ALL_OPS {
        assert_eq!(op(&env, root, code, va, 0), Err(Status::InvalidArgs), "op {code}");
        assert_eq!(op(&env, root, code, va + 1, P), Err(Status::InvalidArgs), "op {code}");
        assert_eq!(op(&env, root, code, USER_ASPACE_BASE - P, P), Err(Status::OutOfRange), "op {code}");
        // A gap anywhere in the range is BAD_STATE.
        assert_eq!(op(&env, root, code, va, 3 * P), Err(Status::BadState), "op {code}");
        assert_eq!(op(&env, root, code, va - P, 2 * P), Err(Status::BadState), "op {code}");
    }
    // Lengths are rounded up to pages.
    assert_eq!(op(&env, root, ZX_VMAR_OP_COMMIT, va, 1), Ok(()));
    assert_eq!(env.machine.used_frames(), 1);
    assert_eq!(op(&env, Handle::from_raw(0x77), ZX_VMAR_OP_COMMIT, va, P), Err(Status::BadHandle));
    env.zx.vmar_unmap(root, va, 2 * P).unwrap();
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn sub_regions_and_dead_vmars() {
    let env = Env::new();
    let root = env.zx.root_vmar();
    let can_rw = ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_WRITE;
    let (sub, base) = env.zx.vmar_allocate(root, can_rw, 0, 2 * P).unwrap();
    let vmo = env.vmo(2);
    env.zx.vmar_map(sub, RW, 0, vmo, 0, 2 * P).unwrap();
    // COMMIT, DECOMMIT and ZERO may not reach into sub-regions.
    for code in [ZX_VMAR_OP_COMMIT, ZX_VMAR_OP_DECOMMIT, ZX_VMAR_OP_ZERO] {
        assert_eq!(op(&env, root, code, base, 2 * P), Err(Status::InvalidArgs), "op {code}");
        assert_eq!(op(&env, sub, code, base, 2 * P), Ok(()), "op {code}");
    }
    // Hints apply through nested regions.
    assert_eq!(op(&env, root, ZX_VMAR_OP_DONT_NEED, base, 2 * P), Ok(()));
    // Outside the sub-region is OUT_OF_RANGE for its handle.
    assert_eq!(op(&env, sub, ZX_VMAR_OP_COMMIT, base, 3 * P), Err(Status::OutOfRange));
    env.zx.vmar_destroy(sub).unwrap();
    assert_eq!(op(&env, sub, ZX_VMAR_OP_COMMIT, base, P), Err(Status::BadState));
    env.close_all_and_check_frames(&[vmo, sub]);
}

#[test]
fn write_ops_need_writable_mappings() {
    // vmar_op_range.md: DECOMMIT applies only to writable mappings.
    let env = Env::new();
    let root = env.zx.root_vmar();
    let vmo = env.vmo(1);
    let ro_vmo = env.with_rights(vmo, Rights::READ | Rights::MAP);
    let va = env.zx.vmar_map(root, R, 0, ro_vmo, 0, P).unwrap();
    for code in [ZX_VMAR_OP_COMMIT, ZX_VMAR_OP_DECOMMIT, ZX_VMAR_OP_ZERO] {
        assert_eq!(op(&env, root, code, va, P), Err(Status::AccessDenied), "op {code}");
    }
    assert_eq!(op(&env, root, ZX_VMAR_OP_PREFETCH, va, P), Ok(()));
    env.zx.vmar_unmap(root, va, P).unwrap();
    env.close_all_and_check_frames(&[vmo, ro_vmo]);
}

#[test]
fn decommit_of_a_clone_mapping_is_not_supported() {
    let env = Env::new();
    let root = env.zx.root_vmar();
    let parent = env.vmo(1);
    let clone = env.zx.vmo_create_child(parent, ZX_VMO_CHILD_SNAPSHOT, 0, P).unwrap();
    let va = env.map_rw(clone, 1);
    assert_eq!(op(&env, root, ZX_VMAR_OP_DECOMMIT, va, P), Err(Status::NotSupported));
    env.zx.vmar_unmap(root, va, P).unwrap();
    env.close_all_and_check_frames(&[parent, clone]);
}

#[test]
fn commit_decommit_and_zero_act_on_the_mapped_vmos() {
    let env = Env::new();
    let root = env.zx.root_vmar();
    let vmo = env.vmo(4);
    let va = env.map_rw(vmo, 4);
    op(&env, root, ZX_VMAR_OP_COMMIT, va, 4 * P).unwrap();
    assert_eq!(env.machine.used_frames(), 4);
    env.store(va + P, b"data").unwrap();
    assert!(env.mmu.pte(va + P).is_some());
    op(&env, root, ZX_VMAR_OP_DECOMMIT, va + P, P).unwrap();
    assert_eq!(env.machine.used_frames(), 3);
    assert!(env.mmu.pte(va + P).is_none(), "decommit unmapped the page");
    assert_eq!(env.load(va + P, 4).unwrap(), [0; 4]);
    env.zx.vmo_write(vmo, &[5; 4096], 2 * P).unwrap();
    op(&env, root, ZX_VMAR_OP_ZERO, va + 2 * P, P).unwrap();
    assert_eq!(env.read(vmo, 2 * P, 4), [0; 4]);
    env.zx.vmar_unmap(root, va, 4 * P).unwrap();
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn map_range_installs_committed_pages_only() {
    let env = Env::new();
    let root = env.zx.root_vmar();
    let vmo = env.vmo(2);
    env.zx.vmo_write(vmo, b"m", 0).unwrap();
    let va = env.map_rw(vmo, 2);
    assert!(env.mmu.pte(va).is_none());
    op(&env, root, ZX_VMAR_OP_MAP_RANGE, va, 2 * P).unwrap();
    assert!(env.mmu.pte(va).is_some());
    assert!(env.mmu.pte(va + P).is_none());
    assert_eq!(env.machine.used_frames(), 1);
    assert_eq!(env.zx.fault(va + P, Access::Read), Ok(()));
    env.zx.vmar_unmap(root, va, 2 * P).unwrap();
    env.close_all_and_check_frames(&[vmo]);
}
