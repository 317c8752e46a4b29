//! The VM through zx with four cores on the real tables: concurrent faults
//! on one shared mapping and on copy-on-write children, a fault that blocks
//! until another core signals it through the waiting trait, unmaps and
//! decommits (of one page, and of more pages than the tables invalidate one
//! by one) while other cores read, after which no core reads an old page
//! (a load after an unmap takes a fault, caught with `fault::catch`),
//! and CPUs in different address spaces at the same time.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use platform_virt::fault::catch;
use platform_virt::mmu::hw::HwTables;
use platform_virt::mmu::tables::TLBI_PAGE_LIMIT;
use platform_virt::process::Process;
use platform_virt::smp::{cpu_count, cpu_index, run_on, run_on_all};
use platform_virt::vm::{context, new_tables, AddressSpace};
use platform_virt::wait::EventWaiter;
use platform_virt::Boot;
use qemu_tests::access::{load, store};
use vm_core::platform::{MmuFlags, PhysAddr, Translation, Waiter};
use zx::ops::*;
use zx::options::*;
use zx::{Access, Handle, Status, Zx};

platform_virt::test_image!(
    four_cores_fault_on_one_shared_mapping,
    four_cores_write_their_own_cow_children,
    a_fault_blocks_until_another_core_signals,
    no_core_reads_the_old_page_after_an_overwrite,
    no_core_reads_the_old_page_after_a_decommit,
    no_core_reads_old_pages_after_an_overwrite_beyond_the_tlbi_page_limit,
    no_core_reads_old_pages_after_an_unmap_beyond_the_tlbi_page_limit,
    no_core_reads_old_pages_after_a_decommit_beyond_the_tlbi_page_limit,
    cpus_in_two_address_spaces_see_their_own_vmos_at_the_same_addresses,
    every_frame_comes_back,
);

const P: u64 = 4096;
const R: u32 = ZX_VM_PERM_READ;
const RW: u32 = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE;
/// More pages than the tables invalidate one by one: their change takes a
/// whole-ASID invalidation.
const MANY: u64 = TLBI_PAGE_LIMIT as u64 + 16;

fn new_process() -> Arc<Process> {
    Arc::new(Process::new().expect("a process"))
}

/// Enters `p` on every core.
fn enter_everywhere(p: &Arc<Process>) {
    let p = p.clone();
    run_on_all(move || p.enter());
}

fn leave_everywhere() {
    run_on_all(AddressSpace::leave);
}

fn map(zx: &Zx, options: u32, vmo: Handle, pages: u64) -> u64 {
    zx.vmar_map(zx.root_vmar(), options, 0, vmo, 0, pages * P).unwrap()
}

fn read_u64(zx: &Zx, vmo: Handle, offset: u64) -> u64 {
    let mut b = [0; 8];
    zx.vmo_read(vmo, &mut b, offset).unwrap();
    u64::from_le_bytes(b)
}

/// A VMO of `pages` pages whose page `p` starts with `value(p)`.
fn filled_vmo(zx: &Zx, pages: u64, value: impl Fn(u64) -> u64) -> Handle {
    let vmo = zx.vmo_create(pages * P, 0).unwrap();
    for p in 0..pages {
        zx.vmo_write(vmo, &value(p).to_le_bytes(), p * P).unwrap();
    }
    vmo
}

fn four_cores_fault_on_one_shared_mapping(boot: &Boot) {
    assert_eq!(cpu_count(), 4);
    let p = new_process();
    enter_everywhere(&p);
    const PAGES: u64 = 64;
    let vmo = p.zx.vmo_create(PAGES * P, 0).unwrap();
    let va = map(&p.zx, RW, vmo, PAGES);
    // Every core reads every page (zero-page faults race), then writes its
    // own word of every page (write faults on the same pages race).
    let sums = run_on_all(move || {
        let me = cpu_index() as u64;
        let sum: u64 = (0..PAGES).map(|p| load(va + p * P + 8 * me)).sum();
        for p in 0..PAGES {
            store(va + p * P + 8 * me, p * 100 + me + 1);
        }
        sum
    });
    assert!(sums.iter().all(|&s| s == 0));
    for page in 0..PAGES {
        for cpu in 0..4 {
            let value = read_u64(&p.zx, vmo, page * P + 8 * cpu);
            assert_eq!(value, page * 100 + cpu + 1, "page {page}, core {cpu}: a write was lost");
        }
    }
    let free = boot.frames().free_count();
    p.zx.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, PAGES * P, &mut []).unwrap();
    assert_eq!(
        boot.frames().free_count(),
        free + PAGES as usize,
        "one page per offset, however many cores faulted"
    );
    leave_everywhere();
}

