/* The guest runtime. Built with -mgeneral-regs-only so it needs no SSE itself. */
#include "rt.h"

#define COM1 0x3f8
#define LSR_THR_EMPTY 0x20
#define DEBUG_EXIT 0xf4

int rt_failures;
int rt_checks;

#ifdef RT_HOST
/* Host build (guests/host-check.sh): the same program as a Linux process, to check the
 * guests themselves against the real CPU. */
void rt_putc(char c) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(1L), "D"(1L), "S"(&c), "d"(1L) : "rcx", "r11", "memory");
}
void rt_exit(int code) {
    for (;;)
        __asm__ volatile("syscall" ::"a"(231L), "D"((long)code) : "rcx", "r11", "memory");
}
#else
void rt_putc(char c) {
    while (!(inb(COM1 + 5) & LSR_THR_EMPTY))
        ;
    outb(COM1, (uint8_t)c);
}

void rt_exit(int code) {
    outl(DEBUG_EXIT, (uint32_t)code);
    for (;;)
        __asm__ volatile("cli; hlt");
}
#endif

void rt_puts(const char *s) {
    while (*s)
        rt_putc(*s++);
}

int rt_finish(const char *name) {
    if (rt_failures == 0) {
        printf("%s: PASS (%d checks)\n", name, rt_checks);
        return 0;
    }
    printf("%s: FAIL (%d of %d checks failed)\n", name, rt_failures, rt_checks);
    return 1;
}

/* ---- printf: %[-][0][width][l|ll|z|h|hh](d|i|u|x|X|o|c|s|p|%) and '#' for hex ---- */

struct out {
    int n;
};

static void emit(struct out *o, char c) {
    rt_putc(c);
    o->n++;
}

static void emit_num(struct out *o, unsigned long long v, int neg, unsigned base, int upper,
                     int width, int zero, int left, const char *prefix) {
    char buf[24];
    int len = 0;
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        buf[len++] = digits[v % base];
        v /= base;
    } while (v);
    int plen = 0;
    while (prefix[plen])
        plen++;
    int total = len + (neg ? 1 : 0) + plen;
    if (!left && !zero)
        for (; total < width; total++)
            emit(o, ' ');
    if (neg)
        emit(o, '-');
    for (int i = 0; i < plen; i++)
        emit(o, prefix[i]);
    if (!left && zero)
        for (; total < width; total++)
            emit(o, '0');
    while (len)
        emit(o, buf[--len]);
    if (left)
        for (; total < width; total++)
            emit(o, ' ');
}

static int rt_vprintf(const char *f, va_list ap) {
    struct out o = {0};
    for (; *f; f++) {
        if (*f != '%') {
            emit(&o, *f);
            continue;
        }
        f++;
        int left = 0, zero = 0, alt = 0, width = 0, lng = 0;
        for (;; f++) {
            if (*f == '-')
                left = 1;
            else if (*f == '0')
                zero = 1;
            else if (*f == '#')
                alt = 1;
            else
                break;
        }
        while (*f >= '0' && *f <= '9')
            width = width * 10 + (*f++ - '0');
        for (;; f++) {
            if (*f == 'l' || *f == 'z')
                lng++;
            else if (*f == 'h')
                continue;
            else
                break;
        }
        switch (*f) {
        case 'd':
        case 'i': {
            long long v = lng ? va_arg(ap, long long) : va_arg(ap, int);
            unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
            emit_num(&o, u, v < 0, 10, 0, width, zero, left, "");
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            unsigned long long v = lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
            unsigned base = *f == 'u' ? 10 : *f == 'o' ? 8 : 16;
            const char *prefix = (alt && base == 16) ? (*f == 'X' ? "0X" : "0x") : "";
            emit_num(&o, v, 0, base, *f == 'X', width, zero, left, prefix);
            break;
        }
        case 'p':
            emit_num(&o, (uintptr_t)va_arg(ap, void *), 0, 16, 0, width, zero, left, "0x");
            break;
        case 'c':
            emit(&o, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int len = (int)strlen(s);
            if (!left)
                for (int i = len; i < width; i++)
                    emit(&o, ' ');
            while (*s)
                emit(&o, *s++);
            if (left)
                for (int i = len; i < width; i++)
                    emit(&o, ' ');
            break;
        }
        case '%':
            emit(&o, '%');
            break;
        case 0:
            return o.n;
        default:
            emit(&o, '%');
            emit(&o, *f);
        }
    }
    return o.n;
}

int printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = rt_vprintf(fmt, ap);
    va_end(ap);
    return n;
}

/* ---- memory and strings (rt.c is built with -fno-tree-loop-distribute-patterns so
 * these loops are not turned back into calls to themselves) ---- */

void *memcpy(void *d, const void *s, size_t n) {
    uint8_t *dp = d;
    const uint8_t *sp = s;
    while (n--)
        *dp++ = *sp++;
    return d;
}

void *memmove(void *d, const void *s, size_t n) {
    uint8_t *dp = d;
    const uint8_t *sp = s;
    if (dp < sp) {
        while (n--)
            *dp++ = *sp++;
    } else {
        while (n--)
            dp[n] = sp[n];
    }
    return d;
}

void *memset(void *d, int c, size_t n) {
    uint8_t *dp = d;
    while (n--)
        *dp++ = (uint8_t)c;
    return d;
}

int memcmp(const void *a, const void *b, size_t n) {
    const uint8_t *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x < *y ? -1 : 1;
    return 0;
}

size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b) {
    while (*a && *a == *b)
        a++, b++;
    return (uint8_t)*a - (uint8_t)*b;
}

int strncmp(const char *a, const char *b, size_t n) {
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return (uint8_t)*a - (uint8_t)*b;
        if (!*a)
            return 0;
    }
    return 0;
}

char *strcpy(char *d, const char *s) {
    char *r = d;
    while ((*d++ = *s++))
        ;
    return r;
}

char *strchr(const char *s, int c) {
    for (;; s++) {
        if (*s == (char)c)
            return (char *)s;
        if (!*s)
            return NULL;
    }
}
