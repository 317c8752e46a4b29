//! `zx_object_get_info`: the topics, their records and buffer rules, and
//! the `ZX_INFO_VMO` fields after each kind of operation (digest §2.2,
//! §2.10, §4.4 Info, §4.5 Info/Children/ManyChildren, §7 item 7: the
//! fractional attribution model of `vm_core::vmo`'s info module).

mod support;

use std::sync::Arc;

use support::*;
use vm_core::mock::MockMmu;
use vm_core::vmar::{VmFlags, VmOptions, Vmar};
use zx::info::*;
use zx::ops::*;
use zx::options::*;
use zx::{Handle, ObjectType, Rights, Status};

fn info(env: &Env, vmo: Handle) -> VmoInfoRecord {
    env.zx.object_get_info_vmo(vmo).unwrap()
}

fn committed(env: &Env, vmo: Handle) -> u64 {
    info(env, vmo).committed_bytes
}

#[test]
fn topics_buffers_actual_and_avail() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let bad = Handle::from_raw(0x7fff_fff3);
    let (mut actual, mut avail) = (9, 9);

    // An unknown topic is refused before the handle is looked at.
    assert_eq!(env.zx.object_get_info(bad, 0x55, &mut [], None, None), Err(Status::NotSupported));
    assert_eq!(env.zx.object_get_info(vmo, ZX_INFO_HANDLE_VALID, &mut [], None, None), Ok(()));
    assert_eq!(
        env.zx.object_get_info(bad, ZX_INFO_HANDLE_VALID, &mut [], None, None),
        Err(Status::BadHandle)
    );
    assert_eq!(
        env.zx.object_get_info(bad, ZX_INFO_HANDLE_BASIC, &mut [0; 32], None, None),
        Err(Status::BadHandle)
    );

    // Too small for the one record: nothing written, actual 0, avail 1.
    let mut small = [0xaa; HandleBasicInfo::SIZE - 1];
    let r =
        env.zx.object_get_info(vmo, ZX_INFO_HANDLE_BASIC, &mut small, Some(&mut actual), Some(&mut avail));
    assert_eq!((r, actual, avail), (Err(Status::BufferTooSmall), 0, 1));
    assert!(small.iter().all(|&b| b == 0xaa));
    let mut buf = [0u8; 64];
    let r = env.zx.object_get_info(vmo, ZX_INFO_HANDLE_BASIC, &mut buf, Some(&mut actual), Some(&mut avail));
    assert_eq!((r, actual, avail), (Ok(()), 1, 1));
    let basic = env.zx.object_get_info_handle_basic(vmo).unwrap();
    assert_eq!(&buf[..HandleBasicInfo::SIZE], &basic.to_bytes());
    assert_eq!(u64::from_ne_bytes(buf[0..8].try_into().unwrap()), info(&env, vmo).koid);
    assert_eq!(u32::from_ne_bytes(buf[8..12].try_into().unwrap()), env.rights(vmo).bits());
    assert_eq!(u32::from_ne_bytes(buf[12..16].try_into().unwrap()), ObjectType::Vmo.into_raw());

    // ZX_INFO_VMO and its V1 and V2 prefixes.
    let full = info(&env, vmo).to_bytes();
    for (topic, len) in [
        (ZX_INFO_VMO_V1, VmoInfoRecord::V1_SIZE),
        (ZX_INFO_VMO_V2, VmoInfoRecord::V2_SIZE),
        (ZX_INFO_VMO, VmoInfoRecord::SIZE),
    ] {
        let mut buf = vec![0u8; len];
        let r = env.zx.object_get_info(vmo, topic, &mut buf[..len - 1], Some(&mut actual), Some(&mut avail));
        assert_eq!((r, actual, avail), (Err(Status::BufferTooSmall), 0, 1), "topic {topic:#x}");
        assert_eq!(env.zx.object_get_info(vmo, topic, &mut buf, Some(&mut actual), None), Ok(()));
        assert_eq!(actual, 1);
        assert_eq!(&buf[..], &full[..len]);
    }
    // No right is needed for the VMO topic; a VMAR is the wrong type.
    let bare = env.with_rights(vmo, Rights::empty());
    assert_eq!(env.zx.object_get_info_vmo(bare).unwrap().handle_rights, Rights::empty());
    let root = env.zx.root_vmar();
    assert_eq!(env.zx.object_get_info(root, ZX_INFO_VMO, &mut [0; 128], None, None), Err(Status::WrongType));
    assert_eq!(env.zx.object_get_info(bad, ZX_INFO_VMO, &mut [0; 128], None, None), Err(Status::BadHandle));

    // ZX_INFO_VMAR needs INSPECT and a VMAR.
    let mut buf = [0u8; VmarInfo::SIZE];
    env.zx.object_get_info(root, ZX_INFO_VMAR, &mut buf, None, None).unwrap();
    let vmar = env.zx.root_vmar_object();
    assert_eq!(buf, VmarInfo { base: vmar.base(), len: vmar.size() }.to_bytes());
    let (sub, base) = env.zx.vmar_allocate(root, ZX_VM_CAN_MAP_READ, 0, 16 * P).unwrap();
    env.zx.object_get_info(sub, ZX_INFO_VMAR, &mut buf, None, None).unwrap();
    assert_eq!(buf, VmarInfo { base, len: 16 * P }.to_bytes());
    let uninspectable = env.with_rights(sub, Rights::DEFAULT_VMAR - Rights::INSPECT);
    assert_eq!(
        env.zx.object_get_info(uninspectable, ZX_INFO_VMAR, &mut buf, None, None),
        Err(Status::AccessDenied)
    );
    assert_eq!(env.zx.object_get_info(vmo, ZX_INFO_VMAR, &mut buf, None, None), Err(Status::WrongType));
    let r = env.zx.object_get_info(sub, ZX_INFO_VMAR, &mut buf[..15], Some(&mut actual), Some(&mut avail));
    assert_eq!((r, actual, avail), (Err(Status::BufferTooSmall), 0, 1));
    env.close_all_and_check_clean(&[vmo, bare, sub, uninspectable]);
}

