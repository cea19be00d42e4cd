/* rr_inputs: a guest that takes every outside input reprise records, for the
 * record/replay tests (tests/record_replay*.rs). It reads the CMOS clock (the host's
 * time of day at boot), RDTSC, RDRAND and RDSEED, and prints what it got — values that
 * differ from one recording to the next but must be identical in every replay of one
 * log. Then it counts PIT (IRQ 0 through the 8259 and the APIC's virtual wire) and
 * local APIC timer interrupts with HLT between ticks, so the machine warps its clock
 * while the guest sleeps.
 *
 * With the word "echo" on its command line it also reads serial input: it enables
 * COM1's receive interrupt (IRQ 4 through the 8259), prints a prompt, and echoes every
 * byte it receives upper-cased until a '.', sleeping in HLT in between (bytes that
 * arrived before the prompt wait in the UART and are echoed first). The PIT keeps
 * ticking at 100 Hz meanwhile, so without input it gives up after 10 s of virtual time
 * (and fails that check) instead of sleeping forever.
 *
 * It runs under QEMU too (scripts/compare-qemu.sh does not list it: its output holds the
 * time of day and random numbers). */
#include "mbrt.h"

const char test_name[] = "rr_inputs";

/* Every input the guest takes is folded in here and stays in RAM, so a replay given
 * different inputs ends in a different state even where its output would not show it
 * (the machine's RAM digests see it). */
static volatile u64 input_mix;

static void mix(u64 v) { input_mix = (input_mix ^ v) * 0x100000001b3ull; }

struct mb_info {
    u32 flags, mem_lower, mem_upper, boot_device, cmdline;
};

/* ---- Command line ---- */
/* ---- CMOS clock ---- */
static u8 cmos(u8 r) {
    outb(0x70, r);
    return inb(0x71);
}

static u32 from_bcd(u8 v, int is_bcd) { return is_bcd ? (v & 0xf) + 10 * (v >> 4) : v; }

static void put2(u32 v) {
    putc_serial((char)('0' + v / 10 % 10));
    putc_serial((char)('0' + v % 10));
}

static void read_rtc(void) {
    for (u64 i = 0; (cmos(0x0a) & 0x80) && i < 10000000; i++)
        ;
    u8 regb = cmos(0x0b);
    int is_bcd = !(regb & 0x04);
    u32 sec = from_bcd(cmos(0), is_bcd), min = from_bcd(cmos(2), is_bcd);
    u32 hour = from_bcd(cmos(4) & 0x7f, is_bcd), day = from_bcd(cmos(7), is_bcd);
    u32 mon = from_bcd(cmos(8), is_bcd), year = from_bcd(cmos(9), is_bcd);
    u32 cent = from_bcd(cmos(0x32), is_bcd);
    if (cent < 19 || cent > 21)
        cent = 20;
    year += cent * 100;
    mix(((u64)year << 40) | ((u64)mon << 32) | (day << 24) | (hour << 16) | (min << 8) | sec);
    printf("rtc: %u-", year);
    put2(mon);
    putc_serial('-');
    put2(day);
    putc_serial(' ');
    put2(hour);
    putc_serial(':');
    put2(min);
    putc_serial(':');
    put2(sec);
    putc_serial('\n');
    CHECK(year >= 2024 && year < 2200 && mon >= 1 && mon <= 12 && day >= 1 && day <= 31,
          "the CMOS clock holds a plausible date");
}

/* ---- RDRAND / RDSEED (CF = 1 when a value was delivered; retried a few times) ---- */
static int rdrand(u64 *v) {
    for (int k = 0; k < 16; k++) {
        u8 ok;
        __asm__ volatile("rdrand %0; setc %1" : "=r"(*v), "=qm"(ok)::"cc");
        if (ok)
            return 1;
    }
    return 0;
}

static int rdseed(u64 *v) {
    for (int k = 0; k < 64; k++) {
        u8 ok;
        __asm__ volatile("rdseed %0; setc %1" : "=r"(*v), "=qm"(ok)::"cc");
        if (ok)
            return 1;
    }
    return 0;
}

