/* sys_bench: a fixed amount of operating-system work for benches/system.rs. Ring-3
 * code runs ROUNDS rounds; in each it touches PAGES unmapped user pages (one demand
 * #PF each: the kernel maps a frame and returns), makes SYSCALLS_PER_PAGE system calls
 * per page (SYSCALL/SYSRET into a small C handler), and then asks the kernel to unmap
 * the pages again (one more system call: PTEs cleared, INVLPG each). The local APIC
 * timer runs periodically throughout and interrupts ring 3 (IF = 1 there).
 *
 * The work is fixed; the number of timer interrupts is not (it depends on the clock:
 * the instruction count under reprise and QEMU -icount, host time under plain QEMU),
 * so it is printed on a line of its own ("sys_bench: ticks N") that is not a check.
 * "rounds=N" on the command line changes the number of rounds. */
#include "mbrt.h"

const char test_name[] = "sys_bench";

#define DEFAULT_ROUNDS 2000
#define PAGES 16
#define SYSCALLS_PER_PAGE 8
#define USER_BASE 0x10000000000ul /* 1 TiB: PML4 entry 2, nothing mapped at boot */
#define TIMER_VEC 0x40
#define TIMER_INITIAL 20000 /* divide by 1: 20 us at 1 count per ns */
#define IF_VEC 0x81

enum { SYS_EXIT = 0, SYS_ADD = 1, SYS_UNMAP = 2 };

static u8 frames[PAGES][4096] __attribute__((aligned(4096)));
static u8 user_stack[16384] __attribute__((aligned(16)));
static u64 *ptes[PAGES];
static u64 rounds = DEFAULT_ROUNDS;
static volatile u64 ticks, faults, bad_faults, syscalls, unmaps;
static u64 user_sum, user_ok, user_rflags;

static void on_timer(struct frame *f) {
    (void)f;
    ticks++;
    lapic_eoi();
}

/* Ring 3 asks for interrupts on (it cannot STI itself at IOPL 0). */
static void on_enable_if(struct frame *f) { f->rflags |= 0x200; }

static void on_pf(struct frame *f) {
    u64 cr2 = read_cr2();
    u64 page = (cr2 - USER_BASE) >> 12;
    faults++;
    if (cr2 < USER_BASE || page >= PAGES || (f->error & 5) != 4 || (f->cs & 3) != 3) {
        bad_faults++;
        die("unexpected page fault");
    }
    *ptes[page] = (u64)frames[page] | PTE_P | PTE_W | PTE_U;
    invlpg(cr2);
}

static u64 on_syscall(u64 nr, u64 a, u64 b, u64 c) {
    syscalls++;
    switch (nr) {
    case SYS_ADD: return a + b + c;
    case SYS_UNMAP:
        unmaps++;
        for (int i = 0; i < PAGES; i++) {
            *ptes[i] = 0;
            invlpg(USER_BASE + 4096ul * i);
        }
        return 0;
    default: return (u64)-1;
    }
}

static inline u64 sys(u64 nr, u64 a, u64 b, u64 c) {
    u64 r;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return r;
}

static void user_main(void) {
    __asm__ volatile("int $0x81" ::: "memory");
    __asm__ volatile("pushfq; popq %0" : "=r"(user_rflags));
    if (!(user_rflags & 0x200))
        die("ring 3 runs with RFLAGS.IF = 0");
    u64 ok = 0, sum = 0;
    for (u64 r = 0; r < rounds; r++) {
        for (u64 p = 0; p < PAGES; p++) {
            volatile u64 *q = (volatile u64 *)(USER_BASE + 4096 * p + 8 * (r & 511));
            *q = r + p; /* a write to an unmapped page: #PF, then it completes */
            sum += *q;
            for (u64 k = 0; k < SYSCALLS_PER_PAGE; k++)
                if (sys(SYS_ADD, r, p, k) == r + p + k)
                    ok++;
        }
        if (sys(SYS_UNMAP, 0, 0, 0) == 0)
            ok++;
    }
    user_sum = sum;
    user_ok = ok;
    sys(SYS_EXIT, 0, 0, 0);
}

/* "rounds=N" anywhere on the Multiboot command line. */
static void parse_cmdline(u32 info) {
    if (!info)
        return;
    const u32 *mbi = (const u32 *)(u64)info;
    if (!(mbi[0] & 4) || !mbi[4])
        return;
    const char *s = (const char *)(u64)mbi[4];
    for (; *s; s++) {
        if ((s == (const char *)(u64)mbi[4] || s[-1] == ' ') && !memcmp(s, "rounds=", 7)) {
            u64 n = 0;
            for (s += 7; *s >= '0' && *s <= '9'; s++)
                n = n * 10 + (u64)(*s - '0');
            if (n)
                rounds = n;
            return;
        }
    }
}

void test_main(u32 magic, u32 info) {
    (void)magic;
    parse_cmdline(info);
    tss_init();
    set_handler(14, on_pf, 0);
    set_handler(TIMER_VEC, on_timer, 0);
    set_handler(IF_VEC, on_enable_if, 3);
    syscall_handler = on_syscall;
    wrmsr(MSR_STAR, (0x10ull << 48) | (0x08ull << 32));
    wrmsr(MSR_LSTAR, (u64)syscall_entry);
    wrmsr(MSR_FMASK, 0x700); /* TF, IF, DF */
    for (int i = 0; i < PAGES; i++)
        ptes[i] = pte_for(USER_BASE + 4096ul * i);

    lapic_init();
    lapic_write(0x3e0, 0xb); /* divide by 1 */
    lapic_write(0x320, TIMER_VEC | (1 << 17)); /* periodic */
    lapic_write(0x380, TIMER_INITIAL);

    /* Wait for the first tick with HLT: reprise (as of this writing) notices a newly
     * programmed timer deadline only when the CPU next leaves its run slice, which HLT
     * does; without this the timer would start up to 50M instructions late. */
    while (!ticks)
        sti_hlt_cli();
    enter_user(user_main, user_stack + sizeof user_stack);

    lapic_write(0x320, TIMER_VEC | (1 << 16)); /* masked */
    lapic_write(0x380, 0);
    u64 n = rounds * PAGES;
    printf("sys_bench: rounds %lu, page faults %lu, system calls %lu\n", rounds, faults,
           syscalls);
    printf("sys_bench: ticks %lu\n", ticks);
    CHECK(faults == n && !bad_faults, "one demand fault per page per round");
    CHECK(unmaps == rounds, "every round unmapped its pages");
    CHECK(syscalls == n * SYSCALLS_PER_PAGE + rounds, "every system call reached the kernel");
    CHECK(user_ok == n * SYSCALLS_PER_PAGE + rounds, "every system call returned the right value");
    CHECK(user_sum == rounds * (PAGES * (PAGES - 1) / 2) + PAGES * (rounds * (rounds - 1) / 2),
          "data written through fresh mappings reads back");
    CHECK(ticks > 0, "the APIC timer interrupted ring 3");
}
