//! GICv3 (GIC architecture specification v3 and v4, IHI 0069) with
//! affinity routing: the distributor only enables Group 1; SGIs and PPIs
//! are configured in each CPU's redistributor; the CPU interface is the
//! `ICC_*_EL1` system registers. [`WAKE_SGI`] and [`VTIMER_PPI`] are
//! Group 1 interrupts: non-secure Group 1 where the GIC has two security
//! states (this code then runs non-secure), plain Group 1 where it has one
//! (`GICD_CTLR.DS` = 1, as on QEMU's virt board without `secure=on`).
//!
//! Entered at EL2, `asm/boot.S` first lets EL1 use the system registers
//! (`ICC_SRE_EL2.SRE` and `.Enable`), leaves the virtual CPU interface off
//! (`ICH_HCR_EL2` = 0) and keeps IRQs at EL1 (`HCR_EL2.IMO` = 0).
//!
//! Every wait on the hardware is bounded ([`POLL_LIMIT_DIVISOR`]): a GIC
//! that does not answer is a set-up error, so the CPU falls back to `WFE`.

use super::{FIRST_SPECIAL_INTID, PRIORITY, PRIORITY_MASK, VTIMER_PPI, WAKE_SGI};
use aarch64_cpu::registers::{CNTFRQ_EL0, CNTVCT_EL0, MPIDR_EL1};
use core::arch::asm;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite};
use tock_registers::{register_bitfields, register_structs};

/// The size of one redistributor frame (`RD_base`, `SGI_base`, …).
const FRAME: u64 = 64 << 10;
/// A wait on the GIC gives up after `CNTFRQ / POLL_LIMIT_DIVISOR` ticks
/// (100 ms).
const POLL_LIMIT_DIVISOR: u64 = 10;
/// The most redistributor frames walked before giving up on finding this
/// CPU's (QEMU's virt board has at most 123 in its first region).
const MAX_REDISTRIBUTORS: usize = 512;

register_bitfields![u32,
    /// Distributor Control Register (`GICD_CTLR`). Bits 1 and 4 are the
    /// same in the non-secure view and with one security state: Group 1
    /// (`EnableGrp1A`, `EnableGrp1`) and affinity routing (`ARE_NS`, `ARE`).
    GICD_CTLR [
        ENABLE_GRP1 OFFSET(1) NUMBITS(1) [],
        ARE OFFSET(4) NUMBITS(1) [],
        RWP OFFSET(31) NUMBITS(1) [],
    ],
    /// Peripheral ID2 (`GICD_PIDR2`, `GICR_PIDR2`).
    PIDR2 [
        ARCH_REV OFFSET(4) NUMBITS(4) [],
    ],
    /// Redistributor power management (`GICR_WAKER`).
    GICR_WAKER [
        PROCESSOR_SLEEP OFFSET(1) NUMBITS(1) [],
        CHILDREN_ASLEEP OFFSET(2) NUMBITS(1) [],
    ],
];

register_bitfields![u64,
    /// Redistributor Type Register (`GICR_TYPER`).
    GICR_TYPER [
        /// GICv4: the redistributor has two more frames (VLPI, reserved).
        VLPIS OFFSET(1) NUMBITS(1) [],
        /// The last redistributor of its region.
        LAST OFFSET(4) NUMBITS(1) [],
        /// Aff3.Aff2.Aff1.Aff0 of the PE it serves.
        AFFINITY OFFSET(32) NUMBITS(32) [],
    ],
];

register_structs! {
    /// The distributor registers used here.
    DistributorRegisters {
        (0x0000 => ctlr: ReadWrite<u32, GICD_CTLR::Register>),
        (0x0004 => _reserved0),
        (0xffe8 => pidr2: ReadOnly<u32, PIDR2::Register>),
        (0xffec => @END),
    }
}

register_structs! {
    /// One redistributor: its `RD_base` frame, then its `SGI_base` frame,
    /// which holds the SGI and PPI configuration.
    RedistributorRegisters {
        (0x0_0000 => _reserved0),
        (0x0_0008 => typer: ReadOnly<u64, GICR_TYPER::Register>),
        (0x0_0010 => _reserved1),
        (0x0_0014 => waker: ReadWrite<u32, GICR_WAKER::Register>),
        (0x0_0018 => _reserved2),
        (0x0_ffe8 => pidr2: ReadOnly<u32, PIDR2::Register>),
        (0x0_ffec => _reserved3),
        (0x1_0080 => igroupr0: ReadWrite<u32>),
        (0x1_0084 => _reserved4),
        (0x1_0100 => isenabler0: ReadWrite<u32>),
        (0x1_0104 => _reserved5),
        (0x1_0400 => ipriorityr: [ReadWrite<u32>; 8]),
        (0x1_0420 => @END),
    }
}

