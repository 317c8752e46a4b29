//! Object properties (`zx_object_get_property`, `zx_object_set_property`;
//! `zircon/syscalls/object.h`).

/// `ZX_PROP_NAME`: a `char[ZX_MAX_NAME_LEN]`, NUL-terminated.
pub const ZX_PROP_NAME: u32 = 3;
/// `ZX_PROP_VMO_CONTENT_SIZE`: a `uint64_t`, the VMO's content size.
pub const ZX_PROP_VMO_CONTENT_SIZE: u32 = 17;
