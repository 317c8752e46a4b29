//! `zx_object_get_property` / `zx_object_set_property`: `ZX_PROP_NAME` and
//! `ZX_PROP_VMO_CONTENT_SIZE` (digest §2.8, §4.4 ContentSize), with every
//! error of each.

mod support;

use support::*;
use vm_core::vmo::MAX_SIZE;
use zx::info::ZX_MAX_NAME_LEN;
use zx::options::*;
use zx::property::*;
use zx::{Handle, Rights, Status};

fn name(env: &Env, h: Handle) -> Vec<u8> {
    let mut buf = [0xffu8; ZX_MAX_NAME_LEN];
    env.zx.object_get_property(h, ZX_PROP_NAME, &mut buf).unwrap();
    let end = buf.iter().position(|&b| b == 0).expect("NUL-terminated");
    assert!(buf[end..].iter().all(|&b| b == 0), "NUL-padded");
    buf[..end].to_vec()
}

fn content_size(env: &Env, h: Handle) -> u64 {
    let mut buf = [0u8; 8];
    env.zx.object_get_property(h, ZX_PROP_VMO_CONTENT_SIZE, &mut buf).unwrap();
    u64::from_ne_bytes(buf)
}

fn set_content_size(env: &Env, h: Handle, size: u64) -> Result<(), Status> {
    env.zx.object_set_property(h, ZX_PROP_VMO_CONTENT_SIZE, &size.to_ne_bytes())
}

#[test]
fn names_are_set_cut_and_read_back() {
    let env = Env::new();
    let vmo = env.vmo(1);
    assert_eq!(name(&env, vmo), b"");
    env.zx.object_set_property(vmo, ZX_PROP_NAME, b"hello").unwrap();
    assert_eq!(name(&env, vmo), b"hello");
    assert_eq!(&env.zx.object_get_info_vmo(vmo).unwrap().name[..6], b"hello\0");
    // Longer than ZX_MAX_NAME_LEN - 1: cut; a NUL ends it early.
    env.zx.object_set_property(vmo, ZX_PROP_NAME, &[b'a'; 40]).unwrap();
    assert_eq!(name(&env, vmo), vec![b'a'; ZX_MAX_NAME_LEN - 1]);
    env.zx.object_set_property(vmo, ZX_PROP_NAME, b"ab\0cd").unwrap();
    assert_eq!(name(&env, vmo), b"ab");
    env.zx.object_set_property(vmo, ZX_PROP_NAME, b"").unwrap();
    assert_eq!(name(&env, vmo), b"");
    // A larger buffer gets the name's ZX_MAX_NAME_LEN bytes.
    env.zx.object_set_property(vmo, ZX_PROP_NAME, b"x").unwrap();
    let mut big = [0xffu8; 40];
    env.zx.object_get_property(vmo, ZX_PROP_NAME, &mut big).unwrap();
    assert_eq!((big[0], big[1], big[ZX_MAX_NAME_LEN]), (b'x', 0, 0xff));
    env.close_all_and_check_clean(&[vmo]);
}

#[test]
fn a_child_takes_the_name_when_the_parent_handle_may_read_it() {
    let env = Env::new();
    let vmo = env.vmo(1);
    env.zx.object_set_property(vmo, ZX_PROP_NAME, b"parent").unwrap();
    let child = env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, P).unwrap();
    assert_eq!(name(&env, child), b"parent");
    env.zx.object_set_property(child, ZX_PROP_NAME, b"child").unwrap();
    assert_eq!(name(&env, vmo), b"parent", "names are per VMO");
    let blind = env.with_rights(vmo, Rights::DUPLICATE | Rights::READ);
    let slice = env.zx.vmo_create_child(blind, ZX_VMO_CHILD_SLICE, 0, P).unwrap();
    assert_eq!(name(&env, slice), b"", "the handle could not read the name");
    env.close_all_and_check_clean(&[child, slice, blind, vmo]);
}

