//! The interrupt controller, used only to wake cores from `WFI`: one
//! software-generated interrupt ([`WAKE_SGI`]) that [`crate::wait`]'s waker
//! sends to every other CPU, and the virtual timer's private interrupt
//! ([`VTIMER_PPI`]) for deadlines. Interrupts stay masked in `PSTATE`; a
//! pending one ends `WFI` all the same (Arm ARM: `WFI` waits only while no
//! interrupt is pending, whatever the masks), and the waiter acknowledges
//! it with [`drain`], so no exception vector is involved.
//!
//! Both GIC generations of QEMU's virt board are driven, with the drivers
//! of the `arm-gic` crate: GICv2 through its memory-mapped CPU interface
//! (`v2`), GICv3 through the system-register CPU interface and each CPU's
//! redistributor (`v3`). A CPU whose set-up fails waits with `WFE` instead
//! ([`wakes_wfi`]): with GICv3, no redistributor of its own or a
//! system-register interface EL2 did not hand over; with either, interrupts
//! whose groups the GIC's secure side keeps (no firmware made them
//! non-secure): GICv2's enables then read back clear, and GICv3's SGI to
//! the CPU itself never arrives; the waker always sends
//! both the SGI and an event, so either kind of waiter is woken. The
//! driver waits on the GIC's own acknowledgements (`GICD_CTLR.RWP`,
//! `GICR_WAKER.ChildrenAsleep`) without a time limit.

mod v2;
mod v3;

use crate::boot_info::GicInfo;
use crate::cpu::MAX_CPUS;
use arm_gic::IntId;
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Once;

/// The SGI that wakes waiting cores.
pub const WAKE_SGI: u32 = 0;
/// The EL1 virtual timer's PPI on QEMU's virt board (and the Server Base
/// System Architecture's choice).
pub const VTIMER_PPI: usize = 27;
/// The priority given to both; anything above the priority mask passes.
const PRIORITY: u8 = 0x80;
/// Lets every priority but the lowest through (`GICC_PMR`, `ICC_PMR_EL1`).
const PRIORITY_MASK: u8 = 0xf0;
/// The interrupts enabled, as `arm-gic` names them: [`WAKE_SGI`] and
/// [`VTIMER_PPI`] (the twelfth PPI; PPIs start at INTID 16).
const ENABLED: [IntId; 2] = [IntId::sgi(WAKE_SGI), IntId::ppi(VTIMER_PPI as u32 - 16)];

/// The GIC that [`init`] set up on the boot CPU.
enum Gic {
    V2(v2::GicV2),
    V3(v3::GicV3),
}

impl Gic {
    fn init_this_cpu(&self) -> Result<(), &'static str> {
        match self {
            Gic::V2(gic) => gic.init_this_cpu(),
            Gic::V3(gic) => gic.init_this_cpu(),
        }
    }
}

static GIC: Once<Gic> = Once::new();
/// Per CPU: its GIC CPU interface is set up, so its waits sleep in `WFI`.
static SLEEPS_IN_WFI: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// What [`init`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wakeups {
    /// The GIC's SGIs and the timer interrupt wake `WFI`; the GIC's
    /// architecture version (2 or 3).
    Gic(u8),
    /// No GIC this module drives, or its set-up failed: the reason, for
    /// the boot banner.
    None(&'static str),
}

/// Sets up `gic` and this (the boot) CPU's part of it; the identity map
/// keeps the GIC's windows mapped as device memory for the whole run. On
/// failure no CPU uses the GIC.
pub(crate) fn init(gic: Option<GicInfo>) -> Wakeups {
    let gic = match gic {
        Some(GicInfo::V2 { distributor, cpu_interface }) => {
            Ok(Gic::V2(v2::GicV2::init(distributor, cpu_interface)))
        }
        Some(GicInfo::V3 { distributor, redistributors }) => {
            v3::GicV3::init(distributor, redistributors).map(Gic::V3)
        }
        None => Err("no GIC in the device tree"),
    };
    match gic.and_then(|gic| gic.init_this_cpu().map(|()| gic)) {
        Ok(gic) => {
            let version = match gic {
                Gic::V2(_) => 2,
                Gic::V3(_) => 3,
            };
            GIC.call_once(|| gic);
            SLEEPS_IN_WFI[crate::cpu::index()].store(true, Ordering::Release);
            Wakeups::Gic(version)
        }
        Err(why) => Wakeups::None(why),
    }
}

/// Sets up this CPU's part of the GIC, if the boot CPU found one: each
/// other CPU runs it once as it starts. An error says why this CPU waits
/// with `WFE`.
pub(crate) fn init_this_cpu() -> Result<(), &'static str> {
    let Some(gic) = GIC.get() else { return Ok(()) };
    gic.init_this_cpu()?;
    SLEEPS_IN_WFI[crate::cpu::index()].store(true, Ordering::Release);
    Ok(())
}

/// Whether waits on CPU `cpu` sleep in `WFI`: the boot found a GIC, and
/// that CPU's part of it is set up.
pub fn wakes_wfi(cpu: usize) -> bool {
    SLEEPS_IN_WFI[cpu].load(Ordering::Acquire)
}

/// Sends [`WAKE_SGI`] to every CPU but this one. The caller orders its
/// earlier stores before this (`DSB`).
pub(crate) fn send_wake_to_others() {
    match GIC.get() {
        Some(Gic::V2(gic)) => gic.send_wake_to_others(),
        Some(Gic::V3(_)) => v3::send_wake_to_others(),
        None => {}
    }
}

/// Acknowledges and ends every interrupt pending on this CPU, so the next
/// `WFI` sleeps until a new one; the loads after it are ordered after the
/// acknowledgements.
pub(crate) fn drain() {
    match GIC.get() {
        Some(Gic::V2(gic)) => gic.drain(),
        Some(Gic::V3(_)) => v3::drain(),
        None => {}
    }
}
