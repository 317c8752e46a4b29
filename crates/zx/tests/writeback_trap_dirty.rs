//! DIRTY requests of TRAP_DIRTY pager VMOs and the writeback of pages
//! (digest §2.5, §3.1), after Zircon's `pager-writeback.cc` tests of the
//! same names (`PagerWriteback.*`; offsets and lengths are in pages).

mod support;

use std::sync::Arc;

use support::*;
use zx::ops::*;
use zx::options::*;
use zx::{Handle, Status};

const TRAP: u32 = ZX_VMO_TRAP_DIRTY;
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

/// Runs a test body through `vmo_read`/`vmo_write` and through a mapping
/// (Zircon's `VMO_VMAR_TEST`).
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

/// A read of pages `[first, first + pages)` on a thread of its own, through
/// `vmo_read` or through a read-only mapping the thread makes and removes.
fn read_pages(
    up: &Arc<UserPager>,
    vmo: Handle,
    first: u64,
    pages: u64,
    via_map: bool,
) -> Blocked<Result<Vec<u8>, Status>> {
    if !via_map {
        return up.reader(vmo, first * P, (pages * P) as usize);
    }
    let up = up.clone();
    spawn(move || {
        let zx = up.zx();
        let va = zx.vmar_map(zx.root_vmar(), ZX_VM_PERM_READ, 0, vmo, first * P, pages * P)?;
        let got = up.env.load(va, (pages * P) as usize);
        zx.vmar_unmap(zx.root_vmar(), va, pages * P).unwrap();
        got
    })
}

/// Whether the VMO option set traps dirty transitions.
fn traps(options: u32) -> bool {
    options & ZX_VMO_TRAP_DIRTY != 0
}

/// An aux VMO of one page whose first byte is `byte` (the rest zero).
fn aux_with_byte(up: &UserPager, byte: u8) -> Handle {
    let aux = up.env.vmo(1);
    up.zx().vmo_write(aux, &[byte], 0).unwrap();
    aux
}

fn simple_trap_dirty(via_map: bool) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, TRAP);
    let t1 = read_pages(&up, vmo, 0, 1, via_map);
    up.expect_read(K, 0, 1);
    up.supply(vmo, K, 0, 1);
    assert_eq!(t1.join().unwrap(), page_tags(K, 0, 1));

    let mut expected = page_tags(K, 0, 1);
    expected[0] = 0x77;
    let t2 = up.writer(vmo, 0, vec![0x77]);
    up.expect_dirty(K, 0, 1);
    up.dirty(vmo, 0, 1);
    assert_eq!(t2.join(), Ok(()));
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.check_contents(vmo, 0, &expected, via_map);
    up.expect_no_request();

    // Writes to a VMO created without TRAP_DIRTY go through without blocking.
    let no_trap = up.vmo(1, 2);
    up.supply(no_trap, 2, 0, 1);
    up.zx().vmo_write(no_trap, &[0xcc], 0).unwrap();
    let mut expected = page_tags(2, 0, 1);
    expected[0] = 0xcc;
    up.check_contents(no_trap, 0, &expected, via_map);

    // A VMO without a pager cannot trap dirty transitions.
    assert_eq!(up.zx().vmo_create(P, ZX_VMO_TRAP_DIRTY), Err(Status::InvalidArgs));
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo, no_trap]);
}
vmo_vmar!(simple_trap_dirty, simple_trap_dirty_vmo, simple_trap_dirty_vmar);

