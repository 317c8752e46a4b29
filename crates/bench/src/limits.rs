//! The physical limits: what the memory itself costs for each job, timed
//! over warm, present memory (huge pages where the kernel gives them).

use std::hint::black_box;

use crate::harness::{sample, time_per, Stats};
use crate::region::{Pages, Region};
use crate::PAGE;

/// `memset` of `bytes` of present memory to zero, in one call (`piece` =
/// `bytes`) or in calls of `piece` bytes (as a commit zeroes frame by
/// frame): ns per page.
pub fn memset(bytes: usize, piece: usize, runs: usize) -> Stats {
    let mut buf = Region::populated(bytes, Pages::Huge, true).expect("memset buffer");
    let pages = (bytes / PAGE) as u64;
    sample(runs, || {
        let bytes = buf.bytes();
        time_per(pages, || bytes.chunks_exact_mut(piece).for_each(|p| black_box(p).fill(0)))
    })
}

/// `memcpy` of `pages` pages at a time from one present buffer to another:
/// ns per page, averaged over `calls` copies of distinct pages.
pub fn memcpy(pages: usize, calls: usize, runs: usize) -> Stats {
    let len = pages * PAGE * calls;
    let mut src = Region::populated(len, Pages::Huge, true).expect("memcpy source");
    let mut dst = Region::populated(len, Pages::Huge, true).expect("memcpy destination");
    src.bytes().fill(1);
    sample(runs, || {
        let (s, d) = (src.bytes(), dst.bytes());
        time_per((pages * calls) as u64, || {
            for (d, s) in d.chunks_exact_mut(pages * PAGE).zip(s.chunks_exact(pages * PAGE)) {
                black_box(d).copy_from_slice(black_box(s));
            }
        })
    })
}

/// One load of a `u64` slot, at indices cycling through a dense table of
/// `slots`: the least a page-list lookup can cost. ns per lookup.
pub fn slot_load(slots: usize, runs: usize) -> Stats {
    let table: Vec<u64> = (0..slots as u64).collect();
    let rounds = 64;
    sample(runs, || {
        time_per((slots * rounds) as u64, || {
            let mut sum = 0u64;
            for _ in 0..rounds {
                for i in 0..slots {
                    sum = sum.wrapping_add(black_box(&table)[black_box(i)]);
                }
            }
            black_box(sum);
        })
    })
}

/// A request from one thread to another and its answer, each a hand-off
/// through a `Mutex` and a `Condvar` (what the host mock's waiter and the
/// bench's port do, once each per pager fault), `rounds` times: ns per
/// round trip.
pub fn handoff(rounds: u64, runs: usize) -> Stats {
    use std::sync::{Condvar, Mutex};
    // (requests sent, requests answered)
    let state = (Mutex::new((0u64, 0u64)), Condvar::new());
    sample(runs, || {
        *state.0.lock().unwrap() = (0, 0);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 1..=rounds {
                    let mut g = state.1.wait_while(state.0.lock().unwrap(), |g| g.0 < i).unwrap();
                    g.1 = i;
                    drop(g);
                    state.1.notify_all();
                }
            });
            time_per(rounds, || {
                for i in 1..=rounds {
                    state.0.lock().unwrap().0 = i;
                    state.1.notify_all();
                    drop(state.1.wait_while(state.0.lock().unwrap(), |g| g.1 < i).unwrap());
                }
            })
        })
    })
}
