//! Every documented error of `zx_pager_create`, `_create_vmo`,
//! `_detach_vmo`, `_supply_pages` and `_op_range(FAIL)`, with its status
//! and in the documented order (digest §2 preamble, §2.1-2.5;
//! `pager_supply_pages.md`, `pager_op_range.md`), after Zircon's
//! `InvalidPager*` tests, plus the semantics the errors guard: pages move
//! out of the aux VMO, FAIL's status reaches the blocked caller, detach
//! sends COMPLETE.
//!
//! The order of checks (digest §2): BAD_HANDLE → WRONG_TYPE → ACCESS_DENIED
//! → "VMO of this pager" (INVALID_ARGS) → alignment and values
//! (INVALID_ARGS) → range (OUT_OF_RANGE) → state (BAD_STATE,
//! NOT_SUPPORTED), except that `pager_create_vmo` checks its port's WRITE
//! right before the port's type. Where a test pits two errors against each
//! other, it says which order it checks.

mod support;

use std::sync::Arc;

use support::*;
use vm_core::vmo::MAX_SIZE;
use zx::ops::*;
use zx::options::*;
use zx::port::{ZX_PAGER_VMO_COMPLETE, ZX_PKT_TYPE_PAGE_REQUEST};
use zx::{Handle, ObjectType, Rights, Status};

/// A handle value no instance hands out (values grow from 7 up).
const NEVER: Handle = Handle::from_raw(0x7fff_fff3);

/// The statuses `ZX_PAGER_OP_FAIL` may carry (digest §2.5).
const FAIL_STATUSES: [Status; 5] =
    [Status::Io, Status::IoDataIntegrity, Status::BadState, Status::NoSpace, Status::BufferTooSmall];

/// `round_down(u64::MAX, P) + 1`: a size that cannot be rounded up.
const BAD_SIZE: u64 = MAX_SIZE + 1;

/// `status` as `pager_op_range`'s `data`: sign-extended to 64 bits.
fn data(status: Status) -> u64 {
    status.into_raw() as i64 as u64
}

/// Handle values that name nothing: `ZX_HANDLE_INVALID`, a value never
/// handed out, and a closed handle.
fn bad_handles(env: &Env) -> [Handle; 3] {
    let closed = env.vmo(1);
    env.zx.handle_close(closed).unwrap();
    [Handle::INVALID, NEVER, closed]
}

/// A new pager whose only handle has exactly `rights`, and a `pages`-page
/// VMO (key 0) it created on `port` before losing them. A pager handle has
/// no DUPLICATE right (`ZX_DEFAULT_PAGER_RIGHTS`), so, as in Zircon's tests,
/// the handle is replaced rather than duplicated.
fn pager_with(env: &Env, port: Handle, rights: Rights, pages: u64) -> (Handle, Handle) {
    let pager = env.zx.pager_create(0).unwrap();
    let vmo = env.zx.pager_create_vmo(pager, 0, port, 0, pages * P).unwrap();
    (env.zx.handle_replace(pager, rights).unwrap(), vmo)
}

/// `pages` pages of `tag(key, first + i)`, as `UserPager::aux` writes them.
fn tags(key: u64, first: u64, pages: u64) -> Vec<u8> {
    (first..first + pages).flat_map(|p| vec![tag(key, p); P as usize]).collect()
}

fn zeros(pages: u64) -> Vec<u8> {
    vec![0; (pages * P) as usize]
}

/// Closes `handles` and a second pager's own pager and port handles; the
/// test's main `UserPager` checks the frames at the end.
fn close_other(other: &UserPager, handles: &[Handle]) {
    for &handle in handles.iter().chain([&other.pager, &other.port]) {
        other.zx().handle_close(handle).unwrap();
    }
}

fn committed(env: &Env, vmo: Handle) -> u64 {
    env.zx.vmo_object(vmo).unwrap().committed_bytes()
}

// ---- zx_pager_create -------------------------------------------------------

#[test]
fn pager_create_rejects_every_option() {
    let env = Env::new();
    for options in [1, 2, 1 << 31, u32::MAX] {
        assert_eq!(env.zx.pager_create(options), Err(Status::InvalidArgs), "options {options:#x}");
    }
    assert_eq!(env.zx.handle_count(), 1, "a failed create adds no handle");
    env.close_all_and_check_clean(&[]);
}

#[test]
fn pager_create_gives_a_pager_handle_with_default_pager_rights() {
    let env = Env::new();
    let pager = env.zx.pager_create(0).unwrap();
    let info = env.zx.object_get_info_handle_basic(pager).unwrap();
    assert_eq!(info.rights, Rights::DEFAULT_PAGER);
    // ZX_DEFAULT_PAGER_RIGHTS = INSPECT | TRANSFER | ATTACH_VMO | MANAGE_VMO.
    assert_eq!(info.rights, Rights::INSPECT | Rights::TRANSFER | Rights::ATTACH_VMO | Rights::MANAGE_VMO);
    assert_eq!(info.object_type, ObjectType::Pager);
    assert_eq!(info.object_type.into_raw(), 28);
    env.close_all_and_check_clean(&[pager]);
}

// ---- zx_pager_create_vmo ---------------------------------------------------

#[test]
fn create_vmo_with_a_bad_pager_or_port_handle_is_bad_handle() {
    let up = UserPager::new();
    for bad in bad_handles(&up.env) {
        assert_eq!(up.zx().pager_create_vmo(bad, 0, up.port, 0, P), Err(Status::BadHandle), "pager {bad:?}");
        assert_eq!(up.zx().pager_create_vmo(up.pager, 0, bad, 0, P), Err(Status::BadHandle), "port {bad:?}");
    }
    up.close_all_and_check_clean(&[]);
}

