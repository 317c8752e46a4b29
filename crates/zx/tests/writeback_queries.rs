//! `zx_pager_query_dirty_ranges` and `zx_pager_query_vmo_stats` (digest
//! §2.6, §2.7) and the argument checks of the writeback ops, after Zircon's
//! `pager-writeback.cc` tests of the same names (`PagerWriteback.*`).

mod support;

use std::sync::Arc;

use support::*;
use zx::ops::*;
use zx::options::*;
use zx::{Handle, Rights, Status};

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

fn traps(options: u32) -> bool {
    options & ZX_VMO_TRAP_DIRTY != 0
}

/// Asserts that both queries on a clone or slice are INVALID_ARGS.
fn no_queries(up: &UserPager, child: Handle) {
    let mut buf = [0u8; VmoDirtyRange::SIZE];
    assert_eq!(up.zx().pager_query_dirty_ranges(up.pager, child, 0, P, &mut buf), Err(Status::InvalidArgs));
    let mut stats = [0u8; 4];
    assert_eq!(up.zx().pager_query_vmo_stats(up.pager, child, 0, &mut stats), Err(Status::InvalidArgs));
}

/// `pager_query_dirty_ranges` of bytes `[offset, offset + len)` into a
/// buffer of `buf_len` bytes: the entries written and (actual, avail).
fn query(
    up: &UserPager,
    vmo: Handle,
    offset: u64,
    len: u64,
    buf_len: usize,
) -> Result<(Vec<VmoDirtyRange>, usize, usize), Status> {
    let mut buf = vec![0xffu8; buf_len];
    let (actual, avail) = up.zx().pager_query_dirty_ranges(up.pager, vmo, offset, len, &mut buf)?;
    // Nothing past the entries written is touched.
    assert!(buf[actual * VmoDirtyRange::SIZE..].iter().all(|&b| b == 0xff), "bytes past the entries");
    Ok((VmoDirtyRange::from_bytes(&buf, actual), actual, avail))
}

/// A write of `data` at byte `offset`, approving the DIRTY request of
/// `(first, pages)` under TRAP_DIRTY.
fn write_approved(
    up: &Arc<UserPager>,
    options: u32,
    vmo: Handle,
    offset: u64,
    data: Vec<u8>,
    dirty: (u64, u64),
) {
    let t = up.writer(vmo, offset, data);
    if traps(options) {
        up.expect_dirty(K, dirty.0, dirty.1);
        up.dirty(vmo, dirty.0, dirty.1);
    }
    assert_eq!(t.join(), Ok(()));
}

fn no_query_on_clone(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    write_approved(&up, options, vmo, 0, vec![0xaa], (0, 1));
    let clone = up.zx().vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, P).unwrap();
    up.zx().vmo_write(clone, &[0x77], 0).unwrap();
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    let mut expected = page_tags(K, 0, 1);
    expected[0] = 0xaa;
    up.check_contents(vmo, 0, &expected, true);
    no_queries(&up, clone);
    expected[0] = 0x77;
    up.check_contents(clone, 0, &expected, true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo, clone]);
}
with_and_without_trap_dirty!(
    no_query_on_clone,
    0,
    no_query_on_clone_trap_dirty,
    no_query_on_clone_no_trap_dirty
);

/// A VMO of `pages` supplied pages; under TRAP_DIRTY the first `dirty` are
/// dirtied ahead, so that writes need no request (as the Modified* tests
/// do).
fn supplied(options: u32, pages: u64, dirty: u64) -> (Arc<UserPager>, Handle) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(pages, K, options);
    up.supply(vmo, K, 0, pages);
    up.check_contents(vmo, 0, &page_tags(K, 0, pages), true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    if traps(options) && dirty > 0 {
        up.dirty(vmo, 0, dirty);
    }
    (up, vmo)
}

