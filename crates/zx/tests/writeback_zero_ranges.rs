//! Dirty zero ranges (digest §3.2): the tail a resize adds and the ranges
//! OP_ZERO makes, their DIRTY requests, their writeback and their
//! interaction with resizes and commits, after Zircon's `pager-writeback.cc`
//! tests of the same names (`PagerWriteback.*`; offsets and lengths in
//! pages).

mod support;

use std::sync::Arc;

use support::*;
use zx::ops::*;
use zx::options::*;
use zx::{Handle, Status};

const TRAP: u32 = ZX_VMO_TRAP_DIRTY;
const RESIZABLE: u32 = ZX_VMO_RESIZABLE;
const K: u64 = 1;
const Z: bool = true;
const NZ: bool = false;

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

/// A write of `len` bytes of `byte` at page `page`, on a thread of its own;
/// under TRAP_DIRTY, answers the DIRTY request `dirty` (first page, pages)
/// it must send.
fn write_approved(
    up: &Arc<UserPager>,
    options: u32,
    vmo: Handle,
    page: u64,
    len: usize,
    byte: u8,
    dirty: (u64, u64),
) {
    let t = up.writer(vmo, page * P, vec![byte; len]);
    if traps(options) {
        up.expect_dirty(K, dirty.0, dirty.1);
        up.dirty(vmo, dirty.0, dirty.1);
    }
    assert_eq!(t.join(), Ok(()));
}

/// `pages` pages of `page_tags(K, 0, 1)` followed by zeros.
fn tag0_then_zeros(pages: u64) -> Vec<u8> {
    let mut v = vec![0u8; (pages * P) as usize];
    v[..P as usize].fill(tag(K, 0));
    v
}

fn fill(v: &mut [u8], first: u64, pages: u64, byte: u8) {
    v[(first * P) as usize..((first + pages) * P) as usize].fill(byte);
}

fn resize_supply_zero(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(2, K, options);
    up.resize(vmo, 4);
    // The first two pages need READs; the new two are zero without one.
    let t = up.reader(vmo, 0, 4 * P as usize);
    up.expect_read(K, 0, 2);
    up.supply(vmo, K, 0, 2);
    let mut expected = page_tags(K, 0, 2);
    expected.resize(4 * P as usize, 0);
    assert_eq!(t.join().unwrap(), expected);
    up.expect_no_request();
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(up.committed(vmo), 2);
    // The new range counts as supplied: a supply there is a no-op.
    up.supply(vmo, K, 2, 2);
    assert_eq!(up.committed(vmo), 2);
    up.check_contents(vmo, 0, &expected, true);
    if !traps(options) {
        up.zx().vmo_write(vmo, &vec![0xaa; 2 * P as usize], 2 * P).unwrap();
        assert_eq!(up.committed(vmo), 4);
        fill(&mut expected, 2, 2, 0xaa);
        up.check_contents(vmo, 0, &expected, true);
        assert_eq!(dirty_ranges(&up, vmo), [(2, 2, NZ)]);
    }
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    resize_supply_zero,
    RESIZABLE,
    resize_supply_zero_trap_dirty,
    resize_supply_zero_no_trap_dirty
);

#[test]
fn resize_dirty_request() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(2, K, TRAP | RESIZABLE);
    up.supply(vmo, K, 0, 2);
    up.resize(vmo, 3);
    // Pages 1 and 2 (clean, then zero tail): one DIRTY request, no READ.
    let t1 = up.writer(vmo, P, vec![0xaa; 2 * P as usize]);
    up.expect_dirty(K, 1, 2);
    up.dirty(vmo, 1, 2);
    assert_eq!(t1.join(), Ok(()));
    let mut expected = vec![0u8; 8 * P as usize];
    fill(&mut expected, 0, 1, tag(K, 0));
    fill(&mut expected, 1, 2, 0xaa);
    up.check_contents(vmo, 0, &expected[..(3 * P) as usize], true);
    assert_eq!(up.committed(vmo), 3);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 2, NZ)]);

    // A write after a gap in the new tail requests only its page.
    up.resize(vmo, 6);
    let t2 = up.writer(vmo, 4 * P, vec![0xbb; P as usize]);
    up.expect_dirty(K, 4, 1);
    up.dirty(vmo, 4, 1);
    assert_eq!(t2.join(), Ok(()));
    fill(&mut expected, 4, 1, 0xbb);
    up.check_contents(vmo, 0, &expected[..(6 * P) as usize], true);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 2, NZ), (3, 1, Z), (4, 1, NZ), (5, 1, Z)]);

    // The whole VMO: requests for every run that is not Dirty yet.
    up.resize(vmo, 8);
    let t3 = up.writer(vmo, 0, vec![0xcc; 8 * P as usize]);
    up.expect_dirty(K, 0, 1);
    up.dirty(vmo, 0, 1);
    up.expect_dirty(K, 3, 1);
    up.dirty(vmo, 3, 1);
    up.expect_dirty(K, 5, 3);
    up.dirty(vmo, 5, 3);
    assert_eq!(t3.join(), Ok(()));
    up.check_contents(vmo, 0, &vec![0xcc; 8 * P as usize], true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 8, NZ)]);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

fn resize_writeback(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 3);
    let u = up.clone();
    let t = spawn(move || {
        u.zx().vmo_write(vmo, &vec![0xaa; P as usize], 0)?;
        u.zx().vmo_write(vmo, &vec![0xaa; P as usize], 2 * P)
    });
    if traps(options) {
        up.expect_dirty(K, 0, 1);
        up.dirty(vmo, 0, 1);
        up.expect_dirty(K, 2, 1);
        up.dirty(vmo, 2, 1);
    }
    assert_eq!(t.join(), Ok(()));
    let mut expected = vec![0xaa; 3 * P as usize];
    fill(&mut expected, 1, 1, 0);
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, NZ), (1, 1, Z), (2, 1, NZ)]);
    up.begin(vmo, 0, 3);
    up.end(vmo, 0, 3);
    assert_eq!(dirty_ranges(&up, vmo), []);
    // Page 1 is a gap now: check the pages still held.
    up.check_contents(vmo, 0, &expected[..P as usize], true);
    up.check_contents(vmo, 2, &expected[(2 * P) as usize..], true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    resize_writeback,
    RESIZABLE,
    resize_writeback_trap_dirty,
    resize_writeback_no_trap_dirty
);

#[test]
fn resize_with_outstanding_dirty_requests() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(5, K, TRAP | RESIZABLE);
    up.supply_zero(vmo, 1, 1);
    up.supply(vmo, K, 3, 1);
    up.resize(vmo, 6);
    assert_eq!(dirty_ranges(&up, vmo), [(5, 1, Z)]);
    // A write to the marker, to the clean page and to the zero tail, and a
    // read of a missing page; all wait.
    let t1 = up.writer(vmo, P, vec![0xaa]);
    up.expect_dirty(K, 1, 1);
    let t2 = up.writer(vmo, 3 * P, vec![0xbb]);
    up.expect_dirty(K, 3, 1);
    let t3 = up.writer(vmo, 5 * P, vec![0xcc]);
    up.expect_dirty(K, 5, 1);
    let t4 = up.reader(vmo, 2 * P, 1);
    up.expect_read(K, 2, 1);
    up.expect_no_request();
    // A shrink below all of them ends them with OUT_OF_RANGE.
    up.resize(vmo, 1);
    assert_eq!(t1.join(), Err(Status::OutOfRange));
    assert_eq!(t2.join(), Err(Status::OutOfRange));
    assert_eq!(t3.join(), Err(Status::OutOfRange));
    assert_eq!(t4.join(), Err(Status::OutOfRange));
    for first in [1, 3, 5] {
        assert_eq!(up.op(ZX_PAGER_OP_DIRTY, vmo, first, 1, 0), Err(Status::OutOfRange));
    }
    let aux = up.aux(K, 2, 1);
    assert_eq!(up.zx().pager_supply_pages(up.pager, vmo, 2 * P, P, aux, 0), Err(Status::OutOfRange));
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo, aux]);
}

#[test]
fn resize_writeback_with_outstanding_dirty_requests() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(2, K, TRAP | RESIZABLE);
    up.supply(vmo, K, 0, 2);
    up.resize(vmo, 5);
    write_approved(&up, TRAP, vmo, 4, P as usize, 0xaa, (4, 1));
    assert_eq!(dirty_ranges(&up, vmo), [(2, 2, Z), (4, 1, NZ)]);
    let mut expected = page_tags(K, 0, 2);
    expected.resize(5 * P as usize, 0);
    fill(&mut expected, 4, 1, 0xaa);
    up.check_contents(vmo, 0, &expected, true);

    up.begin(vmo, 2, 3);
    // A clean page and the AwaitingClean tail; then the rest of the tail
    // and the AwaitingClean page.
    let t2 = up.writer(vmo, P, vec![0xbb; 2 * P as usize]);
    up.expect_dirty(K, 1, 2);
    let t3 = up.writer(vmo, 3 * P, vec![0xcc; 2 * P as usize]);
    up.expect_dirty(K, 3, 2);
    // Clean the start of the tail, leaving a gap before it.
    up.end(vmo, 2, 1);
    up.resize(vmo, 1);
    assert_eq!(t2.join(), Err(Status::OutOfRange));
    assert_eq!(t3.join(), Err(Status::OutOfRange));
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.check_contents(vmo, 0, &expected[..P as usize], true);
    assert_eq!(up.try_end(vmo, 3, 2), Err(Status::OutOfRange));
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.check_contents(vmo, 0, &expected[..P as usize], true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn resize_writeback_new_dirty_requests_interleaved() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, TRAP | RESIZABLE);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 3);
    write_approved(&up, TRAP, vmo, 2, P as usize, 0xaa, (2, 1));
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, Z), (2, 1, NZ)]);
    let mut expected = tag0_then_zeros(3);
    fill(&mut expected, 2, 1, 0xaa);
    up.check_contents(vmo, 0, &expected, true);

    up.begin(vmo, 1, 2);
    let t2 = up.writer(vmo, P, vec![0xbb; P as usize]);
    up.expect_dirty(K, 1, 1);
    let t3 = up.writer(vmo, 2 * P, vec![0xcc; P as usize]);
    up.expect_dirty(K, 2, 1);
    up.dirty(vmo, 1, 2);
    assert_eq!(t2.join(), Ok(()));
    assert_eq!(t3.join(), Ok(()));
    assert_eq!(dirty_ranges(&up, vmo), [(1, 2, NZ)]);
    fill(&mut expected, 1, 1, 0xbb);
    fill(&mut expected, 2, 1, 0xcc);
    up.check_contents(vmo, 0, &expected, true);
    // Both were dirtied again since BEGIN: END cleans nothing.
    up.end(vmo, 1, 2);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 2, NZ)]);
    up.check_contents(vmo, 0, &expected, true);
    // Dirty pages take writes without requests.
    up.writer(vmo, P, vec![0xdd; 2 * P as usize]).join().unwrap();
    fill(&mut expected, 1, 2, 0xdd);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 2, NZ)]);
    up.check_contents(vmo, 0, &expected, true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn resize_writeback_new_dirty_requests() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, TRAP | RESIZABLE);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 3);
    write_approved(&up, TRAP, vmo, 2, P as usize, 0xaa, (2, 1));
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, Z), (2, 1, NZ)]);
    let mut expected = tag0_then_zeros(3);
    fill(&mut expected, 2, 1, 0xaa);
    up.check_contents(vmo, 0, &expected, true);
    up.begin(vmo, 1, 2);
    up.end(vmo, 1, 2);
    assert_eq!(dirty_ranges(&up, vmo), []);

    // The written-back zero range is a gap: READ first, then DIRTY.
    let t2 = up.writer(vmo, P, vec![0xbb; P as usize]);
    up.expect_read(K, 1, 1);
    up.supply(vmo, K, 1, 1);
    up.expect_dirty(K, 1, 1);
    let t3 = up.writer(vmo, 2 * P, vec![0xcc; P as usize]);
    up.expect_dirty(K, 2, 1);
    up.dirty(vmo, 1, 2);
    assert_eq!(t2.join(), Ok(()));
    assert_eq!(t3.join(), Ok(()));
    assert_eq!(dirty_ranges(&up, vmo), [(1, 2, NZ)]);
    fill(&mut expected, 1, 1, 0xbb);
    fill(&mut expected, 2, 1, 0xcc);
    up.check_contents(vmo, 0, &expected, true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

fn resize_writeback_intersecting_write(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 4);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 3, Z)]);
    up.begin_zero(vmo, 1, 3);
    write_approved(&up, options, vmo, 2, P as usize, 0xaa, (2, 1));
    let mut expected = tag0_then_zeros(4);
    fill(&mut expected, 2, 1, 0xaa);
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, Z), (2, 1, NZ), (3, 1, Z)]);
    // END cannot clean the page written after BEGIN.
    up.end(vmo, 1, 3);
    assert_eq!(dirty_ranges(&up, vmo), [(2, 1, NZ)]);
    up.begin(vmo, 0, 4);
    up.end(vmo, 0, 4);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.check_contents(vmo, 0, &expected[..P as usize], true);
    up.check_contents(vmo, 2, &expected[(2 * P) as usize..(3 * P) as usize], true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    resize_writeback_intersecting_write,
    RESIZABLE,
    resize_writeback_intersecting_write_trap_dirty,
    resize_writeback_intersecting_write_no_trap_dirty
);

fn resize_writeback_non_intersecting_write(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 4);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 3, Z)]);
    up.begin_zero(vmo, 1, 2);
    // A write after the AwaitingClean part, then one before the tail.
    write_approved(&up, options, vmo, 3, P as usize, 0xaa, (3, 1));
    write_approved(&up, options, vmo, 0, P as usize, 0xbb, (0, 1));
    let mut expected = vec![0u8; 4 * P as usize];
    fill(&mut expected, 0, 1, 0xbb);
    fill(&mut expected, 3, 1, 0xaa);
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, NZ), (1, 2, Z), (3, 1, NZ)]);
    up.end(vmo, 1, 2);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, NZ), (3, 1, NZ)]);
    up.begin(vmo, 0, 4);
    up.end(vmo, 0, 4);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.check_contents(vmo, 0, &expected[..P as usize], true);
    up.check_contents(vmo, 3, &expected[(3 * P) as usize..], true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    resize_writeback_non_intersecting_write,
    RESIZABLE,
    resize_writeback_non_intersecting_write_trap_dirty,
    resize_writeback_non_intersecting_write_no_trap_dirty
);

