//! vm-core's [`Waiter`] on aarch64: `WFE` to sleep, `SEV` to wake, the
//! generic timer's virtual count for the clock.
//!
//! A waiter checks its condition, then executes `WFE`; a waker changes the
//! state, then `DSB ISH` (the change is visible to every core before the
//! event is) and `SEV` (sets every core's event register). A `SEV` that
//! lands between a waiter's check and its `WFE` leaves the event register
//! set, so that `WFE` returns at once and the condition is checked again:
//! no wake-up is lost. `WFE` may also return for other reasons; the loop
//! checks again. The timer's event stream (`enable_event_stream`) wakes
//! every `WFE` about every 100 µs, so a waiter also sees its deadline pass
//! when nobody calls [`Waiter::wake_all`].

use aarch64_cpu::registers::{ReadWriteable, Readable, CNTFRQ_EL0, CNTKCTL_EL1, CNTVCT_EL0};
use core::arch::asm;
use vm_core::platform::{Waiter, INFINITE};

/// Waiting on any condition shared between cores: [`Waiter::wake_all`]
/// wakes every core waiting on any condition.
pub struct EventWaiter;

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

impl Waiter for EventWaiter {
    fn now(&self) -> u64 {
        let ticks = CNTVCT_EL0.get() as u128;
        let freq = CNTFRQ_EL0.get().max(1) as u128;
        (ticks * 1_000_000_000 / freq) as u64
    }

    fn wait_until_deadline(&self, done: &dyn Fn() -> bool, deadline: u64) -> bool {
        loop {
            if done() {
                return true;
            }
            if deadline != INFINITE && self.now() >= deadline {
                return false;
            }
            // SAFETY: WFE only pauses this core. Without `nomem` the compiler
            // keeps `done()`'s loads on the side of it they are written on.
            unsafe { asm!("wfe", options(nostack, preserves_flags)) };
        }
    }

    fn wake_all(&self) {
        // SAFETY: a barrier and an event; neither touches memory. Without
        // `nomem` the compiler emits every earlier store before them.
        unsafe { asm!("dsb ish", "sev", options(nostack, preserves_flags)) };
    }
}