fn modified_on_vmo_write(options: u32) {
    let (up, vmo) = supplied(options, 1, 1);
    assert!(!up.modified(vmo), "OP_DIRTY alone does not modify");
    up.zx().vmo_write(vmo, &[0xaa], 0).unwrap();
    assert!(up.modified(vmo));
    assert!(!up.modified(vmo), "the query reset it");
    let mut expected = page_tags(K, 0, 1);
    expected[0] = 0xaa;
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    modified_on_vmo_write,
    0,
    modified_on_vmo_write_trap_dirty,
    modified_on_vmo_write_no_trap_dirty
);

fn modified_on_mapping_write(options: u32) {
    let (up, vmo) = supplied(options, 1, 1);
    let va = up.env.map_rw(vmo, 1);
    assert!(!up.modified(vmo));
    assert_eq!(up.storer(va, vec![0xbb]).join(), Ok(()));
    assert!(up.modified(vmo));
    assert!(!up.modified(vmo));
    let mut expected = page_tags(K, 0, 1);
    expected[0] = 0xbb;
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.expect_no_request();
    up.unmap(va, 1);
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    modified_on_mapping_write,
    0,
    modified_on_mapping_write_trap_dirty,
    modified_on_mapping_write_no_trap_dirty
);

fn modified_on_resize(options: u32) {
    let (up, vmo) = supplied(options, 1, 0);
    assert!(!up.modified(vmo));
    up.resize(vmo, 0);
    assert!(up.modified(vmo), "a shrink modifies");
    assert!(!up.modified(vmo));
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.resize(vmo, 2);
    assert!(up.modified(vmo), "a growth modifies");
    assert!(!up.modified(vmo));
    up.check_contents(vmo, 0, &vec![0; 2 * P as usize], true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 2, true)]);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    modified_on_resize,
    ZX_VMO_RESIZABLE,
    modified_on_resize_trap_dirty,
    modified_on_resize_no_trap_dirty
);

fn modified_on_op_zero(options: u32) {
    let (up, vmo) = supplied(options, 2, 1);
    assert!(!up.modified(vmo));
    up.zx().vmo_op_range(vmo, ZX_VMO_OP_ZERO, 0, P, &mut []).unwrap();
    assert!(up.modified(vmo));
    assert!(!up.modified(vmo));
    let mut expected = page_tags(K, 0, 2);
    expected[..P as usize].fill(0);
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, true)]);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    modified_on_op_zero,
    0,
    modified_on_op_zero_trap_dirty,
    modified_on_op_zero_no_trap_dirty
);

