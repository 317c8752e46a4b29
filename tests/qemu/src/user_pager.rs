//! A user pager in a process entered on every core, like Zircon's
//! `UserPager` test helper: a pager, its port, and the VMOs it creates, with
//! methods whose offsets and lengths are in pages; a pager loop that runs on
//! [`PAGER_CPU`]; and what the cases around it share (supplied content,
//! bounded waits, work on other cores).

use alloc::format;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use platform_virt::fault::{FatalFault, MappedVmo};
use platform_virt::process::Process;
use platform_virt::smp::{self, cpu_count, run_on, run_on_all};
use platform_virt::vm::AddressSpace;
use platform_virt::wait::EventWaiter;
use platform_virt::Boot;
use spin::Mutex;
use vm_core::platform::Waiter;
use zx::ops::{
    VmoDirtyRange, ZX_PAGER_OP_DIRTY, ZX_PAGER_OP_FAIL, ZX_PAGER_OP_WRITEBACK_BEGIN,
    ZX_PAGER_OP_WRITEBACK_END, ZX_PAGER_RESET_VMO_STATS, ZX_PAGER_VMO_STATS_MODIFIED,
    ZX_VMO_DIRTY_RANGE_IS_ZERO,
};
use zx::options::{ZX_VM_PERM_READ, ZX_VM_PERM_WRITE};
use zx::port::{
    ZX_PAGER_VMO_DIRTY, ZX_PAGER_VMO_READ, ZX_PKT_TYPE_PAGE_REQUEST, ZX_PKT_TYPE_USER, ZX_TIME_INFINITE,
};
use zx::{Access, Handle, PortPacket, Status, Zx};

pub const P: u64 = 4096;
pub const RW: u32 = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE;
/// The core the pager runs on.
pub const PAGER_CPU: usize = 1;
/// The cores that fault, all but the pager's.
pub const FAULTERS: [usize; 3] = [0, 2, 3];
/// How long anything that must happen (a packet, a core finishing, a core
/// blocking) is waited for before the case fails: never a measurement.
pub const PATIENCE_NS: i64 = 20_000_000_000;
/// The key of the user packet that stops a serving pager.
const STOP: u64 = u64::MAX;

/// The byte a supplied page holds at every offset: a tag of the VMO's key
/// and the page (the host tests' `tag`, Zircon's `GenerateBufferContents`).
pub fn tag(key: u64, page: u64) -> u8 {
    (key as u8).wrapping_mul(31).wrapping_add(page as u8).wrapping_add(1)
}

/// A word of page `page` as supplied.
pub fn tagged_word(key: u64, page: u64) -> u64 {
    u64::from_ne_bytes([tag(key, page); 8])
}

/// The bytes of pages `pages` as supplied.
pub fn tagged(key: u64, pages: impl Iterator<Item = u64>) -> Vec<u8> {
    pages.flat_map(|p| vec![tag(key, p); P as usize]).collect()
}

/// Waits until `done`, for at most [`PATIENCE_NS`]; fails the case naming
/// `what` otherwise.
pub fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = EventWaiter.now() + PATIENCE_NS as u64;
    assert!(EventWaiter.wait_until_deadline(&done, deadline), "{what} did not happen in time");
}

/// Counts this core in, then waits until the count reaches `n`.
pub fn rendezvous(count: &AtomicUsize, n: usize) {
    count.fetch_add(1, SeqCst);
    EventWaiter.wake_all();
    wait_for("the rendezvous", || count.load(SeqCst) >= n);
}

/// A closure running on another core, whose result [`Pending::join`] waits
/// for a bounded time.
pub struct Pending<T> {
    cpu: usize,
    slot: Arc<Mutex<Option<T>>>,
    job: smp::Handle<()>,
}

