/* Bad guest: executes an invalid opcode (UD2) with no IDT: #UD cannot be delivered,
 * which ends in a triple fault. */
    .section .text.start, "ax"
    .globl _start
_start:
    nop
    ud2
    .section .note.GNU-stack, "", @progbits
