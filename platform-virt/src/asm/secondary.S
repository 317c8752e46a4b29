// Entry of a CPU started with PSCI CPU_ON (smp.rs), at EL2 or EL1 with the
// MMU off. x0 is the context: the address of the CPU's `Start` record
// (stack top, CPU index, kernel map), which secondary_main reads before
// turning the MMU on.
.section .text
.balign 4
.global secondary_entry
secondary_entry:
    mov     x19, x0
    bl      cpu_enter_el1               // boot.S
    ldp     x9, x10, [x19]              // Start.stack_top, Start.index
    mov     sp, x9
    msr     tpidr_el1, x10
    mov     x0, x19
    bl      secondary_main
1:  wfe
    b       1b
