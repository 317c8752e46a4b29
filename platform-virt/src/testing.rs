//! The QEMU test harness: runs test cases, prints a line per case and the
//! closing `N passed, M failed` line; a panic or an unexpected exception
//! inside a case ends the run through [`crate::fatal`], which names the
//! failed case with the harness's epilogue. Every case runs under
//! [`crate::mmu::checking`]: a table write, barrier or TLBI that breaks the
//! break-before-make or TLB maintenance rules fails the case.

use crate::runtime::Boot;
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

/// Runs `cases` in order and returns the run's exit status: 0 if all passed.
/// A case must leave no CPU changing translation tables when it returns.
///
/// A failing case panics or takes an exception; that ends the run at once
/// ([`crate::fatal`]), after `report_failed_case` has named the case, so a
/// returned status is always 0.
pub fn run(boot: &Boot, cases: &[TestCase]) -> i32 {
    crate::fatal::on_report(report_failed_case);
    crate::println!("running {} tests", cases.len());
    for case in cases {
        *CURRENT.lock() = Some(case.name);
        crate::print!("test {} ... ", case.name);
        crate::mmu::checking::start();
        (case.run)(boot);
        if let Err(failure) = crate::mmu::checking::stop() {
            panic!("a break-before-make or TLB maintenance rule was broken: {failure}");
        }
        crate::println!("ok");
        *CURRENT.lock() = None;
        PASSED.fetch_add(1, Ordering::SeqCst);
    }
    crate::println!("{} passed, 0 failed", PASSED.load(Ordering::SeqCst));
    0
}

/// Inside a test case, reports it as failed and prints the closing line.
fn report_failed_case() {
    // The lock is only held for a store; a failure that interrupted one is
    // reported without the case name.
    let current = CURRENT.try_lock().and_then(|c| *c);
    if let Some(name) = current {
        crate::console::print_fatal(format_args!(
            "test {name} FAILED\n{} passed, 1 failed\n",
            PASSED.load(Ordering::SeqCst)
        ));
    }
}
