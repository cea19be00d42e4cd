/* The Multiboot header, the 32-bit entry, the switch to long mode, interrupt stubs,
 * the SYSCALL entry and the way into and out of ring 3. */

#define MB_MAGIC 0x1BADB002
/* bit 0: page-align modules, bit 1: memory info, bit 16: address fields */
#define MB_FLAGS 0x00010003

#define KCODE 0x08
#define KDATA 0x10

    .section .multiboot, "a"
    .align 4
mb_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
    .long mb_header     /* header_addr */
    .long __load_start  /* load_addr */
    .long __load_end    /* load_end_addr */
    .long __bss_end     /* bss_end_addr */
    .long _start        /* entry_addr */

    .section .text.entry, "ax"
    .code32
    .globl _start
_start:
    cli
    cld
    movl %eax, mb_magic
    movl %ebx, mb_info_addr
    movl $boot_stack_top, %esp

    /* Long mode available? */
    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    jb no_long_mode
    movl $0x80000001, %eax
    cpuid
    testl $(1 << 29), %edx
    jz no_long_mode
    movl %edx, %esi                 /* keep: bit 20 says NX */

    /* Identity-map 4 GiB with 2 MiB pages, user-accessible (ring-3 tests run the
     * image's own code). PML4[0] -> PDPT; PDPT[0..4] -> 4 page directories. */
    movl $pdpt, %eax
    orl $7, %eax
    movl %eax, pml4
    xorl %ecx, %ecx
1:  movl %ecx, %eax
    shll $12, %eax
    addl $pd, %eax
    orl $7, %eax
    movl %eax, pdpt(,%ecx,8)
    movl $0, pdpt+4(,%ecx,8)
    incl %ecx
    cmpl $4, %ecx
    jb 1b
    xorl %ecx, %ecx
2:  movl %ecx, %eax
    shll $21, %eax
    orl $0x87, %eax                 /* P | RW | US | PS */
    movl %eax, pd(,%ecx,8)
    movl $0, pd+4(,%ecx,8)
    incl %ecx
    cmpl $2048, %ecx
    jb 2b

    movl %cr4, %eax
    orl $0x20, %eax                 /* PAE */
    movl %eax, %cr4
    movl $pml4, %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx          /* EFER */
    rdmsr
    orl $0x101, %eax                /* LME | SCE */
    testl $(1 << 20), %esi
    jz 3f
    orl $0x800, %eax                /* NXE */
3:  wrmsr
    movl %cr0, %eax
    orl $0x80010001, %eax           /* PG | WP | PE */
    movl %eax, %cr0
    lgdt gdt_ptr
    ljmp $KCODE, $long_entry

no_long_mode:
    movl $no_lm_msg, %esi
4:  movb (%esi), %al
    testb %al, %al
    jz 5f
    movw $0x3f8, %dx
    outb %al, %dx
    incl %esi
    jmp 4b
5:  movb $0x11, %al
    outb %al, $0xf4
6:  hlt
    jmp 6b

    .code64
long_entry:
    movw $KDATA, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movq $boot_stack_top, %rsp
    xorl %ebp, %ebp
    call rt_main
7:  hlt
    jmp 7b

/* ---- Interrupt stubs: 16 bytes each, vector v at isr_stubs + 16 * v ---------------- */
    .text
    .align 16
    .globl isr_stubs
isr_stubs:
    .set vec, 0
    .rept 256
    .align 16
    .if (vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    pushq $vec
    jmp isr_common
    .set vec, vec + 1
    .endr

isr_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi
    cld
    call isr_dispatch
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp
    iretq

/* ---- SYSCALL: RAX = number, RDI/RSI/RDX = arguments; number 0 leaves ring 3 ------- */
    .globl syscall_entry
syscall_entry:
    movq %rsp, user_rsp_save
    movq $syscall_stack_top, %rsp
    testq %rax, %rax
    jz user_exit
    pushq %rcx
    pushq %r11
    pushq user_rsp_save
    pushq %rdi
    pushq %rsi
    pushq %rdx
    pushq %r8
    pushq %r9
    pushq %r10
    subq $8, %rsp
    movq %rdx, %rcx
    movq %rsi, %rdx
    movq %rdi, %rsi
    movq %rax, %rdi
    call syscall_dispatch
    addq $8, %rsp
    popq %r10
    popq %r9
    popq %r8
    popq %rdx
    popq %rsi
    popq %rdi
    addq $8, %rsp                   /* the saved user RSP (still in user_rsp_save) */
    popq %r11
    popq %rcx
    movq user_rsp_save, %rsp
    sysretq

/* enter_user(entry, user_stack): runs entry at CPL 3 until it makes system call 0,
 * then returns here at CPL 0. Saves the callee-saved registers around it. */
    .globl enter_user
enter_user:
    pushq %rbx
    pushq %rbp
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, kernel_rsp_save
    pushq $0x1b                     /* SS: user data | RPL 3 */
    pushq %rsi
    pushq $0x002                    /* RFLAGS: IF = 0 */
    pushq $0x23                     /* CS: user code | RPL 3 */
    pushq %rdi
    iretq
user_exit:
    movq kernel_rsp_save, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbp
    popq %rbx
    ret

/* ---- Data ------------------------------------------------------------------------- */
    .data
    .align 16
    .globl gdt
gdt:
    .quad 0
    .quad 0x00af9a000000ffff        /* 0x08 kernel code, 64-bit */
    .quad 0x00cf92000000ffff        /* 0x10 kernel data */
    .quad 0x00cff2000000ffff        /* 0x18 user data, DPL 3 */
    .quad 0x00affa000000ffff        /* 0x20 user code, 64-bit, DPL 3 */
    .quad 0, 0                      /* 0x28 TSS, filled in by rt.c */
gdt_end:
    .align 8
gdt_ptr:
    .word gdt_end - gdt - 1
    .quad gdt
    .globl mb_magic, mb_info_addr
mb_magic:       .long 0
mb_info_addr:   .long 0
    .align 8
user_rsp_save:  .quad 0
kernel_rsp_save: .quad 0
no_lm_msg:      .asciz "FAIL: the CPU has no long mode\n"

    .bss
    .align 4096
pml4:   .skip 4096
pdpt:   .skip 4096
    .globl pd
pd:     .skip 4 * 4096
    .align 16
    .skip 16384
boot_stack_top:
    .skip 16384
syscall_stack_top:
    .section .note.GNU-stack, "", @progbits
