//! The rules of [`super::rules`] over the real sequences: between
//! [`start`] and [`stop`], every table write, barrier and TLBI that
//! [`Hardware`](super::maintenance::Hardware) issues goes, as it is issued,
//! through the [`Checker`] of the CPU issuing it, and which CPUs made an
//! ASID current through every CPU's. Memory stays bounded: the
//! checker holds only the entries in flight, and each CPU keeps its last
//! [`RECENT`] instructions to show with a violation. Off by default, when
//! each instruction costs one load.

use super::maintenance::Op;
use super::rules::{Checker, Violation};
use crate::cpu::MAX_CPUS;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;

/// How many of its last instructions a CPU shows with its violation.
pub const RECENT: usize = 24;

/// A broken rule in a CPU's real sequence.
#[derive(Debug)]
pub struct Failure {
    pub cpu: usize,
    pub violation: Violation,
    /// The CPU's last instructions up to the violating one, oldest first.
    pub recent: Vec<Op>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CPU {}: {}; its last instructions:", self.cpu, self.violation)?;
        self.recent.iter().try_for_each(|op| write!(f, "\n  {op:x?}"))
    }
}

/// One CPU's checking.
struct CpuLog {
    checker: Checker,
    /// The last [`RECENT`] instructions, a ring indexed by `ops`.
    recent: [Option<Op>; RECENT],
    ops: u64,
    violation: Option<Violation>,
}

impl CpuLog {
    fn step(&mut self, op: Op) {
        if self.violation.is_some() {
            return;
        }
        self.recent[self.ops as usize % RECENT] = Some(op);
        self.ops += 1;
        self.violation = self.checker.step(&op).err();
    }

    /// Another CPU's [`Op::Entered`] or [`Op::Retired`]: what this CPU's
    /// local TLBIs may rely on, not one of its instructions.
    fn note(&mut self, op: Op) {
        if self.violation.is_none() {
            self.violation = self.checker.step(&op).err();
        }
    }

    fn failure(&self, cpu: usize, violation: Violation) -> Failure {
        let first = self.ops.saturating_sub(RECENT as u64);
        let recent = (first..self.ops).filter_map(|i| self.recent[i as usize % RECENT]).collect();
        Failure { cpu, violation, recent }
    }
}

static ON: AtomicBool = AtomicBool::new(false);
static LOGS: [Mutex<Option<CpuLog>>; MAX_CPUS] = [const { Mutex::new(None) }; MAX_CPUS];

/// Starts checking every CPU's sequence afresh. Call it while no CPU is
/// changing translation tables. Which CPUs made an ASID current before
/// it is not known: until one of them enters it again, the checker lets a
/// local TLBI of that ASID complete break-before-make (a leniency, never a
/// false failure).
pub fn start() {
    for (cpu, log) in LOGS.iter().enumerate() {
        *log.lock() =
            Some(CpuLog { checker: Checker::new(cpu), recent: [None; RECENT], ops: 0, violation: None });
    }
    ON.store(true, Ordering::Release);
}

/// Checks `op`, just issued by this CPU, if checking is on.
#[inline]
pub(super) fn record(op: Op) {
    if ON.load(Ordering::Acquire) {
        record_checked(op);
    }
}

/// [`record`] while checking: kept out of line, so that the table code
/// pays one load per operation when nothing checks.
#[inline(never)]
fn record_checked(op: Op) {
    let here = crate::cpu::index();
    if matches!(op, Op::Entered { .. } | Op::Retired(_)) {
        // Which CPUs made an ASID current bounds every CPU's local TLBIs.
        let others = LOGS.iter().enumerate().filter(|&(cpu, _)| cpu != here).map(|(_, log)| log);
        for log in others {
            if let Some(log) = log.lock().as_mut() {
                log.note(op);
            }
        }
    }
    if let Some(log) = LOGS[here].lock().as_mut() {
        log.step(op);
    }
}

/// How many instructions have been checked since [`start`].
pub fn count() -> u64 {
    LOGS.iter().filter_map(|log| log.lock().as_ref().map(|log| log.ops)).sum()
}

/// Stops checking and returns how many instructions were checked, or the
/// first CPU's violation (a sequence left with a TLBI no `DSB ISH`
/// completed is one). Call it while no CPU is changing translation tables.
pub fn stop() -> Result<u64, Failure> {
    ON.store(false, Ordering::Release);
    let mut checked = 0;
    for (cpu, log) in LOGS.iter().enumerate() {
        let Some(log) = log.lock().take() else { continue };
        if let Some(violation) = log.violation.or_else(|| log.checker.finish().err()) {
            return Err(log.failure(cpu, violation));
        }
        checked += log.ops;
    }
    Ok(checked)
}
