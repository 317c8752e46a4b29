//! Shared set-up of the zx tests: an instance over vm-core's mocks.
//!
//! [`Env`] drops its `Zx` before its `Machine`, whose `Drop` asserts that every
//! frame VM objects took was returned: each test ends with a frame-accounting
//! check.
#![allow(dead_code)]

use std::sync::Arc;

use vm_core::mock::{Machine, MockMmu};
use zx::options::*;
use zx::{Handle, Rights, Status, Zx};

/// The page size.
pub const P: u64 = 4096;

/// Frames of memory each test machine has.
pub const FRAMES: usize = 1024;

pub struct Env {
    pub zx: Zx,
    pub mmu: Arc<MockMmu>,
    pub machine: Machine,
}

impl Env {
    pub fn new() -> Env {
        Env::with_frames(FRAMES)
    }

    /// An instance over a machine with only `frames` frames of memory, the
    /// zero frame included.
    pub fn with_frames(frames: usize) -> Env {
        Env::over(Machine::new(frames), MockMmu::new())
    }

    /// An instance whose translation tables take frames from its machine, as
    /// on aarch64, so that mapping a page can run out of them.
    pub fn with_table_frames() -> Env {
        let machine = Machine::new(FRAMES);
        let mmu = MockMmu::with_tables_from(machine.frames.clone()).unwrap();
        Env::over(machine, mmu)
    }

    fn over(machine: Machine, mmu: MockMmu) -> Env {
        let mmu = Arc::new(mmu);
        let zx = Zx::new(machine.ctx.clone(), mmu.clone());
        Env { zx, mmu, machine }
    }

    /// Frames held by VM objects: the machine's, less the translation
    /// tables' (which the address space keeps until it goes).
    pub fn vm_frames(&self) -> usize {
        self.machine.used_frames() - self.mmu.table_frames()
    }

    /// A new VMO of `pages` pages with default options.
    pub fn vmo(&self, pages: u64) -> Handle {
        self.zx.vmo_create(pages * P, 0).unwrap()
    }

    /// A new resizable VMO of `pages` pages.
    pub fn resizable_vmo(&self, pages: u64) -> Handle {
        self.zx.vmo_create(pages * P, ZX_VMO_RESIZABLE).unwrap()
    }

    /// A copy of `handle` with exactly `rights`.
    pub fn with_rights(&self, handle: Handle, rights: Rights) -> Handle {
        self.zx.handle_duplicate(handle, rights).unwrap()
    }

    /// `handle`'s rights.
    pub fn rights(&self, handle: Handle) -> Rights {
        self.zx.object_get_info_handle_basic(handle).unwrap().rights
    }

    /// `len` bytes of the VMO at `offset`, read through `vmo_read`.
    pub fn read(&self, vmo: Handle, offset: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        self.zx.vmo_read(vmo, &mut buf, offset).unwrap();
        buf
    }

    /// Loads `len` bytes at `va` like a CPU of this address space would,
    /// taking faults.
    pub fn load(&self, va: u64, len: usize) -> Result<Vec<u8>, Status> {
        let mut buf = vec![0; len];
        self.mmu.read(self.zx.root_vmar_object(), va, &mut buf)?;
        Ok(buf)
    }

    /// Stores `data` at `va` like a CPU of this address space would.
    pub fn store(&self, va: u64, data: &[u8]) -> Result<(), Status> {
        self.mmu.write(self.zx.root_vmar_object(), va, data)
    }

    /// Maps all `pages` pages of `vmo` read-write anywhere in the root VMAR.
    pub fn map_rw(&self, vmo: Handle, pages: u64) -> u64 {
        let rw = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE;
        self.zx.vmar_map(self.zx.root_vmar(), rw, 0, vmo, 0, pages * P).unwrap()
    }

    /// Closes `handles` and checks that the VM objects hold no frames.
    pub fn close_all_and_check_frames(&self, handles: &[Handle]) {
        for &handle in handles {
            self.zx.handle_close(handle).unwrap();
        }
        assert_eq!(self.vm_frames(), 0, "frames leaked");
    }
}