#[test]
fn create_vmo_wrong_types_and_the_port_write_right_checked_first() {
    let up = UserPager::new();
    let env = &up.env;
    let vmo = env.vmo(1);
    let bare_port = env.with_rights(up.port, Rights::empty());
    // The pager argument: type before rights, so a port without
    // ATTACH_VMO is WRONG_TYPE.
    for not_a_pager in [up.port, bare_port, vmo, env.zx.root_vmar()] {
        assert_eq!(
            up.zx().pager_create_vmo(not_a_pager, 0, up.port, 0, P),
            Err(Status::WrongType),
            "pager {not_a_pager:?}"
        );
    }
    // The port argument: WRITE before type (digest §2 exception). Handles
    // with WRITE (a VMO's, the root VMAR's) are WRONG_TYPE; handles
    // without (a pager's, a read-only VMO's) are ACCESS_DENIED.
    let ro_vmo = env.with_rights(vmo, Rights::DEFAULT_VMO.difference(Rights::WRITE));
    for (not_a_port, expected) in [
        (vmo, Status::WrongType),
        (env.zx.root_vmar(), Status::WrongType),
        (up.pager, Status::AccessDenied),
        (ro_vmo, Status::AccessDenied),
    ] {
        assert_eq!(
            up.zx().pager_create_vmo(up.pager, 0, not_a_port, 0, P),
            Err(expected),
            "port {not_a_port:?}"
        );
    }
    up.close_all_and_check_clean(&[vmo, bare_port, ro_vmo]);
}

#[test]
fn create_vmo_needs_attach_vmo_on_the_pager_and_write_on_the_port() {
    let up = UserPager::new();
    let env = &up.env;
    let no_write = env.with_rights(up.port, Rights::DEFAULT_PORT.difference(Rights::WRITE));
    assert_eq!(up.zx().pager_create_vmo(up.pager, 0, no_write, 0, P), Err(Status::AccessDenied));
    let (no_attach, vmo) = pager_with(env, up.port, Rights::DEFAULT_PAGER.difference(Rights::ATTACH_VMO), 1);
    assert_eq!(up.zx().pager_create_vmo(no_attach, 0, up.port, 0, P), Err(Status::AccessDenied));
    // Those rights alone suffice.
    let write_only = env.with_rights(up.port, Rights::WRITE);
    let (attach_only, vmo2) = pager_with(env, up.port, Rights::ATTACH_VMO, 1);
    let vmo3 = up.zx().pager_create_vmo(attach_only, 0, write_only, 0, P).unwrap();
    up.close_all_and_check_clean(&[no_write, no_attach, vmo, write_only, attach_only, vmo2, vmo3]);
}

#[test]
fn create_vmo_rejects_options_other_than_resizable_and_trap_dirty() {
    let up = UserPager::new();
    for options in [
        ZX_VMO_DISCARDABLE,
        ZX_VMO_DISCARDABLE | ZX_VMO_RESIZABLE,
        !0,
        ZX_VMO_UNBOUNDED | ZX_VMO_RESIZABLE,
        1 << 0,
        1 << 5,
        1 << 31,
        ZX_VMO_TRAP_DIRTY | 1 << 5,
    ] {
        assert_eq!(
            up.zx().pager_create_vmo(up.pager, options, up.port, 0, P),
            Err(Status::InvalidArgs),
            "options {options:#x}"
        );
    }
    assert_eq!(up.zx().handle_count(), 3, "no VMO handle was made");
    up.close_all_and_check_clean(&[]);
}

#[test]
fn create_vmo_of_a_size_that_cannot_be_rounded_up_is_out_of_range() {
    let up = UserPager::new();
    for size in [BAD_SIZE, u64::MAX] {
        assert_eq!(
            up.zx().pager_create_vmo(up.pager, 0, up.port, 0, size),
            Err(Status::OutOfRange),
            "{size:#x}"
        );
    }
    up.close_all_and_check_clean(&[]);
}

#[test]
fn create_vmo_checks_rights_then_options_then_size() {
    let up = UserPager::new();
    let ro_port = up.env.with_rights(up.port, Rights::DEFAULT_PORT.difference(Rights::WRITE));
    assert_eq!(up.zx().pager_create_vmo(up.pager, !0, ro_port, 0, BAD_SIZE), Err(Status::AccessDenied));
    assert_eq!(up.zx().pager_create_vmo(up.pager, !0, up.port, 0, BAD_SIZE), Err(Status::InvalidArgs));
    up.close_all_and_check_clean(&[ro_port]);
}

#[test]
fn create_vmo_accepted_options_give_vmo_rights_and_rounded_sizes() {
    let up = UserPager::new();
    let mut key = 100;
    for options in [0, ZX_VMO_RESIZABLE, ZX_VMO_TRAP_DIRTY, ZX_VMO_RESIZABLE | ZX_VMO_TRAP_DIRTY] {
        for (size, rounded) in [(0, 0), (1, P), (P, P), (P + 1, 2 * P), (3 * P - 1, 3 * P)] {
            let vmo = up.zx().pager_create_vmo(up.pager, options, up.port, key, size).unwrap();
            let info = up.zx().object_get_info_handle_basic(vmo).unwrap();
            assert_eq!(info.object_type, ObjectType::Vmo);
            let mut rights = Rights::DEFAULT_VMO;
            if options & ZX_VMO_RESIZABLE != 0 {
                rights |= Rights::RESIZE;
            }
            assert_eq!(info.rights, rights, "options {options:#x}");
            assert_eq!(up.zx().vmo_get_size(vmo), Ok(rounded), "size {size:#x}");
            // Creating asks the pager nothing; the last handle going is
            // the VMO's COMPLETE (digest §2.15).
            up.expect_no_request();
            up.zx().handle_close(vmo).unwrap();
            up.expect_complete(key);
            key += 1;
        }
    }
    // The newest kernel also takes UNBOUNDED (digest §2.2).
    for options in [ZX_VMO_UNBOUNDED, ZX_VMO_UNBOUNDED | ZX_VMO_TRAP_DIRTY] {
        let vmo = up.zx().pager_create_vmo(up.pager, options, up.port, key, P).unwrap();
        assert_eq!(up.env.rights(vmo), Rights::DEFAULT_VMO, "options {options:#x}");
        up.zx().handle_close(vmo).unwrap();
        up.expect_complete(key);
    }
    up.expect_no_request();
    up.close_all_and_check_clean(&[]);
}

// ---- zx_pager_detach_vmo ---------------------------------------------------

