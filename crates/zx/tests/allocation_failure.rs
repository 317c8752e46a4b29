//! Allocation-failure injection: every frame allocation a step makes, in
//! turn, is the first to fail ([`vm_core::mock::MockFrames::fail_after`]).
//!
//! For each step of each scenario and each `n` from 0 until the step
//! completes without a refusal, the scenario's state is built afresh, the
//! allocator refuses everything after `n` more frames, and the step runs.
//! It must succeed or fail with NO_MEMORY (`vmo_op_range.md`,
//! `pager_op_range.md` ERRORS, digest §2.9, §2.11; a store through a mapping
//! gets the fault's status, §2.12); a failed step changes nothing (the
//! `Reserve` rule of vm-core's `vmo` module): every watched VMO reads back
//! the same, with the same size, committed bytes, dirty ranges and
//! `modified` stat (failed writes do not set it, digest §2.7), and no frame
//! is kept. Disarmed, the same step then succeeds and leaves what a run
//! without injection leaves. Each case ends with everything closed and
//! every frame back.
//!
//! The translation tables take their frames from the same allocator
//! ([`Env::with_table_frames`]), so a fault or MAP_RANGE can also find no
//! frame for a table; tables the address space keeps are not counted as
//! kept by a step ([`Env::vm_frames`]).
//!
//! Pager pages a scenario reads are hinted ALWAYS_NEED, so the eviction an
//! allocation that found no frame triggers (digest §3.1) cannot take them;
//! `eviction_relieves_then_fails` covers that path. The tests at the end
//! have a thread blocked on the pager while the pager's or the waiter's own
//! allocations fail: it is never stranded.

mod support;

use std::ops::Range;
use std::sync::Arc;

use support::*;
use zx::ops::*;
use zx::options::*;
use zx::port::{ZX_PAGER_VMO_DIRTY, ZX_PAGER_VMO_READ};
use zx::{Handle, Status};

const K: u64 = 7;

/// A pager on an instance whose tables take frames too.
fn user_pager() -> Arc<UserPager> {
    Arc::new(UserPager::on(Arc::new(Env::with_table_frames())))
}

/// The pages of a watched VMO that its state covers.
#[derive(Clone)]
enum Readable {
    /// The whole VMO at its current size.
    All,
    /// These pages only: the others may be unsupplied.
    Pages(Range<u64>),
}

/// A watched VMO: what of it the state covers, and whether it is a VMO of
/// the pager (with dirty ranges and stats).
struct Watched {
    vmo: Handle,
    readable: Readable,
    paged: bool,
}

/// A scenario's objects: `vmos` are watched, `maps` (address, pages) are
/// unmapped at the end.
struct World {
    up: Arc<UserPager>,
    vmos: Vec<Watched>,
    maps: Vec<(u64, u64)>,
}

impl World {
    fn new() -> World {
        World { up: user_pager(), vmos: Vec::new(), maps: Vec::new() }
    }

    fn zx(&self) -> &zx::Zx {
        self.up.zx()
    }

    /// The `i`th watched VMO.
    fn v(&self, i: usize) -> Handle {
        self.vmos[i].vmo
    }

    /// Watches `vmo`, not one of the pager's.
    fn watch(&mut self, vmo: Handle, readable: Readable) -> Handle {
        self.vmos.push(Watched { vmo, readable, paged: false });
        vmo
    }

    /// A new anonymous VMO of `pages` pages, page `i` filled with `fill(i)`
    /// for the pages in `written`.
    fn anon(&mut self, pages: u64, options: u32, written: Range<u64>) -> Handle {
        let vmo = self.zx().vmo_create(pages * P, options).unwrap();
        for i in written {
            self.zx().vmo_write(vmo, &[fill(i); P as usize], i * P).unwrap();
        }
        self.watch(vmo, Readable::All)
    }

