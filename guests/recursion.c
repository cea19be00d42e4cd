/* Recursion: Ackermann, naive Fibonacci, Towers of Hanoi, mutual recursion, and
 * backtracking (N queens) - deep call chains and many returns. */
#include "rt.h"

static unsigned long calls;

static unsigned long ack(unsigned long m, unsigned long n) {
    calls++;
    if (m == 0)
        return n + 1;
    if (n == 0)
        return ack(m - 1, 1);
    return ack(m - 1, ack(m, n - 1));
}

static unsigned long fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static unsigned long hanoi(int n, int from, int to, int via) {
    if (n == 0)
        return 0;
    return hanoi(n - 1, from, via, to) + 1 + hanoi(n - 1, via, to, from);
}

static int is_odd(unsigned n);
static int is_even(unsigned n) { return n == 0 ? 1 : is_odd(n - 1); }
static int is_odd(unsigned n) { return n == 0 ? 0 : is_even(n - 1); }

static int queens(int n, int row, unsigned cols, unsigned d1, unsigned d2) {
    if (row == n)
        return 1;
    int count = 0;
    for (int c = 0; c < n; c++) {
        unsigned cb = 1u << c, a = 1u << (row + c), b = 1u << (row - c + n);
        if ((cols & cb) || (d1 & a) || (d2 & b))
            continue;
        count += queens(n, row + 1, cols | cb, d1 | a, d2 | b);
    }
    return count;
}

/* Recursion through a function pointer with a big frame. */
static unsigned long deep(unsigned long n, unsigned long (*self)(unsigned long, void *), void *me) {
    volatile char frame[200];
    frame[n % 200] = (char)n;
    return n == 0 ? 0 : (unsigned char)frame[n % 200] + self(n - 1, me);
}
static unsigned long deep_tramp(unsigned long n, void *me) {
    return deep(n, (unsigned long (*)(unsigned long, void *))me, me);
}

int main(void) {
    CHECK_EQ(ack(OPAQUE(0UL), 0), 1);
    CHECK_EQ(ack(OPAQUE(2UL), 3), 9);
    calls = 0;
    CHECK_EQ(ack(OPAQUE(3UL), 5), 253);
    CHECK_EQ(calls, 42438);
    CHECK_EQ(fib(OPAQUE(24u)), 46368);
    CHECK_EQ(hanoi(OPAQUE(16), 1, 3, 2), 65535);
    CHECK(is_even(OPAQUE(3000u)));
    CHECK(is_odd(OPAQUE(777u)));
    CHECK_EQ(queens(OPAQUE(8), 0, 0, 0, 0), 92);
    CHECK_EQ(queens(OPAQUE(6), 0, 0, 0, 0), 4);
    unsigned long d = deep_tramp(OPAQUE(500UL), (void *)deep_tramp);
    unsigned long want = 0;
    for (unsigned long n = 1; n <= 500; n++)
        want += (unsigned char)(char)n;
    CHECK_EQ(d, want);
    printf("recursion: ack(3,5) took %lu calls, fib(24) = %lu\n", calls, fib(24));
    return rt_finish("recursion");
}
