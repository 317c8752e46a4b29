//! VMOs shared between threads.

mod vmo_support;

use std::sync::Arc;
use std::thread;

use vm_core::vmo::Vmo;
use vmo_support::*;

#[test]
fn vmo_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Vmo>();
    check::<Arc<Vmo>>();
}

#[test]
fn parallel_snapshots_stay_isolated() {
    let m = machine();
    let parent = tagged(&m, 8);
    let handles: Vec<_> = (0..4u32)
        .map(|t| {
            let child = snapshot(&parent, 0, 8);
            thread::spawn(move || {
                for round in 0..50u32 {
                    let page = u64::from((t + round) % 8);
                    set_tag(&child, page, 1000 * (t + 1) + round);
                    assert_eq!(tag(&child, page), 1000 * (t + 1) + round);
                }
                child
            })
        })
        .collect();
    for round in 0..50u32 {
        set_tag(&parent, u64::from(round % 8), 7 + round);
    }
    let kids: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (t, child) in kids.iter().enumerate() {
        for page in 0..8u64 {
            let last = (0..50u32).rev().find(|r| u64::from((t as u32 + r) % 8) == page);
            let want = last.map_or(page as u32 + 1, |r| 1000 * (t as u32 + 1) + r);
            assert_eq!(tag(child, page), want, "child {t} page {page}");
        }
    }
    drop(kids);
    assert_eq!(m.used_frames(), 8);
}

#[test]
fn writers_racing_decommit() {
    let m = machine();
    let v = vmo(&m, 16);
    let writers: Vec<_> = (0..2)
        .map(|t| {
            let v = v.clone();
            thread::spawn(move || {
                for i in 0..500u64 {
                    v.write(((i * 7 + t) % 16) * P, &[1, 2, 3]).unwrap();
                }
            })
        })
        .collect();
    for _ in 0..200 {
        v.decommit(0, 16 * P).unwrap();
    }
    for w in writers {
        w.join().unwrap();
    }
    v.decommit(0, 16 * P).unwrap();
    assert_eq!(m.used_frames(), 0);
}
