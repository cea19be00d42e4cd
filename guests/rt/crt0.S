/* Entry point of reprise's test guests: the loader starts us in 64-bit mode with
 * interrupts disabled and RSP undefined (docs/boot.md). Set up a stack, call main,
 * and hand its return value to rt_exit (debug-exit port). */
    .section .text.start, "ax"
    .globl _start
_start:
    lea     rt_stack_top(%rip), %rsp
#ifdef RT_HOST
    /* As a Linux process, make the whole image writable and executable like the
     * guest's (self-modifying code test): mprotect(image, size, RWX). */
    mov     $10, %eax
    lea     __image_start(%rip), %rdi
    lea     __image_end(%rip), %rsi
    sub     %rdi, %rsi
    mov     $7, %edx
    syscall
#endif
    xor     %ebp, %ebp
    call    main
    mov     %eax, %edi
    call    rt_exit
1:  hlt
    jmp     1b

    .bss
    .balign 16
rt_stack:
    .skip   1024 * 1024
rt_stack_top:

    .section .note.GNU-stack, "", @progbits
