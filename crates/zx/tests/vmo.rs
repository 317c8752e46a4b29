//! `zx_vmo_create`, `_read`, `_write`, `_get_size`, `_set_size` and
//! `_create_child` (digest §2.8-2.10, §4.4): every error condition, the
//! rights of new handles, and translations of VmoTestCase cases.

mod support;

use support::*;
use vm_core::vmo::MAX_SIZE;
use zx::options::*;
use zx::{Rights, Status};

const ALL_CHILD_TYPES: [u32; 5] = [
    ZX_VMO_CHILD_SNAPSHOT,
    ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE,
    ZX_VMO_CHILD_SNAPSHOT_MODIFIED,
    ZX_VMO_CHILD_SLICE,
    ZX_VMO_CHILD_REFERENCE,
];

/// Size and offset a child of each type takes of a `pages`-page parent
/// (a REFERENCE takes 0, 0).
fn child_range(kind: u32, pages: u64) -> (u64, u64) {
    if kind == ZX_VMO_CHILD_REFERENCE {
        (0, 0)
    } else {
        (0, pages * P)
    }
}

// ---- zx_vmo_create -------------------------------------------------------

#[test]
fn create_rounds_the_size_up_and_gives_default_rights() {
    let env = Env::new();
    for (size, expect) in [(0, 0), (1, P), (P, P), (P + 1, 2 * P), (10 * P - 1, 10 * P)] {
        let vmo = env.zx.vmo_create(size, 0).unwrap();
        assert_eq!(env.zx.vmo_get_size(vmo), Ok(expect));
        assert_eq!(env.rights(vmo), Rights::DEFAULT_VMO);
        env.zx.handle_close(vmo).unwrap();
    }
    // Creating allocates nothing.
    env.machine.assert_no_frames_used();
}

#[test]
fn create_options() {
    let env = Env::new();
    let resizable = env.zx.vmo_create(P, ZX_VMO_RESIZABLE).unwrap();
    assert_eq!(env.rights(resizable), Rights::DEFAULT_VMO | Rights::RESIZE);
    let discardable = env.zx.vmo_create(P, ZX_VMO_DISCARDABLE).unwrap();
    assert_eq!(env.rights(discardable), Rights::DEFAULT_VMO);
    let both = env.zx.vmo_create(P, ZX_VMO_RESIZABLE | ZX_VMO_DISCARDABLE).unwrap();
    assert_eq!(env.rights(both), Rights::DEFAULT_VMO | Rights::RESIZE);
    let unbounded = env.zx.vmo_create(3 * P, ZX_VMO_UNBOUNDED).unwrap();
    assert_eq!(env.zx.vmo_get_size(unbounded), Ok(MAX_SIZE));
    env.zx.vmo_write(unbounded, b"far", MAX_SIZE - 3).unwrap();
    assert_eq!(env.read(unbounded, MAX_SIZE - 3, 3), b"far");
    env.close_all_and_check_frames(&[resizable, discardable, both, unbounded]);
}

#[test]
fn create_rejects_unknown_and_pager_only_options() {
    let env = Env::new();
    for options in [
        ZX_VMO_TRAP_DIRTY,
        1 << 0,
        1 << 5,
        1 << 31,
        !0,
        ZX_VMO_UNBOUNDED | ZX_VMO_RESIZABLE,
        ZX_VMO_RESIZABLE | ZX_VMO_TRAP_DIRTY,
    ] {
        assert_eq!(env.zx.vmo_create(P, options), Err(Status::InvalidArgs), "{options:#x}");
    }
    assert_eq!(env.zx.handle_count(), 1);
}

#[test]
fn create_too_large_is_out_of_range() {
    let env = Env::new();
    assert_eq!(env.zx.vmo_create(u64::MAX, 0), Err(Status::OutOfRange));
    assert_eq!(env.zx.vmo_create(MAX_SIZE + 1, 0), Err(Status::OutOfRange));
    let max = env.zx.vmo_create(MAX_SIZE, 0).unwrap();
    assert_eq!(env.zx.vmo_get_size(max), Ok(MAX_SIZE));
    env.close_all_and_check_frames(&[max]);
}

// ---- zx_vmo_read / zx_vmo_write ------------------------------------------