    /// A new pager VMO of `pages` pages whose pages in `supplied` hold their
    /// tags, and are hinted ALWAYS_NEED.
    fn paged(&mut self, pages: u64, options: u32, supplied: Range<u64>) -> Handle {
        let vmo = self.up.vmo_with(pages, K, options);
        if !supplied.is_empty() {
            self.up.supply(vmo, K, supplied.start, supplied.end - supplied.start);
            self.always_need(vmo, supplied.clone());
        }
        self.vmos.push(Watched { vmo, readable: Readable::Pages(supplied), paged: true });
        vmo
    }

    /// Hints `pages` of `vmo` ALWAYS_NEED; they must all be present.
    fn always_need(&self, vmo: Handle, pages: Range<u64>) {
        let (offset, len) = (pages.start * P, (pages.end - pages.start) * P);
        self.zx().vmo_op_range(vmo, ZX_VMO_OP_ALWAYS_NEED, offset, len, &mut []).unwrap();
    }

    /// Maps all of `vmo` read-write; returns its address.
    fn map(&mut self, vmo: Handle) -> u64 {
        let pages = self.zx().vmo_get_size(vmo).unwrap() / P;
        let va = self.up.env.map_rw(vmo, pages);
        self.maps.push((va, pages));
        va
    }

    fn op(&self, vmo: Handle, op: u32, offset: u64, len: u64) -> Result<(), Status> {
        self.zx().vmo_op_range(vmo, op, offset, len, &mut [])
    }

    fn pager_op(&self, op: u32, vmo: Handle, first: u64, pages: u64) -> Result<(), Status> {
        self.up.op(op, vmo, first, pages, 0)
    }

    /// What a failed step must leave as it found.
    fn observe(&self) -> Observed {
        let vmos = self.vmos.iter().map(|w| self.observe_vmo(w)).collect();
        Observed { frames: self.up.env.vm_frames(), vmos }
    }

    fn observe_vmo(&self, &Watched { vmo, ref readable, paged }: &Watched) -> VmoState {
        let size = self.zx().vmo_get_size(vmo).unwrap();
        let pages = match readable {
            Readable::All => 0..size / P,
            Readable::Pages(pages) => pages.start..pages.end.min(size / P),
        };
        let len = (pages.end.saturating_sub(pages.start) * P) as usize;
        let contents = self.up.env.read_bounded(vmo, pages.start * P, len).unwrap();
        VmoState {
            size,
            committed: self.zx().vmo_object(vmo).unwrap().committed_bytes(),
            contents,
            dirty: paged.then(|| dirty_ranges(&self.up, vmo)),
            modified: paged.then(|| self.up.peek_modified(vmo)),
        }
    }

    /// Closes everything and checks that every frame came back.
    fn close(self) {
        for &(va, pages) in &self.maps {
            self.up.unmap(va, pages);
        }
        let handles: Vec<Handle> = self.vmos.iter().map(|w| w.vmo).collect();
        self.up.expect_no_request();
        self.up.close_all_and_check_clean(&handles);
    }
}

/// The byte anonymous page `i` is filled with at creation.
fn fill(i: u64) -> u8 {
    0x40 + i as u8
}

struct Observed {
    frames: usize,
    vmos: Vec<VmoState>,
}

struct VmoState {
    size: u64,
    committed: u64,
    contents: Vec<u8>,
    dirty: Option<Vec<(u64, u64, bool)>>,
    modified: Option<bool>,
}

/// Asserts `got` is `want`, naming what differs and `when`.
fn assert_observed(got: &Observed, want: &Observed, when: &str) {
    assert_eq!(got.frames, want.frames, "{when}: frames in use");
    for (i, (g, w)) in got.vmos.iter().zip(&want.vmos).enumerate() {
        assert_eq!(g.size, w.size, "{when}: size of VMO {i}");
        assert_eq!(g.committed, w.committed, "{when}: committed bytes of VMO {i}");
        assert_same(&g.contents, &w.contents, &format!("{when}: contents of VMO {i}"));
        assert_eq!(g.dirty, w.dirty, "{when}: dirty ranges of VMO {i}");
        assert_eq!(g.modified, w.modified, "{when}: modified stat of VMO {i}");
    }
}