/// Runs `f` on `cpu` ([`run_on`]: at once if it is this CPU).
pub fn spawn<T: Send + 'static>(cpu: usize, f: impl FnOnce() -> T + Send + 'static) -> Pending<T> {
    let slot = Arc::new(Mutex::new(None));
    let out = slot.clone();
    let job = run_on(cpu, move || {
        let value = f();
        *out.lock() = Some(value);
        EventWaiter.wake_all();
    });
    Pending { cpu, slot, job }
}

impl<T> Pending<T> {
    /// Whether the closure has returned.
    pub fn is_done(&self) -> bool {
        self.slot.lock().is_some()
    }

    /// The closure's result; fails the case if it does not come within
    /// [`PATIENCE_NS`].
    pub fn join(self) -> T {
        wait_for(&format!("core {}'s return", self.cpu), || self.slot.lock().is_some());
        self.job.join();
        self.slot.lock().take().expect("the result is in")
    }
}

/// A page request as the cases compare them: (key, command, first page,
/// page count).
pub type Request = (u64, u16, u64, u64);

/// A packet a pager reads: a page request, or the user packet that stops it.
#[derive(Debug, PartialEq)]
pub enum Packet {
    Request(Request),
    Stop,
}

/// One-page `command`s (READ or DIRTY) of `pages` with `key`, sorted.
pub fn one_page_requests(key: u64, command: u16, pages: impl Iterator<Item = u64>) -> Vec<Request> {
    let mut requests: Vec<Request> = pages.map(|page| (key, command, page, 1)).collect();
    requests.sort_unstable();
    requests
}

/// One-page READs of `pages` with `key`, sorted.
pub fn one_page_reads(key: u64, pages: impl Iterator<Item = u64>) -> Vec<Request> {
    one_page_requests(key, ZX_PAGER_VMO_READ, pages)
}

/// A dirty range as `pager_query_dirty_ranges` reports it, in pages:
/// (first page, page count, whether it is a zero range).
pub type DirtyPages = (u64, u64, bool);

/// How a serving pager answers a READ: with the tagged content, or with
/// what a "disk" holds for the page.
#[derive(Clone)]
pub enum Content {
    Tagged,
    Disk(Arc<Mutex<Vec<u8>>>),
}

/// A pager and its port in a process entered on every core.
#[derive(Clone)]
pub struct UserPager {
    pub p: Arc<Process>,
    pub pager: Handle,
    pub port: Handle,
}

impl UserPager {
    pub fn zx(&self) -> &Zx {
        &self.p.zx
    }

    /// A pager VMO of `pages` pages whose requests carry `key`.
    pub fn vmo(&self, pages: u64, key: u64) -> Handle {
        self.vmo_with(0, pages, key)
    }

    /// [`Self::vmo`] with `options` (`ZX_VMO_TRAP_DIRTY`, ...).
    pub fn vmo_with(&self, options: u32, pages: u64, key: u64) -> Handle {
        self.zx().pager_create_vmo(self.pager, options, self.port, key, pages * P).unwrap()
    }

    /// Maps all `pages` pages of `vmo` read-write anywhere in the root VMAR.
    pub fn map(&self, vmo: Handle, pages: u64) -> u64 {
        self.zx().vmar_map(self.zx().root_vmar(), RW, 0, vmo, 0, pages * P).unwrap()
    }

    pub fn unmap(&self, va: u64, pages: u64) {
        self.zx().vmar_unmap(self.zx().root_vmar(), va, pages * P).unwrap();
    }

    /// The koid of `vmo`, as a fatal fault names it.
    pub fn koid(&self, vmo: Handle) -> u64 {
        self.zx().vmo_object(vmo).unwrap().koid()
    }

    /// `[first, first + pages)` of `vmo`, through `vmo_read`.
    pub fn read(&self, vmo: Handle, first: u64, pages: u64) -> Vec<u8> {
        let mut bytes = vec![0; (pages * P) as usize];
        self.zx().vmo_read(vmo, &mut bytes, first * P).unwrap();
        bytes
    }

