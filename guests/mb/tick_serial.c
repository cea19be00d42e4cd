/* tick_serial: a timer- and serial-heavy guest for the log-size figures in
 * benches/record.rs. The local APIC timer fires every TICK_NS of virtual time; the
 * guest halts between ticks (so the virtual clock warps, which the log records) and
 * prints one line on COM1 per tick, with a little arithmetic in between. "ticks=N" on
 * the command line changes how many ticks it waits for. */
#include "mbrt.h"

const char test_name[] = "tick_serial";

#define DEFAULT_TICKS 2000
#define TIMER_VEC 0x40
#define TIMER_INITIAL 1000000 /* divide by 1: 1 ms at 1 count per ns */

static volatile u64 ticks;
static u64 want = DEFAULT_TICKS;

static void on_timer(struct frame *f) {
    (void)f;
    ticks++;
    lapic_eoi();
}

static void parse_cmdline(u32 info) {
    if (!info)
        return;
    const u32 *mbi = (const u32 *)(u64)info;
    if (!(mbi[0] & 4) || !mbi[4])
        return;
    const char *s = (const char *)(u64)mbi[4];
    for (; *s; s++) {
        if ((s == (const char *)(u64)mbi[4] || s[-1] == ' ') && !memcmp(s, "ticks=", 6)) {
            u64 n = 0;
            for (s += 6; *s >= '0' && *s <= '9'; s++)
                n = n * 10 + (u64)(*s - '0');
            if (n)
                want = n;
            return;
        }
    }
}

void test_main(u32 magic, u32 info) {
    (void)magic;
    parse_cmdline(info);
    set_handler(TIMER_VEC, on_timer, 0);
    lapic_init();
    lapic_write(0x3e0, 0xb);                    /* divide by 1 */
    lapic_write(0x320, TIMER_VEC | (1 << 17)); /* periodic */
    lapic_write(0x380, TIMER_INITIAL);
    u64 seen = 0, hash = 1469598103934665603ull;
    while (seen < want) {
        while (ticks == seen)
            sti_hlt_cli();
        seen = ticks;
        for (int i = 0; i < 64; i++)
            hash = (hash ^ (seen + (u64)i)) * 1099511628211ull;
        printf("tick %lu %lx\n", seen, hash & 0xffff);
    }
    lapic_write(0x320, TIMER_VEC | (1 << 16));
    lapic_write(0x380, 0);
    CHECK(seen >= want, "the timer ticked as often as asked");
}
