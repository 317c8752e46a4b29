// Entry from QEMU at EL3, EL2 or EL1, MMU off, on the boot CPU only (the others
// stay off until PSCI CPU_ON, see secondary.S). Entered at EL3 there is no
// firmware and no PSCI, and every CPU starts here at reset: the one with
// affinity 0 boots, the others wait in the pen (below) for smp.rs.
.section .text.boot, "ax"
.global _start
_start:
    mov     x19, x0                     // device tree pointer, if the loader passed one
    mrs     x9, CurrentEL
    ubfx    x20, x9, #2, #2             // the exception level we were started at
    bl      cpu_enter_el1
    cmp     x20, #3
    b.ne    1f
    mrs     x9, mpidr_el1
    mov     x10, #0xffffff              // Aff2, Aff1, Aff0
    movk    x10, #0xff, lsl #32         // Aff3
    and     x9, x9, x10
    cbnz    x9, wait_in_pen
1:  msr     tpidr_el1, xzr              // CPU index 0 (smp.rs)

    adrp    x9, __boot_stack_top
    add     x9, x9, :lo12:__boot_stack_top
    mov     sp, x9

    adrp    x9, __bss_start
    add     x9, x9, :lo12:__bss_start
    adrp    x10, __bss_end
    add     x10, x10, :lo12:__bss_end
2:  cmp     x9, x10
    b.hs    3f
    stp     xzr, xzr, [x9], #16
    b       2b

3:  mov     x0, x19
    mov     x1, x20
    bl      platform_entry
4:  wfe
    b       4b

// A CPU other than the boot CPU, started at reset (above), now at EL1 with
// the MMU off, its affinity in x9: waits until smp.rs's RESET_PEN names it,
// then enters as a CPU started with PSCI CPU_ON would, with the pen's
// context in x0. The pen is read uncached; smp.rs cleans it to memory.
wait_in_pen:
    adrp    x10, RESET_PEN
    add     x10, x10, :lo12:RESET_PEN
1:  wfe
    ldr     x11, [x10]                  // RESET_PEN[0]: the affinity let go
    cmp     x11, x9
    b.ne    1b
    ldr     x0, [x10, #8]               // RESET_PEN[1]: its context
    b       secondary_entry

// Where the CPU has a GICv3 system-register interface (ID_AA64PFR0_EL1.GIC),
// uses it at this level and lets the level below use its own: SRE and
// Enable in \sre (ICC_SRE_EL3 or ICC_SRE_EL2). Else branches to \none.
.macro USE_ICC_SRE sre, none
    mrs     x9, id_aa64pfr0_el1
    ubfx    x9, x9, #24, #4
    cbz     x9, \none
    mrs     x9, \sre
    orr     x9, x9, #0x1                // SRE
    orr     x9, x9, #0x8                // Enable
    msr     \sre, x9
    isb
.endm

// Brings the calling CPU, at EL3, EL2 or EL1 with the MMU off, to EL1 with
// FP/SIMD enabled and the exception vectors installed; every CPU starts with
// this. Returns at EL1 (through an ERET when called above it). Clobbers x9
// and x10.
.global cpu_enter_el1
cpu_enter_el1:
    mrs     x9, CurrentEL
    cmp     x9, #(3 << 2)
    b.ne    3f

    // At EL3 (a board with no firmware, as QEMU's virt with secure=on and
    // no -bios): everything below runs non-secure, as firmware would leave
    // it. SCR_EL3: RES1 bits 5:4, NS, lower levels AArch64 (RW), and HVC
    // enabled (HCE) where the CPU has EL2 (ID_AA64PFR0_EL1.EL2); SMC stays
    // enabled, nothing is routed to EL3. CPTR_EL3 = 0: nothing, FP/SIMD
    // included, trapped to EL3. With a GICv3 system-register interface,
    // use it here (ICC_SRE_EL3.SRE) and let EL2 and EL1 use theirs
    // (.Enable). The GIC's own secure set-up (interrupt groups) is left as
    // it is: gic/ finds out whether its interrupts reach a non-secure CPU.
    mrs     x9, id_aa64pfr0_el1
    ubfx    x9, x9, #8, #4              // EL2
    cmp     x9, #0
    mov     x9, #0x431                  // RW | RES1 | NS
    orr     x10, x9, #0x100             // HCE
    csel    x9, x9, x10, eq
    msr     scr_el3, x9
    msr     cptr_el3, xzr
    USE_ICC_SRE icc_sre_el3, 4f
4:  // Down to EL2 where the CPU has it, else to EL1, whose SCTLR comes from
    // here then, as from the EL2 path below.
    mrs     x9, id_aa64pfr0_el1
    ubfx    x9, x9, #8, #4              // EL2
    cbz     x9, 5f
    mov     x9, #0x3c9                  // SPSR: EL2h, DAIF masked
    msr     spsr_el3, x9
    adr     x9, 3f
    msr     elr_el3, x9
    eret
5:  ldr     x9, =0x30d00800             // SCTLR_EL1: RES1 bits, MMU and caches off
    msr     sctlr_el1, x9
    mov     x9, #0x3c5                  // SPSR: EL1h, DAIF masked
    msr     spsr_el3, x9
    adr     x9, 1f
    msr     elr_el3, x9
    eret

3:  mrs     x9, CurrentEL
    cmp     x9, #(2 << 2)
    b.ne    1f

    // At EL2: run EL1 in AArch64, non-VHE, with nothing trapped to EL2.
    mov     x9, #(1 << 31)              // HCR_EL2.RW
    msr     hcr_el2, x9
    mov     x9, #0x33ff                 // CPTR_EL2: RES1 bits, TFP=0
    msr     cptr_el2, x9
    mov     x9, #3                      // CNTHCTL_EL2.EL1PCTEN | EL1PCEN
    msr     cnthctl_el2, x9
    msr     cntvoff_el2, xzr
    ldr     x9, =0x30d00800             // SCTLR_EL1: RES1 bits, MMU and caches off
    msr     sctlr_el1, x9
    // A GICv3 system-register CPU interface (ID_AA64PFR0_EL1.GIC != 0):
    // use it here (ICC_SRE_EL2.SRE) and let EL1 use it (.Enable: EL1's
    // ICC_SRE_EL1 accesses are not trapped); no virtual CPU interface
    // (ICH_HCR_EL2 = 0). HCR_EL2.IMO/FMO = 0 above: IRQs go to EL1. On a
    // CPU without it, the ICC_ and ICH_ registers are not touched.
    USE_ICC_SRE icc_sre_el2, 2f
    msr     ich_hcr_el2, xzr
2:  mov     x9, #0x3c5                  // SPSR: EL1h, DAIF masked
    msr     spsr_el2, x9
    adr     x9, 1f
    msr     elr_el2, x9
    eret

1:  // At EL1. The target uses FP/SIMD registers: enable them first.
    mov     x9, #(3 << 20)              // CPACR_EL1.FPEN = 0b11
    msr     cpacr_el1, x9
    adrp    x9, exception_vectors
    add     x9, x9, :lo12:exception_vectors
    msr     vbar_el1, x9
    isb
    ret
