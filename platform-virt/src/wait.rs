//! vm-core's [`Waiter`] on aarch64: `WFI` to sleep, woken by the GIC's
//! software-generated interrupt (the crate's `gic` module, GICv2 or GICv3)
//! and by the virtual timer for a deadline; `WFE`/`SEV` on a CPU where
//! there is no GIC to drive. The generic timer's virtual count is the
//! clock.
//!
//! Interrupts stay masked: `WFI` waits only while no physical interrupt is
//! pending, whatever `PSTATE.I` says (Arm ARM, "Wait For Interrupt"), and
//! the waiter acknowledges what woke it itself (`gic::drain`).
//!
//! No wake-up is lost. A waiter checks its condition, arms the timer for its
//! deadline, executes `WFI`, disarms the timer and drains every pending
//! interrupt, then checks again. A waker changes the state, executes
//! `DSB ISH` (the change is visible to every core before the SGI can be:
//! no later instruction, the GICv2 `GICD_SGIR` store or the GICv3
//! `ICC_SGI1R_EL1` write, executes before the `DSB` completes), then sends
//! the SGI to every other CPU (on GICv3 with an `ISB` after the write, so
//! it is not left waiting for a later synchronization). An SGI sent after
//! the waiter's check stays pending at its CPU interface until the waiter
//! drains it, so the waiter's `WFI` returns at once; a drained SGI was sent
//! after its state change, and the check that follows the drain sees that
//! change, since the drain ends with a barrier that orders later loads
//! after its acknowledgements (`DMB ISH` after GICv2's memory-mapped
//! `GICC_IAR` loads; `DSB SY` after GICv3's `ICC_IAR1_EL1` reads, system
//! register accesses that `DMB` does not order). A deadline that passes
//! between the check and the `WFI` leaves the timer's interrupt pending,
//! which ends the `WFI` at once just the same.
//!
//! Where a CPU has no GIC to sleep on (none in the device tree, or its
//! set-up failed, [`wakes_wfi`]), waiting is the `WFE` loop, and the waker
//! also executes `SEV`: a `SEV` between a waiter's check and its `WFE`
//! leaves the event register set, so that `WFE` returns at once. The
//! timer's event stream (`enable_event_stream`) wakes every `WFE` about
//! every 100 µs, so a `WFE` waiter also sees its deadline pass. QEMU's TCG
//! does not sleep in `WFE`, so such a waiter spins.
//!
//! [`wfi_completions`] counts each CPU's `WFI`s that returned, so a test
//! can see that a waiting core sleeps rather than spins.

use crate::cpu::MAX_CPUS;
use aarch64_cpu::registers::{
    ReadWriteable, Readable, Writeable, CNTFRQ_EL0, CNTKCTL_EL1, CNTVCT_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0,
};
use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};
use vm_core::platform::{Waiter, INFINITE};

pub use crate::gic::wakes_wfi;

/// Waiting on any condition shared between cores: [`Waiter::wake_all`]
/// wakes every core waiting on any condition.
pub struct EventWaiter;

static WFI_COMPLETIONS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// How many times a wait on CPU `cpu` has come out of `WFI`.
pub fn wfi_completions(cpu: usize) -> u64 {
    WFI_COMPLETIONS[cpu].load(Ordering::Relaxed)
}

/// Turns on this CPU's timer event stream at about 10 kHz: an event each
/// time bit `n` of the virtual count goes from 0 to 1, every `2^(n+1)`
/// ticks, with `n` chosen from the counter frequency.
pub(crate) fn enable_event_stream() {
    let freq = CNTFRQ_EL0.get().max(1);
    // 2^(n+1) ticks ≈ freq / 10_000.
    let n = (63 - (freq / 10_000).max(2).leading_zeros()).saturating_sub(1).min(15) as u64;
    CNTKCTL_EL1
        .modify(CNTKCTL_EL1::EVNTI.val(n) + CNTKCTL_EL1::EVNTDIR::ZeroToOne + CNTKCTL_EL1::EVNTEN::Enable);
}

/// The first virtual count at which [`EventWaiter::now`] reads at least
/// `deadline` ns.
fn deadline_ticks(deadline: u64) -> u64 {
    let freq = CNTFRQ_EL0.get().max(1) as u128;
    (deadline as u128 * freq).div_ceil(1_000_000_000).min(u64::MAX as u128) as u64
}

/// Sleeps in `WFI` until an interrupt is pending (the timer's, at
/// `deadline`, if it is not [`INFINITE`]), then acknowledges every pending
/// interrupt.
fn sleep_until_interrupt(deadline: u64) {
    if deadline != INFINITE {
        CNTV_CVAL_EL0.set(deadline_ticks(deadline));
        CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
    }
    // SAFETY: ISB makes the timer's set-up take effect before the WFI,
    // which only pauses this core; neither touches memory.
    unsafe { asm!("isb", "wfi", options(nostack, preserves_flags)) };
    if deadline != INFINITE {
        CNTV_CTL_EL0.set(0);
        // SAFETY: a barrier: the timer's line drops before the drain.
        unsafe { asm!("isb", options(nostack, preserves_flags)) };
    }
    // Ends with the barrier that keeps the condition's loads after it.
    crate::gic::drain();
    WFI_COMPLETIONS[crate::cpu::index()].fetch_add(1, Ordering::Relaxed);
}

impl Waiter for EventWaiter {
    fn now(&self) -> u64 {
        let ticks = CNTVCT_EL0.get() as u128;
        let freq = CNTFRQ_EL0.get().max(1) as u128;
        (ticks * 1_000_000_000 / freq) as u64
    }

    fn wait_until_deadline(&self, done: &dyn Fn() -> bool, deadline: u64) -> bool {
        let wfi = wakes_wfi(crate::cpu::index());
        loop {
            if done() {
                return true;
            }
            if deadline != INFINITE && self.now() >= deadline {
                return false;
            }
            if wfi {
                sleep_until_interrupt(deadline);
            } else {
                // SAFETY: WFE only pauses this core. Without `nomem` the
                // compiler keeps `done()`'s loads on the side of it they
                // are written on.
                unsafe { asm!("wfe", options(nostack, preserves_flags)) };
            }
        }
    }

    fn wake_all(&self) {
        // SAFETY: a barrier and an event; neither touches memory. Without
        // `nomem` the compiler emits every earlier store before them.
        unsafe { asm!("dsb ish", "sev", options(nostack, preserves_flags)) };
        crate::gic::send_wake_to_others();
    }
}
