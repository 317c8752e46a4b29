//! The end of a failed run: a report on the console, then power-off with
//! status 1. Panics of every image come here, and so do exceptions nobody
//! resolves.
//!
//! The report is printed exactly once, by the first CPU to fail; a CPU that
//! fails while another reports stops. Layers above (the test harness) add
//! their own closing lines with [`on_report`].

use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};
use spin::Once;

/// 1 + the index of the CPU ending the run, 0 while none is.
static ABORTING: AtomicUsize = AtomicUsize::new(0);
static EPILOGUE: Once<fn()> = Once::new();

/// Has `epilogue` run after every later report, before power-off (the first
/// one registered stays).
pub fn on_report(epilogue: fn()) {
    EPILOGUE.call_once(|| epilogue);
}

/// Ends the run as failed after printing `reason` and the CPU it came from.
pub fn report(reason: fmt::Arguments) -> ! {
    let cpu = crate::cpu::index();
    match ABORTING.compare_exchange(0, cpu + 1, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => {}
        // Failing while failing (e.g. the report itself faulted): leave now.
        Err(aborting) if aborting == cpu + 1 => crate::power::exit(1),
        // Another CPU is ending the run: let it report.
        Err(_) => loop {
            aarch64_cpu::asm::wfe();
        },
    }
    crate::console::print_fatal(format_args!("\n{reason} (on CPU {cpu})\n"));
    if let Some(epilogue) = EPILOGUE.get() {
        epilogue();
    }
    crate::power::exit(1);
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    report(format_args!("panic: {info}"))
}
