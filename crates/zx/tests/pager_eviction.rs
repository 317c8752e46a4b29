//! Eviction of Clean pager pages (digest §3.1, §2.11 hints): by a reclaim,
//! and under memory pressure, never of Dirty, AwaitingClean or ALWAYS_NEED
//! pages, nor of a page a translation recorded a write to.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::*;
use vm_core::platform::FrameAllocator;
use zx::ops::*;
use zx::options::*;
use zx::port::ZX_PAGER_VMO_READ;
use zx::Handle;

fn read_page(up: &Arc<UserPager>, vmo: Handle, page: u64) -> Blocked<Vec<u8>> {
    let up = up.clone();
    spawn(move || up.env.read(vmo, page * P, 1))
}

fn begin(up: &UserPager, vmo: Handle, page: u64) {
    up.zx().pager_op_range(up.pager, ZX_PAGER_OP_WRITEBACK_BEGIN, vmo, page * P, P, 0).unwrap();
}

#[test]
fn a_reclaim_evicts_clean_pages_only_and_they_are_asked_for_again() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(4, 1);
    up.supply(vmo, 1, 0, 4);
    up.zx().vmo_write(vmo, &[0xd0], P).unwrap();
    up.zx().vmo_write(vmo, &[0xa0], 2 * P).unwrap();
    begin(&up, vmo, 2);
    assert_eq!(up.env.machine.used_frames(), 4);
    assert_eq!(up.env.machine.ctx.reclaim(), 2, "pages 0 and 3 are Clean");
    assert_eq!(up.env.machine.ctx.evicted_pages(), 2);
    assert_eq!(up.env.machine.used_frames(), 2);
    // The Dirty and AwaitingClean pages read without a request.
    assert_eq!(up.env.read(vmo, P, 1), [0xd0]);
    assert_eq!(up.env.read(vmo, 2 * P, 1), [0xa0]);
    up.expect_no_request();
    // An evicted page is requested again, and a supply of it is taken.
    let t = read_page(&up, vmo, 3);
    up.expect_read(1, 3, 1);
    up.supply(vmo, 1, 3, 1);
    assert_eq!(t.join(), [tag(1, 3)]);
    // A page cleaned by WRITEBACK_END becomes evictable.
    up.zx().pager_op_range(up.pager, ZX_PAGER_OP_WRITEBACK_END, vmo, 2 * P, P, 0).unwrap();
    assert_eq!(up.env.machine.ctx.reclaim(), 2);
    up.expect_no_request();
}

#[test]
fn always_need_is_sticky_and_dont_need_goes_first() {
    const PAGES: u64 = 40;
    let up = Arc::new(UserPager::on(Arc::new(Env::with_frames(64))));
    let vmo = up.vmo(PAGES, 2);
    up.supply(vmo, 2, 0, PAGES);
    let hint =
        |op, first: u64, pages: u64| up.zx().vmo_op_range(vmo, op, first * P, pages * P, &mut []).unwrap();
    hint(ZX_VMO_OP_ALWAYS_NEED, 0, 2);
    hint(ZX_VMO_OP_DONT_NEED, 0, 2);
    hint(ZX_VMO_OP_DONT_NEED, 30, 2);
    up.expect_no_request();
    // Exhaust memory: the allocation that finds no frame evicts a batch of
    // 16 Clean pages, the DONT_NEED ones (30, 31) first, then from the
    // lowest offset; the ALWAYS_NEED ones (0, 1) never go.
    let free = up.env.machine.frames.free_count() as u64;
    let filler = up.env.vmo(free + 1);
    up.zx().vmo_op_range(filler, ZX_VMO_OP_COMMIT, 0, (free + 1) * P, &mut []).unwrap();
    up.zx().handle_close(filler).unwrap();
    assert_eq!(up.zx().vmo_object(vmo).unwrap().committed_bytes(), (PAGES - 16) * P);
    for (page, evicted) in
        [(0, false), (1, false), (2, true), (15, true), (16, false), (30, true), (31, true), (39, false)]
    {
        let t = read_page(&up, vmo, page);
        if evicted {
            up.expect_read(2, page, 1);
            up.supply(vmo, 2, page, 1);
        }
        assert_eq!(t.join(), [tag(2, page)], "page {page}");
        up.expect_no_request();
    }
    assert_eq!(
        up.env.machine.ctx.reclaim(),
        PAGES - 2 - 12,
        "all but the ALWAYS_NEED pages, of those still there"
    );
}

#[test]
fn a_page_written_through_a_writable_clean_translation_is_not_evicted() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(2, 3);
    up.supply(vmo, 3, 0, 2);
    let va = up.env.map_rw(vmo, 2);
    // A read maps the Clean pages writable-clean; the store is recorded by
    // the translation, with no fault.
    assert_eq!(up.env.load(va, 1), Ok(vec![tag(3, 0)]));
    assert_eq!(up.env.load(va + P, 1), Ok(vec![tag(3, 1)]));
    let faults = up.env.mmu.log().len();
    up.env.store(va, &[0x77]).unwrap();
    assert_eq!(up.env.mmu.log().len(), faults, "no fault, no table change");
    assert_eq!(up.env.machine.ctx.reclaim(), 1, "only the page nobody wrote");
    assert_eq!(up.env.read(vmo, 0, 1), [0x77]);
    let mut buf = [0; 48];
    let (actual, _) = up.zx().pager_query_dirty_ranges(up.pager, vmo, 0, 2 * P, &mut buf).unwrap();
    let ranges = VmoDirtyRange::from_bytes(&buf, actual);
    assert_eq!(ranges, [VmoDirtyRange { offset: 0, length: P, options: 0 }]);
    up.expect_no_request();
}