#[test]
fn koids_are_per_object_and_a_pager_vmo_names_its_pager() {
    let up = UserPager::new();
    let zx = up.zx();
    let vmo = up.env.vmo(1);
    let dup = zx.handle_duplicate(vmo, Rights::SAME_RIGHTS).unwrap();
    let paged = up.vmo(1, 7);
    let child = zx.vmo_create_child(paged, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, P).unwrap();
    let basic = |h| zx.object_get_info_handle_basic(h).unwrap();
    assert_eq!(basic(vmo).koid, basic(dup).koid);
    let koids = [vmo, paged, child, up.pager, up.port, zx.root_vmar()].map(|h| basic(h).koid);
    for (i, a) in koids.iter().enumerate() {
        assert_ne!(*a, 0);
        assert!(koids[i + 1..].iter().all(|b| b != a), "koids {koids:?} repeat");
    }
    assert_eq!(basic(paged).related_koid, basic(up.pager).koid);
    assert_eq!(basic(child).related_koid, 0, "only the VMO the pager made names it");
    assert_eq!(basic(vmo).related_koid, 0);
    assert_eq!(basic(up.port).object_type, ObjectType::Port);
    assert_eq!(info(&up.env, child).parent_koid, basic(paged).koid);
    up.close_all_and_check_clean(&[vmo, dup, paged, child]);
}

#[test]
fn a_new_vmo_reports_its_creation() {
    let env = Env::new();
    let plain = env.zx.vmo_create(3 * P - 1, 0).unwrap();
    let i = info(&env, plain);
    assert_eq!(i.size_bytes, 3 * P);
    assert_eq!(i.name, [0; ZX_MAX_NAME_LEN]);
    assert_eq!(i.flags, ZX_INFO_VMO_TYPE_PAGED | ZX_INFO_VMO_VIA_HANDLE);
    assert_eq!(i.handle_rights, env.rights(plain));
    assert_eq!((i.parent_koid, i.num_children, i.num_mappings, i.share_count), (0, 0, 0, 1));
    assert_eq!((i.committed_bytes, i.populated_bytes, i.cache_policy), (0, 0, ZX_CACHE_POLICY_CACHED));
    assert_eq!((i.metadata_bytes, i.committed_change_events), (0, 0));
    let resizable = env.resizable_vmo(1);
    assert_eq!(info(&env, resizable).flags & ZX_INFO_VMO_RESIZABLE, ZX_INFO_VMO_RESIZABLE);
    let discardable = env.zx.vmo_create(P, ZX_VMO_DISCARDABLE).unwrap();
    assert_eq!(info(&env, discardable).flags & ZX_INFO_VMO_DISCARDABLE, ZX_INFO_VMO_DISCARDABLE);
    let dup = env.with_rights(plain, Rights::READ | Rights::MAP);
    assert_eq!(info(&env, dup).handle_rights, Rights::READ | Rights::MAP);
    env.close_all_and_check_clean(&[plain, resizable, discardable, dup]);
}