#[test]
fn op_dirty_no_write() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, TRAP);
    up.supply(vmo, K, 0, 1);
    up.dirty(vmo, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.check_contents(vmo, 0, &page_tags(K, 0, 1), true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn dirty_requests_on_vmo_write() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(20, K, TRAP);
    up.supply(vmo, K, 0, 20);
    let mut expected = page_tags(K, 0, 20);
    for i in [0, 2, 4, 6, 8, 3] {
        expected[(i * P) as usize] = 0x77;
    }
    expected[(11 * P) as usize..(16 * P) as usize].fill(0);
    let u = up.clone();
    let t = spawn(move || {
        // Alternate pages {0, 2, 4, 6, 8}, then page 3, then the run [11, 16).
        for i in [0, 2, 4, 6, 8, 3] {
            u.zx().vmo_write(vmo, &[0x77], i * P)?;
        }
        u.zx().vmo_write(vmo, &vec![0; 5 * P as usize], 11 * P)
    });
    for i in [0, 2, 4, 6, 8, 3] {
        up.expect_dirty(K, i, 1);
        up.dirty(vmo, i, 1);
    }
    up.expect_dirty(K, 11, 5);
    up.dirty(vmo, 11, 5);
    assert_eq!(t.join(), Ok(()));
    assert_eq!(
        dirty_ranges(&up, vmo),
        [(0, 1, false), (2, 3, false), (6, 1, false), (8, 1, false), (11, 5, false)]
    );
    up.check_contents(vmo, 0, &expected, true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn dirty_requests_via_mapping() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(20, K, TRAP);
    up.supply(vmo, K, 0, 20);
    let va = up.env.map_rw(vmo, 20);
    let mut expected = page_tags(K, 0, 20);
    let written = [0, 2, 4, 6, 8, 3, 11, 12, 13, 14, 15];
    for i in written {
        expected[(i * P) as usize] = 0xcc;
    }
    let u = up.clone();
    let t = spawn(move || {
        for i in written {
            u.env.store(va + i * P, &[0xcc])?;
        }
        Ok::<(), Status>(())
    });
    for i in [0, 2, 4, 6, 8, 3] {
        up.expect_dirty(K, i, 1);
        up.dirty(vmo, i, 1);
    }
    // Faults request one page each: dirty the whole run at the first.
    up.expect_dirty(K, 11, 1);
    up.dirty(vmo, 11, 5);
    assert_eq!(t.join(), Ok(()));
    assert_eq!(
        dirty_ranges(&up, vmo),
        [(0, 1, false), (2, 3, false), (6, 1, false), (8, 1, false), (11, 5, false)]
    );
    up.check_contents(vmo, 0, &expected, true);
    up.expect_no_request();
    up.unmap(va, 20);
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn no_dirty_requests_on_read() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(3, K, TRAP);
    let va = up.env.map_rw(vmo, 3);
    let u = up.clone();
    let t = spawn(move || (0..3).try_for_each(|i| u.env.load(va + i * P, 1).map(drop)));
    up.expect_read(K, 0, 1);
    up.supply(vmo, K, 0, 3);
    assert_eq!(t.join(), Ok(()));
    up.expect_no_request();
    assert_eq!(up.reader(vmo, 0, 3 * P as usize).join().unwrap(), page_tags(K, 0, 3));
    up.expect_no_request();
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.check_contents(vmo, 0, &page_tags(K, 0, 3), true);
    up.unmap(va, 3);
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn dirty_requests_repeated_writes() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, TRAP);
    up.supply(vmo, K, 0, 1);
    let va = up.env.map_rw(vmo, 1);
    let mut expected = page_tags(K, 0, 1);
    let t1 = up.storer(va, vec![0xcc]);
    up.expect_dirty(K, 0, 1);
    up.dirty(vmo, 0, 1);
    assert_eq!(t1.join(), Ok(()));
    expected[0] = 0xcc;
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.check_contents(vmo, 0, &expected, true);
    // The page is Dirty: a second write takes no request.
    assert_eq!(up.storer(va, vec![0xdd]).join(), Ok(()));
    up.expect_no_request();
    expected[0] = 0xdd;
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.check_contents(vmo, 0, &expected, true);
    up.unmap(va, 1);
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn dirty_requests_on_write_after_read() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, TRAP);
    up.supply(vmo, K, 0, 1);
    let va = up.env.map_rw(vmo, 1);
    let u = up.clone();
    assert_eq!(spawn(move || u.env.load(va, 1)).join(), Ok(vec![tag(K, 0)]));
    up.expect_no_request();
    let t2 = up.storer(va, vec![0xdd]);
    up.expect_dirty(K, 0, 1);
    up.dirty(vmo, 0, 1);
    assert_eq!(t2.join(), Ok(()));
    let mut expected = page_tags(K, 0, 1);
    expected[0] = 0xdd;
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.check_contents(vmo, 0, &expected, true);
    up.expect_no_request();
    up.unmap(va, 1);
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn no_dirty_requests_for_clones() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(3, K, TRAP);
    let clone = up.zx().vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, 3 * P).unwrap();
    let t1 = up.writer(clone, 0, vec![0xc; 3 * P as usize]);
    // Writing the clone's pages faults them in from the parent.
    up.expect_read(K, 0, 3);
    up.supply(vmo, K, 0, 3);
    assert_eq!(t1.join(), Ok(()));
    up.expect_no_request();
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.check_contents(clone, 0, &vec![0xc; 3 * P as usize], true);
    up.check_contents(vmo, 0, &page_tags(K, 0, 3), true);

    // Writes to the parent trap.
    let t2 = up.writer(vmo, 0, vec![0xd; 3 * P as usize]);
    up.expect_dirty(K, 0, 3);
    up.dirty(vmo, 0, 3);
    assert_eq!(t2.join(), Ok(()));
    assert_eq!(dirty_ranges(&up, vmo), [(0, 3, false)]);
    up.check_contents(vmo, 0, &vec![0xd; 3 * P as usize], true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo, clone]);
}

