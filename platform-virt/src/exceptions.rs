//! EL1 exception handling. Aborts on VM addresses go to the VM's fault path
//! ([`crate::vm`]); one it cannot resolve is a fatal page fault, which goes
//! to the catcher armed on this CPU ([`crate::fault::catch`]) or, without
//! one, fails the run. Every other exception is unexpected: it is reported
//! with its decoded syndrome and fails the run. A failed run is reported
//! exactly once ([`crate::fatal`]).

use crate::esr::{ExceptionClass, FaultStatus, Syndrome};
use crate::fault::FatalFault;
use aarch64_cpu::registers::{Readable, ESR_EL1, FAR_EL1};
use vm_core::fault::Access;

core::arch::global_asm!(include_str!("asm/vectors.S"));

/// The registers `asm/vectors.S` saves on entry, and restores on return.
/// The vector saves the FP/SIMD registers after these (the handler's Rust
/// code may use them); nothing here reads them.
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
    if kind & 3 == 0 {
        if let Some((access, af_or_permission)) = vm_abort(esr) {
            match crate::vm::handle_abort(far, access, af_or_permission) {
                Some(Ok(())) => return,
                Some(Err(status)) => {
                    let fault = FatalFault { address: far, access, status, vmo: crate::vm::mapped_vmo(far) };
                    match crate::fault::escape(fault) {
                        Ok(landing) => {
                            (frame.elr, frame.x[0]) = (landing.pc, landing.x0);
                            return;
                        }
                        Err(fault) => crate::fatal::report(format_args!(
                            "fatal page fault: {fault}\n  ELR_EL1={:#018x}",
                            frame.elr
                        )),
                    }
                }
                None => {}
            }
        }
    }
    crate::fatal::report(format_args!(
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

/// The access an abort made and whether it is an access-flag or permission
/// fault (rather than a translation fault), for the aborts the VM may
/// resolve; the syndrome decoded once.
fn vm_abort(esr: Syndrome) -> Option<(Access, bool)> {
    let af_or_permission = match esr.fault_status()? {
        FaultStatus::Translation { .. } => false,
        FaultStatus::AccessFlag { .. } | FaultStatus::Permission { .. } => true,
        _ => return None,
    };
    let access = match esr.class() {
        ExceptionClass::InstructionAbortSameEl | ExceptionClass::InstructionAbortLowerEl => Access::Execute,
        _ if esr.is_write() => Access::Write,
        _ => Access::Read,
    };
    Some((access, af_or_permission))
}
