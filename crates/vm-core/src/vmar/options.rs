//! `zx_vm_option_t` and the VMAR ops, with Zircon's values (digest §1.5, §1.8).

use crate::platform::MmuFlags;
use crate::{Status, PAGE_SIZE};

bitflags::bitflags! {
    /// The flag bits of `zx_vm_option_t` (digest §1.8).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct VmFlags: u32 {
        const PERM_READ = 1 << 0;
        const PERM_WRITE = 1 << 1;
        const PERM_EXECUTE = 1 << 2;
        const COMPACT = 1 << 3;
        const SPECIFIC = 1 << 4;
        const SPECIFIC_OVERWRITE = 1 << 5;
        const CAN_MAP_SPECIFIC = 1 << 6;
        const CAN_MAP_READ = 1 << 7;
        const CAN_MAP_WRITE = 1 << 8;
        const CAN_MAP_EXECUTE = 1 << 9;
        const MAP_RANGE = 1 << 10;
        const REQUIRE_NON_RESIZABLE = 1 << 11;
        const ALLOW_FAULTS = 1 << 12;
        const OFFSET_IS_UPPER_LIMIT = 1 << 13;
        const PERM_READ_IF_XOM_UNSUPPORTED = 1 << 14;
        const FAULT_BEYOND_STREAM_SIZE = 1 << 15;
    }
}

impl VmFlags {
    /// `PERM_READ | PERM_WRITE | PERM_EXECUTE`.
    pub const PERMS: VmFlags = VmFlags::PERM_READ.union(VmFlags::PERM_WRITE).union(VmFlags::PERM_EXECUTE);
    /// `CAN_MAP_READ | CAN_MAP_WRITE | CAN_MAP_EXECUTE`.
    pub const CAN_MAP_PERMS: VmFlags =
        VmFlags::CAN_MAP_READ.union(VmFlags::CAN_MAP_WRITE).union(VmFlags::CAN_MAP_EXECUTE);

    /// The `PERM_*` bits as hardware permissions.
    pub fn perms(self) -> MmuFlags {
        MmuFlags::from_bits_truncate(self.bits() & VmFlags::PERMS.bits())
    }

    /// The `CAN_MAP_{READ,WRITE,EXECUTE}` bits as hardware permissions.
    pub fn can_map(self) -> MmuFlags {
        MmuFlags::from_bits_truncate((self & VmFlags::CAN_MAP_PERMS).bits() >> 7)
    }

    /// The `CAN_MAP_*` bits that allow mapping with `perms`.
    pub fn from_can_map(perms: MmuFlags) -> VmFlags {
        VmFlags::from_bits_truncate((perms & MmuFlags::PERMS).bits() << 7)
    }

    /// Zircon's `is_valid_mapping_protection`: no WRITE without READ, and
    /// no EXECUTE without READ unless the tables can map execute-only pages.
    pub fn valid_protection(self, can_map_execute_only: bool) -> bool {
        let perms = self.perms();
        perms.contains(MmuFlags::READ)
            || !(perms.contains(MmuFlags::WRITE)
                || (perms.contains(MmuFlags::EXECUTE) && !can_map_execute_only))
    }

    /// SPECIFIC or SPECIFIC_OVERWRITE: the caller chose the address.
    pub fn is_specific(self) -> bool {
        self.intersects(VmFlags::SPECIFIC | VmFlags::SPECIFIC_OVERWRITE)
    }
}

/// `ZX_VM_ALIGN_BASE`: the alignment field's shift in `zx_vm_option_t`.
const ALIGN_BASE: u32 = 24;
/// The bits the alignment field may use (up to `ZX_VM_ALIGN_4GB` = 32).
const ALIGN_FIELD: u32 = 0x3f << ALIGN_BASE;
/// `ZX_VM_ALIGN_1KB` and `ZX_VM_ALIGN_4GB`: the alignments Zircon defines.
const ALIGN_LOG2: core::ops::RangeInclusive<u32> = 10..=32;

/// A complete `zx_vm_option_t`: flags plus the `ZX_VM_ALIGN_*` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VmOptions {
    /// The flag bits.
    pub flags: VmFlags,
    /// log2 of the requested alignment of the new region's base; 0 when
    /// none was requested.
    pub align_log2: u32,
}

impl VmOptions {
    /// Parses Zircon's raw option bits: unknown bits and alignments other
    /// than `ZX_VM_ALIGN_1KB`..=`ZX_VM_ALIGN_4GB` give `INVALID_ARGS`.
    pub fn from_raw(raw: u32) -> Result<VmOptions, Status> {
        let flags = VmFlags::from_bits(raw & !ALIGN_FIELD).ok_or(Status::InvalidArgs)?;
        let align_log2 = (raw & ALIGN_FIELD) >> ALIGN_BASE;
        if align_log2 != 0 && !ALIGN_LOG2.contains(&align_log2) {
            return Err(Status::InvalidArgs);
        }
        Ok(VmOptions { flags, align_log2 })
    }