type Step = fn(&mut World) -> Result<(), Status>;

/// A scenario: its set-up, then steps, each run on the state the set-up
/// and the steps before it leave.
struct Scenario {
    name: &'static str,
    setup: fn(&mut World),
    steps: &'static [(&'static str, Step)],
}

impl Scenario {
    /// A fresh world with the set-up and the first `steps` steps done, and
    /// the `modified` stats reset, so that a step setting one shows.
    fn world(&self, steps: usize) -> World {
        let mut w = World::new();
        (self.setup)(&mut w);
        for (name, step) in &self.steps[..steps] {
            step(&mut w).unwrap_or_else(|s| panic!("{}: {name} without injection: {s:?}", self.name));
        }
        for watched in w.vmos.iter().filter(|watched| watched.paged) {
            w.up.modified(watched.vmo);
        }
        w
    }

    /// Runs every step under every injection point; returns the number of
    /// (n, step) cases.
    fn run(&self) -> usize {
        let mut cases = 0;
        for (k, (step_name, step)) in self.steps.iter().enumerate() {
            let what = format!("{}: {step_name}", self.name);
            let after = {
                let mut w = self.world(k);
                step(&mut w).unwrap_or_else(|s| panic!("{what} without injection: {s:?}"));
                let after = w.observe();
                w.close();
                after
            };
            for n in 0.. {
                assert!(n < 64, "{what}: still refused after {n} allocations");
                let mut w = self.world(k);
                let before = w.observe();
                let frames = w.up.env.machine.frames.clone();
                frames.fail_after(n);
                let result = step(&mut w);
                let refused = frames.disarm();
                cases += 1;
                let when = format!("{what}, allocation {n} failing");
                match result {
                    Ok(()) => assert_observed(&w.observe(), &after, &when),
                    Err(Status::NoMemory) => {
                        assert!(refused > 0, "{when}: NO_MEMORY with no allocation refused");
                        assert_observed(&w.observe(), &before, &when);
                        w.up.expect_no_request();
                        assert_eq!(step(&mut w), Ok(()), "{when}: the step again, disarmed");
                        assert_observed(&w.observe(), &after, &format!("{when}, then disarmed"));
                    }
                    Err(status) => panic!("{when}: {status:?}"),
                }
                w.close();
                if refused == 0 {
                    break;
                }
            }
        }
        println!("{}: {cases} cases", self.name);
        cases
    }
}

fn write(w: &World, vmo: Handle, offset: u64, len: u64, byte: u8) -> Result<(), Status> {
    w.zx().vmo_write(vmo, &vec![byte; len as usize], offset)
}

/// An anonymous VMO: writes, COMMIT, OP_ZERO, DECOMMIT and reads.
const ANON: Scenario = Scenario {
    name: "anonymous",
    setup: |w| {
        w.anon(8, ZX_VMO_RESIZABLE, 1..2);
    },
    steps: &[
        ("vmo_write over pages 0..4, page 1 committed", |w| write(w, w.v(0), P / 2, 3 * P, 1)),
        ("vmo_read of everything", |w| w.up.env.read_bounded(w.v(0), 0, 8 * P as usize).map(drop)),
        ("COMMIT of everything", |w| w.op(w.v(0), ZX_VMO_OP_COMMIT, 0, 8 * P)),
        ("OP_ZERO of partial pages", |w| w.op(w.v(0), ZX_VMO_OP_ZERO, P + 5, 2 * P)),
        ("DECOMMIT of pages 2..5", |w| w.op(w.v(0), ZX_VMO_OP_DECOMMIT, 2 * P, 3 * P)),
        ("vmo_write over decommitted pages", |w| write(w, w.v(0), 2 * P - 1, 2 * P + 2, 2)),
        ("grow to 12 pages", |w| w.zx().vmo_set_size(w.v(0), 12 * P)),
        ("vmo_write of 12 pages", |w| write(w, w.v(0), 0, 12 * P, 3)),
        ("shrink to 3 pages and a half", |w| w.zx().vmo_set_size(w.v(0), 3 * P + P / 2)),
    ],
};

