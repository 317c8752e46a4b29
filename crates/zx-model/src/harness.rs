//! The real side: a `Zx` over vm-core's mocks, a pager thread serving
//! every pager VMO from its disk, and each handle's mapping.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use vm_core::mock::{Machine, MockMmu};
use zx::ops::{VmoDirtyRange, ZX_VMO_DIRTY_RANGE_IS_ZERO};
use zx::ops::{ZX_PAGER_OP_DIRTY, ZX_PAGER_OP_FAIL, ZX_PAGER_OP_WRITEBACK_BEGIN, ZX_PAGER_OP_WRITEBACK_END};
use zx::port::{ZX_PAGER_VMO_DIRTY, ZX_PAGER_VMO_READ, ZX_PKT_TYPE_PAGE_REQUEST, ZX_TIME_INFINITE};
use zx::{Handle, PortPacket, Status, Zx};

use crate::model::disk_byte;
use crate::P;

/// Frames of the machine: far more than any sequence commits.
const FRAMES: usize = 4096;

/// The pager VMOs' disks, by key.
type Disks = Arc<Mutex<HashMap<u64, Vec<u8>>>>;

/// What the pager thread does with the next READ request.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum NextRead {
    Supply = 0,
    /// FAIL it with ZX_ERR_IO.
    Fail = 1,
    /// It was failed.
    Failed = 2,
}

pub struct Harness {
    pub zx: Arc<Zx>,
    pub mmu: Arc<MockMmu>,
    pub pager: Handle,
    port: Handle,
    /// The pager VMOs by key, for the pager thread.
    vmos: Arc<Mutex<HashMap<u64, Handle>>>,
    disks: Disks,
    next_read: Arc<AtomicU8>,
    thread: Option<JoinHandle<()>>,
    // Dropped last: its drop checks that every frame came back.
    pub machine: Machine,
}

impl Harness {
    pub fn new() -> Harness {
        let machine = Machine::new(FRAMES);
        let mmu = Arc::new(MockMmu::new());
        let zx = Arc::new(Zx::new(machine.ctx.clone(), mmu.clone()));
        let pager = zx.pager_create(0).expect("a pager");
        let port = zx.port_create(0).expect("a port");
        let vmos: Arc<Mutex<HashMap<u64, Handle>>> = Arc::default();
        let disks: Disks = Arc::default();
        let next_read = Arc::new(AtomicU8::new(NextRead::Supply as u8));
        let thread = {
            let (zx, vmos, disks, next) = (zx.clone(), vmos.clone(), disks.clone(), next_read.clone());
            std::thread::spawn(move || serve(&zx, pager, port, &vmos, &disks, &next))
        };
        Harness { zx, mmu, pager, port, vmos, disks, next_read, thread: Some(thread), machine }
    }

    /// A pager VMO of `size` bytes whose disk starts as [`disk_byte`]s. The
    /// harness keeps a handle of its own to it, for the pager thread, the
    /// queries and the writeback, until [`Harness::finish`].
    pub fn create_pager_vmo(&self, key: u64, options: u32, size: u64) -> Result<Handle, Status> {
        let vmo = self.zx.pager_create_vmo(self.pager, options, self.port, key, size)?;
        let rights = self.zx.object_get_info_handle_basic(vmo)?.rights;
        let own = self.zx.handle_duplicate(vmo, rights)?;
        self.disks.lock().unwrap().insert(key, (0..size).map(|o| disk_byte(key, o)).collect());
        self.vmos.lock().unwrap().insert(key, own);
        Ok(vmo)
    }

    /// The harness's handle to the pager VMO `key`.
    fn vmo(&self, key: u64) -> Handle {
        self.vmos.lock().unwrap()[&key]
    }

    /// Every dirty range of `[0, size)` of the pager VMO `key`: (offset,
    /// length, zero).
    pub fn dirty_ranges(&self, key: u64, size: u64) -> Vec<(u64, u64, bool)> {
        let vmo = self.vmo(key);
        let mut buffer = vec![0; VmoDirtyRange::SIZE * (size / P + 1) as usize];
        let (actual, avail) =
            self.zx.pager_query_dirty_ranges(self.pager, vmo, 0, size, &mut buffer).expect("query");
        assert_eq!(actual, avail, "the buffer holds every range");
        let ranges = VmoDirtyRange::from_bytes(&buffer, actual);
        ranges.iter().map(|r| (r.offset, r.length, r.options & ZX_VMO_DIRTY_RANGE_IS_ZERO != 0)).collect()
    }

    /// The first half of the writeback loop over the pager VMO `key`
    /// (`pager_op_range.md`'s sample): each dirty range is begun, and copied
    /// to its disk.
    pub fn begin_write_back(&self, key: u64, size: u64) {
        let vmo = self.vmo(key);
        for (offset, len, zero) in self.dirty_ranges(key, size) {
            self.zx
                .pager_op_range(self.pager, ZX_PAGER_OP_WRITEBACK_BEGIN, vmo, offset, len, 0)
                .expect("WRITEBACK_BEGIN of a dirty range");
            let mut bytes = vec![0; len as usize];
            if !zero {
                self.zx.vmo_read(vmo, &mut bytes, offset).expect("the dirty range reads");
            }
            let mut disks = self.disks.lock().unwrap();
            let disk = disks.get_mut(&key).expect("a disk");
            let end = (offset + len) as usize;
            if disk.len() < end {
                disk.resize(end, 0);
            }
            disk[offset as usize..end].copy_from_slice(&bytes);
        }
    }

