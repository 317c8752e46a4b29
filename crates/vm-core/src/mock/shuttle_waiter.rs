//! `ShuttleWaiter` (feature `shuttle`): [`MockWaiter`](super::MockWaiter)'s
//! protocol over shuttle's `Mutex` and `Condvar`, so that a schedule test
//! explores every interleaving of waiting and waking, and a wait nobody
//! ends is reported as a deadlock.

use shuttle::sync::{Condvar, Mutex};

use crate::platform::{Waiter, INFINITE};

/// A [`Waiter`] for threads of a shuttle execution; create it inside the
/// execution. Conditions are checked with its mutex held and
/// [`Waiter::wake_all`] takes it too, so a wake that follows a state change
/// is never lost.
///
/// Shuttle does not model time: the clock stands at 0, and a finite
/// deadline passes as soon as the condition is found false once (a timeout
/// may fire at any moment).
#[derive(Default)]
pub struct ShuttleWaiter {
    lock: Mutex<()>,
    cond: Condvar,
}

impl ShuttleWaiter {
    pub fn new() -> ShuttleWaiter {
        ShuttleWaiter::default()
    }
}

impl Waiter for ShuttleWaiter {
    fn now(&self) -> u64 {
        0
    }

    fn wait_until_deadline(&self, done: &dyn Fn() -> bool, deadline: u64) -> bool {
        let mut guard = self.lock.lock().unwrap();
        while !done() {
            if deadline != INFINITE {
                return false;
            }
            guard = self.cond.wait(guard).unwrap();
        }
        true
    }

    fn wake_all(&self) {
        let _guard = self.lock.lock().unwrap();
        self.cond.notify_all();
    }
}
