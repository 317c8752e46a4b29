//! Page requests: what a read, a write, a COMMIT or a fault of unsupplied
//! pages sends to the pager's port, and how supply wakes it (digest §2.15,
//! §3.3), after Zircon's pager tests of the same names.

mod support;

use std::sync::Arc;

use support::*;
use zx::ops::*;
use zx::options::*;
use zx::Status;

fn read_pages(up: &UserPager, vmo: zx::Handle, first: u64, pages: u64) -> Result<Vec<u8>, Status> {
    let mut buf = vec![0; (pages * P) as usize];
    up.zx().vmo_read(vmo, &mut buf, first * P).map(|()| buf)
}

fn reader(up: &Arc<UserPager>, vmo: zx::Handle, first: u64, pages: u64) -> Blocked<Result<Vec<u8>, Status>> {
    let up = up.clone();
    spawn(move || read_pages(&up, vmo, first, pages))
}

fn committer(up: &Arc<UserPager>, vmo: zx::Handle, first: u64, pages: u64) -> Blocked<Result<(), Status>> {
    let up = up.clone();
    spawn(move || up.zx().vmo_op_range(vmo, ZX_VMO_OP_COMMIT, first * P, pages * P, &mut []))
}

fn tags(key: u64, first: u64, pages: u64) -> Vec<u8> {
    (first..first + pages).flat_map(|p| vec![tag(key, p); P as usize]).collect()
}

#[test]
fn a_read_requests_the_missing_run_and_returns_the_supplied_pages() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(4, 7);
    let t = reader(&up, vmo, 1, 2);
    up.expect_read(7, 1, 2);
    up.expect_no_request();
    up.supply(vmo, 7, 1, 2);
    assert_eq!(t.join().unwrap(), tags(7, 1, 2));
    // Supplied pages are the VMO's own now: reading again asks nothing.
    assert_eq!(read_pages(&up, vmo, 1, 2).unwrap(), tags(7, 1, 2));
    up.expect_no_request();
    assert_eq!(up.env.machine.used_frames(), 2, "the aux frames moved in");
}

#[test]
fn present_pages_split_a_request() {
    // Page 2 present in 0..5: requests (0,2), then (3,2).
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(5, 1);
    up.supply(vmo, 1, 2, 1);
    let t = reader(&up, vmo, 0, 5);
    up.expect_read(1, 0, 2);
    up.supply(vmo, 1, 0, 2);
    up.expect_read(1, 3, 2);
    up.supply(vmo, 1, 3, 2);
    assert_eq!(t.join().unwrap(), tags(1, 0, 5));
    up.expect_no_request();
}

#[test]
fn readers_of_a_requested_page_share_one_request() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(2, 3);
    let first = reader(&up, vmo, 0, 1);
    up.expect_read(3, 0, 1);
    let second = reader(&up, vmo, 0, 1);
    up.wait_blocked(vmo, 2);
    up.expect_no_request();
    up.supply(vmo, 3, 0, 1);
    assert_eq!(first.join().unwrap(), tags(3, 0, 1));
    assert_eq!(second.join().unwrap(), tags(3, 0, 1));
    up.expect_no_request();
}

#[test]
fn an_overlapping_commit_requests_only_what_is_not_requested() {
    // Zircon's OverlapCommitTest.
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(32, 2);
    let inner = committer(&up, vmo, 8, 16);
    up.expect_read(2, 8, 16);
    let outer = committer(&up, vmo, 0, 32);
    up.expect_read(2, 0, 8);
    up.supply(vmo, 2, 0, 24);
    up.expect_read(2, 24, 8);
    up.supply(vmo, 2, 24, 8);
    inner.join().unwrap();
    outer.join().unwrap();
    up.expect_no_request();
    assert_eq!(read_pages(&up, vmo, 0, 32).unwrap(), tags(2, 0, 32));
}

#[test]
fn a_request_supplied_before_the_pager_reads_it_is_withdrawn() {
    // Zircon's EarlySupplyTest.
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(2, 4);
    let t = reader(&up, vmo, 0, 2);
    up.wait_blocked(vmo, 1);
    up.supply(vmo, 4, 0, 2);
    assert_eq!(t.join().unwrap(), tags(4, 0, 2));
    up.expect_no_request();
}

#[test]
fn a_supplied_prefix_wakes_the_reader_without_a_new_request() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(4, 5);
    let t = reader(&up, vmo, 0, 4);
    up.expect_read(5, 0, 4);
    up.supply(vmo, 5, 0, 1);
    up.supply(vmo, 5, 1, 1);
    up.wait_blocked(vmo, 1);
    assert!(!t.finished());
    up.supply(vmo, 5, 2, 2);
    assert_eq!(t.join().unwrap(), tags(5, 0, 4));
    up.expect_no_request();
}

