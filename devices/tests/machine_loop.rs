//! The three timers and the interrupt hub driven the way the machine drives them: run
//! to the earliest deadline, advance, raise the lines, take interrupts, EOI.

use reprise_devices::pit::port;
use reprise_devices::{Intc, PicPort, Pit, Rtc};

const S: u64 = 1_000_000_000;

struct Board {
    intc: Intc,
    pit: Pit,
    rtc: Rtc,
    counts: [u64; 256],
}

impl Board {
    fn new() -> Board {
        Board {
            intc: Intc::new(),
            pit: Pit::new(),
            rtc: Rtc::new(1_700_000_000, 0),
            counts: [0; 256],
        }
    }

    fn deadline(&self) -> Option<u64> {
        [
            self.pit.next_deadline(),
            self.intc.next_deadline(),
            self.rtc.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs until `end`, delivering every interrupt at once (a CPU that always has
    /// IF = 1 and whose handlers take no time). `on_vector` plays the handler.
    fn run_until(&mut self, end: u64, mut on_vector: impl FnMut(&mut Board, u8, u64)) {
        loop {
            let Some(now) = self.deadline().filter(|&t| t <= end) else {
                return;
            };
            let irq0 = self.pit.advance(now);
            self.intc.pit_output(irq0, now);
            self.intc.advance(now);
            let rtc_level = self.rtc.advance(now);
            self.intc.set_irq(8, rtc_level, now);
            while self.intc.intr_pending() {
                let Some(v) = self.intc.acknowledge(now) else {
                    break;
                };
                self.counts[usize::from(v)] += 1;
                on_vector(self, v, now);
            }
        }
    }
}

#[test]
fn apic_mode_pit_lapic_timer_and_rtc_tick_at_their_rates() {
    let mut b = Board::new();
    let i = &mut b.intc;
    i.pic_write(PicPort::MasterData, 0xff);
    i.pic_write(PicPort::SlaveData, 0xff);
    i.lapic_mmio_write(0xf0, 4, 0x1ff, 0);
    // I/O APIC: pin 2 (PIT) -> 0x30, pin 8 (RTC) -> 0x38, both edge.
    for (pin, vector) in [(2u64, 0x30u64), (8, 0x38)] {
        i.ioapic_mmio_write(0, 4, 0x10 + 2 * pin, 0);
        i.ioapic_mmio_write(0x10, 4, vector, 0);
    }
    // PIT: 1000 Hz rate generator (1193 ticks: 999.85 Hz).
    b.pit.write(port::CONTROL, 0x34, 0);
    b.pit.write(0, (1193 & 0xff) as u8, 0);
    b.pit.write(0, (1193 >> 8) as u8, 0);
    // Local APIC timer: periodic 250 Hz at divide 16 (62.5 MHz).
    b.intc.lapic_mmio_write(0x3e0, 4, 0x3, 0);
    b.intc.lapic_mmio_write(0x320, 4, 0x2_0040, 0);
    b.intc.lapic_mmio_write(0x380, 4, 250_000, 0);
    // RTC: 64 Hz periodic interrupt (rate 10: 65536 >> 10), handler reads C.
    b.rtc.write(0, 0x0a, 0);
    b.rtc.write(1, 0x2a, 0);
    b.rtc.write(0, 0x0b, 0);
    b.rtc.write(1, 0x42, 0);
    b.run_until(10 * S, |b, _v, now| {
        b.rtc.write(0, 0x0c, now);
        b.rtc.read(1, now);
        let level = b.rtc.irq_level();
        b.intc.set_irq(8, level, now);
        b.intc.lapic_mmio_write(0xb0, 4, 0, now);
    });
    assert_eq!(b.counts[0x30], 10 * 1_193_182 / 1193);
    assert_eq!(b.counts[0x40], 2_500);
    assert_eq!(b.counts[0x38], 640);
    let others: u64 =
        b.counts.iter().sum::<u64>() - b.counts[0x30] - b.counts[0x40] - b.counts[0x38];
    assert_eq!(others, 0);
}

#[test]
fn pic_mode_pit_ticks_through_virtual_wire() {
    let mut b = Board::new();
    let i = &mut b.intc;
    for (port, v) in [
        (PicPort::MasterCommand, 0x11),
        (PicPort::MasterData, 0x20),
        (PicPort::MasterData, 0x04),
        (PicPort::MasterData, 0x01),
        (PicPort::MasterData, 0xfe),
    ] {
        i.pic_write(port, v);
    }
    // PIT at Linux's HZ=100 rate.
    b.pit.write(port::CONTROL, 0x34, 0);
    b.pit.write(0, (11_932 & 0xff) as u8, 0);
    b.pit.write(0, (11_932 >> 8) as u8, 0);
    b.run_until(5 * S, |b, _v, _now| {
        b.intc.pic_write(PicPort::MasterCommand, 0x20)
    });
    assert_eq!(b.counts[0x20], 5 * 1_193_182 / 11_932);
}

#[test]
fn tsc_deadline_rearmed_from_the_handler() {
    let mut b = Board::new();
    b.intc.lapic_mmio_write(0xf0, 4, 0x1ff, 0);
    b.intc.lapic_mmio_write(0x320, 4, 0x4_0050, 0);
    b.intc.msr_write(0x6e0, 1_000_000, 0);
    let mut fired_at = Vec::new();
    b.run_until(S / 100, |b, v, now| {
        assert_eq!(v, 0x50);
        fired_at.push(now);
        b.intc.msr_write(0x6e0, now + 1_000_000, now);
        b.intc.lapic_mmio_write(0xb0, 4, 0, now);
    });
    assert_eq!(
        fired_at,
        (1..=10).map(|k| k * 1_000_000).collect::<Vec<_>>()
    );
}