/// Runs of pages of `[1, 1 + len)` to write, chosen at random: (first, pages).
fn random_runs(rng: &mut Rng, len: u64) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for i in 1..=len {
        if rng.below(2) == 1 {
            match runs.last_mut() {
                Some((first, pages)) if *first + *pages == i => *pages += 1,
                _ => runs.push((i, 1)),
            }
        }
    }
    runs
}

/// Writes `runs` on a thread, approving each run's DIRTY request under
/// TRAP_DIRTY.
fn write_runs(up: &Arc<UserPager>, options: u32, vmo: Handle, runs: &[(u64, u64)]) {
    let u = up.clone();
    let r = runs.to_vec();
    let t = spawn(move || {
        r.iter().try_for_each(|&(first, pages)| {
            u.zx().vmo_write(vmo, &vec![0xaa; (pages * P) as usize], first * P)
        })
    });
    if traps(options) {
        for &(first, pages) in runs {
            up.expect_dirty(K, first, pages);
            up.dirty(vmo, first, pages);
        }
    }
    assert_eq!(t.join(), Ok(()));
}

fn resize_writeback_intersecting_random_writes(options: u32) {
    const LEN: u64 = 40;
    for seed in 1..=8 {
        let up = Arc::new(UserPager::new());
        let vmo = up.vmo_with(1, K, options);
        up.supply(vmo, K, 0, 1);
        up.resize(vmo, 1 + LEN);
        assert_eq!(dirty_ranges(&up, vmo), [(1, LEN, Z)]);
        up.begin_zero(vmo, 1, LEN);
        let runs = random_runs(&mut Rng(seed), LEN);
        write_runs(&up, options, vmo, &runs);
        up.end(vmo, 1, LEN);
        // The written pages stay dirty; the zero parts were cleaned.
        let expected: Vec<_> = runs.iter().map(|&(f, n)| (f, n, NZ)).collect();
        assert_eq!(dirty_ranges(&up, vmo), expected, "seed {seed}");
        up.begin(vmo, 0, LEN + 1);
        up.end(vmo, 0, LEN + 1);
        assert_eq!(dirty_ranges(&up, vmo), [], "seed {seed}");
        up.expect_no_request();
        up.close_all_and_check_clean(&[vmo]);
    }
}
with_and_without_trap_dirty!(
    resize_writeback_intersecting_random_writes,
    RESIZABLE,
    resize_writeback_intersecting_random_writes_trap_dirty,
    resize_writeback_intersecting_random_writes_no_trap_dirty
);

fn resize_partial_writeback_intersecting_random_writes(options: u32) {
    const LEN: u64 = 40;
    const WRITEBACK: u64 = LEN / 2;
    for seed in 1..=8 {
        let up = Arc::new(UserPager::new());
        let vmo = up.vmo_with(1, K, options);
        up.supply(vmo, K, 0, 1);
        up.resize(vmo, 1 + LEN);
        assert_eq!(dirty_ranges(&up, vmo), [(1, LEN, Z)]);
        up.begin_zero(vmo, 1, WRITEBACK);
        let runs = random_runs(&mut Rng(seed), LEN);
        write_runs(&up, options, vmo, &runs);
        up.end(vmo, 1, WRITEBACK);
        // Written pages stay dirty; the zero parts within the written-back
        // range were cleaned, those beyond it are still dirty zero ranges.
        let mut expected: Vec<(u64, u64, bool)> = Vec::new();
        for page in 1..=LEN {
            let written = runs.iter().any(|&(f, n)| (f..f + n).contains(&page));
            let kind = match (written, page > WRITEBACK) {
                (true, _) => NZ,
                (false, true) => Z,
                (false, false) => continue,
            };
            match expected.last_mut() {
                Some((f, n, z)) if *z == kind && *f + *n == page => *n += 1,
                _ => expected.push((page, 1, kind)),
            }
        }
        assert_eq!(dirty_ranges(&up, vmo), expected, "seed {seed}");
        up.begin(vmo, 0, LEN + 1);
        up.end(vmo, 0, LEN + 1);
        assert_eq!(dirty_ranges(&up, vmo), [], "seed {seed}");
        up.expect_no_request();
        up.close_all_and_check_clean(&[vmo]);
    }
}
with_and_without_trap_dirty!(
    resize_partial_writeback_intersecting_random_writes,
    RESIZABLE,
    resize_partial_writeback_intersecting_random_writes_trap_dirty,
    resize_partial_writeback_intersecting_random_writes_no_trap_dirty
);

fn resize_writeback_intersecting_resize(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 3);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 2, Z)]);
    let mut expected = tag0_then_zeros(3);
    up.check_contents(vmo, 0, &expected, true);

    // A shrink into the AwaitingClean range trims it.
    up.begin_zero(vmo, 1, 2);
    up.resize(vmo, 2);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, Z)]);
    up.check_contents(vmo, 0, &expected[..(2 * P) as usize], true);
    assert_eq!(up.try_end(vmo, 1, 2), Err(Status::OutOfRange));
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, Z)]);
    up.end(vmo, 1, 1);
    assert_eq!(dirty_ranges(&up, vmo), []);

    // A shrink removing the whole AwaitingClean range.
    up.resize(vmo, 3);
    assert_eq!(dirty_ranges(&up, vmo), [(2, 1, Z)]);
    up.supply(vmo, K, 1, 1);
    fill(&mut expected, 1, 1, tag(K, 1));
    up.check_contents(vmo, 0, &expected, true);
    up.begin_zero(vmo, 2, 1);
    up.resize(vmo, 2);
    assert_eq!(dirty_ranges(&up, vmo), []);
    assert_eq!(up.try_end(vmo, 2, 1), Err(Status::OutOfRange));
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.check_contents(vmo, 0, &expected[..(2 * P) as usize], true);

    // A shrink to before the start of the AwaitingClean range.
    up.resize(vmo, 3);
    assert_eq!(dirty_ranges(&up, vmo), [(2, 1, Z)]);
    up.check_contents(vmo, 0, &expected, true);
    up.begin_zero(vmo, 2, 1);
    up.resize(vmo, 1);
    assert_eq!(dirty_ranges(&up, vmo), []);
    assert_eq!(up.try_end(vmo, 2, 1), Err(Status::OutOfRange));
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.check_contents(vmo, 0, &expected[..P as usize], true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    resize_writeback_intersecting_resize,
    RESIZABLE,
    resize_writeback_intersecting_resize_trap_dirty,
    resize_writeback_intersecting_resize_no_trap_dirty
);

fn resize_writeback_non_intersecting_resize(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 3);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 2, Z)]);
    up.begin_zero(vmo, 1, 1);
    up.resize(vmo, 2);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, Z)]);
    // The shrink did not reach the AwaitingClean part: END still cleans it.
    up.end(vmo, 1, 1);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    resize_writeback_non_intersecting_resize,
    RESIZABLE,
    resize_writeback_non_intersecting_resize_trap_dirty,
    resize_writeback_non_intersecting_resize_no_trap_dirty
);

