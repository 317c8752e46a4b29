//! Schedule exploration of waiting on pagers (feature `shuttle`): readers,
//! writers and faults blocked on page requests race supply, FAIL, detach,
//! a shrink and ZX_PAGER_OP_DIRTY, through the real syscalls, ports and
//! vm-core, over many schedules of shuttle's random and PCT schedulers.
//!
//! Every blocked operation must finish (a wait nobody ends is reported by
//! shuttle as a deadlock), with exactly the status the digest gives, and
//! read back the right bytes; no request packet may be left behind.
//!
//! `cargo test -p zx --features shuttle --test schedules`; `SCHEDULES=N`
//! runs N schedules of each scheduler per scenario (default
//! [`DEFAULT_SCHEDULES`]).
#![cfg(feature = "shuttle")]

use std::sync::Arc;

use shuttle::thread;
use vm_core::context::VmContext;
use vm_core::mock::{MockCache, MockFrames, MockMmu, ShuttleWaiter};
use zx::ops::{VmoDirtyRange, ZX_PAGER_OP_DIRTY, ZX_PAGER_OP_FAIL};
use zx::options::*;
use zx::port::{ZX_PAGER_VMO_COMPLETE, ZX_PAGER_VMO_DIRTY, ZX_PAGER_VMO_READ, ZX_TIME_INFINITE};
use zx::{Handle, Status, Zx};

const P: u64 = 4096;
const KEY: u64 = 7;

/// Schedules per scheduler and scenario unless `SCHEDULES` says otherwise.
const DEFAULT_SCHEDULES: usize = 400;

/// How many preemptions a PCT schedule may place.
const PCT_DEPTH: usize = 3;

fn schedules() -> usize {
    std::env::var("SCHEDULES").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SCHEDULES)
}

/// Runs `scenario` under the random scheduler, then under PCT.
fn explore(scenario: fn()) {
    shuttle::check_random(scenario, schedules());
    shuttle::check_pct(scenario, schedules(), PCT_DEPTH);
}

/// The byte every offset of page `page` is supplied with.
fn tag(page: u64) -> u8 {
    0x40 + page as u8
}

/// Page `page` as supplied (on the heap: shuttle's thread stacks are small).
fn supplied(page: u64) -> Vec<u8> {
    vec![tag(page); P as usize]
}

/// One execution's machine: a zx instance over the mocks and a shuttle
/// waiter, a pager, its port and a pager VMO.
struct World {
    zx: Zx,
    mmu: Arc<MockMmu>,
    frames: Arc<MockFrames>,
    pager: Handle,
    port: Handle,
    vmo: Handle,
}

impl World {
    /// A pager VMO of `pages` pages created with `options`.
    fn new(pages: u64, options: u32) -> Arc<World> {
        let frames = Arc::new(MockFrames::new(64));
        let waiter = Arc::new(ShuttleWaiter::new());
        let ctx = VmContext::new(frames.clone(), Arc::new(MockCache::new()), waiter).unwrap();
        let mmu = Arc::new(MockMmu::new());
        let zx = Zx::new(ctx, mmu.clone());
        let pager = zx.pager_create(0).unwrap();
        let port = zx.port_create(0).unwrap();
        let vmo = zx.pager_create_vmo(pager, options, port, KEY, pages * P).unwrap();
        Arc::new(World { zx, mmu, frames, pager, port, vmo })
    }

    /// Supplies page `page` with its tag, from an aux VMO.
    fn supply(&self, page: u64) -> Result<(), Status> {
        let aux = self.zx.vmo_create(P, 0).unwrap();
        self.zx.vmo_write(aux, &supplied(page), 0).unwrap();
        let result = self.zx.pager_supply_pages(self.pager, self.vmo, page * P, P, aux, 0);
        self.zx.handle_close(aux).unwrap();
        result
    }

    fn fail(&self, page: u64, status: Status) -> Result<(), Status> {
        let data = status.into_raw() as i64 as u64;
        self.zx.pager_op_range(self.pager, ZX_PAGER_OP_FAIL, self.vmo, page * P, P, data)
    }

