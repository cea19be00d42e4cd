/* The tiny runtime of reprise's test guests: serial output, formatting, exit, and the
 * memory/string functions the compiler may call. No libc. */
#ifndef RT_H
#define RT_H

typedef unsigned long size_t;
typedef unsigned long uint64_t;
typedef long int64_t;
typedef unsigned int uint32_t;
typedef int int32_t;
typedef unsigned short uint16_t;
typedef short int16_t;
typedef unsigned char uint8_t;
typedef signed char int8_t;
typedef unsigned long uintptr_t;
typedef __builtin_va_list va_list;
#define va_start(ap, last) __builtin_va_start(ap, last)
#define va_arg(ap, type) __builtin_va_arg(ap, type)
#define va_end(ap) __builtin_va_end(ap)
#define NULL ((void *)0)

/* Port I/O. */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) {
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint64_t rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}
static inline void cpuid(uint32_t leaf, uint32_t r[4]) {
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(0));
}

void rt_putc(char c);
void rt_puts(const char *s);
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Ends the run: the machine exits with status (code << 1) | 1. */
void rt_exit(int code) __attribute__((noreturn));

void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strcpy(char *d, const char *s);
char *strchr(const char *s, int c);

/* Self-checking: CHECK counts failures and prints the failing line; rt_finish prints
 * "NAME: PASS" (exit 0) or "NAME: FAIL (n checks failed)" (exit 1). */
extern int rt_failures;
extern int rt_checks;
#define CHECK(cond)                                                                \
    do {                                                                           \
        rt_checks++;                                                               \
        if (!(cond)) {                                                             \
            rt_failures++;                                                         \
            printf("check failed: %s:%d: %s\n", __FILE__, __LINE__, #cond);        \
        }                                                                          \
    } while (0)
#define CHECK_EQ(a, b)                                                             \
    do {                                                                           \
        unsigned long long _a = (unsigned long long)(a), _b = (unsigned long long)(b); \
        rt_checks++;                                                               \
        if (_a != _b) {                                                            \
            rt_failures++;                                                         \
            printf("check failed: %s:%d: %s == %s (%#llx != %#llx)\n", __FILE__,   \
                   __LINE__, #a, #b, _a, _b);                                      \
        }                                                                          \
    } while (0)
int rt_finish(const char *name);

/* Defeats constant folding: the compiler cannot see through it. */
#define OPAQUE(x) ({ __typeof__(x) _v = (x); __asm__ volatile("" : "+r"(_v)); _v; })

#endif
