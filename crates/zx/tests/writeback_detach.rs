//! Dirty state across `zx_pager_detach_vmo` (digest §2.3, §3.1): Dirty and
//! AwaitingClean pages and dirty zero ranges stay and can be written back,
//! Clean pages go, and nothing more reaches the pager; after Zircon's
//! `pager-writeback.cc` tests of the same names (`PagerWriteback.*`).

mod support;

use std::sync::Arc;

use support::*;
use zx::ops::*;
use zx::options::*;
use zx::Status;

const K: u64 = 1;

/// Runs a test body once with TRAP_DIRTY and once without (Zircon's
/// `TEST_WITH_AND_WITHOUT_TRAP_DIRTY`).
macro_rules! with_and_without_trap_dirty {
    ($body:ident, $base:expr, $trap:ident, $no_trap:ident) => {
        #[test]
        fn $trap() {
            $body($base | ZX_VMO_TRAP_DIRTY);
        }
        #[test]
        fn $no_trap() {
            $body($base);
        }
    };
}

/// Runs a test body through `vmo_write` and through a mapping (Zircon's
/// `VMO_VMAR_TEST`).
macro_rules! vmo_vmar {
    ($body:ident, $vmo:ident, $vmar:ident) => {
        #[test]
        fn $vmo() {
            $body(false);
        }
        #[test]
        fn $vmar() {
            $body(true);
        }
    };
}

fn traps(options: u32) -> bool {
    options & ZX_VMO_TRAP_DIRTY != 0
}

fn detach(up: &UserPager, vmo: zx::Handle) {
    up.zx().pager_detach_vmo(up.pager, vmo).unwrap();
    up.expect_complete(K);
}

fn writeback_dirty_pages_after_detach(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    let t = up.writer(vmo, 0, vec![0xaa]);
    if traps(options) {
        up.expect_dirty(K, 0, 1);
        up.dirty(vmo, 0, 1);
    }
    assert_eq!(t.join(), Ok(()));
    assert_eq!(up.committed(vmo), 1);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);

    detach(&up, vmo);
    assert_eq!(up.committed(vmo), 1, "the dirty page stays");
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    let mut expected = page_tags(K, 0, 1);
    expected[0] = 0xaa;
    up.check_contents(vmo, 0, &expected, true);
    up.begin(vmo, 0, 1);
    up.end(vmo, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    writeback_dirty_pages_after_detach,
    0,
    writeback_dirty_pages_after_detach_trap_dirty,
    writeback_dirty_pages_after_detach_no_trap_dirty
);

fn writeback_resized_range_after_detach(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.resize(vmo, 3);
    let t = up.writer(vmo, 2 * P, vec![0xbb]);
    if traps(options) {
        up.expect_dirty(K, 2, 1);
        up.dirty(vmo, 2, 1);
    }
    assert_eq!(t.join(), Ok(()));
    let ranges = [(1, 1, true), (2, 1, false)];
    assert_eq!(dirty_ranges(&up, vmo), ranges);
    assert_eq!(up.committed(vmo), 1);

    detach(&up, vmo);
    // Everything beyond the old size is dirty, so it stays.
    assert_eq!(up.committed(vmo), 1);
    assert_eq!(dirty_ranges(&up, vmo), ranges);
    let mut expected = vec![0u8; 2 * P as usize];
    expected[P as usize] = 0xbb;
    up.check_contents(vmo, 1, &expected, true);
    up.begin(vmo, 1, 2);
    up.end(vmo, 1, 2);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    writeback_resized_range_after_detach,
    ZX_VMO_RESIZABLE,
    writeback_resized_range_after_detach_trap_dirty,
    writeback_resized_range_after_detach_no_trap_dirty
);

