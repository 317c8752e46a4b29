//! GICv2 (GIC architecture specification v2, IHI 0048B): the distributor's
//! banked registers for SGIs and PPIs, the memory-mapped CPU interface,
//! and `GICD_SGIR` to wake the other CPUs.

use super::{FIRST_SPECIAL_INTID, PRIORITY, PRIORITY_MASK, VTIMER_PPI, WAKE_SGI};
use core::arch::asm;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields![u32,
    /// Distributor and CPU interface control (`GICD_CTLR`, `GICC_CTLR`).
    CTLR [
        ENABLE_GRP0 OFFSET(0) NUMBITS(1) [],
        ENABLE_GRP1 OFFSET(1) NUMBITS(1) [],
    ],
    /// Software Generated Interrupt Register (`GICD_SGIR`).
    SGIR [
        SGIINTID OFFSET(0) NUMBITS(4) [],
        TARGET_LIST_FILTER OFFSET(24) NUMBITS(2) [
            AllButSelf = 0b01,
        ],
    ],
    /// Interrupt Acknowledge Register (`GICC_IAR`).
    IAR [
        INTERRUPT_ID OFFSET(0) NUMBITS(10) [],
    ],
];

register_structs! {
    /// The registers of the distributor used here; those of interrupts
    /// 0-31 are banked, each CPU sees its own.
    DistributorRegisters {
        (0x000 => ctlr: ReadWrite<u32, CTLR::Register>),
        (0x004 => _reserved0),
        (0x100 => isenabler0: ReadWrite<u32>),
        (0x104 => _reserved1),
        (0x400 => ipriorityr: [ReadWrite<u8>; 32]),
        (0x420 => _reserved2),
        (0xf00 => sgir: WriteOnly<u32, SGIR::Register>),
        (0xf04 => @END),
    }
}

register_structs! {
    /// A CPU interface; each CPU sees its own at the same address.
    CpuInterfaceRegisters {
        (0x000 => ctlr: ReadWrite<u32, CTLR::Register>),
        (0x004 => pmr: ReadWrite<u32>),
        (0x008 => _reserved0),
        (0x00c => iar: ReadOnly<u32, IAR::Register>),
        (0x010 => eoir: WriteOnly<u32>),
        (0x014 => @END),
    }
}

pub(super) struct GicV2 {
    distributor: &'static DistributorRegisters,
    cpu: &'static CpuInterfaceRegisters,
}

// SAFETY: the registers are MMIO that any CPU may access; the ones written
// after `init` are banked per CPU or write-only triggers (`GICD_SGIR`).
unsafe impl Sync for GicV2 {}
// SAFETY: as for `Sync`.
unsafe impl Send for GicV2 {}

impl GicV2 {
    /// Enables the distributor whose windows the device tree names.
    pub(super) fn init(distributor: u64, cpu_interface: u64) -> Self {
        // SAFETY: the device tree names a GICv2 with these windows,
        // identity-mapped as device memory below RAM.
        let gic = unsafe {
            GicV2 {
                distributor: &*(distributor as *const DistributorRegisters),
                cpu: &*(cpu_interface as *const CpuInterfaceRegisters),
            }
        };
        gic.distributor.ctlr.write(CTLR::ENABLE_GRP0::SET + CTLR::ENABLE_GRP1::SET);
        gic
    }

    /// Enables [`WAKE_SGI`] and [`VTIMER_PPI`] (banked per CPU) and this
    /// CPU's interface.
    pub(super) fn init_this_cpu(&self) {
        for intid in [WAKE_SGI as usize, VTIMER_PPI] {
            self.distributor.ipriorityr[intid].set(PRIORITY);
            self.distributor.isenabler0.set(1 << intid);
        }
        self.cpu.pmr.set(PRIORITY_MASK.into());
        self.cpu.ctlr.write(CTLR::ENABLE_GRP0::SET + CTLR::ENABLE_GRP1::SET);
    }

    pub(super) fn send_wake_to_others(&self) {
        self.distributor.sgir.write(SGIR::TARGET_LIST_FILTER::AllButSelf + SGIR::SGIINTID.val(WAKE_SGI));
    }

    pub(super) fn drain(&self) {
        loop {
            let iar = self.cpu.iar.extract();
            if iar.read(IAR::INTERRUPT_ID) >= FIRST_SPECIAL_INTID {
                break;
            }
            self.cpu.eoir.set(iar.get());
        }
        // SAFETY: a barrier; without `nomem` the compiler keeps the
        // caller's later loads after it, and the hardware does too.
        unsafe { asm!("dmb ish", options(nostack, preserves_flags)) };
    }
}
