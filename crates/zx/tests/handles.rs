//! `zx_handle_close`, `zx_handle_duplicate`, `zx_handle_replace` and the
//! handle table: statuses, rights and independence of instances.

mod support;

use support::*;
use zx::{Handle, ObjectType, Rights, Status};

#[test]
fn closing_the_invalid_handle_is_ok() {
    let env = Env::new();
    assert_eq!(env.zx.handle_close(Handle::INVALID), Ok(()));
}

#[test]
fn closing_a_bad_or_closed_handle_is_bad_handle() {
    let env = Env::new();
    assert_eq!(env.zx.handle_close(Handle::from_raw(0x1234_5677)), Err(Status::BadHandle));
    let vmo = env.vmo(1);
    env.zx.handle_close(vmo).unwrap();
    assert_eq!(env.zx.handle_close(vmo), Err(Status::BadHandle));
    let mut buf = [0u8; 1];
    assert_eq!(env.zx.vmo_read(vmo, &mut buf, 0), Err(Status::BadHandle));
}

#[test]
fn handle_values_are_never_zero_and_have_the_fixed_bits() {
    let env = Env::new();
    let handles: Vec<Handle> = (0..8).map(|_| env.vmo(1)).collect();
    for (i, h) in handles.iter().enumerate() {
        assert_ne!(*h, Handle::INVALID);
        assert_eq!(h.raw() & 3, 3);
        assert!(!handles[..i].contains(h));
    }
    env.close_all_and_check_frames(&handles);
}

#[test]
fn closing_the_last_handle_frees_the_vmo_pages() {
    let env = Env::new();
    let vmo = env.vmo(4);
    env.zx.vmo_write(vmo, &[7; 4 * 4096], 0).unwrap();
    assert_eq!(env.machine.used_frames(), 4);
    let dup = env.zx.handle_duplicate(vmo, Rights::SAME_RIGHTS).unwrap();
    env.zx.handle_close(vmo).unwrap();
    // The duplicate keeps the object alive.
    assert_eq!(env.machine.used_frames(), 4);
    assert_eq!(env.read(dup, 4095, 2), [7, 7]);
    env.close_all_and_check_frames(&[dup]);
}

#[test]
fn duplicate_with_same_rights_refers_to_the_same_object() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let dup = env.zx.handle_duplicate(vmo, Rights::SAME_RIGHTS).unwrap();
    assert_ne!(dup, vmo);
    assert_eq!(env.rights(dup), env.rights(vmo));
    env.zx.vmo_write(dup, b"shared", 10).unwrap();
    assert_eq!(env.read(vmo, 10, 6), b"shared");
    env.close_all_and_check_frames(&[vmo, dup]);
}

#[test]
fn duplicate_with_fewer_rights() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let ro = env.zx.handle_duplicate(vmo, Rights::READ | Rights::DUPLICATE).unwrap();
    assert_eq!(env.rights(ro), Rights::READ | Rights::DUPLICATE);
    assert_eq!(env.zx.vmo_write(ro, b"x", 0), Err(Status::AccessDenied));
    // The original keeps its rights.
    assert_eq!(env.rights(vmo), Rights::DEFAULT_VMO);
    // A duplicate with no rights at all is allowed.
    let none = env.zx.handle_duplicate(vmo, Rights::empty()).unwrap();
    assert_eq!(env.rights(none), Rights::empty());
    env.close_all_and_check_frames(&[vmo, ro, none]);
}

#[test]
fn duplicate_needs_the_duplicate_right() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let no_dup = env.with_rights(vmo, Rights::DEFAULT_VMO - Rights::DUPLICATE);
    assert_eq!(env.zx.handle_duplicate(no_dup, Rights::SAME_RIGHTS), Err(Status::AccessDenied));
    assert_eq!(env.zx.handle_duplicate(no_dup, Rights::READ), Err(Status::AccessDenied));
    env.close_all_and_check_frames(&[vmo, no_dup]);
}

