// The EL1 exception vector table: every entry saves a TrapFrame and calls
// exception_dispatch(frame, kind), then restores it and returns. The frame
// holds every register the handler's code may change: x0-x30, ELR, SPSR,
// and the FP/SIMD registers q0-q31 with FPCR and FPSR (the target's Rust
// code uses them, and the interrupted code may have live values in any).
//
// A system register is written back only when the handler changed its saved
// value (a caught fault's landing changes ELR): the write of an unchanged
// value is no change at all, and under QEMU's TCG each MSR of these ends
// the translation block and returns to QEMU's main loop.
.equ TRAP_FRAME_SIZE, 800               // x0-x30, ELR, SPSR, pad; q0-q31; FPCR, FPSR
.equ TRAP_FRAME_Q, 272
.equ TRAP_FRAME_FPCR, 784
.equ TRAP_FRAME_FPSR, 792

.macro RESTORE reg, saved, scratch
    mrs     \scratch, \reg
    cmp     \scratch, \saved
    b.eq    1f
    msr     \reg, \saved
1:
.endm

.macro VECTOR kind
.balign 0x80
    sub     sp, sp, #TRAP_FRAME_SIZE
    stp     x0, x1, [sp, #0]
    mov     x1, #\kind
    b       trap_common
.endm

// On a page of their own with the code every exception runs (platform-virt.ld).
.section .text.vectors, "ax"
.balign 0x800
.global exception_vectors
exception_vectors:
    VECTOR 0    // current EL, SP_EL0: synchronous
    VECTOR 1    //                     IRQ
    VECTOR 2    //                     FIQ
    VECTOR 3    //                     SError
    VECTOR 4    // current EL, SP_ELx: synchronous
    VECTOR 5    //                     IRQ
    VECTOR 6    //                     FIQ
    VECTOR 7    //                     SError
    VECTOR 8    // lower EL, AArch64:  synchronous
    VECTOR 9    //                     IRQ
    VECTOR 10   //                     FIQ
    VECTOR 11   //                     SError
    VECTOR 12   // lower EL, AArch32:  synchronous
    VECTOR 13   //                     IRQ
    VECTOR 14   //                     FIQ
    VECTOR 15   //                     SError

trap_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x2, elr_el1
    stp     x30, x2, [sp, #240]
    mrs     x2, spsr_el1
    str     x2, [sp, #256]
    add     x2, sp, #TRAP_FRAME_Q
    stp     q0, q1, [x2, #0]
    stp     q2, q3, [x2, #32]
    stp     q4, q5, [x2, #64]
    stp     q6, q7, [x2, #96]
    stp     q8, q9, [x2, #128]
    stp     q10, q11, [x2, #160]
    stp     q12, q13, [x2, #192]
    stp     q14, q15, [x2, #224]
    stp     q16, q17, [x2, #256]
    stp     q18, q19, [x2, #288]
    stp     q20, q21, [x2, #320]
    stp     q22, q23, [x2, #352]
    stp     q24, q25, [x2, #384]
    stp     q26, q27, [x2, #416]
    stp     q28, q29, [x2, #448]
    stp     q30, q31, [x2, #480]
    mrs     x3, fpcr
    str     x3, [sp, #TRAP_FRAME_FPCR]
    mrs     x3, fpsr
    str     x3, [sp, #TRAP_FRAME_FPSR]

    mov     x0, sp
    bl      exception_dispatch

    ldr     x3, [sp, #TRAP_FRAME_FPCR]
    RESTORE fpcr, x3, x4
    ldr     x3, [sp, #TRAP_FRAME_FPSR]
    RESTORE fpsr, x3, x4
    add     x2, sp, #TRAP_FRAME_Q
    ldp     q0, q1, [x2, #0]
    ldp     q2, q3, [x2, #32]
    ldp     q4, q5, [x2, #64]
    ldp     q6, q7, [x2, #96]
    ldp     q8, q9, [x2, #128]
    ldp     q10, q11, [x2, #160]
    ldp     q12, q13, [x2, #192]
    ldp     q14, q15, [x2, #224]
    ldp     q16, q17, [x2, #256]
    ldp     q18, q19, [x2, #288]
    ldp     q20, q21, [x2, #320]
    ldp     q22, q23, [x2, #352]
    ldp     q24, q25, [x2, #384]
    ldp     q26, q27, [x2, #416]
    ldp     q28, q29, [x2, #448]
    ldp     q30, q31, [x2, #480]
    ldr     x2, [sp, #256]
    RESTORE spsr_el1, x2, x3
    ldp     x30, x2, [sp, #240]
    RESTORE elr_el1, x2, x3
    ldp     x28, x29, [sp, #224]
    ldp     x26, x27, [sp, #208]
    ldp     x24, x25, [sp, #192]
    ldp     x22, x23, [sp, #176]
    ldp     x20, x21, [sp, #160]
    ldp     x18, x19, [sp, #144]
    ldp     x16, x17, [sp, #128]
    ldp     x14, x15, [sp, #112]
    ldp     x12, x13, [sp, #96]
    ldp     x10, x11, [sp, #80]
    ldp     x8, x9, [sp, #64]
    ldp     x6, x7, [sp, #48]
    ldp     x4, x5, [sp, #32]
    ldp     x2, x3, [sp, #16]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #TRAP_FRAME_SIZE
    eret
