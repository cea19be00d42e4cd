/* ring3_syscall: a GDT with user segments and a TSS, SYSCALL/SYSRET through
 * STAR/LSTAR/FMASK, and INT 0x80 through a DPL-3 interrupt gate returning with IRETQ.
 * Ring-3 code calls both N times; the kernel checks it was called from CPL 3 with the
 * arguments given, and the user code checks the results. A privileged instruction in
 * ring 3 raises #GP, and INT to a DPL-0 gate raises #GP too. */
#include "mbrt.h"

const char test_name[] = "ring3_syscall";

#define N 100
enum { SYS_EXIT = 0, SYS_ADD = 1, SYS_CPL = 2 };

static u64 kernel_calls, int80_calls, int80_from_ring3;
static u64 user_sum, user_ok, user_cpl, user_rflags_if;
static volatile u64 gp_count, gp_ring3;
static u8 user_stack[16384] __attribute__((aligned(16)));

static u64 on_syscall(u64 nr, u64 a, u64 b, u64 c) {
    kernel_calls++;
    switch (nr) {
    case SYS_ADD: return a + b + c;
    case SYS_CPL: {
        u16 cs;
        __asm__ volatile("mov %%cs, %0" : "=r"(cs));
        return cs & 3;
    }
    default: return (u64)-1;
    }
}

static void on_int80(struct frame *f) {
    int80_calls++;
    if ((f->cs & 3) == 3 && (f->ss & 3) == 3)
        int80_from_ring3++;
    f->rax = f->rdi * f->rsi;
}

/* #GP from ring 3: skip the faulting instruction (its length is in RBX, set by the
 * user code before the instruction). */
static void on_gp(struct frame *f) {
    gp_count++;
    if ((f->cs & 3) == 3)
        gp_ring3++;
    f->rip += f->rbx;
}

static inline u64 sys(u64 nr, u64 a, u64 b, u64 c) {
    u64 r;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return r;
}

static inline u64 int80(u64 a, u64 b) {
    u64 r;
    __asm__ volatile("int $0x80" : "=a"(r) : "D"(a), "S"(b) : "memory");
    return r;
}

static void user_main(void) {
    u16 cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    user_cpl = cs & 3;
    u64 ok = 0, sum = 0;
    for (u64 i = 0; i < N; i++) {
        u64 r = sys(SYS_ADD, i, 2 * i, 7);
        sum += r;
        if (r == 3 * i + 7)
            ok++;
        if (int80(i, i + 1) == i * (i + 1))
            ok++;
    }
    u64 rf;
    __asm__ volatile("pushfq; popq %0" : "=r"(rf));
    user_rflags_if = rf & 0x200;
    if (sys(SYS_CPL, 0, 0, 0) == 0)
        ok++;
    /* Privileged in ring 3: CLI (1 byte) and a write to CR3 (3 bytes) fault. */
    __asm__ volatile("mov $1, %%ebx; cli" ::: "rbx", "memory");
    __asm__ volatile("mov $3, %%ebx; mov %%rax, %%cr3" ::: "rbx", "memory");
    /* INT 0x81 has a DPL-0 gate: #GP (the instruction is 2 bytes). */
    __asm__ volatile("mov $2, %%ebx; int $0x81" ::: "rbx", "memory");
    user_sum = sum;
    user_ok = ok;
    sys(SYS_EXIT, 0, 0, 0);
}

static void unreachable(struct frame *f) {
    (void)f;
    die("INT 0x81 reached its handler from ring 3");
}

void test_main(u32 magic, u32 info) {
    (void)magic;
    (void)info;
    tss_init();
    u16 tr;
    __asm__ volatile("str %0" : "=r"(tr));
    CHECK(tr == 0x28, "TSS loaded (TR = 0x28)");
    set_handler(0x80, on_int80, 3);
    set_handler(0x81, unreachable, 0);
    set_handler(13, on_gp, 0);
    syscall_handler = on_syscall;
    wrmsr(MSR_STAR, (0x10ull << 48) | (0x08ull << 32));
    wrmsr(MSR_LSTAR, (u64)syscall_entry);
    wrmsr(MSR_FMASK, 0x700); /* TF, IF, DF */
    CHECK(rdmsr(MSR_EFER) & 1, "EFER.SCE set");

    enter_user(user_main, user_stack + sizeof user_stack);

    u16 cs, ss;
    __asm__ volatile("mov %%cs, %0; mov %%ss, %1" : "=r"(cs), "=r"(ss));
    CHECK(cs == 0x08, "back at CPL 0 after system call 0");
    CHECK(user_cpl == 3, "user code ran at CPL 3");
    CHECK(kernel_calls == N + 1, "SYSCALL reached the kernel N + 1 times");
    CHECK(int80_calls == N && int80_from_ring3 == N, "INT 0x80 from ring 3 N times");
    CHECK(user_ok == 2 * N + 1, "every system call returned the right value");
    CHECK(user_sum == 3 * (N * (N - 1) / 2) + 7 * N, "sum of SYSCALL results");
    CHECK(user_rflags_if == 0, "RFLAGS.IF stayed clear in ring 3");
    CHECK(gp_count == 3 && gp_ring3 == 3, "CLI, MOV CR3 and INT to a DPL-0 gate raise #GP in ring 3");
}