#[test]
fn duplicate_cannot_add_rights() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let ro = env.with_rights(vmo, Rights::READ | Rights::DUPLICATE);
    assert_eq!(env.zx.handle_duplicate(ro, Rights::READ | Rights::WRITE), Err(Status::InvalidArgs));
    // SAME_RIGHTS mixed with a right is not SAME_RIGHTS: it is a request for
    // a bit the handle lacks.
    assert_eq!(env.zx.handle_duplicate(ro, Rights::SAME_RIGHTS | Rights::READ), Err(Status::InvalidArgs));
    let unknown = Rights::from_bits_retain(1 << 30);
    assert_eq!(env.zx.handle_duplicate(vmo, unknown), Err(Status::InvalidArgs));
    env.close_all_and_check_frames(&[vmo, ro]);
}

#[test]
fn duplicate_of_a_bad_handle_is_bad_handle() {
    let env = Env::new();
    assert_eq!(env.zx.handle_duplicate(Handle::INVALID, Rights::SAME_RIGHTS), Err(Status::BadHandle));
    assert_eq!(
        env.zx.handle_duplicate(Handle::from_raw(0x7fff_fff3), Rights::SAME_RIGHTS),
        Err(Status::BadHandle)
    );
    assert_eq!(env.zx.handle_duplicate(Handle::from_raw(8), Rights::SAME_RIGHTS), Err(Status::BadHandle));
}

#[test]
fn replace_invalidates_the_source_and_needs_no_duplicate_right() {
    let env = Env::new();
    let vmo = env.vmo(1);
    env.zx.vmo_write(vmo, b"abc", 0).unwrap();
    let no_dup = env.with_rights(vmo, Rights::READ | Rights::WRITE);
    let ro = env.zx.handle_replace(no_dup, Rights::READ).unwrap();
    assert_eq!(env.rights(ro), Rights::READ);
    assert_eq!(env.read(ro, 0, 3), b"abc");
    assert_eq!(env.zx.handle_close(no_dup), Err(Status::BadHandle));
    let same = env.zx.handle_replace(ro, Rights::SAME_RIGHTS).unwrap();
    assert_eq!(env.rights(same), Rights::READ);
    assert_eq!(env.zx.object_get_info_handle_basic(ro), Err(Status::BadHandle));
    env.close_all_and_check_frames(&[vmo, same]);
}

#[test]
fn failed_replace_still_invalidates_the_source() {
    let env = Env::new();
    let vmo = env.vmo(2);
    env.zx.vmo_write(vmo, &[1; 8192], 0).unwrap();
    let ro = env.with_rights(vmo, Rights::READ);
    assert_eq!(env.zx.handle_replace(ro, Rights::WRITE), Err(Status::InvalidArgs));
    assert_eq!(env.zx.handle_close(ro), Err(Status::BadHandle));
    // The last handle going away with a failed replace frees the object.
    assert_eq!(env.zx.handle_replace(vmo, Rights::WRITE | Rights::RESIZE), Err(Status::InvalidArgs));
    assert_eq!(env.zx.handle_close(vmo), Err(Status::BadHandle));
    env.machine.assert_no_frames_used();
}

#[test]
fn replace_of_a_bad_handle_is_bad_handle() {
    let env = Env::new();
    assert_eq!(env.zx.handle_replace(Handle::from_raw(0xfff), Rights::SAME_RIGHTS), Err(Status::BadHandle));
}

