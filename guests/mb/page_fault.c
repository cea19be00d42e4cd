/* page_fault: a #PF handler that maps pages on demand (CR2, error code bits), then
 * write protection with CR0.WP, an NX fault, and a ring-3 read of a supervisor page
 * (error code U), each counted. */
#include "mbrt.h"

const char test_name[] = "page_fault";

#define DEMAND_BASE 0x8000000000ul /* 512 GiB: PML4 entry 1, nothing mapped */
#define DEMAND_PAGES 16
#define WP_PAGE (DEMAND_BASE + 0x100000)
#define NX_PAGE (DEMAND_BASE + 0x200000)
#define SUP_PAGE (DEMAND_BASE + 0x300000)

enum { MODE_DEMAND, MODE_WP, MODE_NX, MODE_USER };
static int mode;
static volatile u64 faults, bad_cr2, bad_error, last_error, last_cr2;

static void on_pf(struct frame *f) {
    u64 cr2 = read_cr2();
    faults++;
    last_error = f->error;
    last_cr2 = cr2;
    u64 *pte;
    switch (mode) {
    case MODE_DEMAND:
        if (cr2 < DEMAND_BASE || cr2 >= DEMAND_BASE + DEMAND_PAGES * 4096ul) {
            bad_cr2++;
            die("page fault outside the demand-paged range");
        }
        if (f->error & 1) /* P set: a protection fault, not a missing page */
            bad_error++;
        pte = pte_for(cr2);
        *pte = (u64)alloc_page() | PTE_P | PTE_W;
        break;
    case MODE_WP:
        if (cr2 != WP_PAGE + 8)
            bad_cr2++;
        if ((f->error & 0x1f) != 0x3) /* present, write, supervisor */
            bad_error++;
        pte = pte_for(cr2);
        *pte |= PTE_W;
        break;
    case MODE_NX:
        if (cr2 != NX_PAGE)
            bad_cr2++;
        if ((f->error & 0x1f) != 0x11) /* present, instruction fetch */
            bad_error++;
        pte = pte_for(cr2);
        *pte &= ~PTE_NX;
        break;
    case MODE_USER:
        if (cr2 != SUP_PAGE + 16 || (f->cs & 3) != 3)
            bad_cr2++;
        if ((f->error & 0x1f) != 0x5) /* present, read, user */
            bad_error++;
        pte = pte_for(cr2);
        *pte |= PTE_U;
        break;
    }
    invlpg(cr2);
}

static volatile u64 user_value;
static u8 user_stack[4096] __attribute__((aligned(16)));

static void user_main(void) {
    user_value = *(volatile u64 *)(SUP_PAGE + 16);
    __asm__ volatile("syscall" ::"a"(0ul) : "rcx", "r11", "memory"); /* back to CPL 0 */
}

void test_main(u32 magic, u32 info) {
    (void)magic;
    (void)info;
    set_handler(14, on_pf, 0);

    /* Demand paging: the first touch of each page faults once; writes and reads after
     * that do not fault. */
    mode = MODE_DEMAND;
    volatile u64 *p = (volatile u64 *)DEMAND_BASE;
    for (int i = 0; i < DEMAND_PAGES - 1; i++)
        p[i * 512] = 0x1000 + i;
    u64 sum = 0;
    for (int i = 0; i < DEMAND_PAGES - 1; i++)
        sum += p[i * 512] + p[i * 512 + 1];
    CHECK(faults == DEMAND_PAGES - 1, "one fault per page touched");
    CHECK(!bad_cr2 && !bad_error, "CR2 in range, error code P = 0");
    CHECK((last_error & 2) && !(last_error & 4), "error code: write from supervisor");
    CHECK(sum == (DEMAND_PAGES - 1) * 0x1000 + (DEMAND_PAGES - 1) * (DEMAND_PAGES - 2) / 2,
          "data written through new mappings reads back");
    u64 before = faults;
    (void)*(volatile u64 *)(DEMAND_BASE + 4096 + 16);
    CHECK(faults == before, "mapped pages do not fault again");
    /* A read of the last page: a fault with W = 0, and the new page reads zero. */
    u64 v = *(volatile u64 *)(DEMAND_BASE + (DEMAND_PAGES - 1) * 4096ul + 24);
    CHECK(faults == before + 1 && !(last_error & 2) && !bad_cr2,
          "a read fault has error code W = 0");
    CHECK(v == 0, "a page mapped on demand reads zero");

    /* Write protection: a read-only page. CR0.WP = 0: the kernel writes anyway. */
    mode = MODE_WP;
    u64 *wp = pte_for(WP_PAGE);
    *wp = (u64)alloc_page() | PTE_P;
    invlpg(WP_PAGE);
    before = faults;
    write_cr0(read_cr0() & ~(1ul << 16));
    *(volatile u64 *)(WP_PAGE + 8) = 1;
    CHECK(faults == before, "CR0.WP = 0: supervisor write to a read-only page succeeds");
    *wp &= ~PTE_W;
    invlpg(WP_PAGE);
    write_cr0(read_cr0() | (1ul << 16));
    (void)*(volatile u64 *)(WP_PAGE + 8);
    CHECK(faults == before, "CR0.WP = 1: reading a read-only page does not fault");
    *(volatile u64 *)(WP_PAGE + 8) = 2;
    CHECK(faults == before + 1, "CR0.WP = 1: supervisor write faults once");
    CHECK(!bad_cr2 && !bad_error, "write-protect fault: CR2 and error code P|W");
    CHECK(*(volatile u64 *)(WP_PAGE + 8) == 2, "the write completes after the handler");

    /* NX: a page holding RET, mapped no-execute. */
    u32 r[4];
    cpuid(0x80000001, 0, r);
    if (!(r[3] & (1 << 20))) {
        CHECK(0, "CPUID reports NX");
        return;
    }
    CHECK(rdmsr(MSR_EFER) & (1 << 11), "EFER.NXE set");
    mode = MODE_NX;
    u8 *code = alloc_page();
    code[0] = 0xc3; /* ret */
    u64 *nx = pte_for(NX_PAGE);
    *nx = (u64)code | PTE_P | PTE_W | PTE_NX;
    invlpg(NX_PAGE);
    *(volatile u8 *)NX_PAGE = 0xc3; /* data access to an NX page is fine */
    before = faults;
    CHECK(faults == before, "data access to an NX page does not fault");
    ((void (*)(void))NX_PAGE)();
    CHECK(faults == before + 1, "executing an NX page faults once");
    CHECK(!bad_cr2 && !bad_error, "NX fault: CR2 = the target, error code P|I/D");
    ((void (*)(void))NX_PAGE)();
    CHECK(faults == before + 1, "after clearing NX the page executes");

    /* Ring 3 reads a supervisor-only page: #PF with U set; the handler opens it. */
    tss_init();
    wrmsr(MSR_STAR, (0x10ull << 48) | (0x08ull << 32));
    wrmsr(MSR_LSTAR, (u64)syscall_entry);
    wrmsr(MSR_FMASK, 0x700);
    mode = MODE_USER;
    u64 *sup = pte_for(SUP_PAGE);
    u64 *page = alloc_page();
    page[2] = 0x5a5a;
    *sup = (u64)page | PTE_P | PTE_W;
    invlpg(SUP_PAGE);
    before = faults;
    enter_user(user_main, user_stack + sizeof user_stack);
    CHECK(faults == before + 1, "a ring-3 read of a supervisor page faults once");
    CHECK(!bad_cr2 && !bad_error, "user fault: CR2, CS.RPL 3 and error code P|U");
    CHECK(user_value == 0x5a5a, "the read completes once the page is user-accessible");
}
