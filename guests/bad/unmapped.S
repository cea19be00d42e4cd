/* Bad guest: jumps to 64 GiB, which the boot page tables do not map: the instruction
 * fetch page-faults, and with no IDT that ends in a triple fault. */
    .section .text.start, "ax"
    .globl _start
_start:
    movabs  $0x1000000000, %rax
    jmp     *%rax
    .section .note.GNU-stack, "", @progbits
