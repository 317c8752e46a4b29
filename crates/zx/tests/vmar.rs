//! `zx_vmar_allocate`, `_map`, `_unmap`, `_protect` and `_destroy` (digest
//! §2.12-2.13): rights of both handles, every error condition, faults through
//! the mappings, and translations of VmoTestCase mapping cases.

mod support;

use support::*;
use vm_core::mock::{MOCK_ASPACE_BASE as USER_ASPACE_BASE, MOCK_ASPACE_SIZE as USER_ASPACE_SIZE};
use vm_core::platform::MmuFlags;
use zx::options::*;
use zx::{Access, Handle, Rights, Status};

const R: u32 = ZX_VM_PERM_READ;
const RW: u32 = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE;
const CAN_RW: u32 = ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_WRITE;

fn root(env: &Env) -> Handle {
    env.zx.root_vmar()
}

// ---- zx_vmar_allocate ----------------------------------------------------

#[test]
fn allocate_gives_rights_matching_can_map() {
    let env = Env::new();
    let (rw, base) = env.zx.vmar_allocate(root(&env), CAN_RW, 0, 16 * P).unwrap();
    assert!(base >= USER_ASPACE_BASE && base + 16 * P <= USER_ASPACE_BASE + USER_ASPACE_SIZE);
    assert_eq!(env.rights(rw), Rights::DEFAULT_VMAR | Rights::READ | Rights::WRITE);
    let (x, _) = env.zx.vmar_allocate(root(&env), ZX_VM_CAN_MAP_EXECUTE, 0, P).unwrap();
    assert_eq!(env.rights(x), Rights::DEFAULT_VMAR | Rights::EXECUTE);
    let (none, _) = env.zx.vmar_allocate(root(&env), 0, 0, P).unwrap();
    assert_eq!(env.rights(none), Rights::DEFAULT_VMAR);
    // Specific, nested and aligned placements.
    let options = CAN_RW | ZX_VM_SPECIFIC | ZX_VM_CAN_MAP_SPECIFIC;
    let (spec, spec_base) = env.zx.vmar_allocate(root(&env), options, 64 * P, 32 * P).unwrap();
    assert_eq!(spec_base, USER_ASPACE_BASE + 64 * P);
    let (_, nested) = env.zx.vmar_allocate(spec, ZX_VM_CAN_MAP_READ | ZX_VM_SPECIFIC, 4 * P, 2 * P).unwrap();
    assert_eq!(nested, spec_base + 4 * P);
    let (_, aligned) = env.zx.vmar_allocate(root(&env), ZX_VM_ALIGN_1MB, 0, P).unwrap();
    assert_eq!(aligned % (1 << 20), 0);
    // A sub-region's rights bound what may be mapped in it.
    let vmo = env.vmo(1);
    assert_eq!(env.zx.vmar_map(x, RW, 0, vmo, 0, P), Err(Status::AccessDenied));
    assert!(env.zx.vmar_map(rw, RW, 0, vmo, 0, P).is_ok());
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn allocate_needs_rights_for_can_map() {
    let env = Env::new();
    for (can_map, missing) in [
        (ZX_VM_CAN_MAP_READ, Rights::READ),
        (ZX_VM_CAN_MAP_WRITE, Rights::WRITE),
        (ZX_VM_CAN_MAP_EXECUTE, Rights::EXECUTE),
    ] {
        let parent = env.with_rights(root(&env), env.rights(root(&env)) - missing);
        assert_eq!(env.zx.vmar_allocate(parent, can_map, 0, P), Err(Status::AccessDenied));
        // ACCESS_DENIED comes before INVALID_ARGS.
        assert_eq!(env.zx.vmar_allocate(parent, can_map | ZX_VM_PERM_READ, 0, 0), Err(Status::AccessDenied));
        env.zx.handle_close(parent).unwrap();
    }
    // CAN_MAP_* beyond the parent region's own is ACCESS_DENIED too.
    let (ro, _) = env.zx.vmar_allocate(root(&env), ZX_VM_CAN_MAP_READ, 0, 8 * P).unwrap();
    assert_eq!(env.zx.vmar_allocate(ro, CAN_RW, 0, P), Err(Status::AccessDenied));
}

#[test]
fn allocate_errors() {
    let env = Env::new();
    let r = root(&env);
    // PERM_* and map-only options are not allocate options.
    for options in [ZX_VM_PERM_READ, ZX_VM_MAP_RANGE, ZX_VM_SPECIFIC_OVERWRITE, 1 << 20] {
        assert_eq!(env.zx.vmar_allocate(r, options, 0, P), Err(Status::InvalidArgs), "{options:#x}");
    }
    assert_eq!(env.zx.vmar_allocate(r, 9 << ZX_VM_ALIGN_BASE, 0, P), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_allocate(r, 0, 0, 0), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_allocate(r, 0, 0, P + 1), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_allocate(r, 0, P, P), Err(Status::InvalidArgs), "offset without SPECIFIC");
    let spec = ZX_VM_SPECIFIC;
    assert_eq!(env.zx.vmar_allocate(r, spec, USER_ASPACE_SIZE, P), Err(Status::InvalidArgs));
    env.zx.vmar_allocate(r, spec, 16 * P, 4 * P).unwrap();
    assert_eq!(env.zx.vmar_allocate(r, spec, 18 * P, 4 * P), Err(Status::AlreadyExists));
    let (small, _) = env.zx.vmar_allocate(r, 0, 0, 4 * P).unwrap();
    assert_eq!(env.zx.vmar_allocate(small, 0, 0, 8 * P), Err(Status::NoResources));
    env.zx.vmar_destroy(small).unwrap();
    assert_eq!(env.zx.vmar_allocate(small, 0, 0, P), Err(Status::BadState));
    assert_eq!(env.zx.vmar_allocate(Handle::from_raw(0x3f), 0, 0, P), Err(Status::BadHandle));
}

// ---- zx_vmar_map ---------------------------------------------------------

#[test]
fn map_needs_the_map_right_even_without_permissions() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let no_map = env.with_rights(vmo, Rights::DEFAULT_VMO - Rights::MAP);
    assert_eq!(env.zx.vmar_map(root(&env), 0, 0, no_map, 0, P), Err(Status::AccessDenied));
    assert_eq!(env.zx.vmar_map(root(&env), R, 0, no_map, 0, P), Err(Status::AccessDenied));
    // ACCESS_DENIED for MAP comes before INVALID_ARGS.
    assert_eq!(env.zx.vmar_map(root(&env), 1 << 20, 0, no_map, 0, 0), Err(Status::AccessDenied));
    assert!(env.zx.vmar_map(root(&env), 0, 0, vmo, 0, P).is_ok());
    env.close_all_and_check_frames(&[vmo, no_map]);
}