#[test]
fn property_errors() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let bad = Handle::from_raw(0x7fff_fff3);
    let mut buf = [0u8; ZX_MAX_NAME_LEN];
    assert_eq!(env.zx.object_get_property(bad, ZX_PROP_NAME, &mut buf), Err(Status::BadHandle));
    assert_eq!(env.zx.object_set_property(bad, ZX_PROP_NAME, b"x"), Err(Status::BadHandle));
    let no_get = env.with_rights(vmo, Rights::DEFAULT_VMO - Rights::GET_PROPERTY);
    let no_set = env.with_rights(vmo, Rights::DEFAULT_VMO - Rights::SET_PROPERTY);
    assert_eq!(env.zx.object_get_property(no_get, ZX_PROP_NAME, &mut buf), Err(Status::AccessDenied));
    assert_eq!(env.zx.object_set_property(no_set, ZX_PROP_NAME, b"x"), Err(Status::AccessDenied));
    assert_eq!(
        env.zx.object_get_property(no_get, ZX_PROP_VMO_CONTENT_SIZE, &mut buf),
        Err(Status::AccessDenied)
    );
    assert_eq!(set_content_size(&env, no_set, 1), Err(Status::AccessDenied));
    // Rights are checked before the property and its buffer.
    assert_eq!(env.zx.object_get_property(no_get, 0x999, &mut []), Err(Status::AccessDenied));
    assert_eq!(env.zx.object_get_property(vmo, 0x999, &mut buf), Err(Status::NotSupported));
    assert_eq!(env.zx.object_set_property(vmo, 0x999, &buf), Err(Status::NotSupported));
    // Buffers too small.
    let mut short = [0u8; ZX_MAX_NAME_LEN - 1];
    assert_eq!(env.zx.object_get_property(vmo, ZX_PROP_NAME, &mut short), Err(Status::BufferTooSmall));
    assert_eq!(
        env.zx.object_get_property(vmo, ZX_PROP_VMO_CONTENT_SIZE, &mut [0; 7]),
        Err(Status::BufferTooSmall)
    );
    assert_eq!(
        env.zx.object_set_property(vmo, ZX_PROP_VMO_CONTENT_SIZE, &[0; 7]),
        Err(Status::BufferTooSmall)
    );
    assert_eq!(content_size(&env, vmo), P, "a failed set changes nothing");
    // Objects other than VMOs carry no property rights.
    let port = env.zx.port_create(0).unwrap();
    assert_eq!(env.zx.object_get_property(port, ZX_PROP_NAME, &mut buf), Err(Status::AccessDenied));
    assert_eq!(
        env.zx.object_get_property(env.zx.root_vmar(), ZX_PROP_VMO_CONTENT_SIZE, &mut buf),
        Err(Status::AccessDenied)
    );
    env.close_all_and_check_clean(&[vmo, no_get, no_set, port]);
}

#[test]
fn content_size_is_kept_unrounded_and_follows_set_size() {
    let env = Env::new();
    let vmo = env.zx.vmo_create(P + 5, ZX_VMO_RESIZABLE).unwrap();
    assert_eq!((content_size(&env, vmo), env.zx.vmo_get_size(vmo).unwrap()), (P + 5, 2 * P));
    env.zx.vmo_set_size(vmo, 3 * P + 7).unwrap();
    assert_eq!((content_size(&env, vmo), env.zx.vmo_get_size(vmo).unwrap()), (3 * P + 7, 4 * P));
    env.zx.vmo_set_size(vmo, 10).unwrap();
    assert_eq!((content_size(&env, vmo), env.zx.vmo_get_size(vmo).unwrap()), (10, P));
    assert_eq!(env.zx.vmo_set_size(vmo, u64::MAX), Err(Status::OutOfRange));
    assert_eq!(content_size(&env, vmo), 10, "a failed resize keeps it");
    let fixed = env.zx.vmo_create(100, 0).unwrap();
    assert_eq!(env.zx.vmo_set_size(fixed, 200), Err(Status::Unavailable));
    assert_eq!(content_size(&env, fixed), 100);
    // UNBOUNDED: the largest size, the content size asked for.
    let unbounded = env.zx.vmo_create(1234, ZX_VMO_UNBOUNDED).unwrap();
    assert_eq!((content_size(&env, unbounded), env.zx.vmo_get_size(unbounded).unwrap()), (1234, MAX_SIZE));
    // Children: their own size as given; a reference shares its parent's.
    let child = env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, 77).unwrap();
    assert_eq!((content_size(&env, child), env.zx.vmo_get_size(child).unwrap()), (77, P));
    let reference = env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_REFERENCE, 0, 0).unwrap();
    assert_eq!(content_size(&env, reference), 10);
    env.zx.vmo_set_size(vmo, 2 * P + 1).unwrap();
    assert_eq!(content_size(&env, reference), 2 * P + 1);
    env.close_all_and_check_clean(&[vmo, fixed, unbounded, child, reference]);
}