#[test]
fn detach_with_a_bad_handle_is_bad_handle() {
    let up = UserPager::new();
    let vmo = up.vmo(1, 1);
    for bad in bad_handles(&up.env) {
        assert_eq!(up.zx().pager_detach_vmo(bad, vmo), Err(Status::BadHandle), "pager {bad:?}");
        assert_eq!(up.zx().pager_detach_vmo(up.pager, bad), Err(Status::BadHandle), "vmo {bad:?}");
    }
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn detach_with_handles_of_the_wrong_type_is_wrong_type() {
    let up = UserPager::new();
    let vmo = up.vmo(1, 1);
    let bare_vmo = up.env.with_rights(vmo, Rights::empty());
    let bare_port = up.env.with_rights(up.port, Rights::empty());
    // Type before rights: handles with no rights at all are WRONG_TYPE.
    for not_a_pager in [vmo, bare_vmo, up.port, bare_port, up.zx().root_vmar()] {
        assert_eq!(up.zx().pager_detach_vmo(not_a_pager, vmo), Err(Status::WrongType), "{not_a_pager:?}");
    }
    for not_a_vmo in [up.pager, up.port, bare_port, up.zx().root_vmar()] {
        assert_eq!(up.zx().pager_detach_vmo(up.pager, not_a_vmo), Err(Status::WrongType), "{not_a_vmo:?}");
    }
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo, bare_vmo, bare_port]);
}

#[test]
fn detach_needs_attach_and_manage_on_the_pager_and_write_on_the_vmo() {
    let up = UserPager::new();
    let env = &up.env;
    let mut handles = vec![];
    for missing in [Rights::ATTACH_VMO, Rights::MANAGE_VMO] {
        let (pager, vmo) = pager_with(env, up.port, Rights::DEFAULT_PAGER.difference(missing), 1);
        assert_eq!(up.zx().pager_detach_vmo(pager, vmo), Err(Status::AccessDenied), "without {missing:?}");
        handles.extend([pager, vmo]);
    }
    let vmo = up.vmo(1, 1);
    let ro_vmo = env.with_rights(vmo, Rights::DEFAULT_VMO.difference(Rights::WRITE));
    assert_eq!(up.zx().pager_detach_vmo(up.pager, ro_vmo), Err(Status::AccessDenied));
    // Rights before ownership: VMOs this pager did not make, without WRITE.
    let other = UserPager::on(up.env.clone());
    let foreign = other.vmo(1, 2);
    let ro_foreign = env.with_rights(foreign, Rights::DEFAULT_VMO.difference(Rights::WRITE));
    let anon = env.vmo(1);
    let ro_anon = env.with_rights(anon, Rights::READ);
    for ro in [ro_foreign, ro_anon] {
        assert_eq!(up.zx().pager_detach_vmo(up.pager, ro), Err(Status::AccessDenied), "{ro:?}");
    }
    up.expect_no_request();
    // ATTACH_VMO | MANAGE_VMO and WRITE suffice.
    let (both, vmo2) = pager_with(env, up.port, Rights::ATTACH_VMO | Rights::MANAGE_VMO, 1);
    let wo_vmo2 = env.with_rights(vmo2, Rights::WRITE);
    up.zx().pager_detach_vmo(both, wo_vmo2).unwrap();
    up.expect_complete(0);
    handles.extend([vmo, ro_vmo, foreign, ro_foreign, anon, ro_anon, both, vmo2, wo_vmo2]);
    close_other(&other, &[]);
    up.close_all_and_check_clean(&handles);
}

#[test]
fn detach_of_a_vmo_this_pager_did_not_create_is_invalid_args() {
    let up = UserPager::new();
    let vmo = up.vmo(4, 1);
    let anon = up.env.vmo(1);
    let other = UserPager::on(up.env.clone());
    let foreign = other.vmo(1, 2);
    let clone = up.zx().vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, 2 * P).unwrap();
    let slice = up.zx().vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, P, 2 * P).unwrap();
    for (not_ours, what) in
        [(anon, "anonymous"), (foreign, "another pager's"), (clone, "clone"), (slice, "slice")]
    {
        assert_eq!(up.zx().pager_detach_vmo(up.pager, not_ours), Err(Status::InvalidArgs), "{what}");
    }
    // Nothing was detached: no COMPLETE, and both pagers still supply.
    up.expect_no_request();
    other.expect_no_request();
    up.supply(vmo, 1, 0, 1);
    other.supply(foreign, 2, 0, 1);
    close_other(&other, &[foreign]);
    up.close_all_and_check_clean(&[vmo, anon, clone, slice]);
}

#[test]
fn detach_queues_complete_with_the_vmo_key_and_later_pager_calls_are_bad_state() {
    const KEY: u64 = 0xdead_beef_cafe_f00d;
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(2, KEY);
    up.zx().pager_detach_vmo(up.pager, vmo).unwrap();
    let packet = up.zx().port_wait(up.port, 0).unwrap();
    assert_eq!((packet.key, packet.packet_type, packet.status), (KEY, ZX_PKT_TYPE_PAGE_REQUEST, 0));
    assert_eq!(packet.page_request().unwrap().command, ZX_PAGER_VMO_COMPLETE);
    assert_eq!(ZX_PAGER_VMO_COMPLETE, 1);
    up.expect_no_request();
    // The VMO needs the pager no more: reads fail at once, with no request.
    assert_eq!(up.env.read_bounded(vmo, 0, 8), Err(Status::BadState));
    let aux = up.aux(KEY, 0, 1);
    assert_eq!(up.zx().pager_supply_pages(up.pager, vmo, 0, P, aux, 0), Err(Status::BadState));
    assert_eq!(
        up.zx().pager_op_range(up.pager, ZX_PAGER_OP_FAIL, vmo, 0, P, data(Status::Io)),
        Err(Status::BadState)
    );
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo, aux]);
}

#[test]
fn detach_fails_blocked_readers_with_bad_state() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(3, 5);
    let u = up.clone();
    let reader = spawn(move || u.zx().vmo_read(vmo, &mut [0; 16], P));
    up.expect_read(5, 1, 1);
    up.zx().pager_detach_vmo(up.pager, vmo).unwrap();
    assert_eq!(reader.join(), Err(Status::BadState));
    up.expect_complete(5);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn detach_decommits_clean_pages_and_keeps_written_ones() {
    // Digest §2.3, item 3.
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(3, 6);
    up.supply(vmo, 6, 0, 3);
    up.zx().vmo_write(vmo, &[0xab; 8], 2 * P).unwrap();
    assert_eq!(up.env.machine.used_frames(), 3);
    up.zx().pager_detach_vmo(up.pager, vmo).unwrap();
    up.expect_complete(6);
    assert_eq!(up.env.machine.used_frames(), 1, "the two clean pages went");
    assert_eq!(committed(&up.env, vmo), P);
    let mut expected = tags(6, 2, 1);
    expected[..8].fill(0xab);
    assert_eq!(up.env.read_bounded(vmo, 2 * P, P as usize), Ok(expected));
    assert_eq!(up.env.read_bounded(vmo, 0, 8), Err(Status::BadState));
    up.close_all_and_check_clean(&[vmo]);
}

