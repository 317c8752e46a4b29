//! The user pager through zx with four cores on the real tables: a pager on
//! core 1 serving the faults the other three take on one mapping; a request
//! failed with `ZX_PAGER_OP_FAIL`, the pager closed and the VMO detached,
//! each seen by the blocked core as a fatal page fault with the right status
//! (caught with `fault::catch`); and `vmo_read` / `vmo_write` whose user
//! buffer is an unsupplied pager mapping, of another VMO or of the same one.
//! Each case ends with every frame back in the allocator.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use platform_virt::fault::{catch, FatalFault, MappedVmo};
use platform_virt::process::Process;
use platform_virt::smp::{self, cpu_count, cpu_index, run_on, run_on_all};
use platform_virt::vm::AddressSpace;
use platform_virt::wait::EventWaiter;
use platform_virt::Boot;
use spin::Mutex;
use vm_core::platform::Waiter;
use zx::ops::ZX_PAGER_OP_FAIL;
use zx::options::*;
use zx::port::{ZX_PAGER_VMO_COMPLETE, ZX_PAGER_VMO_READ, ZX_PKT_TYPE_PAGE_REQUEST, ZX_PKT_TYPE_USER};
use zx::{Access, Handle, PortPacket, Status, Zx};

platform_virt::test_image!(
    a_pager_on_core_1_serves_faults_from_the_other_three_cores,
    a_failed_request_is_a_fatal_fault_with_its_status_and_is_not_sticky,
    closing_the_pager_is_a_fatal_fault_with_bad_state_and_sends_nothing,
    detaching_is_a_fatal_fault_with_bad_state_after_complete,
    vmo_read_into_an_unsupplied_pager_mapping_completes_once_supplied,
    vmo_write_from_an_unsupplied_pager_mapping_completes_once_supplied,
    vmo_read_and_write_between_pages_of_one_pager_vmo_through_its_mapping,
);

const P: u64 = 4096;
const RW: u32 = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE;
/// The core the pager runs on.
const PAGER_CPU: usize = 1;
/// The cores that fault, all but the pager's.
const FAULTERS: [usize; 3] = [0, 2, 3];
/// How long anything that must happen (a packet, a core finishing, a core
/// blocking) is waited for before the case fails: never a measurement.
const PATIENCE_NS: i64 = 20_000_000_000;
/// The key of the user packet that stops a serving pager.
const STOP: u64 = u64::MAX;
/// The statuses `ZX_PAGER_OP_FAIL` may give (`pager_op_range.md`, digest
/// §2.5).
const FAIL_STATUSES: [Status; 5] =
    [Status::Io, Status::IoDataIntegrity, Status::BadState, Status::NoSpace, Status::BufferTooSmall];

fn load(va: u64) -> u64 {
    // SAFETY: `va` lies in a mapping of this CPU's address space, which no
    // Rust reference covers; a missing page is a fault the VM resolves
    // (waiting for the pager), or, inside `catch`, returns.
    unsafe { (va as *const u64).read_volatile() }
}

fn store(va: u64, value: u64) {
    // SAFETY: as for `load`.
    unsafe { (va as *mut u64).write_volatile(value) }
}

fn caught_load(va: u64) -> Result<u64, FatalFault> {
    // SAFETY: the closure is one load and owns nothing.
    unsafe { catch(|| load(va)) }
}

fn caught_store(va: u64, value: u64) -> Result<(), FatalFault> {
    // SAFETY: the closure is one store and owns nothing.
    unsafe { catch(|| store(va, value)) }
}

/// The byte a supplied page holds at every offset: a tag of the VMO's key
/// and the page (the host tests' `tag`, Zircon's `GenerateBufferContents`).
fn tag(key: u64, page: u64) -> u8 {
    (key as u8).wrapping_mul(31).wrapping_add(page as u8).wrapping_add(1)
}

/// A word of page `page` as supplied.
fn tagged_word(key: u64, page: u64) -> u64 {
    u64::from_ne_bytes([tag(key, page); 8])
}

/// The bytes of pages `pages` as supplied.
fn tagged(key: u64, pages: impl Iterator<Item = u64>) -> Vec<u8> {
    pages.flat_map(|p| vec![tag(key, p); P as usize]).collect()
}

