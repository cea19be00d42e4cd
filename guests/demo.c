/* The demo guest that `reprise` runs with no arguments: shows what the machine is and
 * does - CPUID, a prime table, an ASCII Mandelbrot in fixed point, and the virtual
 * time-stamp counter that advances with retired instructions (so every run of this
 * demo prints the same numbers). */
#include "rt.h"

static void banner(void) {
    printf("\n"
           "  +----------------------------------------------------------------+\n"
           "  |  reprise - a deterministic x86-64 machine                      |\n"
           "  |  this text comes from a guest program writing to COM1 (0x3f8)  |\n"
           "  +----------------------------------------------------------------+\n\n");
}

static void show_cpu(void) {
    uint32_t r[4];
    char vendor[13];
    cpuid(0, r);
    memcpy(vendor, &r[1], 4);
    memcpy(vendor + 4, &r[3], 4);
    memcpy(vendor + 8, &r[2], 4);
    vendor[12] = 0;
    uint32_t max = r[0];
    cpuid(1, r);
    printf("CPU: vendor \"%s\", max leaf %#x, family/model/stepping %u/%u/%u\n", vendor, max,
           (r[0] >> 8) & 0xf, (r[0] >> 4) & 0xf, r[0] & 0xf);
    printf("     features:%s%s%s%s%s%s\n", r[3] & 1 ? " fpu" : "", r[3] & (1 << 4) ? " tsc" : "",
           r[3] & (1 << 15) ? " cmov" : "", r[3] & (1 << 25) ? " sse" : "",
           r[3] & (1 << 26) ? " sse2" : "", r[2] & (1 << 23) ? " popcnt" : "");
}

static void primes(void) {
    static uint8_t composite[1000];
    int count = 0;
    printf("\nPrimes below 200:\n");
    for (int i = 2; i < 1000; i++) {
        if (composite[i])
            continue;
        for (int j = i * i; j < 1000; j += i)
            composite[j] = 1;
        if (i < 200) {
            printf("%4d", i);
            if (++count % 16 == 0)
                printf("\n");
        }
    }
    int total = 0;
    for (int i = 2; i < 1000; i++)
        total += !composite[i];
    printf("\n(%d primes below 1000)\n", total);
}

/* Mandelbrot in 16.16 fixed point: integer instructions only. */
static void mandelbrot(void) {
    static const char shade[] = " .:-=+*#%@";
    printf("\nMandelbrot set, 16.16 fixed point:\n");
    for (int y = 0; y < 24; y++) {
        for (int x = 0; x < 72; x++) {
            long cr = -65536L * 22 / 10 + x * (3L * 65536 / 72);
            long ci = -65536L * 12 / 10 + y * (24L * 65536 / 10 / 23);
            long zr = 0, zi = 0;
            int it = 0;
            while (it < 40) {
                long zr2 = zr * zr >> 16, zi2 = zi * zi >> 16;
                if (zr2 + zi2 > 4L * 65536)
                    break;
                zi = (zr * zi >> 15) + ci;
                zr = zr2 - zi2 + cr;
                it++;
            }
            rt_putc(it == 40 ? '@' : shade[it % 9]);
        }
        rt_putc('\n');
    }
}

int main(void) {
    uint64_t t0 = rdtsc();
    banner();
    show_cpu();
    primes();
    mandelbrot();
    uint64_t t1 = rdtsc();
    printf("\nVirtual time: the TSC advanced %lu ticks while this demo ran.\n", t1 - t0);
    printf("It counts retired guest instructions, not host time: run the demo again\n"
           "and every number above comes out the same.\n\n");
    return 0;
}
