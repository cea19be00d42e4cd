//! 8254 PIT and port B, driven through their ports on virtual time.

use reprise_devices::pit::{ns_of_tick, port, ticks_at};
use reprise_devices::{Pit, PIT_HZ};

fn load16(p: &mut Pit, ch: u16, v: u16, now: u64) {
    p.write(ch, v as u8, now);
    p.write(ch, (v >> 8) as u8, now);
}

fn read16(p: &mut Pit, ch: u16, now: u64) -> u16 {
    let lo = p.read(ch, now);
    let hi = p.read(ch, now);
    u16::from_le_bytes([lo, hi])
}

#[test]
fn rate_generator_counts_every_period_exactly() {
    let mut p = Pit::new();
    assert_eq!(p.next_deadline(), None, "nothing programmed");
    p.write(port::CONTROL, 0x34, 0); // ch0, lo/hi, mode 2
    load16(&mut p, 0, 1193, 0);
    let first = ns_of_tick(1193);
    assert_eq!(p.next_deadline(), Some(first));
    // One nanosecond early: nothing.
    assert_eq!(p.advance(first - 1).edges, 0);
    let irq = p.advance(first);
    assert_eq!((irq.edges, irq.out), (1, true));
    assert_eq!(p.next_deadline(), Some(ns_of_tick(2 * 1193)));
    // Not serviced for a long while: every period is accounted for.
    let later = 1_000_000_000 + 12_345;
    let irq = p.advance(later);
    assert_eq!(irq.edges, ticks_at(later) / 1193 - 1);
    assert_eq!(p.advance(later).edges, 0, "edges are taken once");
    let next = p.next_deadline().unwrap();
    assert_eq!(ticks_at(next) % 1193, 0);
    assert!(next > later && ticks_at(next) - ticks_at(later) <= 1193);
}

#[test]
fn rate_generator_count_reads_down_from_n() {
    let mut p = Pit::new();
    p.write(port::CONTROL, 0x34, 0);
    load16(&mut p, 0, 100, 0);
    assert_eq!(read16(&mut p, 0, 0), 100);
    assert_eq!(read16(&mut p, 0, ns_of_tick(1)), 99);
    // OUT is low for exactly one tick per period, just before the reload.
    assert!(p.out0(ns_of_tick(98)));
    assert_eq!(read16(&mut p, 0, ns_of_tick(99)), 1);
    assert!(!p.out0(ns_of_tick(99)));
    assert!(p.out0(ns_of_tick(100)));
    assert_eq!(read16(&mut p, 0, ns_of_tick(100)), 100);
}

#[test]
fn interrupt_on_terminal_count_fires_once() {
    let mut p = Pit::new();
    p.write(port::CONTROL, 0x30, 0); // ch0, lo/hi, mode 0
    assert!(!p.out0(0), "mode 0 drives OUT low at once");
    load16(&mut p, 0, 500, 1000);
    let t0 = ticks_at(1000);
    assert_eq!(p.next_deadline(), Some(ns_of_tick(t0 + 500)));
    assert!(!p.out0(ns_of_tick(t0 + 499)));
    let irq = p.advance(ns_of_tick(t0 + 500));
    assert_eq!((irq.edges, irq.out), (1, true));
    assert_eq!(p.next_deadline(), None);
    // The counter wraps and keeps counting.
    assert_eq!(read16(&mut p, 0, ns_of_tick(t0 + 501)), 0xffff);
    assert_eq!(p.advance(10_000_000_000).edges, 0);
}

#[test]
fn software_strobe_pulses_once_after_n_plus_one() {
    let mut p = Pit::new();
    p.write(port::CONTROL, 0x38, 0); // ch0, lo/hi, mode 4 (Linux one-shot)
    load16(&mut p, 0, 10, 0);
    assert!(p.out0(ns_of_tick(9)));
    assert!(!p.out0(ns_of_tick(10)));
    assert_eq!(p.next_deadline(), Some(ns_of_tick(11)));
    assert_eq!(p.advance(ns_of_tick(11)).edges, 1);
    assert_eq!(p.next_deadline(), None);
}

#[test]
fn square_wave_half_high_half_low() {
    let mut p = Pit::new();
    p.write(port::CONTROL, 0x36, 0); // ch0, lo/hi, mode 3
    load16(&mut p, 0, 10, 0);
    assert_eq!(read16(&mut p, 0, ns_of_tick(1)), 8, "counts down by two");
    let levels: Vec<bool> = (0..20).map(|t| p.out0(ns_of_tick(t))).collect();
    let want: Vec<bool> = (0..20).map(|t| t % 10 < 5).collect();
    assert_eq!(levels, want);
    assert_eq!(p.advance(ns_of_tick(100)).edges, 10);
}

