/* The runtime of the Multiboot system guests: serial output, checks, the exit
 * convention, interrupts, paging helpers and the legacy/APIC interrupt controllers.
 *
 * Exit convention: the guest writes 0x10 to port 0xf4 when every check passed and
 * 0x11 otherwise; isa-debug-exit (QEMU and reprise) turns value v into exit status
 * (v << 1) | 1, so 33 means PASS and 35 means FAIL. */
#ifndef MBRT_H
#define MBRT_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef long i64;

#define EXIT_PASS 0x10
#define EXIT_FAIL 0x11

/* ---- Provided by each test ---- */
void test_main(u32 magic, u32 info);
/* The test's name, printed in its result lines. */
extern const char test_name[];

/* ---- Output and checks ---- */
void putc_serial(char c);
void puts_serial(const char *s);
void printf(const char *fmt, ...);
/* Prints "PASS <test>: <what>" or "FAIL <test>: <what>" and counts failures. */
int check(int ok, const char *what);
#define CHECK(cond, what) check(!!(cond), what)
_Noreturn void finish(void);
_Noreturn void die(const char *why);

/* ---- Ports, MSRs, CPUID ---- */
static inline void outb(u16 p, u8 v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(p)); }
static inline u8 inb(u16 p) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline u64 rdmsr(u32 m) {
    u32 lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(m));
    return ((u64)hi << 32) | lo;
}
static inline void wrmsr(u32 m, u64 v) {
    __asm__ volatile("wrmsr" ::"c"(m), "a"((u32)v), "d"((u32)(v >> 32)));
}
static inline void cpuid(u32 leaf, u32 sub, u32 r[4]) {
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
static inline u64 rdtsc(void) {
    u32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((u64)hi << 32) | lo;
}
static inline u64 read_cr0(void) { u64 v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline void write_cr0(u64 v) { __asm__ volatile("mov %0, %%cr0" ::"r"(v) : "memory"); }
static inline u64 read_cr2(void) { u64 v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline u64 read_cr3(void) { u64 v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline void invlpg(u64 va) { __asm__ volatile("invlpg (%0)" ::"r"(va) : "memory"); }
static inline void sti_hlt_cli(void) { __asm__ volatile("sti; hlt; cli" ::: "memory"); }
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

#define MSR_EFER 0xC0000080
#define MSR_STAR 0xC0000081
#define MSR_LSTAR 0xC0000082
#define MSR_FMASK 0xC0000084
#define MSR_APIC_BASE 0x1B
#define MSR_TSC_DEADLINE 0x6E0

/* ---- Interrupts ---- */
struct frame {
    u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    u64 vector, error, rip, cs, rflags, rsp, ss;
};
typedef void (*handler_t)(struct frame *);
/* Installs a handler for a vector; dpl 3 lets ring 3 raise it with INT n. */
void set_handler(int vector, handler_t h, int dpl);

/* ---- Memory ---- */
void *memset(void *d, int c, u64 n);
void *memcpy(void *d, const void *s, u64 n);
int memcmp(const void *a, const void *b, u64 n);
u64 strlen(const char *s);
/* Whether w is one of the space-separated words of s (a kernel command line). */
int has_word(const char *s, const char *w);
/* A zeroed 4 KiB page from a small pool. */
void *alloc_page(void);
/* The 4 KiB PTE for va, creating tables (with 4 KiB pages) as needed. va must not be
 * inside the boot identity map's 2 MiB pages (use addresses at or above 512 GiB). */
u64 *pte_for(u64 va);
#define PTE_P 1ull
#define PTE_W 2ull
#define PTE_U 4ull
#define PTE_NX (1ull << 63)

/* ---- Interrupt controllers ---- */
/* Remaps the 8259 pair to vectors 0x20-0x2f and masks every line. */
void pic_init(void);
void pic_unmask(int irq);
void pic_mask(int irq);
void pic_eoi(int irq);
#define LAPIC_BASE 0xFEE00000ul
static inline u32 lapic_read(u32 off) { return *(volatile u32 *)(LAPIC_BASE + off); }
static inline void lapic_write(u32 off, u32 v) { *(volatile u32 *)(LAPIC_BASE + off) = v; }
/* Software-enables the local APIC (spurious vector 0xff) with every LVT masked but
 * LINT0, which is ExtINT: the 8259's interrupts reach the CPU ("virtual wire"). */
void lapic_init(void);
void lapic_eoi(void);

/* ---- Ring 3 and system calls (entry.S) ---- */
void enter_user(void (*entry)(void), void *user_stack_top);
void syscall_entry(void);
u64 syscall_dispatch(u64 nr, u64 a, u64 b, u64 c);
/* Set by a test: handles system calls other than 0 (which returns from enter_user). */
extern u64 (*syscall_handler)(u64 nr, u64 a, u64 b, u64 c);
/* Loads the TSS (RSP0 = the interrupt stack) into the GDT and TR. */
void tss_init(void);

extern u32 mb_magic, mb_info_addr;
extern char __load_start[], __bss_end[];

#endif
