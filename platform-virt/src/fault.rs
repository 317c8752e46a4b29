//! Fatal page faults as values: [`catch`] runs a closure and returns the
//! fault that the VM could not resolve, instead of ending the run, the way a
//! Zircon test waits for a thread's crash and reads its status.
//!
//! Without a catcher armed on the faulting CPU an unresolved fault is
//! reported and fails the run ([`crate::fatal`]). With one, the exception
//! handler records the fault in the catcher's `JumpBuf` and returns from
//! the exception into `fault_catch_landing` (`asm/fault_catch.S`), which
//! restores the registers saved when the catcher was armed: `catch` returns
//! `Err` as if the closure had returned. Catchers are per CPU and nest; an
//! escape disarms the innermost one, and `catch` re-arms the one outside it.

use crate::cpu::MAX_CPUS;
use core::ffi::c_void;
use core::fmt;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, Ordering::SeqCst};
use vm_core::fault::Access;
use vm_core::Status;

core::arch::global_asm!(include_str!("asm/fault_catch.S"));

/// A page fault the VM could not resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FatalFault {
    /// The faulting address (`FAR_EL1`).
    pub address: u64,
    pub access: Access,
    /// Why the VM refused: `NOT_FOUND` (nothing mapped), `ACCESS_DENIED`
    /// (the mapping does not permit the access), `OUT_OF_RANGE` (beyond
    /// the VMO's end), or the VMO's own status.
    pub status: Status,
    /// The VMO mapped there, if any.
    pub vmo: Option<MappedVmo>,
}

/// A VMO mapped at a faulting address, and the address's offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MappedVmo {
    pub koid: u64,
    pub offset: u64,
}

/// `Write at 0x… in VMO 7 at offset 0x1008: AccessDenied`.
impl fmt::Display for FatalFault {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{:?} at {:#x}", self.access, self.address)?;
        if let Some(vmo) = self.vmo {
            write!(f, " in VMO {} at offset {:#x}", vmo.koid, vmo.offset)?;
        }
        write!(f, ": {:?}", self.status)
    }
}

/// What `asm/fault_catch.S` saves (offsets there), and the fault the handler
/// records on an escape.
#[repr(C)]
struct JumpBuf {
    /// x19-x30, SP.
    x: [u64; 13],
    /// d8-d15.
    d: [u64; 8],
    fault: Option<FatalFault>,
}

/// The innermost armed catcher of each CPU, by CPU index; null when none.
static ARMED: [AtomicPtr<JumpBuf>; MAX_CPUS] = [const { AtomicPtr::new(null_mut()) }; MAX_CPUS];

extern "C" {
    fn fault_catch_call(buf: *mut c_void, data: *mut c_void, run: extern "C" fn(*mut c_void)) -> u64;
    fn fault_catch_landing();
}

/// Runs `f` on this CPU and returns its result, or the first fatal page
/// fault it takes.
///
/// On a fault, `f` and everything it called are abandoned where they stand:
/// no destructor of theirs runs, no lock they hold is released, and the
/// values `f` captured are leaked. Keep closures small — a load or a store.
///
/// # Safety
/// Nothing `f` creates or captures may rely on its destructor running for
/// soundness (pinned values, guards that other code waits on), and `f` must
/// not hold a lock that anything needs afterwards.
pub unsafe fn catch<T, F: FnOnce() -> T>(f: F) -> Result<T, FatalFault> {
    extern "C" fn run<T, F: FnOnce() -> T>(data: *mut c_void) {
        // SAFETY: `data` is the `Call` of the `catch` below, alive and
        // otherwise untouched for the whole call.
        let call = unsafe { &mut *(data as *mut Call<T, F>) };
        let f = call.f.take().expect("the closure runs once");
        call.result = Some(f());
    }
    struct Call<T, F> {
        f: Option<F>,
        result: Option<T>,
    }
    let mut call = Call { f: Some(f), result: None };
    let mut buf = JumpBuf { x: [0; 13], d: [0; 8], fault: None };
    let armed = &ARMED[crate::cpu::index()];
    let outer = armed.swap(&mut buf, SeqCst);
    // SAFETY: `buf` and `call` outlive the call; the handler returns into
    // `fault_catch_landing` only while `buf` is armed on this CPU, and that
    // makes `fault_catch_call` return 1 with this frame's registers.
    let escaped = unsafe {
        fault_catch_call(
            (&mut buf as *mut JumpBuf).cast(),
            (&mut call as *mut Call<T, F>).cast(),
            run::<T, F>,
        )
    };
    armed.store(outer, SeqCst);
    match escaped {
        0 => Ok(call.result.expect("the closure returned")),
        _ => Err(buf.fault.expect("an escape records its fault")),
    }
}

/// Where the exception return goes for a caught fault: `pc` with `x0`.
pub(crate) struct Landing {
    pub pc: u64,
    pub x0: u64,
}

/// Hands `fault` to the innermost catcher armed on this CPU and disarms it,
/// or gives it back if none is armed.
pub(crate) fn escape(fault: FatalFault) -> Result<Landing, FatalFault> {
    let buf = ARMED[crate::cpu::index()].swap(null_mut(), SeqCst);
    if buf.is_null() {
        return Err(fault);
    }
    // SAFETY: an armed buffer lives in the frame of a `catch` further up
    // this CPU's stack, which waits in `fault_catch_call` and reads the
    // fault only after the landing.
    unsafe { (*buf).fault = Some(fault) };
    Ok(Landing { pc: fault_catch_landing as *const () as u64, x0: buf as u64 })
}