#[test]
fn a_supply_behind_the_front_does_not_wake() {
    // Zircon's EarlyWakeNonLinearSupply.
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(3, 6);
    let t = reader(&up, vmo, 0, 3);
    up.expect_read(6, 0, 3);
    up.supply(vmo, 6, 2, 1);
    up.supply(vmo, 6, 1, 1);
    up.wait_blocked(vmo, 1);
    assert!(!t.finished());
    up.supply(vmo, 6, 0, 1);
    assert_eq!(t.join().unwrap(), tags(6, 0, 3));
    up.expect_no_request();
}

#[test]
fn faults_request_one_page_each() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(4, 8);
    let va = up.env.map_rw(vmo, 4);
    let env = up.env.clone();
    let t = spawn(move || env.load(va, (4 * P) as usize));
    for page in 0..4 {
        up.expect_read(8, page, 1);
        up.supply(vmo, 8, page, 1);
    }
    assert_eq!(t.join().unwrap(), tags(8, 0, 4));
    up.expect_no_request();
}

#[test]
fn a_write_to_an_unsupplied_page_reads_it_first() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(2, 9);
    let u = up.clone();
    let t = spawn(move || u.zx().vmo_write(vmo, &[0xee; 8], P + 100));
    up.expect_read(9, 1, 1);
    up.supply(vmo, 9, 1, 1);
    t.join().unwrap();
    let page = read_pages(&up, vmo, 1, 1).unwrap();
    assert_eq!(&page[100..108], &[0xee; 8]);
    assert!(
        page[..100].iter().chain(&page[108..]).all(|&b| b == tag(9, 1)),
        "the rest is the supplied content"
    );
}

#[test]
fn requests_of_a_clone_name_the_roots_key_and_offsets() {
    let up = Arc::new(UserPager::new());
    let root = up.vmo(8, 10);
    let clone =
        up.zx().vmo_create_child(root, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 2 * P, 4 * P).unwrap();
    let slice = up.zx().vmo_create_child(root, ZX_VMO_CHILD_SLICE, 4 * P, 2 * P).unwrap();
    let t = reader(&up, clone, 1, 2);
    up.expect_read(10, 3, 2);
    up.supply(root, 10, 3, 2);
    assert_eq!(t.join().unwrap(), tags(10, 3, 2));
    // The slice sees page 4 supplied through the clone's request, and asks
    // for page 5 against the root.
    let t = reader(&up, slice, 0, 2);
    up.expect_read(10, 5, 1);
    up.supply(root, 10, 5, 1);
    assert_eq!(t.join().unwrap(), tags(10, 4, 2));
    up.expect_no_request();
}

#[test]
fn batching_stops_at_pages_an_ancestor_has() {
    // Zircon's PageRequestBatchingChecksAncestorPages.
    let up = Arc::new(UserPager::new());
    let root = up.vmo(4, 11);
    let clone = up.zx().vmo_create_child(root, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, 4 * P).unwrap();
    let grandchild =
        up.zx().vmo_create_child(clone, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, 4 * P).unwrap();
    // The root has page 2; the clone hides page 1 behind zeros.
    up.supply(root, 11, 2, 1);
    up.zx().vmo_op_range(clone, ZX_VMO_OP_ZERO, P, P, &mut []).unwrap();
    let t = reader(&up, grandchild, 0, 4);
    up.expect_read(11, 0, 1);
    up.supply(root, 11, 0, 1);
    up.expect_read(11, 3, 1);
    up.supply(root, 11, 3, 1);
    let mut expected = tags(11, 0, 4);
    expected[P as usize..2 * P as usize].fill(0);
    assert_eq!(t.join().unwrap(), expected);
    up.expect_no_request();
}

#[test]
fn commit_populates_and_its_read_requests_are_answered() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(3, 12);
    let t = committer(&up, vmo, 0, 3);
    up.expect_read(12, 0, 3);
    up.supply(vmo, 12, 0, 3);
    t.join().unwrap();
    assert_eq!(up.env.machine.used_frames(), 3);
    // PREFETCH and ALWAYS_NEED of supplied pages ask for nothing.
    up.zx().vmo_op_range(vmo, ZX_VMO_OP_PREFETCH, 0, 3 * P, &mut []).unwrap();
    up.zx().vmo_op_range(vmo, ZX_VMO_OP_ALWAYS_NEED, 0, 3 * P, &mut []).unwrap();
    up.expect_no_request();
}
