/* Entry for benchmark workloads run as reprise guests: set up a stack and call
 * guest_main (guest_main.c), which reports the checksum on COM1 and exits through the
 * isa-debug-exit port. */
    .section .text.entry, "ax"
    .globl _start
_start:
    lea stack_top(%rip), %rsp
    call guest_main
1:  hlt
    jmp 1b
    .bss
    .align 16
    .space 1 << 20
stack_top:
