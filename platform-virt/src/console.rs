//! The PL011 console (through `tock-registers`), `print!`/`println!`, and the
//! `log` facade's logger.

use core::fmt::{self, Write};
use spin::Mutex;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_bitfields![u32,
    /// Flag register.
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
    ]
];

register_structs! {
    Pl011Registers {
        (0x000 => dr: ReadWrite<u32>),
        (0x004 => _reserved),
        (0x018 => fr: ReadOnly<u32, FR::Register>),
        (0x01c => @END),
    }
}

/// A PL011 UART, as QEMU's virt board has at the address the tree gives.
/// QEMU's model transmits without any set-up.
struct Pl011 {
    regs: &'static Pl011Registers,
}

// SAFETY: the registers are MMIO that any CPU may access; the console's
// mutex serialises every access.
unsafe impl Send for Pl011 {}

impl Pl011 {
    /// # Safety
    /// `base` must be the MMIO base of a PL011, mapped (or identity with the
    /// MMU off) for the rest of the program.
    unsafe fn new(base: u64) -> Self {
        // SAFETY: the caller guarantees `base` addresses a live PL011 block.
        Pl011 { regs: unsafe { &*(base as *const Pl011Registers) } }
    }

    fn put(&mut self, byte: u8) {
        while self.regs.fr.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.regs.dr.set(byte as u32);
    }
}

impl Write for Pl011 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.put(b'\r');
            }
            self.put(b);
        }
        Ok(())
    }
}

static CONSOLE: Mutex<Option<Pl011>> = Mutex::new(None);

/// Starts the console on the PL011 at `base`.
///
/// # Safety
/// As [`Pl011::new`].
pub(crate) unsafe fn init(base: u64) {
    // SAFETY: forwarded from the caller.
    *CONSOLE.lock() = Some(unsafe { Pl011::new(base) });
    // A second call finds the logger set already; the console it logs to is
    // the one just installed, so that is harmless.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    if let Some(uart) = CONSOLE.lock().as_mut() {
        // Pl011::write_str never fails.
        let _ = uart.write_fmt(args);
    }
}

/// Prints on the way out of a failing run, even if the console lock is held
/// by the code that failed.
pub(crate) fn print_fatal(args: fmt::Arguments) {
    if CONSOLE.is_locked() {
        // SAFETY: the run is ending on this CPU; the interrupted holder never
        // resumes, and interleaved bytes are acceptable in a fatal report.
        unsafe { CONSOLE.force_unlock() };
    }
    _print(args);
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::_print(format_args!($($arg)*)));
}

/// Prints to the console, with a newline.
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::console::_print(format_args!("{}\n", format_args!($($arg)*))));
}

struct Logger;

static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            _print(format_args!("[{:<5}] {}\n", record.level(), record.args()));
        }
    }

    fn flush(&self) {}
}
