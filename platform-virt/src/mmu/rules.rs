//! The architectural rules for changing translation table entries (Arm ARM
//! D8.14.1 "Using break-before-make when updating translation table
//! entries", D8.14.5 "Ordering and completion of TLB maintenance
//! instructions"), checked over the [`Op`]s one CPU issued, in order:
//!
//! - an entry that is valid is never overwritten with a different output
//!   address: it must be made invalid, then `DSB ISHST`, a TLBI covering it,
//!   and `DSB ISH` must complete before a valid value is written again;
//! - every TLBI follows a `DSB ISHST` issued after the last table write;
//! - every TLBI is followed by a `DSB ISH` before the sequence ends (a
//!   local `TLBI VALE1` by a `DSB NSH` or stronger);
//! - a local TLBI counts towards break-before-make only for an ASID that
//!   no other CPU has made current since the ASID was last retired, as of
//!   the `DSB ISHST` that ordered the invalidation: no other TLB can hold
//!   its entries, and a CPU that makes it current later walks the tables
//!   after the invalid entry was seen. Which CPUs made which ASID current
//!   comes from [`Op::Entered`] and [`Op::Retired`], whichever CPU issued
//!   them.
//!
//! Host tests check the sequences a `Recorder` logged; on the target,
//! `checking` feeds the real ones to a [`Checker`] per CPU as they
//! are issued. Barriers order the issuing CPU's own writes, hence one CPU's
//! sequence; a write's old value is the one its atomic access replaced, so
//! the rules see what other CPUs (and the hardware's AF and dirty updates)
//! left in the entry.

use super::descriptor::Descriptor;
use super::maintenance::{tlbi_operand, EntryWrite, Op};
use alloc::collections::BTreeMap;
use core::fmt;

/// A broken rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A valid entry was given a valid value with another output address.
    MovedWhileValid(EntryWrite),
    /// An entry made invalid was made valid again before invalid, `DSB
    /// ISHST`, TLBI, `DSB ISH` completed.
    RemadeTooEarly(EntryWrite),
    /// This TLBI came after table writes with no `DSB ISHST` since.
    TlbiBeforeDsb(Op),
    /// The sequence ended with a TLBI no `DSB ISH` completed.
    TlbiNotCompleted,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entry = |f: &mut fmt::Formatter<'_>, w: &EntryWrite| {
            let (old, new) = (Descriptor(w.old), Descriptor(w.new));
            write!(f, "entry {:#x} (VA {:#x}, ASID {}): {old:?} -> {new:?}", w.entry, w.va, w.asid)
        };
        match self {
            Violation::MovedWhileValid(w) => {
                f.write_str("output address changed while valid: ")?;
                entry(f, w)
            }
            Violation::RemadeTooEarly(w) => {
                f.write_str("re-made before invalid -> DSB ISHST -> TLBI -> DSB ISH completed: ")?;
                entry(f, w)
            }
            Violation::TlbiBeforeDsb(op) => write!(f, "{op:?} without a DSB ISHST after the table writes"),
            Violation::TlbiNotCompleted => f.write_str("TLBI not completed by DSB ISH"),
        }
    }
}

/// How far an entry made invalid is through break-before-make.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Invalidated,
    /// A `DSB ISHST` ordered the invalidation; `alone`: no other CPU had
    /// made its ASID current then.
    Synced {
        alone: bool,
    },
    /// A broadcast TLBI covering it was issued since.
    Flushed,
    /// A local TLBI covering it was, and it needed no more.
    FlushedHere,
}

/// The rules over one CPU's sequence, an [`Op`] at a time. It holds only
/// the entries part-way through break-before-make, so its memory is
/// bounded by what is in flight, not by the sequence's length.
pub struct Checker {
    /// The CPU whose sequence this is.
    cpu: usize,
    /// The entries made invalid whose invalidation has not completed, by
    /// address, with the write that made them invalid.
    breaking: BTreeMap<u64, (EntryWrite, Stage)>,
    /// By ASID, the CPUs that made it current since it was last retired.
    entered: BTreeMap<u16, u64>,
    stores_since_dsb: bool,
    tlbi_pending: bool,
    local_tlbi_pending: bool,
}

