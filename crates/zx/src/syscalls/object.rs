//! The object syscalls: `zx_object_get_info`, `zx_object_get_property`,
//! `zx_object_set_property`, `zx_object_wait_one` and
//! `zx_object_wait_async` (Zircon's `syscalls/object.cc`,
//! `object_wait.cc`; digest §1.9, §2.8, §2.10).

use alloc::sync::Arc;

use vm_core::platform::INFINITE;

use crate::handle::Handle;
use crate::info::*;
use crate::object::KernelObject;
use crate::port::ZX_TIME_INFINITE;
use crate::property::{ZX_PROP_NAME, ZX_PROP_VMO_CONTENT_SIZE};
use crate::signals::*;
use crate::{Rights, Status, Zx};

/// Writes a topic's one record into `buffer` as Zircon's
/// `single_record_result` does: `actual` = 1 and `avail` = 1 when it fits,
/// else `actual` = 0, `avail` = 1 and BUFFER_TOO_SMALL.
fn single_record(
    record: &[u8],
    buffer: &mut [u8],
    actual: Option<&mut usize>,
    avail: Option<&mut usize>,
) -> Result<(), Status> {
    let fits = buffer.len() >= record.len();
    if fits {
        buffer[..record.len()].copy_from_slice(record);
    }
    if let Some(actual) = actual {
        *actual = usize::from(fits);
    }
    if let Some(avail) = avail {
        *avail = 1;
    }
    if fits {
        Ok(())
    } else {
        Err(Status::BufferTooSmall)
    }
}

impl Zx {
    /// `zx_object_get_info(ZX_INFO_HANDLE_BASIC)` as a value: the koid,
    /// rights, type and related koid of `handle` (no right needed);
    /// BAD_HANDLE.
    pub fn object_get_info_handle_basic(&self, handle: Handle) -> Result<HandleBasicInfo, Status> {
        let entry = self.entry(handle)?;
        Ok(HandleBasicInfo {
            koid: entry.object.koid(),
            rights: entry.rights,
            object_type: entry.object.object_type(),
            related_koid: entry.object.related_koid(),
        })
    }

    /// `zx_object_get_info(ZX_INFO_VMO)` as a value: the record of the VMO
    /// `handle` names (no right needed, as in Zircon); BAD_HANDLE,
    /// WRONG_TYPE.
    pub fn object_get_info_vmo(&self, handle: Handle) -> Result<VmoInfoRecord, Status> {
        let (vmo, rights) = self.vmo(handle, Rights::empty())?;
        Ok(VmoInfoRecord::new(&vmo.info(), rights))
    }

    /// `zx_object_get_info`: the records of `topic` about `handle` into
    /// `buffer`, the number written into `actual` and the number there are
    /// into `avail` (each optional, as the C pointers).
    ///
    /// Topics: `ZX_INFO_HANDLE_VALID` (OK for a valid handle; no record),
    /// `ZX_INFO_HANDLE_BASIC` (any handle, no right), `ZX_INFO_VMO` and its
    /// `_V1`/`_V2` prefixes (a VMO, no right: WRONG_TYPE otherwise) and
    /// `ZX_INFO_VMAR` (a VMAR with [`Rights::INSPECT`]). Any other topic is
    /// NOT_SUPPORTED, before the handle is looked at, as in Zircon. Each
    /// topic has one record: a buffer too small for it gets none,
    /// `actual` = 0, `avail` = 1 and BUFFER_TOO_SMALL.
    pub fn object_get_info(
        &self,
        handle: Handle,
        topic: u32,
        buffer: &mut [u8],
        actual: Option<&mut usize>,
        avail: Option<&mut usize>,
    ) -> Result<(), Status> {
        match topic {
            ZX_INFO_HANDLE_VALID => self.entry(handle).map(|_| ()),
            ZX_INFO_HANDLE_BASIC => {
                let record = self.object_get_info_handle_basic(handle)?.to_bytes();
                single_record(&record, buffer, actual, avail)
            }
            ZX_INFO_VMO | ZX_INFO_VMO_V1 | ZX_INFO_VMO_V2 => {
                let record = self.object_get_info_vmo(handle)?.to_bytes();
                let len = match topic {
                    ZX_INFO_VMO_V1 => VmoInfoRecord::V1_SIZE,
                    ZX_INFO_VMO_V2 => VmoInfoRecord::V2_SIZE,
                    _ => VmoInfoRecord::SIZE,
                };
                single_record(&record[..len], buffer, actual, avail)
            }
            ZX_INFO_VMAR => {
                let (vmar, _) = self.vmar(handle, Rights::INSPECT)?;
                let record = VmarInfo { base: vmar.base(), len: vmar.size() }.to_bytes();
                single_record(&record, buffer, actual, avail)
            }
            _ => Err(Status::NotSupported),
        }
    }