fn not_modified_on_vmo_read(options: u32) {
    let (up, vmo) = supplied(options, 1, 0);
    assert!(!up.modified(vmo));
    assert_eq!(up.env.read(vmo, 0, 1), [tag(K, 0)]);
    assert!(!up.modified(vmo));
    up.check_contents(vmo, 0, &page_tags(K, 0, 1), true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    not_modified_on_vmo_read,
    0,
    not_modified_on_vmo_read_trap_dirty,
    not_modified_on_vmo_read_no_trap_dirty
);

fn not_modified_on_mapping_read(options: u32) {
    let (up, vmo) = supplied(options, 1, 0);
    let va = up.env.map_rw(vmo, 1);
    assert!(!up.modified(vmo));
    assert_eq!(up.env.load(va, 1), Ok(vec![tag(K, 0)]));
    assert!(!up.modified(vmo));
    up.check_contents(vmo, 0, &page_tags(K, 0, 1), true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    up.unmap(va, 1);
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    not_modified_on_mapping_read,
    0,
    not_modified_on_mapping_read_trap_dirty,
    not_modified_on_mapping_read_no_trap_dirty
);

#[test]
fn not_modified_on_failed_dirty_request() {
    let (up, vmo) = supplied(ZX_VMO_TRAP_DIRTY, 1, 0);
    assert!(!up.modified(vmo));
    let t1 = up.writer(vmo, 0, vec![0xaa]);
    up.expect_dirty(K, 0, 1);
    up.fail(vmo, 0, 1, Status::Io);
    assert_eq!(t1.join(), Err(Status::Io));
    assert!(!up.modified(vmo));
    up.check_contents(vmo, 0, &page_tags(K, 0, 1), true);
    assert_eq!(dirty_ranges(&up, vmo), []);

    let va = up.env.map_rw(vmo, 1);
    let t2 = up.storer(va, vec![0xbb]);
    up.expect_dirty(K, 0, 1);
    up.fail(vmo, 0, 1, Status::Io);
    assert_eq!(t2.join(), Err(Status::Io));
    assert!(!up.modified(vmo));
    up.check_contents(vmo, 0, &page_tags(K, 0, 1), true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    up.unmap(va, 1);
    up.close_all_and_check_clean(&[vmo]);
}

/// The TRAP_DIRTY half of Zircon's `ModifiedOnPartialVmoWrite`: a write of
/// two pages whose second DIRTY request fails wrote the first, and counts
/// as a modification. (The first half fails the copy from a pager-backed
/// source buffer, which `vmo_write` of a host slice cannot express.)
#[test]
fn modified_on_partial_vmo_write_trap_dirty() {
    let (up, vmo) = supplied(ZX_VMO_TRAP_DIRTY, 2, 0);
    assert!(!up.modified(vmo));
    // Dirty and clean both pages again, then dirty only the first.
    up.dirty(vmo, 0, 2);
    up.begin(vmo, 0, 2);
    up.end(vmo, 0, 2);
    up.dirty(vmo, 0, 1);
    assert!(!up.modified(vmo), "neither OP_DIRTY nor writeback modifies");
    let t1 = up.writer(vmo, 0, vec![0xaa; 2 * P as usize]);
    up.expect_dirty(K, 1, 1);
    up.fail(vmo, 1, 1, Status::Io);
    assert_eq!(t1.join(), Err(Status::Io));
    assert!(up.modified(vmo), "the write partly succeeded");
    let mut expected = page_tags(K, 0, 2);
    expected[..P as usize].fill(0xaa);
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

fn not_modified_clone_write(options: u32) {
    let (up, vmo) = supplied(options, 1, 0);
    assert!(!up.modified(vmo));
    let clone = up.zx().vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, P).unwrap();
    up.zx().vmo_write(clone, &vec![0xcc; P as usize], 0).unwrap();
    assert!(!up.modified(vmo), "clone writes do not count");
    up.check_contents(vmo, 0, &page_tags(K, 0, 1), true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    no_queries(&up, clone);
    up.check_contents(clone, 0, &vec![0xcc; P as usize], true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo, clone]);
}
with_and_without_trap_dirty!(
    not_modified_clone_write,
    0,
    not_modified_clone_write_trap_dirty,
    not_modified_clone_write_no_trap_dirty
);

fn modified_no_reset(options: u32) {
    let (up, vmo) = supplied(options, 1, 1);
    assert!(!up.modified(vmo));
    up.zx().vmo_write(vmo, &[0xaa], 0).unwrap();
    assert!(up.peek_modified(vmo));
    let mut expected = page_tags(K, 0, 1);
    expected[0] = 0xaa;
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    assert!(up.peek_modified(vmo), "options 0 does not reset");
    assert!(up.modified(vmo));
    assert!(!up.modified(vmo));
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    modified_no_reset,
    0,
    modified_no_reset_trap_dirty,
    modified_no_reset_no_trap_dirty
);

fn slice_write(options: u32) {
    let (up, vmo) = supplied(options, 1, 0);
    assert!(!up.modified(vmo));
    let slice = up.zx().vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 0, P).unwrap();
    let t1 = up.writer(slice, 0, vec![0xaa]);
    if traps(options) {
        // The request names the root's key and offsets; the root answers.
        up.expect_dirty(K, 0, 1);
        up.dirty(vmo, 0, 1);
    }
    assert_eq!(t1.join(), Ok(()));
    assert!(up.modified(vmo), "a slice write modifies the root");
    assert!(!up.modified(vmo));
    let mut expected = page_tags(K, 0, 1);
    expected[0] = 0xaa;
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    no_queries(&up, slice);
    up.begin(vmo, 0, 1);
    up.end(vmo, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), []);
    assert!(!up.modified(vmo));

    // Through a mapping of the slice.
    let va = up.env.map_rw(slice, 1);
    let t2 = up.storer(va, vec![0xbb]);
    if traps(options) {
        up.expect_dirty(K, 0, 1);
        up.dirty(vmo, 0, 1);
    }
    assert_eq!(t2.join(), Ok(()));
    assert!(up.modified(vmo));
    assert!(!up.modified(vmo));
    expected[0] = 0xbb;
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    no_queries(&up, slice);
    up.expect_no_request();
    up.unmap(va, 1);
    up.close_all_and_check_clean(&[vmo, slice]);
}
with_and_without_trap_dirty!(slice_write, 0, slice_write_trap_dirty, slice_write_no_trap_dirty);

const OPS: [u32; 4] =
    [ZX_PAGER_OP_FAIL, ZX_PAGER_OP_DIRTY, ZX_PAGER_OP_WRITEBACK_BEGIN, ZX_PAGER_OP_WRITEBACK_END];

#[test]
fn invalid_pager_op_range() {
    let up = UserPager::new();
    let zx = up.zx();
    let other = UserPager::on(up.env.clone());
    let anon = up.env.vmo(1);
    for op in OPS {
        let vmo = zx.pager_create_vmo(up.pager, ZX_VMO_TRAP_DIRTY, up.port, 0, P).unwrap();
        let bad_state = Status::BadState.into_raw() as i64 as u64;
        let data = if op == ZX_PAGER_OP_FAIL { bad_state } else { 0 };
        assert_eq!(zx.pager_op_range(Handle::INVALID, op, vmo, 0, 0, 0), Err(Status::BadHandle));
        assert_eq!(zx.pager_op_range(up.pager, op, Handle::INVALID, 0, 0, 0), Err(Status::BadHandle));
        assert_eq!(zx.pager_op_range(vmo, op, vmo, 0, 0, 0), Err(Status::WrongType));
        assert_eq!(zx.pager_op_range(up.pager, op, up.pager, 0, 0, 0), Err(Status::WrongType));
        let ro = up.env.with_rights(vmo, Rights::DEFAULT_VMO.difference(Rights::WRITE));
        assert_eq!(zx.pager_op_range(up.pager, op, ro, 0, 0, 0), Err(Status::AccessDenied));
        assert_eq!(zx.pager_op_range(up.pager, op, anon, 0, 0, 0), Err(Status::InvalidArgs));
        assert_eq!(zx.pager_op_range(other.pager, op, vmo, 0, 0, 0), Err(Status::InvalidArgs));
        assert_eq!(zx.pager_op_range(up.pager, op, vmo, 1, 0, 0), Err(Status::InvalidArgs));
        assert_eq!(zx.pager_op_range(up.pager, op, vmo, 0, 1, 0), Err(Status::InvalidArgs));
        assert_eq!(zx.pager_op_range(up.pager, op, vmo, P, P, data), Err(Status::OutOfRange), "op {op}");
        for h in [vmo, ro] {
            zx.handle_close(h).unwrap();
        }
    }

    let vmo = zx.pager_create_vmo(up.pager, 0, up.port, 0, P).unwrap();
    assert_eq!(zx.pager_op_range(up.pager, 0, vmo, 0, 0, 0), Err(Status::NotSupported));
    let internal = Status::Internal.into_raw() as i64 as u64;
    for bad in [0x11_ffff_ffff, internal, 100] {
        assert_eq!(zx.pager_op_range(up.pager, ZX_PAGER_OP_FAIL, vmo, 0, 0, bad), Err(Status::InvalidArgs));
    }
    assert_eq!(zx.pager_op_range(up.pager, ZX_PAGER_OP_DIRTY, vmo, 0, 0, 0), Err(Status::NotSupported));

    let trap = zx.pager_create_vmo(up.pager, ZX_VMO_TRAP_DIRTY, up.port, 0, P).unwrap();
    assert_eq!(zx.pager_op_range(up.pager, ZX_PAGER_OP_DIRTY, trap, 0, P, 0), Err(Status::NotFound));
    for op in [ZX_PAGER_OP_DIRTY, ZX_PAGER_OP_WRITEBACK_BEGIN, ZX_PAGER_OP_WRITEBACK_END] {
        assert_eq!(zx.pager_op_range(up.pager, op, trap, 0, 0, 100), Err(Status::InvalidArgs), "op {op}");
    }
    let no_manage =
        zx.handle_replace(up.pager, Rights::DEFAULT_PAGER.difference(Rights::MANAGE_VMO)).unwrap();
    for op in OPS {
        assert_eq!(zx.pager_op_range(no_manage, op, trap, 0, 0, 0), Err(Status::AccessDenied), "op {op}");
    }
    for h in [other.pager, other.port, no_manage] {
        zx.handle_close(h).unwrap();
    }
    up.env.close_all_and_check_clean(&[anon, vmo, trap, up.port]);
}

#[test]
fn invalid_query() {
    let up = UserPager::new();
    let zx = up.zx();
    let vmo = zx.pager_create_vmo(up.pager, 0, up.port, 0, P).unwrap();
    let mut none: [u8; 0] = [];
    let mut stats = [0u8; 4];
    let q = |pager, vmo| zx.pager_query_dirty_ranges(pager, vmo, 0, 0, &mut []).map(drop);
    let s = |pager, vmo, buf: &mut [u8]| zx.pager_query_vmo_stats(pager, vmo, 0, buf);
    assert_eq!(q(Handle::INVALID, vmo), Err(Status::BadHandle));
    assert_eq!(q(up.pager, Handle::INVALID), Err(Status::BadHandle));
    assert_eq!(s(Handle::INVALID, vmo, &mut none), Err(Status::BadHandle));
    assert_eq!(s(up.pager, Handle::INVALID, &mut none), Err(Status::BadHandle));
    assert_eq!(q(vmo, vmo), Err(Status::WrongType));
    assert_eq!(q(up.pager, up.pager), Err(Status::WrongType));
    assert_eq!(s(vmo, vmo, &mut none), Err(Status::WrongType));
    assert_eq!(s(up.pager, up.pager, &mut none), Err(Status::WrongType));
    let no_read = up.env.with_rights(vmo, Rights::DEFAULT_VMO.difference(Rights::READ));
    assert_eq!(q(up.pager, no_read), Err(Status::AccessDenied));
    assert_eq!(s(up.pager, no_read, &mut none), Err(Status::AccessDenied));
    let anon = up.env.vmo(1);
    assert_eq!(q(up.pager, anon), Err(Status::InvalidArgs));
    assert_eq!(s(up.pager, anon, &mut none), Err(Status::InvalidArgs));
    let other = UserPager::on(up.env.clone());
    assert_eq!(q(other.pager, vmo), Err(Status::InvalidArgs));
    assert_eq!(s(other.pager, vmo, &mut none), Err(Status::InvalidArgs));
    assert_eq!(zx.pager_query_dirty_ranges(up.pager, vmo, P, P, &mut []), Err(Status::OutOfRange));
    assert_eq!(zx.pager_query_vmo_stats(up.pager, vmo, 100, &mut stats), Err(Status::InvalidArgs));
    assert_eq!(zx.pager_query_vmo_stats(up.pager, vmo, 0, &mut none), Err(Status::BufferTooSmall));
    // The size of the buffer is checked before the options.
    assert_eq!(zx.pager_query_vmo_stats(up.pager, vmo, 100, &mut stats[..3]), Err(Status::BufferTooSmall));
    let no_manage =
        zx.handle_replace(up.pager, Rights::DEFAULT_PAGER.difference(Rights::MANAGE_VMO)).unwrap();
    assert_eq!(q(no_manage, vmo), Err(Status::AccessDenied));
    assert_eq!(s(no_manage, vmo, &mut none), Err(Status::AccessDenied));
    for h in [other.pager, other.port, no_manage] {
        zx.handle_close(h).unwrap();
    }
    up.env.close_all_and_check_clean(&[vmo, no_read, anon, up.port]);
}

#[test]
fn query_early_termination() {
    let up = UserPager::new();
    let vmo = up.vmo(3, K);
    up.supply_zero(vmo, 0, 1);
    up.supply_zero(vmo, 2, 1);
    up.zx().vmo_write(vmo, &42u64.to_le_bytes(), 0).unwrap();
    up.zx().vmo_write(vmo, &42u64.to_le_bytes(), 2 * P).unwrap();
    // A buffer too small for any entry: OK, nothing written.
    let (_, actual, avail) = query(&up, vmo, 0, P, 8).unwrap();
    assert_eq!((actual, avail), (0, 1));
    // Room for the first of two.
    let (ranges, actual, avail) = query(&up, vmo, 0, 3 * P, VmoDirtyRange::SIZE).unwrap();
    assert_eq!((actual, avail), (1, 2));
    assert_eq!(ranges, [VmoDirtyRange { offset: 0, length: P, options: 0 }]);
    // A partial second entry is not written either.
    let (ranges, actual, avail) = query(&up, vmo, 0, 3 * P, 2 * VmoDirtyRange::SIZE - 1).unwrap();
    assert_eq!((ranges.len(), actual, avail), (1, 1, 2));
    let (ranges, actual, avail) = query(&up, vmo, 0, 3 * P, 2 * VmoDirtyRange::SIZE).unwrap();
    assert_eq!((actual, avail), (2, 2));
    assert_eq!(
        ranges,
        [
            VmoDirtyRange { offset: 0, length: P, options: 0 },
            VmoDirtyRange { offset: 2 * P, length: P, options: 0 }
        ]
    );
    up.close_all_and_check_clean(&[vmo]);
}

/// The range of a query is checked as given, then rounded out to pages;
/// the ranges reported are clipped to it (digest §2.6).
#[test]
fn query_range_is_checked_then_rounded_out() {
    let up = UserPager::new();
    let vmo = up.vmo(3, K);
    up.supply(vmo, K, 0, 3);
    up.zx().vmo_write(vmo, &vec![1; 3 * P as usize], 0).unwrap();
    let entry = |first: u64, pages: u64| VmoDirtyRange { offset: first * P, length: pages * P, options: 0 };
    let ranges = |offset, len| query(&up, vmo, offset, len, 4 * VmoDirtyRange::SIZE).map(|r| r.0);
    assert_eq!(ranges(0, 3 * P), Ok(vec![entry(0, 3)]));
    assert_eq!(ranges(P + 5, 1), Ok(vec![entry(1, 1)]));
    assert_eq!(ranges(P - 1, 2), Ok(vec![entry(0, 2)]));
    assert_eq!(ranges(5, 3 * P - 5), Ok(vec![entry(0, 3)]));
    assert_eq!(ranges(3 * P, 0), Ok(vec![]));
    assert_eq!(ranges(0, 3 * P + 1), Err(Status::OutOfRange));
    assert_eq!(ranges(3 * P - 1, 2), Err(Status::OutOfRange));
    assert_eq!(ranges(3 * P + 1, 0), Err(Status::OutOfRange));
    assert_eq!(ranges(u64::MAX, 2), Err(Status::OutOfRange));
    up.close_all_and_check_clean(&[vmo]);
}
