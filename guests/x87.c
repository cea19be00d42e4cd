/* x87 `long double` arithmetic (80-bit extended precision): the four operations,
 * FSQRT, integer conversions (FILD/FISTP), comparisons, rounding at 64 mantissa bits,
 * and exact factorials. Only operations IEEE-754 fixes exactly are checked (no
 * transcendental functions). */
#include "rt.h"

struct ext {
    uint64_t mant;
    uint16_t se; /* sign and exponent */
};
static struct ext ebits(long double x) {
    union {
        long double x;
        struct {
            uint64_t mant;
            uint16_t se;
        } s;
    } u;
    memset(&u, 0, sizeof u);
    u.x = x;
    struct ext e = {u.s.mant, u.s.se};
    return e;
}
#define CHECK_EXT(x, m, e)                                                         \
    do {                                                                           \
        struct ext _e = ebits(x);                                                  \
        CHECK_EQ(_e.mant, m);                                                      \
        CHECK_EQ(_e.se, e);                                                        \
    } while (0)

static long double opaque(long double x) {
    __asm__ volatile("" : "+t"(x));
    return x;
}
static long double fsqrt(long double x) {
    __asm__("fsqrt" : "+t"(x));
    return x;
}

int main(void) {
    CHECK_EQ(sizeof(long double), 16);
    long double one = opaque(1.0L), two = opaque(2.0L), three = opaque(3.0L);
    CHECK_EXT(one, 0x8000000000000000UL, 0x3fff);
    CHECK_EXT(-two, 0x8000000000000000UL, 0xc000);
    CHECK_EXT(one / three, 0xaaaaaaaaaaaaaaabUL, 0x3ffd);
    CHECK_EXT(two / three, 0xaaaaaaaaaaaaaaabUL, 0x3ffe);
    CHECK_EXT(fsqrt(two), 0xb504f333f9de6484UL, 0x3fff);
    CHECK_EXT(opaque(0.1L) + opaque(0.2L), 0x999999999999999aUL, 0x3ffd);
    CHECK_EXT(three * three - one, 0x8000000000000000UL, 0x4002);

    /* 64-bit mantissa: 1 + 2^-63 is representable, 1 + 2^-64 rounds to even. */
    long double eps63 = opaque(1.0L / 9223372036854775808.0L);
    CHECK(one + eps63 != one);
    CHECK(one + eps63 / 2 == one);
    CHECK(one + eps63 / 2 + eps63 / 2 == one);
    CHECK(one + (eps63 / 2 + eps63 / 2) != one);

    /* Exact integers up to 2^64. */
    long double f = one;
    for (int i = 2; i <= 20; i++)
        f *= i;
    CHECK_EQ((long)f, 2432902008176640000L);
    CHECK_EQ((long)opaque(-123456789012345.0L), (uint64_t)-123456789012345L);
    CHECK_EQ((long)opaque(2.5L), 2); /* truncation (C conversion) */
    CHECK_EQ((long)opaque(-2.5L), (uint64_t)-2L);
    long double big = (long double)OPAQUE(0x7fffffffffffffffL);
    CHECK_EXT(big, 0xfffffffffffffffeUL, 0x403d);
    CHECK_EQ((unsigned long)opaque(18446744073709551615.0L), 18446744073709551615UL);
    CHECK_EQ(__builtin_rintl(opaque(2.5L)), 2); /* FRNDINT, round to nearest even */
    CHECK_EQ(__builtin_rintl(opaque(3.5L)), 4);

    /* Conversions to and from double and float. */
    double d = (double)(one / three);
    union {
        double d;
        uint64_t u;
    } du = {.d = d};
    CHECK_EQ(du.u, 0x3fd5555555555555UL);
    CHECK_EXT((long double)OPAQUE(0.1f), 0xcccccd0000000000UL, 0x3ffb);

    /* Comparisons, signs, infinities, NaN. */
    CHECK(three > two && two < three && !(two > three));
    long double zero = opaque(0.0L);
    long double inf = one / zero;
    CHECK_EXT(inf, 0x8000000000000000UL, 0x7fff);
    long double nan = zero / zero;
    CHECK(nan != nan);
    CHECK(!(nan < one) && !(nan >= one));
    CHECK_EXT(nan, 0xc000000000000000UL, 0xffff); /* the default (negative) QNaN */
    CHECK_EXT(-zero, 0, 0x8000);
    CHECK(__builtin_fabsl(opaque(-7.25L)) == 7.25L);

    /* Harmonic sum in extended precision, exact for this operation order. */
    long double h = 0;
    for (int k = 1; k <= 1000; k++)
        h += one / k;
    struct ext he = ebits(h);
    printf("x87: H(1000) = mant %#lx exp %#x\n", he.mant, he.se);
    CHECK_EQ(he.mant, 0xef88fa2fa730cec4UL); /* checked with exact rationals in Python */
    CHECK_EQ(he.se, 0x4001);
    return rt_finish("x87");
}