fn resize_writeback_after_gap(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 3);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 2, Z)]);
    write_approved(&up, options, vmo, 2, P as usize, 0xaa, (2, 1));
    let mut expected = tag0_then_zeros(3);
    fill(&mut expected, 2, 1, 0xaa);
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, Z), (2, 1, NZ)]);
    up.begin(vmo, 2, 1);
    up.end(vmo, 2, 1);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, Z)]);
    // Clean again: the next write traps again.
    write_approved(&up, options, vmo, 2, P as usize, 0xbb, (2, 1));
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, Z), (2, 1, NZ)]);
    fill(&mut expected, 2, 1, 0xbb);
    up.check_contents(vmo, 0, &expected, true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    resize_writeback_after_gap,
    RESIZABLE,
    resize_writeback_after_gap_trap_dirty,
    resize_writeback_after_gap_no_trap_dirty
);

/// A VMO of one supplied page resized to six, pages 2 and 4 written:
/// `{(1,1,Z), (2,1), (3,1,Z), (4,1), (5,1,Z)}`.
fn tail_with_two_pages(options: u32) -> (Arc<UserPager>, Handle, Vec<u8>) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 6);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 5, Z)]);
    let u = up.clone();
    let t = spawn(move || {
        u.zx().vmo_write(vmo, &vec![0xaa; P as usize], 2 * P)?;
        u.zx().vmo_write(vmo, &vec![0xaa; P as usize], 4 * P)
    });
    if traps(options) {
        up.expect_dirty(K, 2, 1);
        up.dirty(vmo, 2, 1);
        up.expect_dirty(K, 4, 1);
        up.dirty(vmo, 4, 1);
    }
    assert_eq!(t.join(), Ok(()));
    let mut expected = tag0_then_zeros(6);
    fill(&mut expected, 2, 1, 0xaa);
    fill(&mut expected, 4, 1, 0xaa);
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, Z), (2, 1, NZ), (3, 1, Z), (4, 1, NZ), (5, 1, Z)]);
    (up, vmo, expected)
}

fn resize_writeback_muliple_gaps(options: u32) {
    let (up, vmo, mut expected) = tail_with_two_pages(options);
    up.begin(vmo, 1, 5);
    // A write to an AwaitingClean zero page and an AwaitingClean page: one
    // DIRTY request.
    write_approved(&up, options, vmo, 3, 2 * P as usize, 0xbb, (3, 2));
    up.end(vmo, 1, 5);
    assert_eq!(dirty_ranges(&up, vmo), [(3, 2, NZ)]);
    fill(&mut expected, 3, 2, 0xbb);
    up.check_contents(vmo, 0, &expected[..P as usize], true);
    up.check_contents(vmo, 2, &expected[(2 * P) as usize..(5 * P) as usize], true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    resize_writeback_muliple_gaps,
    RESIZABLE,
    resize_writeback_muliple_gaps_trap_dirty,
    resize_writeback_muliple_gaps_no_trap_dirty
);

fn resize_writeback_sequential(options: u32) {
    let (up, vmo, _) = tail_with_two_pages(options);
    let ranges = dirty_ranges(&up, vmo);
    for &(first, pages, zero) in &ranges {
        if zero {
            up.begin_zero(vmo, first, pages);
        } else {
            up.begin(vmo, first, pages);
        }
    }
    for &(first, pages, _) in &ranges {
        up.end(vmo, first, pages);
    }
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    resize_writeback_sequential,
    RESIZABLE,
    resize_writeback_sequential_trap_dirty,
    resize_writeback_sequential_no_trap_dirty
);

fn resize_writeback_partial_end(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 5);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 4, Z)]);
    up.begin_zero(vmo, 1, 1);
    up.end(vmo, 1, 1);
    assert_eq!(dirty_ranges(&up, vmo), [(2, 3, Z)]);
    up.begin_zero(vmo, 2, 1);
    up.end(vmo, 2, 1);
    assert_eq!(dirty_ranges(&up, vmo), [(3, 2, Z)]);
    up.begin_zero(vmo, 3, 2);
    up.end(vmo, 3, 2);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    resize_writeback_partial_end,
    RESIZABLE,
    resize_writeback_partial_end_trap_dirty,
    resize_writeback_partial_end_no_trap_dirty
);

fn resize_writeback_repeated(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 5);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 4, Z)]);
    up.begin_zero(vmo, 1, 4);
    // A smaller BEGIN from the start does not shorten the first.
    up.begin_zero(vmo, 1, 2);
    up.end(vmo, 1, 4);
    assert_eq!(dirty_ranges(&up, vmo), []);

    up.resize(vmo, 10);
    assert_eq!(dirty_ranges(&up, vmo), [(5, 5, Z)]);
    // The second BEGIN's END, and an END without a BEGIN: no-ops.
    up.end(vmo, 1, 2);
    assert_eq!(dirty_ranges(&up, vmo), [(5, 5, Z)]);
    up.end(vmo, 5, 2);
    assert_eq!(dirty_ranges(&up, vmo), [(5, 5, Z)]);
    up.begin_zero(vmo, 5, 2);
    up.begin_zero(vmo, 5, 2);
    assert_eq!(dirty_ranges(&up, vmo), [(5, 5, Z)]);
    // A BEGIN starting inside the interval has no effect.
    up.begin_zero(vmo, 7, 3);
    up.end(vmo, 5, 2);
    up.end(vmo, 7, 3);
    assert_eq!(dirty_ranges(&up, vmo), [(7, 3, Z)]);
    up.end(vmo, 5, 2);
    assert_eq!(dirty_ranges(&up, vmo), [(7, 3, Z)]);
    up.begin(vmo, 7, 3);
    up.end(vmo, 7, 3);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    resize_writeback_repeated,
    RESIZABLE,
    resize_writeback_repeated_trap_dirty,
    resize_writeback_repeated_no_trap_dirty
);

/// Maps all `pages` pages of `vmo` read-write with ALLOW_FAULTS.
fn map_faulting(up: &UserPager, vmo: Handle, pages: u64) -> u64 {
    let options = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_ALLOW_FAULTS;
    up.zx().vmar_map(up.zx().root_vmar(), options, 0, vmo, 0, pages * P).unwrap()
}

fn resize_writeback_with_mapping(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 2);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, Z)]);
    let va = map_faulting(&up, vmo, 2);
    let t1 = up.storer(va + P, vec![0xaa]);
    if traps(options) {
        up.expect_dirty(K, 1, 1);
        up.dirty(vmo, 1, 1);
    }
    assert_eq!(t1.join(), Ok(()));
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, NZ)]);
    let mut expected = tag0_then_zeros(2);
    expected[P as usize] = 0xaa;
    up.check_contents(vmo, 0, &expected, true);
    up.begin(vmo, 0, 2);
    up.end(vmo, 0, 2);
    assert_eq!(dirty_ranges(&up, vmo), []);
    // Writeback removed the write permission: the next store traps.
    let t2 = up.storer(va + P, vec![0xbb]);
    if traps(options) {
        up.expect_dirty(K, 1, 1);
        up.dirty(vmo, 1, 1);
    }
    assert_eq!(t2.join(), Ok(()));
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, NZ)]);
    expected[P as usize] = 0xbb;
    up.check_contents(vmo, 0, &expected, true);
    up.expect_no_request();
    up.unmap(va, 2);
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    resize_writeback_with_mapping,
    RESIZABLE,
    resize_writeback_with_mapping_trap_dirty,
    resize_writeback_with_mapping_no_trap_dirty
);

