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
        let machine = Machine::new(frames);
        let mmu = Arc::new(MockMmu::new());
        let zx = Zx::new(machine.ctx.clone(), mmu.clone());
        Env { zx, mmu, machine }
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
        self.machine.assert_no_frames_used();
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