fn four_cores_write_their_own_cow_children(_: &Boot) {
    let p = new_process();
    enter_everywhere(&p);
    const PAGES: u64 = 16;
    let parent = filled_vmo(&p.zx, PAGES, |page| page + 1);
    // A chain: each core's child is a snapshot of the previous one's.
    let mut children = Vec::new();
    let mut base = parent;
    for _ in 0..4 {
        let child = p.zx.vmo_create_child(base, ZX_VMO_CHILD_SNAPSHOT, 0, PAGES * P).unwrap();
        children.push((child, map(&p.zx, RW, child, PAGES)));
        base = child;
    }
    let pva = map(&p.zx, RW, parent, PAGES);
    let vas: Arc<Vec<u64>> = Arc::new(children.iter().map(|(_, va)| *va).collect());
    run_on_all(move || {
        let me = cpu_index();
        for page in 0..PAGES {
            assert_eq!(load(pva + page * P), page + 1, "the parent is untouched while children fork");
            store(vas[me] + page * P, 1000 * (me as u64 + 1) + page);
        }
    });
    for (i, (child, va)) in children.iter().enumerate() {
        for page in 0..PAGES {
            assert_eq!(load(va + page * P), 1000 * (i as u64 + 1) + page);
            assert_eq!(read_u64(&p.zx, *child, page * P), 1000 * (i as u64 + 1) + page);
            assert_eq!(load(pva + page * P), page + 1);
        }
    }
    leave_everywhere();
}

/// The tables, behind a gate: `map` waits, through the platform's waiting
/// trait, until the gate is opened.
struct Gated {
    tables: Arc<HwTables>,
    entered: AtomicBool,
    open: AtomicBool,
}

impl Translation for Gated {
    fn va_range(&self) -> (u64, u64) {
        Translation::va_range(&*self.tables)
    }
    fn can_map_execute_only(&self) -> bool {
        Translation::can_map_execute_only(&*self.tables)
    }
    fn map(&self, va: u64, frame: PhysAddr, flags: MmuFlags, access: Option<Access>) -> Result<(), Status> {
        self.entered.store(true, SeqCst);
        EventWaiter.wake_all();
        EventWaiter.wait_until(&|| self.open.load(SeqCst));
        Translation::map(&*self.tables, va, frame, flags, access)
    }
    fn prepare(&self, va: u64) -> Result<(), Status> {
        Translation::prepare(&*self.tables, va)
    }
    fn unmap(&self, va: u64, len: u64, dirty: &mut dyn FnMut(u64)) {
        Translation::unmap(&*self.tables, va, len, dirty)
    }
    fn protect(&self, va: u64, len: u64, flags: MmuFlags, dirty: &mut dyn FnMut(u64)) {
        Translation::protect(&*self.tables, va, len, flags, dirty)
    }
    fn query(&self, va: u64) -> Option<(PhysAddr, MmuFlags)> {
        Translation::query(&*self.tables, va)
    }
    fn harvest_accessed(&self, va: u64) -> bool {
        Translation::harvest_accessed(&*self.tables, va)
    }
    fn harvest_dirty(&self, va: u64, len: u64, dirty: &mut dyn FnMut(u64)) {
        Translation::harvest_dirty(&*self.tables, va, len, dirty)
    }
}

/// A Zx over the gated tables: zx reaches the hardware through any
/// `Translation`, so the gate sits under the syscalls and the fault path.
fn a_fault_blocks_until_another_core_signals(_: &Boot) {
    let tables = new_tables().unwrap();
    let gate = Arc::new(Gated {
        tables: tables.clone(),
        entered: AtomicBool::new(false),
        open: AtomicBool::new(false),
    });
    let zx = Zx::new(context().unwrap(), gate.clone());
    let space = AddressSpace::new(zx.root_vmar_object().clone(), tables);
    let s = space.clone();
    run_on_all(move || s.enter());
    let vmo = filled_vmo(&zx, 1, |_| 77);
    let va = map(&zx, R, vmo, 1);
    let faulted_done = Arc::new(AtomicBool::new(false));
    let signalled = Arc::new(AtomicBool::new(false));
    // Core 1 waits until core 0's fault is inside the gate, checks core 0
    // is still blocked, then signals.
    let (g1, d1, s1) = (gate.clone(), faulted_done.clone(), signalled.clone());
    let signaller = run_on(1, move || {
        EventWaiter.wait_until(&|| g1.entered.load(SeqCst));
        let still_blocked = !d1.load(SeqCst);
        s1.store(true, SeqCst);
        g1.open.store(true, SeqCst);
        EventWaiter.wake_all();
        still_blocked
    });
    // Core 0 faults: the fault path blocks in the gate.
    let value = load(va);
    let seen_signal = signalled.load(SeqCst);
    faulted_done.store(true, SeqCst);
    assert!(signaller.join(), "core 0's fault completed before core 1 signalled");
    assert!(seen_signal, "the fault returned before the signal");
    assert_eq!(value, 77);
    leave_everywhere();
    space.root.destroy().unwrap();
}

