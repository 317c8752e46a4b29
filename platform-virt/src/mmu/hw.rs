//! Turning the MMU on: the kernel's identity map of devices and RAM (the
//! physmap), `MAIR_EL1`, `TCR_EL1` with hardware access-flag and dirty-state
//! management where FEAT_HAFDBS has them, and switching translation tables.

use super::descriptor::{Descriptor, LeafAttributes, MemoryType, MAIR_VALUE};
use super::maintenance::{Hardware, Maintenance};
use super::table_memory::{TableMemory, ENTRIES};
use super::tables::{HwManaged, TranslationTables};
use crate::cache::CpuCaches;
use crate::memory_map::RangeSet;
use aarch64_cpu::registers::{
    ReadWriteable, Readable, Writeable, ID_AA64MMFR0_EL1, ID_AA64MMFR1_EL1, MAIR_EL1, SCTLR_EL1, TCR_EL1,
    TTBR0_EL1,
};
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Once;
use vm_core::platform::{CacheMaintenance, CacheOp};

/// Translation tables in frames from the platform's allocator, reached
/// through the identity map (with the MMU off, directly).
pub struct FrameTables;

impl TableMemory for FrameTables {
    fn alloc_table(&self) -> Option<u64> {
        let pa = crate::frames::global().alloc()?;
        // SAFETY: the frame was just taken from the allocator, so nothing
        // else uses it, and RAM is identity-mapped (or the MMU is off).
        unsafe { core::ptr::write_bytes(pa as *mut u8, 0, 4096) };
        Some(pa)
    }

    fn free_table(&self, table_pa: u64) {
        crate::frames::global().free(table_pa);
    }

    fn entry(&self, table_pa: u64, index: usize) -> &AtomicU64 {
        assert!(index < ENTRIES);
        // SAFETY: `table_pa` is a table frame this allocator handed out and
        // that lives as long as its address space; RAM is identity-mapped;
        // entries are 8-byte aligned and only accessed atomically.
        unsafe { &*((table_pa + index as u64 * 8) as *const AtomicU64) }
    }
}

/// Translation tables on the hardware.
pub type HwTables = TranslationTables<FrameTables, Hardware>;

/// What [`enable`] set up, for the other CPUs and for translation tables.
pub struct KernelMap {
    /// The kernel's root table (`TTBR0_EL1` with ASID 0).
    pub root: u64,
    pub tcr: u64,
    /// Which of AF and dirty state the hardware manages here.
    pub hw: HwManaged,
}

static KERNEL_MAP: Once<KernelMap> = Once::new();

/// The kernel map, once [`enable`] has run.
pub fn kernel_map() -> &'static KernelMap {
    KERNEL_MAP.get().expect("the MMU is enabled at boot")
}

// TCR_EL1 fields (Arm ARM D19.2.140).
const T0SZ_48_BIT: u64 = 16;
const IRGN0_WBWA: u64 = 0b01 << 8;
const ORGN0_WBWA: u64 = 0b01 << 10;
const SH0_INNER: u64 = 0b11 << 12;
const TG0_4K: u64 = 0b00 << 14;
const EPD1: u64 = 1 << 23;
const IPS_SHIFT: u64 = 32;
const HA: u64 = 1 << 39;
const HD: u64 = 1 << 40;

/// Builds the kernel's identity map over the first 512 GiB — 1 GiB device
/// blocks below RAM's first gigabyte, normal write-back blocks for every
/// gigabyte holding RAM — and turns on the MMU and caches on this CPU.
pub fn enable(ram: &RangeSet) -> &'static KernelMap {
    let map = KERNEL_MAP.call_once(|| {
        let tables = FrameTables;
        let root = tables.alloc_table().expect("a frame for the kernel's root table");
        let l1 = tables.alloc_table().expect("a frame for the kernel's level 1 table");
        let mut kernel = LeafAttributes::new(MemoryType::Normal, true, true);
        kernel.dirty = true;
        kernel.global = true;
        kernel.accessed = true;
        let mut device = LeafAttributes::new(MemoryType::Device, true, false);
        device.dirty = true;
        device.global = true;
        device.accessed = true;
        for gib in 0..ENTRIES as u64 {
            let (start, end) = (gib << 30, (gib + 1) << 30);
            let has_ram = ram.as_slice().iter().any(|r| r.start < end && r.end > start);
            let d = if has_ram {
                Descriptor::block(start, kernel)
            } else if end <= ram.as_slice().first().map_or(0, |r| r.start) {
                Descriptor::block(start, device)
            } else {
                continue;
            };
            tables.entry(l1, gib as usize).store(d.0, Ordering::SeqCst);
        }
        tables.entry(root, 0).store(Descriptor::table(l1).0, Ordering::SeqCst);
        // The tables were written with the data cache off: make sure no
        // stale line hides them from cacheable table walks.
        let caches = CpuCaches::new();
        for table in [root, l1] {
            caches.cache_op(CacheOp::CleanInvalidate, table, 4096);
        }
        let parange = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange).min(0b101);
        let hafdbs = ID_AA64MMFR1_EL1.read(ID_AA64MMFR1_EL1::HAFDBS);
        let hw = HwManaged { access_flag: hafdbs >= 1, dirty: hafdbs >= 2 };
        let mut tcr = T0SZ_48_BIT | IRGN0_WBWA | ORGN0_WBWA | SH0_INNER | TG0_4K | EPD1;
        tcr |= parange << IPS_SHIFT;
        if hw.access_flag {
            tcr |= HA;
        }
        if hw.dirty {
            tcr |= HD;
        }
        KernelMap { root, tcr, hw }
    });
    enable_on_this_cpu(map);
    map
}

/// Turns on the MMU on this CPU with the kernel map (the boot CPU through
/// [`enable`], secondary CPUs when they start).
pub fn enable_on_this_cpu(map: &KernelMap) {
    MAIR_EL1.set(MAIR_VALUE);
    TCR_EL1.set(map.tcr);
    TTBR0_EL1.set(map.root);
    Hardware.dsb_ish();
    // SAFETY: invalidating this CPU's TLB has no memory-safety effect.
    unsafe { core::arch::asm!("tlbi vmalle1", options(nostack, preserves_flags)) };
    Hardware.dsb_ish();
    Hardware.isb();
    SCTLR_EL1.modify(SCTLR_EL1::M::Enable + SCTLR_EL1::C::Cacheable + SCTLR_EL1::I::Cacheable);
    Hardware.isb();
}

/// Makes `tables` the ones this CPU walks: their ASID tags what the TLBs
/// hold, so nothing needs invalidating; from now on their changes
/// invalidate this CPU's TLBs too.
pub fn activate(tables: &HwTables) {
    TTBR0_EL1.set(tables.enter_here());
    Hardware.isb();
}

/// Makes the kernel's map (ASID 0) current again on this CPU.
pub fn deactivate() {
    TTBR0_EL1.set(kernel_map().root);
    Hardware.isb();
}
