//! The page-fault path: from a faulting address to an installed translation.
//!
//! Digest §2.12 "Fault behaviour" and §6.5: a fault finds the mapping that
//! covers the address (none: `NOT_FOUND`), checks the access against the
//! mapping's permissions (`ACCESS_DENIED`), asks the VMO for the page
//! ([`Vmo::lookup_for_fault`](crate::vmo::Vmo::lookup_for_fault), which
//! commits, forks or refuses with `OUT_OF_RANGE` beyond the VMO's size) and
//! installs the translation, having first taken the tables it needs
//! (`NO_MEMORY` before the VMO changes). A page the VMO does not hand out as writable
//! (the shared zero page, a page still shared copy-on-write) is mapped without
//! WRITE, so the first write faults again and forks.

use crate::platform::MmuFlags;
use crate::vmar::Vmar;
use crate::{Status, PAGE_SIZE};

/// The kind of access that faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Execute,
}

impl Access {
    /// The permission a translation needs to allow this access.
    pub fn required(self) -> MmuFlags {
        match self {
            Access::Read => MmuFlags::READ,
            Access::Write => MmuFlags::WRITE,
            Access::Execute => MmuFlags::EXECUTE,
        }
    }
}

impl Vmar {
    /// Resolves a fault at `addr` for `access`, searching this region and the
    /// regions below it, and installs the translation of `addr`'s page.
    ///
    /// `NOT_FOUND` when no mapping covers `addr` (or this region was
    /// destroyed), `ACCESS_DENIED` when the mapping does not permit `access`,
    /// and the VMO's status when it cannot supply the page (`OUT_OF_RANGE`
    /// beyond its size, `NO_MEMORY`).
    pub fn fault(&self, addr: u64, access: Access) -> Result<(), Status> {
        let va = addr & !(PAGE_SIZE - 1);
        loop {
            let target = self.fault_target(va, access)?;
            // The tables first: a fault that finds no memory for them must
            // not have changed the VMO (`Translation::prepare`).
            target.mapping.prepare(va)?;
            let page = target.mapping.vmo().lookup_for_fault(target.vmo_offset, access == Access::Write)?;
            // A mapping change or VMO invalidation between the lookup and
            // here makes the page stale: look it up again.
            if target.mapping.install(va, page, target.generation, Some(access))? {
                return Ok(());
            }
        }
    }
}
