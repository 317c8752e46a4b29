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
