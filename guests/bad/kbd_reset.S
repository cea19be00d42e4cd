/* Reboots the way Linux's `reboot=k` does: checks the keyboard controller (self test
 * 0xAA answers 0x55), then pulses the reset line with command 0xFE on port 0x64.
 * reprise stops with a reset outcome; a wrong self-test answer exits with value 1. */
    .section .text.start, "ax"
    .globl _start
_start:
    movb    $0xaa, %al
    outb    %al, $0x64
1:  inb     $0x64, %al
    testb   $1, %al
    jz      1b
    inb     $0x60, %al
    cmpb    $0x55, %al
    jne     bad
    movb    $0xfe, %al
    outb    %al, $0x64
    hlt
bad:
    movl    $1, %eax
    outl    %eax, $0xf4
    hlt
    .section .note.GNU-stack, "", @progbits
