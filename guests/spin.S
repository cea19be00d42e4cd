/* Runs forever (a tight loop): for tests that stop a run from outside (Ctrl-C). */
    .section .text.start, "ax"
    .globl _start
_start:
1:  incq    %rax
    jmp     1b
    .section .note.GNU-stack, "", @progbits
