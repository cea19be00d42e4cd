/* Bad guest: jumps to 3 GiB, which is identity-mapped but is not RAM (with less than
 * 3 GiB of --memory): the machine stops and names the address. */
    .section .text.start, "ax"
    .globl _start
_start:
    mov     $0xc0000000, %eax
    jmp     *%rax
    .section .note.GNU-stack, "", @progbits
