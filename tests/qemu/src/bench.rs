//! The QEMU bench image of `cargo xtask bench qemu`: the VM's costs through
//! zx on the real tables with four cores, timed with the generic timer's
//! virtual count (`CNTVCT_EL0`, after an `ISB`). Built release, with debug
//! info; never part of `cargo xtask test`, and nothing here asserts a time.
//!
//! Each job sets up untimed, then times `ops` operations, `reps` times
//! (boot arguments `reps=` and `pages=`; `only=JOB` runs one job, and the
//! jobs that need four cores run only with four); it prints one line
//! `bench JOB NS NS ...`, the nanoseconds per operation of each repetition,
//! and one line `faults JOB VM SOFTWARE`, the aborts per operation that
//! went to vm-core's fault path and that the platform resolved itself
//! (software access-flag and dirty state), counted over the timed parts
//! only. The Linux guest (`benches/linux-guest/bench.c`) prints the same
//! jobs the same way; the xtask pairs them.
//!
//! As on the Linux side, the jobs run in one process whose address space
//! only the boot CPU is in (a single-threaded process; the pager's core
//! serves it through syscalls), but for the unmap seen by four cores,
//! before which the other three enter it (threads on every CPU).
//!
//! With the boot argument `idle_ms=N` it runs no job: every core waits N ms
//! (the boot CPU on the virtual timer, the others for work), then it prints
//! `bench-idle N`, for `cargo xtask bench idle` to count the host CPU time
//! QEMU spent meanwhile.

#![no_std]
#![no_main]

extern crate alloc;

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{Readable, CNTFRQ_EL0, CNTVCT_EL0, ID_AA64MMFR1_EL1};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use platform_virt::process::Process;
use platform_virt::smp::{cpu_count, run_on, run_on_all};
use platform_virt::vm::{fault_counts, AddressSpace, PhysFrames};
use platform_virt::wait::EventWaiter;
use platform_virt::{println, Boot};
use qemu_tests::access::{load_each_page, store_each_page};
use qemu_tests::user_pager::{spawn, P, PAGER_CPU, RW};
use vm_core::platform::{FrameAllocator, Waiter};
use zx::ops::{ZX_VMO_OP_CACHE_SYNC, ZX_VMO_OP_COMMIT};
use zx::options::ZX_VMO_CHILD_SNAPSHOT;
use zx::port::{ZX_PAGER_VMO_READ, ZX_TIME_INFINITE};
use zx::{Handle, Zx};

platform_virt::entry!(main);

/// Pages a page-fault job touches per repetition, unless `pages=` says.
const PAGES: u64 = 256;
/// Repetitions of each job, unless `reps=` says.
const REPS: u64 = 9;
/// Calls per repetition of the jobs that are one call each.
const CALLS: u64 = 16;
/// The size of a `CACHE_SYNC`.
const SYNC_BYTES: u64 = 64 << 10;
/// The size of a `vmar_map` + first touch.
const MAP_BYTES: u64 = 1 << 20;

/// The virtual count, after every earlier instruction.
fn ticks() -> u64 {
    barrier::isb(barrier::SY);
    CNTVCT_EL0.get()
}

/// What every job runs with.
struct Bench {
    p: Arc<Process>,
    reps: u64,
    pages: u64,
    freq: u64,
    /// The one job to run (boot argument `only=`), if not all.
    only: Option<String>,
}

impl Bench {
    fn zx(&self) -> &Zx {
        &self.p.zx
    }

    /// A VMO of `pages` pages, every page committed (zeros).
    fn committed(&self, pages: u64) -> Handle {
        let vmo = self.zx().vmo_create(pages * P, 0).unwrap();
        self.zx().vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, pages * P, &mut []).unwrap();
        vmo
    }

    /// A pager, its port, a pager VMO of `pages` pages, and an aux VMO of
    /// as many committed pages to supply it from.
    fn pager_vmo(&self) -> PagerVmo {
        let zx = self.zx();
        let (pager, port) = (zx.pager_create(0).unwrap(), zx.port_create(0).unwrap());
        let vmo = zx.pager_create_vmo(pager, 0, port, 0, self.pages * P).unwrap();
        PagerVmo { pager, port, vmo, aux: self.committed(self.pages) }
    }

    fn map(&self, vmo: Handle, pages: u64) -> u64 {
        self.zx().vmar_map(self.zx().root_vmar(), RW, 0, vmo, 0, pages * P).unwrap()
    }

    fn unmap(&self, va: u64, pages: u64) {
        self.zx().vmar_unmap(self.zx().root_vmar(), va, pages * P).unwrap();
    }

    fn close(&self, handles: &[Handle]) {
        for &h in handles {
            self.zx().handle_close(h).unwrap();
        }
    }

    /// Runs `rep` (which returns the ticks of its timed part) `reps` times
    /// and prints the ns per operation of each, `ops` operations a
    /// repetition, and the aborts per operation of the timed parts (`rep`
    /// adds the counts of its timed part through [`timed`]).
    fn job(&self, name: &str, ops: u64, mut rep: impl FnMut(&mut Aborts) -> u64) {
        if self.only.as_deref().is_some_and(|only| only != name) {
            return;
        }
        let mut aborts = Aborts::default();
        let mut line = format!("bench {name}");
        for _ in 0..self.reps {
            let ticks = rep(&mut aborts);
            let ns = ticks as u128 * 1_000_000_000 / self.freq as u128 / ops as u128;
            line += &format!(" {ns}");
        }
        println!("{line}");
        let all = ops * self.reps;
        println!("faults {name} {} {}", per_op(aborts.vm, all), per_op(aborts.software, all));
    }
}