/// A snapshot child and its parent, each writing, zeroing and committing
/// pages they share (digest §3.4).
const SNAPSHOT: Scenario = Scenario {
    name: "snapshot",
    setup: |w| {
        let parent = w.anon(4, 0, 0..4);
        let child = w.zx().vmo_create_child(parent, ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_RESIZABLE, 0, 4 * P);
        w.watch(child.unwrap(), Readable::All);
    },
    steps: &[
        ("child writes shared pages 0..3", |w| write(w, w.v(1), P / 2, 2 * P, 9)),
        ("parent writes shared page 3", |w| write(w, w.v(0), 3 * P + 1, 2, 8)),
        ("child zeroes part of page 3", |w| w.op(w.v(1), ZX_VMO_OP_ZERO, 3 * P + 1, P - 2)),
        ("a grandchild snapshot", |w| {
            let grandchild = w.zx().vmo_create_child(w.v(1), ZX_VMO_CHILD_SNAPSHOT, P, 3 * P)?;
            w.watch(grandchild, Readable::All);
            Ok(())
        }),
        ("grandchild zeroes partial pages 0 and 2", |w| w.op(w.v(2), ZX_VMO_OP_ZERO, P - 3, P + 6)),
        ("child grows to 6 pages", |w| w.zx().vmo_set_size(w.v(1), 6 * P)),
        ("child COMMIT of everything", |w| w.op(w.v(1), ZX_VMO_OP_COMMIT, 0, 6 * P)),
        ("parent COMMIT of everything", |w| w.op(w.v(0), ZX_VMO_OP_COMMIT, 0, 4 * P)),
    ],
};

/// A slice: every operation acts on the parent's pages (digest §2.10).
const SLICE: Scenario = Scenario {
    name: "slice",
    setup: |w| {
        let parent = w.anon(6, 0, 2..3);
        let slice = w.zx().vmo_create_child(parent, ZX_VMO_CHILD_SLICE, 2 * P, 3 * P).unwrap();
        w.watch(slice, Readable::All);
    },
    steps: &[
        ("vmo_write through the slice", |w| write(w, w.v(1), P / 2, P, 7)),
        ("OP_ZERO of a partial page through the slice", |w| w.op(w.v(1), ZX_VMO_OP_ZERO, 2 * P + 1, 9)),
        ("COMMIT through the slice", |w| w.op(w.v(1), ZX_VMO_OP_COMMIT, 0, 3 * P)),
    ],
};

/// Faults through mappings: copy-on-write stores, stores to fresh pages,
/// loads, VMAR COMMIT and MAP_RANGE (digest §2.12, §6.5).
const MAPPED: Scenario = Scenario {
    name: "mapped",
    setup: |w| {
        let parent = w.anon(4, 0, 0..2);
        let child = w.zx().vmo_create_child(parent, ZX_VMO_CHILD_SNAPSHOT, 0, 4 * P).unwrap();
        w.watch(child, Readable::All);
        w.map(child);
    },
    steps: &[
        ("store to a shared page of the child", |w| w.up.env.store(w.maps[0].0 + 8, b"cow")),
        ("store to a fresh page of the child", |w| w.up.env.store(w.maps[0].0 + 2 * P + 8, b"new")),
        ("load of every page of the child", |w| w.up.env.load(w.maps[0].0, 4 * P as usize).map(drop)),
        ("store after the loads", |w| w.up.env.store(w.maps[0].0 + 3 * P, b"z")),
        ("vmar_map of the parent with MAP_RANGE", |w| {
            let perms = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_MAP_RANGE;
            let va = w.zx().vmar_map(w.zx().root_vmar(), perms, 0, w.v(0), 0, 4 * P)?;
            w.maps.push((va, 4));
            Ok(())
        }),
        ("store to the parent's page it shared", |w| w.up.env.store(w.maps[1].0 + 5, b"p")),
        ("VMAR COMMIT of the child's mapping", |w| {
            let root = w.zx().root_vmar();
            w.zx().vmar_op_range(root, ZX_VMAR_OP_COMMIT, w.maps[0].0, 4 * P, &mut [])
        }),
        ("VMAR COMMIT of the parent's mapping", |w| {
            let root = w.zx().root_vmar();
            w.zx().vmar_op_range(root, ZX_VMAR_OP_COMMIT, w.maps[1].0, 4 * P, &mut [])
        }),
    ],
};