/// Waits until `done`, for at most [`PATIENCE_NS`]; fails the case naming
/// `what` otherwise.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = EventWaiter.now() + PATIENCE_NS as u64;
    assert!(EventWaiter.wait_until_deadline(&done, deadline), "{what} did not happen in time");
}

/// A closure running on another core, whose result [`Pending::join`] waits
/// for a bounded time.
struct Pending<T> {
    cpu: usize,
    slot: Arc<Mutex<Option<T>>>,
    job: smp::Handle<()>,
}

/// Runs `f` on `cpu` ([`run_on`]: at once if it is this CPU).
fn spawn<T: Send + 'static>(cpu: usize, f: impl FnOnce() -> T + Send + 'static) -> Pending<T> {
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
    /// The closure's result; fails the case if it does not come within
    /// [`PATIENCE_NS`].
    fn join(self) -> T {
        wait_for(&format!("core {}'s return", self.cpu), || self.slot.lock().is_some());
        self.job.join();
        self.slot.lock().take().expect("the result is in")
    }
}

/// A page request as the cases compare them: (key, command, first page,
/// page count).
type Request = (u64, u16, u64, u64);

/// A packet a pager reads: a page request, or the user packet that stops it.
#[derive(Debug, PartialEq)]
enum Packet {
    Request(Request),
    Stop,
}

/// A pager and its port in a process entered on every core, like Zircon's
/// `UserPager` test helper: offsets and lengths of its methods are in pages.
#[derive(Clone)]
struct UserPager {
    p: Arc<Process>,
    pager: Handle,
    port: Handle,
}

impl UserPager {
    fn zx(&self) -> &Zx {
        &self.p.zx
    }

    /// A pager VMO of `pages` pages whose requests carry `key`.
    fn vmo(&self, pages: u64, key: u64) -> Handle {
        self.zx().pager_create_vmo(self.pager, 0, self.port, key, pages * P).unwrap()
    }

    /// Maps all `pages` pages of `vmo` read-write anywhere in the root VMAR.
    fn map(&self, vmo: Handle, pages: u64) -> u64 {
        self.zx().vmar_map(self.zx().root_vmar(), RW, 0, vmo, 0, pages * P).unwrap()
    }

    fn unmap(&self, va: u64, pages: u64) {
        self.zx().vmar_unmap(self.zx().root_vmar(), va, pages * P).unwrap();
    }

    /// The koid of `vmo`, as a fatal fault names it.
    fn koid(&self, vmo: Handle) -> u64 {
        self.zx().vmo_object(vmo).unwrap().koid()
    }

    /// An aux VMO of `pages` pages, page `i` filled with `tag(key, first + i)`.
    fn aux(&self, key: u64, first: u64, pages: u64) -> Handle {
        let aux = self.zx().vmo_create(pages * P, 0).unwrap();
        self.zx().vmo_write(aux, &tagged(key, first..first + pages), 0).unwrap();
        aux
    }

    /// `pager_supply_pages` of `[first, first + pages)` of `vmo` (created
    /// with `key`) from an aux VMO holding their tags.
    fn try_supply(&self, vmo: Handle, key: u64, first: u64, pages: u64) -> Result<(), Status> {
        let aux = self.aux(key, first, pages);
        let result = self.zx().pager_supply_pages(self.pager, vmo, first * P, pages * P, aux, 0);
        self.zx().handle_close(aux).unwrap();
        result
    }

    fn supply(&self, vmo: Handle, key: u64, first: u64, pages: u64) {
        self.try_supply(vmo, key, first, pages).unwrap();
    }

    /// `pager_op_range(ZX_PAGER_OP_FAIL)` of `[first, first + pages)` with
    /// `status`, sign-extended as the syscall takes it.
    fn try_fail(&self, vmo: Handle, first: u64, pages: u64, status: Status) -> Result<(), Status> {
        let data = status.into_raw() as i64 as u64;
        self.zx().pager_op_range(self.pager, ZX_PAGER_OP_FAIL, vmo, first * P, pages * P, data)
    }

