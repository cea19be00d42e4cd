/* elf32_hello: the smallest Multiboot kernel, an ELF32 i386 executable without the
 * header's address fields (the loader takes its PT_LOAD segments). In 32-bit
 * protected mode, paging off: checks EAX and the info flags, prints a line on COM1 and
 * exits through isa-debug-exit with 0x10 (status 33) or 0x11 (status 35). */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .text
    .code32
    .globl _start
_start:
    movl $msg_fail, %esi
    movb $0x11, %cl
    cmpl $0x2BADB002, %eax
    jne 1f
    testb $1, (%ebx)                /* info flags: memory fields present */
    jz 1f
    movl $msg_pass, %esi
    movb $0x10, %cl
1:  movw $0x3f8, %dx
2:  movb (%esi), %al
    testb %al, %al
    jz 3f
    outb %al, %dx
    incl %esi
    jmp 2b
3:  movb %cl, %al
    outb %al, $0xf4
4:  hlt
    jmp 4b

    .section .rodata
msg_pass: .asciz "PASS elf32_hello: EAX magic and info flags in 32-bit protected mode\n"
msg_fail: .asciz "FAIL elf32_hello: EAX magic or info flags wrong\n"
    .section .note.GNU-stack, "", @progbits