/// A pager VMO without TRAP_DIRTY: writes over Clean pages and a dirty zero
/// tail, COMMIT of the tail, writeback, and a new tail (digest §3.1, §3.2).
const PAGER_TAIL: Scenario = Scenario {
    name: "pager dirty zero tail",
    setup: |w| {
        let vmo = w.paged(2, ZX_VMO_RESIZABLE, 0..2);
        w.vmos[0].readable = Readable::All;
        w.up.resize(vmo, 5);
        w.always_need(vmo, 0..5);
    },
    steps: &[
        ("vmo_write over Clean pages and the tail", |w| write(w, w.v(0), P / 2, 3 * P, 5)),
        ("COMMIT of everything", |w| w.op(w.v(0), ZX_VMO_OP_COMMIT, 0, 5 * P)),
        ("writeback of everything", |w| {
            w.pager_op(ZX_PAGER_OP_WRITEBACK_BEGIN, w.v(0), 0, 5)?;
            w.pager_op(ZX_PAGER_OP_WRITEBACK_END, w.v(0), 0, 5)
        }),
        ("shrink to 3 pages, grow to 6", |w| {
            w.zx().vmo_set_size(w.v(0), 3 * P)?;
            w.zx().vmo_set_size(w.v(0), 6 * P)
        }),
        ("OP_ZERO of a partial Clean page and the tail", |w| w.op(w.v(0), ZX_VMO_OP_ZERO, 2 * P + 9, 2 * P)),
        ("COMMIT of the new tail", |w| w.op(w.v(0), ZX_VMO_OP_COMMIT, 2 * P, 4 * P)),
    ],
};

/// A TRAP_DIRTY pager VMO: OP_DIRTY over Clean pages, a zero marker and a
/// dirty zero tail, which commits the zeros (digest §2.5, §3.2).
const PAGER_TRAP_DIRTY: Scenario = Scenario {
    name: "pager TRAP_DIRTY",
    setup: |w| {
        let vmo = w.paged(3, ZX_VMO_RESIZABLE | ZX_VMO_TRAP_DIRTY, 0..2);
        w.vmos[0].readable = Readable::All;
        w.up.supply_zero(vmo, 2, 1);
        w.up.resize(vmo, 5);
        w.always_need(vmo, 0..5);
    },
    steps: &[
        ("OP_DIRTY over a Clean page, a marker and the tail", |w| {
            w.pager_op(ZX_PAGER_OP_DIRTY, w.v(0), 1, 4)
        }),
        ("vmo_write of the approved pages", |w| write(w, w.v(0), P + 1, 3 * P, 6)),
        ("writeback of the zero range only, then everything", |w| {
            w.up.op(ZX_PAGER_OP_WRITEBACK_BEGIN, w.v(0), 0, 5, ZX_VMO_DIRTY_RANGE_IS_ZERO)?;
            w.pager_op(ZX_PAGER_OP_WRITEBACK_BEGIN, w.v(0), 0, 5)?;
            w.pager_op(ZX_PAGER_OP_WRITEBACK_END, w.v(0), 0, 5)
        }),
        ("shrink to 4 pages, grow to 7", |w| {
            w.zx().vmo_set_size(w.v(0), 4 * P)?;
            w.zx().vmo_set_size(w.v(0), 7 * P)
        }),
        ("OP_DIRTY of the new tail", |w| w.pager_op(ZX_PAGER_OP_DIRTY, w.v(0), 4, 3)),
    ],
};

