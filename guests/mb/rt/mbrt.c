/* The runtime of the Multiboot system guests (see mbrt.h). */
#include "mbrt.h"

/* ---- Serial (COM1, polled) ---- */
void putc_serial(char c) {
    for (int i = 0; i < 100000 && !(inb(0x3fd) & 0x20); i++)
        ;
    outb(0x3f8, (u8)c);
}

void puts_serial(const char *s) {
    while (*s)
        putc_serial(*s++);
}

static void put_num(u64 v, int base, int neg) {
    char buf[24];
    int n = 0;
    if (neg)
        putc_serial('-');
    do {
        buf[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n)
        putc_serial(buf[--n]);
}

/* %s %c %d %u %x %% with an optional 'l' (64-bit). */
void printf(const char *fmt, ...) {
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            putc_serial(*fmt);
            continue;
        }
        fmt++;
        int lng = 0;
        if (*fmt == 'l') {
            lng = 1;
            fmt++;
        }
        switch (*fmt) {
        case 's': puts_serial(__builtin_va_arg(ap, const char *)); break;
        case 'c': putc_serial((char)__builtin_va_arg(ap, int)); break;
        case 'd': {
            i64 v = lng ? __builtin_va_arg(ap, i64) : __builtin_va_arg(ap, int);
            put_num(v < 0 ? -(u64)v : (u64)v, 10, v < 0);
            break;
        }
        case 'u': put_num(lng ? __builtin_va_arg(ap, u64) : __builtin_va_arg(ap, u32), 10, 0); break;
        case 'x': put_num(lng ? __builtin_va_arg(ap, u64) : __builtin_va_arg(ap, u32), 16, 0); break;
        case '%': putc_serial('%'); break;
        case 0: fmt--; break;
        default: putc_serial('?'); break;
        }
    }
    __builtin_va_end(ap);
}

/* ---- Checks and the end ---- */
static int checks, failures;

int check(int ok, const char *what) {
    checks++;
    if (!ok)
        failures++;
    printf("%s %s: %s\n", ok ? "PASS" : "FAIL", test_name, what);
    return ok;
}

_Noreturn void finish(void) {
    printf("%s %s (%d checks, %d failed)\n", failures ? "FAIL" : "PASS", test_name, checks,
           failures);
    outb(0xf4, failures ? EXIT_FAIL : EXIT_PASS);
    for (;;)
        __asm__ volatile("cli; hlt");
}

_Noreturn void die(const char *why) {
    failures++;
    printf("FAIL %s: %s\n", test_name, why);
    finish();
}

/* ---- Memory ---- */
void *memset(void *d, int c, u64 n) {
    u8 *p = d;
    while (n--)
        *p++ = (u8)c;
    return d;
}
void *memcpy(void *d, const void *s, u64 n) {
    u8 *p = d;
    const u8 *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}
int memcmp(const void *a, const void *b, u64 n) {
    const u8 *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q)
            return *p < *q ? -1 : 1;
    return 0;
}
u64 strlen(const char *s) {
    u64 n = 0;
    while (s[n])
        n++;
    return n;
}

int has_word(const char *s, const char *w) {
    u64 n = strlen(w);
    while (*s) {
        while (*s == ' ')
            s++;
        const char *start = s;
        while (*s && *s != ' ')
            s++;
        if ((u64)(s - start) == n && memcmp(start, w, n) == 0)
            return 1;
    }
    return 0;
}

#define POOL_PAGES 48
static u8 pool[POOL_PAGES][4096] __attribute__((aligned(4096)));
static int pool_used;

void *alloc_page(void) {
    if (pool_used >= POOL_PAGES)
        die("page pool exhausted");
    void *p = pool[pool_used++];
    memset(p, 0, 4096);
    return p;
}

u64 *pte_for(u64 va) {
    u64 *table = (u64 *)(read_cr3() & ~0xfffull);
    for (int level = 3; level > 0; level--) {
        u64 *e = &table[(va >> (12 + 9 * level)) & 511];
        if (!(*e & PTE_P))
            *e = (u64)alloc_page() | PTE_P | PTE_W | PTE_U;
        else if (*e & 0x80)
            die("pte_for: address inside a large page");
        table = (u64 *)(*e & 0x000ffffffffff000ull);
    }
    return &table[(va >> 12) & 511];
}