// ---- zx_pager_supply_pages -------------------------------------------------

#[test]
fn supply_with_a_bad_handle_is_bad_handle() {
    let up = UserPager::new();
    let vmo = up.vmo(1, 1);
    let aux = up.aux(1, 0, 1);
    for bad in bad_handles(&up.env) {
        for (pager, pager_vmo, aux_vmo, which) in
            [(bad, vmo, aux, "pager"), (up.pager, bad, aux, "pager_vmo"), (up.pager, vmo, bad, "aux_vmo")]
        {
            assert_eq!(
                up.zx().pager_supply_pages(pager, pager_vmo, 0, P, aux_vmo, 0),
                Err(Status::BadHandle),
                "{which} {bad:?}"
            );
        }
    }
    up.close_all_and_check_clean(&[vmo, aux]);
}

#[test]
fn supply_with_handles_of_the_wrong_type_is_wrong_type() {
    let up = UserPager::new();
    let env = &up.env;
    let vmo = up.vmo(1, 1);
    let aux = up.aux(1, 0, 1);
    let root = env.zx.root_vmar();
    // Type before rights: handles with no rights at all are WRONG_TYPE.
    let bare_port = env.with_rights(up.port, Rights::empty());
    let bare_vmo = env.with_rights(aux, Rights::empty());
    let cases = [
        (vmo, vmo, aux, "a VMO as the pager"),
        (bare_vmo, vmo, aux, "a VMO without rights as the pager"),
        (up.port, vmo, aux, "a port as the pager"),
        (root, vmo, aux, "a VMAR as the pager"),
        (up.pager, up.pager, aux, "the pager as the pager VMO"),
        (up.pager, bare_port, aux, "a port without rights as the pager VMO"),
        (up.pager, root, aux, "a VMAR as the pager VMO"),
        (up.pager, vmo, up.port, "a port as the aux VMO"),
        (up.pager, vmo, bare_port, "a port without rights as the aux VMO"),
        (up.pager, vmo, up.pager, "the pager as the aux VMO"),
        (up.pager, vmo, root, "a VMAR as the aux VMO"),
    ];
    for (pager, pager_vmo, aux_vmo, what) in cases {
        assert_eq!(
            up.zx().pager_supply_pages(pager, pager_vmo, 0, P, aux_vmo, 0),
            Err(Status::WrongType),
            "{what}"
        );
    }
    up.close_all_and_check_clean(&[vmo, aux, bare_port, bare_vmo]);
}

#[test]
fn supply_needs_manage_vmo_on_the_pager_write_on_the_vmo_and_read_write_on_the_aux() {
    let up = Arc::new(UserPager::new());
    let env = &up.env;
    let (no_manage, vmo) = pager_with(env, up.port, Rights::DEFAULT_PAGER.difference(Rights::MANAGE_VMO), 1);
    let aux = up.aux(1, 0, 1);
    assert_eq!(up.zx().pager_supply_pages(no_manage, vmo, 0, P, aux, 0), Err(Status::AccessDenied));
    let own = up.vmo(1, 1);
    let ro_own = env.with_rights(own, Rights::DEFAULT_VMO.difference(Rights::WRITE));
    let aux_no_write = env.with_rights(aux, Rights::DEFAULT_VMO.difference(Rights::WRITE));
    let aux_no_read = env.with_rights(aux, Rights::DEFAULT_VMO.difference(Rights::READ));
    for (pager_vmo, aux_vmo, what) in [
        (ro_own, aux, "pager VMO without WRITE"),
        (own, aux_no_write, "aux without WRITE"),
        (own, aux_no_read, "aux without READ"),
    ] {
        assert_eq!(
            up.zx().pager_supply_pages(up.pager, pager_vmo, 0, P, aux_vmo, 0),
            Err(Status::AccessDenied),
            "{what}"
        );
    }
    // Rights before ownership: a VMO of another pager without WRITE.
    let other = UserPager::on(up.env.clone());
    let foreign = other.vmo(1, 2);
    let ro_foreign = env.with_rights(foreign, Rights::READ);
    assert_eq!(up.zx().pager_supply_pages(up.pager, ro_foreign, 0, P, aux, 0), Err(Status::AccessDenied));
    // MANAGE_VMO, WRITE and READ | WRITE suffice (with a fresh aux: a
    // failed supply may decommit the aux range).
    let (manage_only, vmo2) = pager_with(env, up.port, Rights::MANAGE_VMO, 1);
    let wo_vmo2 = env.with_rights(vmo2, Rights::WRITE);
    let aux2 = up.aux(1, 0, 1);
    let rw_aux = env.with_rights(aux2, Rights::READ | Rights::WRITE);
    up.zx().pager_supply_pages(manage_only, wo_vmo2, 0, P, rw_aux, 0).unwrap();
    assert_eq!(env.read_bounded(vmo2, 0, P as usize), Ok(tags(1, 0, 1)));
    up.expect_no_request();
    close_other(&other, &[foreign, ro_foreign]);
    up.close_all_and_check_clean(&[
        no_manage,
        vmo,
        aux,
        own,
        ro_own,
        aux_no_write,
        aux_no_read,
        manage_only,
        vmo2,
        wo_vmo2,
        aux2,
        rw_aux,
    ]);
}

#[test]
fn supply_to_a_vmo_this_pager_did_not_create_is_invalid_args_before_the_aux_is_looked_at() {
    let up = UserPager::new();
    let env = &up.env;
    let aux = up.aux(1, 0, 1);
    let other = UserPager::on(up.env.clone());
    let foreign = other.vmo(1, 2);
    let anon = env.vmo(1);
    let aux_no_read = env.with_rights(aux, Rights::DEFAULT_VMO.difference(Rights::READ));
    for pager_vmo in [foreign, anon] {
        for aux_vmo in [aux, Handle::INVALID, NEVER, up.port, aux_no_read] {
            assert_eq!(
                up.zx().pager_supply_pages(up.pager, pager_vmo, 0, P, aux_vmo, 0),
                Err(Status::InvalidArgs),
                "pager VMO {pager_vmo:?}, aux {aux_vmo:?}"
            );
        }
    }
    // So is a misaligned supply to it.
    assert_eq!(up.zx().pager_supply_pages(up.pager, foreign, 1, P, aux, 0), Err(Status::InvalidArgs));
    close_other(&other, &[foreign]);
    up.close_all_and_check_clean(&[aux, anon, aux_no_read]);
}