    /// `vmo_read` of all of page `page`.
    fn read(&self, page: u64) -> Result<Vec<u8>, Status> {
        let mut buf = vec![0; P as usize];
        self.zx.vmo_read(self.vmo, &mut buf, page * P).map(|()| buf)
    }

    /// The next packet, waiting as long as it takes: (command, first page,
    /// pages).
    fn next_request(&self) -> (u16, u64, u64) {
        let packet = self.zx.port_wait(self.port, ZX_TIME_INFINITE).unwrap();
        assert_eq!(packet.key, KEY);
        let r = packet.page_request().expect("a page request");
        (r.command, r.offset / P, r.length / P)
    }

    /// Asserts that the port holds no packet.
    fn expect_no_request(&self) {
        assert_eq!(self.zx.port_wait(self.port, 0).map(|p| p.page_request()), Err(Status::TimedOut));
    }

    /// The dirty ranges of the first `pages` pages: (first page, pages).
    fn dirty_ranges(&self, pages: u64) -> Vec<(u64, u64)> {
        let mut buf = vec![0u8; 8 * VmoDirtyRange::SIZE];
        let (actual, _) =
            self.zx.pager_query_dirty_ranges(self.pager, self.vmo, 0, pages * P, &mut buf).unwrap();
        VmoDirtyRange::from_bytes(&buf, actual).into_iter().map(|r| (r.offset / P, r.length / P)).collect()
    }

    /// Drops the instance (and with it the VM context) once every other
    /// thread let go of it, and checks that every frame came back.
    fn finish(world: Arc<World>) {
        let World { zx, frames, .. } = Arc::into_inner(world).expect("every thread joined");
        drop(zx);
        assert_eq!(frames.used(), 0, "frames leaked");
    }
}

/// Spawns `f` on a shuttle thread named `name` (as failures name it) with
/// its own reference to `world`.
fn on<T: Send + 'static>(
    name: &str,
    world: &Arc<World>,
    f: impl FnOnce(&World) -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    let world = world.clone();
    thread::Builder::new().name(name.into()).spawn(move || f(&world)).unwrap()
}

/// A reader of an unsupplied page vs a supply that does not wait for the
/// request: the read gets the supplied bytes, and a request made before
/// the supply is withdrawn.
#[test]
fn read_vs_supply() {
    explore(|| {
        let w = World::new(2, 0);
        let reader = on("reader", &w, |w| w.read(0));
        let pager = on("pager", &w, |w| w.supply(0));
        pager.join().unwrap().unwrap();
        assert_eq!(reader.join().unwrap().unwrap(), supplied(0));
        w.expect_no_request();
        World::finish(w);
    });
}

/// A reader vs a pager serving its port: the pager hears one READ of the
/// page, and the read gets what it supplied.
#[test]
fn read_vs_pager_serving_its_port() {
    explore(|| {
        let w = World::new(2, 0);
        let reader = on("reader", &w, |w| w.read(1));
        let pager = on("pager", &w, |w| {
            assert_eq!(w.next_request(), (ZX_PAGER_VMO_READ, 1, 1));
            w.supply(1)
        });
        pager.join().unwrap().unwrap();
        assert_eq!(reader.join().unwrap().unwrap(), supplied(1));
        w.expect_no_request();
        World::finish(w);
    });
}

/// A reader vs a pager that FAILs its request: the read gets the FAIL
/// status (digest §2.5).
#[test]
fn read_vs_fail() {
    explore(|| {
        let w = World::new(2, 0);
        let reader = on("reader", &w, |w| w.read(0));
        let pager = on("pager", &w, |w| {
            assert_eq!(w.next_request(), (ZX_PAGER_VMO_READ, 0, 1));
            w.fail(0, Status::Io)
        });
        pager.join().unwrap().unwrap();
        assert_eq!(reader.join().unwrap(), Err(Status::Io));
        w.expect_no_request();
        World::finish(w);
    });
}

/// A reader vs detach: blocked or not yet, the read gets BAD_STATE, and
/// the port holds only COMPLETE (digest §2.3).
#[test]
fn read_vs_detach() {
    explore(|| {
        let w = World::new(2, 0);
        let reader = on("reader", &w, |w| w.read(0));
        let pager = on("pager", &w, |w| w.zx.pager_detach_vmo(w.pager, w.vmo));
        pager.join().unwrap().unwrap();
        assert_eq!(reader.join().unwrap(), Err(Status::BadState));
        assert_eq!(w.next_request(), (ZX_PAGER_VMO_COMPLETE, 0, 0));
        w.expect_no_request();
        World::finish(w);
    });
}

/// A reader of the last page vs a shrink below it: blocked or not yet, the
/// read gets OUT_OF_RANGE and its request is withdrawn (digest §2.15 rule 5).
#[test]
fn read_vs_shrink() {
    explore(|| {
        let w = World::new(2, ZX_VMO_RESIZABLE);
        let reader = on("reader", &w, |w| w.read(1));
        let resizer = on("resizer", &w, |w| w.zx.vmo_set_size(w.vmo, P));
        resizer.join().unwrap().unwrap();
        assert_eq!(reader.join().unwrap(), Err(Status::OutOfRange));
        w.expect_no_request();
        assert_eq!(w.supply(1), Err(Status::OutOfRange), "a supply beyond the new size");
        World::finish(w);
    });
}

/// Maps all of the VMO's `pages` pages readable and spawns a load of 16
/// bytes of page `page` through the mapping.
fn loader(w: &Arc<World>, pages: u64, page: u64) -> thread::JoinHandle<Result<[u8; 16], Status>> {
    let va = w.zx.vmar_map(w.zx.root_vmar(), ZX_VM_PERM_READ, 0, w.vmo, 0, pages * P).unwrap();
    on("loader", w, move |w| {
        let mut buf = [0; 16];
        w.mmu.read(w.zx.root_vmar_object(), va + page * P + 8, &mut buf).map(|()| buf)
    })
}

/// A load through a mapping vs a supply: the fault waits with no lock held
/// and the load gets the supplied bytes.
#[test]
fn fault_vs_supply() {
    explore(|| {
        let w = World::new(2, 0);
        let loader = loader(&w, 2, 1);
        let pager = on("pager", &w, |w| w.supply(1));
        pager.join().unwrap().unwrap();
        assert_eq!(loader.join().unwrap().unwrap(), [tag(1); 16]);
        w.expect_no_request();
        World::finish(w);
    });
}

/// A load through a mapping vs detach: the fault fails with BAD_STATE
/// (digest §2.12).
#[test]
fn fault_vs_detach() {
    explore(|| {
        let w = World::new(2, 0);
        let loader = loader(&w, 2, 0);
        let pager = on("pager", &w, |w| w.zx.pager_detach_vmo(w.pager, w.vmo));
        pager.join().unwrap().unwrap();
        assert_eq!(loader.join().unwrap(), Err(Status::BadState));
        assert_eq!(w.next_request(), (ZX_PAGER_VMO_COMPLETE, 0, 0));
        w.expect_no_request();
        World::finish(w);
    });
}

/// A load of the last page through a mapping vs a shrink below it: the
/// fault fails with OUT_OF_RANGE (digest §2.12, §2.15 rule 5).
#[test]
fn fault_vs_shrink() {
    explore(|| {
        let w = World::new(2, ZX_VMO_RESIZABLE);
        let loader = loader(&w, 2, 1);
        let resizer = on("resizer", &w, |w| w.zx.vmo_set_size(w.vmo, P));
        resizer.join().unwrap().unwrap();
        assert_eq!(loader.join().unwrap(), Err(Status::OutOfRange));
        w.expect_no_request();
        World::finish(w);
    });
}

/// A reader vs a pager that FAILs the page and then supplies it, neither
/// waiting for the request: a reader blocked before the FAIL gets its
/// status, any other the supplied bytes; none is left waiting.
#[test]
fn read_vs_fail_then_supply() {
    explore(|| {
        let w = World::new(2, 0);
        let reader = on("reader", &w, |w| w.read(0));
        let pager = on("pager", &w, |w| {
            w.fail(0, Status::Io)?;
            w.supply(0)
        });
        pager.join().unwrap().unwrap();
        match reader.join().unwrap() {
            Ok(bytes) => assert_eq!(bytes, supplied(0)),
            Err(status) => assert_eq!(status, Status::Io),
        }
        assert_eq!(w.read(0).unwrap(), supplied(0));
        w.expect_no_request();
        World::finish(w);
    });
}

