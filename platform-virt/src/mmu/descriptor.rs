//! Stage 1 translation table descriptors for the 4 KiB granule (Arm ARM
//! D8.3, "Translation table descriptor formats").
//!
//! Dirty state follows the architecture's dirty-bit management (D8.4.6):
//! a writable page carries DBM; it is *writable-clean* with `AP\[2\]` = 1
//! (read-only) and *writable-dirty* with `AP\[2\]` = 0. With FEAT_HAFDBS and
//! `TCR_EL1.HD` the hardware clears `AP\[2\]` on the first write; without it
//! the write takes a permission fault and software does the same. DBM is
//! therefore also the software "may be made writable" bit, and both paths
//! read dirtiness the same way.

use core::fmt;

use vm_core::platform::MmuFlags;

/// Memory types, as `MAIR_EL1` attribute indices (see [`MAIR_VALUE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryType {
    /// Normal, inner and outer write-back, read- and write-allocate.
    Normal = 0,
    /// Normal, non-cacheable.
    NormalNonCacheable = 1,
    /// Device-nGnRnE (strongly ordered).
    Device = 2,
    /// Device-nGnRE.
    DeviceNgnre = 3,
}

/// `MAIR_EL1`: attribute 0 = 0xff (Normal WB RAWA), 1 = 0x44 (Normal NC),
/// 2 = 0x00 (Device-nGnRnE), 3 = 0x04 (Device-nGnRE), matching
/// [`MemoryType`]; 4-7 = 0x00.
pub const MAIR_VALUE: u64 = 0xff | (0x44 << 8) | (0x04 << 24);

impl MemoryType {
    /// The memory type of a mapping with vm-core's cache bits in `flags`,
    /// as Zircon's arm64 `mmu_flags_to_s1_pte_attr` picks it: cached →
    /// Normal write-back, write-combining → Normal non-cacheable, uncached
    /// → Device-nGnRnE, uncached-device → Device-nGnRE.
    pub fn of(flags: MmuFlags) -> MemoryType {
        if flags.contains(MmuFlags::UNCACHED_DEVICE) {
            MemoryType::DeviceNgnre
        } else if flags.contains(MmuFlags::UNCACHED) {
            MemoryType::Device
        } else if flags.contains(MmuFlags::WRITE_COMBINING) {
            MemoryType::NormalNonCacheable
        } else {
            MemoryType::Normal
        }
    }

    /// The cache bits of [`MmuFlags`] that give this memory type.
    pub fn mmu_flags(self) -> MmuFlags {
        match self {
            MemoryType::Normal => MmuFlags::empty(),
            MemoryType::NormalNonCacheable => MmuFlags::WRITE_COMBINING,
            MemoryType::Device => MmuFlags::UNCACHED,
            MemoryType::DeviceNgnre => MmuFlags::UNCACHED_DEVICE,
        }
    }
}

const VALID: u64 = 1 << 0;
/// At levels 0-2: a table (not a block). At level 3: a page.
const TABLE_OR_PAGE: u64 = 1 << 1;
const ATTR_INDEX_SHIFT: u64 = 2;
const ATTR_INDEX_MASK: u64 = 0b111 << ATTR_INDEX_SHIFT;
/// `AP\[1\]`: EL0 may access.
const AP_EL0: u64 = 1 << 6;
/// `AP\[2\]`: read-only.
const AP_READ_ONLY: u64 = 1 << 7;
const SH_INNER: u64 = 0b11 << 8;
/// Access flag.
const AF: u64 = 1 << 10;
/// Not global: the translation belongs to one ASID.
const NG: u64 = 1 << 11;
/// Dirty bit modifier.
const DBM: u64 = 1 << 51;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
/// Output address, bits \[47:12\].
pub const OA_MASK: u64 = 0x0000_ffff_ffff_f000;

/// How a leaf may be used, and its accessed/dirty state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafAttributes {
    pub memory: MemoryType,
    /// May be written (possibly after the dirty state is set).
    pub writable: bool,
    /// Already written since last cleaned: `AP\[2\]` = 0.
    pub dirty: bool,
    pub executable: bool,
    /// Accessible from EL0 too.
    pub user: bool,
    /// Global (kernel) rather than tagged with the address space's ASID.
    pub global: bool,
    /// The access flag. Leaves start with it clear so that the first access
    /// is seen (by FEAT_HAFDBS hardware, or by an access-flag fault).
    pub accessed: bool,
}

