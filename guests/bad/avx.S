/* Bad guest: an AVX2 instruction. reprise's virtual CPU has no AVX (CPUID says so) and
 * does not implement it: it names the instruction on stderr, raises #UD in the guest,
 * and without an IDT that ends in a triple fault. */
    .section .text.start, "ax"
    .globl _start
_start:
    vpaddd  %ymm2, %ymm1, %ymm0
    hlt
    .section .note.GNU-stack, "", @progbits