/// How long a test waits for something that must happen (a packet, a
/// thread finishing) before it fails; never a measurement.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// A pager and its port on an [`Env`], like Zircon's `UserPager` test
/// helper: offsets and lengths of its methods are in pages.
pub struct UserPager {
    pub env: Arc<Env>,
    pub pager: Handle,
    pub port: Handle,
}

/// The byte a supplied page holds at every offset: a tag of the VMO's key and
/// the page (Zircon's `GenerateBufferContents`).
pub fn tag(key: u64, page: u64) -> u8 {
    (key as u8).wrapping_mul(31).wrapping_add(page as u8).wrapping_add(1)
}

/// A page request as the tests compare them: (key, command, first page,
/// page count).
pub type Request = (u64, u16, u64, u64);

impl UserPager {
    pub fn new() -> UserPager {
        UserPager::on(Arc::new(Env::new()))
    }

    pub fn on(env: Arc<Env>) -> UserPager {
        let pager = env.zx.pager_create(0).unwrap();
        let port = env.zx.port_create(0).unwrap();
        UserPager { env, pager, port }
    }

    pub fn zx(&self) -> &Zx {
        &self.env.zx
    }

    /// A pager VMO of `pages` pages whose requests carry `key`.
    pub fn vmo(&self, pages: u64, key: u64) -> Handle {
        self.vmo_with(pages, key, 0)
    }

    pub fn vmo_with(&self, pages: u64, key: u64, options: u32) -> Handle {
        self.zx().pager_create_vmo(self.pager, options, self.port, key, pages * P).unwrap()
    }

    /// An aux VMO of `pages` pages, page `i` filled with `tag(key, first + i)`.
    pub fn aux(&self, key: u64, first: u64, pages: u64) -> Handle {
        let aux = self.env.vmo(pages);
        for i in 0..pages {
            self.zx().vmo_write(aux, &vec![tag(key, first + i); P as usize], i * P).unwrap();
        }
        aux
    }

    /// Supplies pages `[first, first + pages)` of `vmo` (created with `key`)
    /// with their tags.
    pub fn supply(&self, vmo: Handle, key: u64, first: u64, pages: u64) {
        let aux = self.aux(key, first, pages);
        self.zx().pager_supply_pages(self.pager, vmo, first * P, pages * P, aux, 0).unwrap();
        self.zx().handle_close(aux).unwrap();
    }

    /// Supplies zero markers (from an aux VMO with nothing committed).
    pub fn supply_zero(&self, vmo: Handle, first: u64, pages: u64) {
        let aux = self.env.vmo(pages);
        self.zx().pager_supply_pages(self.pager, vmo, first * P, pages * P, aux, 0).unwrap();
        self.zx().handle_close(aux).unwrap();
    }

    pub fn fail(&self, vmo: Handle, first: u64, pages: u64, status: Status) {
        let data = status.into_raw() as i64 as u64;
        self.zx()
            .pager_op_range(self.pager, zx::ops::ZX_PAGER_OP_FAIL, vmo, first * P, pages * P, data)
            .unwrap();
    }

    /// The next packet within `timeout`, as a [`Request`].
    pub fn next_request(&self, timeout: std::time::Duration) -> Option<Request> {
        let deadline = self.zx().deadline_after(timeout.as_nanos() as i64);
        let packet = match self.zx().port_wait(self.port, deadline) {
            Ok(packet) => packet,
            Err(Status::TimedOut) => return None,
            Err(status) => panic!("port_wait: {status:?}"),
        };
        assert_eq!(packet.packet_type, zx::port::ZX_PKT_TYPE_PAGE_REQUEST);
        assert_eq!(packet.status, 0);
        let r = packet.page_request().unwrap();
        assert_eq!(r.flags, 0);
        assert!(r.offset % P == 0 && r.length % P == 0, "unaligned request {r:?}");
        Some((packet.key, r.command, r.offset / P, r.length / P))
    }

    /// Asserts that the next packet is a READ of `[first, first + pages)`
    /// with `key`.
    pub fn expect_read(&self, key: u64, first: u64, pages: u64) {
        let got = self.next_request(PATIENCE);
        assert_eq!(
            got,
            Some((key, zx::port::ZX_PAGER_VMO_READ, first, pages)),
            "expected READ ({first}, {pages})"
        );
    }