#[test]
fn supply_with_a_misaligned_offset_length_or_aux_offset_is_invalid_args() {
    let up = UserPager::new();
    let vmo = up.vmo(2, 1);
    let aux = up.aux(1, 0, 2);
    let cases = [
        (1, 0, 0),
        (0, 1, 0),
        (0, 0, 1),
        (P / 2, P, 0),
        (0, P + 1, 0),
        (0, P - 1, 0),
        (0, P, P - 1),
        // Alignment before range.
        (64 * P + 1, P, 0),
        (0, 64 * P + 1, 0),
        (0, P, 64 * P + 1),
        (u64::MAX, P, 0),
    ];
    for (offset, len, aux_offset) in cases {
        assert_eq!(
            up.zx().pager_supply_pages(up.pager, vmo, offset, len, aux, aux_offset),
            Err(Status::InvalidArgs),
            "offset {offset:#x}, length {len:#x}, aux offset {aux_offset:#x}"
        );
    }
    up.close_all_and_check_clean(&[vmo, aux]);
}

#[test]
fn supply_beyond_either_vmo_is_out_of_range() {
    let up = UserPager::new();
    let vmo = up.vmo(2, 1);
    let aux = up.aux(1, 0, 2);
    let cases = [
        // Beyond the pager VMO.
        (2 * P, P, 0),
        (P, 2 * P, 0),
        (0, 3 * P, 0),
        (MAX_SIZE, 2 * P, 0),
        // Beyond the aux VMO.
        (0, P, 2 * P),
        (0, 2 * P, P),
        (0, P, MAX_SIZE),
        (0, 2 * P, MAX_SIZE),
    ];
    for (offset, len, aux_offset) in cases {
        assert_eq!(
            up.zx().pager_supply_pages(up.pager, vmo, offset, len, aux, aux_offset),
            Err(Status::OutOfRange),
            "offset {offset:#x}, length {len:#x}, aux offset {aux_offset:#x}"
        );
    }
    up.close_all_and_check_clean(&[vmo, aux]);
}

#[test]
fn supply_from_an_aux_with_children_or_to_a_detached_vmo_is_bad_state() {
    let up = UserPager::new();
    let vmo = up.vmo(2, 1);
    for child_kind in [ZX_VMO_CHILD_SNAPSHOT, ZX_VMO_CHILD_SLICE] {
        let aux = up.aux(1, 0, 1);
        let child = up.zx().vmo_create_child(aux, child_kind, 0, P).unwrap();
        assert_eq!(
            up.zx().pager_supply_pages(up.pager, vmo, 0, P, aux, 0),
            Err(Status::BadState),
            "{child_kind:#x}"
        );
        // Range before state: the same aux, beyond its end.
        assert_eq!(up.zx().pager_supply_pages(up.pager, vmo, 0, P, aux, P), Err(Status::OutOfRange));
        // Without the child, the aux supplies.
        up.zx().handle_close(child).unwrap();
        up.zx().pager_supply_pages(up.pager, vmo, 0, P, aux, 0).unwrap();
        up.zx().handle_close(aux).unwrap();
    }
    let aux = up.aux(1, 1, 1);
    up.zx().pager_detach_vmo(up.pager, vmo).unwrap();
    up.expect_complete(1);
    assert_eq!(up.zx().pager_supply_pages(up.pager, vmo, P, P, aux, 0), Err(Status::BadState));
    // Range before state.
    assert_eq!(up.zx().pager_supply_pages(up.pager, vmo, 2 * P, P, aux, 0), Err(Status::OutOfRange));
    up.close_all_and_check_clean(&[vmo, aux]);
}

#[test]
fn supply_from_a_pager_vmo_is_not_supported() {
    let up = UserPager::new();
    let vmo = up.vmo(1, 1);
    // Zircon's kFromPager: an aux that is a pager VMO with a page.
    let pager_aux = up.vmo(1, 2);
    up.supply(pager_aux, 2, 0, 1);
    let other = UserPager::on(up.env.clone());
    let foreign_aux = other.vmo(1, 3);
    other.supply(foreign_aux, 3, 0, 1);
    for aux in [pager_aux, foreign_aux, vmo] {
        assert_eq!(
            up.zx().pager_supply_pages(up.pager, vmo, 0, P, aux, 0),
            Err(Status::NotSupported),
            "{aux:?}"
        );
    }
    close_other(&other, &[foreign_aux]);
    up.close_all_and_check_clean(&[vmo, pager_aux]);
}

#[test]
fn supply_from_a_pager_vmo_checks_both_ranges_first() {
    // Range before state (digest §2 preamble: OUT_OF_RANGE, then
    // BAD_STATE / NOT_SUPPORTED): an out-of-range supply from a pager VMO
    // is OUT_OF_RANGE, whichever VMO the range exceeds.
    let up = UserPager::new();
    let vmo = up.vmo(2, 1);
    let pager_aux = up.vmo(1, 2);
    up.supply(pager_aux, 2, 0, 1);
    for (offset, len, aux_offset, what) in [
        (2 * P, P, 0, "beyond the pager VMO"),
        (0, P, P, "beyond the aux"),
        (0, 2 * P, 0, "past the aux end"),
    ] {
        assert_eq!(
            up.zx().pager_supply_pages(up.pager, vmo, offset, len, pager_aux, aux_offset),
            Err(Status::OutOfRange),
            "{what}"
        );
    }
    up.close_all_and_check_clean(&[vmo, pager_aux]);
}

#[test]
fn supplied_pages_move_out_of_the_aux() {
    let up = Arc::new(UserPager::new());
    let env = &up.env;
    let vmo = up.vmo(4, 7);
    let aux = up.aux(7, 1, 3);
    assert_eq!(env.machine.used_frames(), 3);
    up.zx().pager_supply_pages(up.pager, vmo, P, 3 * P, aux, 0).unwrap();
    assert_eq!(env.read_bounded(vmo, P, 3 * P as usize), Ok(tags(7, 1, 3)));
    // The frames moved: none were copied, and the aux range is decommitted.
    assert_eq!(env.machine.used_frames(), 3);
    assert_eq!(committed(env, vmo), 3 * P);
    assert_eq!(committed(env, aux), 0);
    assert_eq!(env.read(aux, 0, 3 * P as usize), zeros(3));
    assert_eq!(env.machine.used_frames(), 3, "reading the aux commits nothing");
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo, aux]);
}