impl LeafAttributes {
    /// A fresh, not yet accessed, clean leaf of `memory` in an address space.
    pub const fn new(memory: MemoryType, writable: bool, executable: bool) -> Self {
        LeafAttributes {
            memory,
            writable,
            dirty: false,
            executable,
            user: false,
            global: false,
            accessed: false,
        }
    }
}

/// One 64-bit translation table entry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Descriptor(pub u64);

impl Descriptor {
    pub const INVALID: Descriptor = Descriptor(0);

    /// A table descriptor pointing at the next-level table `table_pa`.
    pub const fn table(table_pa: u64) -> Self {
        Descriptor((table_pa & OA_MASK) | TABLE_OR_PAGE | VALID)
    }

    /// A level 3 page descriptor.
    pub const fn page(pa: u64, attrs: LeafAttributes) -> Self {
        Descriptor(Self::leaf_bits(pa, attrs) | TABLE_OR_PAGE)
    }

    /// A level 1 or 2 block descriptor.
    pub const fn block(pa: u64, attrs: LeafAttributes) -> Self {
        Descriptor(Self::leaf_bits(pa, attrs))
    }

    const fn leaf_bits(pa: u64, a: LeafAttributes) -> u64 {
        let mut bits = (pa & OA_MASK) | VALID | SH_INNER | ((a.memory as u64) << ATTR_INDEX_SHIFT);
        if a.writable {
            bits |= DBM;
        }
        if !(a.writable && a.dirty) {
            bits |= AP_READ_ONLY;
        }
        if a.user {
            bits |= AP_EL0;
        }
        if a.accessed {
            bits |= AF;
        }
        if !a.global {
            bits |= NG;
        }
        // Never executable at the other exception level, nor at any level
        // if not executable.
        bits |= if a.user { PXN } else { UXN };
        if !a.executable {
            bits |= PXN | UXN;
        }
        bits
    }

    pub const fn is_valid(self) -> bool {
        self.0 & VALID != 0
    }

    /// Whether this entry, found at level 3, maps a page: bits \[1:0\] are
    /// `0b11`; `0b01` is reserved there and faults like an invalid entry.
    pub const fn is_page(self) -> bool {
        self.0 & (VALID | TABLE_OR_PAGE) == (VALID | TABLE_OR_PAGE)
    }

    /// Whether this entry, found at `level` (0-3), points to a next-level table.
    pub const fn is_table(self, level: usize) -> bool {
        level < 3 && self.0 & (VALID | TABLE_OR_PAGE) == (VALID | TABLE_OR_PAGE)
    }

    pub const fn output_address(self) -> u64 {
        self.0 & OA_MASK
    }

    /// The leaf's attributes; meaningful only for valid leaves.
    pub const fn attributes(self) -> LeafAttributes {
        let memory = match (self.0 & ATTR_INDEX_MASK) >> ATTR_INDEX_SHIFT {
            0 => MemoryType::Normal,
            1 => MemoryType::NormalNonCacheable,
            3 => MemoryType::DeviceNgnre,
            // 2, and 4-7, which `MAIR_VALUE` leaves Device-nGnRnE.
            _ => MemoryType::Device,
        };
        let user = self.0 & AP_EL0 != 0;
        let xn = if user { UXN } else { PXN };
        LeafAttributes {
            memory,
            writable: self.0 & DBM != 0,
            dirty: self.0 & DBM != 0 && self.0 & AP_READ_ONLY == 0,
            executable: self.0 & xn == 0,
            user,
            global: self.0 & NG == 0,
            accessed: self.0 & AF != 0,
        }
    }

    /// The same leaf with the access flag set or cleared.
    pub const fn with_accessed(self, accessed: bool) -> Self {
        Descriptor(if accessed { self.0 | AF } else { self.0 & !AF })
    }

    /// The same writable leaf made writable-dirty (`AP\[2\]` = 0), or made
    /// writable-clean again; a leaf without DBM is returned unchanged.
    pub const fn with_dirty(self, dirty: bool) -> Self {
        if self.0 & DBM == 0 {
            self
        } else if dirty {
            Descriptor(self.0 & !AP_READ_ONLY)
        } else {
            Descriptor(self.0 | AP_READ_ONLY)
        }
    }

