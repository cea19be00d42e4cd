/* Integer arithmetic at 64, 32, 16 and 8 bits: add/sub/mul/div/rem, shifts and
 * rotates, overflow and carry detection, bit counting, and the division corner cases. */
#include "rt.h"

static void test_add_sub(void) {
    CHECK_EQ(OPAQUE(0xffffffffffffffffUL) + OPAQUE(1UL), 0);
    CHECK_EQ(OPAQUE(0x7fffffffu) + OPAQUE(1u), 0x80000000u);
    CHECK_EQ((uint16_t)(OPAQUE((uint16_t)0xffff) + OPAQUE((uint16_t)2)), 1);
    CHECK_EQ((uint8_t)(OPAQUE((uint8_t)200) + OPAQUE((uint8_t)100)), 44);
    CHECK_EQ(OPAQUE(5L) - OPAQUE(7L), (uint64_t)-2L);
    CHECK_EQ((int8_t)(OPAQUE((int8_t)-128) - OPAQUE((int8_t)1)), 127);

    long r;
    CHECK(__builtin_add_overflow(OPAQUE(0x7fffffffffffffffL), OPAQUE(1L), &r));
    CHECK(!__builtin_add_overflow(OPAQUE(0x7ffffffffffffffeL), OPAQUE(1L), &r));
    int ri;
    CHECK(__builtin_sub_overflow(OPAQUE((int)0x80000000), OPAQUE(1), &ri));
    CHECK(__builtin_mul_overflow(OPAQUE(0x10000), OPAQUE(0x10000), &ri));
    CHECK(!__builtin_mul_overflow(OPAQUE(0x7fff), OPAQUE(0x10000), &ri));
    unsigned long ru;
    CHECK(__builtin_add_overflow(OPAQUE(~0UL), OPAQUE(1UL), &ru));
    CHECK(__builtin_sub_overflow(OPAQUE(0UL), OPAQUE(1UL), &ru));
    CHECK(__builtin_mul_overflow(OPAQUE(1UL << 33), OPAQUE(1UL << 31), &ru));

    /* 128-bit arithmetic: add with carry, sub with borrow. */
    unsigned __int128 a = ((unsigned __int128)OPAQUE(1UL) << 64) - 1;
    a += OPAQUE(1UL);
    CHECK_EQ((uint64_t)(a >> 64), 1);
    CHECK_EQ((uint64_t)a, 0);
    a -= OPAQUE(2UL);
    CHECK_EQ((uint64_t)(a >> 64), 0);
    CHECK_EQ((uint64_t)a, 0xfffffffffffffffeUL);
}