    /// Asserts that the next packet is COMPLETE for `key`.
    pub fn expect_complete(&self, key: u64) {
        assert_eq!(self.next_request(PATIENCE), Some((key, zx::port::ZX_PAGER_VMO_COMPLETE, 0, 0)));
    }

    /// Asserts that no packet is queued now.
    pub fn expect_no_request(&self) {
        assert_eq!(self.next_request(std::time::Duration::ZERO), None, "an unexpected packet");
    }

    /// Waits until `count` operations wait on `vmo`'s pager.
    pub fn wait_blocked(&self, vmo: Handle, count: usize) {
        let vmo = self.zx().vmo_object(vmo).unwrap();
        let start = std::time::Instant::now();
        while vmo.pager_waiters() < count {
            assert!(start.elapsed() < PATIENCE, "{count} waiters never blocked");
            std::thread::yield_now();
        }
    }

    /// Whether page `page` of `vmo` reads its tag for `key` throughout.
    pub fn check(&self, vmo: Handle, key: u64, page: u64) -> bool {
        self.env.read(vmo, page * P, P as usize).iter().all(|&b| b == tag(key, page))
    }
}

/// A thread running one blocking call; `join` bounds the wait, so no test
/// leaves a thread blocked.
pub struct Blocked<T>(std::sync::mpsc::Receiver<T>, Option<std::thread::JoinHandle<()>>);

/// Starts `f` on a thread of its own.
pub fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Blocked<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    Blocked(rx, Some(handle))
}

impl<T> Blocked<T> {
    /// The call's result; panics if it does not finish within [`PATIENCE`].
    pub fn join(mut self) -> T {
        let result = self.0.recv_timeout(PATIENCE).expect("a blocked call never finished");
        self.1.take().unwrap().join().unwrap();
        result
    }

    /// Whether the call has finished.
    pub fn finished(&self) -> bool {
        self.1.as_ref().is_some_and(|h| h.is_finished())
    }
}

impl Env {
    /// Closes `handles`, then checks that only the root VMAR's handle is
    /// left open and that the VM objects hold no frames: the end of a test
    /// that closes everything it opened.
    pub fn close_all_and_check_clean(&self, handles: &[Handle]) {
        self.close_all_and_check_frames(handles);
        assert_eq!(self.zx.handle_count(), 1, "handles left open besides the root VMAR's");
    }

    /// `len` bytes of `vmo` at `offset` through `vmo_read`, on a thread of
    /// its own: a read that should not block (pages already supplied, or a
    /// pager that should answer BAD_STATE) fails the test instead of
    /// hanging it.
    pub fn read_bounded(self: &Arc<Env>, vmo: Handle, offset: u64, len: usize) -> Result<Vec<u8>, Status> {
        let env = self.clone();
        spawn(move || {
            let mut buf = vec![0; len];
            env.zx.vmo_read(vmo, &mut buf, offset).map(|()| buf)
        })
        .join()
    }
}

impl UserPager {
    /// Closes `handles`, then the pager and its port, and checks as
    /// [`Env::close_all_and_check_clean`].
    pub fn close_all_and_check_clean(&self, handles: &[Handle]) {
        let mut all = handles.to_vec();
        all.extend([self.pager, self.port]);
        self.env.close_all_and_check_clean(&all);
    }
}

/// The dirty ranges of all of `vmo`, from `zx_pager_query_dirty_ranges`
/// through a buffer large enough for every entry, as (first page, page
/// count, zero range): Zircon's `VerifyDirtyRanges` compares the same.
pub fn dirty_ranges(up: &UserPager, vmo: Handle) -> Vec<(u64, u64, bool)> {
    let size = up.zx().vmo_get_size(vmo).unwrap();
    let mut buf = vec![0u8; 64 * zx::ops::VmoDirtyRange::SIZE];
    let (actual, avail) = up.zx().pager_query_dirty_ranges(up.pager, vmo, 0, size, &mut buf).unwrap();
    assert_eq!(actual, avail, "the buffer held every range");
    zx::ops::VmoDirtyRange::from_bytes(&buf, actual)
        .into_iter()
        .map(|r| {
            assert!(r.offset % P == 0 && r.length % P == 0 && r.length > 0, "range {r:?}");
            assert!(r.options & !zx::ops::ZX_VMO_DIRTY_RANGE_IS_ZERO == 0, "options of {r:?}");
            (r.offset / P, r.length / P, r.options == zx::ops::ZX_VMO_DIRTY_RANGE_IS_ZERO)
        })
        .collect()
}

