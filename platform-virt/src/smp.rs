//! The other CPUs: started at boot with PSCI `CPU_ON` (or, entered at EL3
//! with no firmware, let out of the pen where they wait since reset), each
//! then idles running the closures given to it with [`run_on`] or
//! [`run_on_all`].
//!
//! CPU indices are dense: 0 is the boot CPU, which runs the image's main;
//! 1, 2, … are the device tree's other CPUs in its order, up to
//! [`MAX_CPUS`] in all ([`crate::cpu`]).
//!
//! A started CPU runs `asm/secondary.S` (EL2→EL1 with `boot.S`'s
//! `cpu_enter_el1`, its own stack, its index), then `secondary_main`,
//! which turns its MMU on with the boot CPU's configuration before anything
//! else, sets up its part of the GIC (saying so if it fails and it waits
//! with `WFE`), reports itself online and waits for
//! work with [`EventWaiter`] (asleep in `WFI` where there is a GIC).

use crate::boot_info::CpuList;
use crate::cache::CpuCaches;
use crate::cpu::MAX_CPUS;
use crate::mmu::hw::{kernel_map, KernelMap};
use crate::wait::EventWaiter;
use aarch64_cpu::registers::{Readable, MPIDR_EL1};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use spin::Mutex;
use vm_core::platform::{CacheMaintenance, CacheOp, Waiter};

core::arch::global_asm!(include_str!("asm/secondary.S"));

const PSCI_CPU_ON: u32 = 0xc400_0003;
/// The affinity fields of `MPIDR_EL1` (Aff3, Aff2, Aff1, Aff0), which the
/// device tree's `reg` and PSCI's target use.
const MPIDR_AFFINITY: u64 = 0xff_00ff_ffff;

type Job = Box<dyn FnOnce() + Send>;

/// One CPU: its MPIDR and the work queued for it.
struct Cpu {
    mpidr: AtomicU64,
    jobs: Mutex<VecDeque<Job>>,
}

static CPUS: [Cpu; MAX_CPUS] =
    [const { Cpu { mpidr: AtomicU64::new(0), jobs: Mutex::new(VecDeque::new()) } }; MAX_CPUS];
static ONLINE: AtomicUsize = AtomicUsize::new(1);

/// What a starting CPU reads with its MMU off; PSCI hands it its address
/// (identity-mapped, so also its physical address) as the context.
#[repr(C)]
struct Start {
    /// Read by `asm/secondary.S`.
    stack_top: u64,
    /// Read by `asm/secondary.S`.
    index: u64,
    map: &'static KernelMap,
}

extern "C" {
    fn secondary_entry();
    static __secondary_stacks_bottom: u8;
    static __secondary_stacks_top: u8;
}

pub use crate::cpu::index as cpu_index;

/// How many CPUs are online: indices `0..cpu_count()`.
pub fn cpu_count() -> usize {
    ONLINE.load(Ordering::Acquire)
}

/// The MPIDR affinity of online CPU `cpu`.
pub fn mpidr(cpu: usize) -> u64 {
    assert!(cpu < cpu_count(), "CPU {cpu} is not online");
    CPUS[cpu].mpidr.load(Ordering::Relaxed)
}

/// Where the CPUs that started at reset wait (an entry at EL3, with no
/// firmware and so no PSCI: `asm/boot.S`'s `wait_in_pen`): the affinity of
/// the one let go, then its context, as `CPU_ON` would pass it. No CPU's
/// affinity is `u64::MAX`.
#[no_mangle]
static RESET_PEN: [AtomicU64; 2] = [AtomicU64::new(u64::MAX), AtomicU64::new(0)];

/// Lets the CPU `mpidr` out of [`RESET_PEN`] with `start`. It reads the pen
/// uncached, so each store is cleaned to memory before the next, the
/// context before the affinity that tells it to read it.
fn let_go(mpidr: u64, start: &Start, caches: &CpuCaches) {
    let pen = (RESET_PEN.as_ptr() as u64, size_of_val(&RESET_PEN) as u64);
    RESET_PEN[1].store(start as *const Start as u64, Ordering::Relaxed);
    caches.cache_op(CacheOp::Clean, pen.0, pen.1);
    RESET_PEN[0].store(mpidr, Ordering::Relaxed);
    caches.cache_op(CacheOp::Clean, pen.0, pen.1);
    EventWaiter.wake_all();
}

