/* ac97_tone: drives the Intel ICH AC'97 audio function on PCI bus 0 the way a driver
 * does: finds 8086:2415 through configuration mechanism #1, reads its I/O BARs (NAM,
 * NABM) and interrupt pin, enables I/O decode and bus mastering, takes the codec out
 * of cold reset, then
 *   - plays a 440 Hz tone (0.2 s at 48 kHz stereo, four 50 ms buffers, each with an
 *     IOC interrupt routed through the I/O APIC pin its PIRQ reaches),
 *   - records 0.1 s from PCM in (two 50 ms buffers),
 * sleeping in HLT until each interrupt, and prints the checksum of the tone, of what
 * it captured and of its timing (CIV and PICB read in each interrupt).
 * tests/audio.rs regenerates the tone (tone_sample below) and compares it with the
 * output WAV, and compares the capture checksum with its input WAV.
 * With "code" on the command line it first captures 2 frames over a page of code it
 * has run (and the CPU compiled) and checks the captured code runs: the test's input
 * WAV starts with the bytes of `mov eax, 2; ret`. */
#include "mbrt.h"

const char test_name[] = "ac97_tone";

#define IOAPIC_BASE 0xFEC00000ul
#define VECTOR 0x51

/* NABM registers. */
#define PI 0x00
#define PO 0x10
#define BDBAR 0x0
#define CIV 0x4
#define LVI 0x5
#define SR 0x6
#define PICB 0x8
#define CR 0xb
#define GLOB_CNT 0x2c
#define GLOB_STA 0x30
#define SR_DCH 1
#define SR_CELV 2
#define SR_LVBCI 4
#define SR_BCIS 8
#define SR_FIFOE 0x10
#define CR_RPBM 1
#define CR_RR 2
#define CR_FEIE 8
#define CR_IOCE 0x10
#define IOC 0x80000000u

#define RATE 48000
#define TONE_FRAMES (RATE / 5)   /* 0.2 s */
#define CAP_FRAMES (RATE / 10)   /* 0.1 s */
#define OUT_BUFS 4
#define IN_BUFS 2

static inline void outw(u16 p, u16 v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(p)); }
static inline u16 inw(u16 p) { u16 v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline void outl(u16 p, u32 v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(p)); }
static inline u32 inl(u16 p) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }

static u32 cfg_read(int dev, int reg) {
    outl(0xcf8, 0x80000000u | (u32)dev << 11 | (u32)(reg & 0xfc));
    return inl(0xcfc);
}
static void cfg_write(int dev, int reg, u32 v) {
    outl(0xcf8, 0x80000000u | (u32)dev << 11 | (u32)(reg & 0xfc));
    outl(0xcfc, v);
}

static void ioapic_route(int pin, int vector) {
    volatile u32 *sel = (volatile u32 *)IOAPIC_BASE;
    volatile u32 *win = (volatile u32 *)(IOAPIC_BASE + 0x10);
    *sel = 0x11 + 2 * pin; *win = 0;
    *sel = 0x10 + 2 * pin; *win = (u32)vector | (1u << 15); /* level, unmasked */
}

struct bd { u32 addr; u32 ctl_len; };
static struct bd out_bdl[32] __attribute__((aligned(8)));
static struct bd in_bdl[32] __attribute__((aligned(8)));
static short tone[TONE_FRAMES * 2] __attribute__((aligned(4096)));
static short cap[CAP_FRAMES * 2] __attribute__((aligned(4096)));

static u16 nam, nabm;
static volatile u32 irqs, po_done, pi_done;
static volatile u32 timing = 2166136261u;
static volatile u32 timing_n;

static u32 fnv_step(u32 h, u32 v) {
    for (int i = 0; i < 4; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 16777619u;
    }
    return h;
}

static u32 fnv(const void *p, u64 n) {
    const u8 *b = p;
    u32 h = 2166136261u;
    for (u64 i = 0; i < n; i++) {
        h ^= b[i];
        h *= 16777619u;
    }
    return h;
}

