/* virtio_rng: drives the virtio-rng device at 0xd0000200 (I/O APIC pin 17): asks for
 * 32 bytes four times, sleeping in HLT until each completion's interrupt, and prints
 * them (different in every run, identical in every replay of one recording). */
#include "virtio_mmio.h"

const char test_name[] = "virtio_rng";

#define RNG_BASE 0xD0000200ul
#define RNG_VECTOR 0x51

static struct vq q;
static u8 buf[32];

static void on_irq(struct frame *f) { (void)f; vm_irq(&q); }

void test_main(u32 magic, u32 info) {
    (void)magic;
    (void)info;
    lapic_init();
    set_handler(RNG_VECTOR, on_irq, 0);
    ioapic_route(17, RNG_VECTOR);
    if (!CHECK(vm_setup(&q, RNG_BASE, 4, 0) == 0, "virtio-rng found and set up"))
        finish();
    int all_zero = 1;
    for (int round = 0; round < 4; round++) {
        memset(buf, 0, sizeof buf);
        q.desc[0] = (struct desc){(u64)buf, sizeof buf, DESC_WRITE, 0};
        u32 n = vm_submit_wait(&q);
        CHECK(n == sizeof buf, "the device filled the buffer");
        printf("rng");
        for (int i = 0; i < (int)sizeof buf; i++) {
            printf(" %x", buf[i]);
            all_zero &= buf[i] == 0;
        }
        printf("\n");
    }
    CHECK(!all_zero, "the bytes are not all zero");
    CHECK(q.irqs == 4, "each request raised an interrupt");
    finish();
}
