/* The smallest guest: prints a line on COM1 and exits through the debug-exit port
 * with value 0 (process status 1). Plain assembly with only basic instructions, no
 * runtime: it runs on the CPU core alone. */
    .section .text.start, "ax"
    .globl _start
_start:
    lea     msg(%rip), %rsi
next:
    movb    (%rsi), %bl
    test    %bl, %bl
    jz      done
wait:
    mov     $0x3fd, %dx         /* LSR */
    in      %dx, %al
    test    $0x20, %al          /* THR empty */
    jz      wait
    mov     $0x3f8, %dx
    mov     %bl, %al
    out     %al, %dx
    inc     %rsi
    jmp     next
done:
    xor     %eax, %eax
    out     %eax, $0xf4
    hlt

    .section .rodata
msg:
    .asciz  "hello from a reprise guest\n"

    .section .note.GNU-stack, "", @progbits
