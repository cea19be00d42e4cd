/* apic_timer: the local APIC timer (xAPIC MMIO at 0xFEE00000) in periodic and
 * one-shot mode, and in TSC-deadline mode when CPUID offers it; interrupts are
 * counted with HLT in a loop. Nothing timing-dependent is printed. */
#include "mbrt.h"

const char test_name[] = "apic_timer";

#define VEC 0x40
#define LVT_TIMER 0x320
#define INITIAL 0x380
#define CURRENT 0x390
#define DIVIDE 0x3e0
#define PERIODIC (1 << 17)
#define TSC_DEADLINE (2 << 17)
#define MASKED (1 << 16)

static volatile u64 ticks;

static void on_timer(struct frame *f) {
    (void)f;
    ticks++;
    lapic_eoi();
}

/* Spins with interrupts open for about `tsc` TSC cycles (bounded). */
static void spin_tsc(u64 tsc) {
    u64 t0 = rdtsc();
    for (u64 i = 0; i < 20000000 && rdtsc() - t0 < tsc; i++)
        __asm__ volatile("sti; nop; cli");
}

void test_main(u32 magic, u32 info) {
    (void)magic;
    (void)info;
    u64 base = rdmsr(MSR_APIC_BASE);
    CHECK((base & 0xfffff000) == LAPIC_BASE, "IA32_APIC_BASE is 0xfee00000");
    lapic_init();
    CHECK(rdmsr(MSR_APIC_BASE) & (1 << 11), "APIC globally enabled");
    u32 ver = lapic_read(0x30) & 0xff;
    CHECK(ver >= 0x10 && ver <= 0x15, "version register: an integrated APIC");
    CHECK((lapic_read(0xf0) & 0x1ff) == 0x1ff, "SVR reads back enabled, vector 0xff");
    set_handler(VEC, on_timer, 0);

    /* Periodic. */
    lapic_write(DIVIDE, 0x3); /* divide by 16 */
    CHECK((lapic_read(DIVIDE) & 0xb) == 0x3, "divide configuration reads back");
    lapic_write(LVT_TIMER, VEC | PERIODIC);
    CHECK(lapic_read(LVT_TIMER) == (VEC | PERIODIC), "LVT timer reads back periodic");
    lapic_write(INITIAL, 100000);
    u64 t0 = rdtsc();
    while (ticks < 10)
        sti_hlt_cli();
    u64 period = (rdtsc() - t0) / 10;
    lapic_write(LVT_TIMER, VEC | PERIODIC | MASKED);
    lapic_write(INITIAL, 0);
    CHECK(ticks >= 10, "periodic: 10 interrupts");
    CHECK(lapic_read(CURRENT) == 0, "writing initial count 0 stops the timer");
    CHECK(period > 0, "the TSC advances between timer interrupts");

    /* One-shot: one interrupt, then the current count stays 0. */
    ticks = 0;
    lapic_write(LVT_TIMER, VEC);
    lapic_write(INITIAL, 50000);
    CHECK(lapic_read(CURRENT) <= 50000, "one-shot: current count starts at most the initial count");
    while (!ticks)
        sti_hlt_cli();
    spin_tsc(3 * period);
    CHECK(ticks == 1, "one-shot: exactly one interrupt");
    CHECK(lapic_read(CURRENT) == 0, "one-shot: current count is 0 after it fires");
    /* Re-arming fires once more. */
    lapic_write(INITIAL, 50000);
    while (ticks < 2)
        sti_hlt_cli();
    spin_tsc(3 * period);
    CHECK(ticks == 2, "one-shot re-armed: one more interrupt");
    lapic_write(LVT_TIMER, VEC | MASKED);

    /* TSC-deadline mode, when offered; the same line is printed either way so that the
     * output does not depend on the CPU model. */
    u32 r[4];
    cpuid(1, 0, r);
    int ok = 1;
    if (r[2] & (1 << 24)) {
        ticks = 0;
        lapic_write(LVT_TIMER, VEC | TSC_DEADLINE);
        for (int k = 0; k < 3; k++) {
            wrmsr(MSR_TSC_DEADLINE, rdtsc() + period);
            while (ticks < (u64)k + 1)
                sti_hlt_cli();
            if (rdmsr(MSR_TSC_DEADLINE) != 0)
                ok = 0;
        }
        wrmsr(MSR_TSC_DEADLINE, 0);
        spin_tsc(2 * period);
        ok = ok && ticks == 3;
        lapic_write(LVT_TIMER, VEC | MASKED);
    }
    CHECK(ok, "TSC-deadline mode (when CPUID offers it): 3 deadlines, 3 interrupts");
}
