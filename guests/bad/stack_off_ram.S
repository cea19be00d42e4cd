/* Bad guest: puts the stack at the end of RAM (128 MiB). The return address of the
 * CALL is pushed outside RAM and vanishes; RET pops all ones, and the fetch there
 * faults (the boot tables map only the first 4 GiB): a triple fault without an IDT. */
    .section .text.start, "ax"
    .globl _start
_start:
    movl    $0x8000008, %esp
    call    1f
1:  ret
    .section .note.GNU-stack, "", @progbits