/// Starts every CPU in `cpus` but this one, one at a time, each once the
/// previous is online: with PSCI `CPU_ON`, or out of [`RESET_PEN`] where
/// the boot CPU was entered at EL3 (`entry_el`). A CPU that fails to start
/// ends the run.
pub(crate) fn start(cpus: &CpuList, entry_el: u8) {
    let me = MPIDR_EL1.get() & MPIDR_AFFINITY;
    CPUS[0].mpidr.store(me, Ordering::Relaxed);
    let bottom = core::ptr::addr_of!(__secondary_stacks_bottom) as u64;
    let top = core::ptr::addr_of!(__secondary_stacks_top) as u64;
    let stack_size = (top - bottom) / (MAX_CPUS as u64 - 1);
    let caches = CpuCaches::new();
    let others = cpus.as_slice().iter().copied().filter(|&m| m != me);
    for (index, mpidr) in (1..MAX_CPUS).zip(others) {
        let stack_top = bottom + index as u64 * stack_size;
        let start = Start { stack_top, index: index as u64, map: kernel_map() };
        // The CPU reads `start` and the map uncached, so they must be in
        // memory; its stack, written uncached and read cached once its MMU
        // is on, must have no stale lines in any cache.
        for (va, len) in [
            (&start as *const Start as u64, size_of::<Start>() as u64),
            (start.map as *const KernelMap as u64, size_of::<KernelMap>() as u64),
            (stack_top - stack_size, stack_size),
        ] {
            caches.cache_op(CacheOp::CleanInvalidate, va, len);
        }
        CPUS[index].mpidr.store(mpidr, Ordering::Relaxed);
        if entry_el == 3 {
            let_go(mpidr, &start, &caches);
        } else {
            let status = crate::power::psci_call(
                PSCI_CPU_ON,
                mpidr,
                secondary_entry as *const () as u64,
                &start as *const Start as u64,
            );
            if status != 0 {
                crate::fatal::report(format_args!("PSCI CPU_ON of MPIDR {mpidr:#x} failed: {status}"));
            }
        }
        // `start` must outlive the CPU's reading it.
        EventWaiter.wait_until(&|| cpu_count() > index);
    }
}

/// Rust entry of a started CPU, from `asm/secondary.S` with the MMU off.
#[no_mangle]
extern "C" fn secondary_main(start: &Start) -> ! {
    crate::mmu::hw::enable_on_this_cpu(start.map);
    crate::wait::enable_event_stream();
    if let Err(why) = crate::gic::init_this_cpu() {
        crate::println!("wait: CPU {} waits with WFE ({why})", cpu_index());
    }
    let cpu = &CPUS[cpu_index()];
    ONLINE.fetch_add(1, Ordering::AcqRel);
    EventWaiter.wake_all();
    loop {
        let job = cpu.jobs.lock().pop_front();
        match job {
            Some(job) => job(),
            None => EventWaiter.wait_until(&|| !cpu.jobs.lock().is_empty()),
        }
    }
}

/// A closure given to a CPU; [`Handle::join`] waits for its result.
#[must_use = "join the handle to wait for the closure"]
pub struct Handle<T> {
    result: Arc<Mutex<Option<T>>>,
}

impl<T> Handle<T> {
    /// Waits, with [`EventWaiter`], until the closure has returned, and
    /// returns its result.
    pub fn join(self) -> T {
        EventWaiter.wait_until(&|| self.result.lock().is_some());
        self.result.lock().take().expect("the result is in before the wait ends")
    }
}

/// Runs `f` on CPU `cpu`: at once if that is this CPU, else queued for that
/// CPU's idle loop. The boot CPU runs the image's main, so only it may give
/// itself work. Panics if `cpu` is not online.
pub fn run_on<T, F>(cpu: usize, f: F) -> Handle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    assert!(cpu < cpu_count(), "CPU {cpu} is not online");
    let result = Arc::new(Mutex::new(None));
    if cpu == cpu_index() {
        *result.lock() = Some(f());
    } else {
        assert_ne!(cpu, 0, "only the boot CPU gives itself work");
        let slot = result.clone();
        CPUS[cpu].jobs.lock().push_back(Box::new(move || {
            let value = f();
            *slot.lock() = Some(value);
            EventWaiter.wake_all();
        }));
        EventWaiter.wake_all();
    }
    Handle { result }
}

/// Runs `f` on every online CPU at once, this one last, and returns the
/// results by CPU index. Call it from the boot CPU (see [`run_on`]).
pub fn run_on_all<T, F>(f: F) -> Vec<T>
where
    F: Fn() -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    let f = Arc::new(f);
    let me = cpu_index();
    let mut handles: Vec<(usize, Handle<T>)> = (0..cpu_count())
        .filter(|&cpu| cpu != me)
        .chain([me])
        .map(|cpu| {
            let f = f.clone();
            (cpu, run_on(cpu, move || f()))
        })
        .collect();
    handles.sort_by_key(|(cpu, _)| *cpu);
    handles.into_iter().map(|(_, handle)| handle.join()).collect()
}
