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
//!   local `TLBI VALE1` by a `DSB NSH` or stronger); a local TLBI never
//!   counts towards break-before-make, which other CPUs' TLBs must see.
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
    /// A `DSB ISHST` ordered the invalidation.
    Synced,
    /// A TLBI covering it was issued since.
    Flushed,
}

/// The rules over one CPU's sequence, an [`Op`] at a time. It holds only
/// the entries part-way through break-before-make, so its memory is
/// bounded by what is in flight, not by the sequence's length.
#[derive(Default)]
pub struct Checker {
    /// The entries made invalid whose invalidation has not completed, by
    /// address, with the write that made them invalid.
    breaking: BTreeMap<u64, (EntryWrite, Stage)>,
    stores_since_dsb: bool,
    tlbi_pending: bool,
    local_tlbi_pending: bool,
}

impl Checker {
    pub const fn new() -> Checker {
        Checker {
            breaking: BTreeMap::new(),
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
                self.advance(Stage::Invalidated, Stage::Synced, |_| true);
            }
            Op::TlbiVale1is(_) | Op::TlbiAside1is(_) => {
                if self.stores_since_dsb {
                    return Err(Violation::TlbiBeforeDsb(*op));
                }
                self.tlbi_pending = true;
                self.advance(Stage::Synced, Stage::Flushed, |w| covers(op, w));
            }
            Op::TlbiVale1(_) => {
                if self.stores_since_dsb {
                    return Err(Violation::TlbiBeforeDsb(*op));
                }
                self.local_tlbi_pending = true;
            }
            Op::DsbIsh => {
                self.tlbi_pending = false;
                self.local_tlbi_pending = false;
                self.breaking.retain(|_, (_, stage)| *stage != Stage::Flushed);
            }
            Op::DsbNsh => self.local_tlbi_pending = false,
            Op::DsbSy => self.local_tlbi_pending = false,
            Op::Isb | Op::Dc(..) | Op::IcIvau(_) => {}
        }
        Ok(())
    }

    /// Moves the entries at `from` whose write `which` selects to `to`.
    fn advance(&mut self, from: Stage, to: Stage, which: impl Fn(&EntryWrite) -> bool) {
        for (w, stage) in self.breaking.values_mut() {
            if *stage == from && which(w) {
                *stage = to;
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

/// Whether `tlbi` invalidates what the TLBs may hold of `write`'s entry:
/// `TLBI VALE1IS` of its VA and ASID, or `TLBI ASIDE1IS` of its ASID.
fn covers(tlbi: &Op, write: &EntryWrite) -> bool {
    match *tlbi {
        Op::TlbiVale1is(operand) => operand == tlbi_operand(write.va, write.asid),
        Op::TlbiAside1is(operand) => operand >> 48 == write.asid as u64,
        _ => false,
    }
}

/// The rules over a whole sequence.
pub fn check(sequence: &[Op]) -> Result<(), Violation> {
    let mut checker = Checker::new();
    sequence.iter().try_for_each(|op| checker.step(op))?;
    checker.finish()
}
