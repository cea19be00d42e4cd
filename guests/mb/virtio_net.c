/* virtio_net: drives the virtio-net device at 0xd0000400 (I/O APIC pin 18): sets up the
 * receive (0) and transmit (1) queues, posts eight receive buffers, then sends COUNT
 * UDP/IPv4 datagrams in hand-built Ethernet frames to a peer (10.0.0.1, port 7) and
 * waits in HLT for each echo, which must come back with MACs, addresses and ports
 * swapped and the payload unchanged. Round trips are measured with RDTSC (the virtual
 * clock). Prints a checksum of everything received and exits via debug-exit.
 *
 * Command line words: count=N (default 16), size=N (UDP payload bytes, 8..1472,
 * default 64), "bad" (first feed the device garbage: an oversized frame, a buffer
 * outside RAM, a header-only chain; then one echo; then a looping chain, which must
 * set DEVICE_NEEDS_RESET), "slirp" (instead: ARP for 10.0.2.2 on user networking and
 * expect libslirp's answer). */
#include "virtio_mmio.h"

const char test_name[] = "virtio_net";

#define NET_BASE 0xD0000400ul
#define NET_VECTOR 0x52
#define F_MAC (1u << 5)
#define F_STATUS (1u << 16)
#define HDR 12
#define RXBUF 1536
#define S_NEEDS_RESET 0x40

static struct vq rxq, txq;
static u8 rxbuf[QSIZE][RXBUF] __attribute__((aligned(64)));
static u8 txbuf[HDR + 1514] __attribute__((aligned(64)));
static u8 bigbuf[70016] __attribute__((aligned(64)));
static u8 mymac[6];
static const u8 peermac[6] = {0x02, 0, 0, 0, 0, 0x01};
static u32 irqs;

static void on_irq(struct frame *f) {
    (void)f;
    u32 st = vm_read(NET_BASE, VM_INT_STATUS);
    vm_write(NET_BASE, VM_INT_ACK, st);
    irqs++;
    lapic_eoi();
}

/* The number after "key=" on the command line, or `def`. */
static u32 num_arg(const char *s, const char *key, u32 def) {
    u64 n = strlen(key);
    for (; *s; s++) {
        if (memcmp(s, key, n) == 0 && s[n] == '=') {
            u32 v = 0;
            for (const char *p = s + n + 1; *p >= '0' && *p <= '9'; p++)
                v = v * 10 + (u32)(*p - '0');
            return v;
        }
    }
    return def;
}

static void queue_setup(struct vq *q, u32 index) {
    q->base = NET_BASE;
    vm_write(NET_BASE, VM_QUEUE_SEL, index);
    vm_write(NET_BASE, VM_QUEUE_NUM, QSIZE);
    vm_write(NET_BASE, VM_DESC_LO, (u32)(u64)q->desc);
    vm_write(NET_BASE, VM_DESC_HI, (u32)((u64)q->desc >> 32));
    vm_write(NET_BASE, VM_AVAIL_LO, (u32)(u64)&q->avail);
    vm_write(NET_BASE, VM_AVAIL_HI, (u32)((u64)&q->avail >> 32));
    vm_write(NET_BASE, VM_USED_LO, (u32)(u64)&q->used);
    vm_write(NET_BASE, VM_USED_HI, (u32)((u64)&q->used >> 32));
    vm_write(NET_BASE, VM_QUEUE_READY, 1);
}