/// Children of a pager VMO: forks of the root's pages (digest §3.4).
const PAGER_CHILD: Scenario = Scenario {
    name: "pager children",
    setup: |w| {
        let vmo = w.paged(4, 0, 0..4);
        let child = w.zx().vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, 4 * P).unwrap();
        w.watch(child, Readable::All);
    },
    steps: &[
        ("child writes page 1", |w| write(w, w.v(1), P + 3, 10, 4)),
        ("root writes page 2", |w| write(w, w.v(0), 2 * P + 3, 10, 3)),
        ("a SNAPSHOT_MODIFIED of the child", |w| {
            let grandchild = w.zx().vmo_create_child(w.v(1), ZX_VMO_CHILD_SNAPSHOT_MODIFIED, 0, 4 * P)?;
            w.watch(grandchild, Readable::All);
            Ok(())
        }),
        ("grandchild zeroes partial pages 1 and 2", |w| w.op(w.v(2), ZX_VMO_OP_ZERO, 2 * P - 1, 2)),
        ("child COMMIT of everything", |w| w.op(w.v(1), ZX_VMO_OP_COMMIT, 0, 4 * P)),
        ("grandchild COMMIT of everything", |w| w.op(w.v(2), ZX_VMO_OP_COMMIT, 0, 4 * P)),
    ],
};

/// The pager filling an aux VMO and supplying from it (digest §2.4):
/// the supply moves frames, the aux VMO's writes take them.
fn supply_from_aux(w: &mut World, first: u64, pages: u64) -> Result<(), Status> {
    let aux = w.zx().vmo_create(pages * P, 0)?;
    let supplied = w
        .zx()
        .vmo_write(aux, &page_tags(K, first, pages), 0)
        .and_then(|()| w.zx().pager_supply_pages(w.up.pager, w.v(0), first * P, pages * P, aux, 0));
    w.zx().handle_close(aux).unwrap();
    supplied
}

const PAGER_SUPPLY: Scenario = Scenario {
    name: "pager supply",
    setup: |w| {
        w.paged(6, 0, 1..2);
    },
    steps: &[
        ("supply of pages 0..4 from a filled aux VMO", |w| supply_from_aux(w, 0, 4)),
        ("ALWAYS_NEED of them", |w| w.op(w.v(0), ZX_VMO_OP_ALWAYS_NEED, 0, 4 * P)),
        ("a redundant supply of pages 2..6", |w| supply_from_aux(w, 2, 4)),
    ],
};

#[test]
fn every_allocation_fails_in_turn() {
    let cases: usize =
        [ANON, SNAPSHOT, SLICE, MAPPED, PAGER_TAIL, PAGER_TRAP_DIRTY, PAGER_CHILD, PAGER_SUPPLY]
            .iter()
            .map(Scenario::run)
            .sum();
    println!("{cases} (n, step) cases");
}

/// An allocation that finds no frame evicts Clean pager pages and tries
/// again (digest §3.1); with the allocator still refusing, it fails with
/// NO_MEMORY once nothing is left to evict. The Dirty page stays, the
/// evicted ones are requested again when next read.
#[test]
fn eviction_relieves_then_fails() {
    let up = user_pager();
    let paged = up.vmo(4, K);
    up.supply(paged, K, 0, 4);
    up.zx().vmo_write(paged, b"dirty", P).unwrap();
    let anon = up.env.vmo(1);
    let dirty = dirty_ranges(&up, paged);
    let frames = up.env.machine.frames.clone();
    frames.fail_after(0);
    assert_eq!(up.zx().vmo_write(anon, b"x", 0), Err(Status::NoMemory));
    assert!(frames.disarm() >= 2, "it tried again after evicting");
    assert_eq!(up.committed(paged), 1, "the Clean pages went, the Dirty one stayed");
    assert_eq!(dirty_ranges(&up, paged), dirty);
    assert_eq!(up.env.read(anon, 0, 1), [0]);
    up.zx().vmo_write(anon, b"x", 0).unwrap();
    let reader = up.reader(paged, 0, (4 * P) as usize);
    up.expect_read(K, 0, 1);
    up.supply(paged, K, 0, 1);
    up.expect_read(K, 2, 2);
    up.supply(paged, K, 2, 2);
    let mut expected = page_tags(K, 0, 4);
    expected[P as usize..P as usize + 5].copy_from_slice(b"dirty");
    assert_same(&reader.join().unwrap(), &expected, "the pager VMO");
    up.close_all_and_check_clean(&[paged, anon]);
}

