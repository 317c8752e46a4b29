//! Helpers shared by the VMO, COW and page-list tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use vm_core::mock::Machine;
use vm_core::vmo::{ChildKind, Vmo, VmoMapping, VmoOptions};
use vm_core::PAGE_SIZE;

pub const P: u64 = PAGE_SIZE;

/// A machine with enough frames for the tests; it checks on drop that every
/// frame came back.
pub fn machine() -> Machine {
    Machine::new(512)
}

pub fn vmo(m: &Machine, pages: u64) -> Arc<Vmo> {
    Vmo::create(&m.ctx, pages * P, VmoOptions::empty()).unwrap()
}

pub fn resizable(m: &Machine, pages: u64) -> Arc<Vmo> {
    Vmo::create(&m.ctx, pages * P, VmoOptions::RESIZABLE).unwrap()
}

/// `InitPageTaggedVmo`: page i holds the tag i + 1.
pub fn tagged(m: &Machine, pages: u64) -> Arc<Vmo> {
    let v = vmo(m, pages);
    for i in 0..pages {
        set_tag(&v, i, i as u32 + 1);
    }
    v
}

pub fn set_tag(v: &Vmo, page: u64, tag: u32) {
    v.write(page * P, &tag.to_le_bytes()).unwrap();
}

pub fn tag(v: &Vmo, page: u64) -> u32 {
    let mut b = [0u8; 4];
    v.read(page * P, &mut b).unwrap();
    u32::from_le_bytes(b)
}

pub fn tags(v: &Vmo) -> Vec<u32> {
    (0..v.size() / P).map(|i| tag(v, i)).collect()
}

pub fn snapshot(v: &Arc<Vmo>, offset_pages: u64, pages: u64) -> Arc<Vmo> {
    v.create_child(ChildKind::Snapshot, offset_pages * P, pages * P, false).unwrap()
}

/// What a [`Recorder`] was told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    Unmap(u64, u64),
    RemoveWrite(u64, u64),
}

/// A [`VmoMapping`] that records every call.
#[derive(Default)]
pub struct Recorder(Mutex<Vec<Notice>>);

impl Recorder {
    /// A recorder registered on `v`.
    pub fn on(v: &Vmo) -> Arc<Recorder> {
        let r = Arc::new(Recorder::default());
        let weak: std::sync::Weak<dyn VmoMapping> = Arc::downgrade(&r) as _;
        v.add_mapping(weak);
        r
    }

    pub fn take(&self) -> Vec<Notice> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl VmoMapping for Recorder {
    fn unmap_vmo_range(&self, offset: u64, len: u64, _written: &mut dyn FnMut(u64)) {
        self.0.lock().unwrap().push(Notice::Unmap(offset, len));
    }

    fn remove_write_vmo_range(&self, offset: u64, len: u64, _written: &mut dyn FnMut(u64)) {
        self.0.lock().unwrap().push(Notice::RemoveWrite(offset, len));
    }

    /// Holds no translations, so nothing was written through it.
    fn harvest_written(&self, _offset: u64, _len: u64, _written: &mut dyn FnMut(u64)) {}

    /// Each recorder stands for an address space of its own.
    fn address_space(&self) -> usize {
        self as *const Recorder as usize
    }
}
