//! `zx_handle_t` and the handle table of one [`Zx`](crate::Zx) instance.

use alloc::collections::btree_map::{BTreeMap, Entry};

use crate::object::KernelObject;
use crate::{Rights, Status};

/// A handle value (`zx_handle_t`). [`Handle::INVALID`] (0) never names an
/// object; valid values always have their two low bits set, as in Zircon
/// (`ZX_HANDLE_FIXED_BITS_MASK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(u32);

impl Handle {
    /// `ZX_HANDLE_INVALID`.
    pub const INVALID: Handle = Handle(0);

    /// The handle with raw value `raw`, valid or not.
    pub const fn from_raw(raw: u32) -> Handle {
        Handle(raw)
    }

    /// The raw `zx_handle_t` value.
    pub const fn raw(self) -> u32 {
        self.0
    }
}

/// `ZX_HANDLE_FIXED_BITS_MASK`: bits set in every valid handle value.
const FIXED_BITS: u32 = 0x3;

/// What a handle refers to: an object and the rights held on it.
#[derive(Clone)]
pub(crate) struct HandleEntry {
    pub(crate) object: KernelObject,
    pub(crate) rights: Rights,
}

/// Handle values to entries. Values are handed out in increasing order and
/// are not reused until the 30-bit space wraps, so a stale value is
/// BAD_HANDLE rather than a different object.
#[derive(Default)]
pub(crate) struct HandleTable {
    entries: BTreeMap<u32, HandleEntry>,
    next: u32,
}

impl HandleTable {
    /// Adds `entry` under a fresh value.
    pub(crate) fn insert(&mut self, entry: HandleEntry) -> Handle {
        loop {
            self.next = (self.next + 1) & (u32::MAX >> 2);
            let value = (self.next << 2) | FIXED_BITS;
            if let Entry::Vacant(slot) = self.entries.entry(value) {
                slot.insert(entry);
                return Handle(value);
            }
        }
    }

    /// The entry `handle` names; BAD_HANDLE if none.
    pub(crate) fn get(&self, handle: Handle) -> Result<&HandleEntry, Status> {
        self.entries.get(&handle.0).ok_or(Status::BadHandle)
    }

    /// Removes and returns the entry `handle` names; BAD_HANDLE if none.
    pub(crate) fn remove(&mut self, handle: Handle) -> Result<HandleEntry, Status> {
        self.entries.remove(&handle.0).ok_or(Status::BadHandle)
    }

    /// How many handles are open.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