#[test]
fn read_write_round_trip_at_any_offset() {
    let env = Env::new();
    let vmo = env.vmo(3);
    let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    env.zx.vmo_write(vmo, &data, P - 100).unwrap();
    assert_eq!(env.read(vmo, P - 100, 5000), data);
    assert_eq!(env.read(vmo, 0, 10), [0; 10]);
    // The write touched pages 0, 1 and 2.
    assert_eq!(env.machine.used_frames(), 3);
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn read_write_range() {
    // VmoTestCase.ReadWriteRange.
    let env = Env::new();
    let size = P;
    let vmo = env.vmo(1);
    let mut buf = vec![0u8; size as usize + 1];
    // Past the end.
    assert_eq!(env.zx.vmo_read(vmo, &mut buf, 0), Err(Status::OutOfRange));
    assert_eq!(env.zx.vmo_write(vmo, &buf, 0), Err(Status::OutOfRange));
    assert_eq!(env.zx.vmo_read(vmo, &mut buf[..2], size - 1), Err(Status::OutOfRange));
    assert_eq!(env.zx.vmo_write(vmo, &buf[..2], size - 1), Err(Status::OutOfRange));
    // Zero bytes at the end are OK, one past it is not.
    assert_eq!(env.zx.vmo_read(vmo, &mut [], size), Ok(()));
    assert_eq!(env.zx.vmo_write(vmo, &[], size), Ok(()));
    assert_eq!(env.zx.vmo_read(vmo, &mut [], size + 1), Err(Status::OutOfRange));
    assert_eq!(env.zx.vmo_write(vmo, &[], size + 1), Err(Status::OutOfRange));
    // Wraparound.
    assert_eq!(env.zx.vmo_read(vmo, &mut buf[..2], u64::MAX), Err(Status::OutOfRange));
    assert_eq!(env.zx.vmo_write(vmo, &buf[..2], u64::MAX - 1), Err(Status::OutOfRange));
    // A whole-VMO read is fine; nothing was written by the failures.
    assert_eq!(env.read(vmo, 0, size as usize), vec![0; size as usize]);
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn read_needs_read_and_write_needs_write() {
    let env = Env::new();
    let vmo = env.vmo(1);
    env.zx.vmo_write(vmo, b"data", 0).unwrap();
    let wo = env.with_rights(vmo, Rights::WRITE);
    let ro = env.with_rights(vmo, Rights::READ);
    let mut buf = [0u8; 4];
    assert_eq!(env.zx.vmo_read(wo, &mut buf, 0), Err(Status::AccessDenied));
    assert_eq!(env.zx.vmo_write(ro, b"nope", 0), Err(Status::AccessDenied));
    // ACCESS_DENIED comes before OUT_OF_RANGE.
    assert_eq!(env.zx.vmo_read(wo, &mut buf, 10 * P), Err(Status::AccessDenied));
    env.zx.vmo_read(ro, &mut buf, 0).unwrap();
    assert_eq!(&buf, b"data");
    env.zx.vmo_write(wo, b"DATA", 0).unwrap();
    assert_eq!(env.read(ro, 0, 4), b"DATA");
    env.close_all_and_check_frames(&[vmo, wo, ro]);
}

#[test]
fn bad_handles_are_bad_handle() {
    let env = Env::new();
    let bad = zx::Handle::from_raw(0x4000_0003);
    let mut buf = [0u8; 1];
    assert_eq!(env.zx.vmo_read(bad, &mut buf, 0), Err(Status::BadHandle));
    assert_eq!(env.zx.vmo_write(bad, &buf, 0), Err(Status::BadHandle));
    assert_eq!(env.zx.vmo_get_size(bad), Err(Status::BadHandle));
    assert_eq!(env.zx.vmo_set_size(bad, 0), Err(Status::BadHandle));
    assert_eq!(env.zx.vmo_create_child(bad, ZX_VMO_CHILD_SNAPSHOT, 0, P), Err(Status::BadHandle));
    assert_eq!(env.zx.vmo_op_range(bad, 1, 0, P, &mut []), Err(Status::BadHandle));
    // BAD_HANDLE comes before INVALID_ARGS of the op.
    assert_eq!(env.zx.vmo_op_range(bad, 0, 0, P, &mut []), Err(Status::BadHandle));
}

// ---- zx_vmo_get_size / zx_vmo_set_size -----------------------------------

#[test]
fn get_size_needs_no_right() {
    let env = Env::new();
    let vmo = env.vmo(5);
    let bare = env.with_rights(vmo, Rights::empty());
    assert_eq!(env.zx.vmo_get_size(bare), Ok(5 * P));
    env.close_all_and_check_frames(&[vmo, bare]);
}

#[test]
fn resize_right() {
    // VmoTestCase.ResizeRight: WRITE and RESIZE are needed on a resizable
    // VMO; a VMO that is not resizable is UNAVAILABLE.
    let env = Env::new();
    let vmo = env.resizable_vmo(1);
    let no_resize = env.with_rights(vmo, Rights::DEFAULT_VMO);
    assert_eq!(env.zx.vmo_set_size(no_resize, 2 * P), Err(Status::AccessDenied));
    let no_write = env.with_rights(vmo, Rights::READ | Rights::RESIZE);
    assert_eq!(env.zx.vmo_set_size(no_write, 2 * P), Err(Status::AccessDenied));
    assert_eq!(env.zx.vmo_get_size(vmo), Ok(P));
    let write_resize = env.with_rights(vmo, Rights::WRITE | Rights::RESIZE);
    assert_eq!(env.zx.vmo_set_size(write_resize, 2 * P), Ok(()));
    assert_eq!(env.zx.vmo_get_size(vmo), Ok(2 * P));
    env.close_all_and_check_frames(&[vmo, no_resize, no_write, write_resize]);
}

#[test]
fn no_resize() {
    // VmoTestCase.NoResize.
    let env = Env::new();
    let vmo = env.vmo(1);
    assert_eq!(env.zx.vmo_set_size(vmo, 2 * P), Err(Status::Unavailable));
    assert_eq!(env.zx.vmo_set_size(vmo, 0), Err(Status::Unavailable));
    assert_eq!(env.zx.vmo_get_size(vmo), Ok(P));
    let ro = env.with_rights(vmo, Rights::READ);
    assert_eq!(env.zx.vmo_set_size(ro, 2 * P), Err(Status::AccessDenied));
    env.close_all_and_check_frames(&[vmo, ro]);
}

#[test]
fn resize_rounds_up_frees_and_regrows_zero() {
    // VmoTestCase.Resize.
    let env = Env::new();
    let vmo = env.resizable_vmo(4);
    env.zx.vmo_write(vmo, &[0xaa; 4 * 4096], 0).unwrap();
    assert_eq!(env.machine.used_frames(), 4);
    env.zx.vmo_set_size(vmo, P + 1).unwrap();
    assert_eq!(env.zx.vmo_get_size(vmo), Ok(2 * P));
    assert_eq!(env.machine.used_frames(), 2);
    let mut buf = [0u8; 1];
    assert_eq!(env.zx.vmo_read(vmo, &mut buf, 2 * P), Err(Status::OutOfRange));
    env.zx.vmo_set_size(vmo, 4 * P).unwrap();
    // The shrink zeroed the last page past the content size (Zircon's
    // `SetSize`); the kept bytes before it stay.
    assert_eq!(env.read(vmo, P, 2), [0xaa, 0]);
    assert_eq!(env.read(vmo, 2 * P - 1, 2), [0, 0]);
    assert_eq!(env.zx.vmo_set_size(vmo, u64::MAX), Err(Status::OutOfRange));
    assert_eq!(env.zx.vmo_get_size(vmo), Ok(4 * P));
    env.close_all_and_check_frames(&[vmo]);
}

// ---- zx_vmo_create_child -------------------------------------------------

#[test]
fn create_child_needs_duplicate_and_read() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let no_dup = env.with_rights(vmo, Rights::DEFAULT_VMO - Rights::DUPLICATE);
    let no_read = env.with_rights(vmo, Rights::DEFAULT_VMO - Rights::READ);
    for kind in ALL_CHILD_TYPES {
        let (offset, size) = child_range(kind, 1);
        for handle in [no_dup, no_read] {
            assert_eq!(env.zx.vmo_create_child(handle, kind, offset, size), Err(Status::AccessDenied));
        }
        // ACCESS_DENIED comes before INVALID_ARGS.
        assert_eq!(
            env.zx.vmo_create_child(no_dup, kind | ZX_VMO_CHILD_NO_WRITE | ZX_VMO_CHILD_RESIZABLE, 1, size),
            Err(Status::AccessDenied)
        );
    }
    env.close_all_and_check_frames(&[vmo, no_dup, no_read]);
}

#[test]
fn child_rights() {
    // VmoTestCase.Rights: SNAPSHOT = (parent|props|WRITE)&~EXEC;
    // SNAPSHOT|NO_WRITE = (parent|props)&~WRITE; SLICE = parent|props;
    // SLICE|NO_WRITE = (parent|props)&~WRITE.
    let env = Env::new();
    let vmo = env.vmo(1);
    let props = Rights::GET_PROPERTY | Rights::SET_PROPERTY;
    for parent in [
        Rights::READ | Rights::DUPLICATE,
        Rights::READ | Rights::DUPLICATE | Rights::MAP,
        Rights::READ | Rights::DUPLICATE | Rights::WRITE | Rights::TRANSFER,
        Rights::DEFAULT_VMO,
    ] {
        let handle = env.with_rights(vmo, parent);
        let cases = [
            (ZX_VMO_CHILD_SNAPSHOT, (parent | props | Rights::WRITE) - Rights::EXECUTE),
            (ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, parent | props | Rights::WRITE),
            (ZX_VMO_CHILD_SNAPSHOT_MODIFIED, parent | props | Rights::WRITE),
            (ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_NO_WRITE, (parent | props) - Rights::WRITE),
            (ZX_VMO_CHILD_SLICE, parent | props),
            (ZX_VMO_CHILD_SLICE | ZX_VMO_CHILD_NO_WRITE, (parent | props) - Rights::WRITE),
            (ZX_VMO_CHILD_REFERENCE, parent | props),
            (ZX_VMO_CHILD_REFERENCE | ZX_VMO_CHILD_NO_WRITE, (parent | props) - Rights::WRITE),
            (ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_RESIZABLE, parent | props | Rights::WRITE | Rights::RESIZE),
        ];
        for (options, expect) in cases {
            let (offset, size) = child_range(options & !ZX_VMO_CHILD_NO_WRITE & !ZX_VMO_CHILD_RESIZABLE, 1);
            let child = env.zx.vmo_create_child(handle, options, offset, size).unwrap();
            assert_eq!(env.rights(child), expect, "parent {parent:?} options {options:#x}");
            env.zx.handle_close(child).unwrap();
        }
        env.zx.handle_close(handle).unwrap();
    }
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn child_resize_right_follows_the_child_not_the_parent() {
    // VmoTestCase.ChildResizeRight: RESIZE comes from CHILD_RESIZABLE only.
    let env = Env::new();
    let parent = env.resizable_vmo(2);
    let child = env.zx.vmo_create_child(parent, ZX_VMO_CHILD_SNAPSHOT, 0, 2 * P).unwrap();
    assert!(!env.rights(child).contains(Rights::RESIZE));
    assert_eq!(env.zx.vmo_set_size(child, P), Err(Status::Unavailable));
    let resizable = env
        .zx
        .vmo_create_child(parent, ZX_VMO_CHILD_SNAPSHOT_MODIFIED | ZX_VMO_CHILD_RESIZABLE, 0, 2 * P)
        .unwrap();
    assert!(env.rights(resizable).contains(Rights::RESIZE));
    assert_eq!(env.zx.vmo_set_size(resizable, P), Ok(()));
    let reference =
        env.zx.vmo_create_child(parent, ZX_VMO_CHILD_REFERENCE | ZX_VMO_CHILD_RESIZABLE, 0, 0).unwrap();
    assert!(env.rights(reference).contains(Rights::RESIZE));
    env.close_all_and_check_frames(&[parent, child, resizable, reference]);
}

#[test]
fn no_write_resizable_is_invalid_for_every_type() {
    // VmoTestCase.NoWriteResizable.
    let env = Env::new();
    let vmo = env.resizable_vmo(1);
    for kind in ALL_CHILD_TYPES {
        let (offset, size) = child_range(kind, 1);
        assert_eq!(
            env.zx.vmo_create_child(vmo, kind | ZX_VMO_CHILD_NO_WRITE | ZX_VMO_CHILD_RESIZABLE, offset, size),
            Err(Status::InvalidArgs),
            "{kind:#x}"
        );
    }
    assert_eq!(env.zx.handle_count(), 2);
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn child_options_need_exactly_one_type() {
    let env = Env::new();
    let vmo = env.vmo(1);
    for options in [
        0,
        ZX_VMO_CHILD_NO_WRITE,
        ZX_VMO_CHILD_RESIZABLE,
        ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_SLICE,
        ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE,
        ZX_VMO_CHILD_SLICE | ZX_VMO_CHILD_REFERENCE,
        ZX_VMO_CHILD_SNAPSHOT_MODIFIED | ZX_VMO_CHILD_REFERENCE,
        ZX_VMO_CHILD_SNAPSHOT | (1 << 1),
        ZX_VMO_CHILD_SLICE | (1 << 8),
        ZX_VMO_CHILD_SLICE | ZX_VMO_CHILD_RESIZABLE,
    ] {
        assert_eq!(env.zx.vmo_create_child(vmo, options, 0, P), Err(Status::InvalidArgs), "{options:#x}");
    }
    assert_eq!(env.zx.handle_count(), 2);
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn child_ranges_and_parents_checked_by_the_vmo() {
    let env = Env::new();
    let vmo = env.vmo(2);
    // Misaligned offsets.
    for kind in [ZX_VMO_CHILD_SNAPSHOT, ZX_VMO_CHILD_SLICE] {
        assert_eq!(env.zx.vmo_create_child(vmo, kind, 1, P), Err(Status::InvalidArgs));
    }
    // A size that overflows when rounded up.
    assert_eq!(env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, u64::MAX), Err(Status::OutOfRange));
    // A slice must lie within its parent.
    assert_eq!(env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, P, 2 * P), Err(Status::InvalidArgs));
    // A reference takes no range.
    assert_eq!(env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_REFERENCE, 0, P), Err(Status::InvalidArgs));
    // A slice of a resizable VMO is not supported.
    let resizable = env.resizable_vmo(1);
    assert_eq!(env.zx.vmo_create_child(resizable, ZX_VMO_CHILD_SLICE, 0, P), Err(Status::NotSupported));
    // A discardable parent supports no child type (VmoTestCase.Discardable).
    let discardable = env.zx.vmo_create(P, ZX_VMO_DISCARDABLE).unwrap();
    for kind in ALL_CHILD_TYPES {
        let (offset, size) = child_range(kind, 1);
        assert_eq!(
            env.zx.vmo_create_child(discardable, kind, offset, size),
            Err(Status::NotSupported),
            "{kind:#x}"
        );
    }
    // Overflow accumulated through nesting (NoAccumulatedOverflow).
    let big = env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, MAX_SIZE - 2 * P, P).unwrap();
    assert_eq!(
        env.zx.vmo_create_child(big, ZX_VMO_CHILD_SNAPSHOT, MAX_SIZE - 2 * P, P),
        Err(Status::InvalidArgs)
    );
    assert_eq!(env.zx.handle_count(), 5);
    env.close_all_and_check_frames(&[vmo, resizable, discardable, big]);
}