#[test]
fn a_clones_view_of_an_evicted_page_is_asked_for_again() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(1, 4);
    let clone = up.zx().vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, P).unwrap();
    up.supply(vmo, 4, 0, 1);
    let va = up.env.map_rw(clone, 1);
    assert_eq!(up.env.load(va, 1), Ok(vec![tag(4, 0)]));
    assert_eq!(up.env.machine.ctx.reclaim(), 1);
    let env = up.env.clone();
    let t = spawn(move || env.load(va, 1));
    up.expect_read(4, 0, 1);
    up.supply(vmo, 4, 0, 1);
    assert_eq!(t.join(), Ok(vec![tag(4, 0)]));
}

#[test]
fn a_vmo_runs_with_fewer_frames_than_its_pages() {
    // 48 frames in all; a pager serving a 128-page VMO from its own aux
    // pages; a reader goes through every page twice. Allocations that find
    // no frame evict Clean pages, which the pager supplies again.
    const PAGES: u64 = 128;
    let up = Arc::new(UserPager::on(Arc::new(Env::with_frames(48))));
    let vmo = up.vmo(PAGES, 5);
    let stop = Arc::new(AtomicBool::new(false));
    let pager = {
        let (up, stop) = (up.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::SeqCst) {
                if let Some((key, command, first, pages)) = up.next_request(Duration::from_millis(20)) {
                    assert_eq!((key, command), (5, ZX_PAGER_VMO_READ));
                    for page in first..first + pages {
                        up.supply(vmo, 5, page, 1);
                    }
                    reads += pages;
                }
            }
            reads
        })
    };
    for _round in 0..2 {
        for page in 0..PAGES {
            assert!(up.check(vmo, 5, page), "page {page}");
        }
    }
    stop.store(true, Ordering::SeqCst);
    let reads = pager.join().unwrap();
    // At most 47 pages fit at once: the second round asks for the rest again.
    assert!(reads >= 2 * PAGES - 47, "pages were evicted and supplied again ({reads} reads)");
    let evicted = up.env.machine.ctx.evicted_pages();
    assert!(evicted >= reads - PAGES, "every page read again was evicted first ({evicted} evictions)");
}

#[test]
fn written_back_pages_of_a_vmo_larger_than_memory_come_back_from_the_disk() {
    // 17 frames (16 and the zero frame), a 64-page VMO mapped read-write,
    // a pager thread supplying READs from a disk. Pages 20..28 are stored
    // to, survive a pass over every page, are written back to the disk,
    // evicted, and read again from the disk.
    const PAGES: u64 = 64;
    const K: u64 = 8;
    let up = Arc::new(UserPager::on(Arc::new(Env::with_frames(17))));
    let vmo = up.vmo(PAGES, K);
    let va = up.env.map_rw(vmo, PAGES);
    let disk: Arc<std::sync::Mutex<Vec<u8>>> = Arc::new(std::sync::Mutex::new(page_tags(K, 0, PAGES)));
    let stop = Arc::new(AtomicBool::new(false));
    let pager = {
        let (up, stop, disk) = (up.clone(), stop.clone(), disk.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if let Some((key, command, first, pages)) = up.next_request(Duration::from_millis(20)) {
                    assert_eq!((key, command), (K, ZX_PAGER_VMO_READ));
                    let bytes =
                        disk.lock().unwrap()[(first * P) as usize..((first + pages) * P) as usize].to_vec();
                    let aux = up.env.vmo(pages);
                    up.zx().vmo_write(aux, &bytes, 0).unwrap();
                    up.zx().pager_supply_pages(up.pager, vmo, first * P, pages * P, aux, 0).unwrap();
                    up.zx().handle_close(aux).unwrap();
                }
            }
        })
    };
    let stored = 20..28u64;
    let word = |page: u64| if stored.contains(&page) { !(page as u8) } else { tag(K, page) };
    let pass = |what: &str| {
        for page in 0..PAGES {
            assert_eq!(up.env.load(va + page * P, 1), Ok(vec![word(page)]), "{what}: page {page}");
        }
    };
    for page in 0..PAGES {
        assert_eq!(up.env.load(va + page * P, 1), Ok(vec![tag(K, page)]));
    }
    for page in stored.clone() {
        up.env.store(va + page * P, &[!(page as u8)]).unwrap();
    }
    pass("after the stores");
    assert_eq!(dirty_ranges(&up, vmo), [(20, 8, false)]);
    up.begin(vmo, 20, 8);
    let bytes = up.env.read(vmo, 20 * P, 8 * P as usize);
    disk.lock().unwrap()[(20 * P) as usize..(28 * P) as usize].copy_from_slice(&bytes);
    up.end(vmo, 20, 8);
    assert!(up.env.machine.ctx.reclaim() >= 8);
    pass("after the writeback");
    stop.store(true, Ordering::SeqCst);
    pager.join().unwrap();
}
