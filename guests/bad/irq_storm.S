/* A guest under an interrupt storm: the local APIC timer fires every nanosecond of
 * virtual time (initial count 1, divide by 1, periodic), so a new interrupt is pending
 * after every instruction and the main loop starves, as it would on hardware. The
 * handler counts and EOIs, and after 20000 interrupts exits through port 0xf4 with
 * value 0. The machine must keep making progress (and exit), never hang. */
    .set LAPIC, 0xfee00000
    .set VEC, 0x40
    .section .text.start, "ax"
    .globl _start
_start:
    movl    $0x7f000, %esp
    /* IDT entry for VEC: a 64-bit interrupt gate to `handler`, selector 0x08. */
    leaq    idt(%rip), %rdi
    leaq    handler(%rip), %rax
    movw    %ax, VEC*16(%rdi)
    movw    $0x08, VEC*16+2(%rdi)
    movw    $0x8e00, VEC*16+4(%rdi)
    shrq    $16, %rax
    movw    %ax, VEC*16+6(%rdi)
    shrq    $16, %rax
    movl    %eax, VEC*16+8(%rdi)
    lidt    idtr(%rip)
    /* Software-enable the APIC (spurious vector 0xff), then the storm. The APIC
     * is addressed through RBX: a 32-bit displacement of 0xfee00000 would be sign-
     * extended. */
    movl    $LAPIC, %ebx
    movl    $0x1ff, 0xf0(%rbx)
    movl    $0xb, 0x3e0(%rbx)           /* divide by 1 */
    movl    $(VEC | 0x20000), 0x320(%rbx) /* periodic */
    movl    $1, 0x380(%rbx)             /* initial count */
    sti
1:  cmpl    $20000, count(%rip)
    jb      1b
    cli
    xorl    %eax, %eax
    outl    %eax, $0xf4
    hlt

handler:
    incl    count(%rip)
    movl    $0, 0xb0(%rbx)              /* EOI (RBX holds the APIC's address) */
    cmpl    $20000, count(%rip)
    jae     2f
    iretq
2:  xorl    %eax, %eax
    outl    %eax, $0xf4
    hlt

    .data
    .balign 16
idt:    .fill 512, 8, 0
idtr:   .word 256*16-1
        .quad idt
count:  .long 0
    .section .note.GNU-stack, "", @progbits
