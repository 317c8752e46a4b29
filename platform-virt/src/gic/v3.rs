//! GICv3 (GIC architecture specification v3 and v4, IHI 0069) through
//! `arm-gic`'s driver, with affinity routing: the distributor enables
//! Group 1; SGIs and PPIs are configured in each CPU's redistributor; the
//! CPU interface is the `ICC_*_EL1` system registers. [`WAKE_SGI`] and
//! [`VTIMER_PPI`] are Group 1 interrupts: non-secure Group 1 where the GIC
//! has two security states (this code then runs non-secure), plain Group 1
//! where it has one (`GICD_CTLR.DS` = 1, as on QEMU's virt board without
//! `secure=on`). With two, only the secure side can make them non-secure;
//! each CPU checks that its SGI reaches it before it waits in `WFI`.
//!
//! Entered at EL2, `asm/boot.S` first lets EL1 use the system registers
//! (`ICC_SRE_EL2.SRE` and `.Enable`), leaves the virtual CPU interface off
//! (`ICH_HCR_EL2` = 0) and keeps IRQs at EL1 (`HCR_EL2.IMO` = 0).
//!
//! Each CPU finds its redistributor by its affinity (`GICR_TYPER` against
//! `MPIDR_EL1`), not by its index. The driver's set-up calls take it
//! `&mut`, so it sits behind a spin lock (a leaf of the lock order); the
//! waker and the drain use only this CPU's system registers and take none.

use super::{ENABLED, PRIORITY, PRIORITY_MASK, WAKE_SGI};
use crate::wait::EventWaiter;
use aarch64_cpu::registers::{Readable, MPIDR_EL1};
use arm_gic::gicv3::registers::{Gicd, GicrSgi};
use arm_gic::gicv3::{GicCpuInterface, GicRedistributorIterator, GicV3 as Driver, SgiTarget, SgiTargetGroup};
use arm_gic::{IntId, InterruptGroup, UniqueMmioPointer};
use core::arch::asm;
use core::ptr::NonNull;
use spin::Mutex;
use vm_core::platform::Waiter;

pub(super) struct GicV3(Mutex<Driver<'static>>);

impl GicV3 {
    /// Turns on affinity routing and Group 1 at the distributor (memory
    /// mapped: the boot CPU's system-register interface is checked by its
    /// [`GicV3::init_this_cpu`], which follows).
    pub(super) fn init(distributor: u64, redistributors: u64) -> Result<Self, &'static str> {
        let (gicd, gicr) = (
            NonNull::new(distributor as *mut Gicd).ok_or("no GICv3 distributor address")?,
            NonNull::new(redistributors as *mut GicrSgi).ok_or("no GICv3 redistributor address")?,
        );
        // SAFETY: the device tree names a GICv3 with a distributor and a
        // redistributor region there, identity-mapped as device memory below
        // RAM for the whole run; the region ends at a frame whose
        // `GICR_TYPER.Last` is set, and this is the only driver of either.
        let mut driver = unsafe {
            let count =
                GicRedistributorIterator::new(gicr).map_err(|_| "no GICv3 redistributor frames")?.count();
            Driver::new(UniqueMmioPointer::new(gicd), gicr, count)
        }
        .map_err(|_| "the GICv3 redistributors are not GICv3 or v4 frames")?;
        driver.distributor().configure_default_settings();
        Ok(GicV3(Mutex::new(driver)))
    }

    /// Wakes this CPU's redistributor, enables [`ENABLED`] there as Group 1
    /// interrupts, and enables Group 1 at this CPU's interface.
    pub(super) fn init_this_cpu(&self) -> Result<(), &'static str> {
        use_system_registers()?;
        let mut gic = self.0.lock();
        let cpu = redistributor_of_this_cpu(&mut gic)?;
        gic.init_cpu(cpu);
        // Every SGI and PPI Group 1 and disabled, then the two enabled.
        gic.redistributor(cpu).map_err(|_| "no redistributor")?.configure_default_settings();
        for intid in ENABLED {
            gic.set_interrupt_priority(intid, Some(cpu), PRIORITY)
                .and_then(|()| gic.enable_interrupt(intid, Some(cpu), true))
                .map_err(|_| "the redistributor refuses SGI 0 or PPI 27")?;
        }
        GicCpuInterface::set_priority_mask(PRIORITY_MASK);
        GicCpuInterface::enable_group1(true);
        // SAFETY: a barrier: the CPU interface's set-up takes effect before
        // this CPU first waits.
        unsafe { asm!("isb", options(nostack, preserves_flags)) };
        if !wake_reaches_this_cpu() {
            return Err(
                "SGI 0 does not reach this CPU as a Group 1 interrupt: the GIC's secure side keeps it",
            );
        }
        Ok(())
    }
}

