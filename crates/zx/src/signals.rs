//! Signals (`zx_signals_t`, digest §1.9) as `object_wait_one` and
//! `object_wait_async` see them, and the observer that turns a triggered
//! `object_wait_async` into a `ZX_PKT_TYPE_SIGNAL_ONE` packet.

use alloc::sync::Arc;

use vm_core::platform::Waiter;
use vm_core::signals::SignalObserver;

use crate::port::{Port, SignalPacket};

/// `ZX_VMO_ZERO_CHILDREN`: asserted while the VMO has no child.
pub const ZX_VMO_ZERO_CHILDREN: u32 = vm_core::signals::VMO_ZERO_CHILDREN;
/// `ZX_SIGNAL_HANDLE_CLOSED`: reported with CANCELED when the handle waited
/// on is closed during the wait.
pub const ZX_SIGNAL_HANDLE_CLOSED: u32 = 1 << 23;

/// `ZX_WAIT_ASYNC_ONCE`: the packet comes when the signals are (or
/// become) asserted.
pub const ZX_WAIT_ASYNC_ONCE: u32 = 0;
/// `ZX_WAIT_ASYNC_TIMESTAMP`: the packet carries the time it triggered.
pub const ZX_WAIT_ASYNC_TIMESTAMP: u32 = 1 << 0;
/// `ZX_WAIT_ASYNC_EDGE`: only a change from deasserted to asserted
/// triggers, not signals already asserted when the wait begins.
pub const ZX_WAIT_ASYNC_EDGE: u32 = 1 << 1;
/// `ZX_WAIT_ASYNC_BOOT_TIMESTAMP`: the time on the boot clock, which here
/// is the monotonic clock (nothing suspends).
pub const ZX_WAIT_ASYNC_BOOT_TIMESTAMP: u32 = 1 << 2;

/// An `object_wait_async` in progress: one packet to `port` with `key`
/// once any of `trigger` is asserted.
pub(crate) struct PortObserver {
    pub(crate) port: Arc<Port>,
    pub(crate) key: u64,
    pub(crate) trigger: u32,
    pub(crate) edge: bool,
    /// The clock a timestamp is read from, when one was asked for.
    pub(crate) clock: Option<Arc<dyn Waiter>>,
}

impl SignalObserver for PortObserver {
    fn triggered(&self, previous: Option<u32>, current: u32) -> bool {
        let asserted = current & self.trigger != 0;
        match previous {
            None => asserted && !self.edge,
            Some(previous) => asserted && previous & self.trigger == 0,
        }
    }

    fn fire(&self, observed: u32) {
        let timestamp = self.clock.as_ref().map_or(0, |c| c.now().min(i64::MAX as u64) as i64);
        let packet = SignalPacket { trigger: self.trigger, observed, count: 1, timestamp };
        self.port.queue_signal(self.key, packet);
    }
}