static void random_numbers(void) {
    u32 r[4];
    cpuid(1, 0, r);
    if (r[2] & (1u << 30)) {
        u64 a = 0, b = 0;
        int ok = rdrand(&a) && rdrand(&b);
        mix(a);
        mix(b);
        printf("rdrand: %lx %lx\n", a, b);
        CHECK(ok && a != b, "RDRAND delivers two different values");
    } else {
        printf("rdrand: not offered\n");
    }
    cpuid(7, 0, r);
    if (r[1] & (1u << 18)) {
        u64 s = 0;
        int ok = rdseed(&s);
        mix(s);
        printf("rdseed: %lx\n", s);
        CHECK(ok, "RDSEED delivers a value");
    } else {
        printf("rdseed: not offered\n");
    }
}

/* ---- Timers ---- */
static volatile u64 pit_ticks, apic_ticks;

static void on_irq0(struct frame *f) {
    (void)f;
    pit_ticks++;
    pic_eoi(0);
}

static void on_apic_timer(struct frame *f) {
    (void)f;
    apic_ticks++;
    lapic_eoi();
}

static void pit_start(u32 divisor) {
    outb(0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2 */
    outb(0x40, divisor & 0xff);
    outb(0x40, divisor >> 8);
    pic_unmask(0);
}

static void timers(void) {
    set_handler(0x20, on_irq0, 0);
    pit_start(1193); /* about 1 kHz */
    while (pit_ticks < 10)
        sti_hlt_cli();
    pic_mask(0);
    printf("pit: %lu ticks\n", pit_ticks);
    CHECK(pit_ticks == 10, "PIT: 10 interrupts on IRQ 0, HLT between them");

    set_handler(0x40, on_apic_timer, 0);
    lapic_write(0x3e0, 0x3);                /* divide by 16 */
    lapic_write(0x320, 0x40 | (1 << 17));   /* periodic, vector 0x40 */
    lapic_write(0x380, 20000);
    while (apic_ticks < 5)
        sti_hlt_cli();
    lapic_write(0x320, 0x40 | (1 << 16));   /* masked */
    lapic_write(0x380, 0);
    printf("apic timer: %lu ticks\n", apic_ticks);
    CHECK(apic_ticks == 5, "local APIC timer: 5 interrupts, HLT between them");
}

/* ---- Serial input ---- */
#define COM1 0x3f8
static volatile u64 rx_count, rx_done;

static void on_irq4(struct frame *f) {
    (void)f;
    while (inb(COM1 + 5) & 1) {
        char c = (char)inb(COM1);
        if (rx_done)
            continue;
        if (c == '.') {
            rx_done = 1;
            continue;
        }
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        putc_serial(c);
        mix((u64)(u8)c);
        rx_count++;
    }
    pic_eoi(4);
}

static void echo(void) {
    set_handler(0x24, on_irq4, 0);
    outb(COM1 + 1, 0x01); /* IER: received data available */
    outb(COM1 + 4, 0x0b); /* MCR: DTR, RTS, OUT2 (gates the IRQ line) */
    pic_unmask(4);
    printf("echo: type text ending in '.'\n");
    pit_ticks = 0;
    pit_start(11932); /* about 100 Hz: the time-out */
    while (!rx_done && pit_ticks < 1000)
        sti_hlt_cli();
    pic_mask(0);
    pic_mask(4);
    outb(COM1 + 1, 0x00);
    printf("\necho: %lu bytes\n", rx_count);
    CHECK(rx_done, "serial input ended with '.' (IRQ 4, HLT between bytes)");
}

void test_main(u32 magic, u32 info) {
    const struct mb_info *mbi = (const struct mb_info *)(u64)info;
    const char *cmd = (magic == 0x2BADB002 && (mbi->flags & 4)) ? (const char *)(u64)mbi->cmdline : "";
    lapic_init(); /* virtual wire: LINT0 = ExtINT, so the 8259's interrupts arrive */
    read_rtc();
    u64 t0 = rdtsc();
    printf("tsc: %lu\n", t0);
    random_numbers();
    timers();
    u64 t1 = rdtsc();
    printf("tsc: %lu\n", t1);
    CHECK(t1 > t0, "the TSC advances while the guest sleeps");
    if (has_word(cmd, "echo"))
        echo();
}
