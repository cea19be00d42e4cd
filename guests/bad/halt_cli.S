/* Bad guest: halts with interrupts disabled; nothing can wake it. */
    .section .text.start, "ax"
    .globl _start
_start:
    cli
    hlt
    .section .note.GNU-stack, "", @progbits