#[test]
fn latch_command_freezes_the_readout() {
    let mut p = Pit::new();
    p.write(port::CONTROL, 0x34, 0);
    load16(&mut p, 0, 50_000, 0);
    p.write(port::CONTROL, 0x00, ns_of_tick(1000)); // latch ch0
                                                    // A second latch before reading is ignored.
    p.write(port::CONTROL, 0x00, ns_of_tick(2000));
    assert_eq!(read16(&mut p, 0, ns_of_tick(3000)), 49_000);
    assert_eq!(
        read16(&mut p, 0, ns_of_tick(3000)),
        47_000,
        "latch released"
    );
}

#[test]
fn read_back_latches_status_and_count() {
    let mut p = Pit::new();
    p.write(port::CONTROL, 0xb0, 0); // ch2, lo/hi, mode 0
    p.port61_write(0x01, 0);
    load16(&mut p, 2, 300, 0);
    // Read-back: latch status and count of counter 2.
    p.write(port::CONTROL, 0xc8, ns_of_tick(100));
    let status = p.read(2, ns_of_tick(200));
    assert_eq!(status, 0x30, "OUT low, count loaded, lo/hi, mode 0, binary");
    assert_eq!(read16(&mut p, 2, ns_of_tick(250)), 200);
    // Status only, after terminal count: OUT high.
    p.write(port::CONTROL, 0xe8, ns_of_tick(400));
    assert_eq!(p.read(2, ns_of_tick(400)), 0xb0);
}

#[test]
fn byte_access_modes() {
    let mut p = Pit::new();
    p.write(port::CONTROL, 0x14, 0); // ch0, low byte only, mode 2
    p.write(0, 100, 0);
    assert_eq!(p.read(0, ns_of_tick(10)), 90);
    assert_eq!(p.read(0, ns_of_tick(10)), 90, "no toggle in lobyte mode");
    p.write(port::CONTROL, 0x24, 0); // ch0, high byte only, mode 2
    p.write(0, 2, 0); // count 0x200
    assert_eq!(p.read(0, ns_of_tick(0x100)), 1);
}

#[test]
fn zero_means_the_full_range() {
    let mut p = Pit::new();
    p.write(port::CONTROL, 0x34, 0);
    load16(&mut p, 0, 0, 0);
    assert_eq!(p.next_deadline(), Some(ns_of_tick(65_536)));
    // Linux's default HZ=100 tick, 1193182/100 rounded: 11932 ticks.
    load16(&mut p, 0, 11_932, 0);
    assert_eq!(p.advance(1_000_000_000).edges, PIT_HZ / 11_932);
}

#[test]
fn bcd_mode_counts_in_decimal() {
    let mut p = Pit::new();
    p.write(port::CONTROL, 0x35, 0); // ch0, lo/hi, mode 2, BCD
    load16(&mut p, 0, 0x1000, 0); // 1000 decimal
    assert_eq!(read16(&mut p, 0, ns_of_tick(1)), 0x0999);
    assert_eq!(p.next_deadline(), Some(ns_of_tick(1000)));
}

#[test]
fn channel2_calibration_through_port_b() {
    // What Linux's pit_calibrate_tsc does: gate on, speaker off, mode 0, poll OUT2.
    let mut p = Pit::new();
    let v = p.port61_read(0);
    p.port61_write((v & !0x02) | 0x01, 0);
    p.write(port::CONTROL, 0xb0, 0);
    let latch = (PIT_HZ / 100) as u16; // 10 ms
    load16(&mut p, 2, latch, 100);
    let t0 = ticks_at(100);
    let end = ns_of_tick(t0 + u64::from(latch));
    assert_eq!(p.port61_read(end - 1) & 0x20, 0);
    assert_eq!(p.port61_read(end) & 0x20, 0x20);
    assert!(
        (end as i64 - 10_000_000).abs() < 1_000,
        "10 ms of virtual time"
    );
    // Channel 2 never drives IRQ 0.
    assert_eq!(p.next_deadline(), None);
}

