//! `MockWaiter`: blocking with a std `Mutex` + `Condvar`, on the host's
//! monotonic clock.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::platform::{Waiter, INFINITE};

/// A [`Waiter`] for host threads. Conditions are checked with the internal
/// mutex held and [`Waiter::wake_all`] takes it too, so a wake that follows a
/// state change is never lost.
pub struct MockWaiter {
    epoch: Instant,
    lock: Mutex<()>,
    cond: Condvar,
}

impl Default for MockWaiter {
    fn default() -> Self {
        MockWaiter { epoch: Instant::now(), lock: Mutex::new(()), cond: Condvar::new() }
    }
}

impl MockWaiter {
    /// A waiter with no one waiting; its clock starts at 0.
    pub fn new() -> MockWaiter {
        MockWaiter::default()
    }
}

impl Waiter for MockWaiter {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn wait_until_deadline(&self, done: &dyn Fn() -> bool, deadline: u64) -> bool {
        let mut guard = self.lock.lock().unwrap();
        loop {
            if done() {
                return true;
            }
            if deadline == INFINITE {
                guard = self.cond.wait(guard).unwrap();
                continue;
            }
            let now = self.now();
            if now >= deadline {
                return false;
            }
            guard = self.cond.wait_timeout(guard, Duration::from_nanos(deadline - now)).unwrap().0;
        }
    }

    fn wake_all(&self) {
        let _guard = self.lock.lock().unwrap();
        self.cond.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn wait_returns_after_wake() {
        let w = Arc::new(MockWaiter::new());
        let flag = Arc::new(AtomicBool::new(false));
        let (w2, f2) = (w.clone(), flag.clone());
        let t = std::thread::spawn(move || {
            f2.store(true, Ordering::SeqCst);
            w2.wake_all();
        });
        w.wait_until(&|| flag.load(Ordering::SeqCst));
        t.join().unwrap();
        assert!(flag.load(Ordering::SeqCst));
    }

    #[test]
    fn a_deadline_ends_the_wait() {
        let w = MockWaiter::new();
        let start = w.now();
        assert!(!w.wait_until_deadline(&|| false, start + 2_000_000));
        assert!(w.now() >= start + 2_000_000, "not before the deadline");
        assert!(w.wait_until_deadline(&|| true, 0), "a true condition wins over a past deadline");
    }
}
