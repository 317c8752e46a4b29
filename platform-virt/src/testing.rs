//! The QEMU test harness: runs test cases, prints a line per case and the
//! closing `N passed, M failed` line, and turns a panic or an unexpected
//! exception inside a case into a failed run the host sees.

use crate::runtime::Boot;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};
use spin::Mutex;

/// One test case.
pub struct TestCase {
    pub name: &'static str,
    pub run: fn(&Boot),
}

/// Names a test case after its function: `test_case!(frames_exhaust)`.
#[macro_export]
macro_rules! test_case {
    ($f:path) => {
        $crate::testing::TestCase { name: stringify!($f), run: $f }
    };
}

/// Declares a test image's main, which runs the listed cases in order:
/// `platform_virt::test_image!(first_case, second_case);`.
#[macro_export]
macro_rules! test_image {
    ($($case:path),+ $(,)?) => {
        $crate::entry!(__test_image_main);
        fn __test_image_main(boot: &$crate::Boot) -> i32 {
            $crate::testing::run(boot, &[$($crate::test_case!($case)),+])
        }
    };
}

static CURRENT: Mutex<Option<&'static str>> = Mutex::new(None);
static PASSED: AtomicUsize = AtomicUsize::new(0);
/// 1 + the index of the CPU ending the run, 0 while none is.
static ABORTING: AtomicUsize = AtomicUsize::new(0);

/// Runs `cases` in order and returns the run's exit status: 0 if all passed.
///
/// A failing case panics or takes an exception; that ends the run at once
/// (see [`abort_run`]), so a returned status is always 0.
pub fn run(boot: &Boot, cases: &[TestCase]) -> i32 {
    crate::println!("running {} tests", cases.len());
    for case in cases {
        *CURRENT.lock() = Some(case.name);
        crate::print!("test {} ... ", case.name);
        (case.run)(boot);
        crate::println!("ok");
        *CURRENT.lock() = None;
        PASSED.fetch_add(1, Ordering::SeqCst);
    }
    crate::println!("{} passed, 0 failed", PASSED.load(Ordering::SeqCst));
    0
}

/// Ends the run as failed after printing `reason` and the CPU it came from;
/// inside a test case it first reports that case as failed and prints the
/// closing line. A CPU failing while another one ends the run stops.
pub(crate) fn abort_run(reason: fmt::Arguments) -> ! {
    let cpu = crate::smp::cpu_index();
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
    // The lock is only held for a store; a failure that interrupted one is
    // reported without the case name.
    let current = CURRENT.try_lock().and_then(|c| *c);
    if let Some(name) = current {
        crate::console::print_fatal(format_args!(
            "test {name} FAILED\n{} passed, 1 failed\n",
            PASSED.load(Ordering::SeqCst)
        ));
    }
    crate::power::exit(1);
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    abort_run(format_args!("panic: {info}"))
}