    /// The second half: WRITEBACK_END over the whole pager VMO `key`.
    pub fn end_write_back(&self, key: u64, size: u64) {
        if size != 0 {
            let vmo = self.vmo(key);
            self.zx
                .pager_op_range(self.pager, ZX_PAGER_OP_WRITEBACK_END, vmo, 0, size, 0)
                .expect("WRITEBACK_END of the whole VMO");
        }
    }

    /// Runs `call` with the pager failing the first READ request it sends
    /// (`ZX_PAGER_OP_FAIL` with ZX_ERR_IO) and supplying the rest; returns
    /// its result and whether a request was failed.
    pub fn failing_first_read<T>(&self, call: impl FnOnce() -> T) -> (T, bool) {
        self.next_read.store(NextRead::Fail as u8, Ordering::SeqCst);
        let result = call();
        let was = self.next_read.swap(NextRead::Supply as u8, Ordering::SeqCst);
        (result, was == NextRead::Failed as u8)
    }

    /// `pager_op_range` of the harness's pager on `vmo`.
    pub fn pager_op(&self, op: u32, vmo: Handle, offset: u64, len: u64, data: u64) -> Result<(), Status> {
        self.zx.pager_op_range(self.pager, op, vmo, offset, len, data)
    }

    /// `len` bytes of the disk of `key` from `offset`, zero past its end.
    pub fn disk(&self, key: u64, offset: u64, len: u64) -> Vec<u8> {
        disk_bytes(&self.disks, key, offset, len)
    }

    /// Loads the byte at `va` as a CPU of the address space would.
    pub fn load(&self, va: u64) -> Result<u8, Status> {
        let mut byte = [0];
        self.mmu.read(self.zx.root_vmar_object(), va, &mut byte)?;
        Ok(byte[0])
    }

    /// Stores `byte` at `va`.
    pub fn store(&self, va: u64, byte: u8) -> Result<(), Status> {
        self.mmu.write(self.zx.root_vmar_object(), va, &[byte])
    }

    /// Stops the pager thread, if it runs.
    fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            // After a panic the thread may be gone already: nothing to stop.
            if self.zx.port_queue(self.port, &PortPacket::user(0, 0, [0; 32])).is_ok() {
                let _ = thread.join();
            }
        }
    }

    /// Stops the pager thread and closes the pager and its port; every VMO
    /// must be closed by now. `Err` if a handle or a frame is left.
    pub fn finish(mut self) -> Result<(), String> {
        self.stop();
        for (_, vmo) in self.vmos.lock().unwrap().drain() {
            self.zx.handle_close(vmo).expect("the harness's pager VMO handle");
        }
        self.zx.handle_close(self.pager).expect("the pager");
        self.zx.handle_close(self.port).expect("the port");
        match (self.zx.handle_count(), self.machine.used_frames()) {
            (1, 0) => Ok(()),
            (handles, frames) => {
                Err(format!("{handles} handles (1 is the root VMAR's) and {frames} frames left"))
            }
        }
    }
}

impl Drop for Harness {
    /// A sequence that failed half-way leaves no thread behind.
    fn drop(&mut self) {
        self.stop();
    }
}

/// The pager thread: READs are supplied from the disk through an aux VMO
/// (or failed, when `next_read` says so), DIRTY requests approved
/// (NOT_FOUND when the range became a gap since); a user packet stops it.
fn serve(
    zx: &Zx,
    pager: Handle,
    port: Handle,
    vmos: &Mutex<HashMap<u64, Handle>>,
    disks: &Disks,
    next_read: &AtomicU8,
) {
    loop {
        let packet = zx.port_wait(port, ZX_TIME_INFINITE).expect("the pager's port");
        if packet.packet_type != ZX_PKT_TYPE_PAGE_REQUEST {
            return;
        }
        let request = packet.page_request().expect("a page request");
        let Some(&vmo) = vmos.lock().unwrap().get(&packet.key) else { continue };
        let (offset, len) = (request.offset, request.length);
        match request.command {
            ZX_PAGER_VMO_READ
                if next_read
                    .compare_exchange(
                        NextRead::Fail as u8,
                        NextRead::Failed as u8,
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    )
                    .is_ok() =>
            {
                let io = Status::Io.into_raw() as i64 as u64;
                zx.pager_op_range(pager, ZX_PAGER_OP_FAIL, vmo, offset, len, io).expect("FAIL of a READ");
            }
            ZX_PAGER_VMO_READ => {
                let bytes = disk_bytes(disks, packet.key, offset, len);
                let aux = zx.vmo_create(len, 0).expect("an aux VMO");
                zx.vmo_write(aux, &bytes, 0).expect("the aux VMO takes the bytes");
                // The VMO may have shrunk or closed since the request.
                let _ = zx.pager_supply_pages(pager, vmo, offset, len, aux, 0);
                zx.handle_close(aux).expect("the aux VMO");
            }
            ZX_PAGER_VMO_DIRTY => match zx.pager_op_range(pager, ZX_PAGER_OP_DIRTY, vmo, offset, len, 0) {
                Ok(()) | Err(Status::NotFound | Status::OutOfRange | Status::BadHandle) => {}
                Err(status) => panic!("OP_DIRTY ({offset:#x}, {len:#x}): {status:?}"),
            },
            _ => {}
        }
    }
}

/// `len` bytes of the disk of `key` from `offset`, zero past its end (a
/// disk grows only when the writeback writes past it).
fn disk_bytes(disks: &Disks, key: u64, offset: u64, len: u64) -> Vec<u8> {
    let disks = disks.lock().unwrap();
    let disk = &disks[&key];
    (offset..offset + len).map(|o| disk.get(o as usize).copied().unwrap_or(0)).collect()
}