    /// `zx_object_get_property`: needs [`Rights::GET_PROPERTY`] (after
    /// BAD_HANDLE; the type is checked per property). `ZX_PROP_NAME` fills
    /// `ZX_MAX_NAME_LEN` bytes (BUFFER_TOO_SMALL for a shorter `value`);
    /// only VMOs have names here, other objects report an empty one.
    /// `ZX_PROP_VMO_CONTENT_SIZE` writes a `u64` (BUFFER_TOO_SMALL under 8
    /// bytes, WRONG_TYPE for anything but a VMO). Other properties are
    /// NOT_SUPPORTED.
    pub fn object_get_property(&self, handle: Handle, property: u32, value: &mut [u8]) -> Result<(), Status> {
        let object = self.object_with(handle, Rights::GET_PROPERTY)?;
        match property {
            ZX_PROP_NAME => {
                let out = value.get_mut(..ZX_MAX_NAME_LEN).ok_or(Status::BufferTooSmall)?;
                match object {
                    KernelObject::Vmo(vmo) => out.copy_from_slice(&vmo.name()),
                    _ => out.fill(0),
                }
                Ok(())
            }
            ZX_PROP_VMO_CONTENT_SIZE => {
                let out = value.get_mut(..8).ok_or(Status::BufferTooSmall)?;
                let KernelObject::Vmo(vmo) = object else { return Err(Status::WrongType) };
                out.copy_from_slice(&vmo.content_size().to_ne_bytes());
                Ok(())
            }
            _ => Err(Status::NotSupported),
        }
    }

    /// `zx_object_set_property`: needs [`Rights::SET_PROPERTY`].
    /// `ZX_PROP_NAME` takes `value` up to its first NUL, cut to
    /// `ZX_MAX_NAME_LEN - 1` bytes (NOT_SUPPORTED on objects without a
    /// name). `ZX_PROP_VMO_CONTENT_SIZE` takes a `u64` (BUFFER_TOO_SMALL
    /// under 8 bytes, WRONG_TYPE for anything but a VMO), any value: the
    /// bytes from it to the VMO's end are zeroed
    /// ([`Vmo::set_content_size`](vm_core::vmo::Vmo::set_content_size)).
    /// Other properties are NOT_SUPPORTED.
    pub fn object_set_property(&self, handle: Handle, property: u32, value: &[u8]) -> Result<(), Status> {
        let object = self.object_with(handle, Rights::SET_PROPERTY)?;
        match property {
            ZX_PROP_NAME => {
                let KernelObject::Vmo(vmo) = object else { return Err(Status::NotSupported) };
                vmo.set_name(&value[..value.len().min(ZX_MAX_NAME_LEN - 1)]);
                Ok(())
            }
            ZX_PROP_VMO_CONTENT_SIZE => {
                let bytes: [u8; 8] =
                    value.get(..8).ok_or(Status::BufferTooSmall)?.try_into().expect("8 bytes");
                let KernelObject::Vmo(vmo) = object else { return Err(Status::WrongType) };
                vmo.set_content_size(u64::from_ne_bytes(bytes))
            }
            _ => Err(Status::NotSupported),
        }
    }

