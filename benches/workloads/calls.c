/* Call-heavy: recursion and indirect calls through a function table. */
typedef unsigned long long u64;
static u64 fib(u64 n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
static u64 f0(u64 x) { return x * 3 + 1; }
static u64 f1(u64 x) { return x >> 1; }
static u64 f2(u64 x) { return x ^ 0x5555; }
static u64 f3(u64 x) { return x + (x >> 3); }
static u64 (*const table[4])(u64) = { f0, f1, f2, f3 };
__attribute__((noinline)) static u64 dispatch(u64 x, u64 i) { return table[i & 3](x); }

unsigned long long workload(unsigned long long scale) {
    u64 acc = 0;
    for (u64 r = 0; r < scale; r++) {
        acc += fib(24);
        u64 x = r + 7;
        for (u64 i = 0; i < 200000; i++) x = dispatch(x, i + (x & 1));
        acc ^= x;
    }
    return acc;
}