fn resize_writeback_interleaved_write_with_mapping(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 6);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 5, Z)]);
    // Zircon's helper remaps its VMO on growth and its content checks read
    // through that mapping: keep one too (read-only, whole VMO).
    let base = up.zx().vmar_map(up.zx().root_vmar(), ZX_VM_PERM_READ, 0, vmo, 0, 6 * P).unwrap();
    let through_base = |up: &Arc<UserPager>, expected: &[u8]| {
        let u = up.clone();
        let got =
            spawn(move || u.env.load(base, 6 * P as usize)).join().expect("load through the VMO's mapping");
        assert_same(&got, expected, "the VMO's mapping");
    };
    let va = map_faulting(&up, vmo, 6);
    up.begin_zero(vmo, 1, 5);
    let u = up.clone();
    let t1 = spawn(move || {
        u.env.store(va + 2 * P, &[0xaa])?;
        u.env.store(va + 4 * P, &[0xaa])
    });
    if traps(options) {
        up.expect_dirty(K, 2, 1);
        up.dirty(vmo, 2, 1);
        up.expect_dirty(K, 4, 1);
        up.dirty(vmo, 4, 1);
    }
    assert_eq!(t1.join(), Ok(()));
    let ranges1 = [(1, 1, Z), (2, 1, NZ), (3, 1, Z), (4, 1, NZ), (5, 1, Z)];
    assert_eq!(dirty_ranges(&up, vmo), ranges1);
    let mut expected = tag0_then_zeros(6);
    expected[(2 * P) as usize] = 0xaa;
    expected[(4 * P) as usize] = 0xaa;
    up.check_contents(vmo, 0, &expected, false);
    through_base(&up, &expected);

    // Dirtied after BEGIN: the stores go through without requests.
    let u = up.clone();
    let t2 = spawn(move || {
        u.env.store(va + 2 * P, &[0xbb])?;
        u.env.store(va + 4 * P, &[0xbb])
    });
    assert_eq!(t2.join(), Ok(()));
    up.expect_no_request();
    assert_eq!(dirty_ranges(&up, vmo), ranges1);
    expected[(2 * P) as usize] = 0xbb;
    expected[(4 * P) as usize] = 0xbb;
    up.check_contents(vmo, 0, &expected, false);
    through_base(&up, &expected);

    // END cleans only the zero parts, which become gaps.
    up.end(vmo, 1, 5);
    assert_eq!(dirty_ranges(&up, vmo), [(2, 1, NZ), (4, 1, NZ)]);
    let t3 = up.storer(va + 3 * P, vec![0xdd]);
    up.expect_read(K, 3, 1);
    up.supply(vmo, K, 3, 1);
    if traps(options) {
        up.expect_dirty(K, 3, 1);
        up.dirty(vmo, 3, 1);
    }
    assert_eq!(t3.join(), Ok(()));
    assert_eq!(dirty_ranges(&up, vmo), [(2, 3, NZ)]);
    fill(&mut expected, 3, 1, tag(K, 3));
    expected[(3 * P) as usize] = 0xdd;
    // Zircon checks all six pages through its mapping: pages 1 and 5 are
    // gaps now, read through the zero pages it still maps there (a fresh
    // mapping would need READs); page 3 must show the supplied and written
    // page, not the zero page that mapping had there before.
    let held = |up: &Arc<UserPager>, expected: &[u8]| {
        up.check_contents(vmo, 0, &expected[..P as usize], true);
        up.check_contents(vmo, 2, &expected[(2 * P) as usize..(5 * P) as usize], true);
        through_base(up, expected);
    };
    held(&up, &expected);
    up.begin(vmo, 2, 3);
    up.end(vmo, 2, 3);
    assert_eq!(dirty_ranges(&up, vmo), []);
    held(&up, &expected);
    up.expect_no_request();
    up.unmap(va, 6);
    up.unmap(base, 6);
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    resize_writeback_interleaved_write_with_mapping,
    RESIZABLE,
    resize_writeback_interleaved_write_with_mapping_trap_dirty,
    resize_writeback_interleaved_write_with_mapping_no_trap_dirty
);

fn resize_writeback_dirty_after_query(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 4);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 3, Z)]);
    write_approved(&up, options, vmo, 2, 1, 0xaa, (2, 1));
    // The pager writes back the range it queried as zero: the page written
    // since stays dirty.
    up.begin_zero(vmo, 1, 3);
    up.end(vmo, 1, 3);
    assert_eq!(dirty_ranges(&up, vmo), [(2, 1, NZ)]);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    resize_writeback_dirty_after_query,
    RESIZABLE,
    resize_writeback_dirty_after_query_trap_dirty,
    resize_writeback_dirty_after_query_no_trap_dirty
);

const FRAGMENTED: [(u64, u64, bool); 5] = [(1, 1, NZ), (2, 4, Z), (6, 1, NZ), (7, 2, Z), (9, 1, NZ)];

/// A VMO of one supplied page resized to ten, pages 1, 6 and 9 written.
fn fragmented_tail(options: u32) -> (Arc<UserPager>, Handle) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 10);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 9, Z)]);
    let u = up.clone();
    let t = spawn(move || [1, 6, 9].iter().try_for_each(|&i| u.zx().vmo_write(vmo, &[0xaa], i * P)));
    if traps(options) {
        for i in [1, 6, 9] {
            up.expect_dirty(K, i, 1);
            up.dirty(vmo, i, 1);
        }
    }
    assert_eq!(t.join(), Ok(()));
    assert_eq!(dirty_ranges(&up, vmo), FRAGMENTED);
    (up, vmo)
}

fn writeback_combined(options: u32) {
    let (up, vmo) = fragmented_tail(options);
    up.begin(vmo, 1, 9);
    up.end(vmo, 1, 9);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    writeback_combined,
    RESIZABLE,
    writeback_combined_trap_dirty,
    writeback_combined_no_trap_dirty
);

const OUT_OF_ORDER: [usize; 5] = [3, 0, 2, 1, 4];

fn writeback_out_of_order(options: u32) {
    let (up, vmo) = fragmented_tail(options);
    for i in OUT_OF_ORDER {
        up.begin(vmo, FRAGMENTED[i].0, FRAGMENTED[i].1);
    }
    for i in OUT_OF_ORDER {
        up.end(vmo, FRAGMENTED[i].0, FRAGMENTED[i].1);
    }
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    writeback_out_of_order,
    RESIZABLE,
    writeback_out_of_order_trap_dirty,
    writeback_out_of_order_no_trap_dirty
);

fn writeback_out_of_order_combined_end(options: u32) {
    let (up, vmo) = fragmented_tail(options);
    for i in OUT_OF_ORDER {
        up.begin(vmo, FRAGMENTED[i].0, FRAGMENTED[i].1);
    }
    up.end(vmo, 1, 9);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    writeback_out_of_order_combined_end,
    RESIZABLE,
    writeback_out_of_order_combined_end_trap_dirty,
    writeback_out_of_order_combined_end_no_trap_dirty
);

fn writeback_out_of_order_combined_begin(options: u32) {
    let (up, vmo) = fragmented_tail(options);
    up.begin(vmo, 1, 9);
    for i in OUT_OF_ORDER {
        up.end(vmo, FRAGMENTED[i].0, FRAGMENTED[i].1);
    }
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    writeback_out_of_order_combined_begin,
    RESIZABLE,
    writeback_out_of_order_combined_begin_trap_dirty,
    writeback_out_of_order_combined_begin_no_trap_dirty
);

fn zero(up: &Arc<UserPager>, vmo: Handle, offset: u64, len: u64) -> Blocked<Result<(), Status>> {
    up.vmo_op(vmo, ZX_VMO_OP_ZERO, offset, len)
}

#[test]
fn op_zero() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(3, K, RESIZABLE);
    up.supply(vmo, K, 0, 1);
    up.check_contents(vmo, 0, &page_tags(K, 0, 1), true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    // Whole pages zero without a READ.
    assert_eq!(zero(&up, vmo, 0, 2 * P).join(), Ok(()));
    up.check_contents(vmo, 0, &vec![0; 2 * P as usize], true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 2, Z)]);
    // Zeroing the new tail is a no-op.
    up.resize(vmo, 4);
    up.zx().vmo_op_range(vmo, ZX_VMO_OP_ZERO, 3 * P, P, &mut []).unwrap();
    assert_eq!(up.committed(vmo), 0, "the supplied page became a zero range");
    assert_eq!(dirty_ranges(&up, vmo), [(0, 2, Z), (3, 1, Z)]);
    up.check_contents(vmo, 0, &vec![0; 2 * P as usize], true);
    up.check_contents(vmo, 3, &vec![0; P as usize], true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn op_zero_trap_dirty() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(2, K, RESIZABLE | TRAP);
    up.supply(vmo, K, 0, 2);
    up.check_contents(vmo, 0, &page_tags(K, 0, 2), true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    // Whole pages zero without a DIRTY request.
    assert_eq!(zero(&up, vmo, 0, P).join(), Ok(()));
    let mut expected = vec![0u8; 4 * P as usize];
    fill(&mut expected, 1, 1, tag(K, 1));
    up.check_contents(vmo, 0, &expected[..(2 * P) as usize], true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, Z)]);
    up.resize(vmo, 4);
    up.zx().vmo_op_range(vmo, ZX_VMO_OP_ZERO, 2 * P, 2 * P, &mut []).unwrap();
    assert_eq!(up.committed(vmo), 1, "only the page not zeroed");
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, Z), (2, 2, Z)]);
    up.check_contents(vmo, 0, &expected, true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

fn op_zero_tail(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 3);
    let expected = tag0_then_zeros(3);
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 2, Z)]);
    assert_eq!(up.committed(vmo), 1);
    up.zx().vmo_op_range(vmo, ZX_VMO_OP_ZERO, P, 2 * P, &mut []).unwrap();
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 2, Z)]);
    assert_eq!(up.committed(vmo), 1);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(op_zero_tail, RESIZABLE, op_zero_tail_trap_dirty, op_zero_tail_no_trap_dirty);

fn op_zero_decommit(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 3);
    let mut expected = tag0_then_zeros(3);
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 2, Z)]);
    write_approved(&up, options, vmo, 2, 1, 0xaa, (2, 1));
    expected[(2 * P) as usize] = 0xaa;
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, Z), (2, 1, NZ)]);
    assert_eq!(up.committed(vmo), 2);
    // Zeroing everything needs no request: the tail just starts at 0.
    assert_eq!(zero(&up, vmo, 0, 3 * P).join(), Ok(()));
    up.check_contents(vmo, 0, &vec![0; 3 * P as usize], true);
    assert_eq!(up.committed(vmo), 0);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 3, Z)]);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    op_zero_decommit,
    RESIZABLE,
    op_zero_decommit_trap_dirty,
    op_zero_decommit_no_trap_dirty
);

/// Asserts that queries on a clone or slice are INVALID_ARGS.
fn no_queries(up: &UserPager, child: Handle) {
    let mut buf = [0u8; VmoDirtyRange::SIZE];
    assert_eq!(up.zx().pager_query_dirty_ranges(up.pager, child, 0, P, &mut buf), Err(Status::InvalidArgs));
    let mut stats = [0u8; 4];
    assert_eq!(up.zx().pager_query_vmo_stats(up.pager, child, 0, &mut stats), Err(Status::InvalidArgs));
}

fn op_zero_clone(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(2, K, options);
    up.supply(vmo, K, 1, 1);
    let snapshot = |up: &UserPager| {
        up.zx().vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, 2 * P).unwrap()
    };
    // Zero a whole clone.
    let clone1 = snapshot(&up);
    up.zx().vmo_op_range(clone1, ZX_VMO_OP_ZERO, 0, 2 * P, &mut []).unwrap();
    up.expect_no_request();
    let mut expected = vec![0u8; 2 * P as usize];
    up.check_contents(clone1, 0, &expected, true);
    // The parent is untouched: zeroing the unsupplied page committed nothing.
    assert_eq!(up.committed(vmo), 1);
    fill(&mut expected, 1, 1, tag(K, 1));
    up.check_contents(vmo, 1, &expected[P as usize..], true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    no_queries(&up, clone1);

    // Zero only the unsupplied page of a clone.
    let clone2 = snapshot(&up);
    up.zx().vmo_op_range(clone2, ZX_VMO_OP_ZERO, 0, P, &mut []).unwrap();
    up.expect_no_request();
    up.check_contents(clone2, 0, &expected, true);
    assert_eq!(up.committed(vmo), 1);
    up.check_contents(vmo, 1, &expected[P as usize..], true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    no_queries(&up, clone2);

    // Zero a supplied page of a clone.
    up.supply(vmo, K, 0, 1);
    let clone3 = snapshot(&up);
    up.zx().vmo_op_range(clone3, ZX_VMO_OP_ZERO, 0, P, &mut []).unwrap();
    up.expect_no_request();
    up.check_contents(clone3, 0, &expected, true);
    assert_eq!(up.committed(vmo), 2);
    up.check_contents(vmo, 0, &page_tags(K, 0, 2), true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    no_queries(&up, clone3);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo, clone1, clone2, clone3]);
}
with_and_without_trap_dirty!(op_zero_clone, 0, op_zero_clone_trap_dirty, op_zero_clone_no_trap_dirty);

fn op_zero_resize(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(4, K, options);
    up.supply(vmo, K, 0, 1);
    up.check_contents(vmo, 0, &page_tags(K, 0, 1), true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    // Partial first pages need their content: READs.
    let t1 = zero(&up, vmo, P + 8, 2 * P);
    up.expect_read(K, 1, 1);
    let t2 = zero(&up, vmo, 2 * P, P - 8);
    up.expect_read(K, 2, 1);
    up.resize(vmo, 1);
    assert_eq!(t1.join(), Err(Status::OutOfRange));
    assert_eq!(t2.join(), Err(Status::OutOfRange));
    up.check_contents(vmo, 0, &page_tags(K, 0, 1), true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    op_zero_resize,
    RESIZABLE,
    op_zero_resize_trap_dirty,
    op_zero_resize_no_trap_dirty
);

fn op_zero_partial_page(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    let mut expected = tag0_then_zeros(2);
    up.check_contents(vmo, 0, &expected[..P as usize], true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.resize(vmo, 2);
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, Z)]);
    // A few bytes inside the first page: a write of the page.
    let t = zero(&up, vmo, 8, 8);
    if traps(options) {
        up.expect_dirty(K, 0, 1);
        up.dirty(vmo, 0, 1);
    }
    assert_eq!(t.join(), Ok(()));
    expected[8..16].fill(0);
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, NZ), (1, 1, Z)]);
    // From inside the (dirty) first page into the zero tail: no request.
    up.zx().vmo_op_range(vmo, ZX_VMO_OP_ZERO, P - 8, P, &mut []).unwrap();
    expected[(P - 8) as usize..P as usize].fill(0);
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, NZ), (1, 1, Z)]);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    op_zero_partial_page,
    RESIZABLE,
    op_zero_partial_page_trap_dirty,
    op_zero_partial_page_no_trap_dirty
);

