//! This project's side of each job: vm-core's VMOs and pagers, called as
//! the zx layer calls them, over a frame pool ([`crate::pool`]) or the host
//! mock's heap frames.
//!
//! Only vm-core's own work is timed: there is no trap on the host, so a
//! "fault" here is `Vmo::lookup_for_fault`, what the platform's fault
//! handler calls, without the exception entry and the table update around
//! it (on hardware those come on top; Linux's figures include its trap).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use vm_core::context::VmContext;
use vm_core::mock::{MockCache, MockFrames, MockWaiter};
use vm_core::page_source::{PageRequestPacket, PagerCommand, PagerPort};
use vm_core::pager::Pager;
use vm_core::platform::FrameAllocator;
use vm_core::vmo::{ChildKind, Vmo, VmoOptions, Writeback};

use crate::harness::{sample, time_per, Stats};
use crate::{live_heap_bytes, PAGE};

const P: u64 = PAGE as u64;

/// A VM context over some frames.
pub struct Vm {
    pub ctx: Arc<VmContext>,
}

impl Vm {
    /// Over `frames` frames of the given allocator.
    pub fn over<F: FrameAllocator + 'static>(frames: Arc<F>) -> Vm {
        let ctx = VmContext::new(frames, Arc::new(MockCache::new()), Arc::new(MockWaiter::new()))
            .expect("a frame for the zero page");
        Vm { ctx }
    }

    /// Over the host mock's heap frames.
    pub fn mock(frames: usize) -> Vm {
        Vm::over(Arc::new(MockFrames::new(frames)))
    }

    fn committed(&self, bytes: u64) -> Arc<Vmo> {
        let v = self.anonymous(bytes);
        v.commit(0, bytes).expect("commit");
        v
    }

    fn anonymous(&self, bytes: u64) -> Arc<Vmo> {
        Vmo::create(&self.ctx, bytes, VmoOptions::empty()).expect("a VMO")
    }
}

/// `COMMIT` of a fresh VMO of `bytes`: ns per page.
pub fn commit(vm: &Vm, bytes: u64, runs: usize) -> Stats {
    sample(runs, || {
        let v = vm.anonymous(bytes);
        time_per(bytes / P, || v.commit(0, bytes).expect("commit"))
    })
}

/// `DECOMMIT` of a committed VMO of `bytes`: ns per page.
pub fn decommit(vm: &Vm, bytes: u64, runs: usize) -> Stats {
    sample(runs, || {
        let v = vm.committed(bytes);
        time_per(bytes / P, || v.decommit(0, bytes).expect("decommit"))
    })
}

/// A port a pager thread reads page requests from.
#[derive(Default)]
struct Port {
    queue: Mutex<(VecDeque<PageRequestPacket>, bool)>,
    ready: Condvar,
    ids: AtomicU64,
}

impl PagerPort for Port {
    fn queue_page_request(&self, _key: u64, packet: PageRequestPacket) -> u64 {
        self.queue.lock().unwrap().0.push_back(packet);
        self.ready.notify_one();
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    fn cancel_page_request(&self, _id: u64) {}
}

impl Port {
    /// The next packet; `None` once closed.
    fn next(&self) -> Option<PageRequestPacket> {
        let mut q = self.queue.lock().unwrap();
        loop {
            if let Some(p) = q.0.pop_front() {
                return Some(p);
            }
            if q.1 {
                return None;
            }
            q = self.ready.wait(q).unwrap();
        }
    }