static int setup(void) {
    if (vm_read(NET_BASE, VM_MAGIC) != 0x74726976 || vm_read(NET_BASE, VM_VERSION) != 2 ||
        vm_read(NET_BASE, VM_DEVICE_ID) != 1)
        return -1;
    vm_write(NET_BASE, VM_STATUS, 0);
    vm_write(NET_BASE, VM_STATUS, S_ACK);
    vm_write(NET_BASE, VM_STATUS, S_ACK | S_DRIVER);
    vm_write(NET_BASE, VM_DEV_FEATURES_SEL, 0);
    u32 offered = vm_read(NET_BASE, VM_DEV_FEATURES);
    if ((offered & (F_MAC | F_STATUS)) != (F_MAC | F_STATUS))
        return -2;
    vm_write(NET_BASE, VM_DRV_FEATURES_SEL, 0);
    vm_write(NET_BASE, VM_DRV_FEATURES, F_MAC | F_STATUS);
    vm_write(NET_BASE, VM_DRV_FEATURES_SEL, 1);
    vm_write(NET_BASE, VM_DRV_FEATURES, 1); /* VERSION_1 */
    vm_write(NET_BASE, VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    if (!(vm_read(NET_BASE, VM_STATUS) & S_FEATURES_OK))
        return -3;
    queue_setup(&rxq, 0);
    queue_setup(&txq, 1);
    txq.avail.flags = 1; /* no interrupts for transmitted buffers */
    for (int i = 0; i < QSIZE; i++) {
        rxq.desc[i] = (struct desc){(u64)rxbuf[i], RXBUF, DESC_WRITE, 0};
        rxq.avail.ring[i] = (u16)i;
    }
    barrier();
    rxq.avail.idx = QSIZE;
    for (int i = 0; i < 6; i++)
        mymac[i] = *(volatile u8 *)(NET_BASE + VM_CONFIG + i);
    vm_write(NET_BASE, VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    vm_write(NET_BASE, VM_QUEUE_NOTIFY, 0);
    return 0;
}

/* Transmits descriptor chain `head` (already written) and returns the used length. */
static u32 tx_chain(u16 head) {
    txq.avail.ring[txq.avail.idx % QSIZE] = head;
    barrier();
    txq.avail.idx++;
    barrier();
    vm_write(NET_BASE, VM_QUEUE_NOTIFY, 1);
    /* The device consumes transmit chains while the notify is handled. */
    while (*(volatile u16 *)&txq.used.idx == txq.last_used)
        sti_hlt_cli();
    u32 len = txq.used.ring[txq.last_used % QSIZE].len;
    txq.last_used++;
    return len;
}

static void send_frame(u32 len) {
    memset(txbuf, 0, HDR);
    txq.desc[0] = (struct desc){(u64)txbuf, HDR + len, 0, 0};
    tx_chain(0);
}

/* Waits for the next received frame; returns its buffer index and frame length. */
static int recv_frame(u32 *len) {
    while (*(volatile u16 *)&rxq.used.idx == rxq.last_used)
        sti_hlt_cli();
    struct used_elem e = rxq.used.ring[rxq.last_used % QSIZE];
    rxq.last_used++;
    *len = e.len >= HDR ? e.len - HDR : 0;
    return (int)e.id;
}

static void repost(int id) {
    rxq.avail.ring[rxq.avail.idx % QSIZE] = (u16)id;
    barrier();
    rxq.avail.idx++;
    barrier();
    vm_write(NET_BASE, VM_QUEUE_NOTIFY, 0);
}

static u16 be16(const u8 *p) { return (u16)((p[0] << 8) | p[1]); }
static void put16(u8 *p, u16 v) { p[0] = (u8)(v >> 8); p[1] = (u8)v; }

static u16 ip_csum(const u8 *p, int n) {
    u32 s = 0;
    for (int i = 0; i < n; i += 2)
        s += be16(p + i);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (u16)~s;
}

/* Builds the UDP echo request `seq` with `size` payload bytes in txbuf; returns the
 * frame length. */
static u32 build_udp(u32 seq, u32 size) {
    u8 *f = txbuf + HDR;
    memcpy(f, peermac, 6);
    memcpy(f + 6, mymac, 6);
    put16(f + 12, 0x0800);
    u8 *ip = f + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, (u16)(20 + 8 + size));
    put16(ip + 4, (u16)seq);
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 17;
    const u8 src[4] = {10, 0, 0, 2}, dst[4] = {10, 0, 0, 1};
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    put16(ip + 10, ip_csum(ip, 20));
    u8 *udp = ip + 20;
    put16(udp, 40000);
    put16(udp + 2, 7);
    put16(udp + 4, (u16)(8 + size));
    put16(udp + 6, 0);
    u8 *pl = udp + 8;
    for (u32 i = 0; i < size; i++)
        pl[i] = (u8)(seq * 31 + i);
    memcpy(pl, &seq, 4);
    return 14 + 20 + 8 + size;
}

static u32 fnv(u32 h, const u8 *p, u64 n) {
    for (u64 i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* In .bss, away from the code pages: a guest store next to code would make the CPU
 * drop and retranslate that code after every echo. */
static u32 sum;

/* One echo: send request `seq`, wait for the reply, check it. Returns 1 if good. */
static int echo(u32 seq, u32 size, u64 *rtt) {
    u32 flen = build_udp(seq, size);
    u64 t0 = rdtsc();
    send_frame(flen);
    u32 len;
    int id = recv_frame(&len);
    *rtt = rdtsc() - t0;
    const u8 *r = rxbuf[id] + HDR;
    const u8 *s = txbuf + HDR;
    int ok = len == flen && memcmp(r, mymac, 6) == 0 && memcmp(r + 6, peermac, 6) == 0 &&
             be16(r + 12) == 0x0800 && memcmp(r + 14 + 12, s + 14 + 16, 4) == 0 &&
             memcmp(r + 14 + 16, s + 14 + 12, 4) == 0 && be16(r + 34) == 7 &&
             be16(r + 36) == 40000 && memcmp(r + 42, s + 42, size) == 0;
    sum = fnv(sum, r, len);
    repost(id);
    return ok;
}

static void bad_input(void) {
    /* An oversized frame: consumed, dropped. */
    memset(bigbuf, 0, HDR);
    txq.desc[0] = (struct desc){(u64)bigbuf, sizeof bigbuf, 0, 0};
    CHECK(tx_chain(0) == 0, "an oversized frame is consumed");
    /* A buffer outside RAM. */
    txq.desc[0] = (struct desc){0x100000000ul, 100, 0, 0};
    CHECK(tx_chain(0) == 0, "a frame outside RAM is consumed");
    /* Only the header. */
    txq.desc[0] = (struct desc){(u64)txbuf, HDR, 0, 0};
    CHECK(tx_chain(0) == 0, "a header-only chain is consumed");
    CHECK(!(vm_read(NET_BASE, VM_STATUS) & S_NEEDS_RESET), "the device still runs");
}

static void slirp_arp(void) {
    u8 *f = txbuf + HDR;
    memset(f, 0xff, 6);
    memcpy(f + 6, mymac, 6);
    put16(f + 12, 0x0806);
    u8 *a = f + 14;
    put16(a, 1);
    put16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, 1);
    memcpy(a + 8, mymac, 6);
    const u8 me[4] = {10, 0, 2, 15}, gw[4] = {10, 0, 2, 2};
    memcpy(a + 14, me, 4);
    memset(a + 18, 0, 6);
    memcpy(a + 24, gw, 4);
    send_frame(14 + 28);
    int found = 0;
    for (int n = 0; n < 16 && !found; n++) {
        u32 len;
        int id = recv_frame(&len);
        const u8 *r = rxbuf[id] + HDR;
        if (len >= 42 && be16(r + 12) == 0x0806 && be16(r + 20) == 2 &&
            memcmp(r + 28, gw, 4) == 0 && memcmp(r + 32, mymac, 6) == 0) {
            found = 1;
            printf("10.0.2.2 is at %x:%x:%x:%x:%x:%x\n", r[22], r[23], r[24], r[25], r[26], r[27]);
        }
        repost(id);
    }
    CHECK(found, "libslirp answers ARP for 10.0.2.2");
}

struct mb_info { u32 flags, mem_lower, mem_upper, boot_device, cmdline; };

void test_main(u32 magic, u32 info) {
    (void)magic;
    struct mb_info *mbi = (struct mb_info *)(u64)info;
    const char *cmd = (mbi->flags & 4) ? (const char *)(u64)mbi->cmdline : "";
    sum = 2166136261u;
    u32 count = num_arg(cmd, "count", 16);
    u32 size = num_arg(cmd, "size", 64);
    if (size < 8)
        size = 8;
    if (size > 1472)
        size = 1472;
    lapic_init();
    set_handler(NET_VECTOR, on_irq, 0);
    ioapic_route(18, NET_VECTOR);
    if (!CHECK(setup() == 0, "virtio-net found and set up"))
        finish();
    CHECK(*(volatile u16 *)(NET_BASE + VM_CONFIG + 6) & 1, "link is up");
    printf("mac %x:%x:%x:%x:%x:%x\n", mymac[0], mymac[1], mymac[2], mymac[3], mymac[4], mymac[5]);
    if (has_word(cmd, "slirp")) {
        slirp_arp();
        finish();
    }
    int bad = has_word(cmd, "bad");
    if (bad) {
        bad_input();
        count = 1;
    }
    u64 total = 0, lo = ~0ul, hi = 0;
    u32 good = 0;
    for (u32 i = 0; i < count; i++) {
        u64 rtt;
        good += (u32)echo(i, size, &rtt);
        total += rtt;
        lo = rtt < lo ? rtt : lo;
        hi = rtt > hi ? rtt : hi;
    }
    CHECK(good == count, "every echo came back intact");
    printf("echoes %u size %u rtt_ticks min %lu avg %lu max %lu total %lu\n", count, size, lo,
           total / (count ? count : 1), hi, total);
    printf("net checksum %x\n", sum);
    if (bad) {
        /* A chain that loops: the device must stop and ask for a reset. */
        txq.desc[0] = (struct desc){(u64)txbuf, HDR + 60, DESC_NEXT, 0};
        txq.avail.ring[txq.avail.idx % QSIZE] = 0;
        barrier();
        txq.avail.idx++;
        barrier();
        vm_write(NET_BASE, VM_QUEUE_NOTIFY, 1);
        CHECK(vm_read(NET_BASE, VM_STATUS) & S_NEEDS_RESET, "a looping chain sets DEVICE_NEEDS_RESET");
    }
    finish();
}