/* The tone: a 440 Hz sine by the recurrence s[n+1] = c*s[n] - s[n-1] in Q30, with
 * c = 2cos(2*pi*440/48000); left and right equal, amplitude ~8000. */
#define C_Q30 2143922726ll /* round(2cos(2*pi*440/48000) * 2^30) */
#define SIN_Q30 61808903ll /* round(sin(2*pi*440/48000) * 2^30) */
static void make_tone(void) {
    i64 prev = 0, cur = 8000ll * SIN_Q30;
    for (int n = 0; n < TONE_FRAMES; n++) {
        short v = (short)(prev >> 30);
        tone[2 * n] = v;
        tone[2 * n + 1] = v;
        i64 next = (cur >> 15) * (C_Q30 >> 15) - prev;
        prev = cur;
        cur = next;
    }
}

static void on_irq(struct frame *f) {
    (void)f;
    irqs++;
    u32 gs = inl(nabm + GLOB_STA);
    if (gs & 0x40) { /* POINT */
        u8 sr = inb(nabm + PO + SR);
        timing = fnv_step(timing, inb(nabm + PO + CIV) | (u32)inw(nabm + PO + PICB) << 8 | (u32)sr << 24);
        timing_n++;
        if (sr & SR_DCH)
            po_done = 1;
        outw(nabm + PO + SR, sr & (SR_LVBCI | SR_BCIS | SR_FIFOE));
    }
    if (gs & 0x20) { /* PIINT */
        u8 sr = inb(nabm + PI + SR);
        timing = fnv_step(timing, inb(nabm + PI + CIV) | (u32)inw(nabm + PI + PICB) << 8 | (u32)sr << 24);
        timing_n++;
        if (sr & SR_DCH)
            pi_done = 1;
        outw(nabm + PI + SR, sr & (SR_LVBCI | SR_BCIS | SR_FIFOE));
    }
    lapic_eoi();
}

static u8 code_page[4096] __attribute__((aligned(4096)));
typedef int (*fn_t)(void);

static int run_code(void) {
    int sum = 0;
    for (int i = 0; i < 2000; i++)
        sum += ((fn_t)(u64)code_page)();
    return sum;
}

/* Captures `samples` samples into `dst` with one descriptor; waits for the halt. */
static void capture(void *dst, u32 samples) {
    in_bdl[0] = (struct bd){(u32)(u64)dst, IOC | samples};
    pi_done = 0;
    outb(nabm + PI + CR, CR_RR);
    outl(nabm + PI + BDBAR, (u32)(u64)in_bdl);
    outb(nabm + PI + LVI, 0);
    outb(nabm + PI + CR, CR_RPBM | CR_IOCE | CR_FEIE);
    while (!pi_done)
        sti_hlt_cli();
    outb(nabm + PI + CR, 0);
}

static int find(void) {
    for (int dev = 0; dev < 32; dev++)
        if (cfg_read(dev, 0) == 0x24158086u)
            return dev;
    return -1;
}

struct mb_info { u32 flags, mem_lower, mem_upper, boot_device, cmdline; };