pub(super) struct GicV3 {
    /// The first redistributor frame of the (first) region.
    redistributors: u64,
}

impl GicV3 {
    /// Checks that this CPU has the system-register interface and that the
    /// distributor is a GICv3 or v4, then turns on affinity routing and
    /// Group 1 there.
    pub(super) fn init(distributor: u64, redistributors: u64) -> Result<Self, &'static str> {
        use_system_registers()?;
        // SAFETY: the device tree names a GICv3 distributor there,
        // identity-mapped as device memory below RAM; only the boot CPU
        // writes it, before any other CPU starts.
        let distributor = unsafe { &*(distributor as *const DistributorRegisters) };
        if !is_gic_v3_or_v4(distributor.pidr2.read(PIDR2::ARCH_REV)) {
            return Err("GICD_PIDR2 names no GICv3 or v4");
        }
        // Groups off, then ARE on, then Group 1 on: ARE may change only
        // while every group is disabled (IHI 0069, `GICD_CTLR`); each write
        // completes when RWP reads 0.
        let rwp_clear = || !distributor.ctlr.is_set(GICD_CTLR::RWP);
        let are = GICD_CTLR::ARE.val(distributor.ctlr.read(GICD_CTLR::ARE));
        for value in [are, GICD_CTLR::ARE::SET, GICD_CTLR::ARE::SET + GICD_CTLR::ENABLE_GRP1::SET] {
            distributor.ctlr.write(value);
            poll(rwp_clear).map_err(|()| "the distributor never finished a GICD_CTLR write (RWP)")?;
        }
        Ok(GicV3 { redistributors })
    }

    /// Wakes this CPU's redistributor, makes [`WAKE_SGI`] and
    /// [`VTIMER_PPI`] enabled Group 1 interrupts there, and enables Group 1
    /// at this CPU's interface.
    pub(super) fn init_this_cpu(&self) -> Result<(), &'static str> {
        use_system_registers()?;
        let rd = self.redistributor_of_this_cpu()?;
        rd.waker.modify(GICR_WAKER::PROCESSOR_SLEEP::CLEAR);
        poll(|| !rd.waker.is_set(GICR_WAKER::CHILDREN_ASLEEP))
            .map_err(|()| "this CPU's redistributor stays asleep (GICR_WAKER.ChildrenAsleep)")?;
        let bits = 1 << WAKE_SGI | 1 << VTIMER_PPI;
        rd.igroupr0.set(rd.igroupr0.get() | bits);
        for intid in [WAKE_SGI as usize, VTIMER_PPI] {
            // A read-modify-write of the word that holds four priorities.
            let (word, shift) = (&rd.ipriorityr[intid / 4], intid % 4 * 8);
            word.set(word.get() & !(0xff << shift) | u32::from(PRIORITY) << shift);
        }
        rd.isenabler0.set(bits);
        // SAFETY: CPU interface registers of this CPU, enabled for EL1 by
        // `use_system_registers`: the priority mask, EOImode 0 (`EOIR`
        // both drops the priority and deactivates), Group 1 on. They
        // affect only this CPU's interrupt signalling, which `PSTATE`
        // masks; the ISB makes them take effect.
        unsafe {
            asm!(
                "msr ICC_PMR_EL1, {pmr}",
                "msr ICC_CTLR_EL1, xzr",
                "msr ICC_IGRPEN1_EL1, {on}",
                "isb",
                pmr = in(reg) u64::from(PRIORITY_MASK),
                on = in(reg) 1u64,
                options(nostack, preserves_flags),
            )
        };
        Ok(())
    }

    /// Walks the redistributor frames for the one whose `GICR_TYPER`
    /// affinity is this CPU's MPIDR (IHI 0069, "Redistributor regions").
    fn redistributor_of_this_cpu(&self) -> Result<&'static RedistributorRegisters, &'static str> {
        let mpidr = MPIDR_EL1.get();
        let affinity = (mpidr & 0xff_ffff) | (mpidr >> 32 & 0xff) << 24;
        let mut frame = self.redistributors;
        for _ in 0..MAX_REDISTRIBUTORS {
            // SAFETY: `frame` is the device tree's redistributor region or
            // a frame that the previous one (not the last, by its TYPER)
            // says follows it; identity-mapped as device memory, and read
            // only here until it is found to be this CPU's.
            let rd = unsafe { &*(frame as *const RedistributorRegisters) };
            if !is_gic_v3_or_v4(rd.pidr2.read(PIDR2::ARCH_REV)) {
                break;
            }
            let typer = rd.typer.extract();
            if typer.read(GICR_TYPER::AFFINITY) == affinity {
                return Ok(rd);
            }
            if typer.is_set(GICR_TYPER::LAST) {
                break;
            }
            frame += if typer.is_set(GICR_TYPER::VLPIS) { 4 } else { 2 } * FRAME;
        }
        Err("no GICv3 redistributor serves this CPU's MPIDR")
    }
}

