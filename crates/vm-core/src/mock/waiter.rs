//! `MockWaiter`: blocking with a std `Mutex` + `Condvar`.

use std::sync::{Condvar, Mutex};

use crate::platform::Waiter;

/// A [`Waiter`] for host threads. Conditions are checked with the internal
/// mutex held and [`Waiter::wake_all`] takes it too, so a wake that follows a
/// state change is never lost.
#[derive(Default)]
pub struct MockWaiter {
    lock: Mutex<()>,
    cond: Condvar,
}

impl MockWaiter {
    /// A waiter with no one waiting.
    pub fn new() -> MockWaiter {
        MockWaiter::default()
    }
}

impl Waiter for MockWaiter {
    fn wait_until(&self, done: &dyn Fn() -> bool) {
        let mut guard = self.lock.lock().unwrap();
        while !done() {
            guard = self.cond.wait(guard).unwrap();
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
}
