//! ZX_PAGER_OP_FAIL (`pager_op_range.md`, digest §2.5, §3.3): which waiters a
//! FAIL reaches and when, after Zircon's pager tests of the same names.

mod support;

use std::sync::Arc;

use support::*;
use zx::ops::*;
use zx::{Handle, Status};

fn read(up: &Arc<UserPager>, vmo: Handle, first: u64, pages: u64) -> Blocked<Result<(), Status>> {
    let up = up.clone();
    spawn(move || {
        let mut buf = vec![0; (pages * P) as usize];
        up.zx().vmo_read(vmo, &mut buf, first * P)?;
        assert_eq!(buf, (first..first + pages).flat_map(|p| vec![tag(1, p); P as usize]).collect::<Vec<_>>());
        Ok(())
    })
}

fn commit(up: &Arc<UserPager>, vmo: Handle, first: u64, pages: u64) -> Blocked<Result<(), Status>> {
    let up = up.clone();
    spawn(move || up.zx().vmo_op_range(vmo, ZX_VMO_OP_COMMIT, first * P, pages * P, &mut []))
}

#[test]
fn a_fail_at_the_front_fails_every_waiter_of_the_request() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(4, 1);
    let primary = read(&up, vmo, 0, 4);
    up.expect_read(1, 0, 4);
    let overlap = read(&up, vmo, 2, 1);
    up.wait_blocked(vmo, 2);
    up.fail(vmo, 0, 1, Status::IoDataIntegrity);
    assert_eq!(primary.join(), Err(Status::IoDataIntegrity));
    assert_eq!(overlap.join(), Err(Status::IoDataIntegrity));
    up.expect_no_request();
}

#[test]
fn fail_overlap_request() {
    // The overlap's failure waits for the request to complete; the primary,
    // which reaches the failed page later, asks for it again.
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(4, 1);
    let t1 = read(&up, vmo, 0, 4);
    up.expect_read(1, 0, 4);
    let t2 = read(&up, vmo, 1, 1);
    up.wait_blocked(vmo, 2);
    up.expect_no_request();
    up.fail(vmo, 1, 1, Status::Io);
    up.supply(vmo, 1, 0, 1);
    up.wait_blocked(vmo, 2);
    assert!(!t1.finished() && !t2.finished(), "both still wait");
    up.supply(vmo, 1, 2, 2);
    assert_eq!(t2.join(), Err(Status::Io));
    up.expect_read(1, 1, 1);
    up.supply(vmo, 1, 1, 1);
    assert_eq!(t1.join(), Ok(()));
    up.expect_no_request();
}

#[test]
fn fail_early_wake() {
    // After an early wake the failed page is the front: the request fails
    // although its last page was neither supplied nor failed.
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(3, 1);
    let t = read(&up, vmo, 0, 3);
    up.expect_read(1, 0, 3);
    up.supply(vmo, 1, 0, 1);
    up.wait_blocked(vmo, 1);
    up.fail(vmo, 1, 1, Status::Io);
    assert_eq!(t.join(), Err(Status::Io));
    up.expect_no_request();
}

#[test]
fn fail_overlapping_range_read() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(11, 1);
    // The end, the start and the whole of a request overlap the failure.
    let t1 = read(&up, vmo, 0, 2);
    up.expect_read(1, 0, 2);
    let t2 = read(&up, vmo, 9, 2);
    up.expect_read(1, 9, 2);
    let t3 = read(&up, vmo, 5, 2);
    up.expect_read(1, 5, 2);
    up.fail(vmo, 1, 9, Status::Io);
    up.supply(vmo, 1, 0, 1);
    up.supply(vmo, 1, 10, 1);
    up.expect_read(1, 1, 1);
    up.fail(vmo, 1, 9, Status::Io);
    assert_eq!(t1.join(), Err(Status::Io));
    assert_eq!(t2.join(), Err(Status::Io));
    assert_eq!(t3.join(), Err(Status::Io));
    up.expect_no_request();
}

#[test]
fn fail_redundant_and_fail_without_requests_are_ok() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(11, 1);
    let t = commit(&up, vmo, 0, 11);
    up.expect_read(1, 0, 11);
    for page in 0..11 {
        up.fail(vmo, page, 1, Status::Io);
    }
    assert_eq!(t.join(), Err(Status::Io));
    up.expect_no_request();
}

#[test]
fn a_failure_is_not_sticky() {
    // Zircon's SupplyAfterFail.
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(11, 1);
    let t = commit(&up, vmo, 0, 11);
    up.expect_read(1, 0, 11);
    up.fail(vmo, 0, 11, Status::NoSpace);
    assert_eq!(t.join(), Err(Status::NoSpace));
    up.expect_no_request();
    let t = commit(&up, vmo, 0, 11);
    up.expect_read(1, 0, 11);
    up.supply(vmo, 1, 0, 11);
    assert_eq!(t.join(), Ok(()));
    assert_eq!(read(&up, vmo, 0, 11).join(), Ok(()));
    up.expect_no_request();
}

#[test]
fn a_failed_fault_is_a_fatal_page_fault_with_the_status() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(2, 1);
    let va = up.env.map_rw(vmo, 2);
    let env = up.env.clone();
    let t = spawn(move || env.load(va + P, 8));
    up.expect_read(1, 1, 1);
    up.fail(vmo, 1, 1, Status::BufferTooSmall);
    assert_eq!(t.join(), Err(Status::BufferTooSmall));
    // A store asks again and goes through once supplied.
    let env = up.env.clone();
    let t = spawn(move || env.store(va + P, &[5]));
    up.expect_read(1, 1, 1);
    up.supply(vmo, 1, 1, 1);
    assert_eq!(t.join(), Ok(()));
    assert_eq!(up.env.read(vmo, P, 2), [5, tag(1, 1)]);
}

#[test]
fn a_failed_write_fails_with_the_status() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(2, 1);
    let u = up.clone();
    let t = spawn(move || u.zx().vmo_write(vmo, &[1; 10], P - 5));
    up.expect_read(1, 0, 2);
    up.fail(vmo, 0, 2, Status::BadState);
    assert_eq!(t.join(), Err(Status::BadState));
}
