/* virtio_drives: two virtio-blk drives at once — drive 0 at 0xd0000000 (I/O APIC pin
 * 16) and drive 1 at 0xd0000600 (pin 19, the pin drives 1-3 share). For each: GET_ID
 * is "reprise-disk<n>", sector 0 holds the byte pattern the test wrote into that image
 * (byte i of image n is (i * 7 + n * 0x40) & 0xff); then it writes a sector to drive 1,
 * reads it back, and checks drive 0 did not see the write. Prints the checksums of
 * what it read. */
#include "virtio_mmio.h"

const char test_name[] = "virtio_drives";

#define T_IN 0
#define T_OUT 1
#define T_GET_ID 8
#define VEC0 0x50
#define VEC1 0x51

static const u64 bases[2] = {0xD0000000ul, 0xD0000600ul};
static struct vq q[2];
static u8 buf[512] __attribute__((aligned(512)));

static void on_irq0(struct frame *f) { (void)f; vm_irq(&q[0]); }
/* The shared pin: acknowledge whatever drive 1 has (drives 2-3 are absent here). */
static void on_irq1(struct frame *f) { (void)f; vm_irq(&q[1]); }

static u32 fnv(const u8 *p, u64 n) {
    u32 h = 2166136261u;
    for (u64 i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

void test_main(u32 magic, u32 info) {
    (void)magic;
    (void)info;
    lapic_init();
    set_handler(VEC0, on_irq0, 0);
    set_handler(VEC1, on_irq1, 0);
    ioapic_route(16, VEC0);
    ioapic_route(19, VEC1);
    for (int n = 0; n < 2; n++) {
        if (!CHECK(vm_setup(&q[n], bases[n], 2, 0) == 0, "a virtio-blk drive is set up"))
            finish();
        char want[16] = "reprise-disk0";
        want[12] = (char)('0' + n);
        memset(buf, 0, 32);
        CHECK(blk_request(&q[n], T_GET_ID, 0, buf, 20, 1) == 0, "GET_ID succeeds");
        CHECK(memcmp(buf, want, 14) == 0, "GET_ID names the drive");
        CHECK(blk_request(&q[n], T_IN, 0, buf, 512, 1) == 0, "read sector 0");
        int ok = 1;
        for (int i = 0; i < 512; i++)
            ok &= buf[i] == (u8)(i * 7 + n * 0x40);
        CHECK(ok, "sector 0 holds this drive's image");
        printf("drive %d: sector 0 checksum %x\n", n, fnv(buf, 512));
    }
    for (int i = 0; i < 512; i++)
        buf[i] = (u8)(0x3c ^ i);
    CHECK(blk_request(&q[1], T_OUT, 1, buf, 512, 0) == 0, "write drive 1 sector 1");
    memset(buf, 0, 512);
    CHECK(blk_request(&q[1], T_IN, 1, buf, 512, 1) == 0 && buf[5] == (u8)(0x3c ^ 5),
          "drive 1 reads back what was written");
    CHECK(blk_request(&q[0], T_IN, 1, buf, 512, 1) == 0 && buf[5] == (u8)((512 + 5) * 7),
          "drive 0 does not see drive 1's write");
    CHECK(q[0].irqs > 0 && q[1].irqs > 0, "both pins raised interrupts");
    printf("interrupts %d %d\n", (int)q[0].irqs, (int)q[1].irqs);
    finish();
}
