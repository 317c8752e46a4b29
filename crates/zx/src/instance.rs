//! [`Zx`]: one instance of the object layer, owning a handle table and an
//! address space.

use alloc::sync::Arc;

use spin::Mutex;
use vm_core::context::VmContext;
use vm_core::fault::Access;
use vm_core::pager::Pager;
use vm_core::platform::Translation;
use vm_core::vmar::Vmar;
use vm_core::vmo::Vmo;

use crate::handle::{Handle, HandleEntry, HandleTable};
use crate::object::KernelObject;
use crate::port::Port;
use crate::{Rights, Status};

/// One instance of the object layer: what a process sees of the kernel. It
/// owns a handle table and a root VMAR over one address space; the methods
/// named after syscalls take and return handles of this table.
///
/// `Zx` is `Send + Sync`: every syscall may run concurrently with others on
/// any thread. The table lock is only held to look up, add or remove entries,
/// never across a VM operation, so a call that blocks (e.g. on a pager)
/// blocks no other caller.
pub struct Zx {
    ctx: Arc<VmContext>,
    root: Arc<Vmar>,
    root_handle: Handle,
    handles: Mutex<HandleTable>,
}

impl Zx {
    /// An instance over the address space whose translations `aspace`
    /// holds, with a root VMAR covering exactly the range those tables
    /// translate ([`Translation::va_range`]).
    pub fn new<T: Translation + 'static>(ctx: Arc<VmContext>, aspace: Arc<T>) -> Zx {
        let root = Vmar::new_root(&ctx, aspace);
        let mut handles = HandleTable::default();
        let root_handle = handles.insert(HandleEntry {
            object: KernelObject::Vmar(root.clone()),
            rights: Rights::DEFAULT_VMAR | Rights::READ | Rights::WRITE | Rights::EXECUTE,
        });
        Zx { ctx, root, root_handle, handles: Mutex::new(handles) }
    }

    /// The handle to the root VMAR handed out at creation (a process's
    /// `zx_vmar_root_self()`): default VMAR rights plus READ, WRITE and
    /// EXECUTE.
    pub fn root_vmar(&self) -> Handle {
        self.root_handle
    }

    /// The root VMAR object, for the platform's fault handler.
    pub fn root_vmar_object(&self) -> &Arc<Vmar> {
        &self.root
    }

    /// The VMO object `handle` names (no right needed), for platform code
    /// and tests that look under the syscalls; BAD_HANDLE, WRONG_TYPE.
    pub fn vmo_object(&self, handle: Handle) -> Result<Arc<Vmo>, Status> {
        self.vmo(handle, Rights::empty()).map(|(vmo, _)| vmo)
    }

    /// The VM context the instance's objects live in.
    pub fn context(&self) -> &Arc<VmContext> {
        &self.ctx
    }

    /// Resolves a page fault at `addr` in this instance's address space.
    pub fn fault(&self, addr: u64, access: Access) -> Result<(), Status> {
        self.root.fault(addr, access)
    }

    /// How many handles are open, the root VMAR's included.
    pub fn handle_count(&self) -> usize {
        self.handles.lock().len()
    }

    /// Adds a handle to `object` with `rights`.
    pub(crate) fn add_handle(&self, object: KernelObject, rights: Rights) -> Handle {
        self.handles.lock().insert(HandleEntry { object, rights })
    }

    /// A copy of `handle`'s entry; the table lock is released on return.
    pub(crate) fn entry(&self, handle: Handle) -> Result<HandleEntry, Status> {
        self.handles.lock().get(handle).cloned()
    }

    /// Runs `f` on the handle table, with its lock held.
    pub(crate) fn with_table<R>(&self, f: impl FnOnce(&mut HandleTable) -> R) -> R {
        f(&mut self.handles.lock())
    }

    /// Removes `handle` from the table: its pending `object_wait_async`
    /// observers are cancelled and its `object_wait_one` waiters wake (to
    /// CANCELED). The entry is returned, so that the object goes outside
    /// the table lock.
    pub(crate) fn remove_handle(&self, handle: Handle) -> Result<HandleEntry, Status> {
        let entry = self.with_table(|table| table.remove(handle))?;
        if let KernelObject::Vmo(vmo) = &entry.object {
            vmo.signals().cancel(u64::from(handle.raw()));
        }
        self.ctx.waiter.wake_all();
        Ok(entry)
    }

    /// The object `handle` names, any type, and ACCESS_DENIED unless the
    /// handle has every right in `required`.
    pub(crate) fn object_with(&self, handle: Handle, required: Rights) -> Result<KernelObject, Status> {
        let entry = self.entry(handle)?;
        check_rights(entry.rights, required)?;
        Ok(entry.object)
    }

    /// The object of the type `extract` picks that `handle` refers to, and
    /// the handle's rights, checked in Zircon's order: BAD_HANDLE,
    /// WRONG_TYPE, then ACCESS_DENIED unless the handle has every right in
    /// `required`.
    fn object<T>(
        &self,
        handle: Handle,
        required: Rights,
        extract: fn(KernelObject) -> Option<T>,
    ) -> Result<(T, Rights), Status> {
        let entry = self.entry(handle)?;
        let object = extract(entry.object).ok_or(Status::WrongType)?;
        check_rights(entry.rights, required)?;
        Ok((object, entry.rights))
    }

    /// The VMO `handle` refers to and the handle's rights (see
    /// [`Zx::object`]'s checks).
    pub(crate) fn vmo(&self, handle: Handle, required: Rights) -> Result<(Arc<Vmo>, Rights), Status> {
        self.object(handle, required, |o| match o {
            KernelObject::Vmo(vmo) => Some(vmo),
            _ => None,
        })
    }

    /// The VMAR `handle` refers to and the handle's rights.
    pub(crate) fn vmar(&self, handle: Handle, required: Rights) -> Result<(Arc<Vmar>, Rights), Status> {
        self.object(handle, required, |o| match o {
            KernelObject::Vmar(vmar) => Some(vmar),
            _ => None,
        })
    }

    /// The port `handle` refers to.
    pub(crate) fn port(&self, handle: Handle, required: Rights) -> Result<Arc<Port>, Status> {
        let extract = |o| match o {
            KernelObject::Port(port) => Some(port),
            _ => None,
        };
        self.object(handle, required, extract).map(|(port, _)| port)
    }

    /// The pager `handle` refers to.
    pub(crate) fn pager(&self, handle: Handle, required: Rights) -> Result<Arc<Pager>, Status> {
        let extract = |o| match o {
            KernelObject::Pager(pager) => Some(pager),
            _ => None,
        };
        self.object(handle, required, extract).map(|(pager, _)| pager)
    }
}

// The handle table and every object behind it are shared between threads.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Zx>();
};

/// ACCESS_DENIED unless `rights` has every right in `required`.
pub(crate) fn check_rights(rights: Rights, required: Rights) -> Result<(), Status> {
    if rights.contains(required) {
        Ok(())
    } else {
        Err(Status::AccessDenied)
    }
}
