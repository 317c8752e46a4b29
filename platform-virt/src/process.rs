//! A process on this platform: a [`Zx`] instance over an address space of
//! its own, which is what an image links `zx` for. Entering it on a CPU
//! ([`Process::enter`]) makes the CPU walk its tables and resolve its faults
//! in the Zx's root VMAR, so loads and stores at the addresses `vmar_map`
//! returns work there.

use crate::vm::{context, context_with_budget, new_tables, AddressSpace};
use alloc::sync::Arc;
use vm_core::Status;
use zx::Zx;

/// A Zx instance and the address space its root VMAR covers.
pub struct Process {
    pub zx: Zx,
    pub aspace: Arc<AddressSpace>,
}

impl Process {
    /// A new VM context, new translation tables, and a Zx over them
    /// (`NO_MEMORY`, or `NO_RESOURCES` when no ASID is free).
    pub fn new() -> Result<Process, Status> {
        Self::over(context()?)
    }

    /// Like [`Process::new`], with a VM context that may hold at most
    /// `frames` frames ([`crate::vm::context_with_budget`]).
    pub fn with_frame_budget(frames: usize) -> Result<Process, Status> {
        Self::over(context_with_budget(frames)?)
    }

    fn over(ctx: Arc<vm_core::context::VmContext>) -> Result<Process, Status> {
        let tables = new_tables()?;
        let zx = Zx::new(ctx, tables.clone());
        let aspace = AddressSpace::new(zx.root_vmar_object().clone(), tables);
        Ok(Process { zx, aspace })
    }

    /// Makes the process's address space this CPU's ([`AddressSpace::enter`]).
    pub fn enter(&self) {
        self.aspace.enter();
    }
}

impl Drop for Process {
    /// Destroys the root VMAR, as a process's exit does: every mapping goes,
    /// and with the handles the VMOs. A CPU still in the address space finds
    /// nothing mapped.
    fn drop(&mut self) {
        // The root VMAR only refuses (BAD_STATE) if it is already destroyed.
        let _ = self.aspace.root.destroy();
    }
}