    fn close(&self) {
        self.queue.lock().unwrap().1 = true;
        self.ready.notify_all();
    }
}

/// A pager, one of its VMOs of `pages` pages, and a committed aux VMO of
/// as many pages to supply it from.
fn pager_with_aux(vm: &Vm, pages: u64) -> (Arc<Port>, Arc<Pager>, Arc<Vmo>, Arc<Vmo>) {
    let port = Arc::new(Port::default());
    let pager = Pager::new(&vm.ctx);
    let vmo = pager.create_vmo(VmoOptions::empty(), port.clone(), 0, pages * P).expect("a pager VMO");
    let aux = vm.committed(pages * P);
    (port, pager, vmo, aux)
}

/// `zx_pager_supply_pages` of `per_call` pages at a time, moved from a
/// committed aux VMO, `calls` times: ns per page.
pub fn supply(vm: &Vm, per_call: u64, calls: u64, runs: usize) -> Stats {
    sample(runs, || {
        let (_port, pager, vmo, aux) = pager_with_aux(vm, per_call * calls);
        let len = per_call * P;
        time_per(per_call * calls, || {
            for k in 0..calls {
                pager.supply_pages(&vmo, k * len, len, &aux, k * len).expect("supply");
            }
        })
    })
}

/// A read fault on each of `pages` missing pages of a pager VMO, each
/// served by a pager thread that reads the request from its port and
/// supplies the page from an aux VMO: ns per fault, round trip.
pub fn fault_round_trip(vm: &Vm, pages: u64, runs: usize) -> Stats {
    sample(runs, || {
        let (port, pager, vmo, aux) = pager_with_aux(vm, pages);
        std::thread::scope(|s| {
            s.spawn(|| {
                while let Some(packet) = port.next() {
                    if packet.command == PagerCommand::Read {
                        pager
                            .supply_pages(&vmo, packet.offset, packet.length, &aux, packet.offset)
                            .expect("supply");
                    }
                }
            });
            let t = time_per(pages, || {
                for p in 0..pages {
                    vmo.lookup_for_fault(p * P, false).expect("a supplied page");
                }
            });
            port.close();
            t
        })
    })
}

/// Creation of a `ZX_VMO_CHILD_SNAPSHOT` child of a committed VMO of
/// `bytes`: ns per call (each child closed, untimed, before the next).
pub fn snapshot(vm: &Vm, bytes: u64, runs: usize) -> Stats {
    let parent = vm.committed(bytes);
    sample(runs, || {
        let mut child = None;
        let t = time_per(1, || {
            child = Some(parent.create_child(ChildKind::Snapshot, 0, bytes, false).expect("child"))
        });
        drop(child);
        t
    })
}

/// The write fault on a page a snapshot child shares with its parent (a
/// copy of the page into a new frame), over `pages` pages: ns per fault.
pub fn cow_fault(vm: &Vm, pages: u64, runs: usize) -> Stats {
    sample(runs, || {
        let parent = vm.committed(pages * P);
        let child = parent.create_child(ChildKind::Snapshot, 0, pages * P, false).expect("child");
        time_per(pages, || {
            for p in 0..pages {
                let page = child.lookup_for_fault(p * P, true).expect("a private copy");
                assert!(page.writable);
            }
        })
    })
}

/// The dirty-range jobs over one pager VMO of `bytes`, every page supplied
/// and `dirty` pages spread evenly written: `zx_pager_query_dirty_ranges`
/// over all of it (ns per call), and WRITEBACK_BEGIN + WRITEBACK_END over
/// each range it returns (ns for all of them; the pages are dirtied again,
/// untimed, between runs).
pub fn dirty_ranges(vm: &Vm, bytes: u64, dirty: u64, runs: usize) -> (Stats, Stats) {
    let pages = bytes / P;
    let port = Arc::new(Port::default());
    let pager = Pager::new(&vm.ctx);
    let vmo = pager.create_vmo(VmoOptions::empty(), port, 0, bytes).expect("a pager VMO");
    let chunk = pages.min(4096) * P;
    for at in (0..bytes).step_by(chunk as usize) {
        let aux = vm.committed(chunk);
        pager.supply_pages(&vmo, at, chunk, &aux, 0).expect("supply");
    }
    let stride = pages / dirty;
    assert!(stride >= 2, "dirty pages apart, one range each");
    let dirty_all = || (0..dirty).for_each(|k| vmo.write(k * stride * P, &[1]).expect("write"));
    dirty_all();
    let query = sample(runs, || {
        let mut n = 0;
        let t = time_per(1, || n = pager.query_dirty_ranges(&vmo, 0, bytes).expect("query").len());
        assert_eq!(n as u64, dirty, "one range per dirty page");
        t
    });
    let writeback = sample(runs, || {
        let ranges = pager.query_dirty_ranges(&vmo, 0, bytes).expect("query");
        assert_eq!(ranges.len() as u64, dirty);
        let t = time_per(1, || {
            for r in &ranges {
                pager.writeback_begin(&vmo, r.offset, r.length, Writeback::All).expect("begin");
                pager.writeback_end(&vmo, r.offset, r.length).expect("end");
            }
        });
        assert!(pager.query_dirty_ranges(&vmo, 0, bytes).expect("query").is_empty(), "all clean");
        dirty_all();
        t
    });
    (query, writeback)
}

/// `lookup_for_fault` (a read) of each committed page of a VMO of
/// `pages`, in turn: ns per lookup.
pub fn lookup(vm: &Vm, pages: u64, runs: usize) -> Stats {
    let v = vm.committed(pages * P);
    let rounds = 16;
    sample(runs, || {
        time_per(pages * rounds, || {
            for _ in 0..rounds {
                for p in 0..pages {
                    std::hint::black_box(v.lookup_for_fault(p * P, false).expect("a page"));
                }
            }
        })
    })
}

/// The committed pages of a VMO of `bytes` holding `populated` pages
/// spread evenly (what `ZX_VMAR_OP_MAP_RANGE` walks): ns per scan.
pub fn sparse_scan(vm: &Vm, bytes: u64, populated: u64, runs: usize) -> Stats {
    let v = vm.anonymous(bytes);
    for k in 0..populated {
        v.write(k * (bytes / populated) + 5 * P, &[1]).expect("write");
    }
    sample(runs, || {
        let mut n = 0;
        let t = time_per(1, || n = v.committed_pages(0, bytes).len());
        assert_eq!(n as u64, populated);
        t
    })
}

/// Heap bytes vm-core keeps per page for a committed VMO of `bytes`
/// (everything `COMMIT` allocated and still holds: page-list nodes and
/// their map), as requested from the allocator.
pub fn metadata(vm: &Vm, bytes: u64) -> Stats {
    let v = vm.anonymous(bytes);
    let before = live_heap_bytes();
    v.commit(0, bytes).expect("commit");
    let held = live_heap_bytes() - before;
    Stats::exact(held as f64 / (bytes / P) as f64)
}