/* ---- IDT ---- */
struct gate {
    u16 off0, sel;
    u8 ist, attr;
    u16 off1;
    u32 off2, zero;
};
static struct gate idt[256] __attribute__((aligned(16)));
static handler_t handlers[256];
extern char isr_stubs[];

void set_handler(int v, handler_t h, int dpl) {
    u64 a = (u64)isr_stubs + 16 * (u64)v;
    idt[v] = (struct gate){(u16)a, 0x08, 0, (u8)(0x8e | (dpl << 5)), (u16)(a >> 16),
                           (u32)(a >> 32), 0};
    handlers[v] = h;
}

void isr_dispatch(struct frame *f) {
    handler_t h = f->vector < 256 ? handlers[f->vector] : 0;
    if (h) {
        h(f);
        return;
    }
    printf("FAIL %s: unexpected interrupt %lu (error %lx) at RIP %lx, CR2 %lx\n", test_name,
           f->vector, f->error, f->rip, read_cr2());
    failures++;
    finish();
}

static void idt_init(void) {
    for (int v = 0; v < 256; v++)
        set_handler(v, 0, 0);
    struct {
        u16 limit;
        u64 base;
    } __attribute__((packed)) p = {sizeof(idt) - 1, (u64)idt};
    __asm__ volatile("lidt %0" ::"m"(p));
}

/* ---- TSS ---- */
struct tss {
    u32 r0;
    u64 rsp0, rsp1, rsp2, r1, ist[7], r2;
    u16 r3, iomap;
} __attribute__((packed));
static struct tss tss;
static u8 irq_stack[16384] __attribute__((aligned(16)));
extern u64 gdt[];

void tss_init(void) {
    tss.rsp0 = (u64)irq_stack + sizeof(irq_stack);
    tss.iomap = sizeof(tss);
    u64 base = (u64)&tss, limit = sizeof(tss) - 1;
    gdt[5] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
             (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    gdt[6] = base >> 32;
    __asm__ volatile("ltr %w0" ::"r"(0x28));
}

/* ---- System calls ---- */
u64 (*syscall_handler)(u64, u64, u64, u64);

u64 syscall_dispatch(u64 nr, u64 a, u64 b, u64 c) {
    if (!syscall_handler)
        die("system call without a handler");
    return syscall_handler(nr, a, b, c);
}

/* ---- 8259 PIC ---- */
static u16 pic_masks = 0xffff;

static void pic_write_masks(void) {
    outb(0x21, (u8)pic_masks);
    outb(0xa1, (u8)(pic_masks >> 8));
}

void pic_init(void) {
    outb(0x20, 0x11); /* ICW1: edge, cascade, ICW4 */
    outb(0xa0, 0x11);
    outb(0x21, 0x20); /* ICW2: vectors */
    outb(0xa1, 0x28);
    outb(0x21, 0x04); /* ICW3: slave on IRQ 2 */
    outb(0xa1, 0x02);
    outb(0x21, 0x01); /* ICW4: 8086 mode */
    outb(0xa1, 0x01);
    pic_masks = 0xffff;
    pic_write_masks();
}

void pic_unmask(int irq) {
    pic_masks &= ~(1u << irq);
    if (irq >= 8)
        pic_masks &= ~(1u << 2);
    pic_write_masks();
}

void pic_mask(int irq) {
    pic_masks |= 1u << irq;
    pic_write_masks();
}

void pic_eoi(int irq) {
    if (irq >= 8)
        outb(0xa0, 0x20);
    outb(0x20, 0x20);
}

/* ---- Local APIC ---- */
static void spurious(struct frame *f) { (void)f; }

void lapic_init(void) {
    wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | (1 << 11));
    set_handler(0xff, spurious, 0);
    lapic_write(0xf0, 0x1ff);      /* SVR: enabled, spurious vector 0xff */
    lapic_write(0x320, 1 << 16);   /* LVT timer: masked */
    lapic_write(0x350, 0x700);     /* LVT LINT0: ExtINT */
    lapic_write(0x360, 0x400);     /* LVT LINT1: NMI */
    lapic_write(0x370, 1 << 16);   /* LVT error: masked */
    lapic_write(0x80, 0);          /* TPR: accept everything */
}

void lapic_eoi(void) { lapic_write(0xb0, 0); }

/* ---- Start ---- */
void rt_main(void) {
    idt_init();
    pic_init();
    test_main(mb_magic, mb_info_addr);
    finish();
}
