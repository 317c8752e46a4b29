//! A pager thread serving its port while other threads read, write, commit
//! and fault on its VMO and on a clone of it, all at once.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use support::*;
use zx::ops::*;
use zx::options::*;
use zx::port::ZX_PAGER_VMO_READ;

const PAGES: u64 = 64;
const KEY: u64 = 21;

#[test]
fn a_pager_thread_serves_readers_writers_committers_and_faults() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(PAGES, KEY);
    let clone = up.zx().vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, PAGES * P).unwrap();
    let va = up.env.map_rw(vmo, PAGES);
    let stop = Arc::new(AtomicBool::new(false));
    let requested = Arc::new(Mutex::new(Vec::new()));

    // The pager: supplies every READ it gets with the pages' tags.
    let pager = {
        let (up, stop, requested) = (up.clone(), stop.clone(), requested.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let Some((key, command, first, pages)) = up.next_request(Duration::from_millis(20)) else {
                    continue;
                };
                assert_eq!((key, command), (KEY, ZX_PAGER_VMO_READ));
                assert!(first + pages <= PAGES, "a request past the end: ({first}, {pages})");
                requested.lock().unwrap().push((first, pages));
                up.supply(vmo, KEY, first, pages);
            }
        })
    };

    // Four workers, each with its own kind of access, over interleaved pages.
    let barrier = Arc::new(Barrier::new(4));
    let worker = |kind: u64| {
        let (up, barrier) = (up.clone(), barrier.clone());
        spawn(move || {
            barrier.wait();
            for i in 0..PAGES / 4 {
                let page = (i * 4 + kind * 3) % PAGES;
                match kind {
                    0 => assert!(up.check(vmo, KEY, page), "page {page} read wrong"),
                    1 => up.zx().vmo_write(vmo, &[0xa0 + i as u8], page * P + 8).unwrap(),
                    2 => up.zx().vmo_op_range(clone, ZX_VMO_OP_COMMIT, page * P, 2 * P, &mut []).unwrap(),
                    _ => {
                        let got = up.env.load(va + page * P + 16, 1).unwrap();
                        assert_eq!(got, [tag(KEY, page)], "page {page} faulted in wrong");
                    }
                }
            }
        })
    };
    let workers: Vec<_> = (0..4).map(worker).collect();
    for w in workers {
        w.join();
    }
    stop.store(true, Ordering::SeqCst);
    pager.join().unwrap();

    // Every page was asked for at most once, and the contents are whole.
    let requested = requested.lock().unwrap();
    let mut seen = HashSet::new();
    for &(first, pages) in requested.iter() {
        for p in first..first + pages {
            assert!(seen.insert(p), "page {p} requested twice: {requested:?}");
        }
    }
    for i in 0..PAGES / 4 {
        let page = (i * 4 + 3) % PAGES;
        assert_eq!(up.env.read(vmo, page * P + 8, 1), [0xa0 + i as u8]);
    }
    for page in 0..PAGES {
        if seen.contains(&page) {
            assert_eq!(up.env.read(vmo, page * P, 8), vec![tag(KEY, page); 8]);
        }
    }
    drop(requested);
    up.zx().vmar_unmap(up.zx().root_vmar(), va, PAGES * P).unwrap();
    up.zx().handle_close(clone).unwrap();
    up.zx().handle_close(vmo).unwrap();
    up.expect_complete(KEY);
}