    /// `pager_supply_pages` of `[first, first + pages)` of `vmo` from an aux
    /// VMO holding `bytes`.
    pub fn supply_bytes(&self, vmo: Handle, first: u64, bytes: &[u8]) -> Result<(), Status> {
        let aux = self.zx().vmo_create(bytes.len() as u64, 0)?;
        let result = self.zx().vmo_write(aux, bytes, 0).and_then(|()| {
            self.zx().pager_supply_pages(self.pager, vmo, first * P, bytes.len() as u64, aux, 0)
        });
        self.zx().handle_close(aux).unwrap();
        result
    }

    /// [`Self::supply_bytes`] of the tags of `[first, first + pages)` of
    /// `vmo` (created with `key`).
    pub fn try_supply(&self, vmo: Handle, key: u64, first: u64, pages: u64) -> Result<(), Status> {
        self.supply_bytes(vmo, first, &tagged(key, first..first + pages))
    }

    pub fn supply(&self, vmo: Handle, key: u64, first: u64, pages: u64) {
        self.try_supply(vmo, key, first, pages).unwrap();
    }

    /// `pager_op_range(ZX_PAGER_OP_FAIL)` of `[first, first + pages)` with
    /// `status`, sign-extended as the syscall takes it.
    pub fn try_fail(&self, vmo: Handle, first: u64, pages: u64, status: Status) -> Result<(), Status> {
        let data = status.into_raw() as i64 as u64;
        self.zx().pager_op_range(self.pager, ZX_PAGER_OP_FAIL, vmo, first * P, pages * P, data)
    }

    /// `pager_op_range(op)` of `[first, first + pages)` with data 0.
    fn op(&self, op: u32, vmo: Handle, first: u64, pages: u64) {
        self.zx().pager_op_range(self.pager, op, vmo, first * P, pages * P, 0).unwrap();
    }

    /// `ZX_PAGER_OP_DIRTY` of `[first, first + pages)`.
    pub fn dirty(&self, vmo: Handle, first: u64, pages: u64) {
        self.op(ZX_PAGER_OP_DIRTY, vmo, first, pages);
    }

    /// `ZX_PAGER_OP_WRITEBACK_BEGIN` of `[first, first + pages)`.
    pub fn begin(&self, vmo: Handle, first: u64, pages: u64) {
        self.op(ZX_PAGER_OP_WRITEBACK_BEGIN, vmo, first, pages);
    }

    /// `ZX_PAGER_OP_WRITEBACK_END` of `[first, first + pages)`.
    pub fn end(&self, vmo: Handle, first: u64, pages: u64) {
        self.op(ZX_PAGER_OP_WRITEBACK_END, vmo, first, pages);
    }

    /// Every dirty range of `vmo`'s `pages` pages, in pages, through
    /// `pager_query_dirty_ranges` with a buffer that holds them all.
    pub fn dirty_ranges(&self, vmo: Handle, pages: u64) -> Vec<DirtyPages> {
        self.dirty_ranges_in(vmo, 0, pages)
    }

    /// [`Self::dirty_ranges`] of `[first, first + pages)`, each inside it.
    pub fn dirty_ranges_in(&self, vmo: Handle, first: u64, pages: u64) -> Vec<DirtyPages> {
        let mut buffer = vec![0; VmoDirtyRange::SIZE * pages as usize];
        let (actual, avail) =
            self.zx().pager_query_dirty_ranges(self.pager, vmo, first * P, pages * P, &mut buffer).unwrap();
        assert_eq!(actual, avail, "the buffer holds every range");
        VmoDirtyRange::from_bytes(&buffer, actual)
            .into_iter()
            .map(|range| {
                assert!(range.offset % P == 0 && range.length % P == 0, "unaligned range {range:?}");
                assert_eq!(range.options & !ZX_VMO_DIRTY_RANGE_IS_ZERO, 0, "unknown options");
                let inside = range.offset >= first * P && range.offset + range.length <= (first + pages) * P;
                assert!(inside, "{range:?} outside the pages {first}..{}", first + pages);
                (range.offset / P, range.length / P, range.options == ZX_VMO_DIRTY_RANGE_IS_ZERO)
            })
            .collect()
    }

