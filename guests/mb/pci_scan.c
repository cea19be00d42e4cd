/* pci_scan: enumerates PCI bus 0 through configuration mechanism #1 (ports 0xcf8 and
 * 0xcfc), prints each function's IDs and class, sizes every BAR the usual way (decode
 * off, write all ones, read, restore), checks the 440FX host bridge and PIIX3 ISA
 * bridge and the firmware's PIRQ routing, and exits through debug-exit. With "reset"
 * on the command line it ends instead by writing 0x06 to the PIIX reset control
 * register (port 0xcf9). */
#include "rt/mbrt.h"

const char test_name[] = "pci_scan";

static inline void outl(u16 p, u32 v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(p)); }
static inline u32 inl(u16 p) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline void outw(u16 p, u16 v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(p)); }
static inline u16 inw(u16 p) { u16 v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }

static u32 addr(int bus, int slot, int fn, int reg) {
    return 0x80000000u | (u32)bus << 16 | (u32)slot << 11 | (u32)fn << 8 | (u32)(reg & 0xfc);
}
static u32 cfg_read32(int slot, int reg) {
    outl(0xcf8, addr(0, slot, 0, reg));
    return inl(0xcfc);
}
static void cfg_write32(int slot, int reg, u32 v) {
    outl(0xcf8, addr(0, slot, 0, reg));
    outl(0xcfc, v);
}
static u16 cfg_read16(int slot, int reg) {
    outl(0xcf8, addr(0, slot, 0, reg));
    return inw(0xcfc + (reg & 2));
}
static void cfg_write16(int slot, int reg, u16 v) {
    outl(0xcf8, addr(0, slot, 0, reg));
    outw(0xcfc + (reg & 2), v);
}
static u8 cfg_read8(int slot, int reg) {
    outl(0xcf8, addr(0, slot, 0, reg));
    return inb(0xcfc + (reg & 3));
}

/* Sizes BAR `i` of `slot`; returns its size (0: unimplemented) and prints it. */
static u32 size_bar(int slot, int i) {
    int reg = 0x10 + 4 * i;
    u16 cmd = cfg_read16(slot, 0x04);
    cfg_write16(slot, 0x04, cmd & ~3);
    u32 old = cfg_read32(slot, reg);
    cfg_write32(slot, reg, 0xffffffffu);
    u32 mask = cfg_read32(slot, reg);
    cfg_write32(slot, reg, old);
    cfg_write16(slot, 0x04, cmd);
    if (mask == 0) return 0;
    int io = mask & 1;
    u32 size = io ? (~(mask & ~3u) + 1) & 0xffff : ~(mask & ~15u) + 1;
    printf("  BAR%d %s at %x, %u bytes\n", i, io ? "io" : "mem", old & (io ? ~3u : ~15u), size);
    CHECK(cfg_read32(slot, reg) == old, "a sized BAR reads back its address");
    return size;
}

void test_main(u32 magic, u32 info) {
    (void)magic;
    const char *cmdline = "";
    if (*(u32 *)(u64)info & 4) cmdline = (const char *)(u64) * (u32 *)(u64)(info + 16);

    outl(0xcf8, 0x80001234u);
    CHECK(inl(0xcf8) == 0x80001234u, "CONFIG_ADDRESS reads back");
    int count = 0;
    for (int slot = 0; slot < 32; slot++) {
        u32 id = cfg_read32(slot, 0);
        if (id == 0xffffffffu) continue;
        count++;
        u32 cr = cfg_read32(slot, 0x08);
        /* The layout only: QEMU's PIIX3 sets the multi-function bit (7), this bus's not. */
        u8 hdr = cfg_read8(slot, 0x0e) & 0x7f;
        u32 irq = cfg_read32(slot, 0x3c);
        printf("00:%x.0 %x:%x class %x rev %x header %x pin %u line %u\n", slot, id & 0xffff,
               id >> 16, cr >> 8, cr & 0xff, hdr, (irq >> 8) & 0xff, irq & 0xff);
        for (int i = 0; i < 6; i++) size_bar(slot, i);
    }
    printf("%d functions on bus 0\n", count);
    CHECK(count >= 2, "at least the host bridge and the ISA bridge");
    CHECK(cfg_read32(0, 0) == 0x12378086u, "00:00.0 is the 440FX host bridge (8086:1237)");
    CHECK(cfg_read32(0, 0x08) >> 8 == 0x060000u, "00:00.0 class 06 00 00 (host bridge)");
    CHECK(cfg_read32(1, 0) == 0x70008086u, "00:01.0 is the PIIX3 ISA bridge (8086:7000)");
    CHECK(cfg_read32(1, 0x08) >> 8 == 0x060100u, "00:01.0 class 06 01 00 (ISA bridge)");
    CHECK(cfg_read16(0, 0x02) == 0x1237 && cfg_read8(0, 0x01) == 0x80 && cfg_read8(1, 0x0b) == 6,
          "word and byte reads at every CONFIG_DATA offset");
    CHECK(cfg_read32(1, 0x60) == 0x0b0b0a0au, "firmware routed PIRQA-D to IRQ 10, 10, 11, 11");
    CHECK(cfg_read32(0, 0x04) >> 16 == 0, "status: no interrupt, no capabilities list");
    outl(0xcf8, addr(0, 0, 1, 0));
    CHECK(inl(0xcfc) == 0xffffffffu, "function 1 of slot 0 is absent");
    outl(0xcf8, addr(1, 0, 0, 0));
    CHECK(inl(0xcfc) == 0xffffffffu, "bus 1 is absent");
    outl(0xcf8, 0);
    CHECK(inl(0xcfc) == 0xffffffffu, "CONFIG_DATA with the enable bit clear reads all ones");
    u8 elcr = inb(0x4d1);
    CHECK((elcr & 0x0c) == 0x0c, "ELCR: IRQ 10 and 11 level-triggered");
    if (has_word(cmdline, "reset")) {
        /* CMOS NVRAM survives the reset: it tells the second boot from the first. */
        outb(0x70, 0x41);
        if (inb(0x71) == 0) {
            outb(0x70, 0x41);
            outb(0x71, 1);
            printf("resetting through port 0xcf9\n");
            outb(0xcf9, 0x06);
            die("still running after the reset request");
        }
        printf("booted again after the 0xcf9 reset\n");
    }
    finish();
}
