/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320): table-driven and bit-by-bit
 * implementations over the standard check vectors and over generated data. */
#include "rt.h"

static uint32_t table[256];

static void make_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
}

static uint32_t crc_table(const void *data, size_t n) {
    const uint8_t *p = data;
    uint32_t c = 0xffffffffu;
    while (n--)
        c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static uint32_t crc_bits(const void *data, size_t n) {
    const uint8_t *p = data;
    uint32_t c = 0xffffffffu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

static uint8_t buf[16384];

int main(void) {
    make_table();
    CHECK_EQ(table[1], 0x77073096u);
    CHECK_EQ(table[255], 0x2d02ef8du);
    CHECK_EQ(crc_table("", 0), 0);
    CHECK_EQ(crc_table("123456789", 9), 0xcbf43926u);
    CHECK_EQ(crc_bits("123456789", 9), 0xcbf43926u);
    CHECK_EQ(crc_table("a", 1), 0xe8b7be43u);
    CHECK_EQ(crc_table("abc", 3), 0x352441c2u);
    const char *fox = "The quick brown fox jumps over the lazy dog";
    CHECK_EQ(crc_table(fox, strlen(fox)), 0x414fa339u);
    CHECK_EQ(crc_bits(fox, strlen(fox)), 0x414fa339u);
    uint32_t x = 1;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    uint32_t t = crc_table(buf, sizeof buf);
    CHECK_EQ(t, crc_bits(buf, sizeof buf));
    printf("crc32: generated data %#x\n", t);
    CHECK_EQ(t, 0x86eb8bb3u); /* zlib.crc32 of the same bytes */
    return rt_finish("crc32");
}