/// What [`Bench::pager_vmo`] makes.
struct PagerVmo {
    pager: Handle,
    port: Handle,
    vmo: Handle,
    aux: Handle,
}

/// Aborts counted over timed parts.
#[derive(Default)]
struct Aborts {
    vm: u64,
    software: u64,
}

/// `n` aborts over `ops` operations, as a decimal with two places.
fn per_op(n: u64, ops: u64) -> String {
    let hundredths = n * 100 / ops.max(1);
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// Times `f`, adding its aborts (on every core) to `aborts`; returns its
/// ticks.
fn timed(aborts: &mut Aborts, f: impl FnOnce()) -> u64 {
    let before = fault_counts();
    let start = ticks();
    f();
    let ticks = ticks() - start;
    let after = fault_counts();
    aborts.vm += after.vm - before.vm;
    aborts.software +=
        after.software_writes + after.software_other - before.software_writes - before.software_other;
    ticks
}

fn main(boot: &Boot) -> i32 {
    let arg =
        |key: &str, default: u64| boot.info.bootarg(key).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (reps, pages) = (arg("reps", REPS).max(1), arg("pages", PAGES).max(1));
    let freq = CNTFRQ_EL0.get();
    let hardware_dirty = ID_AA64MMFR1_EL1.read(ID_AA64MMFR1_EL1::HAFDBS) >= 2;
    println!(
        "bench-setup cpus={} freq={freq} reps={reps} pages={pages} hardware_dirty={hardware_dirty}",
        cpu_count()
    );
    if let Some(ms) = boot.info.bootarg("idle_ms").and_then(|v| v.parse::<u64>().ok()) {
        let deadline = EventWaiter.now() + ms * 1_000_000;
        EventWaiter.wait_until_deadline(&|| false, deadline);
        println!("bench-idle {ms}");
        return 0;
    }
    let p = Arc::new(Process::new().expect("a process"));
    p.enter();
    let b = Bench { p, reps, pages, freq, only: boot.info.bootarg("only").map(String::from) };
    demand_zero(&b);
    zero_page_read(&b);
    cow_write(&b);
    if cpu_count() >= 4 {
        pager_round_trip(&b);
    }
    dirty_write(&b);
    cache_sync(&b);
    if cpu_count() >= 4 {
        unmap_four_cores(&b);
    }
    map_and_touch(&b);
    zero_and_copy(&b);
    AddressSpace::leave();
    println!("bench-done");
    0
}

/// A store to each page of a fresh anonymous VMO: a zero page allocated and
/// mapped per fault.
fn demand_zero(b: &Bench) {
    b.job("demand_zero", b.pages, |aborts| {
        let vmo = b.zx().vmo_create(b.pages * P, 0).unwrap();
        let va = b.map(vmo, b.pages);
        let t = timed(aborts, || store_each_page(va, b.pages, 1));
        b.unmap(va, b.pages);
        b.close(&[vmo]);
        t
    });
}

/// A load of each page of a fresh anonymous VMO: the shared zero page
/// mapped read-only.
fn zero_page_read(b: &Bench) {
    b.job("zero_read", b.pages, |aborts| {
        let vmo = b.zx().vmo_create(b.pages * P, 0).unwrap();
        let va = b.map(vmo, b.pages);
        let t = timed(aborts, || {
            load_each_page(va, b.pages);
        });
        b.unmap(va, b.pages);
        b.close(&[vmo]);
        t
    });
}

/// A store to each page of a snapshot of a committed VMO whose pages the
/// child already mapped read-only (loaded, untimed), as a forked child has
/// them: the copy-on-write fault alone.
fn cow_write(b: &Bench) {
    b.job("cow_write", b.pages, |aborts| {
        let parent = b.committed(b.pages);
        let child = b.zx().vmo_create_child(parent, ZX_VMO_CHILD_SNAPSHOT, 0, b.pages * P).unwrap();
        let va = b.map(child, b.pages);
        load_each_page(va, b.pages);
        let t = timed(aborts, || store_each_page(va, b.pages, 2));
        b.unmap(va, b.pages);
        b.close(&[child, parent]);
        t
    });
}

/// A load of each page of a pager VMO on this core (0), while a pager on
/// [`PAGER_CPU`] waits on its port: fault, READ packet, `pager_supply_pages`
/// from a committed aux VMO (moving its pages), the fault resumed.
fn pager_round_trip(b: &Bench) {
    b.job("pager_round_trip", b.pages, |aborts| {
        let PagerVmo { pager, port, vmo, aux } = b.pager_vmo();
        let va = b.map(vmo, b.pages);
        let (p, pages) = (b.p.clone(), b.pages);
        let served = spawn(PAGER_CPU, move || {
            let mut supplied = 0;
            while supplied < pages * P {
                let packet = p.zx.port_wait(port, ZX_TIME_INFINITE).unwrap();
                let request = packet.page_request().expect("a page request");
                assert_eq!(request.command, ZX_PAGER_VMO_READ);
                p.zx.pager_supply_pages(pager, vmo, request.offset, request.length, aux, request.offset)
                    .unwrap();
                supplied += request.length;
            }
        });
        let t = timed(aborts, || {
            load_each_page(va, b.pages);
        });
        served.join();
        b.unmap(va, b.pages);
        b.close(&[vmo, aux, port, pager]);
        t
    });
}

/// A store to each page of a supplied pager VMO without TRAP_DIRTY, loaded
/// (untimed), so each page is mapped clean: without FEAT_HAFDBS
/// (`cortex-a72`) a permission fault the platform resolves, marking the
/// page dirty; with it (`max`), the hardware's dirty-bit update.
fn dirty_write(b: &Bench) {
    b.job("dirty_write", b.pages, |aborts| {
        let PagerVmo { pager, port, vmo, aux } = b.pager_vmo();
        b.zx().pager_supply_pages(pager, vmo, 0, b.pages * P, aux, 0).unwrap();
        let va = b.map(vmo, b.pages);
        load_each_page(va, b.pages);
        let t = timed(aborts, || store_each_page(va, b.pages, 3));
        b.unmap(va, b.pages);
        b.close(&[vmo, aux, port, pager]);
        t
    });
}

/// `ZX_VMO_OP_CACHE_SYNC` of 64 KiB of a committed VMO.
fn cache_sync(b: &Bench) {
    let vmo = b.committed(SYNC_BYTES / P);
    b.job("cache_sync_64k", CALLS, |aborts| {
        timed(aborts, || {
            for _ in 0..CALLS {
                b.zx().vmo_op_range(vmo, ZX_VMO_OP_CACHE_SYNC, 0, SYNC_BYTES, &mut []).unwrap();
            }
        })
    });
    b.close(&[vmo]);
}

/// `vmar_unmap` of one page that all four cores loaded (each holds its
/// translation), so the unmap's TLB invalidation reaches every core.
fn unmap_four_cores(b: &Bench) {
    let q = b.p.clone();
    run_on_all(move || q.enter());
    let vmo = b.committed(1);
    b.job("unmap_4_cores", CALLS, |aborts| {
        let mut t = 0;
        for _ in 0..CALLS {
            let va = b.map(vmo, 1);
            let loaded: Vec<u64> = run_on_all(move || load_each_page(va, 1));
            assert_eq!(loaded.len(), 4, "the image runs with -smp 4");
            t += timed(aborts, || b.unmap(va, 1));
        }
        t
    });
    b.close(&[vmo]);
    for cpu in 1..cpu_count() {
        run_on(cpu, AddressSpace::leave).join();
    }
}

/// `vmar_map` of a fresh 1 MiB VMO and a store to each of its pages.
fn map_and_touch(b: &Bench) {
    let pages = MAP_BYTES / P;
    b.job("map_touch_1m", CALLS / 4, |aborts| {
        let mut t = 0;
        for _ in 0..CALLS / 4 {
            let vmo = b.zx().vmo_create(MAP_BYTES, 0).unwrap();
            let mut va = 0;
            t += timed(aborts, || {
                va = b.map(vmo, pages);
                store_each_page(va, pages, 4);
            });
            b.unmap(va, pages);
            b.close(&[vmo]);
        }
        t
    });
}

/// Zeroing and copying whole frames as the fault path does (demand-zero
/// and copy-on-write), through the platform's frame operations: `DC ZVA`
/// and an `LDP`/`STP` loop over the physmap.
fn zero_and_copy(b: &Bench) {
    let frames = platform_virt::frames::global();
    let take = || -> Vec<u64> { (0..b.pages).map(|_| frames.alloc().expect("a frame")).collect() };
    let (dst, src) = (take(), take());
    let n = P as usize;
    b.job("zero_page", b.pages, |aborts| {
        timed(aborts, || dst.iter().for_each(|&f| PhysFrames.zero(f, 0, n)))
    });
    b.job("copy_page", b.pages, |aborts| {
        timed(aborts, || dst.iter().zip(&src).for_each(|(&d, &s)| PhysFrames.copy(d, s)))
    });
    dst.iter().chain(&src).for_each(|&f| frames.free(f));
}