#[test]
fn gate_low_suspends_mode0_and_restarts_mode2() {
    let mut p = Pit::new();
    p.port61_write(0x01, 0);
    p.write(port::CONTROL, 0xb0, 0);
    load16(&mut p, 2, 100, 0);
    p.port61_write(0x00, ns_of_tick(40)); // gate off at count 60
    assert_eq!(read16(&mut p, 2, ns_of_tick(90)), 60);
    p.port61_write(0x01, ns_of_tick(1000));
    assert_eq!(read16(&mut p, 2, ns_of_tick(1010)), 50);
    assert_eq!(p.port61_read(ns_of_tick(1059)) & 0x20, 0);
    assert_eq!(p.port61_read(ns_of_tick(1060)) & 0x20, 0x20);

    p.write(port::CONTROL, 0xb4, ns_of_tick(2000)); // ch2 mode 2
    load16(&mut p, 2, 10, ns_of_tick(2000));
    p.port61_write(0x00, ns_of_tick(2009)); // OUT was low at count 1: gate forces high
    assert_eq!(p.port61_read(ns_of_tick(2009)) & 0x20, 0x20);
    p.port61_write(0x01, ns_of_tick(3000)); // rising gate reloads
    assert_eq!(read16(&mut p, 2, ns_of_tick(3003)), 7);
}

#[test]
fn port_b_refresh_toggle_follows_virtual_time() {
    let mut p = Pit::new();
    assert_eq!(p.port61_read(0) & 0x10, 0);
    assert_eq!(p.port61_read(15_084) & 0x10, 0);
    assert_eq!(p.port61_read(15_085) & 0x10, 0x10);
    assert_eq!(p.port61_read(30_170) & 0x10, 0);
    p.port61_write(0xff, 0);
    assert_eq!(p.port61_read(0) & 0xcf, 0x0f, "status bits are read-only");
}

#[test]
fn changing_mode_can_raise_out0() {
    let mut p = Pit::new();
    p.write(port::CONTROL, 0x30, 0); // mode 0: OUT low
    load16(&mut p, 0, 1000, 0);
    p.write(port::CONTROL, 0x34, ns_of_tick(10)); // mode 2: OUT high at once
    let irq = p.advance(ns_of_tick(10));
    assert_eq!((irq.edges, irq.out), (1, true));
}

#[test]
fn mode0_first_byte_stops_the_count() {
    let mut p = Pit::new();
    p.write(port::CONTROL, 0x30, 0);
    load16(&mut p, 0, 10, 0);
    assert!(p.out0(ns_of_tick(20)));
    p.write(0, 50, ns_of_tick(20));
    assert!(!p.out0(ns_of_tick(20)), "OUT low after the first byte");
    assert_eq!(
        p.advance(ns_of_tick(1000)).edges,
        1,
        "the first terminal count only"
    );
    p.write(0, 0, ns_of_tick(1000));
    assert_eq!(p.next_deadline(), Some(ns_of_tick(1050)));
}

#[test]
fn gate_triggered_one_shot_and_strobe_on_channel_2() {
    let mut p = Pit::new();
    p.write(port::CONTROL, 0xb2, 0); // ch2, lo/hi, mode 1
    load16(&mut p, 2, 100, 0);
    assert_eq!(
        p.port61_read(ns_of_tick(500)) & 0x20,
        0x20,
        "idle high until triggered"
    );
    p.port61_write(0x01, ns_of_tick(1000)); // gate rising edge: trigger
    assert_eq!(p.port61_read(ns_of_tick(1001)) & 0x20, 0);
    assert_eq!(read16(&mut p, 2, ns_of_tick(1040)), 60);
    assert_eq!(p.port61_read(ns_of_tick(1100)) & 0x20, 0x20);
    // Retrigger.
    p.port61_write(0x00, ns_of_tick(1200));
    p.port61_write(0x01, ns_of_tick(1300));
    assert_eq!(p.port61_read(ns_of_tick(1399)) & 0x20, 0);

    p.write(port::CONTROL, 0xba, ns_of_tick(2000)); // ch2, mode 5
    load16(&mut p, 2, 10, ns_of_tick(2000));
    p.port61_write(0x00, ns_of_tick(2001));
    p.port61_write(0x01, ns_of_tick(2002));
    assert_eq!(p.port61_read(ns_of_tick(2011)) & 0x20, 0x20);
    assert_eq!(
        p.port61_read(ns_of_tick(2012)) & 0x20,
        0,
        "strobe at terminal count"
    );
    assert_eq!(p.port61_read(ns_of_tick(2013)) & 0x20, 0x20);
}