/// `PIDR2.ArchRev` of a GICv3 (3) or GICv4 (4).
fn is_gic_v3_or_v4(arch_rev: u32) -> bool {
    matches!(arch_rev, 3 | 4)
}

/// Enables this CPU's system-register interface at EL1
/// (`ICC_SRE_EL1.SRE`), if the CPU has one (`ID_AA64PFR0_EL1.GIC`) and a
/// higher level lets EL1 have it (else SRE stays 0).
fn use_system_registers() -> Result<(), &'static str> {
    let pfr0: u64;
    // SAFETY: an ID register read, always defined.
    unsafe { asm!("mrs {}, ID_AA64PFR0_EL1", out(reg) pfr0, options(nomem, nostack, preserves_flags)) };
    if pfr0 >> 24 & 0xf == 0 {
        return Err("this CPU has no GIC system-register interface");
    }
    let sre: u64;
    // SAFETY: the CPU has the interface (above); setting SRE only selects
    // the system registers over a memory-mapped interface this code does
    // not use, and the ISB makes that take effect before the read-back.
    unsafe {
        asm!(
            "mrs {sre}, ICC_SRE_EL1",
            "orr {sre}, {sre}, #1",
            "msr ICC_SRE_EL1, {sre}",
            "isb",
            "mrs {sre}, ICC_SRE_EL1",
            sre = out(reg) sre,
            options(nostack, preserves_flags),
        )
    };
    if sre & 1 == 0 {
        return Err("ICC_SRE_EL1.SRE stays 0: EL2 or EL3 keeps the system-register interface");
    }
    Ok(())
}

/// Polls `done` until it holds or 100 ms of the virtual count have passed.
fn poll(done: impl Fn() -> bool) -> Result<(), ()> {
    let limit = CNTVCT_EL0.get() + CNTFRQ_EL0.get() / POLL_LIMIT_DIVISOR;
    while !done() {
        if CNTVCT_EL0.get() > limit {
            return Err(());
        }
        core::hint::spin_loop();
    }
    Ok(())
}

/// Sends [`WAKE_SGI`] to every CPU but this one: `ICC_SGI1R_EL1` with
/// `IRM` = 1, a Group 1 SGI.
pub(super) fn send_wake_to_others() {
    const IRM: u64 = 1 << 40;
    let value = IRM | u64::from(WAKE_SGI) << 24;
    // SAFETY: the write generates the SGI, nothing else; the ISB makes
    // sure it is executed now rather than at some later synchronization.
    unsafe { asm!("msr ICC_SGI1R_EL1, {}", "isb", in(reg) value, options(nostack, preserves_flags)) };
}

/// Acknowledges (`ICC_IAR1_EL1`) and ends (`ICC_EOIR1_EL1`) every pending
/// Group 1 interrupt. These are system-register accesses, which `DMB`
/// does not order against memory: the closing `DSB SY` keeps the caller's
/// later loads after the last acknowledgement.
pub(super) fn drain() {
    loop {
        let iar: u64;
        // SAFETY: reading IAR acknowledges the highest-priority pending
        // interrupt of this CPU, which only `drain` does.
        unsafe { asm!("mrs {}, ICC_IAR1_EL1", out(reg) iar, options(nostack, preserves_flags)) };
        if (iar & 0xff_ffff) as u32 >= FIRST_SPECIAL_INTID {
            break;
        }
        // SAFETY: ends the interrupt just acknowledged.
        unsafe { asm!("msr ICC_EOIR1_EL1, {}", in(reg) iar, options(nostack, preserves_flags)) };
    }
    // SAFETY: a barrier; without `nomem` the compiler keeps the caller's
    // later loads after it, and the hardware does too.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
}