#[test]
fn commit_decommit_and_faults_move_committed_bytes() {
    let env = Env::new();
    let vmo = env.vmo(8);
    env.zx.vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, 3 * P, &mut []).unwrap();
    let i = info(&env, vmo);
    assert_eq!((i.committed_bytes, i.populated_bytes), (3 * P, 3 * P));
    assert!(i.metadata_bytes > 0, "a page list holds the pages");
    env.zx.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, P, P, &mut []).unwrap();
    assert_eq!(committed(&env, vmo), 2 * P);
    let va = env.map_rw(vmo, 8);
    assert_eq!(info(&env, vmo).num_mappings, 1);
    env.load(va + 5 * P, 1).unwrap();
    assert_eq!(committed(&env, vmo), 2 * P, "a read fault maps the zero page");
    env.store(va + 5 * P, &[1]).unwrap();
    assert_eq!(committed(&env, vmo), 3 * P);
    env.zx.vmo_op_range(vmo, ZX_VMO_OP_ZERO, 0, 8 * P, &mut []).unwrap();
    assert_eq!(committed(&env, vmo), 0);
    assert_eq!(committed(&env, vmo), env.machine.used_frames() as u64 * P);
    env.zx.vmar_unmap(env.zx.root_vmar(), va, 8 * P).unwrap();
    assert_eq!(info(&env, vmo).num_mappings, 0);
    env.close_all_and_check_clean(&[vmo]);
}

#[test]
fn shared_copy_on_write_pages_are_split_among_their_viewers() {
    let env = Env::new();
    let parent = env.vmo(2);
    env.zx.vmo_write(parent, &[1; 2 * P as usize], 0).unwrap();
    let child = env.zx.vmo_create_child(parent, ZX_VMO_CHILD_SNAPSHOT, 0, 2 * P).unwrap();
    // Both pages are seen by both: half each.
    assert_eq!((committed(&env, parent), committed(&env, child)), (P, P));
    assert_eq!(env.machine.used_frames(), 2);
    let (p, c) = (info(&env, parent), info(&env, child));
    assert_eq!((p.num_children, c.num_children), (1, 0));
    assert_eq!((p.parent_koid, c.parent_koid), (0, p.koid));
    assert_eq!(
        (p.flags & ZX_INFO_VMO_IS_COW_CLONE, c.flags & ZX_INFO_VMO_IS_COW_CLONE),
        (0, ZX_INFO_VMO_IS_COW_CLONE)
    );

    // The child forks page 0: its copy is its own, the original is the
    // parent's alone; page 1 stays shared.
    env.zx.vmo_write(child, &[2], 0).unwrap();
    assert_eq!(env.machine.used_frames(), 3);
    assert_eq!((committed(&env, parent), committed(&env, child)), (P + P / 2, P + P / 2));

    // A second snapshot of the parent: page 1 is seen by three VMOs.
    let second = env.zx.vmo_create_child(parent, ZX_VMO_CHILD_SNAPSHOT, 0, 2 * P).unwrap();
    assert_eq!(info(&env, parent).num_children, 2);
    let shares = [parent, child, second].map(|h| committed(&env, h));
    assert_eq!(shares, [P / 2 + P / 3, P + P / 3, P / 2 + P / 3]);
    let total: u64 = shares.iter().sum();
    assert!(
        env.machine.used_frames() as u64 * P - total < 3,
        "the shares add up to the frames held, to a byte per viewer"
    );

    // Closing the first child leaves its private page to go and the parent
    // and the second snapshot sharing what they both see.
    env.zx.handle_close(child).unwrap();
    assert_eq!(info(&env, parent).num_children, 1);
    assert_eq!(env.machine.used_frames(), 2);
    assert_eq!((committed(&env, parent), committed(&env, second)), (P, P));
    env.zx.handle_close(second).unwrap();
    assert_eq!(info(&env, parent).num_children, 0);
    assert_eq!(committed(&env, parent), 2 * P, "the pages merged back");
    env.close_all_and_check_clean(&[parent]);
}

