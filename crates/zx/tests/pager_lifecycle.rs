//! Detach, pager close, COMPLETE and resizing under waiters (digest §2.1,
//! §2.3, §2.15 rule 5).

mod support;

use std::sync::Arc;

use support::*;
use zx::ops::*;
use zx::options::*;
use zx::{Handle, Status};

fn read(up: &Arc<UserPager>, vmo: Handle, first: u64, pages: u64) -> Blocked<Result<Vec<u8>, Status>> {
    let up = up.clone();
    spawn(move || {
        let mut buf = vec![0; (pages * P) as usize];
        up.zx().vmo_read(vmo, &mut buf, first * P).map(|()| buf)
    })
}

#[test]
fn detach_fails_waiters_sends_complete_and_keeps_only_dirty_pages() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(4, 3);
    let va = up.env.map_rw(vmo, 4);
    up.supply(vmo, 3, 0, 2);
    up.zx().vmo_write(vmo, &[0xd1; 4], P).unwrap();
    let reader = read(&up, vmo, 2, 1);
    up.expect_read(3, 2, 1);
    let env = up.env.clone();
    let faulter = spawn(move || env.load(va + 3 * P, 1));
    up.expect_read(3, 3, 1);
    up.zx().pager_detach_vmo(up.pager, vmo).unwrap();
    assert_eq!(reader.join(), Err(Status::BadState));
    assert_eq!(faulter.join(), Err(Status::BadState), "a blocked fault is fatal with BAD_STATE");
    up.expect_complete(3);
    up.expect_no_request();
    // The clean page was decommitted; the written (dirty) one stays.
    assert_eq!(up.env.machine.used_frames(), 1);
    assert_eq!(up.env.read(vmo, P, 5), [0xd1, 0xd1, 0xd1, 0xd1, tag(3, 1)]);
    assert_eq!(up.env.load(va + P, 1), Ok(vec![0xd1]));
    assert_eq!(read(&up, vmo, 0, 1).join(), Err(Status::BadState));
    assert_eq!(up.env.load(va, 1), Err(Status::BadState));
    // Nothing more goes to the pager, whatever is asked.
    let aux = up.aux(3, 0, 1);
    assert_eq!(up.zx().pager_supply_pages(up.pager, vmo, 0, P, aux, 0), Err(Status::BadState));
    let data = Status::Io.into_raw() as i64 as u64;
    assert_eq!(up.zx().pager_op_range(up.pager, ZX_PAGER_OP_FAIL, vmo, 0, P, data), Err(Status::BadState));
    assert_eq!(up.zx().vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, 4 * P, &mut []), Err(Status::BadState));
    up.zx().pager_detach_vmo(up.pager, vmo).unwrap();
    up.expect_no_request();
}

#[test]
fn closing_the_vmo_sends_complete_once_nothing_refers_to_it() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(2, 4);
    let clone = up.zx().vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, 2 * P).unwrap();
    let va = up.env.map_rw(clone, 2);
    up.supply(vmo, 4, 0, 1);
    up.zx().handle_close(vmo).unwrap();
    up.zx().handle_close(clone).unwrap();
    up.expect_no_request();
    // The clone's mapping still reads through to the pager's pages.
    assert_eq!(up.env.load(va, 1), Ok(vec![tag(4, 0)]));
    up.env.zx.vmar_unmap(up.env.zx.root_vmar(), va, 2 * P).unwrap();
    up.expect_complete(4);
    up.expect_no_request();
}

#[test]
fn no_complete_follows_a_pager_close() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(2, 4);
    up.zx().handle_close(up.pager).unwrap();
    up.zx().handle_close(vmo).unwrap();
    up.expect_no_request();
}