    /// `zx_object_wait_one`: waits until any of `signals` is asserted on
    /// the object `handle` names, or until `deadline` (on
    /// [`Zx::clock_get_monotonic`]'s clock; [`ZX_TIME_INFINITE`] never
    /// passes, a past one only looks). Needs [`Rights::WAIT`]; only VMOs
    /// have signals here (NOT_SUPPORTED otherwise, which no handle of
    /// another type reaches: none carries WAIT). TIMED_OUT when the
    /// deadline passes first; CANCELED when the handle is closed during the
    /// wait. On OK, TIMED_OUT and CANCELED, `observed` gets the signals
    /// asserted at the end (with `ZX_SIGNAL_HANDLE_CLOSED` for CANCELED).
    pub fn object_wait_one(
        &self,
        handle: Handle,
        signals: u32,
        deadline: i64,
        observed: Option<&mut u32>,
    ) -> Result<(), Status> {
        let KernelObject::Vmo(vmo) = self.object_with(handle, Rights::WAIT)? else {
            return Err(Status::NotSupported);
        };
        let deadline = if deadline == ZX_TIME_INFINITE { INFINITE } else { deadline.max(0) as u64 };
        let closed = || self.entry(handle).is_err();
        let done = || vmo.signals().active() & signals != 0 || closed();
        let satisfied = self.context().waiter.wait_until_deadline(&done, deadline);
        let mut active = vmo.signals().active();
        let result = if closed() {
            active |= ZX_SIGNAL_HANDLE_CLOSED;
            Err(Status::Canceled)
        } else if satisfied || active & signals != 0 {
            Ok(())
        } else {
            Err(Status::TimedOut)
        };
        if let Some(observed) = observed {
            *observed = active;
        }
        result
    }

    /// `zx_object_wait_async`: once any of `signals` is asserted on the
    /// object `handle` names (at once if already, unless
    /// `ZX_WAIT_ASYNC_EDGE`), one `ZX_PKT_TYPE_SIGNAL_ONE` packet with `key`
    /// is queued on `port`, carrying the trigger, the signals observed,
    /// count 1 and, with `ZX_WAIT_ASYNC_TIMESTAMP` or `_BOOT_TIMESTAMP`, the
    /// time. Checked in Zircon's order: the options (INVALID_ARGS for
    /// unknown bits, or both timestamps), the port (BAD_HANDLE, WRONG_TYPE,
    /// ACCESS_DENIED without [`Rights::WRITE`]), the handle (BAD_HANDLE,
    /// ACCESS_DENIED without [`Rights::WAIT`]); only VMOs have signals here
    /// (NOT_SUPPORTED). Closing `handle` before the packet is queued
    /// cancels the wait.
    pub fn object_wait_async(
        &self,
        handle: Handle,
        port: Handle,
        key: u64,
        signals: u32,
        options: u32,
    ) -> Result<(), Status> {
        const KNOWN: u32 = ZX_WAIT_ASYNC_TIMESTAMP | ZX_WAIT_ASYNC_EDGE | ZX_WAIT_ASYNC_BOOT_TIMESTAMP;
        const BOTH_CLOCKS: u32 = ZX_WAIT_ASYNC_TIMESTAMP | ZX_WAIT_ASYNC_BOOT_TIMESTAMP;
        if options & !KNOWN != 0 || options & BOTH_CLOCKS == BOTH_CLOCKS {
            return Err(Status::InvalidArgs);
        }
        let port = self.port(port, Rights::WRITE)?;
        let KernelObject::Vmo(vmo) = self.object_with(handle, Rights::WAIT)? else {
            return Err(Status::NotSupported);
        };
        let clock = (options & BOTH_CLOCKS != 0).then(|| self.context().waiter.clone());
        let edge = options & ZX_WAIT_ASYNC_EDGE != 0;
        let observer = PortObserver { port, key, trigger: signals, edge, clock };
        vmo.signals().observe(u64::from(handle.raw()), Arc::new(observer));
        Ok(())
    }
}
