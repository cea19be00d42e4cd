/* A minimal virtio 1.x (modern) driver over virtio-mmio for the Multiboot guests
 * virtio_blk.c and virtio_rng.c: device setup, one split virtqueue of 8 entries, and
 * requests that wait for the used ring with HLT, woken by the device's interrupt
 * (level-triggered I/O APIC pin, acknowledged in the handler). Addresses are physical:
 * the guest runs identity-mapped. Register offsets from virtio 1.2 §4.2.2. */
#ifndef VIRTIO_MMIO_H
#define VIRTIO_MMIO_H
#include "mbrt.h"

#define VM_MAGIC 0x000
#define VM_VERSION 0x004
#define VM_DEVICE_ID 0x008
#define VM_DEV_FEATURES 0x010
#define VM_DEV_FEATURES_SEL 0x014
#define VM_DRV_FEATURES 0x020
#define VM_DRV_FEATURES_SEL 0x024
#define VM_QUEUE_SEL 0x030
#define VM_QUEUE_NUM_MAX 0x034
#define VM_QUEUE_NUM 0x038
#define VM_QUEUE_READY 0x044
#define VM_QUEUE_NOTIFY 0x050
#define VM_INT_STATUS 0x060
#define VM_INT_ACK 0x064
#define VM_STATUS 0x070
#define VM_DESC_LO 0x080
#define VM_DESC_HI 0x084
#define VM_AVAIL_LO 0x090
#define VM_AVAIL_HI 0x094
#define VM_USED_LO 0x0a0
#define VM_USED_HI 0x0a4
#define VM_CONFIG 0x100

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8

#define DESC_NEXT 1
#define DESC_WRITE 2

#define QSIZE 8
#define IOAPIC_BASE 0xFEC00000ul

struct desc { u64 addr; u32 len; u16 flags, next; };
struct avail { u16 flags, idx, ring[QSIZE], used_event; };
struct used_elem { u32 id, len; };
struct used { u16 flags, idx; struct used_elem ring[QSIZE]; u16 avail_event; };

struct vq {
    u64 base;
    struct desc desc[QSIZE] __attribute__((aligned(16)));
    struct avail avail __attribute__((aligned(2)));
    struct used used __attribute__((aligned(4)));
    u16 last_used;
    volatile u32 irqs;
};

static inline u32 vm_read(u64 base, u32 off) { return *(volatile u32 *)(base + off); }
static inline void vm_write(u64 base, u32 off, u32 v) { *(volatile u32 *)(base + off) = v; }

static void ioapic_route(int pin, int vector) {
    volatile u32 *sel = (volatile u32 *)IOAPIC_BASE;
    volatile u32 *win = (volatile u32 *)(IOAPIC_BASE + 0x10);
    *sel = 0x11 + 2 * pin; *win = 0;                      /* destination: APIC 0 */
    *sel = 0x10 + 2 * pin; *win = (u32)vector | (1u << 15); /* level, active high, unmasked */
}

/* Resets and sets up device `base` (ID `id`) with queue 0, accepting VERSION_1 and the
 * device features in `want` (low word). Returns 0 on success. */
static int vm_setup(struct vq *q, u64 base, u32 id, u32 want) {
    q->base = base;
    if (vm_read(base, VM_MAGIC) != 0x74726976 || vm_read(base, VM_VERSION) != 2 ||
        vm_read(base, VM_DEVICE_ID) != id)
        return -1;
    vm_write(base, VM_STATUS, 0);
    vm_write(base, VM_STATUS, S_ACK);
    vm_write(base, VM_STATUS, S_ACK | S_DRIVER);
    vm_write(base, VM_DEV_FEATURES_SEL, 1);
    if (!(vm_read(base, VM_DEV_FEATURES) & 1))
        return -2;
    vm_write(base, VM_DEV_FEATURES_SEL, 0);
    u32 offered = vm_read(base, VM_DEV_FEATURES);
    vm_write(base, VM_DRV_FEATURES_SEL, 0);
    vm_write(base, VM_DRV_FEATURES, offered & want);
    vm_write(base, VM_DRV_FEATURES_SEL, 1);
    vm_write(base, VM_DRV_FEATURES, 1);
    vm_write(base, VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    if (!(vm_read(base, VM_STATUS) & S_FEATURES_OK))
        return -3;
    vm_write(base, VM_QUEUE_SEL, 0);
    if (vm_read(base, VM_QUEUE_NUM_MAX) < QSIZE)
        return -4;
    vm_write(base, VM_QUEUE_NUM, QSIZE);
    vm_write(base, VM_DESC_LO, (u32)(u64)q->desc);
    vm_write(base, VM_DESC_HI, (u32)((u64)q->desc >> 32));
    vm_write(base, VM_AVAIL_LO, (u32)(u64)&q->avail);
    vm_write(base, VM_AVAIL_HI, (u32)((u64)&q->avail >> 32));
    vm_write(base, VM_USED_LO, (u32)(u64)&q->used);
    vm_write(base, VM_USED_HI, (u32)((u64)&q->used >> 32));
    vm_write(base, VM_QUEUE_READY, 1);
    vm_write(base, VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    return 0;
}

/* The interrupt handler's work: acknowledge the device's interrupt status. */
static void vm_irq(struct vq *q) {
    u32 st = vm_read(q->base, VM_INT_STATUS);
    vm_write(q->base, VM_INT_ACK, st);
    q->irqs++;
    lapic_eoi();
}

/* Makes the chain at descriptor 0 available, notifies, and sleeps until the device
 * has returned it and its interrupt was taken. Returns the used length. */
static u32 vm_submit_wait(struct vq *q) {
    u32 irqs = q->irqs;
    q->avail.ring[q->avail.idx % QSIZE] = 0;
    barrier();
    q->avail.idx++;
    barrier();
    vm_write(q->base, VM_QUEUE_NOTIFY, 0);
    while (*(volatile u16 *)&q->used.idx == q->last_used || q->irqs == irqs)
        sti_hlt_cli();
    u32 len = q->used.ring[q->last_used % QSIZE].len;
    q->last_used++;
    return len;
}

/* ---- virtio-blk ---- */
static struct { u32 type, reserved; u64 sector; } blk_hdr __attribute__((aligned(16)));
static volatile u8 blk_status;

/* One virtio-blk request on v and waits for it: header, a data buffer of len bytes
 * (none when len is 0; device_writes: the device fills it), status byte. Returns the
 * status the device wrote (0 OK, 1 IOERR, 2 UNSUPP). */
__attribute__((unused)) static int blk_request(struct vq *v, u32 type, u64 sector, void *data,
                                               u32 len, int device_writes) {
    blk_hdr.type = type;
    blk_hdr.reserved = 0;
    blk_hdr.sector = sector;
    blk_status = 0xff;
    v->desc[0] = (struct desc){(u64)&blk_hdr, sizeof blk_hdr, DESC_NEXT, 1};
    int st = 1;
    if (len) {
        v->desc[1] = (struct desc){(u64)data, len, DESC_NEXT | (device_writes ? DESC_WRITE : 0), 2};
        st = 2;
    }
    v->desc[st] = (struct desc){(u64)&blk_status, 1, DESC_WRITE, 0};
    vm_submit_wait(v);
    return blk_status;
}

#endif
