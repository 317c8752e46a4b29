//! EL1 exception handling. Every exception is unexpected for now: it is
//! reported with its decoded syndrome and the run fails.

use crate::esr::Syndrome;
use aarch64_cpu::registers::{Readable, ESR_EL1, FAR_EL1};

core::arch::global_asm!(include_str!("asm/vectors.S"));

/// The registers `asm/vectors.S` saves on entry.
#[repr(C)]
pub struct TrapFrame {
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    _pad: u64,
}

const SOURCES: [&str; 4] =
    ["current EL with SP_EL0", "current EL with SP_ELx", "lower EL (AArch64)", "lower EL (AArch32)"];
const KINDS: [&str; 4] = ["synchronous", "IRQ", "FIQ", "SError"];

#[no_mangle]
extern "C" fn exception_dispatch(frame: &mut TrapFrame, kind: u64) {
    let esr = Syndrome(ESR_EL1.get());
    let far = FAR_EL1.get();
    crate::testing::abort_run(format_args!(
        "unexpected exception: {} from {}\n  class: {:?}, fault: {:?}, write: {}\n  \
         ESR_EL1={:#018x} FAR_EL1={:#018x} ELR_EL1={:#018x} SPSR_EL1={:#x}",
        KINDS[(kind & 3) as usize],
        SOURCES[((kind >> 2) & 3) as usize],
        esr.class(),
        esr.fault_status(),
        esr.is_write(),
        esr.0,
        far,
        frame.elr,
        frame.spsr,
    ));
}
