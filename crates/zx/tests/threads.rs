//! One `Zx` instance shared between threads: syscalls from many threads on
//! shared and private objects, with the handle table changing underneath.

mod support;

use std::sync::{Arc, Barrier};
use std::thread;

use support::*;
use zx::options::*;
use zx::{Rights, Status};

const THREADS: usize = 4;
const ROUNDS: usize = 25;

#[test]
fn threads_share_one_instance() {
    let env = Arc::new(Env::new());
    let shared = env.vmo(THREADS as u64);
    let barrier = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (env, barrier) = (env.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let zx = &env.zx;
                let tag = t as u8 + 1;
                for round in 0..ROUNDS {
                    // Each thread owns one page of the shared VMO, through its
                    // own duplicate handle.
                    let mine = zx.handle_duplicate(shared, Rights::SAME_RIGHTS).unwrap();
                    let offset = t as u64 * P + round as u64;
                    zx.vmo_write(mine, &[tag], offset).unwrap();
                    zx.handle_close(mine).unwrap();

                    // A private VMO, mapped, written through the mapping,
                    // cloned and torn down.
                    let private = zx.vmo_create(2 * P, 0).unwrap();
                    let va = env.map_rw(private, 2);
                    env.store(va + P, &[tag; 16]).unwrap();
                    let clone = zx.vmo_create_child(private, ZX_VMO_CHILD_SNAPSHOT, 0, 2 * P).unwrap();
                    env.store(va + P, &[0; 16]).unwrap();
                    assert_eq!(env.read(clone, P, 16), [tag; 16]);
                    zx.vmar_unmap(zx.root_vmar(), va, 2 * P).unwrap();
                    zx.handle_close(clone).unwrap();
                    zx.handle_close(private).unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    for t in 0..THREADS {
        let page = env.read(shared, t as u64 * P, ROUNDS);
        assert_eq!(page, vec![t as u8 + 1; ROUNDS], "thread {t}'s page");
    }
    assert_eq!(env.zx.handle_count(), 2);
    env.close_all_and_check_frames(&[shared]);
}

#[test]
fn closing_a_handle_races_cleanly_with_its_use() {
    let env = Arc::new(Env::new());
    for _ in 0..ROUNDS {
        let vmo = env.vmo(1);
        let reader = {
            let env = env.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 8];
                // Either the read happens before the close, or the handle is
                // already gone; nothing else may be observed.
                loop {
                    match env.zx.vmo_read(vmo, &mut buf, 0) {
                        Ok(()) => assert_eq!(buf, [0; 8]),
                        Err(status) => {
                            assert_eq!(status, Status::BadHandle);
                            return;
                        }
                    }
                }
            })
        };
        env.zx.handle_close(vmo).unwrap();
        reader.join().unwrap();
    }
    assert_eq!(env.zx.handle_count(), 1);
    env.machine.assert_no_frames_used();
}
