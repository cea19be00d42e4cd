/* SSE floating point as gcc emits it for double and float: arithmetic, square roots,
 * conversions, comparisons with NaN, infinities and denormals, min/max, and loops the
 * compiler vectorizes. Results are checked bit for bit (IEEE-754 fixes them). */
#include "rt.h"

#define OPAQUE_F(x) ({ __typeof__(x) _v = (x); __asm__ volatile("" : "+x"(_v)); _v; })

static uint64_t bits(double d) {
    union {
        double d;
        uint64_t u;
    } u = {.d = d};
    return u.u;
}
static uint32_t fbits(float f) {
    union {
        float f;
        uint32_t u;
    } u = {.f = f};
    return u.u;
}
static double sqrt_sd(double x) {
    __asm__("sqrtsd %1, %0" : "=x"(x) : "x"(x));
    return x;
}
static float sqrt_ss(float x) {
    __asm__("sqrtss %1, %0" : "=x"(x) : "x"(x));
    return x;
}
static long cvtsd2si(double x) {
    long r;
    __asm__("cvtsd2si %1, %0" : "=r"(r) : "x"(x));
    return r;
}

static float fa[1024], fb[1024];
static double da[512];

int main(void) {
    double one = OPAQUE_F(1.0), two = OPAQUE_F(2.0), three = OPAQUE_F(3.0);
    double tenth = OPAQUE_F(0.1), fifth = OPAQUE_F(0.2);
    CHECK_EQ(bits(tenth + fifth), 0x3fd3333333333334UL);
    CHECK_EQ(bits(one / three), 0x3fd5555555555555UL);
    CHECK_EQ(bits(tenth * three), 0x3fd3333333333334UL);
    CHECK_EQ(bits(one - tenth), 0x3feccccccccccccdUL);
    CHECK_EQ(bits(sqrt_sd(two)), 0x3ff6a09e667f3bcdUL);
    float fone = OPAQUE_F(1.0f), fthree = OPAQUE_F(3.0f);
    CHECK_EQ(fbits(fone / fthree), 0x3eaaaaabu);
    CHECK_EQ(fbits(sqrt_ss(OPAQUE_F(2.0f))), 0x3fb504f3u);
    CHECK_EQ(bits((double)OPAQUE_F(0.1f)), 0x3fb99999a0000000UL);
    CHECK_EQ(fbits((float)tenth), 0x3dcccccdu);

    /* Conversions. */
    CHECK_EQ((long)OPAQUE_F(-2.7), (uint64_t)-2L);
    CHECK_EQ((int)OPAQUE_F(2.99f), 2);
    CHECK_EQ(cvtsd2si(OPAQUE_F(2.5)), 2); /* round to nearest even */
    CHECK_EQ(cvtsd2si(OPAQUE_F(3.5)), 4);
    CHECK_EQ(cvtsd2si(OPAQUE_F(-2.5)), (uint64_t)-2L);
    CHECK_EQ((long)OPAQUE_F(1e19), 0x8000000000000000UL); /* integer indefinite */
    CHECK_EQ(bits((double)OPAQUE(9007199254740993L)), bits(9007199254740992.0));
    CHECK_EQ(bits((double)OPAQUE(0xffffffffffffffffUL)), 0x43f0000000000000UL);
    CHECK_EQ((unsigned long)OPAQUE_F(1e19), 10000000000000000000UL);
    CHECK_EQ((unsigned)OPAQUE_F(4e9), 4000000000u);
    CHECK_EQ(fbits((float)OPAQUE(16777217)), 0x4b800000u);

    /* Special values. */
    double zero = OPAQUE_F(0.0), inf = one / zero;
    CHECK_EQ(bits(inf), 0x7ff0000000000000UL);
    CHECK_EQ(bits(-one / zero), 0xfff0000000000000UL);
    double nan = zero / zero;
    CHECK_EQ(bits(nan), 0xfff8000000000000UL); /* the x86 default NaN */
    CHECK(nan != nan);
    CHECK(!(nan < one) && !(nan > one) && !(nan == one));
    CHECK(inf > 1e308);
    CHECK_EQ(bits(zero * -one), 0x8000000000000000UL);
    CHECK(zero == -zero);
    double tiny = OPAQUE_F(1e-310); /* denormal */
    CHECK_EQ(bits(tiny * two), bits(2e-310));
    CHECK_EQ(bits(OPAQUE_F(2.2250738585072014e-308) / two), 0x0008000000000000UL);
    CHECK_EQ(bits(OPAQUE_F(1e308) * 10.0), 0x7ff0000000000000UL);

    /* min/max as gcc emits them (MINSD/MAXSD operand order matters with NaN). */
    double m = one < two ? one : two;
    CHECK_EQ(bits(m), bits(1.0));
    double mn = nan < one ? nan : one;
    CHECK_EQ(bits(mn), bits(1.0));
    CHECK(one > two ? 0 : 1);

    /* Series and loops: exact results fixed by the operation order. */
    double s = 0;
    for (int k = 1; k <= 1000; k++)
        s += 1.0 / ((double)k * k);
    printf("sse: sum 1/k^2 = %#lx\n", bits(s));
    CHECK_EQ(bits(s), 0x3ffa4d8e550a946eUL); /* same sum in Python */
    double x = OPAQUE_F(10.0);
    for (int i = 0; i < 20; i++)
        x = 0.5 * (x + two / x); /* Newton for sqrt(2) */
    CHECK_EQ(bits(x), 0x3ff6a09e667f3bccUL); /* one ulp below sqrt(2) */

    /* Vectorizable loops over small integers: exact. */
    for (int i = 0; i < 1024; i++) {
        fa[i] = (float)(i % 17);
        fb[i] = (float)(i % 5) - 2.0f;
    }
    for (int i = 0; i < 1024; i++)
        fa[i] = fa[i] * 2.0f + fb[i];
    float dot = 0;
    for (int i = 0; i < 1024; i++)
        dot += fa[i] * fb[i];
    long want = 0;
    for (int i = 0; i < 1024; i++)
        want += (2 * (i % 17) + (i % 5) - 2) * ((i % 5) - 2);
    CHECK_EQ((long)dot, want);
    for (int i = 0; i < 512; i++)
        da[i] = (double)i * 0.25;
    double dsum = 0;
    for (int i = 0; i < 512; i++)
        dsum += da[i];
    CHECK_EQ(bits(dsum), bits(32704.0));

    /* A little Mandelbrot in doubles: iteration count total. */
    unsigned long total = 0;
    for (int py = 0; py < 20; py++)
        for (int px = 0; px < 40; px++) {
            double cr = -2.0 + px * 0.065, ci = -1.0 + py * 0.1, zr = 0, zi = 0;
            int it = 0;
            while (it < 100 && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2 * zr * zi + ci;
                zr = t;
                it++;
            }
            total += it;
        }
    printf("sse: mandelbrot iterations %lu\n", total);
    CHECK_EQ(total, 27720);
    return rt_finish("sse");
}