    /// The writeback loop of `pager_op_range.md` over `[first, first +
    /// pages)` of `vmo`: query the dirty ranges, and for each BEGIN, write
    /// it out to `disk` (zeros for a zero range), END. Returns whether
    /// anything was dirty.
    pub fn write_back(&self, vmo: Handle, first: u64, pages: u64, disk: &Mutex<Vec<u8>>) -> bool {
        let ranges = self.dirty_ranges_in(vmo, first, pages);
        for &(first, count, zero) in &ranges {
            self.begin(vmo, first, count);
            let bytes = if zero { vec![0; (count * P) as usize] } else { self.read(vmo, first, count) };
            disk.lock()[(first * P) as usize..((first + count) * P) as usize].copy_from_slice(&bytes);
            self.end(vmo, first, count);
        }
        !ranges.is_empty()
    }

    /// `pager_query_vmo_stats`: whether `vmo` was modified since the last
    /// reset, resetting it.
    pub fn modified_and_reset(&self, vmo: Handle) -> bool {
        let mut stats = [0; 4];
        self.zx().pager_query_vmo_stats(self.pager, vmo, ZX_PAGER_RESET_VMO_STATS, &mut stats).unwrap();
        match u32::from_ne_bytes(stats) {
            0 => false,
            ZX_PAGER_VMO_STATS_MODIFIED => true,
            other => panic!("stats {other:#x}"),
        }
    }

    /// The next packet, waiting at most [`PATIENCE_NS`] (failing the case
    /// after), its fields checked as [`Self::packet_by`] checks them.
    pub fn next_packet(&self) -> Packet {
        self.packet_by(self.zx().deadline_after(PATIENCE_NS))
    }

    /// The next packet, waiting until `deadline`, its fields checked: a
    /// page request with status 0, flags 0 and a page-aligned range, or the
    /// stop packet exactly as queued.
    fn packet_by(&self, deadline: i64) -> Packet {
        let packet = match self.zx().port_wait(self.port, deadline) {
            Ok(packet) => packet,
            Err(status) => panic!("the pager waited for a packet: {status:?}"),
        };
        if packet.packet_type == ZX_PKT_TYPE_USER {
            assert_eq!(packet, PortPacket::user(STOP, 0, [0; 32]), "only the stop packet is a user packet");
            return Packet::Stop;
        }
        assert_eq!(packet.packet_type, ZX_PKT_TYPE_PAGE_REQUEST);
        assert_eq!(packet.status, 0);
        let r = packet.page_request().expect("a page request");
        assert_eq!(r.flags, 0);
        assert!(r.offset % P == 0 && r.length % P == 0, "unaligned request {r:?}");
        Packet::Request((packet.key, r.command, r.offset / P, r.length / P))
    }

    /// The next packet, which must be a page request.
    pub fn next_request(&self) -> Request {
        match self.next_packet() {
            Packet::Request(r) => r,
            Packet::Stop => panic!("a stop packet where a request was due"),
        }
    }

    /// Asserts that the port holds no packet now.
    pub fn expect_no_packet(&self) {
        assert_eq!(self.zx().port_wait(self.port, 0), Err(Status::TimedOut), "an unexpected packet");
    }

    /// Waits until `count` operations wait on `vmo`'s pager.
    pub fn wait_blocked(&self, vmo: Handle, count: usize) {
        let vmo = self.zx().vmo_object(vmo).unwrap();
        wait_for(&format!("{count} blocked operations"), || vmo.pager_waiters() == count);
    }

