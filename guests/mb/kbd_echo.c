/* kbd_echo: reads the PS/2 keyboard by polling the i8042 (status port 0x64 bit 0,
 * data port 0x60), decodes scan code set 1 (what the controller hands over while its
 * translate bit is on, as firmware leaves it) with the Shift keys held in mind, and
 * echoes the characters to COM1 until it reads a '.'. Then it prints how many press
 * and release codes it saw and exits with PASS. Named keys are echoed as <F1>, <Up> …
 * Without a '.' it gives up after a bounded number of polls (FAIL). */
#include "mbrt.h"

const char test_name[] = "kbd_echo";

/* Set 1 make codes 0x00-0x39 to characters, without and with Shift (US layout). */
static const char plain[0x3a] = {
    0,   27,  '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '-', '=', '\b', '\t',
    'q', 'w', 'e', 'r', 't', 'y', 'u', 'i', 'o', 'p', '[', ']', '\n', 0,   'a', 's',
    'd', 'f', 'g', 'h', 'j', 'k', 'l', ';', '\'', '`', 0,   '\\', 'z', 'x', 'c', 'v',
    'b', 'n', 'm', ',', '.', '/', 0,   '*', 0,   ' ',
};
static const char shifted[0x3a] = {
    0,   27,  '!', '@', '#', '$', '%', '^', '&', '*', '(', ')', '_', '+', '\b', '\t',
    'Q', 'W', 'E', 'R', 'T', 'Y', 'U', 'I', 'O', 'P', '{', '}', '\n', 0,   'A', 'S',
    'D', 'F', 'G', 'H', 'J', 'K', 'L', ':', '"', '~', 0,   '|', 'Z', 'X', 'C', 'V',
    'B', 'N', 'M', '<', '>', '?', 0,   '*', 0,   ' ',
};

static volatile u64 key_mix;
static u8 early[64];
static u32 early_n;

static void named(u8 code, int ext) {
    const char *n = 0;
    if (ext) {
        switch (code) {
        case 0x48: n = "Up"; break;
        case 0x50: n = "Down"; break;
        case 0x4b: n = "Left"; break;
        case 0x4d: n = "Right"; break;
        case 0x47: n = "Home"; break;
        case 0x4f: n = "End"; break;
        case 0x53: n = "Delete"; break;
        default: n = "E0?"; break;
        }
    } else if (code >= 0x3b && code <= 0x44) {
        printf("<F%u>", (u32)(code - 0x3a));
        return;
    } else {
        n = "?";
    }
    printf("<%s>", n);
}

void test_main(u32 magic, u32 info) {
    (void)magic;
    (void)info;
    /* The configuration byte: the guest reads set 1 only while translation is on.
     * The keyboard port is disabled meanwhile (keys wait in the keyboard); bytes that
     * were already waiting are keys, kept to be decoded first. */
    outb(0x64, 0xad);
    while (inb(0x64) & 1) {
        u8 b = inb(0x60);
        if (early_n < sizeof early)
            early[early_n++] = b;
    }
    outb(0x64, 0x20);
    u64 spins = 0;
    while (!(inb(0x64) & 1) && spins++ < 1000000)
        ;
    u8 config = inb(0x60);
    outb(0x64, 0xae);
    CHECK(config & 0x40, "the controller translates set 2 to set 1");
    puts_serial("kbd_echo: type text ending in '.'\n");
    int shift = 0, ext = 0, done = 0;
    u32 presses = 0, releases = 0;
    u32 taken = 0;
    for (u64 polls = 0; !done && polls < 400000000ull; polls++) {
        u8 b;
        if (taken < early_n) {
            b = early[taken++];
        } else {
            if (!(inb(0x64) & 1))
                continue;
            b = inb(0x60);
        }
        key_mix = (key_mix ^ b) * 0x100000001b3ull;
        if (b == 0xe0) {
            ext = 1;
            continue;
        }
        int release = b & 0x80;
        u8 code = b & 0x7f;
        if (release)
            releases++;
        else
            presses++;
        if (!ext && (code == 0x2a || code == 0x36)) {
            shift = !release;
        } else if (!release) {
            char c = (!ext && code < 0x3a) ? (shift ? shifted[code] : plain[code]) : 0;
            if (c == 27)
                puts_serial("<Esc>");
            else if (c == '\b')
                puts_serial("<BS>");
            else if (c)
                putc_serial(c);
            else
                named(code, ext);
            if (c == '.')
                done = 1;
        }
        ext = 0;
    }
    printf("\nkbd_echo: %u presses, %u releases\n", presses, releases);
    CHECK(done, "the text ended with '.'");
    finish();
}