#[test]
fn snapshot_children_are_isolated_both_ways() {
    let env = Env::new();
    let parent = env.vmo(2);
    env.zx.vmo_write(parent, b"parent", 0).unwrap();
    let child = env.zx.vmo_create_child(parent, ZX_VMO_CHILD_SNAPSHOT, 0, 2 * P).unwrap();
    let grandchild = env.zx.vmo_create_child(child, ZX_VMO_CHILD_SNAPSHOT, 0, 2 * P).unwrap();
    assert_eq!(env.read(grandchild, 0, 6), b"parent");
    env.zx.vmo_write(child, b"child!", 0).unwrap();
    env.zx.vmo_write(parent, b"PARENT", 0).unwrap();
    assert_eq!(env.read(parent, 0, 6), b"PARENT");
    assert_eq!(env.read(child, 0, 6), b"child!");
    assert_eq!(env.read(grandchild, 0, 6), b"parent");
    // A NO_WRITE child can be read but not written.
    let ro = env.zx.vmo_create_child(parent, ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_NO_WRITE, 0, P).unwrap();
    assert_eq!(env.zx.vmo_write(ro, b"x", 0), Err(Status::AccessDenied));
    assert_eq!(env.read(ro, 0, 6), b"PARENT");
    env.close_all_and_check_frames(&[parent, child, grandchild, ro]);
}

#[test]
fn slices_and_references_share_the_parent() {
    let env = Env::new();
    let parent = env.vmo(4);
    let slice = env.zx.vmo_create_child(parent, ZX_VMO_CHILD_SLICE, P, 2 * P).unwrap();
    let reference = env.zx.vmo_create_child(parent, ZX_VMO_CHILD_REFERENCE, 0, 0).unwrap();
    assert_eq!(env.zx.vmo_get_size(slice), Ok(2 * P));
    assert_eq!(env.zx.vmo_get_size(reference), Ok(4 * P));
    env.zx.vmo_write(slice, b"via slice", 10).unwrap();
    assert_eq!(env.read(parent, P + 10, 9), b"via slice");
    assert_eq!(env.read(reference, P + 10, 9), b"via slice");
    let mut buf = [0u8; 1];
    assert_eq!(env.zx.vmo_read(slice, &mut buf, 2 * P), Err(Status::OutOfRange));
    env.close_all_and_check_frames(&[parent, slice, reference]);
}
