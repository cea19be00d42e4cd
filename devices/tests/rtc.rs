//! CMOS RTC through its index/data ports on virtual time.

use reprise_devices::Rtc;

const S: u64 = 1_000_000_000;
/// 2025-11-28 03:20:00 UTC, a Friday.
const HOST: i64 = 1_764_300_000;

fn rd(r: &mut Rtc, i: u8, now: u64) -> u8 {
    r.write(0, i, now);
    r.read(1, now)
}

fn wr(r: &mut Rtc, i: u8, v: u8, now: u64) {
    r.write(0, i, now);
    r.write(1, v, now);
}

fn clock(r: &mut Rtc, now: u64) -> [u8; 8] {
    [0, 2, 4, 6, 7, 8, 9, 0x32].map(|i| rd(r, i, now))
}

#[test]
fn starts_from_the_host_time_in_bcd() {
    let mut r = Rtc::new(HOST, 5 * S);
    assert_eq!(
        clock(&mut r, 5 * S),
        [0x00, 0x20, 0x03, 6, 0x28, 0x11, 0x25, 0x20]
    );
    assert_eq!(rd(&mut r, 0x0a, 5 * S), 0x26);
    assert_eq!(rd(&mut r, 0x0b, 5 * S), 0x02);
    assert_eq!(rd(&mut r, 0x0d, 5 * S), 0x80);
    assert_eq!(r.read(0, 5 * S), 0xff, "index port is write-only");
}

#[test]
fn advances_with_virtual_time_only() {
    let mut r = Rtc::new(HOST, 0);
    assert_eq!(clock(&mut r, S - 1)[0], 0x00);
    assert_eq!(clock(&mut r, S)[0], 0x01);
    let c = clock(&mut r, 3600 * 21 * S + 40 * 60 * S + 61 * S + S / 2);
    // 03:20:00 + 21:41:01 = 01:01:01 the next day, a Saturday.
    assert_eq!(c, [0x01, 0x01, 0x01, 7, 0x29, 0x11, 0x25, 0x20]);
}

#[test]
fn binary_and_twelve_hour_modes() {
    let mut r = Rtc::new(HOST + 12 * 3600, 0); // 15:20
    wr(&mut r, 0x0b, 0x06, 0);
    assert_eq!(clock(&mut r, 0), [0, 20, 15, 6, 28, 11, 25, 20]);
    wr(&mut r, 0x0b, 0x00, 0); // BCD, 12-hour
    assert_eq!(rd(&mut r, 4, 0), 0x83);
    wr(&mut r, 0x0b, 0x04, 0); // binary, 12-hour
    assert_eq!(rd(&mut r, 4, 0), 0x83);
    let mut r = Rtc::new(HOST - 3 * 3600 - 20 * 60, 0); // midnight
    wr(&mut r, 0x0b, 0x00, 0);
    assert_eq!(rd(&mut r, 4, 0), 0x12, "12 AM");
}

#[test]
fn update_in_progress_before_each_second() {
    let mut r = Rtc::new(HOST, 0);
    let uip = |r: &mut Rtc, t| rd(r, 0x0a, t) & 0x80;
    assert_eq!(uip(&mut r, S - 244_001), 0);
    assert_eq!(uip(&mut r, S - 244_000), 0x80);
    assert_eq!(uip(&mut r, S - 1), 0x80);
    assert_eq!(uip(&mut r, S), 0);
    assert_eq!(uip(&mut r, 7 * S - 1000), 0x80);
    // Register A's UIP bit is read-only.
    wr(&mut r, 0x0a, 0xa6, 8 * S);
    assert_eq!(rd(&mut r, 0x0a, 8 * S), 0x26);
}

#[test]
fn set_bit_holds_the_clock_for_writing() {
    let mut r = Rtc::new(HOST, 0);
    wr(&mut r, 0x0b, 0x82, S / 2);
    assert_eq!(rd(&mut r, 0x0a, S - 1000) & 0x80, 0, "no UIP while SET");
    for (i, v) in [
        (0, 0x58),
        (2, 0x59),
        (4, 0x23),
        (7, 0x31),
        (8, 0x12),
        (9, 0x99),
        (0x32, 0x20),
    ] {
        wr(&mut r, i, v, S);
    }
    assert_eq!(rd(&mut r, 0, 10 * S), 0x58, "frozen while SET");
    wr(&mut r, 0x0b, 0x02, 20 * S);
    assert_eq!(clock(&mut r, 20 * S)[..3], [0x58, 0x59, 0x23]);
    // 2099-12-31 23:59:58 + 2 s: a new century.
    assert_eq!(
        clock(&mut r, 22 * S),
        [0x00, 0x00, 0x00, 6, 0x01, 0x01, 0x00, 0x21]
    );
}

#[test]
fn writing_one_field_while_running_keeps_the_phase() {
    let mut r = Rtc::new(HOST, 0);
    wr(&mut r, 2, 0x45, S / 4);
    assert_eq!(clock(&mut r, S / 2)[..3], [0x00, 0x45, 0x03]);
    assert_eq!(rd(&mut r, 0, S), 0x01, "the second still turns at 1 s");
}