    /// The next packet, waiting at most [`PATIENCE_NS`] (failing the case
    /// after), its fields checked: a page request with status 0, flags 0
    /// and a page-aligned range, or the stop packet exactly as queued.
    fn next_packet(&self) -> Packet {
        let deadline = self.zx().deadline_after(PATIENCE_NS);
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
    fn next_request(&self) -> Request {
        match self.next_packet() {
            Packet::Request(r) => r,
            Packet::Stop => panic!("a stop packet where a request was due"),
        }
    }

    /// Asserts that the port holds no packet now.
    fn expect_no_packet(&self) {
        assert_eq!(self.zx().port_wait(self.port, 0), Err(Status::TimedOut), "an unexpected packet");
    }

    /// Waits until `count` operations wait on `vmo`'s pager.
    fn wait_blocked(&self, vmo: Handle, count: usize) {
        let vmo = self.zx().vmo_object(vmo).unwrap();
        wait_for(&format!("{count} blocked operations"), || vmo.pager_waiters() == count);
    }

    /// Runs a pager on [`PAGER_CPU`] that answers every READ for the VMOs
    /// of `vmos` (key, handle) with their tagged pages, until [`stop`]
    /// (`Self::stop`); it returns the requests it answered, in order.
    fn serve(&self, vmos: &[(u64, Handle)]) -> Pending<Vec<Request>> {
        let (up, vmos) = (self.clone(), vmos.to_vec());
        spawn(PAGER_CPU, move || {
            let mut answered = Vec::new();
            loop {
                let request = match up.next_packet() {
                    Packet::Stop => return answered,
                    Packet::Request(request) => request,
                };
                let (key, command, first, pages) = request;
                assert_eq!(command, ZX_PAGER_VMO_READ, "only READs: {request:?}");
                let (_, vmo) = *vmos.iter().find(|(k, _)| *k == key).expect("a request for one of ours");
                up.supply(vmo, key, first, pages);
                answered.push(request);
            }
        })
    }

    /// Stops the pager [`serve`](Self::serve) started; returns the requests
    /// it answered, sorted. Every operation that needed a page has
    /// returned by now, so none may still be queued.
    fn stop(&self, pager: Pending<Vec<Request>>) -> Vec<Request> {
        self.zx().port_queue(self.port, &PortPacket::user(STOP, 0, [0; 32])).unwrap();
        let mut answered = pager.join();
        answered.sort_unstable();
        self.expect_no_packet();
        answered
    }
}

/// One-page READs of `pages` with `key`, sorted.
fn one_page_reads(key: u64, pages: impl Iterator<Item = u64>) -> Vec<Request> {
    let mut reads: Vec<Request> = pages.map(|page| (key, ZX_PAGER_VMO_READ, page, 1)).collect();
    reads.sort_unstable();
    reads
}

/// Runs `scenario` with a pager and a port in a new process entered on
/// every core; once the process is gone, every frame must be back.
fn with_pager(boot: &Boot, scenario: impl FnOnce(&UserPager)) {
    assert_eq!(cpu_count(), 4, "the image runs with -smp 4");
    let free = boot.frames().free_count();
    {
        let p = Arc::new(Process::new().expect("a process"));
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
fn fatal(va: u64, koid: u64, address: u64, access: Access, status: Status) -> FatalFault {
    FatalFault { address, access, status, vmo: Some(MappedVmo { koid, offset: address - va }) }
}

/// What core `cpu` stores in its word of page `page`.
fn stored(cpu: usize, page: u64) -> u64 {
    0x5707_e000_0000_0000 | ((cpu as u64) << 32) | page
}

/// Counts this core in, then waits until the count reaches `n`.
fn rendezvous(count: &AtomicUsize, n: usize) {
    count.fetch_add(1, SeqCst);
    EventWaiter.wake_all();
    wait_for("the rendezvous", || count.load(SeqCst) >= n);
}

/// Cores 0, 2 and 3 go through the pages of a 48-page pager mapping in
/// the same order, meeting before each page, so that they fault on the
/// same pages at the same time: core 0 stores its word of each page first
/// (a write fault on a missing page), cores 2 and 3 load theirs first and
/// check the supplied content, then store. Once all have stored, each checks every
/// core's word of every page, and that the words nobody stored still hold
/// the supplied content. The pager on core 1 saw one one-page READ per
/// page, never two for one page; `vmo_read` sees what the loads saw; and
/// with the mapping and the handle gone the pager hears COMPLETE.
fn a_pager_on_core_1_serves_faults_from_the_other_three_cores(boot: &Boot) {
    const KEY: u64 = 1;
    const PAGES: u64 = 48;
    with_pager(boot, |up| {
        let vmo = up.vmo(PAGES, KEY);
        let va = up.map(vmo, PAGES);
        let pager = up.serve(&[(KEY, vmo)]);
        let (next, done) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        // Cores 3 and 2 are given their work first; core 0's then runs
        // here, at once (`run_on` on this CPU).
        let faulters: Vec<_> = FAULTERS
            .iter()
            .rev()
            .map(|&cpu| {
                let (next, done) = (next.clone(), done.clone());
                spawn(cpu, move || {
                    let me = cpu_index();
                    for page in 0..PAGES {
                        rendezvous(&next, FAULTERS.len() * (page + 1) as usize);
                        let mine = va + page * P + 8 * me as u64;
                        if me == 0 {
                            store(mine, stored(me, page));
                            assert_eq!(load(mine), stored(me, page), "core 0, page {page}: its store");
                        } else {
                            let v = load(mine);
                            assert_eq!(v, tagged_word(KEY, page), "core {me}, page {page}: not as supplied");
                            store(mine, stored(me, page));
                        }
                    }
                    rendezvous(&done, FAULTERS.len());
                    for page in 0..PAGES {
                        for cpu in FAULTERS {
                            let v = load(va + page * P + 8 * cpu as u64);
                            assert_eq!(v, stored(cpu, page), "core {me}, page {page}: core {cpu}'s store");
                        }
                        for word in [PAGER_CPU as u64, 4, P / 8 - 1] {
                            let v = load(va + page * P + 8 * word);
                            assert_eq!(v, tagged_word(KEY, page), "core {me}, page {page}, word {word}");
                        }
                    }
                })
            })
            .collect();
        for f in faulters {
            f.join();
        }
        assert_eq!(up.stop(pager), one_page_reads(KEY, 0..PAGES), "one one-page READ per page");
        for page in 0..PAGES {
            let mut expected = tagged(KEY, page..page + 1);
            for cpu in FAULTERS {
                expected[8 * cpu..8 * cpu + 8].copy_from_slice(&stored(cpu, page).to_ne_bytes());
            }
            let mut got = vec![0; P as usize];
            up.zx().vmo_read(vmo, &mut got, page * P).unwrap();
            assert!(got == expected, "page {page} through vmo_read");
        }
        up.unmap(va, PAGES);
        up.zx().handle_close(vmo).unwrap();
        assert_eq!(up.next_request(), (KEY, ZX_PAGER_VMO_COMPLETE, 0, 0), "the last reference went away");
        up.expect_no_packet();
    });
}

/// Core 1 fails the READ of page `i` with the `i`-th permitted status;
/// the access (a load of even pages, a store to odd ones) on core 0, 2 or
/// 3 in turn takes a fatal fault with exactly that status, address, access
/// and VMO offset. The failure is not sticky: the same access again sends
/// the same READ, and works once the page is supplied.
fn a_failed_request_is_a_fatal_fault_with_its_status_and_is_not_sticky(boot: &Boot) {
    const KEY: u64 = 2;
    const PAGES: u64 = FAIL_STATUSES.len() as u64;
    with_pager(boot, |up| {
        let vmo = up.vmo(PAGES, KEY);
        let (va, koid) = (up.map(vmo, PAGES), up.koid(vmo));
        let u = up.clone();
        let pager = spawn(PAGER_CPU, move || {
            for (page, status) in (0..).zip(FAIL_STATUSES) {
                assert_eq!(u.next_request(), (KEY, ZX_PAGER_VMO_READ, page, 1));
                u.try_fail(vmo, page, 1, status).unwrap();
                assert_eq!(u.next_request(), (KEY, ZX_PAGER_VMO_READ, page, 1), "asked again after a FAIL");
                u.supply(vmo, KEY, page, 1);
            }
        });
        for ((page, status), cpu) in (0..).zip(FAIL_STATUSES).zip(FAULTERS.iter().cycle()) {
            let at = va + page * P + 8 * (page + 1);
            let access = if page % 2 == 0 { Access::Read } else { Access::Write };
            let mark = stored(*cpu, page);
            let (first, again) = spawn(*cpu, move || {
                let access_once = || match access {
                    Access::Read => caught_load(at),
                    _ => caught_store(at, mark).map(|()| load(at)),
                };
                (access_once(), access_once())
            })
            .join();
            assert_eq!(first, Err(fatal(va, koid, at, access, status)), "page {page} on core {cpu}");
            let value = if access == Access::Read { tagged_word(KEY, page) } else { mark };
            assert_eq!(again, Ok(value), "page {page} on core {cpu}, after the supply");
            assert_eq!(load(va + page * P), tagged_word(KEY, page), "the rest of page {page} as supplied");
        }
        pager.join();
        up.expect_no_packet();
    });
}

/// Cores 2 and 3 load page 1 (one READ between them), core 0 stores to
/// page 2 (another); once all three wait, core 1 closes the pager's only
/// handle. All three take a fatal fault with BAD_STATE. The port hears
/// nothing more: no COMPLETE, not on close nor when the VMO goes, and no
/// request for a new fault, which fails at once; the page supplied before
/// the close stays readable.
fn closing_the_pager_is_a_fatal_fault_with_bad_state_and_sends_nothing(boot: &Boot) {
    const KEY: u64 = 3;
    const PAGES: u64 = 4;
    with_pager(boot, |up| {
        let vmo = up.vmo(PAGES, KEY);
        let (va, koid) = (up.map(vmo, PAGES), up.koid(vmo));
        up.supply(vmo, KEY, 0, 1);
        let u = up.clone();
        let closer = spawn(PAGER_CPU, move || {
            let mut requests = [u.next_request(), u.next_request()];
            requests.sort_unstable();
            assert_eq!(requests, [(KEY, ZX_PAGER_VMO_READ, 1, 1), (KEY, ZX_PAGER_VMO_READ, 2, 1)]);
            u.wait_blocked(vmo, 3);
            u.zx().handle_close(u.pager).unwrap();
        });
        let loads = [2, 3].map(|cpu| (cpu, spawn(cpu, move || caught_load(va + P + 8 * cpu as u64))));
        let at = va + 2 * P + 16;
        let fault = caught_store(at, 1);
        closer.join();
        let bad_state = |address, access| fatal(va, koid, address, access, Status::BadState);
        assert_eq!(fault, Err(bad_state(at, Access::Write)), "core 0's store");
        for (cpu, load) in loads {
            assert_eq!(
                load.join(),
                Err(bad_state(va + P + 8 * cpu as u64, Access::Read)),
                "core {cpu}'s load"
            );
        }
        up.expect_no_packet();
        assert_eq!(
            caught_load(va + 3 * P),
            Err(bad_state(va + 3 * P, Access::Read)),
            "a fault after the close"
        );
        up.expect_no_packet();
        assert_eq!(load(va + 8), tagged_word(KEY, 0), "the supplied page stays");
        let mut word = [0; 8];
        up.zx().vmo_read(vmo, &mut word, 8).unwrap();
        assert_eq!(u64::from_ne_bytes(word), tagged_word(KEY, 0));
        up.unmap(va, PAGES);
        up.zx().handle_close(vmo).unwrap();
        up.expect_no_packet();
    });
}

/// Pages 0 and 1 supplied and loaded, page 0 then stored to (Dirty); core
/// 2 loads page 2 and core 0 stores to page 3, and once both wait core 1
/// detaches the VMO: both take a fatal fault with BAD_STATE, and the next
/// packet is COMPLETE. Then: a fault needing the pager fails at once with
/// no request; the Clean page 1 was decommitted, so its load faults with
/// BAD_STATE too, while the Dirty page 0 stays, through the mapping and
/// `vmo_read`; supply and FAIL are BAD_STATE; a second detach is harmless;
/// and closing the VMO sends no second COMPLETE.
fn detaching_is_a_fatal_fault_with_bad_state_after_complete(boot: &Boot) {
    const KEY: u64 = 4;
    const PAGES: u64 = 5;
    const DIRTY: u64 = 0xd1e7_0000_0000_0001;
    with_pager(boot, |up| {
        let vmo = up.vmo(PAGES, KEY);
        let (va, koid) = (up.map(vmo, PAGES), up.koid(vmo));
        up.supply(vmo, KEY, 0, 2);
        assert_eq!((load(va), load(va + P)), (tagged_word(KEY, 0), tagged_word(KEY, 1)));
        store(va + 8, DIRTY);
        let u = up.clone();
        let detacher = spawn(PAGER_CPU, move || {
            let mut requests = [u.next_request(), u.next_request()];
            requests.sort_unstable();
            assert_eq!(requests, [(KEY, ZX_PAGER_VMO_READ, 2, 1), (KEY, ZX_PAGER_VMO_READ, 3, 1)]);
            u.wait_blocked(vmo, 2);
            u.zx().pager_detach_vmo(u.pager, vmo).unwrap();
            assert_eq!(u.next_request(), (KEY, ZX_PAGER_VMO_COMPLETE, 0, 0), "COMPLETE after detach");
        });
        let blocked_load = spawn(2, move || caught_load(va + 2 * P + 24));
        let fault = caught_store(va + 3 * P + 32, 1);
        detacher.join();
        let bad_state = |address, access| fatal(va, koid, address, access, Status::BadState);
        assert_eq!(blocked_load.join(), Err(bad_state(va + 2 * P + 24, Access::Read)), "core 2's load");
        assert_eq!(fault, Err(bad_state(va + 3 * P + 32, Access::Write)), "core 0's store");
        assert_eq!(caught_load(va + 4 * P), Err(bad_state(va + 4 * P, Access::Read)), "a fault after detach");
        assert_eq!(
            caught_load(va + P),
            Err(bad_state(va + P, Access::Read)),
            "the Clean page was decommitted"
        );
        up.expect_no_packet();
        assert_eq!((load(va), load(va + 8)), (tagged_word(KEY, 0), DIRTY), "the Dirty page stays");
        let mut word = [0; 8];
        up.zx().vmo_read(vmo, &mut word, 8).unwrap();
        assert_eq!(u64::from_ne_bytes(word), DIRTY);
        assert_eq!(up.zx().vmo_read(vmo, &mut word, P), Err(Status::BadState), "vmo_read of the Clean page");
        assert_eq!(up.try_supply(vmo, KEY, 4, 1), Err(Status::BadState));
        assert_eq!(up.try_fail(vmo, 4, 1, Status::Io), Err(Status::BadState));
        up.zx().pager_detach_vmo(up.pager, vmo).unwrap();
        up.expect_no_packet();
        up.unmap(va, PAGES);
        up.zx().handle_close(vmo).unwrap();
        up.expect_no_packet();
    });
}

/// Where the user buffers of the copy cases start in their first page,
/// and how long they are: 19 pages touched, more than vm-core copies per
/// lock hold (16).
const SKEW: u64 = 100;
const COPIED: u64 = 18 * P;
const BUFFER_PAGES: u64 = 19;

/// `i`-th byte of the ordinary VMO the copy cases read or write.
fn plain_byte(i: u64) -> u8 {
    (i * 7 + i / P) as u8
}

/// `vmo_read` of an ordinary VMO into `[va + SKEW, +COPIED)` of an
/// unsupplied pager mapping, on core 0, returns once the pager on core 1
/// has supplied the buffer's 19 pages (one one-page READ each, the
/// copy's faults); the buffer then holds the copied bytes, and the bytes
/// of its first and last page outside it the supplied ones.
fn vmo_read_into_an_unsupplied_pager_mapping_completes_once_supplied(boot: &Boot) {
    const KEY: u64 = 5;
    with_pager(boot, |up| {
        let plain: Vec<u8> = (0..COPIED).map(plain_byte).collect();
        let source = up.zx().vmo_create(COPIED, 0).unwrap();
        up.zx().vmo_write(source, &plain, 0).unwrap();
        let vmo = up.vmo(BUFFER_PAGES, KEY);
        let va = up.map(vmo, BUFFER_PAGES);
        let pager = up.serve(&[(KEY, vmo)]);
        {
            // SAFETY: the range lies in the mapping just made, which
            // nothing else reads or writes while the slice lives; its pages
            // fault in through the pager.
            let buffer = unsafe { core::slice::from_raw_parts_mut((va + SKEW) as *mut u8, COPIED as usize) };
            up.zx().vmo_read(source, buffer, 0).unwrap();
            assert!(*buffer == *plain, "the copied bytes, through the mapping");
        }
        assert_eq!(up.stop(pager), one_page_reads(KEY, 0..BUFFER_PAGES));
        let mut expected = tagged(KEY, 0..BUFFER_PAGES);
        expected[SKEW as usize..(SKEW + COPIED) as usize].copy_from_slice(&plain);
        let mut got = vec![0; (BUFFER_PAGES * P) as usize];
        up.zx().vmo_read(vmo, &mut got, 0).unwrap();
        assert!(got == expected, "the copied bytes inside the supplied ones, through vmo_read");
    });
}

/// `vmo_write` to an ordinary VMO from `[va + SKEW, +COPIED)` of an
/// unsupplied pager mapping, on core 0, returns once the pager on core 1
/// has supplied the 19 pages it reads (one one-page READ each); the VMO
/// then holds the supplied bytes.
fn vmo_write_from_an_unsupplied_pager_mapping_completes_once_supplied(boot: &Boot) {
    const KEY: u64 = 6;
    with_pager(boot, |up| {
        let target = up.zx().vmo_create(COPIED, 0).unwrap();
        let vmo = up.vmo(BUFFER_PAGES, KEY);
        let va = up.map(vmo, BUFFER_PAGES);
        let pager = up.serve(&[(KEY, vmo)]);
        {
            // SAFETY: the range lies in the mapping just made, which
            // nothing writes while the slice lives; its pages fault in
            // through the pager.
            let data = unsafe { core::slice::from_raw_parts((va + SKEW) as *const u8, COPIED as usize) };
            up.zx().vmo_write(target, data, 0).unwrap();
        }
        assert_eq!(up.stop(pager), one_page_reads(KEY, 0..BUFFER_PAGES));
        let expected = &tagged(KEY, 0..BUFFER_PAGES)[SKEW as usize..(SKEW + COPIED) as usize];
        let mut got = vec![0; COPIED as usize];
        up.zx().vmo_read(target, &mut got, 0).unwrap();
        assert!(got == expected, "the supplied bytes, written");
    });
}

/// One unsupplied 16-page pager VMO, mapped whole, quarters A, B, C, D:
/// `vmo_read` of A into the mapping of B, then `vmo_write` to D from the
/// mapping of C. The read asks for A in one READ, then the copy into B
/// faults each of B's pages; the write's copy from C faults each of C's
/// pages, then the write asks for D in one READ. Afterwards B holds A's
/// content and D C's, both through the mapping and `vmo_read`.
fn vmo_read_and_write_between_pages_of_one_pager_vmo_through_its_mapping(boot: &Boot) {
    const KEY: u64 = 7;
    const Q: u64 = 4;
    with_pager(boot, |up| {
        let vmo = up.vmo(4 * Q, KEY);
        let va = up.map(vmo, 4 * Q);
        let pager = up.serve(&[(KEY, vmo)]);
        let len = (Q * P) as usize;
        {
            // SAFETY: B lies in the mapping just made, which nothing else
            // reads or writes while the slice lives (the read reads A); its
            // pages fault in through the pager.
            let b = unsafe { core::slice::from_raw_parts_mut((va + Q * P) as *mut u8, len) };
            up.zx().vmo_read(vmo, b, 0).unwrap();
        }
        {
            // SAFETY: as for B, with C (the write writes D).
            let c = unsafe { core::slice::from_raw_parts((va + 2 * Q * P) as *const u8, len) };
            up.zx().vmo_write(vmo, c, 3 * Q * P).unwrap();
        }
        let mut expected = vec![(KEY, ZX_PAGER_VMO_READ, 0, Q), (KEY, ZX_PAGER_VMO_READ, 3 * Q, Q)];
        expected.extend(one_page_reads(KEY, Q..3 * Q));
        expected.sort_unstable();
        assert_eq!(up.stop(pager), expected);
        let content = |page: u64| match page / Q {
            1 | 3 => tag(KEY, page - Q),
            _ => tag(KEY, page),
        };
        for page in 0..4 * Q {
            for word in [0, P / 8 - 1] {
                let v = load(va + page * P + 8 * word);
                assert_eq!(v, u64::from_ne_bytes([content(page); 8]), "page {page}, word {word}");
            }
            let mut got = vec![0; P as usize];
            up.zx().vmo_read(vmo, &mut got, page * P).unwrap();
            assert!(got.iter().all(|&b| b == content(page)), "page {page} through vmo_read");
        }
    });
}
