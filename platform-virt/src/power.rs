//! Ending a run: PSCI `SYSTEM_OFF`, or a semihosting exit that carries the
//! status to the host.
//!
//! PSCI `SYSTEM_OFF` always makes QEMU exit with 0, so when the boot
//! arguments say `semihosting` (the xtask runs QEMU with `-semihosting` and
//! says so) the run ends with semihosting's `SYS_EXIT`, whose status QEMU
//! exits with. Either way the last console line is `exit status: N`.

use crate::boot_info::PsciConduit;
use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

const PSCI_SYSTEM_OFF: u32 = 0x8400_0008;

static SEMIHOSTING: AtomicBool = AtomicBool::new(false);
/// 0: none, 1: HVC, 2: SMC.
static CONDUIT: AtomicU8 = AtomicU8::new(0);

pub(crate) fn init(conduit: Option<PsciConduit>, semihosting: bool) {
    let c = match conduit {
        None => 0,
        Some(PsciConduit::Hvc) => 1,
        Some(PsciConduit::Smc) => 2,
    };
    CONDUIT.store(c, Ordering::Relaxed);
    SEMIHOSTING.store(semihosting, Ordering::Relaxed);
}

/// Makes a PSCI call through the conduit the device tree names.
pub fn psci_call(function: u32, arg0: u64, arg1: u64, arg2: u64) -> i64 {
    let mut x0 = function as u64;
    match CONDUIT.load(Ordering::Relaxed) {
        // SAFETY: an SMC Calling Convention call; PSCI preserves x4-x17 and
        // returns its result in x0.
        1 => unsafe {
            asm!("hvc #0", inout("x0") x0, in("x1") arg0, in("x2") arg1, in("x3") arg2,
                 options(nostack))
        },
        // SAFETY: as above, through the secure monitor.
        2 => unsafe {
            asm!("smc #0", inout("x0") x0, in("x1") arg0, in("x2") arg1, in("x3") arg2,
                 options(nostack))
        },
        _ => x0 = u64::MAX, // NOT_SUPPORTED (-1)
    }
    x0 as i64
}

/// Ends the run with `status` (0 is success).
pub fn exit(status: i32) -> ! {
    crate::console::print_fatal(format_args!("exit status: {status}\n"));
    if SEMIHOSTING.load(Ordering::Relaxed) {
        // SYS_EXIT with ADP_Stopped_ApplicationExit and the status.
        let block: [u64; 2] = [0x20026, status as u32 as u64];
        // SAFETY: semihosting is enabled (the boot arguments say so), so the
        // debugger trap is serviced by QEMU, which reads `block` and exits.
        unsafe { asm!("hlt #0xf000", in("w0") 0x18u32, in("x1") block.as_ptr(), options(nostack)) };
    }
    psci_call(PSCI_SYSTEM_OFF, 0, 0, 0);
    loop {
        aarch64_cpu::asm::wfe();
    }
}
