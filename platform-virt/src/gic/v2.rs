//! GICv2 (GIC architecture specification v2, IHI 0048B) through `arm-gic`'s
//! driver: the distributor's banked registers for SGIs and PPIs, the
//! memory-mapped CPU interface, and `GICD_SGIR` to wake the other CPUs.
//!
//! The driver's calls take it `&mut`. Each CPU has its own instance, used
//! by that CPU alone, so waking and draining take no lock another CPU can
//! hold: under QEMU's multi-threaded TCG, with more vCPUs than host cores,
//! one shared instance behind a spin lock made a wake-up wait for a
//! descheduled lock holder (the pager round trip took 4.4 ms, not 96 µs).
//! What the instances share is safe to share: after set-up they touch
//! only registers banked per CPU (the CPU interface, the distributor's
//! registers of interrupts 0-31) and the write-only `GICD_SGIR`.

use super::{ENABLED, PRIORITY, PRIORITY_MASK, WAKE_SGI};
use crate::cpu::MAX_CPUS;
use arm_gic::gicv2::registers::{Gicc, Gicd};
use arm_gic::gicv2::{GicV2 as Driver, SgiTarget, SgiTargetListFilter};
use arm_gic::{IntId, InterruptGroup};
use core::arch::asm;
use spin::{Mutex, Once};

pub(super) struct GicV2 {
    distributor: u64,
    cpu_interface: u64,
}

/// Each CPU's driver; a lock is only ever taken by its own CPU.
static PER_CPU: [Once<Mutex<Driver<'static>>>; MAX_CPUS] = [const { Once::new() }; MAX_CPUS];

impl GicV2 {
    pub(super) fn init(distributor: u64, cpu_interface: u64) -> Self {
        GicV2 { distributor, cpu_interface }
    }

    /// This CPU's driver, made on first use.
    fn this_cpu(&self) -> spin::MutexGuard<'static, Driver<'static>> {
        PER_CPU[crate::cpu::index()]
            .call_once(|| {
                // SAFETY: the device tree names a GICv2 with these windows,
                // identity-mapped as device memory below RAM for the whole
                // run. The other CPUs' instances alias them, and that is
                // sound for what the instances do (the module docs): set-up
                // runs on one CPU at a time, and then each touches its own
                // banked registers and GICD_SGIR.
                Mutex::new(unsafe {
                    Driver::new(self.distributor as *mut Gicd, self.cpu_interface as *mut Gicc)
                })
            })
            .lock()
    }

    /// Turns on the distributor and this CPU's interface, and enables
    /// [`WAKE_SGI`] and [`VTIMER_PPI`] in this CPU's banked registers.
    ///
    /// [`VTIMER_PPI`]: super::VTIMER_PPI
    pub(super) fn init_this_cpu(&self) -> Result<(), &'static str> {
        let mut gic = self.this_cpu();
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
        self.this_cpu().send_sgi(IntId::sgi(WAKE_SGI), target);
    }

    /// Acknowledges (`GICC_IAR`) and ends (`GICC_EOIR`) every pending
    /// interrupt, then `DMB ISH`, which keeps the caller's later loads
    /// after the acknowledgements. `InterruptGroup::Group0` names those
    /// registers rather than the aliased ones, which only a secure access
    /// uses.
    pub(super) fn drain(&self) {
        let mut gic = self.this_cpu();
        while let Some(intid) = gic.get_and_acknowledge_interrupt(InterruptGroup::Group0) {
            gic.end_interrupt(intid, InterruptGroup::Group0);
        }
        // SAFETY: a barrier; without `nomem` the compiler keeps the
        // caller's later loads after it, and the hardware does too.
        unsafe { asm!("dmb ish", options(nostack, preserves_flags)) };
    }
}
