//! `zx_port_create`, `zx_port_queue`, `zx_port_wait` and
//! `zx_clock_get_monotonic`, the clock their deadlines use.

use alloc::sync::Arc;

use vm_core::platform::INFINITE;

use crate::handle::Handle;
use crate::object::KernelObject;
use crate::port::{Port, PortPacket, ZX_PORT_BIND_TO_INTERRUPT, ZX_TIME_INFINITE};
use crate::{Rights, Status, Zx};

impl Zx {
    /// `zx_clock_get_monotonic`: nanoseconds on the platform's monotonic
    /// clock, the clock of `port_wait`'s deadlines.
    pub fn clock_get_monotonic(&self) -> i64 {
        self.context().waiter.now().min(i64::MAX as u64 - 1) as i64
    }

    /// `zx_deadline_after`: the deadline `nanoseconds` from now.
    pub fn deadline_after(&self, nanoseconds: i64) -> i64 {
        self.clock_get_monotonic().saturating_add(nanoseconds)
    }

    /// `zx_port_create`: options 0; `ZX_PORT_BIND_TO_INTERRUPT` is
    /// NOT_SUPPORTED (no interrupts reach ports here), anything else
    /// INVALID_ARGS. The handle has [`Rights::DEFAULT_PORT`].
    pub fn port_create(&self, options: u32) -> Result<Handle, Status> {
        match options {
            0 => {}
            ZX_PORT_BIND_TO_INTERRUPT => return Err(Status::NotSupported),
            _ => return Err(Status::InvalidArgs),
        }
        let port = Arc::new(Port::new(self.context().waiter.clone()));
        Ok(self.add_handle(KernelObject::Port(port), Rights::DEFAULT_PORT))
    }

    /// `zx_port_queue`: queues a user packet; needs [`Rights::WRITE`]. The
    /// packet's type is set to `ZX_PKT_TYPE_USER` whatever it was; its key,
    /// status and payload are kept. SHOULD_WAIT when the port already holds
    /// [`MAX_PENDING_USER_PACKETS`](crate::port::MAX_PENDING_USER_PACKETS)
    /// user packets.
    pub fn port_queue(&self, handle: Handle, packet: &PortPacket) -> Result<(), Status> {
        let port = self.port(handle, Rights::WRITE)?;
        port.queue_user(PortPacket::user(packet.key, packet.status, packet.payload))
    }

    /// `zx_port_wait`: the oldest packet, waiting for one until `deadline`
    /// (on [`Zx::clock_get_monotonic`]'s clock; [`ZX_TIME_INFINITE`](crate::port::ZX_TIME_INFINITE) never
    /// passes, a past deadline only looks); needs [`Rights::READ`].
    /// TIMED_OUT when the deadline passes with no packet.
    pub fn port_wait(&self, handle: Handle, deadline: i64) -> Result<PortPacket, Status> {
        let port = self.port(handle, Rights::READ)?;
        let deadline = if deadline == ZX_TIME_INFINITE { INFINITE } else { deadline.max(0) as u64 };
        port.wait(deadline)
    }
}
