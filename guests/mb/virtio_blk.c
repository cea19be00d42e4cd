/* virtio_blk: drives the virtio-blk device at 0xd0000000 (I/O APIC pin 16) through
 * its split virtqueue, sleeping in HLT until each completion's interrupt: reads the
 * configuration (capacity), checks GET_ID, reads sectors 0-7 and prints their
 * checksum, writes a pattern to sectors 8-15, flushes, reads them back and compares,
 * reads code from the disk over a page the CPU has already run (and compiled) and
 * checks the new code runs, and checks that reads past the end of the disk get
 * IOERR. The test
 * (tests/virtio.rs) gives it a 64 KiB image whose bytes are (offset * 7) & 0xff.
 * With "ro" on the command line it expects a read-only disk: the write gets IOERR. */
#include "virtio_mmio.h"

const char test_name[] = "virtio_blk";

#define BLK_BASE 0xD0000000ul
#define BLK_VECTOR 0x50
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define F_FLUSH (1u << 9)

static struct vq q;
static u8 buf[4096] __attribute__((aligned(4096)));
static u8 buf2[4096] __attribute__((aligned(4096)));
/* Code the CPU runs and then the device overwrites by DMA (a disk read). */
static u8 code_page[4096] __attribute__((aligned(4096)));

typedef int (*fn_t)(void);

/* Runs code_page often enough that the tiered CPU compiles it; returns the sum. */
static int run_code(void) {
    int sum = 0;
    for (int i = 0; i < 2000; i++)
        sum += ((fn_t)(u64)code_page)();
    return sum;
}

static void on_irq(struct frame *f) { (void)f; vm_irq(&q); }

static u32 fnv(const u8 *p, u64 n) {
    u32 h = 2166136261u;
    for (u64 i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

struct mb_info { u32 flags, mem_lower, mem_upper, boot_device, cmdline; };

void test_main(u32 magic, u32 info) {
    (void)magic;
    struct mb_info *mbi = (struct mb_info *)(u64)info;
    int ro = (mbi->flags & 4) && has_word((const char *)(u64)mbi->cmdline, "ro");
    lapic_init();
    set_handler(BLK_VECTOR, on_irq, 0);
    ioapic_route(16, BLK_VECTOR);
    int r = vm_setup(&q, BLK_BASE, 2, F_FLUSH);
    if (!CHECK(r == 0, "virtio-blk found and set up"))
        finish();
    u64 cap = *(volatile u64 *)(BLK_BASE + VM_CONFIG);
    printf("capacity %d sectors\n", (int)cap);
    CHECK(cap == 128, "capacity is 128 sectors (64 KiB)");

    memset(buf, 0, 64);
    CHECK(blk_request(&q, T_GET_ID, 0, buf, 20, 1) == 0, "GET_ID succeeds");
    CHECK(memcmp(buf, "reprise-disk0", 14) == 0, "GET_ID is the configured serial");

    CHECK(blk_request(&q, T_IN, 0, buf, 4096, 1) == 0, "read sectors 0-7");
    int ok = 1;
    for (int i = 0; i < 4096; i++)
        ok &= buf[i] == (u8)(i * 7);
    CHECK(ok, "sectors 0-7 hold the image's bytes");
    printf("read checksum %x\n", fnv(buf, 4096));

    for (int i = 0; i < 4096; i++)
        buf[i] = (u8)(0xa5 ^ i ^ (i >> 8));
    int w = blk_request(&q, T_OUT, 8, buf, 4096, 0);
    if (ro) {
        CHECK(w == 1, "a write to a read-only disk gets IOERR");
    } else {
        CHECK(w == 0, "write sectors 8-15");
        CHECK(blk_request(&q, T_FLUSH, 0, 0, 0, 0) == 0, "flush");
        memset(buf2, 0, 4096);
        CHECK(blk_request(&q, T_IN, 8, buf2, 4096, 1) == 0, "read sectors 8-15 back");
        CHECK(memcmp(buf, buf2, 4096) == 0, "sectors 8-15 hold what was written");
        printf("written checksum %x\n", fnv(buf2, 4096));

        /* DMA over translated code: the CPU must not run the stale translation. */
        static const u8 ret1[] = {0xb8, 1, 0, 0, 0, 0xc3}; /* mov eax, 1; ret */
        static const u8 ret2[] = {0xb8, 2, 0, 0, 0, 0xc3}; /* mov eax, 2; ret */
        memcpy(code_page, ret1, sizeof ret1);
        int before = run_code();
        memset(buf2, 0, 512);
        memcpy(buf2, ret2, sizeof ret2);
        blk_request(&q, T_OUT, 16, buf2, 512, 0);
        blk_request(&q, T_IN, 16, code_page, 512, 1);
        int after = run_code();
        CHECK(before == 2000 && after == 4000, "code read from disk over translated code runs");
    }
    CHECK(blk_request(&q, T_IN, cap, buf2, 512, 1) == 1, "a read past the end gets IOERR");
    CHECK(blk_request(&q, T_IN, ~0ull, buf2, 512, 1) == 1, "a read at sector 2^64-1 gets IOERR");
    CHECK(q.irqs > 0, "completions raised interrupts");
    printf("interrupts %d\n", (int)q.irqs);
    finish();
}
