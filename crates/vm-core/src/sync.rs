//! The lock every vm-core structure uses: `spin::Mutex`, or with feature
//! `shuttle` the same lock made visible to the `shuttle` scheduler.
//!
//! Shuttle runs a test's threads one at a time and switches only at its
//! own primitives, so a thread spinning on a `spin::Mutex` that another
//! holds across such a switch (the family lock while a page-request packet
//! wakes the port's waiters, say) would spin forever. Under `shuttle`, a
//! lock taken inside a shuttle execution first takes a shuttle mutex: each
//! acquisition is a point where the schedule may switch threads, a
//! contended one blocks in the scheduler's sight (a lock cycle is reported
//! as a deadlock), and the spin lock under it is then always free. Outside
//! an execution (every other test of a `--all-features` run) it is the
//! plain spin lock.

#[cfg(not(feature = "shuttle"))]
pub(crate) use spin::Mutex;

#[cfg(feature = "shuttle")]
pub(crate) use shuttle_aware::Mutex;

#[cfg(feature = "shuttle")]
mod shuttle_aware {
    use core::ops::{Deref, DerefMut};

    /// `spin::Mutex`'s API over a spin lock and, inside a shuttle
    /// execution, a shuttle mutex taken first (see the module docs).
    pub(crate) struct Mutex<T> {
        scheduled: shuttle::sync::Mutex<()>,
        inner: spin::Mutex<T>,
    }

    /// Holds the spin lock and, inside a shuttle execution, the shuttle
    /// mutex; fields drop in order, the spin lock first.
    pub(crate) struct MutexGuard<'a, T> {
        inner: spin::MutexGuard<'a, T>,
        _scheduled: Option<shuttle::sync::MutexGuard<'a, ()>>,
    }

    impl<T> Mutex<T> {
        pub(crate) const fn new(value: T) -> Mutex<T> {
            Mutex { scheduled: shuttle::sync::Mutex::new(()), inner: spin::Mutex::new(value) }
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            let scheduled = shuttle::current::try_get_current_task()
                .map(|_| self.scheduled.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            MutexGuard { inner: self.inner.lock(), _scheduled: scheduled }
        }

        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.inner.get_mut()
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.inner
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            &mut self.inner
        }
    }
}