/// `pages` pages of their tags for `key`, from page `first`.
pub fn page_tags(key: u64, first: u64, pages: u64) -> Vec<u8> {
    (first..first + pages).flat_map(|p| vec![tag(key, p); P as usize]).collect()
}

/// Writeback helpers of [`UserPager`], after Zircon's `DirtyPages`,
/// `WritebackBeginPages`, `WritebackBeginZeroPages`, `WritebackEndPages`
/// and `VerifyModified`; offsets and lengths in pages.
impl UserPager {
    /// `zx_pager_op_range(op)` over pages `[first, first + pages)`.
    pub fn op(&self, op: u32, vmo: Handle, first: u64, pages: u64, data: u64) -> Result<(), Status> {
        self.zx().pager_op_range(self.pager, op, vmo, first * P, pages * P, data)
    }

    /// `ZX_PAGER_OP_DIRTY`, which must succeed.
    pub fn dirty(&self, vmo: Handle, first: u64, pages: u64) {
        self.op(zx::ops::ZX_PAGER_OP_DIRTY, vmo, first, pages, 0).unwrap();
    }

    /// `ZX_PAGER_OP_WRITEBACK_BEGIN` with data 0, which must succeed.
    pub fn begin(&self, vmo: Handle, first: u64, pages: u64) {
        self.op(zx::ops::ZX_PAGER_OP_WRITEBACK_BEGIN, vmo, first, pages, 0).unwrap();
    }

    /// `ZX_PAGER_OP_WRITEBACK_BEGIN` with `ZX_VMO_DIRTY_RANGE_IS_ZERO`.
    pub fn begin_zero(&self, vmo: Handle, first: u64, pages: u64) {
        let data = zx::ops::ZX_VMO_DIRTY_RANGE_IS_ZERO;
        self.op(zx::ops::ZX_PAGER_OP_WRITEBACK_BEGIN, vmo, first, pages, data).unwrap();
    }

    /// `ZX_PAGER_OP_WRITEBACK_END`.
    pub fn try_end(&self, vmo: Handle, first: u64, pages: u64) -> Result<(), Status> {
        self.op(zx::ops::ZX_PAGER_OP_WRITEBACK_END, vmo, first, pages, 0)
    }

    /// `ZX_PAGER_OP_WRITEBACK_END`, which must succeed.
    pub fn end(&self, vmo: Handle, first: u64, pages: u64) {
        self.try_end(vmo, first, pages).unwrap();
    }

    /// Asserts that the next packet is a DIRTY request of `[first, first +
    /// pages)` with `key`.
    pub fn expect_dirty(&self, key: u64, first: u64, pages: u64) {
        let got = self.next_request(PATIENCE);
        assert_eq!(
            got,
            Some((key, zx::port::ZX_PAGER_VMO_DIRTY, first, pages)),
            "expected DIRTY ({first}, {pages})"
        );
    }

    /// The `modified` stat of `vmo`, reset by the query (Zircon's
    /// `VerifyModified`).
    pub fn modified(&self, vmo: Handle) -> bool {
        self.stats(vmo, zx::ops::ZX_PAGER_RESET_VMO_STATS)
    }

    /// The `modified` stat of `vmo`, left as it is (options 0).
    pub fn peek_modified(&self, vmo: Handle) -> bool {
        self.stats(vmo, 0)
    }

    fn stats(&self, vmo: Handle, options: u32) -> bool {
        let mut buf = [0u8; 4];
        self.zx().pager_query_vmo_stats(self.pager, vmo, options, &mut buf).unwrap();
        match u32::from_ne_bytes(buf) {
            0 => false,
            zx::ops::ZX_PAGER_VMO_STATS_MODIFIED => true,
            other => panic!("modified is {other:#x}"),
        }
    }

