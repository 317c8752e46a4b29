//! vm-core's [`Waiter`] on aarch64: `WFE` to sleep, `SEV` to wake.
//!
//! A waiter checks its condition, then executes `WFE`; a waker changes the
//! state, then `DSB ISH` (the change is visible to every core before the
//! event is) and `SEV` (sets every core's event register). A `SEV` that
//! lands between a waiter's check and its `WFE` leaves the event register
//! set, so that `WFE` returns at once and the condition is checked again:
//! no wake-up is lost. `WFE` may also return for other reasons; the loop
//! checks again.

use core::arch::asm;
use vm_core::platform::Waiter;

/// Waiting on any condition shared between cores: [`Waiter::wake_all`]
/// wakes every core waiting on any condition.
pub struct EventWaiter;

impl Waiter for EventWaiter {
    fn wait_until(&self, done: &dyn Fn() -> bool) {
        while !done() {
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
