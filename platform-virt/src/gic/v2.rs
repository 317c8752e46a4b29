//! GICv2 (GIC architecture specification v2, IHI 0048B) through `arm-gic`'s
//! driver: the distributor's banked registers for SGIs and PPIs, the
//! memory-mapped CPU interface, and `GICD_SGIR` to wake the other CPUs.
//! The driver's calls take it `&mut`, and every CPU uses the one instance,
//! so it sits behind a spin lock: a leaf of the lock order, held for a few
//! register accesses.

use super::{ENABLED, PRIORITY, PRIORITY_MASK, WAKE_SGI};
use arm_gic::gicv2::registers::{Gicc, Gicd};
use arm_gic::gicv2::{GicV2 as Driver, SgiTarget, SgiTargetListFilter};
use arm_gic::{IntId, InterruptGroup};
use core::arch::asm;
use spin::Mutex;

pub(super) struct GicV2(Mutex<Driver<'static>>);

impl GicV2 {
    pub(super) fn init(distributor: u64, cpu_interface: u64) -> Self {
        // SAFETY: the device tree names a GICv2 with these windows,
        // identity-mapped as device memory below RAM for the whole run; this
        // is the only driver of them.
        let driver = unsafe { Driver::new(distributor as *mut Gicd, cpu_interface as *mut Gicc) };
        GicV2(Mutex::new(driver))
    }

    /// Turns on the distributor and this CPU's interface, and enables
    /// [`WAKE_SGI`] and [`VTIMER_PPI`] in this CPU's banked registers.
    pub(super) fn init_this_cpu(&self) -> Result<(), &'static str> {
        let mut gic = self.0.lock();
        gic.setup();
        for intid in ENABLED {
            gic.set_interrupt_priority(intid, PRIORITY);
            gic.enable_interrupt(intid, true)
                .map_err(|_| "the GICv2 distributor does not enable SGI 0 or PPI 27")?;
        }
        gic.set_priority_mask(PRIORITY_MASK);
        Ok(())
    }

    /// `GICD_SGIR` with the "every CPU but this one" filter.
    pub(super) fn send_wake_to_others(&self) {
        let target =
            SgiTarget::List { target_list_filter: SgiTargetListFilter::ForwardOthersOnly, target_list: 0 };
        self.0.lock().send_sgi(IntId::sgi(WAKE_SGI), target);
    }

    /// Acknowledges (`GICC_IAR`) and ends (`GICC_EOIR`) every pending
    /// interrupt, then `DMB ISH`, which keeps the caller's later loads
    /// after the acknowledgements. `InterruptGroup::Group0` names those
    /// registers rather than the aliased ones, which only a secure access
    /// uses.
    pub(super) fn drain(&self) {
        let mut gic = self.0.lock();
        while let Some(intid) = gic.get_and_acknowledge_interrupt(InterruptGroup::Group0) {
            gic.end_interrupt(intid, InterruptGroup::Group0);
        }
        // SAFETY: a barrier; without `nomem` the compiler keeps the
        // caller's later loads after it, and the hardware does too.
        unsafe { asm!("dmb ish", options(nostack, preserves_flags)) };
    }
}