/// A read of three pages vs supplies of them out of order, not waiting for
/// the request: the read takes each page as its front is supplied (early
/// wake) and gets them all; no request is left behind.
#[test]
fn range_read_vs_supplies_out_of_order() {
    explore(|| {
        let w = World::new(4, 0);
        let reader = on("reader", &w, |w| {
            let mut buf = vec![0; 3 * P as usize];
            w.zx.vmo_read(w.vmo, &mut buf, 0).map(|()| buf)
        });
        let pager = on("pager", &w, |w| [2, 0, 1].into_iter().try_for_each(|page| w.supply(page)));
        pager.join().unwrap().unwrap();
        let expected: Vec<u8> = (0..3).flat_map(supplied).collect();
        assert_eq!(reader.join().unwrap().unwrap(), expected);
        w.expect_no_request();
        World::finish(w);
    });
}

/// A reader vs the pager's last handle closing: the read gets BAD_STATE,
/// and no COMPLETE is sent (digest §2.1).
#[test]
fn read_vs_pager_close() {
    explore(|| {
        let w = World::new(2, 0);
        let reader = on("reader", &w, |w| w.read(0));
        let pager = on("pager", &w, |w| w.zx.handle_close(w.pager));
        pager.join().unwrap().unwrap();
        assert_eq!(reader.join().unwrap(), Err(Status::BadState));
        w.expect_no_request();
        World::finish(w);
    });
}

/// Two readers of one page vs a pager that answers one request: both get
/// the page, and no second request is sent (digest §2.15 rule 1).
#[test]
fn two_readers_vs_one_supply() {
    explore(|| {
        let w = World::new(2, 0);
        let readers = [on("reader", &w, |w| w.read(0)), on("reader", &w, |w| w.read(0))];
        let pager = on("pager", &w, |w| {
            assert_eq!(w.next_request(), (ZX_PAGER_VMO_READ, 0, 1));
            w.supply(0)
        });
        pager.join().unwrap().unwrap();
        for reader in readers {
            assert_eq!(reader.join().unwrap().unwrap(), supplied(0));
        }
        w.expect_no_request();
        World::finish(w);
    });
}

/// A TRAP_DIRTY VMO with page 0 supplied (Clean).
fn trap_dirty_world() -> Arc<World> {
    let w = World::new(1, ZX_VMO_TRAP_DIRTY);
    w.supply(0).unwrap();
    w
}

/// A write to a Clean page of a TRAP_DIRTY VMO vs an OP_DIRTY that does not
/// wait for the DIRTY request: the write goes through, the page is Dirty,
/// and a request made before the OP_DIRTY is withdrawn.
#[test]
fn write_vs_op_dirty() {
    explore(|| {
        let w = trap_dirty_world();
        let writer = on("writer", &w, |w| w.zx.vmo_write(w.vmo, b"written", 100));
        let pager = on("pager", &w, |w| w.zx.pager_op_range(w.pager, ZX_PAGER_OP_DIRTY, w.vmo, 0, P, 0));
        pager.join().unwrap().unwrap();
        writer.join().unwrap().unwrap();
        let mut expected = supplied(0);
        expected[100..107].copy_from_slice(b"written");
        assert_eq!(w.read(0).unwrap(), expected);
        assert_eq!(w.dirty_ranges(1), [(0, 1)]);
        w.expect_no_request();
        World::finish(w);
    });
}

/// A write to a Clean page of a TRAP_DIRTY VMO vs a pager that FAILs its
/// DIRTY request: the write gets the FAIL status and the page stays Clean
/// with its contents (digest §3.1).
#[test]
fn write_vs_dirty_fail() {
    explore(|| {
        let w = trap_dirty_world();
        let writer = on("writer", &w, |w| w.zx.vmo_write(w.vmo, b"written", 100));
        let pager = on("pager", &w, |w| {
            assert_eq!(w.next_request(), (ZX_PAGER_VMO_DIRTY, 0, 1));
            w.fail(0, Status::IoDataIntegrity)
        });
        pager.join().unwrap().unwrap();
        assert_eq!(writer.join().unwrap(), Err(Status::IoDataIntegrity));
        assert_eq!(w.read(0).unwrap(), supplied(0));
        assert_eq!(w.dirty_ranges(1), []);
        w.expect_no_request();
        World::finish(w);
    });
}