#[test]
fn dirty_requests_overlap() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(20, K, TRAP);
    up.supply(vmo, K, 0, 20);
    let mut expected = page_tags(K, 0, 20);
    up.expect_no_request();

    let t1 = up.writer(vmo, 4 * P, vec![0xaa; 5 * P as usize]);
    up.expect_dirty(K, 4, 5);
    up.expect_no_request();
    let t2 = up.writer(vmo, 2 * P, vec![0xbb; 7 * P as usize]);
    expected[(2 * P) as usize..(9 * P) as usize].fill(0xbb);
    // Only the part not already requested.
    up.expect_dirty(K, 2, 2);
    up.expect_no_request();
    up.dirty(vmo, 4, 5);
    assert_eq!(t1.join(), Ok(()));
    up.dirty(vmo, 2, 2);
    assert_eq!(t2.join(), Ok(()));
    assert_eq!(dirty_ranges(&up, vmo), [(2, 7, false)]);
    up.check_contents(vmo, 0, &expected, true);

    let t3 = up.writer(vmo, 11 * P, vec![0xcc; 5 * P as usize]);
    up.expect_dirty(K, 11, 5);
    let t4 = up.writer(vmo, 15 * P, vec![0xdd; 4 * P as usize]);
    up.wait_blocked(vmo, 2);
    up.expect_no_request();
    up.dirty(vmo, 11, 5);
    assert_eq!(t3.join(), Ok(()));
    assert_eq!(dirty_ranges(&up, vmo), [(2, 7, false), (11, 5, false)]);
    up.expect_dirty(K, 16, 3);
    up.dirty(vmo, 16, 3);
    assert_eq!(t4.join(), Ok(()));
    assert_eq!(dirty_ranges(&up, vmo), [(2, 7, false), (11, 8, false)]);
    // t3 and t4 both waited for page 15: either wrote it last.
    expected[(11 * P) as usize..(15 * P) as usize].fill(0xcc);
    expected[(15 * P) as usize..(19 * P) as usize].fill(0xdd);
    let mut other = expected.clone();
    other[(15 * P) as usize..(16 * P) as usize].fill(0xcc);
    let got = up.reader(vmo, 0, 20 * P as usize).join().unwrap();
    assert!(got == expected || got == other, "page 15 holds one of the writes");
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Empty,
    Clean,
    Dirty,
}

#[test]
fn dirty_requests_random_offsets() {
    for seed in 1..=16 {
        let up = Arc::new(UserPager::new());
        const N: u64 = 10;
        let vmo = up.vmo_with(N, K, TRAP);
        let mut rng = Rng(seed);
        let mut state: Vec<State> = (0..N)
            .map(|i| match rng.below(3) {
                0 => State::Empty,
                1 => {
                    up.supply(vmo, K, i, 1);
                    State::Clean
                }
                _ => {
                    up.supply(vmo, K, i, 1);
                    up.dirty(vmo, i, 1);
                    State::Dirty
                }
            })
            .collect();
        let t = up.writer(vmo, 0, vec![0x5a; (N * P) as usize]);
        // The write goes page by page: a run of Clean pages is one DIRTY
        // request up to the next Dirty page or gap; a gap is one READ of
        // the missing run, whose pages then join the next Clean run.
        let (mut i, mut clean_start, mut clean_len) = (0, 0, 0);
        while i < N {
            match state[i as usize] {
                State::Empty => {
                    if clean_len > 0 {
                        up.expect_dirty(K, clean_start, clean_len);
                        up.dirty(vmo, clean_start, clean_len);
                    }
                    let run = (i..N).take_while(|&j| state[j as usize] == State::Empty).count() as u64;
                    up.expect_read(K, i, run);
                    up.supply(vmo, K, i, run);
                    for j in i..i + run {
                        state[j as usize] = State::Clean;
                    }
                    (clean_start, clean_len) = (i, 0);
                }
                State::Clean => {
                    clean_len += 1;
                    i += 1;
                }
                State::Dirty => {
                    if clean_len > 0 {
                        up.expect_dirty(K, clean_start, clean_len);
                        up.dirty(vmo, clean_start, clean_len);
                    }
                    (clean_start, clean_len) = (i + 1, 0);
                    i += 1;
                }
            }
        }
        if clean_len > 0 {
            up.expect_dirty(K, clean_start, clean_len);
            up.dirty(vmo, clean_start, clean_len);
        }
        assert_eq!(t.join(), Ok(()), "seed {seed}");
        up.expect_no_request();
        assert_eq!(dirty_ranges(&up, vmo), [(0, N, false)], "seed {seed}");
        up.check_contents(vmo, 0, &vec![0x5a; (N * P) as usize], false);
        up.close_all_and_check_clean(&[vmo]);
    }
}

