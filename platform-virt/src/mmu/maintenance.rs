//! Barriers, TLB maintenance and cache maintenance by VA, behind a trait:
//! the hardware executes them; on the host a `Recorder` logs them, so tests
//! can check the sequences (Arm ARM D8.14 "Translation Lookaside Buffers",
//! D7.5 "Cache maintenance instructions"). Both sequences, the recorded and,
//! while `checking` is on, the real ones, go through
//! [`super::rules`].

/// Data cache maintenance by VA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DcOp {
    /// Clean to the point of coherency.
    Cvac,
    /// Invalidate to the point of coherency.
    Ivac,
    /// Clean and invalidate to the point of coherency.
    Civac,
    /// Clean to the point of unification.
    Cvau,
}

/// The instructions translation-table and cache code issues. TLB
/// maintenance that makes a change visible is broadcast to the inner
/// shareable domain when other cores may hold the translation. The local
/// forms drop a stale entry stricter than the table's from this CPU's TLBs
/// (a spurious fault after a relaxation, which needs no broadcast), and
/// complete a change to tables that no other CPU has made current.
pub trait Maintenance: Send + Sync {
    /// The CPU this runs on: the one whose TLBs the local forms reach.
    fn this_cpu(&self) -> usize;
    fn dsb_ishst(&self);
    fn dsb_ish(&self);
    /// `DSB NSH`: completes this CPU's local TLB maintenance.
    fn dsb_nsh(&self);
    fn dsb_sy(&self);
    fn isb(&self);
    /// `TLBI VALE1IS`: the last-level entry for one VA and ASID
    /// ([`tlbi_operand`]).
    fn tlbi_vale1is(&self, operand: u64);
    /// `TLBI ASIDE1IS`: every entry of one ASID (operand: ASID in \[63:48\]).
    fn tlbi_aside1is(&self, operand: u64);
    /// `TLBI VALE1`: [`Maintenance::tlbi_vale1is`] on this CPU only.
    fn tlbi_vale1(&self, operand: u64);
    fn dc(&self, op: DcOp, va: u64);
    /// `IC IVAU`: invalidate instruction cache to the point of unification.
    fn ic_ivau(&self, va: u64);
    /// A translation table entry was written. Not an instruction: the
    /// hardware needs nothing here; the `Recorder` (and, while it is on,
    /// `checking`) logs it so the rules see stores in order with
    /// barriers.
    fn entry_written(&self, write: EntryWrite) {
        let _ = write;
    }
    /// This CPU is about to make `asid` current (`TTBR0_EL1`): from then on
    /// its TLBs may hold the ASID's entries. Not an instruction either:
    /// logged for the rules, which let a local TLBI complete
    /// break-before-make only where no other CPU did this.
    fn asid_entered(&self, asid: u16) {
        let _ = asid;
    }
    /// Every TLB was rid of `asid`'s entries, and the ASID is free. Logged
    /// likewise.
    fn asid_retired(&self, asid: u16) {
        let _ = asid;
    }
}

/// One write of a translation table entry, as [`super::rules`] needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryWrite {
    /// The entry's physical address.
    pub entry: u64,
    /// The (page-aligned) VA whose walk goes through the entry.
    pub va: u64,
    /// The ASID of the entry's address space.
    pub asid: u16,
    /// The value it replaced, read by the same atomic access.
    pub old: u64,
    pub new: u64,
}

/// The operand of a TLBI by VA: VA\[55:12\] in bits \[43:0\], the ASID in
/// bits \[63:48\].
pub const fn tlbi_operand(va: u64, asid: u16) -> u64 {
    ((asid as u64) << 48) | ((va >> 12) & ((1 << 44) - 1))
}

/// The real instructions.
#[cfg(target_arch = "aarch64")]
pub struct Hardware;

#[cfg(target_arch = "aarch64")]
mod hardware {
    use super::{DcOp, EntryWrite, Hardware, Maintenance, Op};
    use core::arch::asm;

    /// Hands `op` to `mmu::checking` (nothing while it is off).
    #[cfg(target_os = "none")]
    #[inline]
    fn check(op: Op) {
        crate::mmu::checking::record(op);
    }
    #[cfg(not(target_os = "none"))]
    fn check(_: Op) {}

    // SAFETY (every block below): barriers and maintenance instructions have
    // no memory-safety effects; maintenance by VA is only issued for
    // addresses the caller has mapped.
    // Inlined: each is an instruction or two, and the fault path issues
    // several (a call per barrier was a fifth of its table part).
    impl Maintenance for Hardware {
        #[inline]
        fn dsb_ishst(&self) {
            check(Op::DsbIshst);
            // SAFETY: see above.
            unsafe { asm!("dsb ishst", options(nostack, preserves_flags)) }
        }
        #[inline]
        fn dsb_ish(&self) {
            check(Op::DsbIsh);
            // SAFETY: see above.
            unsafe { asm!("dsb ish", options(nostack, preserves_flags)) }
        }
        #[inline]
        fn dsb_nsh(&self) {
            check(Op::DsbNsh);
            // SAFETY: see above.
            unsafe { asm!("dsb nsh", options(nostack, preserves_flags)) }
        }
        #[inline]
        fn dsb_sy(&self) {
            check(Op::DsbSy);
            // SAFETY: see above.
            unsafe { asm!("dsb sy", options(nostack, preserves_flags)) }
        }
        #[inline]
        fn isb(&self) {
            check(Op::Isb);
            // SAFETY: see above.
            unsafe { asm!("isb", options(nostack, preserves_flags)) }
        }
        #[inline]
        fn tlbi_vale1is(&self, operand: u64) {
            check(Op::TlbiVale1is(operand));
            // SAFETY: see above.
            unsafe { asm!("tlbi vale1is, {}", in(reg) operand, options(nostack, preserves_flags)) }
        }
        #[inline]
        fn tlbi_vale1(&self, operand: u64) {
            check(Op::TlbiVale1(operand));
            // SAFETY: see above.
            unsafe { asm!("tlbi vale1, {}", in(reg) operand, options(nostack, preserves_flags)) }
        }
        #[inline]
        fn tlbi_aside1is(&self, operand: u64) {
            check(Op::TlbiAside1is(operand));
            // SAFETY: see above.
            unsafe { asm!("tlbi aside1is, {}", in(reg) operand, options(nostack, preserves_flags)) }
        }
        #[inline]
        fn dc(&self, op: DcOp, va: u64) {
            check(Op::Dc(op, va));
            // SAFETY: see above; the caller maps `va`.
            unsafe {
                match op {
                    DcOp::Cvac => asm!("dc cvac, {}", in(reg) va, options(nostack, preserves_flags)),
                    DcOp::Ivac => asm!("dc ivac, {}", in(reg) va, options(nostack, preserves_flags)),
                    DcOp::Civac => asm!("dc civac, {}", in(reg) va, options(nostack, preserves_flags)),
                    DcOp::Cvau => asm!("dc cvau, {}", in(reg) va, options(nostack, preserves_flags)),
                }
            }
        }
        #[inline]
        fn ic_ivau(&self, va: u64) {
            check(Op::IcIvau(va));
            // SAFETY: see above; the caller maps `va`.
            unsafe { asm!("ic ivau, {}", in(reg) va, options(nostack, preserves_flags)) }
        }
        #[inline]
        fn entry_written(&self, write: EntryWrite) {
            check(Op::Write(write));
        }
        #[inline]
        fn this_cpu(&self) -> usize {
            #[cfg(target_os = "none")]
            return crate::cpu::index();
            #[cfg(not(target_os = "none"))]
            0
        }
        fn asid_entered(&self, asid: u16) {
            check(Op::Entered { asid, cpu: self.this_cpu() as u8 });
        }
        fn asid_retired(&self, asid: u16) {
            check(Op::Retired(asid));
        }
    }
}

/// A shared maintenance implementation (an `Arc` of one) serves too.
impl<X: Maintenance + ?Sized> Maintenance for alloc::sync::Arc<X> {
    fn dsb_ishst(&self) {
        (**self).dsb_ishst()
    }
    fn dsb_ish(&self) {
        (**self).dsb_ish()
    }
    fn dsb_nsh(&self) {
        (**self).dsb_nsh()
    }
    fn dsb_sy(&self) {
        (**self).dsb_sy()
    }
    fn isb(&self) {
        (**self).isb()
    }
    fn tlbi_vale1is(&self, operand: u64) {
        (**self).tlbi_vale1is(operand)
    }
    fn tlbi_aside1is(&self, operand: u64) {
        (**self).tlbi_aside1is(operand)
    }
    fn tlbi_vale1(&self, operand: u64) {
        (**self).tlbi_vale1(operand)
    }
    fn dc(&self, op: DcOp, va: u64) {
        (**self).dc(op, va)
    }
    fn ic_ivau(&self, va: u64) {
        (**self).ic_ivau(va)
    }
    fn entry_written(&self, write: EntryWrite) {
        (**self).entry_written(write)
    }
    fn this_cpu(&self) -> usize {
        (**self).this_cpu()
    }
    fn asid_entered(&self, asid: u16) {
        (**self).asid_entered(asid)
    }
    fn asid_retired(&self, asid: u16) {
        (**self).asid_retired(asid)
    }
}

/// One recorded instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    DsbIshst,
    DsbIsh,
    DsbNsh,
    DsbSy,
    Isb,
    TlbiVale1is(u64),
    TlbiAside1is(u64),
    TlbiVale1(u64),
    Dc(DcOp, u64),
    IcIvau(u64),
    /// A translation table entry written.
    Write(EntryWrite),
    /// CPU `cpu` made `asid` current ([`Maintenance::asid_entered`]).
    Entered {
        asid: u16,
        cpu: u8,
    },
    /// `asid` left every TLB ([`Maintenance::asid_retired`]).
    Retired(u16),
}

/// Stands in for the instructions on the host, logging each.
#[cfg(not(target_os = "none"))]
#[derive(Default)]
pub struct Recorder {
    log: std::sync::Mutex<std::vec::Vec<Op>>,
    /// The CPU it stands for ([`Recorder::set_cpu`]; 0 at first).
    cpu: std::sync::atomic::AtomicUsize,
}

#[cfg(not(target_os = "none"))]
impl Recorder {
    pub fn record(&self, op: Op) {
        self.log.lock().unwrap().push(op);
    }

    /// Stands for CPU `cpu` from now on.
    pub fn set_cpu(&self, cpu: usize) {
        self.cpu.store(cpu, std::sync::atomic::Ordering::SeqCst)
    }

    /// Everything recorded since the last call.
    pub fn take(&self) -> std::vec::Vec<Op> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

#[cfg(not(target_os = "none"))]
impl Maintenance for Recorder {
    fn dsb_ishst(&self) {
        self.record(Op::DsbIshst)
    }
    fn dsb_ish(&self) {
        self.record(Op::DsbIsh)
    }
    fn dsb_nsh(&self) {
        self.record(Op::DsbNsh)
    }
    fn dsb_sy(&self) {
        self.record(Op::DsbSy)
    }
    fn isb(&self) {
        self.record(Op::Isb)
    }
    fn tlbi_vale1is(&self, operand: u64) {
        self.record(Op::TlbiVale1is(operand))
    }
    fn tlbi_aside1is(&self, operand: u64) {
        self.record(Op::TlbiAside1is(operand))
    }
    fn tlbi_vale1(&self, operand: u64) {
        self.record(Op::TlbiVale1(operand))
    }
    fn dc(&self, op: DcOp, va: u64) {
        self.record(Op::Dc(op, va))
    }
    fn ic_ivau(&self, va: u64) {
        self.record(Op::IcIvau(va))
    }
    fn entry_written(&self, write: EntryWrite) {
        self.record(Op::Write(write))
    }
    fn this_cpu(&self) -> usize {
        self.cpu.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn asid_entered(&self, asid: u16) {
        self.record(Op::Entered { asid, cpu: self.this_cpu() as u8 })
    }
    fn asid_retired(&self, asid: u16) {
        self.record(Op::Retired(asid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlbi_operand_shifts_va_and_places_asid() {
        assert_eq!(tlbi_operand(0x0000_8000_1234_5000, 7), (7 << 48) | 0x8_0001_2345);
        // VA bits above 55 (and the page offset) do not leak into the operand.
        assert_eq!(tlbi_operand(0xffff_0000_0000_1fff, 0), 0x0000_0ff0_0000_0001);
        assert_eq!(tlbi_operand(0x1000, 0xffff) >> 48, 0xffff);
    }
}
