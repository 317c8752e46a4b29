//! Costs of the VMO engine over the host mock (see the crate docs for a
//! table of measured numbers).
//!
//! `cargo bench -p vm-core --features mock --bench vm -- --quick`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use vm_core::mock::Machine;
use vm_core::page_list::{DirtyState, Entry, PageList};
use vm_core::platform::{CacheOp, FrameAllocator};
use vm_core::vmo::{ChildKind, Vmo, VmoOptions};
use vm_core::PAGE_SIZE as P;

/// The system allocator, counting live heap bytes (for metadata per page).
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call unchanged to `System`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

/// Heap bytes of page-list metadata per committed page of a dense list.
fn metadata_bytes_per_page(pages: u64) -> f64 {
    let before = LIVE.load(Ordering::Relaxed);
    let mut list = PageList::new();
    for i in 0..pages {
        let old = list.replace(i, Entry::Page { frame: i * P, state: DirtyState::Untracked });
        assert!(old.is_empty());
    }
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    let taken = list.take_all();
    assert_eq!(taken.len() as u64, pages);
    bytes as f64 / pages as f64
}

fn committed(m: &Machine, bytes: u64) -> Arc<Vmo> {
    let v = Vmo::create(&m.ctx, bytes, VmoOptions::empty()).unwrap();
    v.commit(0, bytes).unwrap();
    v
}

fn bench(c: &mut Criterion) {
    for pages in [1 << 10, 1 << 16, 1 << 20] {
        println!(
            "metadata: {:.2} bytes per page in a dense list of {pages} pages",
            metadata_bytes_per_page(pages)
        );
    }

    let m = Machine::new((GIB / P) as usize + 4096);

    // Lookup: a read fault on a committed page.
    let v = committed(&m, 1024 * P);
    let mut i = 0;
    c.bench_function("lookup/page", |b| {
        b.iter(|| {
            i = (i + 1) % 1024;
            black_box(v.lookup_for_fault(i * P, false).unwrap())
        })
    });
    drop(v);

    // Commit: 256 pages at once, per page.
    let mut g = c.benchmark_group("commit");
    g.throughput(Throughput::Elements(256));
    g.bench_function("256 pages", |b| {
        b.iter_batched(
            || Vmo::create(&m.ctx, 256 * P, VmoOptions::empty()).unwrap(),
            |v| {
                v.commit(0, 256 * P).unwrap();
                v
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // Scan: cache clean of a 1 TiB VMO holding 16 scattered pages.
    let sparse = Vmo::create(&m.ctx, TIB, VmoOptions::empty()).unwrap();
    for k in 0..16 {
        sparse.write(k * (TIB / 16) + 5 * P, &[1]).unwrap();
    }
    c.bench_function("scan/cache clean 1 TiB, 16 pages", |b| {
        b.iter(|| {
            sparse.cache_op(CacheOp::Clean, 0, TIB).unwrap();
            m.cache.take()
        })
    });
    c.bench_function("scan/cache clean 1 TiB snapshot child, 16 pages", |b| {
        let clone = sparse.create_child(ChildKind::Snapshot, 0, TIB, false).unwrap();
        b.iter(|| {
            clone.cache_op(CacheOp::Clean, 0, TIB).unwrap();
            m.cache.take()
        })
    });
    drop(sparse);

    // Snapshot creation: 4 KiB vs 1 GiB committed parents. Only creation is
    // timed; each child is closed (an O(1) merge back) before the next.
    for (name, bytes) in [("snapshot/4 KiB parent", P), ("snapshot/1 GiB parent", GIB)] {
        let parent = committed(&m, bytes);
        c.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let kid = parent.create_child(ChildKind::Snapshot, 0, bytes, false).unwrap();
                    total += start.elapsed();
                    drop(kid);
                }
                total
            })
        });
    }

    // A COW write fault (copy of a page both sides see) vs a plain copy.
    c.bench_function("cow/write fault on a shared page", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(256);
                let parent = committed(&m, n * P);
                let child = parent.create_child(ChildKind::Snapshot, 0, n * P, false).unwrap();
                let start = Instant::now();
                for p in 0..n {
                    black_box(child.lookup_for_fault(p * P, true).unwrap());
                }
                total += start.elapsed();
                left -= n;
            }
            total
        })
    });
    let (src, dst) = (m.frames.alloc().unwrap(), m.frames.alloc().unwrap());
    c.bench_function("cow/plain 4 KiB frame copy (mock)", |b| b.iter(|| m.frames.copy(dst, src)));
    m.frames.free(src);
    m.frames.free(dst);
    let (a, mut z) = (vec![1u8; P as usize], vec![0u8; P as usize]);
    c.bench_function("cow/plain 4 KiB memcpy", |b| b.iter(|| z.copy_from_slice(black_box(&a))));
}

criterion_group!(benches, bench);
criterion_main!(benches);