    /// Zircon's `ZX_VM_PERM_READ_IF_XOM_UNSUPPORTED`: on tables that cannot
    /// map execute-only pages the flag adds PERM_READ, before rights and
    /// protections are checked; otherwise it changes nothing.
    pub fn resolve_xom(mut self, can_map_execute_only: bool) -> VmOptions {
        if self.flags.contains(VmFlags::PERM_READ_IF_XOM_UNSUPPORTED) && !can_map_execute_only {
            self.flags |= VmFlags::PERM_READ;
        }
        self
    }

    /// The alignment a new region's base must have: at least a page.
    pub(crate) fn alignment(self) -> u64 {
        (1u64 << self.align_log2).max(PAGE_SIZE)
    }
}

impl From<VmFlags> for VmOptions {
    fn from(flags: VmFlags) -> VmOptions {
        VmOptions { flags, align_log2: 0 }
    }
}

/// The ops of `zx_vmar_op_range` (digest §1.5, §2.14).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VmarOp {
    /// `ZX_VMAR_OP_COMMIT`.
    Commit,
    /// `ZX_VMAR_OP_DECOMMIT`, and `ZX_VMO_OP_DECOMMIT`, its deprecated alias
    /// with the same value.
    Decommit,
    /// `ZX_VMAR_OP_MAP_RANGE`.
    MapRange,
    /// `ZX_VMAR_OP_ZERO`.
    Zero,
    /// `ZX_VMAR_OP_DONT_NEED`.
    DontNeed,
    /// `ZX_VMAR_OP_ALWAYS_NEED`.
    AlwaysNeed,
    /// `ZX_VMAR_OP_PREFETCH`.
    Prefetch,
}

impl VmarOp {
    /// The op with Zircon's value `raw`; any other value is `INVALID_ARGS`.
    pub fn from_raw(raw: u32) -> Result<VmarOp, Status> {
        Ok(match raw {
            1 => VmarOp::Commit,
            2 => VmarOp::Decommit,
            3 => VmarOp::MapRange,
            10 => VmarOp::Zero,
            12 => VmarOp::DontNeed,
            13 => VmarOp::AlwaysNeed,
            14 => VmarOp::Prefetch,
            _ => return Err(Status::InvalidArgs),
        })
    }

    /// Zircon's value of the op.
    pub fn into_raw(self) -> u32 {
        match self {
            VmarOp::Commit => 1,
            VmarOp::Decommit => 2,
            VmarOp::MapRange => 3,
            VmarOp::Zero => 10,
            VmarOp::DontNeed => 12,
            VmarOp::AlwaysNeed => 13,
            VmarOp::Prefetch => 14,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_options_round_trip_and_reject_unknown_bits() {
        let o = VmOptions::from_raw(0b11 | (12 << 24)).unwrap();
        assert_eq!(o.flags, VmFlags::PERM_READ | VmFlags::PERM_WRITE);
        assert_eq!(o.align_log2, 12);
        assert_eq!(VmOptions::from_raw(32 << 24).unwrap().alignment(), 1 << 32);
        assert_eq!(VmOptions::from_raw(10 << 24).unwrap().alignment(), PAGE_SIZE);
        assert_eq!(VmOptions::from_raw(1 << 16), Err(Status::InvalidArgs));
        assert_eq!(VmOptions::from_raw(9 << 24), Err(Status::InvalidArgs));
        assert_eq!(VmOptions::from_raw(33 << 24), Err(Status::InvalidArgs));
        assert_eq!(VmOptions::from_raw(1 << 31), Err(Status::InvalidArgs));
    }

    #[test]
    fn can_map_bits_translate_to_perms() {
        let f = VmFlags::CAN_MAP_READ | VmFlags::CAN_MAP_EXECUTE | VmFlags::PERM_WRITE;
        assert_eq!(f.can_map(), MmuFlags::READ | MmuFlags::EXECUTE);
        assert_eq!(f.perms(), MmuFlags::WRITE);
        assert_eq!(VmFlags::from_can_map(MmuFlags::all()), VmFlags::CAN_MAP_PERMS);
    }

    #[test]
    fn execute_only_needs_the_tables_or_the_fallback_flag() {
        let x = VmFlags::PERM_EXECUTE;
        assert!(!x.valid_protection(false));
        assert!(x.valid_protection(true));
        assert!(!VmFlags::PERM_WRITE.valid_protection(true));
        assert!((x | VmFlags::PERM_READ).valid_protection(false));
        assert!(VmFlags::empty().valid_protection(false));
        let fallback = VmOptions::from(x | VmFlags::PERM_READ_IF_XOM_UNSUPPORTED);
        assert!(fallback.resolve_xom(false).flags.contains(VmFlags::PERM_READ));
        assert!(!fallback.resolve_xom(true).flags.contains(VmFlags::PERM_READ));
        assert!(!VmOptions::from(x).resolve_xom(false).flags.contains(VmFlags::PERM_READ));
    }

    #[test]
    fn ops_have_zircon_values() {
        for raw in 0..32 {
            match VmarOp::from_raw(raw) {
                Ok(op) => assert_eq!(op.into_raw(), raw),
                Err(s) => assert_eq!(s, Status::InvalidArgs),
            }
        }
        assert_eq!(VmarOp::from_raw(2), Ok(VmarOp::Decommit));
        assert_eq!(VmarOp::from_raw(4), Err(Status::InvalidArgs));
    }
}
