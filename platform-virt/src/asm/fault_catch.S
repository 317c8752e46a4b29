// The escape of fault::catch, like setjmp/longjmp but returning once.
//
// A JumpBuf (fault.rs) holds, at these offsets: x19-x30 at 0-88, SP at 96,
// d8-d15 at 104-160: the registers AAPCS64 makes callee-saved.
.section .text
.balign 4

// u64 fault_catch_call(JumpBuf *buf, void *data, void (*run)(void *))
// Saves the caller's callee-saved registers, SP and LR in *buf and calls
// run(data); returns 0 when run returns. The exception handler may instead
// end run by an exception return to fault_catch_landing with x0 = buf,
// which makes this call return 1 with the saved registers.
.global fault_catch_call
fault_catch_call:
    stp     x19, x20, [x0, #0]
    stp     x21, x22, [x0, #16]
    stp     x23, x24, [x0, #32]
    stp     x25, x26, [x0, #48]
    stp     x27, x28, [x0, #64]
    stp     x29, x30, [x0, #80]
    mov     x9, sp
    str     x9, [x0, #96]
    stp     d8, d9, [x0, #104]
    stp     d10, d11, [x0, #120]
    stp     d12, d13, [x0, #136]
    stp     d14, d15, [x0, #152]
    stp     x29, x30, [sp, #-16]!
    mov     x29, sp
    mov     x0, x1
    blr     x2
    ldp     x29, x30, [sp], #16
    mov     x0, #0
    ret

// Entered by ERET from the exception handler with x0 = the armed JumpBuf:
// back in fault_catch_call's caller, returning 1; the frames of run and
// everything it called are abandoned.
.global fault_catch_landing
fault_catch_landing:
    ldp     x19, x20, [x0, #0]
    ldp     x21, x22, [x0, #16]
    ldp     x23, x24, [x0, #32]
    ldp     x25, x26, [x0, #48]
    ldp     x27, x28, [x0, #64]
    ldp     x29, x30, [x0, #80]
    ldr     x9, [x0, #96]
    mov     sp, x9
    ldp     d8, d9, [x0, #104]
    ldp     d10, d11, [x0, #120]
    ldp     d12, d13, [x0, #136]
    ldp     d14, d15, [x0, #152]
    mov     x0, #1
    ret
