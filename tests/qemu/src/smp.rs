//! SMP: every CPU of the device tree starts at EL1 with its MMU on, its own
//! index, MPIDR and stack; closures run where they are sent, in order; a
//! spin lock holds under contention from every CPU; and a wait through
//! vm-core's `Waiter` blocks one CPU until another signals it, asleep in
//! `WFI` on the board's GIC (v2 or v3, every CPU), or in `WFE` where the
//! device tree names no GIC the platform drives: woken by its deadline or
//! by `wake_all`, as also on a GIC whose interrupts stay secure (entered
//! at EL3 with no firmware). The xtask passes QEMU's `-smp` as `cpus=` and
//! the board's GIC version (`2-secure`, `3-secure` for those), or `none`
//! for a tree whose GIC it hid, as `gic=` in the boot arguments.
#![no_std]
#![no_main]

extern crate alloc;

use aarch64_cpu::registers::{CurrentEL, Readable, MPIDR_EL1, SCTLR_EL1};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use platform_virt::boot_info::GicInfo;
use platform_virt::smp::{cpu_count, cpu_index, mpidr, run_on, run_on_all};
use platform_virt::wait::{wakes_wfi, wfi_completions, EventWaiter};
use platform_virt::Boot;
use spin::Mutex;
use vm_core::platform::Waiter;

platform_virt::test_image!(
    every_cpu_is_online,
    every_cpu_waits_on_the_gic_the_runner_chose,
    cpus_have_distinct_indices_and_mpidrs,
    cpus_run_at_el1_with_the_mmu_on_on_their_own_stacks,
    work_runs_on_the_cpu_it_is_sent_to_in_order,
    contended_spin_lock_counts_exactly,
    wait_blocks_until_another_cpu_signals,
    a_wait_with_a_deadline_sleeps_until_it,
    a_sleeping_cpu_is_woken_by_wake_all,
);

fn every_cpu_is_online(boot: &Boot) {
    let cpus: usize =
        boot.info.bootarg("cpus").and_then(|s| s.parse().ok()).expect("the runner passes cpus=<-smp>");
    assert!(cpus > 1, "an SMP test needs several CPUs");
    assert_eq!(boot.info.mpidrs.as_slice().len(), cpus);
    assert_eq!(cpu_count(), cpus);
    assert_eq!(cpu_index(), 0, "main runs on the boot CPU");
}

fn every_cpu_waits_on_the_gic_the_runner_chose(boot: &Boot) {
    let version = boot.info.bootarg("gic").expect("the runner passes gic=<gic-version>|none");
    let fallen_back: Vec<usize> = (0..cpu_count()).filter(|&cpu| !wakes_wfi(cpu)).collect();
    match (version, boot.info.gic) {
        ("2", Some(GicInfo::V2 { .. })) | ("3", Some(GicInfo::V3 { .. })) => {
            assert!(fallen_back.is_empty(), "CPUs {fallen_back:?} wait with WFE on a GICv{version}")
        }
        ("none", None) => assert_eq!(fallen_back.len(), cpu_count(), "no GIC, yet some CPUs wait in WFI"),
        ("2-secure", Some(GicInfo::V2 { .. })) | ("3-secure", Some(GicInfo::V3 { .. })) => {
            assert_eq!(
                fallen_back.len(),
                cpu_count(),
                "the GIC's interrupts stay secure, yet some CPUs wait in WFI"
            )
        }
        (version, found) => panic!("gic={version}, and the device tree has {found:?}"),
    }
}

fn cpus_have_distinct_indices_and_mpidrs(boot: &Boot) {
    let seen = run_on_all(|| (cpu_index(), MPIDR_EL1.get() & 0xff_00ff_ffff));
    assert_eq!(seen.len(), cpu_count());
    let mut mpidrs = Vec::new();
    for (cpu, (index, hw_mpidr)) in seen.into_iter().enumerate() {
        assert_eq!(index, cpu);
        assert_eq!(hw_mpidr, mpidr(cpu));
        assert!(boot.info.mpidrs.as_slice().contains(&hw_mpidr));
        mpidrs.push(hw_mpidr);
    }
    mpidrs.sort_unstable();
    mpidrs.dedup();
    assert_eq!(mpidrs.len(), cpu_count());
}

fn cpus_run_at_el1_with_the_mmu_on_on_their_own_stacks(boot: &Boot) {
    let seen = run_on_all(|| {
        let local = 0u64;
        let sp = core::hint::black_box(&local) as *const u64 as u64;
        (CurrentEL.read(CurrentEL::EL), SCTLR_EL1.is_set(SCTLR_EL1::M), sp)
    });
    let mut stacks: Vec<u64> = Vec::new();
    for (el, mmu_on, sp) in seen {
        assert_eq!(el, 1);
        assert!(mmu_on);
        assert!(boot.image.start <= sp && sp < boot.image.end, "stacks lie in the image");
        // Stacks are 128 KiB apart; a few KiB of frames cannot cross that.
        assert!(stacks.iter().all(|other| other.abs_diff(sp) >= 64 << 10), "{sp:#x} near {stacks:x?}");
        stacks.push(sp);
    }
}

