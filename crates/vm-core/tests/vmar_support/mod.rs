//! Shared set-up of the VMAR and fault tests: a mock machine, a recording
//! MMU and a root VMAR over it.
#![allow(dead_code)]

use std::sync::Arc;

use vm_core::fault::Access;
use vm_core::mock::{Machine, MockMmu};
use vm_core::platform::FrameAllocator;
use vm_core::vmar::{VmFlags, VmOptions, Vmar};
use vm_core::vmo::{Vmo, VmoOptions};
use vm_core::{PhysAddr, PAGE_SIZE};

pub const P: u64 = PAGE_SIZE;
pub const ROOT_BASE: u64 = 0x10_0000_0000;
pub const ROOT_SIZE: u64 = 1 << 30;

/// One address space on a mock machine. Field order is drop order: the
/// address space goes first, the machine (which checks that every frame was
/// returned) last.
pub struct Env {
    pub root: Arc<Vmar>,
    pub mmu: Arc<MockMmu>,
    pub machine: Machine,
}

impl Env {
    pub fn new() -> Env {
        let machine = Machine::new(256);
        let mmu = Arc::new(MockMmu::with_range(ROOT_BASE, ROOT_SIZE));
        let root = Vmar::new_root(&machine.ctx, mmu.clone());
        Env { root, mmu, machine }
    }

    pub fn vmo(&self, pages: u64) -> Arc<Vmo> {
        Vmo::create(&self.machine.ctx, pages * P, VmoOptions::empty()).unwrap()
    }

    pub fn zero_frame(&self) -> PhysAddr {
        self.machine.ctx.zero_frame()
    }

    /// Maps all of `vmo` anywhere in the root with `flags`.
    pub fn map(&self, vmo: &Arc<Vmo>, flags: VmFlags) -> u64 {
        self.root.map(flags.into(), 0, vmo, 0, vmo.size()).unwrap()
    }

    /// A CPU load of `len` bytes at `va`.
    pub fn load(&self, va: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        self.mmu.read(&self.root, va, &mut buf).unwrap();
        buf
    }

    /// A CPU store of `data` at `va`.
    pub fn store(&self, va: u64, data: &[u8]) {
        self.mmu.write(&self.root, va, data).unwrap();
    }

    /// The bytes of the frame `va` translates to, read through the physmap.
    pub fn frame_bytes(&self, va: u64, len: usize) -> Vec<u8> {
        let pte = self.mmu.pte(va).expect("a translation");
        let mut buf = vec![0; len];
        self.machine.frames.read(pte.frame, (va % P) as usize, &mut buf);
        buf
    }

    /// What one CPU access to `va` resolves to.
    pub fn access(&self, va: u64, access: Access) -> Result<PhysAddr, vm_core::Status> {
        self.mmu.access(&self.root, va, access)
    }
}

pub const R: VmFlags = VmFlags::PERM_READ;
pub const RW: VmFlags = VmFlags::PERM_READ.union(VmFlags::PERM_WRITE);

pub fn opts(flags: VmFlags) -> VmOptions {
    flags.into()
}

pub fn vmo_read(vmo: &Vmo, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    vmo.read(offset, &mut buf).unwrap();
    buf
}

/// Asserts that every translation in `[va, va + pages * P)` points at the
/// frame `vmo` currently has for that page, and is writable only where the
/// VMO hands the page out writable: no stale translation survived.
pub fn assert_translations_current(env: &Env, va: u64, vmo: &Vmo, pages: u64) {
    for page in 0..pages {
        let Some(pte) = env.mmu.pte(va + page * P) else {
            continue;
        };
        let current = vmo.lookup_for_fault(page * P, false).unwrap();
        assert_eq!(pte.frame, current.frame, "stale translation of page {page}");
        if pte.flags.contains(vm_core::platform::MmuFlags::WRITE) {
            assert!(current.writable, "page {page} writable while shared");
        }
    }
}
