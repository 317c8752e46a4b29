//! Kernel object types (`zx_obj_type_t`, digest §1.10) and the objects a
//! handle can refer to.

use alloc::sync::Arc;

use vm_core::pager::Pager;
use vm_core::vmar::Vmar;
use vm_core::vmo::Vmo;

use crate::port::Port;

/// `zx_obj_type_t`, with Zircon's values (digest §1.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ObjectType {
    /// `ZX_OBJ_TYPE_VMO`.
    Vmo = 3,
    /// `ZX_OBJ_TYPE_PORT`.
    Port = 6,
    /// `ZX_OBJ_TYPE_VMAR`.
    Vmar = 18,
    /// `ZX_OBJ_TYPE_PAGER`.
    Pager = 28,
}

impl ObjectType {
    /// The raw `zx_obj_type_t` value.
    pub const fn into_raw(self) -> u32 {
        self as u32
    }
}

/// An object a handle can refer to. A pager closes when the last handle to
/// it goes (handles hold its only strong references).
#[derive(Clone)]
pub(crate) enum KernelObject {
    Vmo(Arc<Vmo>),
    Vmar(Arc<Vmar>),
    Port(Arc<Port>),
    Pager(Arc<Pager>),
}

impl KernelObject {
    pub(crate) fn object_type(&self) -> ObjectType {
        match self {
            KernelObject::Vmo(_) => ObjectType::Vmo,
            KernelObject::Vmar(_) => ObjectType::Vmar,
            KernelObject::Port(_) => ObjectType::Port,
            KernelObject::Pager(_) => ObjectType::Pager,
        }
    }

    /// The object's koid.
    pub(crate) fn koid(&self) -> u64 {
        match self {
            KernelObject::Vmo(vmo) => vmo.koid(),
            KernelObject::Vmar(vmar) => vmar.koid(),
            KernelObject::Port(port) => port.koid(),
            KernelObject::Pager(pager) => pager.koid(),
        }
    }

    /// `related_koid`: a pager VMO's pager (Zircon's
    /// `VmObjectDispatcher::get_related_koid`), 0 for everything else.
    pub(crate) fn related_koid(&self) -> u64 {
        match self {
            KernelObject::Vmo(vmo) => vmo.pager_koid().unwrap_or(0),
            _ => 0,
        }
    }
}
