/* Memory and sort: fill an array with pseudo-random numbers, sort it with an in-place
 * quicksort (insertion sort for small ranges), and checksum the result. */
#define N 200000
static unsigned int a[N];

static void isort(unsigned int *v, long n) {
    for (long i = 1; i < n; i++) {
        unsigned int t = v[i];
        long j = i - 1;
        while (j >= 0 && v[j] > t) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = t;
    }
}

static void qsort_u32(unsigned int *v, long n) {
    while (n > 16) {
        unsigned int p = v[n / 2];
        long i = 0, j = n - 1;
        while (i <= j) {
            while (v[i] < p) i++;
            while (v[j] > p) j--;
            if (i <= j) {
                unsigned int t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        if (j + 1 < n - i) {
            qsort_u32(v, j + 1);
            v += i;
            n -= i;
        } else {
            qsort_u32(v + i, n - i);
            n = j + 1;
        }
    }
    isort(v, n);
}

unsigned long long workload(unsigned long long scale) {
    unsigned long long sum = 0;
    unsigned int x = 12345;
    for (unsigned long long r = 0; r < scale; r++) {
        for (long i = 0; i < N; i++) {
            x = x * 1103515245u + 12345u;
            a[i] = x ^ (x >> 16);
        }
        qsort_u32(a, N);
        for (long i = 0; i < N; i += 97) sum = sum * 31 + a[i];
        for (long i = 1; i < N; i++)
            if (a[i - 1] > a[i]) return 0;
    }
    return sum;
}