fn decommit_clean_on_detach(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    assert_eq!(up.committed(vmo), 1);
    assert_eq!(dirty_ranges(&up, vmo), []);
    detach(&up, vmo);
    assert_eq!(dirty_ranges(&up, vmo), []);
    assert_eq!(up.committed(vmo), 0, "the clean page went");
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    decommit_clean_on_detach,
    0,
    decommit_clean_on_detach_trap_dirty,
    decommit_clean_on_detach_no_trap_dirty
);

/// A write of one byte at offset 0, through `vmo_write` or a store through
/// the mapping at `va`.
fn write_byte(up: &Arc<UserPager>, vmo: zx::Handle, va: u64, via_map: bool) -> Blocked<Result<(), Status>> {
    if via_map {
        up.storer(va, vec![0xaa])
    } else {
        up.writer(vmo, 0, vec![0xaa])
    }
}

fn no_dirty_requests_after_detach(via_map: bool) {
    let up = Arc::new(UserPager::new());
    let vmo1 = up.vmo_with(1, K, ZX_VMO_TRAP_DIRTY);
    let va1 = up.env.map_rw(vmo1, 1);
    up.supply(vmo1, K, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo1), []);
    detach(&up, vmo1);
    // A clean page would have needed a DIRTY request: the write fails.
    assert_eq!(write_byte(&up, vmo1, va1, via_map).join(), Err(Status::BadState));
    up.expect_no_request();
    assert_eq!(dirty_ranges(&up, vmo1), []);

    // An AwaitingClean page too.
    let vmo2 = up.vmo_with(1, K, ZX_VMO_TRAP_DIRTY);
    let va2 = up.env.map_rw(vmo2, 1);
    up.supply(vmo2, K, 0, 1);
    up.dirty(vmo2, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo2), [(0, 1, false)]);
    up.begin(vmo2, 0, 1);
    detach(&up, vmo2);
    assert_eq!(write_byte(&up, vmo2, va2, via_map).join(), Err(Status::BadState));
    assert_eq!(dirty_ranges(&up, vmo2), [(0, 1, false)], "still AwaitingClean");
    up.end(vmo2, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo2), []);
    up.expect_no_request();
    up.unmap(va1, 1);
    up.unmap(va2, 1);
    up.close_all_and_check_clean(&[vmo1, vmo2]);
}
vmo_vmar!(
    no_dirty_requests_after_detach,
    no_dirty_requests_after_detach_vmo,
    no_dirty_requests_after_detach_vmar
);

fn detach_with_pending_dirty_request(via_map: bool) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, ZX_VMO_TRAP_DIRTY);
    let va = up.env.map_rw(vmo, 1);
    up.supply(vmo, K, 0, 1);
    assert_eq!(up.committed(vmo), 1);
    let t = write_byte(&up, vmo, va, via_map);
    up.expect_dirty(K, 0, 1);
    detach(&up, vmo);
    assert_eq!(t.join(), Err(Status::BadState), "the waiting write fails");
    assert_eq!(dirty_ranges(&up, vmo), []);
    assert_eq!(up.committed(vmo), 0);
    up.expect_no_request();
    up.unmap(va, 1);
    up.close_all_and_check_clean(&[vmo]);
}
vmo_vmar!(
    detach_with_pending_dirty_request,
    detach_with_pending_dirty_request_vmo,
    detach_with_pending_dirty_request_vmar
);

#[test]
fn resolve_dirty_request_after_detach() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, ZX_VMO_TRAP_DIRTY);
    up.supply(vmo, K, 0, 1);
    let t = up.writer(vmo, 0, vec![0xaa]);
    up.expect_dirty(K, 0, 1);
    detach(&up, vmo);
    assert_eq!(t.join(), Err(Status::BadState));
    up.expect_no_request();
    let io = Status::Io.into_raw() as i64 as u64;
    assert_eq!(up.op(ZX_PAGER_OP_FAIL, vmo, 0, 1, io), Err(Status::BadState));
    up.expect_no_request();
    assert_eq!(up.op(ZX_PAGER_OP_DIRTY, vmo, 0, 1, 0), Err(Status::BadState));
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