#[test]
fn map_rights_matrix() {
    // VmoTestCase.Rights (mapping half): each permission needs the matching
    // right on the VMO handle and on the VMAR handle.
    let env = Env::new();
    let vmo = env.vmo(1);
    let vmo_rights = [Rights::MAP, Rights::MAP | Rights::READ, Rights::MAP | Rights::READ | Rights::WRITE];
    let vmar_rights = [
        Rights::empty(),
        Rights::READ,
        Rights::READ | Rights::WRITE,
        Rights::READ | Rights::WRITE | Rights::EXECUTE,
    ];
    for vr in vmo_rights {
        for ar in vmar_rights {
            let v = env.with_rights(vmo, vr);
            let a = env.with_rights(root(&env), ar | Rights::OP_CHILDREN);
            for (perms, needs) in [
                (0, Rights::empty()),
                (R, Rights::READ),
                (RW, Rights::READ | Rights::WRITE),
                (R | ZX_VM_PERM_EXECUTE, Rights::READ | Rights::EXECUTE),
            ] {
                let result = env.zx.vmar_map(a, perms, 0, v, 0, P);
                if (vr & ar).contains(needs) {
                    let va = result.unwrap();
                    env.zx.vmar_unmap(a, va, P).unwrap();
                } else {
                    assert_eq!(result, Err(Status::AccessDenied), "{vr:?} {ar:?} {perms:#x}");
                }
            }
            env.zx.handle_close(v).unwrap();
            env.zx.handle_close(a).unwrap();
        }
    }
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn map_option_errors() {
    let env = Env::new();
    let vmo = env.vmo(2);
    let ro_vmo = env.with_rights(vmo, Rights::READ | Rights::MAP);
    let r = root(&env);
    // WRITE without READ is INVALID_ARGS, even where WRITE would be denied.
    assert_eq!(env.zx.vmar_map(r, ZX_VM_PERM_WRITE, 0, vmo, 0, P), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_map(r, ZX_VM_PERM_WRITE, 0, ro_vmo, 0, P), Err(Status::InvalidArgs));
    // Callers may not pass CAN_MAP_*.
    for can_map in [ZX_VM_CAN_MAP_READ, ZX_VM_CAN_MAP_WRITE, ZX_VM_CAN_MAP_EXECUTE] {
        assert_eq!(env.zx.vmar_map(r, R | can_map, 0, vmo, 0, P), Err(Status::InvalidArgs));
    }
    // Unknown bits and bad alignments.
    for options in [R | (1 << 16), R | (1 << 23), R | (40 << ZX_VM_ALIGN_BASE)] {
        assert_eq!(env.zx.vmar_map(r, options, 0, vmo, 0, P), Err(Status::InvalidArgs));
    }
    // Lengths, offsets and placement.
    assert_eq!(env.zx.vmar_map(r, R, 0, vmo, 0, 0), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_map(r, R, 0, vmo, 0, P + 1), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_map(r, R, 0, vmo, 1, P), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_map(r, R, P, vmo, 0, P), Err(Status::InvalidArgs));
    // VmoTestCase.Map: SPECIFIC at UINTPTR_MAX.
    assert_eq!(env.zx.vmar_map(r, R | ZX_VM_SPECIFIC, u64::MAX, vmo, 0, P), Err(Status::InvalidArgs));
    let overwrite_range = R | ZX_VM_SPECIFIC_OVERWRITE | ZX_VM_MAP_RANGE;
    assert_eq!(env.zx.vmar_map(r, overwrite_range, 0, vmo, 0, P), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_map(r, R, 0, vmo, u64::MAX - P + 1, 2 * P), Err(Status::OutOfRange));
    let va = env.zx.vmar_map(r, R | ZX_VM_SPECIFIC, 8 * P, vmo, 0, 2 * P).unwrap();
    assert_eq!(va, USER_ASPACE_BASE + 8 * P);
    assert_eq!(env.zx.vmar_map(r, R | ZX_VM_SPECIFIC, 9 * P, vmo, 0, P), Err(Status::AlreadyExists));
    // No room left in a small region.
    let (small, _) = env.zx.vmar_allocate(r, ZX_VM_CAN_MAP_READ, 0, P).unwrap();
    assert_eq!(env.zx.vmar_map(small, R, 0, vmo, 0, 2 * P), Err(Status::NoResources));
    // Bad handles, either of them.
    let bad = Handle::from_raw(0x5_0003);
    assert_eq!(env.zx.vmar_map(bad, R, 0, vmo, 0, P), Err(Status::BadHandle));
    assert_eq!(env.zx.vmar_map(r, R, 0, bad, 0, P), Err(Status::BadHandle));
    env.close_all_and_check_frames(&[vmo, ro_vmo]);
}

#[test]
fn map_resizable_and_discardable_vmos() {
    // VmoTestCase.Resize (REQUIRE_NON_RESIZABLE) and Discardable.
    let env = Env::new();
    let r = root(&env);
    let resizable = env.resizable_vmo(1);
    assert_eq!(
        env.zx.vmar_map(r, R | ZX_VM_REQUIRE_NON_RESIZABLE, 0, resizable, 0, P),
        Err(Status::NotSupported)
    );
    assert!(env.zx.vmar_map(r, R, 0, resizable, 0, P).is_ok());
    let discardable = env.zx.vmo_create(P, ZX_VMO_DISCARDABLE).unwrap();
    assert_eq!(env.zx.vmar_map(r, R, 0, discardable, 0, P), Err(Status::NotSupported));
    assert!(env.zx.vmar_map(r, R | ZX_VM_ALLOW_FAULTS, 0, discardable, 0, P).is_ok());
    env.close_all_and_check_frames(&[resizable, discardable]);
}

#[test]
fn mapped_accesses_reach_the_vmo() {
    let env = Env::new();
    let vmo = env.vmo(3);
    let va = env.map_rw(vmo, 3);
    env.store(va + P - 2, b"span").unwrap();
    assert_eq!(env.read(vmo, P - 2, 4), b"span");
    env.zx.vmo_write(vmo, b"back", 2 * P).unwrap();
    assert_eq!(env.load(va + 2 * P, 4).unwrap(), b"back");
    // Unmapping leaves the pages with the VMO.
    env.zx.vmar_unmap(root(&env), va, 3 * P).unwrap();
    assert_eq!(env.load(va, 1), Err(Status::NotFound));
    assert_eq!(env.machine.used_frames(), 3);
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn read_only_map() {
    // VmoTestCase.ReadOnlyMap: a write through a read-only mapping faults
    // with ACCESS_DENIED.
    let env = Env::new();
    let vmo = env.vmo(1);
    env.zx.vmo_write(vmo, b"ro", 0).unwrap();
    let va = env.zx.vmar_map(root(&env), R, 0, vmo, 0, P).unwrap();
    assert_eq!(env.load(va, 2).unwrap(), b"ro");
    assert_eq!(env.store(va, b"x"), Err(Status::AccessDenied));
    assert_eq!(env.zx.fault(va, Access::Write), Err(Status::AccessDenied));
    assert_eq!(env.read(vmo, 0, 2), b"ro");
    env.zx.vmar_unmap(root(&env), va, P).unwrap();
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn mapped_vmo_smaller_than_mapping_and_resize_hazard() {
    // VmoTestCase.MappedVmoSmallerThanMapping and ResizeHazard: pages past the
    // VMO's end fault with OUT_OF_RANGE.
    let env = Env::new();
    let vmo = env.resizable_vmo(2);
    let va = env.zx.vmar_map(root(&env), RW, 0, vmo, 0, 4 * P).unwrap();
    env.store(va + P, b"ok").unwrap();
    assert_eq!(env.store(va + 2 * P, b"x"), Err(Status::OutOfRange));
    env.zx.vmo_set_size(vmo, P).unwrap();
    assert_eq!(env.load(va + P, 1), Err(Status::OutOfRange));
    env.zx.vmo_set_size(vmo, 2 * P).unwrap();
    assert_eq!(env.load(va + P, 2).unwrap(), [0, 0]);
    env.close_all_and_check_frames(&[vmo]);
}

// ---- zx_vmar_unmap -------------------------------------------------------

#[test]
fn unmap_errors() {
    let env = Env::new();
    let vmo = env.vmo(2);
    let va = env.map_rw(vmo, 2);
    let r = root(&env);
    assert_eq!(env.zx.vmar_unmap(r, va + 1, P), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_unmap(r, va, 0), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_unmap(r, va, P + 1), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_unmap(r, USER_ASPACE_BASE - P, P), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_unmap(r, va + 64 * P, P), Err(Status::NotFound));
    assert_eq!(env.zx.vmar_unmap(Handle::from_raw(0x13), va, P), Err(Status::BadHandle));
    // No right is needed.
    let bare = env.with_rights(r, Rights::empty());
    assert_eq!(env.zx.vmar_unmap(bare, va, P), Ok(()));
    assert_eq!(env.load(va, 1), Err(Status::NotFound));
    assert_eq!(env.load(va + P, 1).unwrap(), [0]);
    env.close_all_and_check_frames(&[vmo, bare]);
}

#[test]
fn unmap_of_sub_regions_needs_op_children() {
    let env = Env::new();
    let r = root(&env);
    let (sub, base) = env.zx.vmar_allocate(r, CAN_RW, 0, 4 * P).unwrap();
    let vmo = env.vmo(1);
    let va = env.zx.vmar_map(sub, RW, 0, vmo, 0, P).unwrap();
    env.store(va, b"s").unwrap();
    let no_children = env.with_rights(r, env.rights(r) - Rights::OP_CHILDREN);
    assert_eq!(env.zx.vmar_unmap(no_children, base, 4 * P), Err(Status::InvalidArgs));
    assert_eq!(env.load(va, 1).unwrap(), b"s");
    // Partly covered sub-regions are INVALID_ARGS whatever the rights.
    assert_eq!(env.zx.vmar_unmap(r, base, 2 * P), Err(Status::InvalidArgs));
    env.zx.vmar_unmap(r, base, 4 * P).unwrap();
    assert_eq!(env.load(va, 1), Err(Status::NotFound));
    // The sub-region is gone; its handle now refers to a dead VMAR.
    assert_eq!(env.zx.vmar_map(sub, R, 0, vmo, 0, P), Err(Status::BadState));
    assert_eq!(env.zx.vmar_unmap(sub, base, P), Err(Status::BadState));
    env.close_all_and_check_frames(&[vmo, no_children, sub]);
}

// ---- zx_vmar_protect -----------------------------------------------------

#[test]
fn protect_needs_handle_rights_for_permissions() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let va = env.map_rw(vmo, 1);
    let r = root(&env);
    let ro = env.with_rights(r, Rights::READ | Rights::OP_CHILDREN);
    assert_eq!(env.zx.vmar_protect(ro, RW, va, P), Err(Status::AccessDenied));
    assert_eq!(env.zx.vmar_protect(ro, R | ZX_VM_PERM_EXECUTE, va, P), Err(Status::AccessDenied));
    let bare = env.with_rights(r, Rights::empty());
    assert_eq!(env.zx.vmar_protect(bare, R, va, P), Err(Status::AccessDenied));
    // ACCESS_DENIED comes before INVALID_ARGS of the options.
    assert_eq!(env.zx.vmar_protect(bare, R | (1 << 20), va, 0), Err(Status::AccessDenied));
    assert_eq!(env.zx.vmar_protect(bare, 0, va, P), Ok(()));
    assert_eq!(env.zx.vmar_protect(ro, R, va, P), Ok(()));
    assert_eq!(env.store(va, b"x"), Err(Status::AccessDenied));
    env.close_all_and_check_frames(&[vmo, ro, bare]);
}

#[test]
fn protect_errors() {
    let env = Env::new();
    let vmo = env.vmo(2);
    let va = env.map_rw(vmo, 2);
    let r = root(&env);
    assert_eq!(env.zx.vmar_protect(r, ZX_VM_PERM_WRITE, va, P), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_protect(r, R | ZX_VM_SPECIFIC, va, P), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_protect(r, R | (1 << 20), va, P), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_protect(r, R, va + 1, P), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_protect(r, R, va, 0), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_protect(r, R, va, 3 * P), Err(Status::NotFound));
    // Nothing changed on failure: the first page is still writable.
    env.store(va, b"w").unwrap();
    // A sub-region in the range needs OP_CHILDREN.
    let (sub, base) = env.zx.vmar_allocate(r, CAN_RW, 0, P).unwrap();
    let sub_va = env.zx.vmar_map(sub, RW, 0, vmo, 0, P).unwrap();
    assert_eq!(sub_va, base);
    let no_children = env.with_rights(r, env.rights(r) - Rights::OP_CHILDREN);
    assert_eq!(env.zx.vmar_protect(no_children, R, base, P), Err(Status::InvalidArgs));
    assert_eq!(env.zx.vmar_protect(r, R, base, P), Ok(()));
    env.zx.vmar_unmap(r, va, 2 * P).unwrap();
    env.zx.vmar_unmap(r, base, P).unwrap();
    env.close_all_and_check_frames(&[vmo, no_children, sub]);
}

#[test]
fn protect_cannot_exceed_the_vmo_rights_at_map_time() {
    // Digest §2.13: ACCESS_DENIED if the change would raise permissions
    // beyond the original VMO handle's rights.
    let env = Env::new();
    let vmo = env.vmo(1);
    let ro_vmo = env.with_rights(vmo, Rights::READ | Rights::MAP);
    let va = env.zx.vmar_map(root(&env), R, 0, ro_vmo, 0, P).unwrap();
    assert_eq!(env.zx.vmar_protect(root(&env), RW, va, P), Err(Status::AccessDenied));
    // A mapping made through a writable handle may be raised again.
    let va2 = env.zx.vmar_map(root(&env), R, 0, vmo, 0, P).unwrap();
    assert_eq!(env.store(va2, b"x"), Err(Status::AccessDenied));
    env.zx.vmar_protect(root(&env), RW, va2, P).unwrap();
    env.store(va2, b"x").unwrap();
    assert_eq!(env.load(va, 1).unwrap(), b"x");
    env.zx.vmar_unmap(root(&env), va, P).unwrap();
    env.zx.vmar_unmap(root(&env), va2, P).unwrap();
    env.close_all_and_check_frames(&[vmo, ro_vmo]);
}

#[test]
fn protect_cannot_exceed_the_sub_region_can_map() {
    // Digest §2.13: ... or the sub-region's.
    let env = Env::new();
    let r = root(&env);
    let (sub, _) = env.zx.vmar_allocate(r, ZX_VM_CAN_MAP_READ, 0, P).unwrap();
    let vmo = env.vmo(1);
    let va = env.zx.vmar_map(sub, R, 0, vmo, 0, P).unwrap();
    // The root handle has WRITE, but the region and so the mapping do not.
    assert_eq!(env.zx.vmar_protect(r, RW, va, P), Err(Status::AccessDenied));
    assert_eq!(env.zx.vmar_protect(sub, RW, va, P), Err(Status::AccessDenied));
    assert_eq!(env.store(va, b"x"), Err(Status::AccessDenied));
    env.zx.vmar_destroy(sub).unwrap();
    env.close_all_and_check_frames(&[vmo, sub]);
}

#[test]
fn no_perm_protect_and_protect_to_write() {
    // VmoTestCase.NoPermProtect and ProtectToWrite.
    let env = Env::new();
    let vmo = env.vmo(1);
    let va = env.map_rw(vmo, 1);
    env.store(va, b"a").unwrap();
    env.zx.vmar_protect(root(&env), 0, va, P).unwrap();
    assert_eq!(env.load(va, 1), Err(Status::AccessDenied));
    assert_eq!(env.store(va, b"b"), Err(Status::AccessDenied));
    env.zx.vmar_protect(root(&env), R, va, P).unwrap();
    assert_eq!(env.load(va, 1).unwrap(), b"a");
    assert_eq!(env.store(va, b"b"), Err(Status::AccessDenied));
    env.zx.vmar_protect(root(&env), RW, va, P).unwrap();
    env.store(va, b"c").unwrap();
    assert_eq!(env.read(vmo, 0, 1), b"c");
    assert!(env.mmu.pte(va).unwrap().flags.contains(MmuFlags::WRITE));
    env.zx.vmar_unmap(root(&env), va, P).unwrap();
    env.close_all_and_check_frames(&[vmo]);
}

// ---- zx_vmar_destroy -----------------------------------------------------

#[test]
fn destroy() {
    let env = Env::new();
    let r = root(&env);
    assert_eq!(env.zx.vmar_destroy(r), Err(Status::NotSupported), "the root VMAR");
    let (sub, _) = env.zx.vmar_allocate(r, CAN_RW, 0, 8 * P).unwrap();
    let vmo = env.vmo(2);
    let va = env.zx.vmar_map(sub, RW, 0, vmo, 0, 2 * P).unwrap();
    env.store(va, b"d").unwrap();
    let no_children = env.with_rights(sub, Rights::DEFAULT_VMAR - Rights::OP_CHILDREN);
    assert_eq!(env.zx.vmar_destroy(no_children), Err(Status::AccessDenied));
    env.zx.vmar_destroy(sub).unwrap();
    assert_eq!(env.load(va, 1), Err(Status::NotFound));
    assert_eq!(env.zx.vmar_destroy(sub), Err(Status::BadState));
    assert_eq!(env.zx.vmar_allocate(sub, 0, 0, P), Err(Status::BadState));
    assert_eq!(env.zx.vmar_protect(sub, R, va, P), Err(Status::BadState));
    // The mapping no longer holds the VMO: closing its handle frees it.
    env.close_all_and_check_frames(&[vmo, sub, no_children]);
}

#[test]
fn closing_a_vmar_handle_does_not_destroy_it() {
    let env = Env::new();
    let (sub, base) = env.zx.vmar_allocate(root(&env), CAN_RW, 0, 2 * P).unwrap();
    let vmo = env.vmo(1);
    let va = env.zx.vmar_map(sub, RW, 0, vmo, 0, P).unwrap();
    env.zx.handle_close(sub).unwrap();
    env.zx.handle_close(vmo).unwrap();
    env.store(va, b"alive").unwrap();
    assert_eq!(env.load(va, 5).unwrap(), b"alive");
    // Unmapping the region through the root releases the VMO.
    env.zx.vmar_unmap(root(&env), base, 2 * P).unwrap();
    env.machine.assert_no_frames_used();
}

#[test]
fn execute_only_follows_zircons_rule_for_tables_without_it() {
    // The mock, like aarch64 at EL1, cannot map execute-only pages:
    // EXECUTE alone is INVALID_ARGS, and PERM_READ_IF_XOM_UNSUPPORTED adds
    // READ (which the handles then need).
    let env = Env::new();
    let vmo = env.zx.vmo_replace_as_executable(env.vmo(1), Handle::INVALID).unwrap();
    assert!(!env.zx.root_vmar_object().can_map_execute_only());
    let x = ZX_VM_PERM_EXECUTE;
    let xom = x | ZX_VM_PERM_READ_IF_XOM_UNSUPPORTED;
    assert_eq!(env.zx.vmar_map(root(&env), x, 0, vmo, 0, P), Err(Status::InvalidArgs));
    let va = env.zx.vmar_map(root(&env), xom, 0, vmo, 0, P).unwrap();
    assert_eq!(env.load(va, 1), Ok(vec![0]), "READ was added");
    assert_eq!(env.zx.vmar_protect(root(&env), x, va, P), Err(Status::InvalidArgs));
    env.zx.vmar_protect(root(&env), xom, va, P).unwrap();
    assert_eq!(env.load(va, 1), Ok(vec![0]));
    // The added READ needs the READ right, on the VMO and on the VMAR.
    let exec_only_vmo = env.with_rights(vmo, Rights::MAP | Rights::EXECUTE);
    assert_eq!(env.zx.vmar_map(root(&env), xom, 0, exec_only_vmo, 0, P), Err(Status::AccessDenied));
    let exec_only_vmar = env.with_rights(root(&env), Rights::EXECUTE | Rights::OP_CHILDREN);
    assert_eq!(env.zx.vmar_protect(exec_only_vmar, xom, va, P), Err(Status::AccessDenied));
    env.zx.vmar_unmap(root(&env), va, P).unwrap();
    env.close_all_and_check_frames(&[vmo, exec_only_vmo, exec_only_vmar]);
}
