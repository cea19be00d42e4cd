/* reset_count: counts its own boots in CMOS NVRAM (register 0x40, which a reset
 * leaves alone) and resets the machine through the keyboard controller (command 0xFE
 * on port 0x64) until it has booted three times; then it exits with PASS. Every boot
 * prints its number, so the serial output shows the resets. */
#include "mbrt.h"

const char test_name[] = "reset_count";

#define COUNTER 0x40
#define BOOTS 3

static u8 cmos_read(u8 r) {
    outb(0x70, r);
    return inb(0x71);
}

static void cmos_write(u8 r, u8 v) {
    outb(0x70, r);
    outb(0x71, v);
}

/* Zero at power-on: RAM is not kept across a reset, so this shows a fresh load. */
static volatile u32 loaded_once;

void test_main(u32 magic, u32 info) {
    (void)magic;
    (void)info;
    u8 n = cmos_read(COUNTER) + 1;
    cmos_write(COUNTER, n);
    printf("reset_count: boot %u\n", (u32)n);
    CHECK(loaded_once == 0, "the kernel image was loaded afresh");
    loaded_once = 1;
    if (n < BOOTS) {
        outb(0x64, 0xfe);
        /* The reset takes effect at once; this is never reached. */
        die("the reset request did not reset the machine");
    }
    CHECK(n == BOOTS, "booted three times");
    finish();
}