fn work_runs_on_the_cpu_it_is_sent_to_in_order(_: &Boot) {
    for cpu in 0..cpu_count() {
        assert_eq!(run_on(cpu, cpu_index).join(), cpu);
    }
    static ORDER: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    let last = cpu_count() - 1;
    let handles: Vec<_> = (0..100).map(|i| run_on(last, move || ORDER.lock().push(i))).collect();
    handles.into_iter().for_each(|h| h.join());
    assert!(ORDER.lock().iter().copied().eq(0..100));
}

fn contended_spin_lock_counts_exactly(_: &Boot) {
    const ROUNDS: u64 = 20_000;
    static COUNTER: Mutex<u64> = Mutex::new(0);
    static ARRIVED: AtomicUsize = AtomicUsize::new(0);
    let counts = run_on_all(|| {
        // Start together, so that the lock is contended.
        ARRIVED.fetch_add(1, Ordering::SeqCst);
        while ARRIVED.load(Ordering::SeqCst) < cpu_count() {
            core::hint::spin_loop();
        }
        for _ in 0..ROUNDS {
            let mut counter = COUNTER.lock();
            // A read and a separate write: lost updates if the lock leaked.
            let value = core::hint::black_box(*counter);
            *counter = value + 1;
        }
        ROUNDS
    });
    assert_eq!(counts.len(), cpu_count());
    assert_eq!(*COUNTER.lock(), ROUNDS * cpu_count() as u64);
}

fn wait_blocks_until_another_cpu_signals(_: &Boot) {
    static FOUND_UNSET: AtomicBool = AtomicBool::new(false);
    static SIGNALLED: AtomicBool = AtomicBool::new(false);
    static VALUE: AtomicU64 = AtomicU64::new(0);
    static CHECKS: AtomicUsize = AtomicUsize::new(0);
    let signaller = run_on(1, || {
        // Signal only once CPU 0 has found the condition false: it is
        // about to block in the Waiter, or blocked already.
        while !FOUND_UNSET.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
        VALUE.store(0x5eed_cafe, Ordering::Relaxed);
        SIGNALLED.store(true, Ordering::Release);
        EventWaiter.wake_all();
    });
    EventWaiter.wait_until(&|| {
        CHECKS.fetch_add(1, Ordering::Relaxed);
        let signalled = SIGNALLED.load(Ordering::Acquire);
        if !signalled {
            FOUND_UNSET.store(true, Ordering::Release);
        }
        signalled
    });
    assert_eq!(VALUE.load(Ordering::Relaxed), 0x5eed_cafe, "the signaller's write is seen");
    assert!(CHECKS.load(Ordering::Relaxed) >= 2, "a check found no signal, a later one found it");
    signaller.join();
}

/// How many `WFI`s CPU 1 comes out of while it waits for nothing but a
/// deadline that nobody else wakes it before: with a GIC, one for the
/// timer, plus at most one SGI sent before the wait began; a spinning core
/// would come out of thousands. Without a GIC the wait uses `WFE`: none.
fn expected_wfi_completions(woken_by: core::ops::RangeInclusive<u64>) -> core::ops::RangeInclusive<u64> {
    if wakes_wfi(1) {
        woken_by
    } else {
        0..=0
    }
}

fn a_wait_with_a_deadline_sleeps_until_it(_: &Boot) {
    const WAIT_NS: u64 = 20_000_000;
    let (timed_out, late_enough, wfis) = run_on(1, || {
        let before = wfi_completions(1);
        let deadline = EventWaiter.now() + WAIT_NS;
        let met = EventWaiter.wait_until_deadline(&|| false, deadline);
        (!met, EventWaiter.now() >= deadline, wfi_completions(1) - before)
    })
    .join();
    assert!(timed_out, "a condition that never holds times out");
    assert!(late_enough, "the wait lasts until its deadline");
    assert!(expected_wfi_completions(1..=2).contains(&wfis), "{wfis} WFI completions for one deadline");
}

fn a_sleeping_cpu_is_woken_by_wake_all(_: &Boot) {
    static WAITING: AtomicBool = AtomicBool::new(false);
    static FLAG: AtomicBool = AtomicBool::new(false);
    let waiter = run_on(1, || {
        EventWaiter.wait_until(&|| {
            WAITING.store(true, Ordering::Release);
            FLAG.load(Ordering::Acquire)
        });
        FLAG.load(Ordering::Acquire)
    });
    // CPU 1 sends no wake-up when it starts waiting: spin for it.
    while !WAITING.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    // Nobody wakes CPU 1 while CPU 0 sleeps to a deadline: it sleeps too.
    let before = wfi_completions(1);
    let deadline = EventWaiter.now() + 20_000_000;
    assert!(!EventWaiter.wait_until_deadline(&|| false, deadline));
    let idle_wfis = wfi_completions(1) - before;
    assert!(expected_wfi_completions(0..=1).contains(&idle_wfis), "{idle_wfis} WFI completions while idle");
    // Its wait has no deadline, so only the wake-up can end it.
    FLAG.store(true, Ordering::Release);
    EventWaiter.wake_all();
    assert!(waiter.join(), "the woken CPU sees the flag");
}
