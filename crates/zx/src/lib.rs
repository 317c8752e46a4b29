//! zx: a Zircon-shaped object layer over vm-core.
//!
//! A [`Zx`] instance owns a handle table and a root VMAR; its methods are the
//! VM syscalls of Zircon, named after them (`vmo_create`, `vmar_map`,
//! `handle_duplicate`, ...), so that a Zircon conformance test translates
//! line by line: handles in, `Result<_, Status>` out, out-parameters as
//! return values and user buffers as slices. Constants keep Zircon's names
//! and values: [`Rights`] (`ZX_RIGHT_*`), the option bits of [`options`],
//! the op codes of [`ops`], the packets of [`port`], the info topics and
//! records of [`info`], the properties of [`property`] and the signals of
//! [`signals`].
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod handle;
pub mod info;
mod instance;
mod object;
pub mod ops;
pub mod options;
pub mod port;
pub mod property;
mod rights;
pub mod signals;
mod syscalls;

pub use handle::Handle;
pub use info::HandleBasicInfo;
pub use instance::Zx;
pub use object::ObjectType;
pub use ops::VmoLockState;
pub use port::{PageRequest, PortPacket};
pub use rights::Rights;
pub use vm_core::fault::Access;
pub use vm_core::Status;
