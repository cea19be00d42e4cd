/* pit_timer: the 8259 pair remapped to 0x20-0x2f, PIT channel 0 in mode 2 at about
 * 1 kHz counted through IRQ 0 with HLT, the counter latch and read-back commands, and
 * a channel-2 calibration loop like Linux's (gate through port 0x61, poll OUT2). */
#include "mbrt.h"

const char test_name[] = "pit_timer";

#define DIVISOR 1193 /* 1.193182 MHz / 1193: about 1 kHz */
#define CAL_COUNT 11932 /* about 10 ms */

static volatile u64 ticks;

static void on_irq0(struct frame *f) {
    (void)f;
    ticks++;
    pic_eoi(0);
}

void test_main(u32 magic, u32 info) {
    (void)magic;
    (void)info;
    lapic_init(); /* virtual wire: LINT0 = ExtINT */
    set_handler(0x20, on_irq0, 0);
    outb(0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2 */
    outb(0x40, DIVISOR & 0xff);
    outb(0x40, DIVISOR >> 8);
    pic_unmask(0);
    CHECK(inb(0x21) == 0xfe, "PIC mask register reads back IRQ 0 only");
    u64 t0 = rdtsc();
    while (ticks < 20)
        sti_hlt_cli();
    u64 tsc_20ms = rdtsc() - t0;
    CHECK(ticks >= 20, "IRQ 0: 20 ticks");

    outb(0x43, 0x00); /* latch channel 0 */
    u32 lo = inb(0x40), hi = inb(0x40);
    u32 v = lo | hi << 8;
    CHECK(v >= 1 && v <= DIVISOR, "latched count lies in 1..divisor");
    outb(0x43, 0xe2); /* read-back: status of channel 0 */
    u8 st = inb(0x40);
    CHECK((st & 0x3f) == 0x34, "read-back status: lobyte/hibyte, mode 2, binary");
    pic_mask(0);

    /* Channel 2, as Linux's pit_calibrate_tsc: gate high, speaker off, mode 0. */
    u8 b = inb(0x61);
    outb(0x61, (b & ~0x02) | 0x01);
    outb(0x43, 0xb0); /* channel 2, lobyte/hibyte, mode 0 */
    outb(0x42, CAL_COUNT & 0xff);
    outb(0x42, CAL_COUNT >> 8);
    CHECK(!(inb(0x61) & 0x20), "OUT2 is low while channel 2 counts");
    u64 loops = 0;
    t0 = rdtsc();
    while (!(inb(0x61) & 0x20) && loops < 50000000)
        loops++;
    u64 tsc_10ms = rdtsc() - t0;
    CHECK(inb(0x61) & 0x20, "OUT2 goes high at terminal count");
    CHECK(loops > 0 && tsc_10ms > 0, "the count takes time");
    /* 20 ticks of ~1 ms against one ~10 ms count: the ratio is about 2. */
    CHECK(tsc_20ms > tsc_10ms / 2 && tsc_20ms < tsc_10ms * 8,
          "calibration agrees with the IRQ 0 rate");
    outb(0x61, b & ~0x03);
}