fn op_zero_expands_tail(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(2, K, options);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.resize(vmo, 3);
    up.check_contents(vmo, 2, &vec![0; P as usize], true);
    assert_eq!(dirty_ranges(&up, vmo), [(2, 1, Z)]);
    // The page just before the tail: the tail grows, no request.
    let t1 = zero(&up, vmo, P, P);
    assert_eq!(t1.join(), Ok(()));
    up.expect_no_request();
    up.check_contents(vmo, 1, &vec![0; 2 * P as usize], true);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 2, Z)]);
    // A partial page needs READ (and DIRTY).
    let t2 = zero(&up, vmo, P - 8, 8);
    up.expect_read(K, 0, 1);
    up.supply(vmo, K, 0, 1);
    if traps(options) {
        up.expect_dirty(K, 0, 1);
        up.dirty(vmo, 0, 1);
    }
    assert_eq!(t2.join(), Ok(()));
    up.expect_no_request();
    let mut expected = tag0_then_zeros(3);
    expected[(P - 8) as usize..P as usize].fill(0);
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, NZ), (1, 2, Z)]);
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    op_zero_expands_tail,
    RESIZABLE,
    op_zero_expands_tail_trap_dirty,
    op_zero_expands_tail_no_trap_dirty
);

fn op_zero_writeback(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.check_contents(vmo, 0, &page_tags(K, 0, 1), true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.resize(vmo, 2);
    up.check_contents(vmo, 0, &tag0_then_zeros(2), true);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, Z)]);
    up.begin_zero(vmo, 1, 1);
    // Zeroing the page before the tail merges it in and resets the
    // writeback: the END is a no-op.
    up.zx().vmo_op_range(vmo, ZX_VMO_OP_ZERO, 0, P, &mut []).unwrap();
    up.end(vmo, 1, 1);
    up.check_contents(vmo, 0, &vec![0; 2 * P as usize], true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 2, Z)]);
    up.begin_zero(vmo, 0, 2);
    up.end(vmo, 0, 2);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    op_zero_writeback,
    RESIZABLE,
    op_zero_writeback_trap_dirty,
    op_zero_writeback_no_trap_dirty
);

fn op_zero_with_markers(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(5, K, options);
    up.supply(vmo, K, 0, 1);
    up.supply_zero(vmo, 1, 1);
    up.supply(vmo, K, 2, 1);
    up.supply_zero(vmo, 3, 2);
    let mut expected = vec![0u8; 5 * P as usize];
    fill(&mut expected, 0, 1, tag(K, 0));
    fill(&mut expected, 2, 1, tag(K, 2));
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    // Zeroing markers, in the middle or at the end, is a no-op.
    up.zx().vmo_op_range(vmo, ZX_VMO_OP_ZERO, P, P, &mut []).unwrap();
    up.expect_no_request();
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.zx().vmo_op_range(vmo, ZX_VMO_OP_ZERO, 3 * P, 2 * P, &mut []).unwrap();
    up.expect_no_request();
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    op_zero_with_markers,
    0,
    op_zero_with_markers_trap_dirty,
    op_zero_with_markers_no_trap_dirty
);

fn op_zero_unblocks_read_request(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(2, K, options);
    up.supply(vmo, K, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), []);
    let t = up.reader(vmo, P, P as usize);
    up.expect_read(K, 1, 1);
    // Zeroing the page answers the read with zeros.
    up.zx().vmo_op_range(vmo, ZX_VMO_OP_ZERO, P, P, &mut []).unwrap();
    assert_eq!(t.join(), Ok(vec![0; P as usize]));
    up.check_contents(vmo, 0, &tag0_then_zeros(2), true);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, Z)]);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    op_zero_unblocks_read_request,
    0,
    op_zero_unblocks_read_request_trap_dirty,
    op_zero_unblocks_read_request_no_trap_dirty
);

fn slice_op_zero(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(2, K, options);
    up.supply(vmo, K, 0, 2);
    up.check_contents(vmo, 0, &page_tags(K, 0, 2), true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    assert!(!up.modified(vmo));
    let slice = up.zx().vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 0, 2 * P).unwrap();
    // A sparse zero range needs no DIRTY request, even under TRAP_DIRTY.
    assert_eq!(zero(&up, slice, 0, P).join(), Ok(()));
    assert!(up.modified(vmo));
    assert!(!up.modified(vmo));
    let mut expected = page_tags(K, 0, 2);
    fill(&mut expected, 0, 1, 0);
    up.check_contents(vmo, 0, &expected, true);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, Z)]);
    no_queries(&up, slice);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo, slice]);
}
with_and_without_trap_dirty!(slice_op_zero, 0, slice_op_zero_trap_dirty, slice_op_zero_no_trap_dirty);

fn commit_resize_race(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(2, K, options);
    up.supply(vmo, K, 0, 1);
    assert!(!up.modified(vmo));
    let t = up.vmo_op(vmo, ZX_VMO_OP_COMMIT, 0, 2 * P);
    up.expect_read(K, 1, 1);
    // The shrink leaves the commit nothing to do.
    up.resize(vmo, 1);
    assert_eq!(t.join(), Ok(()));
    assert!(up.modified(vmo), "the resize modified the VMO");
    assert!(!up.modified(vmo));
    up.check_contents(vmo, 0, &page_tags(K, 0, 1), true);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    commit_resize_race,
    RESIZABLE,
    commit_resize_race_trap_dirty,
    commit_resize_race_no_trap_dirty
);

fn commit_extended_tail(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.resize(vmo, 2);
    up.check_contents(vmo, 1, &vec![0; P as usize], true);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, Z)]);
    // The old page is read in; the tail page becomes a dirty non-zero page.
    let t = up.vmo_op(vmo, ZX_VMO_OP_COMMIT, 0, 2 * P);
    up.expect_read(K, 0, 1);
    up.supply(vmo, K, 0, 1);
    if traps(options) {
        up.expect_dirty(K, 1, 1);
        up.dirty(vmo, 1, 1);
    }
    assert_eq!(t.join(), Ok(()));
    up.check_contents(vmo, 0, &tag0_then_zeros(2), true);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, NZ)]);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    commit_extended_tail,
    RESIZABLE,
    commit_extended_tail_trap_dirty,
    commit_extended_tail_no_trap_dirty
);