impl Checker {
    /// The rules over CPU `cpu`'s sequence.
    pub const fn new(cpu: usize) -> Checker {
        Checker {
            cpu,
            breaking: BTreeMap::new(),
            entered: BTreeMap::new(),
            stores_since_dsb: false,
            tlbi_pending: false,
            local_tlbi_pending: false,
        }
    }

    /// The next instruction of the sequence.
    pub fn step(&mut self, op: &Op) -> Result<(), Violation> {
        match op {
            Op::Write(w) => {
                let (old, new) = (Descriptor(w.old), Descriptor(w.new));
                if old.is_valid() && new.is_valid() && old.output_address() != new.output_address() {
                    return Err(Violation::MovedWhileValid(*w));
                }
                if new.is_valid() && self.breaking.contains_key(&w.entry) {
                    return Err(Violation::RemadeTooEarly(*w));
                }
                if old.is_valid() && !new.is_valid() {
                    self.breaking.insert(w.entry, (*w, Stage::Invalidated));
                }
                self.stores_since_dsb = true;
            }
            Op::DsbIshst => {
                self.stores_since_dsb = false;
                // Whether no CPU but this one has made `asid` current.
                let (entered, here) = (&self.entered, 1u64 << self.cpu);
                let alone = |asid| entered.get(&asid).is_none_or(|cpus| cpus & !here == 0);
                for (w, stage) in self.breaking.values_mut() {
                    if *stage == Stage::Invalidated {
                        *stage = Stage::Synced { alone: alone(w.asid) };
                    }
                }
            }
            Op::TlbiVale1is(_) | Op::TlbiAside1is(_) => {
                if self.stores_since_dsb {
                    return Err(Violation::TlbiBeforeDsb(*op));
                }
                self.tlbi_pending = true;
                self.advance(Stage::Flushed, |w, _| covers(op, w));
            }
            Op::TlbiVale1(_) => {
                if self.stores_since_dsb {
                    return Err(Violation::TlbiBeforeDsb(*op));
                }
                self.local_tlbi_pending = true;
                self.advance(Stage::FlushedHere, |w, alone| alone && covers(op, w));
            }
            Op::DsbIsh => {
                self.tlbi_pending = false;
                self.local_tlbi_pending = false;
                self.breaking.retain(|_, (_, stage)| !matches!(stage, Stage::Flushed | Stage::FlushedHere));
            }
            Op::DsbNsh | Op::DsbSy => {
                self.local_tlbi_pending = false;
                self.breaking.retain(|_, (_, stage)| *stage != Stage::FlushedHere);
            }
            Op::Entered { asid, cpu } => *self.entered.entry(*asid).or_default() |= 1 << cpu,
            Op::Retired(asid) => {
                self.entered.remove(asid);
            }
            Op::Isb | Op::Dc(..) | Op::IcIvau(_) => {}
        }
        Ok(())
    }

    /// Moves the synced entries that `which` selects (given the write and
    /// whether its ASID was this CPU's alone) to `to`.
    fn advance(&mut self, to: Stage, which: impl Fn(&EntryWrite, bool) -> bool) {
        for (w, stage) in self.breaking.values_mut() {
            if let Stage::Synced { alone } = *stage {
                if which(w, alone) {
                    *stage = to;
                }
            }
        }
    }

    /// The end of the sequence: no TLBI may be left uncompleted.
    pub fn finish(&self) -> Result<(), Violation> {
        if self.tlbi_pending || self.local_tlbi_pending {
            return Err(Violation::TlbiNotCompleted);
        }
        Ok(())
    }
}

/// Whether `tlbi` invalidates what the TLBs it reaches may hold of
/// `write`'s entry: `TLBI VALE1IS` or `TLBI VALE1` of its VA and ASID, or
/// `TLBI ASIDE1IS` of its ASID.
fn covers(tlbi: &Op, write: &EntryWrite) -> bool {
    match *tlbi {
        Op::TlbiVale1is(operand) | Op::TlbiVale1(operand) => operand == tlbi_operand(write.va, write.asid),
        Op::TlbiAside1is(operand) => operand >> 48 == write.asid as u64,
        _ => false,
    }
}

/// The rules over a whole sequence, CPU 0's (a [`super::maintenance::Recorder`]'s
/// unless told otherwise).
pub fn check(sequence: &[Op]) -> Result<(), Violation> {
    let mut checker = Checker::new(0);
    sequence.iter().try_for_each(|op| checker.step(op))?;
    checker.finish()
}