#[test]
fn a_supply_from_an_aux_offset_takes_only_that_range() {
    let up = Arc::new(UserPager::new());
    let env = &up.env;
    let vmo = up.vmo(2, 8);
    let aux = up.aux(8, 0, 4);
    up.zx().pager_supply_pages(up.pager, vmo, 0, 2 * P, aux, 2 * P).unwrap();
    assert_eq!(env.read_bounded(vmo, 0, 2 * P as usize), Ok(tags(8, 2, 2)));
    assert_eq!(env.read(aux, 0, 2 * P as usize), tags(8, 0, 2), "the rest of the aux is untouched");
    assert_eq!(env.read(aux, 2 * P, 2 * P as usize), zeros(2));
    assert_eq!((committed(env, aux), env.machine.used_frames()), (2 * P, 4));
    up.close_all_and_check_clean(&[vmo, aux]);
}

#[test]
fn a_supply_over_present_pages_keeps_them_and_frees_the_aux_pages() {
    let up = Arc::new(UserPager::new());
    let env = &up.env;
    let vmo = up.vmo(4, 9);
    up.supply(vmo, 9, 0, 2);
    assert_eq!(env.machine.used_frames(), 2);
    // The same range again, from an aux of other content.
    let aux = up.aux(99, 0, 2);
    assert_eq!(env.machine.used_frames(), 4);
    up.zx().pager_supply_pages(up.pager, vmo, 0, 2 * P, aux, 0).unwrap();
    assert_eq!(
        env.read_bounded(vmo, 0, 2 * P as usize),
        Ok(tags(9, 0, 2)),
        "existing content is never replaced"
    );
    assert_eq!(env.machine.used_frames(), 2, "the aux pages were freed");
    assert_eq!(env.read(aux, 0, 2 * P as usize), zeros(2));
    // Overlapping: page 1 is present and stays, pages 2 and 3 are filled.
    let aux2 = up.aux(98, 1, 3);
    up.zx().pager_supply_pages(up.pager, vmo, P, 3 * P, aux2, 0).unwrap();
    let mut expected = tags(9, 0, 2);
    expected.extend(tags(98, 2, 2));
    assert_eq!(env.read_bounded(vmo, 0, 4 * P as usize), Ok(expected));
    assert_eq!(env.machine.used_frames(), 4);
    assert_eq!(committed(env, aux2), 0);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo, aux, aux2]);
}

#[test]
fn uncommitted_aux_pages_supply_zeros_without_committing() {
    let up = Arc::new(UserPager::new());
    let env = &up.env;
    let vmo = up.vmo(3, 10);
    // Only the middle page of the aux is committed.
    let aux = env.vmo(3);
    env.zx.vmo_write(aux, &tags(10, 1, 1), P).unwrap();
    assert_eq!(env.machine.used_frames(), 1);
    up.zx().pager_supply_pages(up.pager, vmo, 0, 3 * P, aux, 0).unwrap();
    let mut expected = zeros(3);
    expected[P as usize..2 * P as usize].copy_from_slice(&tags(10, 1, 1));
    // Supplied, zeros included: reading asks the pager nothing.
    assert_eq!(env.read_bounded(vmo, 0, 3 * P as usize), Ok(expected));
    up.expect_no_request();
    assert_eq!(env.machine.used_frames(), 1, "the zero pages take no frames");
    assert_eq!(committed(env, vmo), P);
    assert_eq!(committed(env, aux), 0);
    up.close_all_and_check_clean(&[vmo, aux]);
}

#[test]
fn a_supply_from_a_mapped_aux_leaves_the_mapping_reading_zero() {
    // Zircon's MappedSupplyPages.
    let up = Arc::new(UserPager::new());
    let env = &up.env;
    let vmo = up.vmo(2, 11);
    let aux = env.vmo(2);
    let va = env.map_rw(aux, 2);
    env.store(va, &tags(11, 0, 2)).unwrap();
    assert_eq!(env.machine.used_frames(), 2);
    up.zx().pager_supply_pages(up.pager, vmo, 0, 2 * P, aux, 0).unwrap();
    assert_eq!(env.read_bounded(vmo, 0, 2 * P as usize), Ok(tags(11, 0, 2)));
    assert_eq!(env.load(va, 2 * P as usize), Ok(zeros(2)), "the mapping sees the decommitted aux");
    assert_eq!(env.machine.used_frames(), 2);
    // A store through the mapping lands in the aux, not in the pager VMO.
    env.store(va, &[0x77; 4]).unwrap();
    assert_eq!(env.read(aux, 0, 4), [0x77; 4]);
    assert_eq!(env.read_bounded(vmo, 0, 4), Ok(vec![tag(11, 0); 4]));
    env.zx.vmar_unmap(env.zx.root_vmar(), va, 2 * P).unwrap();
    up.close_all_and_check_clean(&[vmo, aux]);
}

// ---- zx_pager_op_range -----------------------------------------------------