/// Whether [`WAKE_SGI`], sent to this CPU, reaches its interface as a
/// Group 1 interrupt within 10 ms (acknowledged and ended here, with
/// anything else pending). On a GIC with two security states
/// (`GICD_CTLR.DS` = 0) the groups of SGIs and PPIs are the secure side's
/// to set (`GICR_IGROUPR0` is secure-only, the set-up's write is ignored);
/// where it left them Group 0, as with no firmware at all, nothing this
/// CPU sends would ever end a `WFI`. A CPU whose Aff0 is 16 or more cannot
/// be named in a target list without range selection, which the driver
/// lacks: it is assumed reached.
fn wake_reaches_this_cpu() -> bool {
    let mpidr = MPIDR_EL1.get();
    let aff = |shift: u32| (mpidr >> shift) as u8;
    if aff(0) >= 16 {
        return true;
    }
    let target = SgiTarget::List {
        affinity3: aff(32),
        affinity2: aff(16),
        affinity1: aff(8),
        target_list: 1 << aff(0),
    };
    let _sgi = GicCpuInterface::send_sgi(IntId::sgi(WAKE_SGI), target, SgiTargetGroup::CurrentGroup1);
    let give_up = EventWaiter.now() + 10_000_000;
    let mut reached = false;
    while !reached && EventWaiter.now() < give_up {
        // SAFETY: a barrier: the SGI is generated, and each acknowledgement
        // is read, after what precedes it.
        unsafe { asm!("isb", options(nostack, preserves_flags)) };
        while let Some(intid) = GicCpuInterface::get_and_acknowledge_interrupt(InterruptGroup::Group1) {
            GicCpuInterface::end_interrupt(intid, InterruptGroup::Group1);
            reached |= intid == IntId::sgi(WAKE_SGI);
        }
    }
    reached
}

/// The index of this CPU's redistributor in the region: the one whose
/// `GICR_TYPER` affinity is this CPU's MPIDR (IHI 0069, "Redistributor
/// regions").
fn redistributor_of_this_cpu(gic: &mut Driver<'static>) -> Result<usize, &'static str> {
    const AFFINITY: u64 = 0xff_00ff_ffff;
    let mpidr = MPIDR_EL1.get() & AFFINITY;
    (0..)
        .map_while(|i| gic.gicr_typer(i).ok().map(|typer| (i, typer)))
        .find(|(_, typer)| typer.core_mpidr() & AFFINITY == mpidr)
        .map(|(i, _)| i)
        .ok_or("no GICv3 redistributor serves this CPU's MPIDR")
}

/// Enables this CPU's system-register interface at EL1
/// (`ICC_SRE_EL1.SRE`), if the CPU has one (`ID_AA64PFR0_EL1.GIC`) and a
/// higher level lets EL1 have it (else SRE stays 0, and any other `ICC_*`
/// access would be undefined).
fn use_system_registers() -> Result<(), &'static str> {
    let pfr0: u64;
    // SAFETY: an ID register read, always defined.
    unsafe { asm!("mrs {}, ID_AA64PFR0_EL1", out(reg) pfr0, options(nomem, nostack, preserves_flags)) };
    if pfr0 >> 24 & 0xf == 0 {
        return Err("this CPU has no GIC system-register interface");
    }
    GicCpuInterface::enable_system_register_el1();
    let sre: u64;
    // SAFETY: the ISB makes the write above take effect before the
    // read-back, which has no side effect.
    unsafe { asm!("isb", "mrs {}, ICC_SRE_EL1", out(reg) sre, options(nostack, preserves_flags)) };
    if sre & 1 == 0 {
        return Err("ICC_SRE_EL1.SRE stays 0: EL2 or EL3 keeps the system-register interface");
    }
    Ok(())
}

/// Sends [`WAKE_SGI`] to every CPU but this one: `ICC_SGI1R_EL1` with
/// `IRM` = 1 (the driver's `SgiTarget::All`), a Group 1 SGI.
pub(super) fn send_wake_to_others() {
    // An SGI INTID is always one the driver accepts.
    let _sgi = GicCpuInterface::send_sgi(IntId::sgi(WAKE_SGI), SgiTarget::All, SgiTargetGroup::CurrentGroup1);
    // SAFETY: a barrier: the SGI is generated now rather than at some
    // later synchronization.
    unsafe { asm!("isb", options(nostack, preserves_flags)) };
}

/// Acknowledges (`ICC_IAR1_EL1`) and ends (`ICC_EOIR1_EL1`) every pending
/// Group 1 interrupt. These are system-register accesses, which `DMB`
/// does not order against memory: the closing `DSB SY` keeps the caller's
/// later loads after the last acknowledgement.
pub(super) fn drain() {
    while let Some(intid) = GicCpuInterface::get_and_acknowledge_interrupt(InterruptGroup::Group1) {
        GicCpuInterface::end_interrupt(intid, InterruptGroup::Group1);
    }
    // SAFETY: a barrier; without `nomem` the compiler keeps the caller's
    // later loads after it, and the hardware does too.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
}
