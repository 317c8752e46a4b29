//! Ports and their packets (`zx_port_packet_t`, digest §1.9, §2.15): a queue
//! of packets that `port_wait` takes from, filled by `port_queue` (user
//! packets) and by pagers (page requests).

use alloc::collections::VecDeque;
use alloc::sync::Arc;

use vm_core::page_source::{PageRequestPacket, PagerCommand, PagerPort};
use vm_core::platform::Waiter;
use vm_core::Status;

/// `ZX_TIME_INFINITE`: a `port_wait` deadline that never passes.
pub const ZX_TIME_INFINITE: i64 = i64::MAX;
/// `ZX_PKT_TYPE_USER`.
pub const ZX_PKT_TYPE_USER: u32 = 0x00;
/// `ZX_PKT_TYPE_SIGNAL_ONE`: an `object_wait_async` observer triggered.
pub const ZX_PKT_TYPE_SIGNAL_ONE: u32 = 0x01;
/// `ZX_PKT_TYPE_PAGE_REQUEST`.
pub const ZX_PKT_TYPE_PAGE_REQUEST: u32 = 0x09;
/// `ZX_PAGER_VMO_READ`.
pub const ZX_PAGER_VMO_READ: u16 = 0;
/// `ZX_PAGER_VMO_COMPLETE`.
pub const ZX_PAGER_VMO_COMPLETE: u16 = 1;
/// `ZX_PAGER_VMO_DIRTY`.
pub const ZX_PAGER_VMO_DIRTY: u16 = 2;
/// `ZX_PORT_BIND_TO_INTERRUPT`: a `port_create` option this platform has
/// no interrupts for.
pub const ZX_PORT_BIND_TO_INTERRUPT: u32 = 1 << 0;

/// How many user packets a port holds before `port_queue` answers
/// SHOULD_WAIT (Zircon's `kMaxPendingPacketCount`).
pub const MAX_PENDING_USER_PACKETS: usize = 2049;

/// `zx_port_packet_t`: a key, a type, a status and a 32-byte payload whose
/// meaning depends on the type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortPacket {
    pub key: u64,
    /// `packet_type` in C is `type`.
    pub packet_type: u32,
    pub status: i32,
    pub payload: [u8; 32],
}

/// `zx_packet_page_request_t`: the payload of a
/// [`ZX_PKT_TYPE_PAGE_REQUEST`] packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// `ZX_PAGER_VMO_READ`, `_COMPLETE` or `_DIRTY`.
    pub command: u16,
    pub flags: u16,
    /// Bytes, page-aligned, in the pager VMO.
    pub offset: u64,
    pub length: u64,
}

/// `zx_packet_signal_t`: the payload of a [`ZX_PKT_TYPE_SIGNAL_ONE`]
/// packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalPacket {
    /// The signals the wait was for.
    pub trigger: u32,
    /// The object's signals when it triggered.
    pub observed: u32,
    /// Always 1 (one-shot waits).
    pub count: u64,
    /// When it triggered (with `ZX_WAIT_ASYNC_TIMESTAMP`), else 0.
    pub timestamp: i64,
}

impl PortPacket {
    /// `sizeof(zx_port_packet_t)`.
    pub const SIZE: usize = 48;

    /// A signal packet with `key` and status OK.
    pub(crate) fn signal(key: u64, signal: SignalPacket) -> PortPacket {
        let mut payload = [0; 32];
        payload[0..4].copy_from_slice(&signal.trigger.to_ne_bytes());
        payload[4..8].copy_from_slice(&signal.observed.to_ne_bytes());
        payload[8..16].copy_from_slice(&signal.count.to_ne_bytes());
        payload[16..24].copy_from_slice(&signal.timestamp.to_ne_bytes());
        PortPacket { key, packet_type: ZX_PKT_TYPE_SIGNAL_ONE, status: 0, payload }
    }

    /// The signal packet this is, if it is one.
    pub fn signal_packet(&self) -> Option<SignalPacket> {
        if self.packet_type != ZX_PKT_TYPE_SIGNAL_ONE {
            return None;
        }
        let word = |i: usize| u32::from_ne_bytes(self.payload[i..i + 4].try_into().expect("4 bytes"));
        let long = |i: usize| u64::from_ne_bytes(self.payload[i..i + 8].try_into().expect("8 bytes"));
        Some(SignalPacket { trigger: word(0), observed: word(4), count: long(8), timestamp: long(16) as i64 })
    }

    /// A user packet, as `port_queue` takes it.
    pub fn user(key: u64, status: i32, payload: [u8; 32]) -> PortPacket {
        PortPacket { key, packet_type: ZX_PKT_TYPE_USER, status, payload }
    }

    fn page_request_packet(key: u64, request: PageRequestPacket) -> PortPacket {
        let mut payload = [0; 32];
        payload[0..2].copy_from_slice(&(request.command as u16).to_ne_bytes());
        payload[8..16].copy_from_slice(&request.offset.to_ne_bytes());
        payload[16..24].copy_from_slice(&request.length.to_ne_bytes());
        PortPacket { key, packet_type: ZX_PKT_TYPE_PAGE_REQUEST, status: 0, payload }
    }

    /// The page request this packet carries, if it is one.
    pub fn page_request(&self) -> Option<PageRequest> {
        if self.packet_type != ZX_PKT_TYPE_PAGE_REQUEST {
            return None;
        }
        let half = |i: usize| u16::from_ne_bytes([self.payload[i], self.payload[i + 1]]);
        let word = |i: usize| u64::from_ne_bytes(self.payload[i..i + 8].try_into().expect("8 bytes"));
        Some(PageRequest { command: half(0), flags: half(2), offset: word(8), length: word(16) })
    }