#[test]
fn handle_basic_info_reports_type_and_rights() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let info = env.zx.object_get_info_handle_basic(vmo).unwrap();
    assert_eq!(info.object_type, ObjectType::Vmo);
    assert_eq!(info.object_type.into_raw(), 3);
    assert_eq!(info.rights, Rights::DEFAULT_VMO);
    let root = env.zx.object_get_info_handle_basic(env.zx.root_vmar()).unwrap();
    assert_eq!(root.object_type, ObjectType::Vmar);
    assert_eq!(root.object_type.into_raw(), 18);
    assert_eq!(root.rights, Rights::DEFAULT_VMAR | Rights::READ | Rights::WRITE | Rights::EXECUTE);
    assert_eq!(env.zx.object_get_info_handle_basic(Handle::INVALID), Err(Status::BadHandle));
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn handles_of_the_wrong_type_are_wrong_type() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let root = env.zx.root_vmar();
    let mut buf = [0u8; 4];
    assert_eq!(env.zx.vmo_read(root, &mut buf, 0), Err(Status::WrongType));
    assert_eq!(env.zx.vmo_write(root, &buf, 0), Err(Status::WrongType));
    assert_eq!(env.zx.vmo_get_size(root), Err(Status::WrongType));
    assert_eq!(env.zx.vmo_set_size(root, 0), Err(Status::WrongType));
    assert_eq!(env.zx.vmo_create_child(root, 1, 0, 4096), Err(Status::WrongType));
    assert_eq!(env.zx.vmo_op_range(root, 1, 0, 4096, &mut []), Err(Status::WrongType));
    assert_eq!(env.zx.vmar_allocate(vmo, 0, 0, 4096), Err(Status::WrongType));
    assert_eq!(env.zx.vmar_map(vmo, 1, 0, vmo, 0, 4096), Err(Status::WrongType));
    assert_eq!(env.zx.vmar_map(root, 1, 0, root, 0, 4096), Err(Status::WrongType));
    assert_eq!(env.zx.vmar_unmap(vmo, 0, 4096), Err(Status::WrongType));
    assert_eq!(env.zx.vmar_protect(vmo, 1, 0, 4096), Err(Status::WrongType));
    assert_eq!(env.zx.vmar_op_range(vmo, 1, 0, 4096, &mut []), Err(Status::WrongType));
    assert_eq!(env.zx.vmar_destroy(vmo), Err(Status::WrongType));
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn wrong_type_comes_before_access_denied() {
    // Digest §2: a handle with no rights at all of the wrong type is
    // WRONG_TYPE, not ACCESS_DENIED.
    let env = Env::new();
    let vmar = env.with_rights(env.zx.root_vmar(), Rights::empty());
    let mut buf = [0u8; 4];
    assert_eq!(env.zx.vmo_read(vmar, &mut buf, 0), Err(Status::WrongType));
    let vmo = env.vmo(1);
    let bare = env.with_rights(vmo, Rights::empty());
    assert_eq!(env.zx.vmar_protect(bare, 1, 0, 4096), Err(Status::WrongType));
    assert_eq!(env.zx.vmar_destroy(bare), Err(Status::WrongType));
    env.close_all_and_check_frames(&[vmo, bare, vmar]);
}

#[test]
fn instances_have_independent_handle_tables() {
    let a = Env::new();
    let b = Env::new();
    let va = a.vmo(1);
    let vb = b.vmo(2);
    a.zx.vmo_write(va, b"A", 0).unwrap();
    b.zx.vmo_write(vb, b"B", 0).unwrap();
    // Each instance resolves its own values, even when they coincide.
    assert_eq!(a.read(va, 0, 1), b"A");
    assert_eq!(b.read(vb, 0, 1), b"B");
    assert_eq!(a.zx.vmo_get_size(va), Ok(4096));
    assert_eq!(b.zx.vmo_get_size(vb), Ok(8192));
    a.zx.handle_close(va).unwrap();
    assert_eq!(b.read(vb, 0, 1), b"B");
    a.machine.assert_no_frames_used();
    b.close_all_and_check_frames(&[vb]);
}

#[test]
fn handle_count_tracks_open_handles() {
    let env = Env::new();
    assert_eq!(env.zx.handle_count(), 1, "the root VMAR handle");
    let vmo = env.vmo(1);
    let dup = env.zx.handle_duplicate(vmo, Rights::SAME_RIGHTS).unwrap();
    assert_eq!(env.zx.handle_count(), 3);
    let replaced = env.zx.handle_replace(dup, Rights::READ).unwrap();
    assert_eq!(env.zx.handle_count(), 3);
    env.close_all_and_check_frames(&[vmo, replaced]);
    assert_eq!(env.zx.handle_count(), 1);
}