#[test]
fn fail_dirty_requests() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(2, K, TRAP);
    up.supply(vmo, K, 0, 2);
    let expected = page_tags(K, 0, 2);
    let va = up.zx().vmar_map(up.zx().root_vmar(), ZX_VM_PERM_READ | ZX_VM_PERM_WRITE, 0, vmo, 0, P).unwrap();
    let t1 = up.storer(va, vec![0xcc]);
    up.expect_dirty(K, 0, 1);
    up.fail(vmo, 0, 1, Status::Io);
    assert_eq!(t1.join(), Err(Status::Io), "the fault is fatal with IO");
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.check_contents(vmo, 0, &expected, true);

    let t2 = up.writer(vmo, P, vec![0xdd]);
    up.expect_dirty(K, 1, 1);
    up.fail(vmo, 1, 1, Status::Io);
    assert_eq!(t2.join(), Err(Status::Io));
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.check_contents(vmo, 0, &expected, true);
    up.expect_no_request();
    up.unmap(va, 1);
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn dirty_requests_for_zero_pages() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(2, K, TRAP);
    up.supply_zero(vmo, 0, 2);
    assert_eq!(up.committed(vmo), 0, "only markers");
    assert_eq!(dirty_ranges(&up, vmo), []);
    let mut expected = vec![0u8; 2 * P as usize];

    let t1 = up.writer(vmo, 0, vec![0xaa]);
    up.expect_dirty(K, 0, 1);
    up.dirty(vmo, 0, 1);
    assert_eq!(t1.join(), Ok(()));
    expected[0] = 0xaa;
    assert_eq!(up.committed(vmo), 1);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.check_contents(vmo, 0, &expected, true);

    // The second page through a mapping of it alone.
    let rw = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE;
    let va = up.zx().vmar_map(up.zx().root_vmar(), rw, 0, vmo, P, P).unwrap();
    let t2 = up.storer(va, vec![0xbb]);
    up.expect_dirty(K, 1, 1);
    up.dirty(vmo, 1, 1);
    assert_eq!(t2.join(), Ok(()));
    expected[P as usize] = 0xbb;
    assert_eq!(up.committed(vmo), 2);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 2, false)]);
    assert_eq!(up.env.load(va, 1), Ok(vec![0xbb]));
    up.check_contents(vmo, 0, &expected, true);
    up.expect_no_request();
    up.unmap(va, 1);
    up.close_all_and_check_clean(&[vmo]);
}

/// Supplies each page of `[first, first + pages)` as a tagged page or a zero
/// marker at random; returns the expected contents and the tagged count.
fn supply_mixed(up: &UserPager, vmo: Handle, rng: &mut Rng, first: u64, pages: u64) -> (Vec<u8>, u64) {
    let mut expected = vec![0u8; (pages * P) as usize];
    let mut non_zero = 0;
    for i in first..first + pages {
        if rng.below(2) == 1 {
            non_zero += 1;
            up.supply(vmo, K, i, 1);
            expected[((i - first) * P) as usize..((i - first + 1) * P) as usize].fill(tag(K, i));
        } else {
            up.supply_zero(vmo, i, 1);
        }
    }
    (expected, non_zero)
}

#[test]
fn dirty_zero_and_non_zero_pages() {
    for seed in 1..=8 {
        let up = Arc::new(UserPager::new());
        let vmo = up.vmo_with(10, K, TRAP);
        let (expected, non_zero) = supply_mixed(&up, vmo, &mut Rng(seed), 0, 10);
        up.check_contents(vmo, 0, &expected, true);
        assert_eq!(up.committed(vmo), non_zero, "only the non-zero pages are committed");
        assert_eq!(dirty_ranges(&up, vmo), []);
        // OP_DIRTY takes every kind of page.
        up.dirty(vmo, 0, 10);
        assert_eq!(up.committed(vmo), 10);
        assert_eq!(dirty_ranges(&up, vmo), [(0, 10, false)]);
        up.check_contents(vmo, 0, &expected, true);
        up.expect_no_request();
        up.close_all_and_check_clean(&[vmo]);
    }
}

