/* mb_info: the Multiboot hand-off. EAX held the magic, EBX the info structure: its
 * memory fields and memory map are sane, the command line is what the test passes
 * ("<kernel path> mbtest=ok second=2"), the boot loader has a name, and the one module
 * (guests/mb/module.txt, command line "<path> modarg=7") is page-aligned, outside the
 * kernel and holds the expected bytes. The runtime already switched to long mode. */
#include "mbrt.h"

const char test_name[] = "mb_info";

static const char module_text[] = "reprise multiboot module: these bytes are checked by mb_info\n";

struct mb_info {
    u32 flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    u32 syms[4];
    u32 mmap_length, mmap_addr;
    u32 drives_length, drives_addr, config_table, boot_loader_name;
};
struct mb_mod {
    u32 start, end, cmdline, pad;
};
struct mb_mmap {
    u32 size;
    u64 base, len;
    u32 type;
} __attribute__((packed));

/* Word `k` (0-based, space-separated) of s, copied into out. */
static int word(const char *s, int k, char *out, int cap) {
    for (int i = 0;; i++) {
        while (*s == ' ')
            s++;
        if (!*s)
            return 0;
        int n = 0;
        while (*s && *s != ' ') {
            if (i == k && n < cap - 1)
                out[n++] = *s;
            s++;
        }
        if (i == k) {
            out[n] = 0;
            return 1;
        }
    }
}

static int ends_with(const char *s, const char *tail) {
    u64 n = strlen(s), m = strlen(tail);
    return n >= m && !memcmp(s + n - m, tail, m);
}

void test_main(u32 magic, u32 info) {
    CHECK(magic == 0x2BADB002, "EAX held the Multiboot magic 0x2badb002");
    CHECK(info != 0 && info < 0x100000, "EBX points to the info structure in low memory");
    const struct mb_info *mbi = (const struct mb_info *)(u64)info;
    u32 want = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9);
    CHECK((mbi->flags & want) == want, "flags: memory, cmdline, mods, mmap, loader name");

    CHECK(mbi->mem_lower >= 600 && mbi->mem_lower <= 640, "mem_lower is about 640 KiB");
    CHECK(mbi->mem_upper >= 100 * 1024, "mem_upper covers the 128 MiB machine");

    /* Memory map. */
    int entries = 0, sizes_ok = 1, low_ok = 0, high_ok = 0, hole_ok = 1;
    for (u64 p = mbi->mmap_addr; p < (u64)mbi->mmap_addr + mbi->mmap_length;) {
        const struct mb_mmap *e = (const struct mb_mmap *)p;
        entries++;
        if (e->size < 20)
            sizes_ok = 0;
        u64 end = e->base + e->len;
        if (e->type == 1 && e->base == 0 && e->len >= 0x9f000)
            low_ok = 1;
        if (e->type == 1 && e->base <= 0x100000 && end >= 0x100000 + (100ul << 20))
            high_ok = 1;
        if (e->type == 1 && e->base < 0x100000 && end > 0xa0000)
            hole_ok = 0;
        p += e->size + 4;
        if (entries > 64 || e->size < 20)
            break;
    }
    CHECK(entries >= 3 && sizes_ok, "memory map has entries with size >= 20");
    CHECK(low_ok, "memory map: low memory from 0 is available");
    CHECK(high_ok, "memory map: RAM from 1 MiB is available");
    CHECK(hole_ok, "memory map: 0xa0000-0x100000 is not available");

    /* Command line. */
    const char *cmd = (const char *)(u64)mbi->cmdline;
    char first[128];
    CHECK(mbi->cmdline && word(cmd, 0, first, sizeof first) && ends_with(first, "mb_info.elf"),
          "command line starts with the kernel path");
    CHECK(mbi->cmdline && has_word(cmd, "mbtest=ok") && has_word(cmd, "second=2"),
          "command line holds the appended arguments");

    const char *name = (const char *)(u64)mbi->boot_loader_name;
    int printable = mbi->boot_loader_name && name[0];
    for (int i = 0; printable && name[i]; i++)
        if (name[i] < 32 || name[i] > 126 || i > 64)
            printable = 0;
    CHECK(printable, "boot loader name is present");

    /* The module. */
    CHECK(mbi->mods_count == 1, "one module");
    if (mbi->mods_count >= 1) {
        const struct mb_mod *m = (const struct mb_mod *)(u64)mbi->mods_addr;
        CHECK((m->start & 0xfff) == 0, "module is page-aligned");
        CHECK(m->start >= (u64)__bss_end, "module lies after the kernel");
        CHECK(m->end - m->start == sizeof module_text - 1, "module has the file's length");
        CHECK(!memcmp((const void *)(u64)m->start, module_text, sizeof module_text - 1),
              "module holds the file's bytes");
        const char *mc = (const char *)(u64)m->cmdline;
        CHECK(m->cmdline && word(mc, 0, first, sizeof first) && ends_with(first, "module.txt") &&
                  has_word(mc, "modarg=7"),
              "module command line is \"<path> modarg=7\"");
    }

    /* Long mode. */
    u16 cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    CHECK((rdmsr(MSR_EFER) & (1 << 10)) && (read_cr0() & (1ul << 31)) && cs == 0x08,
          "running in long mode at CPL 0");
}