const OLD: u64 = 0x01d_0000;
const NEW: u64 = 0x4e3_0000;

/// A load at `va` that returns a fatal fault's status instead of ending
/// the run.
fn read(va: u64) -> Result<u64, Status> {
    // SAFETY: the closure is one load and owns nothing.
    unsafe { catch(|| load(va)) }.map_err(|fault| fault.status)
}

/// Cores 1-3 read every page of `[va, va + pages * P)` in a loop (page `p`
/// holds `OLD + p`), so each holds translations of all of them; once all
/// read, core 0 runs `change`, after which every read on every core must
/// give `new(p)` (a value, or the status of the fault it takes): no core may
/// still use a translation of an old page.
fn readers_never_see_old_after(
    va: u64,
    pages: u64,
    new: fn(u64) -> Result<u64, Status>,
    change: impl FnOnce(),
) {
    let replaced = Arc::new(AtomicBool::new(false));
    let reading = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (1..4)
        .map(|cpu| {
            let (replaced, reading) = (replaced.clone(), reading.clone());
            run_on(cpu, move || {
                let (mut stale, mut passes_after, mut counted) = (0u64, 0u64, false);
                loop {
                    let done = replaced.load(SeqCst);
                    for p in 0..pages {
                        let v = read(va + p * P);
                        assert!(v == Ok(OLD + p) || v == new(p), "page {p}: read {v:x?}");
                        stale += (done && v == Ok(OLD + p)) as u64;
                    }
                    if !counted {
                        counted = true;
                        reading.fetch_add(1, SeqCst);
                        EventWaiter.wake_all();
                    }
                    if done {
                        passes_after += 1;
                        if passes_after == 20 {
                            return stale;
                        }
                    }
                }
            })
        })
        .collect();
    EventWaiter.wait_until(&|| reading.load(SeqCst) == 3);
    change();
    replaced.store(true, SeqCst);
    for (cpu, r) in (1..).zip(readers) {
        assert_eq!(r.join(), 0, "core {cpu} read old pages after the change returned");
    }
    for p in 0..pages {
        assert_eq!(read(va + p * P), new(p));
    }
}

/// Maps `pages` pages holding `OLD + p` read-only on every core, then
/// overwrites the mapping with one of a VMO holding `NEW + p`, at once.
fn overwrite_while_reading(pages: u64) {
    let p = new_process();
    enter_everywhere(&p);
    let old = filled_vmo(&p.zx, pages, |page| OLD + page);
    let new = filled_vmo(&p.zx, pages, |page| NEW + page);
    let va = map(&p.zx, R, old, pages);
    let offset = va - p.aspace.root.base();
    readers_never_see_old_after(
        va,
        pages,
        |page| Ok(NEW + page),
        || {
            let options = R | ZX_VM_SPECIFIC_OVERWRITE;
            assert_eq!(p.zx.vmar_map(p.zx.root_vmar(), options, offset, new, 0, pages * P), Ok(va));
        },
    );
    leave_everywhere();
}

fn no_core_reads_the_old_page_after_an_overwrite(_: &Boot) {
    overwrite_while_reading(1);
}

fn no_core_reads_old_pages_after_an_overwrite_beyond_the_tlbi_page_limit(_: &Boot) {
    overwrite_while_reading(MANY);
}

/// Maps `pages` pages holding `OLD + p` read-only on every core, then
/// decommits them (`ZX_VMO_OP_DECOMMIT` for one page, `ZX_VMAR_OP_DECOMMIT`
/// for more): every core must read zeros, and the pages are freed.
fn decommit_while_reading(boot: &Boot, pages: u64) {
    let p = new_process();
    enter_everywhere(&p);
    let vmo = filled_vmo(&p.zx, pages, |page| OLD + page);
    let va = map(&p.zx, R, vmo, pages);
    // The first faults also build the translation tables for the range.
    for page in 0..pages {
        assert_eq!(load(va + page * P), OLD + page);
    }
    let free = boot.frames().free_count();
    readers_never_see_old_after(
        va,
        pages,
        |_| Ok(0),
        || match pages {
            1 => p.zx.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, P, &mut []).unwrap(),
            _ => p.zx.vmar_op_range(p.zx.root_vmar(), ZX_VMAR_OP_DECOMMIT, va, pages * P, &mut []).unwrap(),
        },
    );
    assert_eq!(boot.frames().free_count(), free + pages as usize, "the old pages were freed");
    leave_everywhere();
}

