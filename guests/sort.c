/* Sorting: a generic qsort (function-pointer comparator, byte-wise swaps) and a
 * mergesort over pseudo-random data; both must agree, be ordered, and keep the
 * multiset (checked with order-independent checksums). */
#include "rt.h"

#define N 4000

static uint64_t rng = 0x243f6a8885a308d3UL;
static uint32_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static void swap_bytes(char *a, char *b, size_t size) {
    while (size--) {
        char t = *a;
        *a++ = *b;
        *b++ = t;
    }
}

/* qsort-like: median-of-three quicksort, insertion sort for small ranges. */
static void gsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *)) {
    char *b = base;
    while (n > 8) {
        char *lo = b, *mid = b + (n / 2) * size, *hi = b + (n - 1) * size;
        if (cmp(mid, lo) < 0)
            swap_bytes(mid, lo, size);
        if (cmp(hi, mid) < 0) {
            swap_bytes(hi, mid, size);
            if (cmp(mid, lo) < 0)
                swap_bytes(mid, lo, size);
        }
        swap_bytes(mid, hi - size, size); /* pivot at hi - 1 */
        char *pivot = hi - size;
        char *i = lo, *j = pivot;
        for (;;) {
            do
                i += size;
            while (cmp(i, pivot) < 0);
            do
                j -= size;
            while (cmp(pivot, j) < 0);
            if (i >= j)
                break;
            swap_bytes(i, j, size);
        }
        swap_bytes(i, pivot, size);
        size_t left = (size_t)(i - b) / size, right = n - left - 1;
        /* Recurse into the smaller part, loop on the larger. */
        if (left < right) {
            gsort(b, left, size, cmp);
            b = i + size;
            n = right;
        } else {
            gsort(i + size, right, size, cmp);
            n = left;
        }
    }
    for (size_t k = 1; k < n; k++)
        for (char *p = b + k * size; p > b && cmp(p - size, p) > 0; p -= size)
            swap_bytes(p - size, p, size);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int32_t tmp[N];
static void msort(int32_t *a, size_t n) {
    if (n < 2)
        return;
    size_t h = n / 2;
    msort(a, h);
    msort(a + h, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = a[j] < a[i] ? a[j++] : a[i++];
    while (i < h)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    memcpy(a, tmp, n * sizeof a[0]);
}

struct rec {
    uint16_t key;
    uint32_t payload;
    char tag;
};
static int cmp_rec(const void *a, const void *b) {
    const struct rec *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->payload > y->payload) - (x->payload < y->payload);
}

static int32_t a[N], b[N];
static struct rec recs[1000];

static void sums(const int32_t *v, size_t n, uint64_t *s1, uint64_t *s2) {
    *s1 = *s2 = 0;
    for (size_t i = 0; i < n; i++) {
        *s1 += (uint64_t)(int64_t)v[i];
        *s2 += (uint64_t)v[i] * (uint64_t)v[i] ^ (uint64_t)v[i] >> 3;
    }
}

int main(void) {
    for (int i = 0; i < N; i++)
        a[i] = b[i] = (int32_t)next() - (i & 1 ? 0 : 0x40000000);
    uint64_t s1, s2, t1, t2;
    sums(a, N, &s1, &s2);
    gsort(a, N, sizeof a[0], cmp_i32);
    msort(b, N);
    int ordered = 1;
    for (int i = 1; i < N; i++)
        ordered &= a[i - 1] <= a[i];
    CHECK(ordered);
    CHECK(memcmp(a, b, sizeof a) == 0);
    sums(a, N, &t1, &t2);
    CHECK_EQ(s1, t1);
    CHECK_EQ(s2, t2);

    /* Many duplicates, already sorted and reversed inputs. */
    for (int i = 0; i < N; i++)
        a[i] = (int32_t)(next() % 7);
    gsort(a, N, sizeof a[0], cmp_i32);
    for (int i = 1; i < N; i++)
        CHECK(a[i - 1] <= a[i]);
    for (int i = 0; i < N; i++)
        a[i] = N - i;
    gsort(a, N, sizeof a[0], cmp_i32);
    CHECK(a[0] == 1 && a[N - 1] == N);
    gsort(a, N, sizeof a[0], cmp_i32);
    CHECK(a[0] == 1 && a[N - 1] == N);

    /* Structures with padding, sorted by two keys. */
    uint64_t before = 0, after = 0;
    for (int i = 0; i < 1000; i++) {
        recs[i].key = (uint16_t)(next() % 50);
        recs[i].payload = next();
        recs[i].tag = (char)('a' + i % 26);
        before += recs[i].key * 31u + recs[i].payload + (uint8_t)recs[i].tag;
    }
    gsort(recs, 1000, sizeof recs[0], cmp_rec);
    for (int i = 0; i < 1000; i++) {
        after += recs[i].key * 31u + recs[i].payload + (uint8_t)recs[i].tag;
        if (i)
            CHECK(cmp_rec(&recs[i - 1], &recs[i]) <= 0);
    }
    CHECK_EQ(before, after);
    printf("sort: %d ints, first %d last %d, checksum %#lx\n", N, b[0], b[N - 1], t1 ^ t2);
    return rt_finish("sort");
}