/// A write to a Clean page of a TRAP_DIRTY VMO vs detach: blocked on its
/// DIRTY request or not yet, the write gets BAD_STATE (digest §2.3 rule 4)
/// and the port holds only COMPLETE.
#[test]
fn write_vs_detach() {
    explore(|| {
        let w = trap_dirty_world();
        let writer = on("writer", &w, |w| w.zx.vmo_write(w.vmo, b"written", 100));
        let pager = on("pager", &w, |w| w.zx.pager_detach_vmo(w.pager, w.vmo));
        pager.join().unwrap().unwrap();
        assert_eq!(writer.join().unwrap(), Err(Status::BadState));
        assert_eq!(w.dirty_ranges(1), []);
        assert_eq!(w.next_request(), (ZX_PAGER_VMO_COMPLETE, 0, 0));
        w.expect_no_request();
        World::finish(w);
    });
}

/// A store through a writable mapping of a Clean TRAP_DIRTY page vs a pager
/// serving the DIRTY request: the fault waits for OP_DIRTY and the store
/// lands.
#[test]
fn store_fault_vs_op_dirty() {
    explore(|| {
        let w = trap_dirty_world();
        let rw = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE;
        let va = w.zx.vmar_map(w.zx.root_vmar(), rw, 0, w.vmo, 0, P).unwrap();
        let storer = on("storer", &w, move |w| w.mmu.write(w.zx.root_vmar_object(), va + 8, b"stored"));
        let pager = on("pager", &w, |w| {
            assert_eq!(w.next_request(), (ZX_PAGER_VMO_DIRTY, 0, 1));
            w.zx.pager_op_range(w.pager, ZX_PAGER_OP_DIRTY, w.vmo, 0, P, 0)
        });
        pager.join().unwrap().unwrap();
        storer.join().unwrap().unwrap();
        let mut expected = supplied(0);
        expected[8..14].copy_from_slice(b"stored");
        assert_eq!(w.read(0).unwrap(), expected);
        assert_eq!(w.dirty_ranges(1), [(0, 1)]);
        w.expect_no_request();
        World::finish(w);
    });
}

/// Taking the translation of a page written through it (`take`: an unmap,
/// a protect) vs an eviction: `take` takes the translation's dirty state,
/// and the page must be Dirty before any eviction can see it, or the
/// eviction drops the write with the page as Clean (the stress image
/// caught this, about one run in forty).
fn written_page_vs_eviction(take: fn(&World, u64) -> Result<(), Status>) {
    let w = World::new(1, 0);
    w.supply(0).unwrap();
    let root = w.zx.root_vmar();
    let va = w.zx.vmar_map(root, ZX_VM_PERM_READ | ZX_VM_PERM_WRITE, 0, w.vmo, 0, P).unwrap();
    // A load maps the Clean page writable-clean; the store then dirties the
    // translation only, as the hardware's dirty bit does.
    let mut byte = [0];
    w.mmu.read(w.zx.root_vmar_object(), va, &mut byte).unwrap();
    w.mmu.write(w.zx.root_vmar_object(), va + 8, &[0x99]).unwrap();
    let taker = on("taker", &w, move |w| take(w, va));
    let evictor = on("evictor", &w, |w| w.zx.context().reclaim());
    taker.join().unwrap().unwrap();
    evictor.join().unwrap();
    assert_eq!(w.dirty_ranges(1), [(0, 1)], "the written page stays, Dirty");
    w.zx.vmo_read(w.vmo, &mut byte, 8).unwrap();
    assert_eq!(byte, [0x99]);
    World::finish(w);
}

#[test]
fn unmap_of_a_written_page_vs_eviction() {
    explore(|| written_page_vs_eviction(|w, va| w.zx.vmar_unmap(w.zx.root_vmar(), va, P)));
}

#[test]
fn protect_of_a_written_page_vs_eviction() {
    explore(|| written_page_vs_eviction(|w, va| w.zx.vmar_protect(w.zx.root_vmar(), ZX_VM_PERM_READ, va, P)));
}
