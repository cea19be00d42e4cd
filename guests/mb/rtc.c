/* rtc: reads the CMOS clock after update-in-progress clears, checks every field is
 * valid (BCD or binary, 12 or 24 hour as register B says) and the date plausible
 * (year >= 2024), then counts periodic interrupts on IRQ 8 (through the slave 8259). */
#include "mbrt.h"

const char test_name[] = "rtc";

static volatile u64 ticks, pf_flags;

static u8 cmos(u8 r) {
    outb(0x70, r);
    return inb(0x71);
}
static void cmos_write(u8 r, u8 v) {
    outb(0x70, r);
    outb(0x71, v);
}

static void on_irq8(struct frame *f) {
    (void)f;
    u8 c = cmos(0x0c); /* reading C acknowledges */
    ticks++;
    if (c & 0x40)
        pf_flags++;
    pic_eoi(8);
}

static int bcd_ok(u8 v) { return (v & 0xf) <= 9 && (v >> 4) <= 9; }
static u32 bcd(u8 v) { return (v & 0xf) + 10 * (v >> 4); }

struct tm {
    u8 sec, min, hour, wday, day, mon, year, cent;
};

static void read_tm(struct tm *t) {
    t->sec = cmos(0);
    t->min = cmos(2);
    t->hour = cmos(4);
    t->wday = cmos(6);
    t->day = cmos(7);
    t->mon = cmos(8);
    t->year = cmos(9);
    t->cent = cmos(0x32);
}

void test_main(u32 magic, u32 info) {
    (void)magic;
    (void)info;
    u64 i = 0;
    while ((cmos(0x0a) & 0x80) && i < 10000000)
        i++;
    CHECK(!(cmos(0x0a) & 0x80) || i < 10000000, "update-in-progress clears");
    struct tm a, b;
    read_tm(&a);
    for (int k = 0; k < 5; k++) { /* read until two reads agree, as Linux does */
        read_tm(&b);
        if (!memcmp(&a, &b, sizeof a))
            break;
        a = b;
    }
    u8 regb = cmos(0x0b);
    int is_bcd = !(regb & 0x04), h24 = regb & 0x02;
    u8 hour = a.hour & 0x7f;
    int fields_ok = 1;
    if (is_bcd) {
        u8 f[] = {a.sec, a.min, hour, a.wday, a.day, a.mon, a.year};
        for (u64 k = 0; k < sizeof f; k++)
            fields_ok = fields_ok && bcd_ok(f[k]);
    }
    CHECK(fields_ok, "fields are valid BCD (or binary)");
    u32 sec = is_bcd ? bcd(a.sec) : a.sec, min = is_bcd ? bcd(a.min) : a.min;
    u32 hr = is_bcd ? bcd(hour) : hour, day = is_bcd ? bcd(a.day) : a.day;
    u32 mon = is_bcd ? bcd(a.mon) : a.mon, yy = is_bcd ? bcd(a.year) : a.year;
    u32 wday = is_bcd ? bcd(a.wday) : a.wday;
    u32 cent = is_bcd ? (bcd_ok(a.cent) ? bcd(a.cent) : 20) : a.cent;
    if (cent < 19 || cent > 21)
        cent = 20;
    CHECK(sec < 60 && min < 60, "seconds and minutes in range");
    CHECK(h24 ? hr < 24 : (hr >= 1 && hr <= 12), "hour in range for its 12/24-hour mode");
    CHECK(day >= 1 && day <= 31 && mon >= 1 && mon <= 12, "day and month in range");
    CHECK(wday >= 1 && wday <= 7, "day of week in range");
    CHECK(cent * 100 + yy >= 2024 && cent * 100 + yy < 2200, "the year is plausible (>= 2024)");
    CHECK(cmos(0x0d) & 0x80, "register D: valid RAM and time");

    /* Periodic interrupt at 1024 Hz (rate 6). */
    lapic_init(); /* virtual wire: LINT0 = ExtINT */
    set_handler(0x28, on_irq8, 0);
    cmos_write(0x0a, (cmos(0x0a) & 0xf0) | 0x06);
    (void)cmos(0x0c);
    cmos_write(0x0b, cmos(0x0b) | 0x40);
    pic_unmask(8);
    while (ticks < 32)
        sti_hlt_cli();
    cmos_write(0x0b, cmos(0x0b) & ~0x40);
    pic_mask(8);
    CHECK(ticks >= 32, "IRQ 8: 32 periodic interrupts");
    CHECK(pf_flags == ticks, "register C had PF set in each");
}
