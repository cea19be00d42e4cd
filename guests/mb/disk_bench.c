/* disk_bench: measures the virtio-blk disk at 0xd0000000 (I/O APIC pin 16) with 4 KiB
 * requests, one in flight at a time: sequential reads and writes over the whole image
 * (up to 64 MiB), then random reads and writes (RANDOM_OPS each, block numbers from a
 * fixed LCG). Times come from RDTSC, which on reprise is the virtual clock in
 * nanoseconds, so the figures are what the guest sees, not host speed. Prints one line
 * per pattern:
 *   disk_bench: <pattern> <bytes> bytes <ops> ops <ns> ns
 * and exits with PASS when every request succeeded. */
#include "virtio_mmio.h"

const char test_name[] = "disk_bench";

#define BLK_BASE 0xD0000000ul
#define BLK_VECTOR 0x50
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define F_FLUSH (1u << 9)
#define BLOCK 4096
#define MAX_BLOCKS (64u * 1024 * 1024 / BLOCK)
#define RANDOM_OPS 2048

static struct vq q;
static u8 buf[BLOCK] __attribute__((aligned(4096)));

static void on_irq(struct frame *f) { (void)f; vm_irq(&q); }

static u32 errors;
static u64 lcg = 0x2545f4914f6cdd1dull;

static u64 next_block(u32 blocks) {
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (lcg >> 33) % blocks;
}

static void pass(const char *name, u32 blocks, u32 ops, int write, int random) {
    u64 t0 = rdtsc();
    for (u32 i = 0; i < ops; i++) {
        u64 b = random ? next_block(blocks) : i;
        if (write)
            buf[0] = (u8)i;
        if (blk_request(&q, write ? T_OUT : T_IN, b * (BLOCK / 512), buf, BLOCK, !write) != 0)
            errors++;
    }
    u64 ns = rdtsc() - t0;
    printf("disk_bench: %s %u bytes %u ops %u ns\n", name, ops * BLOCK, ops, (u32)ns);
    if (ns >> 32)
        printf("disk_bench: (%s took more than 2^32 ns: %u * 2^32 + the above)\n", name,
               (u32)(ns >> 32));
}

void test_main(u32 magic, u32 info) {
    (void)magic;
    (void)info;
    lapic_init();
    set_handler(BLK_VECTOR, on_irq, 0);
    ioapic_route(16, BLK_VECTOR);
    if (!CHECK(vm_setup(&q, BLK_BASE, 2, F_FLUSH) == 0, "virtio-blk found and set up"))
        finish();
    u64 cap = *(volatile u64 *)(BLK_BASE + VM_CONFIG);
    u32 blocks = (u32)(cap / (BLOCK / 512));
    if (blocks > MAX_BLOCKS)
        blocks = MAX_BLOCKS;
    if (!CHECK(blocks >= 16, "the disk holds at least 16 blocks of 4 KiB"))
        finish();
    printf("disk_bench: %u blocks of 4 KiB\n", blocks);
    pass("seq_read", blocks, blocks, 0, 0);
    pass("seq_write", blocks, blocks, 1, 0);
    if (blk_request(&q, T_FLUSH, 0, 0, 0, 0) != 0)
        errors++;
    pass("rand_read", blocks, RANDOM_OPS, 0, 1);
    pass("rand_write", blocks, RANDOM_OPS, 1, 1);
    if (blk_request(&q, T_FLUSH, 0, 0, 0, 0) != 0)
        errors++;
    printf("disk_bench: %u errors, %u interrupts\n", errors, (u32)q.irqs);
    CHECK(errors == 0, "every request succeeded");
    finish();
}