/// A reader blocked on unsupplied pages while the pager's aux VMO cannot
/// get frames: the failed supply leaves the reader waiting (its request
/// answered by nothing yet, no new one sent); the supply that succeeds
/// wakes it.
#[test]
fn blocked_reader_outlives_failed_supplies() {
    for n in 0.. {
        let up = user_pager();
        let mut w = World { up: up.clone(), vmos: Vec::new(), maps: Vec::new() };
        let vmo = w.paged(3, 0, 0..0);
        let reader = up.reader(vmo, 0, (3 * P) as usize);
        up.expect_read(K, 0, 3);
        up.wait_blocked(vmo, 1);
        let frames = up.env.machine.frames.clone();
        frames.fail_after(n);
        let result = supply_from_aux(&mut w, 0, 3);
        let refused = frames.disarm();
        match result {
            Err(Status::NoMemory) => {
                assert!(refused > 0);
                assert_eq!((up.committed(vmo), up.env.vm_frames()), (0, 0), "n = {n}");
                assert!(!reader.finished() && vmo_waiters(&up, vmo) == 1, "n = {n}: the reader still waits");
                up.expect_no_request();
                supply_from_aux(&mut w, 0, 3).unwrap();
            }
            result => assert_eq!((result, refused), (Ok(()), 0), "n = {n}"),
        }
        assert_same(&reader.join().unwrap(), &page_tags(K, 0, 3), "the reader");
        w.close();
        if refused == 0 {
            break;
        }
    }
}

fn vmo_waiters(up: &UserPager, vmo: Handle) -> usize {
    up.zx().vmo_object(vmo).unwrap().pager_waiters()
}

/// A write to a child of a pager VMO, blocked on the root's unsupplied
/// page, is woken by the supply and then finds no frame to fork into. The
/// page it waited for is Clean, so it is evicted for the fork, and the
/// writer asks for it again; once frames are back, the next supply lets it
/// finish.
#[test]
fn blocked_child_writer_asks_again_for_its_evicted_page() {
    let up = user_pager();
    let vmo = up.vmo(1, K);
    let child = up.zx().vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, P).unwrap();
    let writer = up.writer(child, 5, b"child".to_vec());
    up.expect_read(K, 0, 1);
    let aux = up.aux(K, 0, 1);
    let frames = up.env.machine.frames.clone();
    frames.fail_after(0);
    up.zx().pager_supply_pages(up.pager, vmo, 0, P, aux, 0).unwrap();
    // Woken, refused a frame, relieved by evicting the page, waiting again.
    up.expect_read(K, 0, 1);
    up.wait_blocked(vmo, 1);
    assert!(frames.disarm() > 0 && !writer.finished());
    assert_eq!((up.committed(vmo), up.committed(child)), (0, 0));
    up.supply(vmo, K, 0, 1);
    assert_eq!(writer.join(), Ok(()));
    let mut expected = page_tags(K, 0, 1);
    expected[5..10].copy_from_slice(b"child");
    assert_same(&up.env.read(child, 0, P as usize), &expected, "the child");
    assert!(up.check(vmo, K, 0), "the root keeps its page");
    up.close_all_and_check_clean(&[vmo, child, aux]);
}

