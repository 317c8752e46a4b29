//! An object's signals (`zx_signals_t`, digest §1.9) and those who watch
//! them: the waiting threads of `object_wait_one`, which re-check after the
//! platform's [`Waiter::wake_all`], and the one-shot observers of
//! `object_wait_async`.
//!
//! The signal word sits behind its own lock, a leaf of the lock order
//! (crate docs): a waiter's condition may read it. An observer is asked
//! whether a change triggers it under that lock, so each fires at most
//! once, and fired with no lock held, so it may queue a packet on a port
//! (another leaf).

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::platform::Waiter;
use crate::sync::Mutex;

/// `ZX_VMO_ZERO_CHILDREN` (`__ZX_OBJECT_SIGNALED`, digest §1.9): the VMO
/// has no children.
pub const VMO_ZERO_CHILDREN: u32 = 1 << 3;

/// A one-shot watcher of an object's signals.
pub trait SignalObserver: Send + Sync {
    /// Whether the signals going from `previous` to `current` trigger the
    /// observer; `previous` is `None` when it is registered. Called under
    /// the signals' lock: it must take no lock.
    fn triggered(&self, previous: Option<u32>, current: u32) -> bool;
    /// The observer triggered with the signals `observed`; it is removed.
    /// Called with no VM lock held.
    fn fire(&self, observed: u32);
}

struct State {
    active: u32,
    /// Observers not triggered yet, each with the tag that cancels it.
    observers: Vec<(u64, Arc<dyn SignalObserver>)>,
}

/// The signal word of one object and its observers.
pub struct Signals {
    state: Mutex<State>,
}

impl Signals {
    /// Signals with `active` asserted and no observer.
    pub fn new(active: u32) -> Signals {
        Signals { state: Mutex::new(State { active, observers: Vec::new() }) }
    }

    /// The signals asserted now.
    pub fn active(&self) -> u32 {
        self.state.lock().active
    }

    /// Sets the signals to `f(current)`; fires the observers the change
    /// triggers and wakes `waiter`'s waiters. `f` runs under the lock, so
    /// of racing updates the last one decides the final word.
    pub(crate) fn update(&self, f: impl FnOnce(u32) -> u32, waiter: &dyn Waiter) {
        let (fired, active) = {
            let mut state = self.state.lock();
            let previous = state.active;
            state.active = f(previous);
            if state.active == previous {
                return;
            }
            let active = state.active;
            let mut fired = Vec::new();
            state.observers.retain(|(_, o)| {
                let hit = o.triggered(Some(previous), active);
                if hit {
                    fired.push(o.clone());
                }
                !hit
            });
            (fired, active)
        };
        for observer in fired {
            observer.fire(active);
        }
        waiter.wake_all();
    }

    /// Registers `observer` under `tag`; it fires at once if the current
    /// signals trigger it.
    pub fn observe(&self, tag: u64, observer: Arc<dyn SignalObserver>) {
        let active = {
            let mut state = self.state.lock();
            let active = state.active;
            if !observer.triggered(None, active) {
                state.observers.push((tag, observer));
                return;
            }
            active
        };
        observer.fire(active);
    }

    /// Removes the observers registered under `tag` that have not fired;
    /// returns how many there were.
    pub fn cancel(&self, tag: u64) -> usize {
        let mut state = self.state.lock();
        let before = state.observers.len();
        state.observers.retain(|(t, _)| *t != tag);
        before - state.observers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockWaiter;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Fires when any of `mask` is asserted; records what it saw.
    struct Level {
        mask: u32,
        seen: AtomicU32,
    }

    impl SignalObserver for Level {
        fn triggered(&self, _: Option<u32>, current: u32) -> bool {
            current & self.mask != 0
        }
        fn fire(&self, observed: u32) {
            self.seen.fetch_add(observed | 0x100, Ordering::SeqCst);
        }
    }

    #[test]
    fn an_observer_fires_once_when_triggered() {
        let waiter = MockWaiter::new();
        let signals = Signals::new(0);
        let level = Arc::new(Level { mask: 1, seen: AtomicU32::new(0) });
        signals.observe(7, level.clone());
        signals.update(|s| s | 2, &waiter);
        assert_eq!(level.seen.load(Ordering::SeqCst), 0);
        signals.update(|s| s | 1, &waiter);
        assert_eq!(level.seen.load(Ordering::SeqCst), 0x103);
        signals.update(|s| s & !1, &waiter);
        signals.update(|s| s | 1, &waiter);
        assert_eq!(level.seen.load(Ordering::SeqCst), 0x103, "one-shot");
        assert_eq!(signals.cancel(7), 0);
    }

    #[test]
    fn a_satisfied_observer_fires_on_registration_and_cancel_removes_others() {
        let signals = Signals::new(1);
        let now = Arc::new(Level { mask: 1, seen: AtomicU32::new(0) });
        signals.observe(1, now.clone());
        assert_eq!(now.seen.load(Ordering::SeqCst), 0x101);
        let later = Arc::new(Level { mask: 4, seen: AtomicU32::new(0) });
        signals.observe(2, later.clone());
        assert_eq!(signals.cancel(2), 1);
        signals.update(|s| s | 4, &MockWaiter::new());
        assert_eq!(later.seen.load(Ordering::SeqCst), 0);
        assert_eq!(signals.active(), 5);
    }
}