static void test_mul_div(void) {
    CHECK_EQ(OPAQUE(123456789UL) * OPAQUE(987654321UL), 121932631112635269UL);
    CHECK_EQ(OPAQUE(-7L) * OPAQUE(6L), (uint64_t)-42L);
    CHECK_EQ(OPAQUE(0xffffu) * OPAQUE(0xffffu), 0xfffe0001u);
    CHECK_EQ((uint16_t)(OPAQUE((uint16_t)300) * OPAQUE((uint16_t)300)), (uint16_t)90000);
    unsigned __int128 p = (unsigned __int128)OPAQUE(0xffffffffffffffffUL) * OPAQUE(0xffffffffffffffffUL);
    CHECK_EQ((uint64_t)(p >> 64), 0xfffffffffffffffeUL);
    CHECK_EQ((uint64_t)p, 1);
    __int128 sp = (__int128)OPAQUE(-3L) * OPAQUE(0x7fffffffffffffffL);
    CHECK_EQ((uint64_t)(sp >> 64), (uint64_t)-2L);
    CHECK_EQ((uint64_t)sp, 0x8000000000000003UL);

    CHECK_EQ(OPAQUE(1000000007UL) / OPAQUE(13UL), 76923077UL);
    CHECK_EQ(OPAQUE(1000000007UL) % OPAQUE(13UL), 6);
    CHECK_EQ(OPAQUE(-17L) / OPAQUE(5L), (uint64_t)-3L);
    CHECK_EQ(OPAQUE(-17L) % OPAQUE(5L), (uint64_t)-2L);
    CHECK_EQ(OPAQUE(17L) / OPAQUE(-5L), (uint64_t)-3L);
    CHECK_EQ(OPAQUE(-17) / OPAQUE(5), -3);
    CHECK_EQ(OPAQUE(-17) % OPAQUE(-5), -2);
    CHECK_EQ(OPAQUE(0xfffffffeu) / OPAQUE(3u), 0x55555554u);
    CHECK_EQ(OPAQUE(0x8000000000000000UL) / OPAQUE(0xffffffffUL), 0x80000000UL);
    /* INT64_MIN / -1 would fault; INT64_MIN / 1 and / 2 must not. */
    CHECK_EQ(OPAQUE((long)0x8000000000000000UL) / OPAQUE(1L), 0x8000000000000000UL);
    CHECK_EQ(OPAQUE((long)0x8000000000000000UL) / OPAQUE(2L), 0xc000000000000000UL);

    /* 128 / 64 division through inline asm (DIV r64 with RDX != 0). */
    uint64_t q, r, hi = 0x1234, lo = 0x56789abcdef01234UL, d = 0x100000001UL;
    __asm__("divq %4" : "=a"(q), "=d"(r) : "a"(lo), "d"(hi), "r"(d));
    unsigned __int128 n = (unsigned __int128)hi << 64 | lo;
    CHECK_EQ(q, (uint64_t)(n / d));
    CHECK_EQ(r, (uint64_t)(n % d));
    /* 8-bit and 16-bit DIV/IDIV. */
    uint16_t ax = 1000;
    uint8_t d8 = 7;
    __asm__("divb %1" : "+a"(ax) : "q"(d8));
    CHECK_EQ(ax & 0xff, 142);
    CHECK_EQ(ax >> 8, 6);
    int16_t sax = -701;
    int8_t sd8 = 7;
    __asm__("idivb %1" : "+a"(sax) : "q"(sd8));
    CHECK_EQ((int8_t)(sax & 0xff), -100);
    CHECK_EQ((int8_t)(sax >> 8), -1);
    uint16_t lo16 = 0x2345, hi16 = 0x1, d16 = 0x100;
    __asm__("divw %2" : "+a"(lo16), "+d"(hi16) : "r"(d16));
    CHECK_EQ(lo16, 0x123);
    CHECK_EQ(hi16, 0x45);
}

static void test_shifts(void) {
    CHECK_EQ(OPAQUE(1UL) << OPAQUE(63), 0x8000000000000000UL);
    CHECK_EQ(OPAQUE(0x8000000000000000UL) >> OPAQUE(63), 1);
    CHECK_EQ(OPAQUE((long)0x8000000000000000UL) >> OPAQUE(63), (uint64_t)-1L);
    CHECK_EQ(OPAQUE(-100) >> OPAQUE(3), -13);
    CHECK_EQ(OPAQUE(0x80000000u) >> OPAQUE(31), 1);
    CHECK_EQ((uint8_t)(OPAQUE((uint8_t)0x81) << 1), 2);
    CHECK_EQ((int8_t)OPAQUE((int8_t)-128) >> 7, -1);
    uint64_t x = OPAQUE(0x0123456789abcdefUL);
    CHECK_EQ((x << 8) | (x >> 56), 0x23456789abcdef01UL); /* rol */
    CHECK_EQ((x >> 4) | (x << 60), 0xf0123456789abcdeUL); /* ror */
    uint32_t y = OPAQUE(0x80000001u);
    CHECK_EQ((y << 1) | (y >> 31), 3u);
    /* SHLD/SHRD through 128-bit shifts. */
    unsigned __int128 w = ((unsigned __int128)OPAQUE(0xdeadbeefUL) << 64) | OPAQUE(0x0123456789abcdefUL);
    unsigned s = OPAQUE(12u);
    CHECK_EQ((uint64_t)((w << s) >> 64), 0xdeadbeef012UL);
    CHECK_EQ((uint64_t)(w >> s), 0xeef0123456789abcUL);
}

