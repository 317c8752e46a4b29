//! The GICv2 interrupt controller, used only to wake cores from `WFI`
//! (GIC architecture specification v2, IHI 0048B): one software-generated
//! interrupt ([`WAKE_SGI`]) that [`crate::wait`]'s waker sends to every
//! other CPU, and the virtual timer's private interrupt ([`VTIMER_PPI`])
//! for deadlines. Interrupts stay masked in `PSTATE`; a pending one ends
//! `WFI` all the same (Arm ARM: `WFI` waits only while no interrupt is
//! pending, whatever the masks), and the waiter acknowledges it with
//! [`drain`], so no exception vector is involved.
//!
//! GICv3 (`arm,gic-v3`) is detected but not driven: [`init`] reports it,
//! and waiting falls back to `WFE`.

use crate::boot_info::GicInfo;
use spin::Once;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

/// The SGI that wakes waiting cores.
pub const WAKE_SGI: u32 = 0;
/// The EL1 virtual timer's PPI on QEMU's virt board (and the Server Base
/// System Architecture's choice).
pub const VTIMER_PPI: usize = 27;
/// The priority given to both; anything above the priority mask passes.
const PRIORITY: u8 = 0x80;
/// Lets every priority but the lowest through (`GICC_PMR`).
const PRIORITY_MASK: u32 = 0xf0;
/// `GICC_IAR` INTIDs from 1020 up mean nothing is pending (1023: spurious).
const FIRST_SPECIAL_INTID: u32 = 1020;

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

struct GicV2 {
    distributor: &'static DistributorRegisters,
    cpu: &'static CpuInterfaceRegisters,
}

// SAFETY: the registers are MMIO that any CPU may access; the ones written
// after `init` are banked per CPU or write-only triggers (`GICD_SGIR`).
unsafe impl Sync for GicV2 {}
// SAFETY: as for `Sync`.
unsafe impl Send for GicV2 {}

static GIC: Once<GicV2> = Once::new();

/// What [`init`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wakeups {
    /// GICv2 SGIs and the timer interrupt wake `WFI`.
    Gic,
    /// No GIC this module drives: the reason, for the boot banner.
    None(&'static str),
}

/// Enables the distributor and this (the boot) CPU's interface, if `gic`
/// is a GICv2; the identity map keeps both windows mapped as device memory
/// for the whole run.
pub(crate) fn init(gic: Option<GicInfo>) -> Wakeups {
    match gic {
        Some(GicInfo::V2 { distributor, cpu_interface }) => {
            let gic = GIC.call_once(|| {
                // SAFETY: the device tree names a GICv2 with these windows,
                // identity-mapped as device memory below RAM.
                unsafe {
                    GicV2 {
                        distributor: &*(distributor as *const DistributorRegisters),
                        cpu: &*(cpu_interface as *const CpuInterfaceRegisters),
                    }
                }
            });
            gic.distributor.ctlr.write(CTLR::ENABLE_GRP0::SET + CTLR::ENABLE_GRP1::SET);
            init_this_cpu();
            Wakeups::Gic
        }
        Some(GicInfo::V3 { .. }) => Wakeups::None("GICv3 is not driven"),
        None => Wakeups::None("no GIC in the device tree"),
    }
}

/// Enables [`WAKE_SGI`] and [`VTIMER_PPI`] and this CPU's interface; each
/// CPU runs it once, the boot CPU from [`init`], the others as they start.
pub(crate) fn init_this_cpu() {
    let Some(gic) = GIC.get() else { return };
    for intid in [WAKE_SGI as usize, VTIMER_PPI] {
        gic.distributor.ipriorityr[intid].set(PRIORITY);
        gic.distributor.isenabler0.set(1 << intid);
    }
    gic.cpu.pmr.set(PRIORITY_MASK);
    gic.cpu.ctlr.write(CTLR::ENABLE_GRP0::SET + CTLR::ENABLE_GRP1::SET);
}

/// Whether waits sleep in `WFI`: the boot found a GICv2 to wake them.
pub fn wakes_wfi() -> bool {
    GIC.get().is_some()
}

/// Sends [`WAKE_SGI`] to every CPU but this one. The caller orders its
/// earlier stores before this write (`DSB`).
pub(crate) fn send_wake_to_others() {
    if let Some(gic) = GIC.get() {
        gic.distributor.sgir.write(SGIR::TARGET_LIST_FILTER::AllButSelf + SGIR::SGIINTID.val(WAKE_SGI));
    }
}

/// Acknowledges and ends every interrupt pending on this CPU, so the next
/// `WFI` sleeps until a new one.
pub(crate) fn drain() {
    let Some(gic) = GIC.get() else { return };
    loop {
        let iar = gic.cpu.iar.extract();
        if iar.read(IAR::INTERRUPT_ID) >= FIRST_SPECIAL_INTID {
            return;
        }
        gic.cpu.eoir.set(iar.get());
    }
}