/// Maps `MANY` pages holding `OLD + p` read-only on every core, then unmaps
/// them: every core's load must fault with NOT_FOUND; the VMO keeps its
/// pages.
fn no_core_reads_old_pages_after_an_unmap_beyond_the_tlbi_page_limit(_: &Boot) {
    let p = new_process();
    enter_everywhere(&p);
    let vmo = filled_vmo(&p.zx, MANY, |page| OLD + page);
    let va = map(&p.zx, R, vmo, MANY);
    readers_never_see_old_after(
        va,
        MANY,
        |_| Err(Status::NotFound),
        || {
            p.zx.vmar_unmap(p.zx.root_vmar(), va, MANY * P).unwrap();
        },
    );
    assert_eq!(read_u64(&p.zx, vmo, (MANY - 1) * P), OLD + MANY - 1, "the VMO keeps its pages");
    leave_everywhere();
}

fn no_core_reads_the_old_page_after_a_decommit(boot: &Boot) {
    decommit_while_reading(boot, 1);
}

fn no_core_reads_old_pages_after_a_decommit_beyond_the_tlbi_page_limit(boot: &Boot) {
    decommit_while_reading(boot, MANY);
}

const A: u64 = 0xa_0000;
const B: u64 = 0xb_0000;

/// CPU 1 is in process A and CPU 2 in process B, each with a VMO mapped at
/// the same address (A's read-write, B's read-only); both fault there at
/// once, CPU 1 storing first. CPU 3 switches between them meanwhile. Every
/// CPU must see the VMO of the address space it is in: with one address
/// space for faults, CPU 1's store would be resolved in B's read-only
/// mapping (a fatal fault), or its loads in the wrong tables (for ever).
fn cpus_in_two_address_spaces_see_their_own_vmos_at_the_same_addresses(_: &Boot) {
    const PAGES: u64 = 8;
    let (a, b) = (new_process(), new_process());
    let vmo_a = filled_vmo(&a.zx, PAGES, |page| A + page);
    let vmo_b = filled_vmo(&b.zx, PAGES, |page| B + page);
    let va = a.zx.vmar_map(a.zx.root_vmar(), RW | ZX_VM_SPECIFIC, 0, vmo_a, 0, PAGES * P).unwrap();
    assert_eq!(b.zx.vmar_map(b.zx.root_vmar(), R | ZX_VM_SPECIFIC, 0, vmo_b, 0, PAGES * P), Ok(va));
    let (a1, b2) = (a.clone(), b.clone());
    run_on(1, move || a1.enter()).join();
    run_on(2, move || b2.enter()).join();
    let done = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicUsize::new(0));
    // Reads every page of the current address space; page `p` must hold
    // `base + p`.
    let check = move |base: u64| {
        for page in 0..PAGES {
            let v = load(va + page * P);
            assert_eq!(v, base + page, "CPU {} read {v:#x} at page {page}", cpu_index());
        }
    };
    let stays = [(1, A), (2, B)].map(|(cpu, base)| {
        let (done, started) = (done.clone(), started.clone());
        run_on(cpu, move || {
            if base == A {
                for page in 0..PAGES {
                    store(va + page * P + 8, !page);
                }
            }
            let mut rounds = 0u64;
            loop {
                check(base);
                if rounds == 0 {
                    started.fetch_add(1, SeqCst);
                    EventWaiter.wake_all();
                }
                rounds += 1;
                if done.load(SeqCst) {
                    return rounds;
                }
            }
        })
    });
    EventWaiter.wait_until(&|| started.load(SeqCst) == 2);
    let (a3, b3) = (a.clone(), b.clone());
    let switches = run_on(3, move || {
        for _ in 0..3 {
            a3.enter();
            check(A);
            b3.enter();
            check(B);
        }
        AddressSpace::leave();
    });
    switches.join();
    done.store(true, SeqCst);
    for stay in stays {
        assert!(stay.join() > 0);
    }
    for page in 0..PAGES {
        assert_eq!(read_u64(&a.zx, vmo_a, page * P + 8), !page, "CPU 1's stores reached A's VMO");
        assert_eq!(read_u64(&b.zx, vmo_b, page * P + 8), 0, "and not B's");
    }
    run_on(1, AddressSpace::leave).join();
    run_on(2, AddressSpace::leave).join();
}

fn every_frame_comes_back(boot: &Boot) {
    // Each case dropped its processes; run a few more and compare.
    let free = boot.frames().free_count();
    four_cores_fault_on_one_shared_mapping(boot);
    four_cores_write_their_own_cow_children(boot);
    no_core_reads_old_pages_after_a_decommit_beyond_the_tlbi_page_limit(boot);
    cpus_in_two_address_spaces_see_their_own_vmos_at_the_same_addresses(boot);
    assert_eq!(boot.frames().free_count(), free);
}