#[test]
fn closing_the_pager_fails_waiters_but_keeps_pages_and_sends_nothing() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(3, 5);
    up.supply(vmo, 5, 0, 1);
    let t = read(&up, vmo, 1, 1);
    up.expect_read(5, 1, 1);
    up.zx().handle_close(up.pager).unwrap();
    assert_eq!(t.join(), Err(Status::BadState));
    assert_eq!(up.env.read(vmo, 0, 2), [tag(5, 0), tag(5, 0)], "supplied pages stay readable");
    assert_eq!(read(&up, vmo, 2, 1).join(), Err(Status::BadState));
    up.zx().handle_close(vmo).unwrap();
    up.expect_no_request();
}

#[test]
fn shrinking_fails_the_waiters_beyond_the_new_end() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(4, 6, ZX_VMO_RESIZABLE);
    let beyond = read(&up, vmo, 3, 1);
    up.expect_read(6, 3, 1);
    let within = read(&up, vmo, 1, 1);
    up.expect_read(6, 1, 1);
    let u = up.clone();
    let commit = spawn(move || u.zx().vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, 3 * P, &mut []));
    up.expect_read(6, 0, 1);
    up.supply(vmo, 6, 0, 1);
    up.wait_blocked(vmo, 3);
    up.zx().vmo_set_size(vmo, 2 * P).unwrap();
    assert_eq!(beyond.join(), Err(Status::OutOfRange));
    up.supply(vmo, 6, 1, 1);
    assert_eq!(within.join().unwrap(), vec![tag(6, 1); P as usize]);
    assert_eq!(commit.join(), Ok(()), "a commit whose remaining range is populated succeeds");
    // Supply and FAIL beyond the new end are out of range.
    let aux = up.aux(6, 2, 1);
    assert_eq!(up.zx().pager_supply_pages(up.pager, vmo, 2 * P, P, aux, 0), Err(Status::OutOfRange));
    up.expect_no_request();
}

#[test]
fn a_shrink_below_a_blocked_commit_or_prefetch_ends_it_with_ok() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(4, 9, ZX_VMO_RESIZABLE);
    up.supply(vmo, 9, 0, 2);
    let u = up.clone();
    let commit = spawn(move || u.zx().vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, 4 * P, &mut []));
    up.expect_read(9, 2, 2);
    let u = up.clone();
    let prefetch = spawn(move || u.zx().vmo_op_range(vmo, ZX_VMO_OP_PREFETCH, 2 * P, 2 * P, &mut []));
    up.wait_blocked(vmo, 2);
    let reader = read(&up, vmo, 3, 1);
    up.wait_blocked(vmo, 3);
    up.zx().vmo_set_size(vmo, 2 * P).unwrap();
    assert_eq!(commit.join(), Ok(()));
    assert_eq!(prefetch.join(), Ok(()));
    assert_eq!(reader.join(), Err(Status::OutOfRange));
    up.expect_no_request();
}

#[test]
fn growing_reads_zero_without_requests() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, 7, ZX_VMO_RESIZABLE);
    up.zx().vmo_set_size(vmo, 5 * P).unwrap();
    assert_eq!(read(&up, vmo, 1, 4).join().unwrap(), vec![0; 4 * P as usize]);
    // Supplying there changes nothing: the tail counts as supplied.
    up.supply(vmo, 7, 1, 4);
    assert_eq!(up.env.read(vmo, P, 1), [0]);
    assert_eq!(up.env.machine.used_frames(), 0);
    let t = read(&up, vmo, 0, 1);
    up.expect_read(7, 0, 1);
    up.supply(vmo, 7, 0, 1);
    assert_eq!(t.join().unwrap(), vec![tag(7, 0); P as usize]);
    up.expect_no_request();
}

#[test]
fn zeroing_unsupplied_pages_answers_their_waiters_with_zeros() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(3, 8);
    let t = read(&up, vmo, 0, 3);
    up.expect_read(8, 0, 3);
    up.zx().vmo_op_range(vmo, ZX_VMO_OP_ZERO, 0, 3 * P, &mut []).unwrap();
    assert_eq!(t.join().unwrap(), vec![0; 3 * P as usize]);
    up.expect_no_request();
}
