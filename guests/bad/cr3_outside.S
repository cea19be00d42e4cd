/* Bad guest: points CR3 at physical memory that is not RAM. The next translation
 * reads page-table entries that float high (all ones: present, reserved bits set), so
 * the fetch page-faults with RSVD, and with no IDT that ends in a triple fault. */
    .section .text.start, "ax"
    .globl _start
_start:
    movl    $0xf0000000, %eax
    movq    %rax, %cr3
    nop
    hlt
    .section .note.GNU-stack, "", @progbits
