/* String and memory functions: the runtime's C versions, what gcc inlines for
 * fixed-size copies, and the x86 string instructions (REP MOVS/STOS, REPE CMPS,
 * REPNE SCAS, LODS) in both directions. */
#include "rt.h"

static void rep_movsb(void *d, const void *s, size_t n) {
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}
static void rep_stosq(void *d, uint64_t v, size_t n) {
    __asm__ volatile("rep stosq" : "+D"(d), "+c"(n) : "a"(v) : "memory");
}
static void rep_movsd_backward(void *d_last, const void *s_last, size_t n) {
    __asm__ volatile("std; rep movsl; cld" : "+D"(d_last), "+S"(s_last), "+c"(n) : : "memory");
}
static size_t repne_scasb_len(const char *s) {
    size_t n = ~0UL;
    __asm__ volatile("repne scasb" : "+D"(s), "+c"(n) : "a"(0) : "memory");
    return ~n - 1;
}
static int repe_cmpsb(const void *a, const void *b, size_t n) {
    unsigned char eq;
    __asm__ volatile("repe cmpsb; sete %0" : "=q"(eq), "+S"(a), "+D"(b), "+c"(n) : : "memory", "cc");
    return eq;
}
static uint64_t lodsq_sum(const uint64_t *p, size_t n) {
    uint64_t sum = 0, v;
    while (n--) {
        __asm__ volatile("lodsq" : "=a"(v), "+S"(p) : : "memory");
        sum += v;
    }
    return sum;
}

static char *reverse(char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n / 2; i++) {
        char t = s[i];
        s[i] = s[n - 1 - i];
        s[n - 1 - i] = t;
    }
    return s;
}

static char *utoa(uint64_t v, char *buf) {
    char *p = buf;
    do
        *p++ = (char)('0' + v % 10);
    while (v /= 10);
    *p = 0;
    return reverse(buf);
}

static long atol(const char *s) {
    int neg = *s == '-';
    if (neg || *s == '+')
        s++;
    long v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (*s++ - '0');
    return neg ? -v : v;
}

struct big {
    char name[24];
    uint64_t vals[5];
};

static char a[300], b[300];
static uint64_t q[64];

int main(void) {
    /* Runtime functions. */
    CHECK_EQ(strlen(""), 0);
    CHECK_EQ(strlen("reprise"), 7);
    CHECK(strcmp("abc", "abc") == 0);
    CHECK(strcmp("abc", "abd") < 0);
    CHECK(strcmp("abcd", "abc") > 0);
    CHECK(strcmp("\xff", "a") > 0); /* compares as unsigned char */
    CHECK(strncmp("abcdef", "abcxyz", 3) == 0);
    CHECK(strncmp("abcdef", "abcxyz", 4) < 0);
    CHECK(strchr("hello", 'l') == (char *)"hello" + 2 || *strchr("hello", 'l') == 'l');
    CHECK(strchr("hello", 'z') == NULL);
    strcpy(a, "copy me");
    CHECK(strcmp(a, "copy me") == 0);

    for (int i = 0; i < 300; i++)
        a[i] = (char)i;
    memcpy(b, a, 300);
    CHECK(memcmp(a, b, 300) == 0);
    b[299]++;
    CHECK(memcmp(a, b, 300) < 0);
    memmove(a + 10, a, 100); /* overlapping, forwards */
    CHECK(a[10] == 0 && a[109] == 99);
    memmove(a, a + 10, 100); /* overlapping, backwards */
    CHECK(a[0] == 0 && a[99] == 99);
    memset(a, 'x', 50);
    CHECK(a[0] == 'x' && a[49] == 'x' && a[50] == 50);

    char buf[32];
    CHECK(strcmp(utoa(0, buf), "0") == 0);
    CHECK(strcmp(utoa(18446744073709551615UL, buf), "18446744073709551615") == 0);
    CHECK_EQ(atol("-9223372036854775807"), (uint64_t)-9223372036854775807L);
    CHECK_EQ(atol("+42"), 42);

    /* Structure copies gcc inlines. */
    struct big x = {"structure copy", {1, 2, 3, 4, 5}}, y;
    y = x;
    CHECK(strcmp(y.name, "structure copy") == 0 && y.vals[4] == 5);

    /* String instructions. */
    rep_movsb(b, "string instructions", 20);
    CHECK(strcmp(b, "string instructions") == 0);
    CHECK_EQ(repne_scasb_len(b), 19);
    CHECK(repe_cmpsb(b, "string instructions", 20));
    CHECK(!repe_cmpsb(b, "string instructionz", 20));
    rep_stosq(q, 0x0101010101010101UL, 64);
    CHECK_EQ(lodsq_sum(q, 64), 0x4040404040404040UL);
    for (int i = 0; i < 16; i++)
        ((uint32_t *)a)[i] = (uint32_t)i;
    /* Overlapping move done backwards (DF=1), like memmove to a higher address. */
    rep_movsd_backward((uint32_t *)a + 15 + 4, (uint32_t *)a + 15, 16);
    CHECK(((uint32_t *)a)[4] == 0 && ((uint32_t *)a)[19] == 15);
    uint64_t flags;
    __asm__ volatile("pushfq; popq %0" : "=r"(flags));
    CHECK_EQ(flags & 0x400, 0); /* DF clear again */
    return rt_finish("strings");
}
