/* Self-modifying code: patch an instruction's immediate and run it again (often
 * enough that the block is hot and compiled), copy code into a data buffer and call
 * it, rewrite that buffer, and patch the very next instruction of the running block
 * (x86 guarantees the store is seen by the following fetch). */
#include "rt.h"

unsigned smc_imm(void);
unsigned smc_same_block(unsigned v);
__asm__(".text\n"
        ".globl smc_imm\n"
        "smc_imm:\n"
        "    movl $0x11111111, %eax\n"
        "    ret\n"
        ".globl smc_same_block\n"
        "smc_same_block:\n"
        "    movb %dil, 1f+1(%rip)\n"
        "1:  movb $0x11, %al\n"
        "    movzbl %al, %eax\n"
        "    ret\n");

static uint8_t buf[64] __attribute__((aligned(16)));

static void patch_imm(uint32_t v) {
    volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)smc_imm + 1;
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int main(void) {
    CHECK_EQ(smc_imm(), 0x11111111u);
    patch_imm(0x22222222u);
    CHECK_EQ(smc_imm(), 0x22222222u);
    int bad = 0;
    for (uint32_t i = 0; i < 300; i++) {
        patch_imm(i * 0x01010101u);
        bad += smc_imm() != i * 0x01010101u;
    }
    CHECK_EQ(bad, 0);

    /* Code copied into a buffer: add, then rewritten to subtract. */
    static const uint8_t add[] = {0x48, 0x8d, 0x04, 0x37, 0xc3}; /* lea (%rdi,%rsi),%rax; ret */
    static const uint8_t sub[] = {0x48, 0x89, 0xf8, 0x48, 0x29, 0xf0, 0xc3}; /* mov %rdi,%rax; sub %rsi,%rax; ret */
    long (*fn)(long, long) = (long (*)(long, long))(uintptr_t)buf;
    memcpy(buf, add, sizeof add);
    CHECK_EQ(fn(40, 2), 42);
    long acc = 0;
    for (int i = 0; i < 200; i++)
        acc += fn(i, 1);
    CHECK_EQ(acc, 200 * 199 / 2 + 200);
    memcpy(buf, sub, sizeof sub);
    CHECK_EQ(fn(40, 2), 38);
    acc = 0;
    for (int i = 0; i < 200; i++) {
        buf[4] = (i & 1) ? 0x01 : 0x29; /* add / sub */
        acc += fn(100, i);
    }
    CHECK_EQ(acc, 100 * 200 + 100); /* odd i add, even i subtract */

    /* Store into the next instruction of the running block. */
    bad = 0;
    for (unsigned i = 0; i < 300; i++)
        bad += smc_same_block(i & 0xff) != (i & 0xff);
    CHECK_EQ(bad, 0);
    printf("smc: patched code ran %d times\n", 300 + 200 + 200 + 300);
    return rt_finish("smc");
}