#[test]
fn fail_dirty_requests_for_zero_pages() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, TRAP);
    up.supply_zero(vmo, 0, 1);
    assert_eq!(up.committed(vmo), 0);
    assert_eq!(dirty_ranges(&up, vmo), []);
    let t = up.writer(vmo, 0, vec![0xaa]);
    up.expect_dirty(K, 0, 1);
    up.fail(vmo, 0, 1, Status::Io);
    assert_eq!(t.join(), Err(Status::Io));
    assert_eq!(up.committed(vmo), 0);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.check_contents(vmo, 0, &vec![0; P as usize], true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn dirty_requests_for_zero_ranges() {
    for seed in 1..=8 {
        let up = Arc::new(UserPager::new());
        const N: u64 = 10;
        let vmo = up.vmo_with(N, K, TRAP);
        let mut expected = vec![0u8; (N * P) as usize];
        up.supply_zero(vmo, 0, 1);
        up.supply_zero(vmo, 1, 1);
        // The request takes in the second marker.
        let t1 = up.writer(vmo, 0, vec![0xaa; 2 * P as usize]);
        up.expect_dirty(K, 0, 2);
        up.dirty(vmo, 0, 2);
        assert_eq!(t1.join(), Ok(()));
        expected[..(2 * P) as usize].fill(0xaa);
        assert_eq!(dirty_ranges(&up, vmo), [(0, 2, false)]);
        up.check_contents(vmo, 0, &expected[..(2 * P) as usize], true);

        // A marker and a clean non-zero page make one request.
        up.supply_zero(vmo, 2, 1);
        up.supply(vmo, K, 3, 1);
        let t2 = up.writer(vmo, 2 * P, vec![0xbb; 2 * P as usize]);
        up.expect_dirty(K, 2, 2);
        up.dirty(vmo, 2, 2);
        assert_eq!(t2.join(), Ok(()));
        expected[(2 * P) as usize..(4 * P) as usize].fill(0xbb);
        assert_eq!(dirty_ranges(&up, vmo), [(0, 4, false)]);
        up.check_contents(vmo, 0, &expected[..(4 * P) as usize], true);

        // A mix up to a gap at the end: one request stopping at the gap,
        // then READ and DIRTY for the gap.
        supply_mixed(&up, vmo, &mut Rng(seed), 4, N - 5);
        let t3 = up.writer(vmo, 4 * P, vec![0xcc; ((N - 4) * P) as usize]);
        up.expect_dirty(K, 4, 5);
        up.dirty(vmo, 4, 5);
        up.expect_read(K, 9, 1);
        up.supply(vmo, K, 9, 1);
        up.expect_dirty(K, 9, 1);
        up.dirty(vmo, 9, 1);
        assert_eq!(t3.join(), Ok(()));
        expected[(4 * P) as usize..].fill(0xcc);
        assert_eq!(dirty_ranges(&up, vmo), [(0, N, false)]);
        up.check_contents(vmo, 0, &expected, true);
        up.expect_no_request();
        up.close_all_and_check_clean(&[vmo]);
    }
}

#[test]
fn no_dirty_requests_on_commit() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(5, K, TRAP);
    up.supply(vmo, K, 0, 2);
    let t = up.vmo_op(vmo, ZX_VMO_OP_COMMIT, 0, 5 * P);
    up.expect_read(K, 2, 3);
    up.supply(vmo, K, 2, 3);
    assert_eq!(t.join(), Ok(()));
    up.expect_no_request();
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn no_dirty_requests_on_map_range() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(3, K, TRAP);
    up.supply(vmo, K, 0, 3);
    let mut expected = page_tags(K, 0, 3);
    let u = up.clone();
    let options = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_MAP_RANGE;
    let va = spawn(move || u.zx().vmar_map(u.zx().root_vmar(), options, 0, vmo, 0, 3 * P)).join().unwrap();
    up.expect_no_request();
    up.check_contents(vmo, 0, &expected, true);
    let u = up.clone();
    assert_eq!(spawn(move || (0..3).try_for_each(|i| u.env.load(va + i * P, 1).map(drop))).join(), Ok(()));
    up.expect_no_request();
    assert_eq!(dirty_ranges(&up, vmo), []);

    // MAP_RANGE mapped the clean pages read-only: each write traps.
    let u = up.clone();
    let t3 = spawn(move || (0..3).try_for_each(|i| u.env.store(va + i * P, &[0xcc])));
    for i in 0..3 {
        up.expect_dirty(K, i, 1);
        up.dirty(vmo, i, 1);
        expected[(i * P) as usize] = 0xcc;
    }
    assert_eq!(t3.join(), Ok(()));
    assert_eq!(dirty_ranges(&up, vmo), [(0, 3, false)]);
    up.check_contents(vmo, 0, &expected, true);
    up.expect_no_request();
    up.unmap(va, 3);
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn no_dirty_requests_map_existing_dirty() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, TRAP);
    up.supply(vmo, K, 0, 1);
    let mut expected = page_tags(K, 0, 1);
    let t1 = up.writer(vmo, 0, vec![0xcc]);
    up.expect_dirty(K, 0, 1);
    up.dirty(vmo, 0, 1);
    assert_eq!(t1.join(), Ok(()));
    expected[0] = 0xcc;
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.check_contents(vmo, 0, &expected, true);

    let va = up.env.map_rw(vmo, 1);
    assert_eq!(up.storer(va, vec![0xdd]).join(), Ok(()));
    expected[0] = 0xdd;
    up.expect_no_request();
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.check_contents(vmo, 0, &expected, true);
    up.unmap(va, 1);
    up.close_all_and_check_clean(&[vmo]);
}

fn simple_writeback(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    let mut expected = page_tags(K, 0, 1);
    let t1 = up.writer(vmo, 0, vec![0xaa]);
    if traps(options) {
        up.expect_dirty(K, 0, 1);
        up.dirty(vmo, 0, 1);
    }
    assert_eq!(t1.join(), Ok(()));
    expected[0] = 0xaa;
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.check_contents(vmo, 0, &expected, true);

    up.begin(vmo, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)], "AwaitingClean is still dirty");
    up.end(vmo, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.check_contents(vmo, 0, &expected, true);

    // Clean again: the next write traps again.
    let t2 = up.writer(vmo, 0, vec![0x77]);
    if traps(options) {
        up.expect_dirty(K, 0, 1);
        up.dirty(vmo, 0, 1);
    }
    assert_eq!(t2.join(), Ok(()));
    expected[0] = 0x77;
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.check_contents(vmo, 0, &expected, true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    simple_writeback,
    0,
    simple_writeback_trap_dirty,
    simple_writeback_no_trap_dirty
);

#[test]
fn dirty_during_writeback() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, TRAP);
    up.supply(vmo, K, 0, 1);
    let mut expected = page_tags(K, 0, 1);
    up.dirty(vmo, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.begin(vmo, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.check_contents(vmo, 0, &expected, true);

    // A write during writeback traps; END before the approval cleans the
    // page, and the approval then dirties it again.
    let t1 = up.writer(vmo, 0, vec![0xcc]);
    up.expect_dirty(K, 0, 1);
    up.end(vmo, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.wait_blocked(vmo, 1);
    assert!(!t1.finished(), "the write still waits for approval");
    up.dirty(vmo, 0, 1);
    assert_eq!(t1.join(), Ok(()));
    expected[0] = 0xcc;
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.check_contents(vmo, 0, &expected, true);

    // Approved before END: END leaves the page Dirty.
    up.begin(vmo, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    let t2 = up.writer(vmo, 0, vec![0xdd]);
    up.expect_dirty(K, 0, 1);
    up.dirty(vmo, 0, 1);
    assert_eq!(t2.join(), Ok(()));
    expected[0] = 0xdd;
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.check_contents(vmo, 0, &expected, true);
    up.end(vmo, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn writeback_with_mapping() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, TRAP);
    up.supply(vmo, K, 0, 1);
    let mut expected = page_tags(K, 0, 1);
    let va = up.env.map_rw(vmo, 1);
    let t1 = up.storer(va, vec![0xaa]);
    up.expect_dirty(K, 0, 1);
    up.dirty(vmo, 0, 1);
    assert_eq!(t1.join(), Ok(()));
    expected[0] = 0xaa;
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    assert_eq!(up.env.load(va, 1), Ok(vec![0xaa]));
    up.check_contents(vmo, 0, &expected, true);

    // Dirty and mapped writable: no fault.
    assert_eq!(up.storer(va, vec![0xbb]).join(), Ok(()));
    up.expect_no_request();
    expected[0] = 0xbb;
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.check_contents(vmo, 0, &expected, true);

    // BEGIN write-protects the mapping: the next store traps.
    up.begin(vmo, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    assert_eq!(up.env.load(va, 1), Ok(vec![0xbb]));
    let t2 = up.storer(va, vec![0xcc]);
    up.expect_dirty(K, 0, 1);
    up.fail(vmo, 0, 1, Status::Io);
    assert_eq!(t2.join(), Err(Status::Io));
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    assert_eq!(up.env.load(va, 1), Ok(vec![0xbb]));
    up.check_contents(vmo, 0, &expected, true);

    // The failed request left it AwaitingClean: END cleans it.
    up.end(vmo, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), []);
    assert_eq!(up.env.load(va, 1), Ok(vec![0xbb]));
    up.check_contents(vmo, 0, &expected, true);

    let t3 = up.storer(va, vec![0xdd]);
    up.expect_dirty(K, 0, 1);
    up.dirty(vmo, 0, 1);
    assert_eq!(t3.join(), Ok(()));
    expected[0] = 0xdd;
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    assert_eq!(up.env.load(va, 1), Ok(vec![0xdd]));
    up.check_contents(vmo, 0, &expected, true);
    up.expect_no_request();
    up.unmap(va, 1);
    up.close_all_and_check_clean(&[vmo]);
}

fn cannot_overwrite_zero_page(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(1, K, options);
    up.supply_zero(vmo, 0, 1);
    assert_eq!(up.committed(vmo), 0);
    let mut expected = vec![0u8; P as usize];
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.check_contents(vmo, 0, &expected, true);

    // A supply over the marker is a no-op.
    let aux = aux_with_byte(&up, 0xaa);
    up.zx().pager_supply_pages(up.pager, vmo, 0, P, aux, 0).unwrap();
    assert_eq!(up.committed(vmo), 0);
    up.check_contents(vmo, 0, &expected, true);

    // A write forks the marker.
    let t1 = up.writer(vmo, 0, vec![0xbb]);
    if traps(options) {
        up.expect_dirty(K, 0, 1);
        up.dirty(vmo, 0, 1);
    }
    assert_eq!(t1.join(), Ok(()));
    expected[0] = 0xbb;
    assert_eq!(up.committed(vmo), 1);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.check_contents(vmo, 0, &expected, true);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo, aux]);
}
with_and_without_trap_dirty!(
    cannot_overwrite_zero_page,
    0,
    cannot_overwrite_zero_page_trap_dirty,
    cannot_overwrite_zero_page_no_trap_dirty
);

#[test]
fn simple_dirty_no_trap() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(1, K);
    up.supply(vmo, K, 0, 1);
    let mut expected = page_tags(K, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.check_contents(vmo, 0, &expected, true);
    up.zx().vmo_write(vmo, &[0x77], 0).unwrap();
    expected[0] = 0x77;
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.check_contents(vmo, 0, &expected, true);
    up.begin(vmo, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.end(vmo, 0, 1);
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.check_contents(vmo, 0, &expected, true);

    // A store through a mapping dirties the page again, without a request.
    let va = up.env.map_rw(vmo, 1);
    assert_eq!(up.storer(va, vec![0x55]).join(), Ok(()));
    expected[0] = 0x55;
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    up.check_contents(vmo, 0, &expected, true);
    up.expect_no_request();
    up.unmap(va, 1);
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn dirty_no_trap_random_offsets() {
    for seed in 1..=8 {
        let up = Arc::new(UserPager::new());
        let vmo = up.vmo(10, K);
        let (mut expected, non_zero) = supply_mixed(&up, vmo, &mut Rng(seed), 0, 10);
        assert_eq!(up.committed(vmo), non_zero);
        assert_eq!(dirty_ranges(&up, vmo), []);
        up.check_contents(vmo, 0, &expected, true);
        for i in 0..10u64 {
            expected[(i * P) as usize] = 0x77 + i as u8;
        }
        up.zx().vmo_write(vmo, &expected, 0).unwrap();
        assert_eq!(up.committed(vmo), 10);
        assert_eq!(dirty_ranges(&up, vmo), [(0, 10, false)]);
        up.check_contents(vmo, 0, &expected, true);
        up.expect_no_request();
        up.close_all_and_check_clean(&[vmo]);
    }
}

fn dirty_after_map_protect(options: u32) {
    let up = Arc::new(UserPager::new());
    let zx = up.zx();
    let (vmar, _base) =
        zx.vmar_allocate(zx.root_vmar(), ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_WRITE, 0, P).unwrap();
    let vmo = up.vmo_with(1, K, options);
    up.supply(vmo, K, 0, 1);
    let mut expected = page_tags(K, 0, 1);
    // Mapped read-only and read, so that the protect below is not a no-op.
    let va = zx.vmar_map(vmar, ZX_VM_PERM_READ, 0, vmo, 0, P).unwrap();
    assert_eq!(up.env.load(va, 1), Ok(vec![tag(K, 0)]));
    zx.vmar_protect(vmar, ZX_VM_PERM_READ | ZX_VM_PERM_WRITE, va, P).unwrap();
    // The protect must not have made the clean page writable in hardware.
    let t = up.storer(va, vec![0xaa]);
    if traps(options) {
        up.expect_dirty(K, 0, 1);
        up.dirty(vmo, 0, 1);
    }
    assert_eq!(t.join(), Ok(()));
    expected[0] = 0xaa;
    assert_eq!(dirty_ranges(&up, vmo), [(0, 1, false)]);
    assert_eq!(up.env.load(va, 1), Ok(vec![0xaa]));
    up.check_contents(vmo, 0, &expected, true);
    up.expect_no_request();
    zx.vmar_destroy(vmar).unwrap();
    up.close_all_and_check_clean(&[vmo, vmar]);
}
with_and_without_trap_dirty!(
    dirty_after_map_protect,
    0,
    dirty_after_map_protect_trap_dirty,
    dirty_after_map_protect_no_trap_dirty
);

#[test]
fn dirty_large_range() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(100, K, TRAP | ZX_VMO_RESIZABLE);
    up.supply_zero(vmo, 0, 100);
    up.resize(vmo, 200);
    assert_eq!(up.committed(vmo), 0);
    up.dirty(vmo, 0, 200);
    assert_eq!(up.committed(vmo), 200);
    assert_eq!(dirty_ranges(&up, vmo), [(0, 200, false)]);
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}

fn no_dirty_on_commit(options: u32) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(2, K, options);
    up.supply(vmo, K, 0, 1);
    up.supply_zero(vmo, 1, 1);
    assert_eq!(up.vmo_op(vmo, ZX_VMO_OP_COMMIT, 0, 2 * P).join(), Ok(()));
    assert_eq!(up.committed(vmo), 2);
    assert_eq!(dirty_ranges(&up, vmo), []);
    assert!(!up.modified(vmo));
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
with_and_without_trap_dirty!(
    no_dirty_on_commit,
    0,
    no_dirty_on_commit_trap_dirty,
    no_dirty_on_commit_no_trap_dirty
);

#[test]
fn child_attributed_counts() {
    let up = Arc::new(UserPager::new());
    let root = up.vmo_with(1, K, TRAP);
    let child = up.zx().vmo_create_child(root, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, P).unwrap();
    up.supply(root, K, 0, 1);
    up.dirty(root, 0, 1);
    up.zx().vmo_write(root, &42u32.to_le_bytes(), 0).unwrap();
    assert_eq!(up.env.read(child, 0, 4), 42u32.to_le_bytes());
    assert_eq!(up.committed(root), 1, "the page is the root's");
    assert_eq!(up.committed(child), 0, "and not the child's");
    up.zx().handle_close(root).unwrap();
    assert_eq!(up.committed(child), 0);
    assert_eq!(up.env.read(child, 0, 4), 42u32.to_le_bytes());
    up.close_all_and_check_clean(&[child]);
}

/// A failed OP_DIRTY changes nothing but wakes the writes waiting for
/// approval in the part of its range within the size, which ask again
/// (Zircon's `DirtyPagesLocked` invalidates those requests on error; the
/// retry is what DelayedDirtyNotFound relies on). A range starting beyond
/// the size wakes nothing.
#[test]
fn a_failed_op_dirty_wakes_the_writes_waiting_in_its_range() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(3, K, TRAP);
    up.supply(vmo, K, 0, 2);
    let t = up.writer(vmo, P, vec![0xaa]);
    up.expect_dirty(K, 1, 1);

    assert_eq!(up.op(ZX_PAGER_OP_DIRTY, vmo, 4, 1, 0), Err(Status::OutOfRange));
    up.expect_no_request();
    up.wait_blocked(vmo, 1);
    assert!(!t.finished());

    // Over the gap at page 2: NOT_FOUND, nothing dirtied, the write asks again.
    assert_eq!(up.op(ZX_PAGER_OP_DIRTY, vmo, 0, 3, 0), Err(Status::NotFound));
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_dirty(K, 1, 1);

    // Past the end: OUT_OF_RANGE, and again.
    assert_eq!(up.op(ZX_PAGER_OP_DIRTY, vmo, 1, 3, 0), Err(Status::OutOfRange));
    assert_eq!(dirty_ranges(&up, vmo), []);
    up.expect_dirty(K, 1, 1);
    assert!(!up.modified(vmo), "failed OP_DIRTYs do not modify");

    up.dirty(vmo, 1, 1);
    assert_eq!(t.join(), Ok(()));
    assert_eq!(dirty_ranges(&up, vmo), [(1, 1, false)]);
    assert!(up.modified(vmo));
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo]);
}