#[test]
fn op_range_with_a_bad_handle_is_bad_handle() {
    let up = UserPager::new();
    let vmo = up.vmo(1, 1);
    for bad in bad_handles(&up.env) {
        for (pager, pager_vmo, which) in [(bad, vmo, "pager"), (up.pager, bad, "pager_vmo")] {
            assert_eq!(
                up.zx().pager_op_range(pager, ZX_PAGER_OP_FAIL, pager_vmo, 0, P, data(Status::Io)),
                Err(Status::BadHandle),
                "{which} {bad:?}"
            );
        }
    }
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn op_range_with_handles_of_the_wrong_type_is_wrong_type() {
    let up = UserPager::new();
    let vmo = up.vmo(1, 1);
    let bare_vmo = up.env.with_rights(vmo, Rights::empty());
    let bare_port = up.env.with_rights(up.port, Rights::empty());
    let root = up.zx().root_vmar();
    // Type before rights: handles with no rights at all are WRONG_TYPE.
    let cases = [
        (vmo, vmo),
        (bare_vmo, vmo),
        (up.port, vmo),
        (root, vmo),
        (up.pager, up.pager),
        (up.pager, bare_port),
        (up.pager, root),
    ];
    for (pager, pager_vmo) in cases {
        assert_eq!(
            up.zx().pager_op_range(pager, ZX_PAGER_OP_FAIL, pager_vmo, 0, P, data(Status::Io)),
            Err(Status::WrongType),
            "pager {pager:?}, pager VMO {pager_vmo:?}"
        );
    }
    up.close_all_and_check_clean(&[vmo, bare_vmo, bare_port]);
}

#[test]
fn op_range_needs_manage_vmo_on_the_pager_and_write_on_the_vmo() {
    let up = UserPager::new();
    let env = &up.env;
    let io = data(Status::Io);
    let (no_manage, vmo) = pager_with(env, up.port, Rights::DEFAULT_PAGER.difference(Rights::MANAGE_VMO), 1);
    assert_eq!(up.zx().pager_op_range(no_manage, ZX_PAGER_OP_FAIL, vmo, 0, P, io), Err(Status::AccessDenied));
    let own = up.vmo(1, 1);
    let ro_own = env.with_rights(own, Rights::DEFAULT_VMO.difference(Rights::WRITE));
    assert_eq!(
        up.zx().pager_op_range(up.pager, ZX_PAGER_OP_FAIL, ro_own, 0, P, io),
        Err(Status::AccessDenied)
    );
    // Rights before ownership, arguments and op: VMOs this pager did not
    // make, without WRITE; a bad op or bad data on a read-only VMO.
    let anon = env.vmo(1);
    let ro_anon = env.with_rights(anon, Rights::READ);
    assert_eq!(
        up.zx().pager_op_range(up.pager, ZX_PAGER_OP_FAIL, ro_anon, 0, P, io),
        Err(Status::AccessDenied)
    );
    assert_eq!(up.zx().pager_op_range(up.pager, 0, ro_own, 0, P, 0), Err(Status::AccessDenied));
    assert_eq!(
        up.zx().pager_op_range(up.pager, ZX_PAGER_OP_FAIL, ro_own, 1, P, 0),
        Err(Status::AccessDenied)
    );
    // MANAGE_VMO and WRITE suffice.
    let (manage_only, vmo2) = pager_with(env, up.port, Rights::MANAGE_VMO, 1);
    let wo_vmo2 = env.with_rights(vmo2, Rights::WRITE);
    up.zx().pager_op_range(manage_only, ZX_PAGER_OP_FAIL, wo_vmo2, 0, P, io).unwrap();
    up.close_all_and_check_clean(&[no_manage, vmo, own, ro_own, anon, ro_anon, manage_only, vmo2, wo_vmo2]);
}

#[test]
fn op_range_on_a_vmo_this_pager_did_not_create_is_invalid_args() {
    let up = UserPager::new();
    let anon = up.env.vmo(1);
    let other = UserPager::on(up.env.clone());
    let foreign = other.vmo(1, 2);
    for not_ours in [anon, foreign] {
        assert_eq!(
            up.zx().pager_op_range(up.pager, ZX_PAGER_OP_FAIL, not_ours, 0, P, data(Status::Io)),
            Err(Status::InvalidArgs),
            "{not_ours:?}"
        );
        // Ownership before the op: an unknown op on it is INVALID_ARGS too.
        assert_eq!(up.zx().pager_op_range(up.pager, 0, not_ours, 0, P, 0), Err(Status::InvalidArgs));
    }
    close_other(&other, &[foreign]);
    up.close_all_and_check_clean(&[anon]);
}

#[test]
fn fail_with_a_misaligned_offset_or_length_is_invalid_args() {
    let up = UserPager::new();
    let vmo = up.vmo(2, 1);
    // The last three are also out of range: alignment comes first.
    for (offset, len) in
        [(1, 0), (0, 1), (P / 2, P), (0, P + 1), (0, P - 1), (64 * P + 1, P), (0, 64 * P + 1), (u64::MAX, P)]
    {
        assert_eq!(
            up.zx().pager_op_range(up.pager, ZX_PAGER_OP_FAIL, vmo, offset, len, data(Status::Io)),
            Err(Status::InvalidArgs),
            "offset {offset:#x}, length {len:#x}"
        );
    }
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn fail_data_must_be_a_permitted_status_sign_extended() {
    let up = UserPager::new();
    let vmo = up.vmo(1, 1);
    let mut bad: Vec<(u64, String)> = vec![
        (0, "ZX_OK".into()),
        (0x11_ffff_ffff, "0x11ffffffff".into()),
        (data(Status::Internal), "ZX_ERR_INTERNAL".into()),
        (u64::MAX, "-1".into()),
        (100, "100".into()),
        (10, "10".into()),
        (i64::MIN as u64, "i64::MIN".into()),
        (-1000i64 as u64, "-1000".into()),
    ];
    for status in FAIL_STATUSES {
        bad.push(((status.into_raw() as u32) as u64, format!("{status:?} not sign-extended")));
        bad.push((data(status) & !(1 << 40), format!("{status:?} with a cleared high bit")));
    }
    for status in Status::ALL.into_iter().filter(|s| !FAIL_STATUSES.contains(s)) {
        bad.push((data(status), format!("{status:?}")));
    }
    for (value, what) in &bad {
        for (offset, len) in [(0, 0), (0, P)] {
            assert_eq!(
                up.zx().pager_op_range(up.pager, ZX_PAGER_OP_FAIL, vmo, offset, len, *value),
                Err(Status::InvalidArgs),
                "data {value:#x} ({what}), length {len:#x}"
            );
        }
    }
    for status in FAIL_STATUSES {
        up.zx().pager_op_range(up.pager, ZX_PAGER_OP_FAIL, vmo, 0, P, data(status)).unwrap();
    }
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn fail_beyond_the_vmo_is_out_of_range() {
    let up = UserPager::new();
    let vmo = up.vmo(1, 1);
    for (offset, len) in [(P, P), (0, 2 * P), (2 * P, 0), (MAX_SIZE, 2 * P), (P, MAX_SIZE)] {
        assert_eq!(
            up.zx().pager_op_range(up.pager, ZX_PAGER_OP_FAIL, vmo, offset, len, data(Status::BadState)),
            Err(Status::OutOfRange),
            "offset {offset:#x}, length {len:#x}"
        );
    }
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn fail_after_detach_is_bad_state_after_the_argument_and_range_checks() {
    let up = UserPager::new();
    let vmo = up.vmo(2, 1);
    up.zx().pager_detach_vmo(up.pager, vmo).unwrap();
    up.expect_complete(1);
    let fail = |offset, len, data| up.zx().pager_op_range(up.pager, ZX_PAGER_OP_FAIL, vmo, offset, len, data);
    for status in FAIL_STATUSES {
        assert_eq!(fail(0, 2 * P, data(status)), Err(Status::BadState), "{status:?}");
    }
    assert_eq!(fail(0, 0, data(Status::Io)), Err(Status::BadState));
    assert_eq!(fail(0, P, 0), Err(Status::InvalidArgs), "bad data before state");
    assert_eq!(fail(1, P, data(Status::Io)), Err(Status::InvalidArgs), "alignment before state");
    assert_eq!(fail(2 * P, P, data(Status::Io)), Err(Status::OutOfRange), "range before state");
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn unknown_ops_are_not_supported() {
    let up = UserPager::new();
    let vmo = up.vmo(1, 1);
    for op in [0, 5, 6, 100, u32::MAX] {
        assert_eq!(up.zx().pager_op_range(up.pager, op, vmo, 0, P, 0), Err(Status::NotSupported), "op {op}");
    }
    up.close_all_and_check_clean(&[vmo]);
}

/// The three blocking accesses whose caller gets FAIL's status.
#[derive(Clone, Copy, Debug)]
enum Access {
    Read,
    Commit,
    Write,
}

/// Runs `access` of pages `[first, first + pages)` of `vmo` on a thread.
fn start(
    up: &Arc<UserPager>,
    vmo: Handle,
    access: Access,
    first: u64,
    pages: u64,
) -> Blocked<Result<(), Status>> {
    let up = up.clone();
    spawn(move || {
        let (offset, len) = (first * P, pages * P);
        match access {
            Access::Read => up.zx().vmo_read(vmo, &mut vec![0; len as usize], offset),
            Access::Commit => up.zx().vmo_op_range(vmo, ZX_VMO_OP_COMMIT, offset, len, &mut []),
            Access::Write => up.zx().vmo_write(vmo, &vec![0x5a; len as usize], offset),
        }
    })
}

#[test]
fn each_fail_status_is_returned_by_a_blocked_read_commit_and_write() {
    // Zircon's FailErrorCode, with writes too (digest §2.5).
    for status in FAIL_STATUSES {
        for access in [Access::Read, Access::Commit, Access::Write] {
            let up = Arc::new(UserPager::new());
            let vmo = up.vmo(4, 3);
            let t = start(&up, vmo, access, 1, 2);
            up.expect_read(3, 1, 2);
            up.fail(vmo, 1, 2, status);
            assert_eq!(t.join(), Err(status), "{access:?} failed with {status:?}");
            up.expect_no_request();
            // The failure is not sticky: the access asks again, and goes
            // through once supplied.
            let t = start(&up, vmo, access, 1, 2);
            up.expect_read(3, 1, 2);
            up.supply(vmo, 3, 1, 2);
            assert_eq!(t.join(), Ok(()), "{access:?} after {status:?}");
            up.expect_no_request();
            up.close_all_and_check_clean(&[vmo]);
        }
    }
}

#[test]
fn fail_reaches_every_waiter_of_the_request() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(2, 4);
    let first = start(&up, vmo, Access::Read, 0, 2);
    up.expect_read(4, 0, 2);
    let second = start(&up, vmo, Access::Commit, 0, 1);
    up.wait_blocked(vmo, 2);
    up.fail(vmo, 0, 2, Status::IoDataIntegrity);
    assert_eq!(first.join(), Err(Status::IoDataIntegrity));
    assert_eq!(second.join(), Err(Status::IoDataIntegrity));
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn fail_covering_the_start_of_a_request_fails_it_and_a_fail_beside_it_does_not() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(8, 5);
    let t = start(&up, vmo, Access::Read, 2, 3);
    up.expect_read(5, 2, 3);
    // Beside the request, on either side: OK, and the reader still waits.
    up.fail(vmo, 0, 2, Status::Io);
    up.fail(vmo, 5, 3, Status::Io);
    up.supply(vmo, 5, 2, 3);
    assert_eq!(t.join(), Ok(()));
    // Overlapping its start.
    let t = start(&up, vmo, Access::Read, 5, 2);
    up.expect_read(5, 5, 2);
    up.fail(vmo, 4, 2, Status::NoSpace);
    assert_eq!(t.join(), Err(Status::NoSpace));
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn a_rejected_fail_leaves_the_request_waiting() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(2, 6);
    let t = start(&up, vmo, Access::Read, 0, 2);
    up.expect_read(6, 0, 2);
    let fail = |op, offset, len, data| up.zx().pager_op_range(up.pager, op, vmo, offset, len, data);
    assert_eq!(fail(ZX_PAGER_OP_FAIL, 0, 2 * P, 0), Err(Status::InvalidArgs));
    assert_eq!(fail(ZX_PAGER_OP_FAIL, 0, 2 * P, data(Status::Internal)), Err(Status::InvalidArgs));
    assert_eq!(fail(ZX_PAGER_OP_FAIL, 1, 2 * P, data(Status::Io)), Err(Status::InvalidArgs));
    assert_eq!(fail(ZX_PAGER_OP_FAIL, 0, 3 * P, data(Status::Io)), Err(Status::OutOfRange));
    assert_eq!(fail(0, 0, 2 * P, data(Status::Io)), Err(Status::NotSupported));
    up.supply(vmo, 6, 0, 2);
    assert_eq!(t.join(), Ok(()));
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn fail_with_no_request_is_ok_and_changes_nothing() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(4, 7);
    up.supply(vmo, 7, 0, 2);
    for status in FAIL_STATUSES {
        up.fail(vmo, 0, 4, status);
    }
    up.expect_no_request();
    // Supplied pages keep their content; the rest still asks the pager.
    assert_eq!(up.env.read_bounded(vmo, 0, 2 * P as usize), Ok(tags(7, 0, 2)));
    let t = start(&up, vmo, Access::Read, 2, 2);
    up.expect_read(7, 2, 2);
    up.supply(vmo, 7, 2, 2);
    assert_eq!(t.join(), Ok(()));
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
