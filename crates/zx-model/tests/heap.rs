//! Heap accounting: random call sequences (as the model check makes them)
//! give back every heap byte they took once their objects are closed, so
//! no VMO, mapping, request or notice is kept alive by a reference cycle
//! or forgotten in a table. The global allocator counts live bytes
//! (`cap`); the first sequence runs before the baseline is taken, so what
//! std sets up once (the pager thread's runtime, lazy statics) is not
//! counted.
//!
//! vm-core's own heap allocations are infallible (`alloc` aborts when the
//! heap is exhausted); the frame allocator is the memory whose exhaustion
//! the calls report (`crates/zx/tests/allocation_failure.rs`).

use cap::Cap;
use std::alloc::System;

#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

/// How many random bytes a sequence decodes (about 100 calls).
const INPUT: usize = 800;

#[test]
fn sequences_give_back_every_heap_byte() {
    zx_model::run_bytes(&zx_model::seeded_bytes(0, INPUT)).expect("the first sequence agrees with the model");
    for seed in 1..=40 {
        let ops = zx_model::decode(&zx_model::seeded_bytes(seed, INPUT));
        let before = HEAP.allocated();
        let result = zx_model::run(&ops);
        let after = HEAP.allocated();
        assert!(result.is_ok(), "seed {seed}: {}", result.unwrap_err());
        drop(ops);
        assert_eq!(after, before, "seed {seed}: {} heap bytes kept", after as i64 - before as i64);
    }
}