#[test]
fn slices_and_references_report_their_parent_but_no_memory() {
    let env = Env::new();
    let parent = env.vmo(4);
    env.zx.vmo_op_range(parent, ZX_VMO_OP_COMMIT, 0, 4 * P, &mut []).unwrap();
    let slice = env.zx.vmo_create_child(parent, ZX_VMO_CHILD_SLICE, P, 2 * P).unwrap();
    let reference = env.zx.vmo_create_child(parent, ZX_VMO_CHILD_REFERENCE, 0, 0).unwrap();
    let parent_koid = info(&env, parent).koid;
    for h in [slice, reference] {
        let i = info(&env, h);
        assert_eq!(
            (i.parent_koid, i.committed_bytes, i.flags & ZX_INFO_VMO_IS_COW_CLONE),
            (parent_koid, 0, 0)
        );
    }
    assert_eq!(info(&env, slice).size_bytes, 2 * P);
    let p = info(&env, parent);
    assert_eq!((p.num_children, p.committed_bytes), (2, 4 * P));
    env.close_all_and_check_clean(&[slice, reference, parent]);
}

#[test]
fn pager_vmo_info_follows_supply_eviction_and_detach() {
    let up = UserPager::new();
    let zx = up.zx();
    let vmo = up.vmo(4, 3);
    let i = info(&up.env, vmo);
    assert_eq!(i.flags & ZX_INFO_VMO_PAGER_BACKED, ZX_INFO_VMO_PAGER_BACKED);
    assert_eq!(i.committed_bytes, 0);
    up.supply(vmo, 3, 0, 3);
    assert_eq!(committed(&up.env, vmo), 3 * P);
    up.supply_zero(vmo, 3, 1);
    assert_eq!(committed(&up.env, vmo), 3 * P, "a zero marker holds no frame");

    // An at-least-on-write clone sees the pager VMO's pages, which stay
    // attributed to it, until it writes one.
    let clone = zx.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, 4 * P).unwrap();
    let c = info(&up.env, clone);
    assert_eq!(
        c.flags & (ZX_INFO_VMO_PAGER_BACKED | ZX_INFO_VMO_IS_COW_CLONE),
        ZX_INFO_VMO_PAGER_BACKED | ZX_INFO_VMO_IS_COW_CLONE
    );
    assert_eq!(c.committed_bytes, 0);
    zx.vmo_write(clone, &[9], P).unwrap();
    assert_eq!((committed(&up.env, clone), committed(&up.env, vmo)), (P, 3 * P));
    zx.handle_close(clone).unwrap();

    // Eviction takes the Clean pages and counts as a change.
    assert_eq!(up.env.machine.ctx.reclaim(), 3);
    let i = info(&up.env, vmo);
    assert_eq!((i.committed_bytes, i.committed_change_events), (0, 1));

    // Detach decommits Clean pages and keeps Dirty ones.
    up.supply(vmo, 3, 0, 2);
    zx.vmo_write(vmo, &[5], 0).unwrap();
    assert_eq!(committed(&up.env, vmo), 2 * P);
    zx.pager_detach_vmo(up.pager, vmo).unwrap();
    assert_eq!(committed(&up.env, vmo), P);
    up.expect_complete(3);
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn mappings_and_address_spaces_are_counted() {
    let env = Env::new();
    let vmo = env.vmo(2);
    let first = env.map_rw(vmo, 2);
    let second = env.map_rw(vmo, 1);
    let i = info(&env, vmo);
    assert_eq!((i.num_mappings, i.share_count), (2, 1), "two mappings in one address space");
    // A mapping in another address space.
    let other = Vmar::new_root(&env.machine.ctx, Arc::new(MockMmu::new()));
    let object = env.zx.vmo_object(vmo).unwrap();
    let perms = VmOptions::from(VmFlags::PERM_READ);
    let va = other.map(perms, 0, &object, 0, P).unwrap();
    let i = info(&env, vmo);
    assert_eq!((i.num_mappings, i.share_count), (3, 2));
    other.unmap(va, P, true).unwrap();
    drop((object, other));
    env.zx.vmar_unmap(env.zx.root_vmar(), first, 2 * P).unwrap();
    let i = info(&env, vmo);
    assert_eq!((i.num_mappings, i.share_count), (1, 1));
    env.zx.vmar_unmap(env.zx.root_vmar(), second, P).unwrap();
    env.close_all_and_check_clean(&[vmo]);
}