void test_main(u32 magic, u32 info) {
    (void)magic;
    struct mb_info *mbi = (struct mb_info *)(u64)info;
    int code = (mbi->flags & 4) && has_word((const char *)(u64)mbi->cmdline, "code");
    int dev = find();
    if (!CHECK(dev >= 0, "AC'97 (8086:2415) found on bus 0"))
        finish();
    CHECK((cfg_read(dev, 8) >> 8) == 0x040100, "class is multimedia audio");
    u32 bar0 = cfg_read(dev, 0x10), bar1 = cfg_read(dev, 0x14);
    CHECK((bar0 & 1) && (bar1 & 1), "BAR0 and BAR1 are I/O");
    nam = (u16)(bar0 & ~3u);
    nabm = (u16)(bar1 & ~3u);
    int pin = (cfg_read(dev, 0x3c) >> 8) & 0xff;
    CHECK(pin == 1, "interrupt pin INTA");
    int gsi = 20 + (dev + pin - 1) % 4;
    printf("ac97 at 00:%d.0 nam %x nabm %x gsi %d\n", dev, nam, nabm, gsi);
    cfg_write(dev, 4, cfg_read(dev, 4) | 1 | 4); /* I/O decode, bus master */

    lapic_init();
    set_handler(VECTOR, on_irq, 0);
    ioapic_route(gsi, VECTOR);

    /* Codec out of cold reset, then ready. */
    outl(nabm + GLOB_CNT, 2);
    int ready = 0;
    for (int i = 0; i < 1000 && !ready; i++)
        ready = (inl(nabm + GLOB_STA) & 0x100) != 0;
    CHECK(ready, "primary codec ready");
    outw(nam + 0x00, 0);          /* codec reset */
    outw(nam + 0x02, 0x0000);     /* master: unmuted, 0 dB */
    outw(nam + 0x18, 0x0808);     /* PCM out: unmuted */
    CHECK(inw(nam + 0x7c) == 0x8384 && inw(nam + 0x7e) == 0x7600, "codec vendor id");
    CHECK(inw(nam + 0x2c) == RATE, "DAC at 48 kHz");

    /* Playback. */
    make_tone();
    printf("tone checksum %x\n", fnv(tone, sizeof tone));
    u32 per = TONE_FRAMES * 2 / OUT_BUFS; /* samples per buffer */
    for (int i = 0; i < OUT_BUFS; i++)
        out_bdl[i] = (struct bd){(u32)(u64)&tone[i * per], IOC | per};
    outb(nabm + PO + CR, CR_RR);
    while (inb(nabm + PO + CR) & CR_RR)
        ;
    outl(nabm + PO + BDBAR, (u32)(u64)out_bdl);
    outb(nabm + PO + LVI, OUT_BUFS - 1);
    outb(nabm + PO + CR, CR_RPBM | CR_IOCE | CR_FEIE);
    while (!po_done)
        sti_hlt_cli();
    CHECK(inb(nabm + PO + CIV) == OUT_BUFS - 1, "CIV stopped at LVI");
    CHECK((inw(nabm + PO + SR) & (SR_DCH | SR_CELV)) == (SR_DCH | SR_CELV), "playback halted");
    outb(nabm + PO + CR, 0);

    if (code) {
        static const u8 ret1[] = {0xb8, 1, 0, 0, 0, 0xc3}; /* mov eax, 1; ret */
        memcpy(code_page, ret1, sizeof ret1);
        int before = run_code();
        capture(code_page, 4);
        int after = run_code();
        CHECK(before == 2000 && after == 4000, "code captured over translated code runs");
        irqs = 0;
        timing_n = 0;
        pi_done = 0;
    }

    /* Capture. */
    memset(cap, 0x55, sizeof cap);
    u32 iper = CAP_FRAMES * 2 / IN_BUFS;
    for (int i = 0; i < IN_BUFS; i++)
        in_bdl[i] = (struct bd){(u32)(u64)&cap[i * iper], IOC | iper};
    outb(nabm + PI + CR, CR_RR);
    outl(nabm + PI + BDBAR, (u32)(u64)in_bdl);
    outb(nabm + PI + LVI, IN_BUFS - 1);
    outb(nabm + PI + CR, CR_RPBM | CR_IOCE | CR_FEIE);
    while (!pi_done)
        sti_hlt_cli();
    CHECK((inw(nabm + PI + SR) & SR_FIFOE) == 0, "no FIFO error");
    outb(nabm + PI + CR, 0);
    printf("capture first %d %d %d %d\n", cap[0], cap[1], cap[2], cap[3]);
    printf("capture checksum %x\n", fnv(cap, sizeof cap));
    printf("timing %d interrupts %d checksum %x\n", (int)timing_n, (int)irqs, timing);
    CHECK(timing_n == (code ? IN_BUFS : OUT_BUFS + IN_BUFS), "one interrupt per buffer");
    finish();
}
