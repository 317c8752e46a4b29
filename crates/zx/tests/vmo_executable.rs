//! `zx_vmo_replace_as_executable`: the new handle gains EXECUTE (so the VMO
//! can be mapped executable), the old one is always invalidated.

mod support;

use support::*;
use zx::options::*;
use zx::{Handle, Rights, Status};

#[test]
fn replace_adds_execute_and_invalidates_the_source() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let rx = ZX_VM_PERM_READ | ZX_VM_PERM_EXECUTE;
    assert_eq!(env.zx.vmar_map(env.zx.root_vmar(), rx, 0, vmo, 0, P), Err(Status::AccessDenied));
    let exec = env.zx.vmo_replace_as_executable(vmo, Handle::INVALID).unwrap();
    assert_eq!(env.rights(exec), Rights::DEFAULT_VMO | Rights::EXECUTE);
    assert_eq!(env.zx.handle_close(vmo), Err(Status::BadHandle));
    let va = env.zx.vmar_map(env.zx.root_vmar(), rx, 0, exec, 0, P).unwrap();
    env.zx.vmar_unmap(env.zx.root_vmar(), va, P).unwrap();
    env.close_all_and_check_frames(&[exec]);
}

#[test]
fn bad_vmex_and_non_vmo_handles_fail_but_still_invalidate() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let copy = env.with_rights(vmo, Rights::SAME_RIGHTS);
    assert_eq!(env.zx.vmo_replace_as_executable(copy, copy), Err(Status::BadHandle));
    assert_eq!(env.zx.handle_close(copy), Err(Status::BadHandle));
    let (vmar, _) = env.zx.vmar_allocate(env.zx.root_vmar(), ZX_VM_CAN_MAP_READ, 0, P).unwrap();
    assert_eq!(env.zx.vmo_replace_as_executable(vmar, Handle::INVALID), Err(Status::WrongType));
    assert_eq!(env.zx.handle_close(vmar), Err(Status::BadHandle));
    assert_eq!(env.zx.vmo_replace_as_executable(copy, Handle::INVALID), Err(Status::BadHandle));
    env.close_all_and_check_frames(&[vmo]);
}