    /// Runs a pager on [`PAGER_CPU`] for the VMOs of `vmos` (key, handle)
    /// until [`stop`](Self::stop): it answers every READ with their tagged
    /// pages and every DIRTY with `ZX_PAGER_OP_DIRTY`, and returns the
    /// requests it answered, in order. It waits for packets without a
    /// deadline, since the case decides when it is done: [`Self::stop`]
    /// always queues the packet that ends it.
    pub fn serve(&self, vmos: &[(u64, Handle)]) -> Pending<Vec<Request>> {
        self.serve_from(vmos, Content::Tagged)
    }

    /// [`Self::serve`], answering READs with `content`.
    pub fn serve_from(&self, vmos: &[(u64, Handle)], content: Content) -> Pending<Vec<Request>> {
        let (up, vmos) = (self.clone(), vmos.to_vec());
        spawn(PAGER_CPU, move || {
            let mut answered = Vec::new();
            loop {
                let request = match up.packet_by(ZX_TIME_INFINITE) {
                    Packet::Stop => return answered,
                    Packet::Request(request) => request,
                };
                let (key, command, first, pages) = request;
                let (_, vmo) = *vmos.iter().find(|(k, _)| *k == key).expect("a request for one of ours");
                match (command, &content) {
                    (ZX_PAGER_VMO_READ, Content::Tagged) => up.supply(vmo, key, first, pages),
                    (ZX_PAGER_VMO_READ, Content::Disk(disk)) => {
                        let bytes =
                            disk.lock()[(first * P) as usize..((first + pages) * P) as usize].to_vec();
                        up.supply_bytes(vmo, first, &bytes).unwrap();
                    }
                    (ZX_PAGER_VMO_DIRTY, _) => up.dirty(vmo, first, pages),
                    _ => panic!("an unexpected request {request:?}"),
                }
                answered.push(request);
            }
        })
    }

    /// Stops the pager [`serve`](Self::serve) started; returns the requests
    /// it answered, sorted. Every operation that needed a page has
    /// returned by now, so none may still be queued.
    pub fn stop(&self, pager: Pending<Vec<Request>>) -> Vec<Request> {
        self.zx().port_queue(self.port, &PortPacket::user(STOP, 0, [0; 32])).unwrap();
        let mut answered = pager.join();
        answered.sort_unstable();
        self.expect_no_packet();
        answered
    }
}

/// Runs `scenario` with a pager and a port in a new process entered on
/// every core; once the process is gone, every frame must be back. (The
/// harness checks the case's table writes, barriers and TLBIs against the
/// break-before-make and TLB maintenance rules.)
pub fn with_pager(boot: &Boot, scenario: impl FnOnce(&UserPager)) {
    with_pager_in(boot, Process::new, scenario)
}

/// [`with_pager`] in the process `make` makes (one with a frame budget).
pub fn with_pager_in(
    boot: &Boot,
    make: impl FnOnce() -> Result<Process, Status>,
    scenario: impl FnOnce(&UserPager),
) {
    assert_eq!(cpu_count(), 4, "the image runs with -smp 4");
    let free = boot.frames().free_count();
    {
        let p = Arc::new(make().expect("a process"));
        let q = p.clone();
        run_on_all(move || q.enter());
        let (pager, port) = (p.zx.pager_create(0).unwrap(), p.zx.port_create(0).unwrap());
        scenario(&UserPager { p, pager, port });
        run_on_all(AddressSpace::leave);
    }
    assert_eq!(boot.frames().free_count(), free, "a frame was not given back");
}

/// The fatal fault an `access` at `address` takes with `status` in a
/// mapping at `va` of all of the VMO `koid`.
pub fn fatal(va: u64, koid: u64, address: u64, access: Access, status: Status) -> FatalFault {
    FatalFault { address, access, status, vmo: Some(MappedVmo { koid, offset: address - va }) }
}

/// What core `cpu` stores in its word of page `page`.
pub fn stored(cpu: usize, page: u64) -> u64 {
    0x5707_e000_0000_0000 | ((cpu as u64) << 32) | page
}
