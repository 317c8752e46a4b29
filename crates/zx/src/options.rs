//! Option bits of the VM syscalls, with Zircon's values (`types.h`, digest
//! §1.3, §1.7, §1.8).
//!
//! They are plain `u32` constants, as in Zircon, so that a test can pass any
//! combination, including unknown bits that the syscalls must reject. The
//! mapping flags take their values from vm-core's [`VmFlags`].

use vm_core::vmar::VmFlags;

/// `zx_vm_option_t`: options of `vmar_map`, `vmar_allocate` and `vmar_protect`.
pub type VmOption = u32;

// VMO creation options (`zx_vmo_create`, digest §1.3).
pub const ZX_VMO_RESIZABLE: u32 = 1 << 1;
pub const ZX_VMO_DISCARDABLE: u32 = 1 << 2;
pub const ZX_VMO_TRAP_DIRTY: u32 = 1 << 3;
pub const ZX_VMO_UNBOUNDED: u32 = 1 << 4;

// Child options (`zx_vmo_create_child`, digest §1.7).
pub const ZX_VMO_CHILD_SNAPSHOT: u32 = 1 << 0;
pub const ZX_VMO_CHILD_RESIZABLE: u32 = 1 << 2;
pub const ZX_VMO_CHILD_SLICE: u32 = 1 << 3;
pub const ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE: u32 = 1 << 4;
pub const ZX_VMO_CHILD_NO_WRITE: u32 = 1 << 5;
pub const ZX_VMO_CHILD_REFERENCE: u32 = 1 << 6;
pub const ZX_VMO_CHILD_SNAPSHOT_MODIFIED: u32 = 1 << 7;

// Mapping options (`zx_vm_option_t`, digest §1.8).
pub const ZX_VM_PERM_READ: VmOption = VmFlags::PERM_READ.bits();
pub const ZX_VM_PERM_WRITE: VmOption = VmFlags::PERM_WRITE.bits();
pub const ZX_VM_PERM_EXECUTE: VmOption = VmFlags::PERM_EXECUTE.bits();
pub const ZX_VM_COMPACT: VmOption = VmFlags::COMPACT.bits();
pub const ZX_VM_SPECIFIC: VmOption = VmFlags::SPECIFIC.bits();
pub const ZX_VM_SPECIFIC_OVERWRITE: VmOption = VmFlags::SPECIFIC_OVERWRITE.bits();
pub const ZX_VM_CAN_MAP_SPECIFIC: VmOption = VmFlags::CAN_MAP_SPECIFIC.bits();
pub const ZX_VM_CAN_MAP_READ: VmOption = VmFlags::CAN_MAP_READ.bits();
pub const ZX_VM_CAN_MAP_WRITE: VmOption = VmFlags::CAN_MAP_WRITE.bits();
pub const ZX_VM_CAN_MAP_EXECUTE: VmOption = VmFlags::CAN_MAP_EXECUTE.bits();
pub const ZX_VM_MAP_RANGE: VmOption = VmFlags::MAP_RANGE.bits();
pub const ZX_VM_REQUIRE_NON_RESIZABLE: VmOption = VmFlags::REQUIRE_NON_RESIZABLE.bits();
pub const ZX_VM_ALLOW_FAULTS: VmOption = VmFlags::ALLOW_FAULTS.bits();
pub const ZX_VM_OFFSET_IS_UPPER_LIMIT: VmOption = VmFlags::OFFSET_IS_UPPER_LIMIT.bits();
pub const ZX_VM_PERM_READ_IF_XOM_UNSUPPORTED: VmOption = VmFlags::PERM_READ_IF_XOM_UNSUPPORTED.bits();
pub const ZX_VM_FAULT_BEYOND_STREAM_SIZE: VmOption = VmFlags::FAULT_BEYOND_STREAM_SIZE.bits();

// Alignment of `vmar_map`/`vmar_allocate`: `ZX_VM_ALIGN_<2^n>` is `n << 24`.
pub const ZX_VM_ALIGN_BASE: u32 = 24;
pub const ZX_VM_ALIGN_1KB: VmOption = 10 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_2KB: VmOption = 11 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_4KB: VmOption = 12 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_8KB: VmOption = 13 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_16KB: VmOption = 14 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_32KB: VmOption = 15 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_64KB: VmOption = 16 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_128KB: VmOption = 17 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_256KB: VmOption = 18 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_512KB: VmOption = 19 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_1MB: VmOption = 20 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_2MB: VmOption = 21 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_4MB: VmOption = 22 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_8MB: VmOption = 23 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_16MB: VmOption = 24 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_32MB: VmOption = 25 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_64MB: VmOption = 26 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_128MB: VmOption = 27 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_256MB: VmOption = 28 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_512MB: VmOption = 29 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_1GB: VmOption = 30 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_2GB: VmOption = 31 << ZX_VM_ALIGN_BASE;
pub const ZX_VM_ALIGN_4GB: VmOption = 32 << ZX_VM_ALIGN_BASE;

// Cache policies (`zx_vmo_set_cache_policy`, digest §1.10).
pub const ZX_CACHE_POLICY_CACHED: u32 = 0;
pub const ZX_CACHE_POLICY_UNCACHED: u32 = 1;
pub const ZX_CACHE_POLICY_UNCACHED_DEVICE: u32 = 2;
pub const ZX_CACHE_POLICY_WRITE_COMBINING: u32 = 3;
pub const ZX_CACHE_POLICY_MASK: u32 = 3;