#[test]
fn periodic_interrupt_at_the_register_a_rate() {
    let mut r = Rtc::new(HOST, 0);
    assert_eq!(r.next_deadline(), None, "no interrupt enabled");
    wr(&mut r, 0x0b, 0x42, 0); // PIE
                               // Rate 6: 1024 Hz, 32 ticks of the 32.768 kHz clock.
    let first = r.next_deadline().unwrap();
    assert_eq!(first, 976_563);
    assert!(!r.advance(first - 1));
    assert!(r.advance(first));
    assert_eq!(r.next_deadline(), None, "IRQ 8 stays up until C is read");
    assert_eq!(rd(&mut r, 0x0c, first), 0xc0);
    assert!(!r.irq_level());
    assert_eq!(rd(&mut r, 0x0c, first), 0x00, "cleared by the read");
    assert_eq!(r.next_deadline(), Some(1_953_125));
    // Rate 15: 2 Hz.
    wr(&mut r, 0x0a, 0x2f, first);
    assert_eq!(r.next_deadline(), Some(S / 2));
    // Rate 0: off.
    wr(&mut r, 0x0a, 0x20, first);
    assert_eq!(r.next_deadline(), None);
}

#[test]
fn flags_are_set_without_the_interrupt_enables() {
    let mut r = Rtc::new(HOST, 0);
    assert_eq!(rd(&mut r, 0x0c, 3 * S), 0x50, "PF and UF, no IRQF");
    assert!(!r.irq_level());
    // Enabling an interrupt whose flag is set raises IRQ 8.
    assert_eq!(rd(&mut r, 0x0c, 3 * S), 0);
    r.advance(4 * S);
    wr(&mut r, 0x0b, 0x12, 4 * S);
    assert!(r.irq_level());
}

#[test]
fn update_ended_interrupt_each_second() {
    let mut r = Rtc::new(HOST, 0);
    wr(&mut r, 0x0a, 0x20, 0); // no periodic
    wr(&mut r, 0x0b, 0x12, S / 3); // UIE
    assert_eq!(r.next_deadline(), Some(S));
    assert!(r.advance(S));
    assert_eq!(rd(&mut r, 0x0c, S), 0x90);
    assert_eq!(r.next_deadline(), Some(2 * S));
}

#[test]
fn alarm_interrupt() {
    let mut r = Rtc::new(HOST, 0);
    wr(&mut r, 0x0a, 0x20, 0);
    wr(&mut r, 1, 0x05, 0); // 05 seconds
    wr(&mut r, 3, 0x20, 0); // 20 minutes
    wr(&mut r, 5, 0xff, 0); // any hour
    wr(&mut r, 0x0b, 0x22, 0); // AIE
    for t in 1..5 {
        assert_eq!(r.next_deadline(), Some(t * S));
        assert!(!r.advance(t * S), "not yet at {t} s");
    }
    assert!(r.advance(5 * S));
    assert_eq!(rd(&mut r, 0x0c, 5 * S) & 0xa0, 0xa0);
    // An hour later (any-hour alarm), even when not serviced in between.
    assert!(r.advance(3600 * S + 10 * S));
    assert_eq!(rd(&mut r, 0x0c, 3600 * S + 10 * S) & 0xa0, 0xa0);
}

#[test]
fn divider_reset_stops_the_clock() {
    let mut r = Rtc::new(HOST, 0);
    wr(&mut r, 0x0a, 0x76, 2 * S + S / 2);
    assert_eq!(rd(&mut r, 0, 100 * S), 0x02);
    wr(&mut r, 0x0a, 0x26, 100 * S);
    assert_eq!(rd(&mut r, 0, 100 * S + S / 2 - 1), 0x02);
    assert_eq!(
        rd(&mut r, 0, 100 * S + S / 2),
        0x03,
        "first update 500 ms later"
    );
}

#[test]
fn cmos_ram_and_index_port() {
    let mut r = Rtc::new(HOST, 0);
    r.set_cmos_byte(0x34, 0x12);
    r.set_cmos_byte(0x05, 0x99); // a clock register: ignored
    assert_eq!(rd(&mut r, 0x34, 0), 0x12);
    assert_eq!(
        rd(&mut r, 0xb4, 0),
        0x12,
        "bit 7 of the index is NMI disable"
    );
    assert!(r.nmi_disabled());
    r.write(0, 0x10, 0);
    assert!(!r.nmi_disabled());
    wr(&mut r, 0x7f, 0xaa, 0);
    assert_eq!(r.cmos_byte(0x7f), 0xaa);
    assert_eq!(
        rd(&mut r, 5, 0),
        0x00,
        "hours alarm untouched by set_cmos_byte"
    );
    wr(&mut r, 0x0c, 0xff, 0);
    wr(&mut r, 0x0d, 0x00, 0);
    assert_eq!(rd(&mut r, 0x0d, 0), 0x80);
}

#[test]
fn extreme_host_times_are_clamped() {
    let mut r = Rtc::new(i64::MAX, 0);
    assert_eq!(clock(&mut r, u64::MAX)[6..], [0x99, 0x99]);
    let mut r = Rtc::new(i64::MIN, 0);
    assert_eq!(clock(&mut r, 0)[4..], [0x01, 0x01, 0x00, 0x19]);
}

#[test]
fn alarm_over_long_gaps() {
    let mut r = Rtc::new(HOST, 0);
    wr(&mut r, 0x0a, 0x20, 0);
    wr(&mut r, 1, 0x30, 0);
    wr(&mut r, 3, 0x10, 0);
    wr(&mut r, 5, 0x07, 0); // 07:10:30
    wr(&mut r, 0x0b, 0x22, 0);
    // 03:20:00 -> 07:10:29: not yet.
    let t = (3 * 3600 + 50 * 60 + 29) * S;
    assert!(!r.advance(t));
    assert!(r.advance(t + S));
    rd(&mut r, 0x0c, t + S);
    // Three days unserviced: the alarm matched during them.
    assert!(r.advance(t + 3 * 86_400 * S));
    rd(&mut r, 0x0c, t + 3 * 86_400 * S);
    // A value no BCD clock reaches (seconds 0x75) never matches.
    wr(&mut r, 1, 0x75, t + 3 * 86_400 * S);
    assert!(!r.advance(t + 10 * 86_400 * S));
}