    /// Whether a write through this leaf succeeds without a fault when the
    /// hardware does not manage dirty state.
    pub const fn hardware_writable(self) -> bool {
        self.0 & AP_READ_ONLY == 0
    }
}

impl fmt::Debug for Descriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Descriptor({:#018x})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PA: u64 = 0x4123_4000;

    #[test]
    fn writable_clean_is_dbm_with_read_only() {
        let d = Descriptor::page(PA, LeafAttributes::new(MemoryType::Normal, true, false));
        assert_eq!(d.0 & DBM, DBM);
        assert_eq!(d.0 & AP_READ_ONLY, AP_READ_ONLY);
        assert!(!d.hardware_writable());
        assert!(d.attributes().writable && !d.attributes().dirty);
    }

    #[test]
    fn writable_dirty_is_dbm_without_read_only() {
        let clean = Descriptor::page(PA, LeafAttributes::new(MemoryType::Normal, true, false));
        let d = clean.with_dirty(true);
        assert_eq!(d.0 & (DBM | AP_READ_ONLY), DBM);
        assert!(d.hardware_writable());
        assert!(d.attributes().dirty);
        assert_eq!(d.with_dirty(false), clean);
    }

    #[test]
    fn read_only_has_no_dbm_and_cannot_be_dirtied() {
        let d = Descriptor::page(PA, LeafAttributes::new(MemoryType::Normal, false, false));
        assert_eq!(d.0 & (DBM | AP_READ_ONLY), AP_READ_ONLY);
        assert_eq!(d.with_dirty(true), d);
        assert!(!d.attributes().writable);
    }

    #[test]
    fn fresh_leaves_are_not_accessed() {
        let d = Descriptor::page(PA, LeafAttributes::new(MemoryType::Normal, true, true));
        assert_eq!(d.0 & AF, 0);
        assert!(d.with_accessed(true).attributes().accessed);
        assert_eq!(d.with_accessed(true).with_accessed(false), d);
    }

    #[test]
    fn fields_round_trip() {
        let mut a = LeafAttributes::new(MemoryType::Device, true, false);
        a.dirty = true;
        a.global = true;
        a.accessed = true;
        let d = Descriptor::block(0x8000_0000, a);
        assert_eq!(d.attributes(), a);
        assert_eq!(d.output_address(), 0x8000_0000);
        assert!(!d.is_table(1));
        assert_eq!(d.0 & (PXN | UXN), PXN | UXN);
        let x = Descriptor::page(PA, LeafAttributes::new(MemoryType::Normal, false, true));
        assert_eq!(x.0 & (PXN | UXN), UXN, "kernel-executable page");
        assert!(x.attributes().executable);
        assert_eq!(x.0 & NG, NG);
    }

    #[test]
    fn memory_types_round_trip_through_cache_bits_and_attr_index() {
        for memory in
            [MemoryType::Normal, MemoryType::NormalNonCacheable, MemoryType::Device, MemoryType::DeviceNgnre]
        {
            assert_eq!(MemoryType::of(memory.mmu_flags() | MmuFlags::READ), memory);
            let d = Descriptor::page(PA, LeafAttributes::new(memory, true, false));
            assert_eq!((d.0 & ATTR_INDEX_MASK) >> ATTR_INDEX_SHIFT, memory as u64);
            assert_eq!(d.attributes().memory, memory);
        }
        assert_eq!((MAIR_VALUE >> (8 * MemoryType::DeviceNgnre as u64)) & 0xff, 0x04);
        assert_eq!((MAIR_VALUE >> (8 * MemoryType::Device as u64)) & 0xff, 0x00);
        assert_eq!((MAIR_VALUE >> (8 * MemoryType::NormalNonCacheable as u64)) & 0xff, 0x44);
    }

    #[test]
    fn table_descriptor() {
        let t = Descriptor::table(0x4000_5000);
        assert!(t.is_valid() && t.is_table(0) && t.is_table(2));
        assert_eq!(t.output_address(), 0x4000_5000);
        assert!(!Descriptor::INVALID.is_valid());
    }
}
