/* Entry for benchmark workloads run as reprise guests (and under QEMU):
 * RDI holds the scale; the 64-bit checksum is written to port 0x510 as two dwords,
 * then the run ends through the isa-debug-exit port with value 0. */
    .section .text.entry, "ax"
    .globl _start
_start:
    lea stack_top(%rip), %rsp
    call workload
    mov %eax, %ecx
    mov $0x510, %dx
    mov %ecx, %eax
    out %eax, %dx
    shr $32, %rax
    out %eax, %dx
    xor %eax, %eax
    mov $0xf4, %dx
    out %eax, %dx
    hlt
    .bss
    .align 16
    .space 1 << 20
stack_top:
