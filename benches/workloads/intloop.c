/* Integer loop: a mix of ALU operations and data-dependent branches (xorshift). */
unsigned long long workload(unsigned long long scale) {
    unsigned long long x = 88172645463325252ull, acc = 0;
    for (unsigned long long i = 0; i < scale * 1000000ull; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (x & 1)
            acc += x >> 3;
        else
            acc ^= x + i;
    }
    return acc;
}