#[test]
fn delayed_dirty_not_found() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, TRAP | RESIZABLE);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 2);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, Z)]);
    let t = up.writer(vmo, P, vec![0xaa]);
    up.expect_dirty(K, 1, 1);
    // Meanwhile the zero range is written back: a gap the pager supplies.
    up.begin_zero(vmo, 1, 1);
    up.end(vmo, 1, 1);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    assert_eq!(up.op(ZX_PAGER_OP_DIRTY, vmo, 1, 1, 0), Err(Status::NotFound));
    // The failed OP_DIRTY sends the write round again, READ first.
    up.expect_read(K, 1, 1);
    up.supply(vmo, K, 1, 1);
    up.expect_dirty(K, 1, 1);
    up.dirty(vmo, 1, 1);
    assert_eq!(t.join(), Ok(()));
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, NZ)]);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn delayed_read_zero_range() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, TRAP | RESIZABLE);
    let t = up.reader(vmo, 0, 1);
    up.expect_read(K, 0, 1);
    up.zx().vmo_op_range(vmo, ZX_VMO_OP_ZERO, 0, P, &mut []).unwrap();
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, Z)]);
    // The zeroing answered the read.
    assert_eq!(t.join(), Ok(vec![0]));
    up.begin_zero(vmo, 0, 1);
    up.end(vmo, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_no_request();
    assert_eq!(up.committed(vmo), 0);
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn delayed_dirty_zero_range() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, TRAP | RESIZABLE);
    up.supply(vmo, K, 0, 1);
    let t = up.writer(vmo, 0, vec![0xaa]);
    up.expect_dirty(K, 0, 1);
    up.zx().vmo_op_range(vmo, ZX_VMO_OP_ZERO, 0, P, &mut []).unwrap();
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, Z)]);
    up.begin_zero(vmo, 0, 1);
    up.end(vmo, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), []);
    assert_eq!(up.op(ZX_PAGER_OP_DIRTY, vmo, 0, 1, 0), Err(Status::NotFound));
    // Round again: READ (answered with a zero marker), then DIRTY.
    up.expect_read(K, 0, 1);
    up.supply_zero(vmo, 0, 1);
    up.expect_dirty(K, 0, 1);
    up.dirty(vmo, 0, 1);
    assert_eq!(t.join(), Ok(()));
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, NZ)]);
    let mut expected = vec![0u8; P as usize];
    expected[0] = 0xaa;
    up.check_contents(vmo, 0, &expected, true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

/// BEGIN over a zero interval from before its start marks it up to the end
/// of the BEGIN range; one starting inside it does nothing; the query
/// reports a partly AwaitingClean interval whole; END cleans no further
/// than its own range (digest §3.2).
fn begin_and_end_across_an_interval_start(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 5);
    up.begin(vmo, 0, 3);
    assert_eq!(dirty_ranges(&up, vmo), [(1, 4, Z)], "reported whole");
    up.end(vmo, 0, 5);
    assert_eq!(dirty_ranges(&up, vmo), [(3, 2, Z)]);
    up.begin_zero(vmo, 4, 1);
    up.end(vmo, 3, 2);
    assert_eq!(dirty_ranges(&up, vmo), [(3, 2, Z)], "a BEGIN inside the interval did nothing");
    up.begin_zero(vmo, 3, 2);
    up.end(vmo, 3, 1);
    assert_eq!(dirty_ranges(&up, vmo), [(4, 1, Z)], "END stops at its range");
    up.check_contents(vmo, 0, &page_tags(K, 0, 1), true);
    up.check_contents(vmo, 4, &vec![0; P as usize], true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    begin_and_end_across_an_interval_start,
    RESIZABLE,
    begin_and_end_across_an_interval_start_trap_dirty,
    begin_and_end_across_an_interval_start_no_trap_dirty
);

/// A mapping that read a dirty zero range (the zero page) keeps reading
/// zeros once the range is written back, without a request (Zircon's
/// ResizeWritebackInterleavedWriteWithMapping reads its cleaned pages 1 and
/// 5 so), but must see the page the pager supplies there later (its page
/// 3): the supply replaces what the mapping had.
fn a_mapping_of_a_written_back_zero_range_sees_the_supplied_page(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    up.resize(vmo, 3);
    let base = up.zx().vmar_map(up.zx().root_vmar(), ZX_VM_PERM_READ, 0, vmo, 0, 3 * P).unwrap();
    let load = |up: &Arc<UserPager>, page: u64| {
        let u = up.clone();
        spawn(move || u.env.load(base + page * P, P as usize)).join().expect("load through the mapping")
    };
    assert_eq!(load(&up, 1), vec![0; P as usize]);
    assert_eq!(load(&up, 2), vec![0; P as usize]);
    up.begin_zero(vmo, 1, 2);
    up.end(vmo, 1, 2);
    assert_eq!(dirty_ranges(&up, vmo), []);
    assert_eq!(load(&up, 2), vec![0; P as usize]);
    up.expect_no_request();
    up.supply(vmo, K, 1, 1);
    assert_same(&up.env.read(vmo, P, P as usize), &page_tags(K, 1, 1), "vmo_read");
    assert_same(&load(&up, 1), &page_tags(K, 1, 1), "the mapping");
    up.expect_no_request();
    up.unmap(base, 3);
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    a_mapping_of_a_written_back_zero_range_sees_the_supplied_page,
    RESIZABLE,
    a_mapping_of_a_written_back_zero_range_sees_the_supplied_page_trap_dirty,
    a_mapping_of_a_written_back_zero_range_sees_the_supplied_page_no_trap_dirty
);

/// A write into a dirty zero range that a mapping reads as the zero frame:
/// the mapping then reads the written bytes (with TRAP_DIRTY, OP_DIRTY
/// commits the zero pages, and the mapping of the zero frame must go).
/// Found by the model check (zx-model).
fn mapped_zero_range_written(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(2, K, options | RESIZABLE);
    let va = up.env.map_rw(vmo, 2);
    up.resize(vmo, 0);
    up.resize(vmo, 2);
    assert_eq!(up.env.load(va + P, 1), Ok(vec![0]), "the zero tail reads zero through the mapping");
    write_approved(&up, options, vmo, 1, 100, 47, (1, 1));
    assert_eq!(up.env.load(va + P, 1), Ok(vec![47]));
    assert_eq!(up.env.read(vmo, P, 1), [47]);
}
with_and_without_trap_dirty!(
    mapped_zero_range_written,
    0,
    mapped_zero_range_written_trap_dirty,
    mapped_zero_range_written_no_trap_dirty
);

/// Under TRAP_DIRTY a COMMIT over a dirty zero range followed by a Clean
/// and an AwaitingClean page asks approval for the zero range alone: a
/// COMMIT dirties no other page (digest §2.11), so after the pager's OP_DIRTY
/// of the request's range the Clean page is still Clean and END still
/// cleans the AwaitingClean one. (Found by the model check: the request ran
/// on over the pages after the zero range.)
#[test]
fn commit_asks_approval_for_the_zero_range_alone() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(3, K, TRAP);
    up.supply(vmo, K, 0, 3);
    up.dirty(vmo, 2, 1);
    up.begin(vmo, 2, 1);
    up.zx().vmo_op_range(vmo, ZX_VMO_OP_ZERO, 0, P, &mut []).unwrap();
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, Z), (2, 1, NZ)]);
    let t = up.vmo_op(vmo, ZX_VMO_OP_COMMIT, 0, 3 * P);
    up.expect_dirty(K, 0, 1);
    up.dirty(vmo, 0, 1);
    assert_eq!(t.join(), Ok(()));
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, NZ), (2, 1, NZ)], "page 1 is still Clean");
    up.end(vmo, 2, 1);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, NZ)], "page 2 was still AwaitingClean");
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