/// The same with the root's page hinted ALWAYS_NEED, which eviction may
/// not take: the woken writer fails with NO_MEMORY, having changed
/// nothing.
#[test]
fn blocked_child_writer_fails_with_no_memory() {
    let up = user_pager();
    let vmo = up.vmo(1, K);
    let child = up.zx().vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, P).unwrap();
    let hint = up.vmo_op(vmo, ZX_VMO_OP_ALWAYS_NEED, 0, P);
    up.expect_read(K, 0, 1);
    let writer = up.writer(child, 5, b"child".to_vec());
    up.wait_blocked(vmo, 2);
    let aux = up.aux(K, 0, 1);
    let frames = up.env.machine.frames.clone();
    frames.fail_after(0);
    up.zx().pager_supply_pages(up.pager, vmo, 0, P, aux, 0).unwrap();
    assert_eq!(writer.join(), Err(Status::NoMemory));
    assert_eq!(hint.join(), Ok(()));
    assert!(frames.disarm() > 0);
    assert_eq!((up.committed(vmo), up.committed(child)), (1, 0));
    assert!(up.check(child, K, 0), "the child still sees the root's page");
    up.zx().vmo_write(child, b"child", 5).unwrap();
    up.expect_no_request();
    up.close_all_and_check_clean(&[vmo, child, aux]);
}

/// A write and a COMMIT blocked on the pager's approval of a dirty zero
/// tail (TRAP_DIRTY, digest §3.2) while OP_DIRTY cannot get the frames that
/// approval commits: OP_DIRTY fails with NO_MEMORY changing nothing, and
/// the waiters ask again (as after a NOT_FOUND, digest DelayedDirtyNotFound;
/// vm-core's `dirty_pages` does so on every failure); the approval that
/// succeeds lets them finish.
#[test]
fn blocked_dirty_waiters_ask_again_after_failed_op_dirty() {
    for n in 0.. {
        let up = user_pager();
        let vmo = up.vmo_with(1, K, ZX_VMO_TRAP_DIRTY | ZX_VMO_RESIZABLE);
        up.supply(vmo, K, 0, 1);
        up.resize(vmo, 3);
        let writer = up.writer(vmo, P + 1, vec![8; P as usize]);
        up.expect_dirty(K, 1, 2);
        up.wait_blocked(vmo, 1);
        let commit = up.vmo_op(vmo, ZX_VMO_OP_COMMIT, 2 * P, P);
        up.wait_blocked(vmo, 2);
        let dirty = dirty_ranges(&up, vmo);
        let frames = up.env.machine.frames.clone();
        frames.fail_after(n);
        let result = up.op(ZX_PAGER_OP_DIRTY, vmo, 1, 2, 0);
        let refused = frames.disarm();
        match result {
            Err(Status::NoMemory) => {
                assert!(refused > 0);
                assert_eq!(dirty_ranges(&up, vmo), dirty, "n = {n}");
                assert_eq!(up.committed(vmo), 1, "n = {n}");
                // Both retry: one DIRTY request for the run they wait on.
                let again = up.next_request(PATIENCE).expect("a DIRTY request again");
                assert_eq!(again.1, ZX_PAGER_VMO_DIRTY, "n = {n}");
                assert!(again.2 >= 1 && again.2 + again.3 <= 3, "n = {n}: {again:?}");
                up.wait_blocked(vmo, 2);
                assert!(!writer.finished() && !commit.finished(), "n = {n}");
                up.dirty(vmo, 1, 2);
            }
            result => assert_eq!((result, refused), (Ok(()), 0), "n = {n}"),
        }
        assert_eq!(writer.join(), Ok(()));
        assert_eq!(commit.join(), Ok(()));
        while let Some(request) = up.next_request(std::time::Duration::ZERO) {
            assert_ne!(request.1, ZX_PAGER_VMO_READ, "n = {n}: nothing needs reading");
        }
        assert_eq!(dirty_ranges(&up, vmo), [(1, 2, false)]);
        let mut expected = page_tags(K, 0, 1);
        expected.extend([vec![0], vec![8; P as usize], vec![0; P as usize - 1]].concat());
        assert_same(&up.env.read(vmo, 0, 3 * P as usize), &expected, "the VMO");
        up.close_all_and_check_clean(&[vmo]);
        if refused == 0 {
            break;
        }
    }
}