    /// The C layout: `key`, `type`, `status`, then the payload.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        out[0..8].copy_from_slice(&self.key.to_ne_bytes());
        out[8..12].copy_from_slice(&self.packet_type.to_ne_bytes());
        out[12..16].copy_from_slice(&self.status.to_ne_bytes());
        out[16..48].copy_from_slice(&self.payload);
        out
    }

    /// Reads the C layout of [`PortPacket::to_bytes`].
    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> PortPacket {
        let mut payload = [0; 32];
        payload.copy_from_slice(&bytes[16..48]);
        PortPacket {
            key: u64::from_ne_bytes(bytes[0..8].try_into().expect("8 bytes")),
            packet_type: u32::from_ne_bytes(bytes[8..12].try_into().expect("4 bytes")),
            status: i32::from_ne_bytes(bytes[12..16].try_into().expect("4 bytes")),
            payload,
        }
    }
}

struct Queue {
    /// Packets in arrival order, each with the id that cancels it.
    packets: VecDeque<(u64, PortPacket)>,
    next_id: u64,
    user: usize,
}

/// A port object.
pub(crate) struct Port {
    koid: u64,
    queue: spin::Mutex<Queue>,
    waiter: Arc<dyn Waiter>,
}

impl Port {
    pub(crate) fn new(waiter: Arc<dyn Waiter>) -> Port {
        let queue = spin::Mutex::new(Queue { packets: VecDeque::new(), next_id: 0, user: 0 });
        Port { koid: vm_core::vmo::next_koid(), queue, waiter }
    }

    pub(crate) fn koid(&self) -> u64 {
        self.koid
    }

    /// Queues a signal packet (not subject to the user-packet limit).
    pub(crate) fn queue_signal(&self, key: u64, signal: SignalPacket) {
        self.push(PortPacket::signal(key, signal));
    }

    /// Appends `packet` and wakes the waiters; returns its id. The queue
    /// lock is dropped before the wake-up: `port_wait`'s condition takes it
    /// with the waiter's own lock held.
    fn push(&self, packet: PortPacket) -> u64 {
        let id = self.enqueue(packet);
        self.waiter.wake_all();
        id
    }

    /// Appends `packet`, waking no one; returns its id.
    fn enqueue(&self, packet: PortPacket) -> u64 {
        let mut q = self.queue.lock();
        q.next_id += 1;
        let id = q.next_id;
        q.user += usize::from(packet.packet_type == ZX_PKT_TYPE_USER);
        q.packets.push_back((id, packet));
        id
    }

    /// `zx_port_queue`: SHOULD_WAIT when [`MAX_PENDING_USER_PACKETS`] user
    /// packets are pending.
    pub(crate) fn queue_user(&self, packet: PortPacket) -> Result<(), Status> {
        if self.queue.lock().user >= MAX_PENDING_USER_PACKETS {
            return Err(Status::ShouldWait);
        }
        self.push(packet);
        Ok(())
    }

    fn pop(&self) -> Option<PortPacket> {
        let mut q = self.queue.lock();
        let (_, packet) = q.packets.pop_front()?;
        q.user -= usize::from(packet.packet_type == ZX_PKT_TYPE_USER);
        Some(packet)
    }

    /// `zx_port_wait`: the oldest packet, waiting for one until `deadline`
    /// (nanoseconds on the waiter's clock; TIMED_OUT after it).
    pub(crate) fn wait(&self, deadline: u64) -> Result<PortPacket, Status> {
        loop {
            if let Some(packet) = self.pop() {
                return Ok(packet);
            }
            if !self.waiter.wait_until_deadline(&|| !self.queue.lock().packets.is_empty(), deadline) {
                return self.pop().ok_or(Status::TimedOut);
            }
        }
    }
}

impl PagerPort for Port {
    /// READ and DIRTY packets wake no one: vm-core wakes the waiter once
    /// it has dropped the family lock ([`PagerPort::queue_page_request`]).
    fn queue_page_request(&self, key: u64, packet: PageRequestPacket) -> u64 {
        let queued = PortPacket::page_request_packet(key, packet);
        if packet.command == PagerCommand::Complete {
            self.push(queued)
        } else {
            self.enqueue(queued)
        }
    }

    fn cancel_page_request(&self, id: u64) {
        self.queue.lock().packets.retain(|(pid, _)| *pid != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_round_trip_through_the_c_layout() {
        let request = PageRequestPacket { command: PagerCommand::Dirty, offset: 0x3000, length: 0x2000 };
        let p = PortPacket::page_request_packet(77, request);
        assert_eq!(PortPacket::from_bytes(&p.to_bytes()), p);
        assert_eq!(
            p.page_request(),
            Some(PageRequest { command: ZX_PAGER_VMO_DIRTY, flags: 0, offset: 0x3000, length: 0x2000 })
        );
        let user = PortPacket::user(5, -2, [9; 32]);
        assert_eq!(user.page_request(), None);
        let bytes = user.to_bytes();
        assert_eq!(&bytes[0..8], &5u64.to_ne_bytes());
        assert_eq!(&bytes[8..12], &ZX_PKT_TYPE_USER.to_ne_bytes());
        assert_eq!(&bytes[12..16], &(-2i32).to_ne_bytes());
    }
}