#[test]
fn a_shrink_to_an_unaligned_size_zeroes_the_rest_of_the_last_page() {
    let env = Env::new();
    let vmo = env.resizable_vmo(2);
    env.zx.vmo_write(vmo, &[7; 2 * P as usize], 0).unwrap();
    env.zx.vmo_set_size(vmo, P + 100).unwrap();
    let bytes = env.read(vmo, 0, 2 * P as usize);
    assert!(bytes[..P as usize + 100].iter().all(|&b| b == 7));
    assert!(bytes[P as usize + 100..].iter().all(|&b| b == 0));
    // A snapshot shares the page: the zeroing forks it, and without a frame
    // for that the shrink fails whole.
    env.zx.vmo_write(vmo, &[8; P as usize], P).unwrap();
    let child = env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, 2 * P).unwrap();
    let hog = env.vmo(FRAMES as u64);
    let mut page = 0;
    while env.zx.vmo_op_range(hog, zx::ops::ZX_VMO_OP_COMMIT, page * P, P, &mut []).is_ok() {
        page += 1;
    }
    assert_eq!(env.zx.vmo_set_size(vmo, P + 50), Err(Status::NoMemory));
    assert_eq!((content_size(&env, vmo), env.read(vmo, P + 60, 1)), (P + 100, vec![8]), "nothing changed");
    env.close_all_and_check_clean(&[hog, child, vmo]);
}

#[test]
fn a_pager_vmo_keeps_its_content_size_too() {
    let up = UserPager::new();
    let vmo = up.zx().pager_create_vmo(up.pager, 0, up.port, 1, 3 * P + 3).unwrap();
    assert_eq!((content_size(&up.env, vmo), up.zx().vmo_get_size(vmo).unwrap()), (3 * P + 3, 4 * P));
    let unbounded = up.zx().pager_create_vmo(up.pager, ZX_VMO_UNBOUNDED, up.port, 2, 99).unwrap();
    assert_eq!((content_size(&up.env, unbounded), up.zx().vmo_get_size(unbounded).unwrap()), (99, MAX_SIZE));
    up.close_all_and_check_clean(&[vmo, unbounded]);
}

#[test]
fn setting_the_content_size_zeroes_what_lies_past_it() {
    let env = Env::new();
    let vmo = env.vmo(3);
    env.zx.vmo_write(vmo, &[7; 3 * P as usize], 0).unwrap();
    set_content_size(&env, vmo, P + 10).unwrap();
    assert_eq!(content_size(&env, vmo), P + 10);
    assert_eq!(env.zx.vmo_get_size(vmo).unwrap(), 3 * P, "the size stays");
    let bytes = env.read(vmo, 0, 3 * P as usize);
    assert!(bytes[..P as usize + 10].iter().all(|&b| b == 7));
    assert!(bytes[P as usize + 10..].iter().all(|&b| b == 0));
    assert_eq!(env.machine.used_frames(), 2, "the whole page past it went");
    // Past the size: allowed, nothing to zero.
    set_content_size(&env, vmo, 10 * P).unwrap();
    assert_eq!((content_size(&env, vmo), env.zx.vmo_get_size(vmo).unwrap()), (10 * P, 3 * P));
    env.close_all_and_check_clean(&[vmo]);
}