static void test_bits(void) {
    CHECK_EQ(__builtin_popcountl(OPAQUE(0xf0f0f0f0f0f0f0f0UL)), 32);
    CHECK_EQ(__builtin_ctzl(OPAQUE(0x100000000UL)), 32);
    CHECK_EQ(__builtin_clzl(OPAQUE(0x100000000UL)), 31);
    CHECK_EQ(__builtin_ctz(OPAQUE(0x80000000u)), 31);
    CHECK_EQ(__builtin_clz(OPAQUE(1u)), 31);
    CHECK_EQ(__builtin_bswap64(OPAQUE(0x0102030405060708UL)), 0x0807060504030201UL);
    CHECK_EQ(__builtin_bswap32(OPAQUE(0x01020304u)), 0x04030201u);
    CHECK_EQ(__builtin_bswap16(OPAQUE((uint16_t)0x0102)), 0x0201);
    CHECK_EQ(__builtin_parity(OPAQUE(7u)), 1);
    /* Sign and zero extension. */
    CHECK_EQ((int64_t)(int8_t)OPAQUE((uint8_t)0x80), (uint64_t)-128L);
    CHECK_EQ((int64_t)(int16_t)OPAQUE((uint16_t)0x8000), (uint64_t)-32768L);
    CHECK_EQ((int64_t)(int32_t)OPAQUE(0x80000000u), 0xffffffff80000000UL);
    CHECK_EQ((uint64_t)OPAQUE(0xffffffffu), 0xffffffffUL);
    /* Comparisons of every width, signed and unsigned. */
    CHECK(OPAQUE(-1L) < OPAQUE(0L));
    CHECK(OPAQUE(~0UL) > OPAQUE(0UL));
    CHECK(OPAQUE((int8_t)-1) < OPAQUE((int8_t)1));
    CHECK(OPAQUE((uint8_t)255) > OPAQUE((uint8_t)1));
    CHECK(OPAQUE((int16_t)-300) < OPAQUE((int16_t)300));
    /* Branch-free min/max (CMOV) and SETcc. */
    long a = OPAQUE(-5L), b = OPAQUE(3L);
    CHECK_EQ(a < b ? a : b, (uint64_t)-5L);
    CHECK_EQ((unsigned long)a < (unsigned long)b ? a : b, 3);
}

/* A mixing loop over all widths: a checksum known from a host run of the same C. */
static uint64_t mix(void) {
    uint64_t h = 0x9e3779b97f4a7c15UL;
    uint32_t h32 = 0x12345678;
    uint16_t h16 = 0xbeef;
    uint8_t h8 = 0x5a;
    for (uint32_t i = 0; i < OPAQUE(1000u); i++) {
        h ^= h >> 29;
        h *= 0xbf58476d1ce4e5b9UL;
        h += i;
        h32 = (h32 << 5 | h32 >> 27) ^ (uint32_t)h;
        h32 += h32 / (i + 1);
        h16 = (uint16_t)(h16 * 31 + (h32 & 0xffff));
        h8 = (uint8_t)(h8 ^ (h16 >> 3)) + (uint8_t)i;
        if ((int32_t)h32 < 0)
            h ^= (uint64_t)(int64_t)(int16_t)h16;
    }
    return h ^ h32 ^ ((uint64_t)h16 << 32) ^ ((uint64_t)h8 << 48);
}

int main(void) {
    test_add_sub();
    test_mul_div();
    test_shifts();
    test_bits();
    uint64_t m = mix();
    printf("intmath: mix = %#lx\n", m);
    CHECK_EQ(m, 0x2499b0f8e1969ebcUL);
    return rt_finish("intmath");
}
