//! Faults racing each other on several CPUs (digest §4.4 ParallelRead,
//! ZeroPage): in every round a fresh VMO is mapped twice, and threads read
//! through one mapping (taking the zero page) while others write through the
//! other (replacing it), with MAP_RANGE running alongside. No timing is
//! involved: each round runs to completion and its end state is checked.

mod vmar_support;

use std::sync::Barrier;

use vm_core::vmar::{VmFlags, VmarOp};
use vm_core::vmo::Vmo;
use vmar_support::*;

const PAGES: u64 = 8;
const THREADS: u64 = 4;
const ROUNDS: u64 = 40;

#[test]
fn concurrent_zero_page_faults_through_two_mappings_agree() {
    let env = Env::new();
    let overwrite = opts(RW | VmFlags::SPECIFIC_OVERWRITE);
    let (a, b) = (ROOT_BASE, ROOT_BASE + PAGES * P);
    let start = Barrier::new(THREADS as usize + 2);
    let end = Barrier::new(THREADS as usize + 2);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (env, start, end) = (&env, &start, &end);
            s.spawn(move || {
                let (mine, other) = if t % 2 == 0 { (a, b) } else { (b, a) };
                for round in 0..ROUNDS {
                    start.wait();
                    for page in 0..PAGES {
                        env.load(other + page * P + t, 1);
                        env.store(mine + page * P + t, &[round as u8 + 1]);
                    }
                    end.wait();
                }
            });
        }
        let (env, start, end) = (&env, &start, &end);
        s.spawn(move || {
            for _ in 0..ROUNDS {
                start.wait();
                env.root.op_range(VmarOp::MapRange, a, PAGES * P).unwrap();
                env.root.op_range(VmarOp::MapRange, b, PAGES * P).unwrap();
                end.wait();
            }
        });
        // A failed check must fail the test, not leave the threads waiting
        // at the next round's barrier: it is kept until they are done.
        let mut failure = None;
        for round in 0..ROUNDS {
            let vmo = env.vmo(PAGES);
            env.root.map(overwrite, a - ROOT_BASE, &vmo, 0, PAGES * P).unwrap();
            env.root.map(overwrite, b - ROOT_BASE, &vmo, 0, PAGES * P).unwrap();
            start.wait();
            end.wait();
            let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(env, &vmo, round)));
            failure = failure.or(checked.err());
        }
        if let Some(panic) = failure {
            std::panic::resume_unwind(panic);
        }
    });
}

/// What round `round` must leave: every byte each thread stored, through
/// `vmo_read` and both mappings, translations current, one frame a page.
fn check(env: &Env, vmo: &Vmo, round: u64) {
    let (a, b) = (ROOT_BASE, ROOT_BASE + PAGES * P);
    for page in 0..PAGES {
        for t in 0..THREADS {
            let offset = page * P + t;
            let expected = [round as u8 + 1];
            assert_eq!(vmo_read(vmo, offset, 1), expected);
            assert_eq!(env.load(a + offset, 1), expected, "round {round}");
            assert_eq!(env.load(b + offset, 1), expected, "round {round}");
        }
    }
    assert_translations_current(env, a, vmo, PAGES);
    assert_translations_current(env, b, vmo, PAGES);
    assert_eq!(env.machine.used_frames() as u64, PAGES);
}