    /// Resizes `vmo` to `pages` pages.
    pub fn resize(&self, vmo: Handle, pages: u64) {
        self.zx().vmo_set_size(vmo, pages * P).unwrap();
    }

    /// How many pages `vmo` has committed (`ZX_INFO_VMO.committed_bytes`).
    pub fn committed(&self, vmo: Handle) -> u64 {
        self.zx().vmo_object(vmo).unwrap().committed_bytes() / P
    }

    /// `vmo_write(data)` at byte `offset` on a thread of its own.
    pub fn writer(self: &Arc<Self>, vmo: Handle, offset: u64, data: Vec<u8>) -> Blocked<Result<(), Status>> {
        let up = self.clone();
        spawn(move || up.zx().vmo_write(vmo, &data, offset))
    }

    /// A store of `data` at `va` (through a mapping) on a thread of its
    /// own.
    pub fn storer(self: &Arc<Self>, va: u64, data: Vec<u8>) -> Blocked<Result<(), Status>> {
        let up = self.clone();
        spawn(move || up.env.store(va, &data))
    }

    /// `vmo_read` of `len` bytes at byte `offset` on a thread of its own.
    pub fn reader(
        self: &Arc<Self>,
        vmo: Handle,
        offset: u64,
        len: usize,
    ) -> Blocked<Result<Vec<u8>, Status>> {
        let up = self.clone();
        spawn(move || {
            let mut buf = vec![0; len];
            up.zx().vmo_read(vmo, &mut buf, offset).map(|()| buf)
        })
    }

    /// `vmo_op_range(op)` over bytes `[offset, offset + len)` on a thread
    /// of its own.
    pub fn vmo_op(
        self: &Arc<Self>,
        vmo: Handle,
        op: u32,
        offset: u64,
        len: u64,
    ) -> Blocked<Result<(), Status>> {
        let up = self.clone();
        spawn(move || up.zx().vmo_op_range(vmo, op, offset, len, &mut []))
    }

    /// Asserts that `vmo` holds `expected` from page `first`, read with
    /// `vmo_read` and, if `via_map`, also through a fresh read-only mapping
    /// of those pages (Zircon's `check_buffer_data`), each on a bounded
    /// thread so that a read that would block fails the test.
    pub fn check_contents(self: &Arc<Self>, vmo: Handle, first: u64, expected: &[u8], via_map: bool) {
        assert_eq!(expected.len() as u64 % P, 0);
        let got = self.reader(vmo, first * P, expected.len()).join().expect("vmo_read");
        assert_same(&got, expected, "vmo_read");
        if via_map {
            let len = expected.len() as u64;
            let zx = self.zx();
            let va = zx.vmar_map(zx.root_vmar(), ZX_VM_PERM_READ, 0, vmo, first * P, len).unwrap();
            let up = self.clone();
            let got = spawn(move || up.env.load(va, len as usize)).join().expect("load through a mapping");
            zx.vmar_unmap(zx.root_vmar(), va, len).unwrap();
            assert_same(&got, expected, "mapping");
        }
    }
}

/// Asserts `got == expected`, naming the first differing byte rather than
/// printing both.
pub fn assert_same(got: &[u8], expected: &[u8], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    if let Some(i) = got.iter().zip(expected).position(|(a, b)| a != b) {
        panic!(
            "{what}: byte {i} (page {}, offset {:#x}) is {:#04x}, expected {:#04x}",
            i as u64 / P,
            i as u64 % P,
            got[i],
            expected[i]
        );
    }
}

/// A small deterministic generator (xorshift64*) for the tests Zircon runs
/// with `rand()`: each seed is one reproducible case.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `[0, n)`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

impl UserPager {
    /// Unmaps `pages` pages at `va` from the root VMAR.
    pub fn unmap(&self, va: u64, pages: u64) {
        self.zx().vmar_unmap(self.zx().root_vmar(), va, pages * P).unwrap();
    }
}
