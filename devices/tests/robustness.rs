//! Garbage in, no panic out; state round-trips through bincode; identical inputs give
//! identical states.
//!
//! The inputs come from a fixed-seed xorshift generator, so every run checks the same
//! sequences and a failure reproduces.

use reprise_devices::ioapic::IoApicState;
use reprise_devices::lapic::LapicState;
use reprise_devices::pit::PitState;
use reprise_devices::rtc::RtcState;
use reprise_devices::{Intc, IntcState, Pic, PicPort, Pit, Rtc};
use serde::de::DeserializeOwned;
use serde::Serialize;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
    /// Mostly forward-moving time with the odd jump, stall and step back.
    fn time(&mut self, now: &mut u64) -> u64 {
        match self.below(20) {
            0 => *now = now.saturating_add(self.next() >> self.below(64)),
            1 => *now = now.saturating_sub(self.below(10_000)),
            2 => {}
            _ => *now = now.saturating_add(self.below(2_000_000)),
        }
        *now
    }
    fn size(&mut self) -> u8 {
        [1, 2, 4, 8, 0, 3][self.below(6) as usize]
    }
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(s: &T) -> T {
    let cfg = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(s, cfg).expect("encode");
    let (back, used): (T, usize) = bincode::serde::decode_from_slice(&bytes, cfg).expect("decode");
    assert_eq!(used, bytes.len());
    assert_eq!(&back, s);
    back
}

const PIC_PORTS: [PicPort; 6] = [
    PicPort::MasterCommand,
    PicPort::MasterData,
    PicPort::SlaveCommand,
    PicPort::SlaveData,
    PicPort::ElcrMaster,
    PicPort::ElcrSlave,
];

fn intc_step(i: &mut Intc, r: &mut Rng, now: &mut u64) {
    let t = r.time(now);
    match r.below(16) {
        0 => i.set_irq(r.byte(), r.below(2) == 0, t),
        1 => i.pulse_irq(r.byte() % 24, t),
        2 => {
            let p = PIC_PORTS[r.below(6) as usize];
            i.pic_write(p, r.byte());
        }
        3 => {
            let p = PIC_PORTS[r.below(6) as usize];
            i.pic_read(p);
        }
        4 => {
            let off = if r.below(2) == 0 {
                r.below(0x400)
            } else {
                r.next()
            };
            let size = r.size();
            i.lapic_mmio_write(off, size, r.next(), t);
        }
        5 => {
            let size = r.size();
            i.lapic_mmio_read(r.below(0x1100), size, t);
        }
        6 => {
            let off = [0, 0x10, 0x40, r.next()][r.below(4) as usize];
            i.ioapic_mmio_write(off, 4, r.next(), t);
        }
        7 => {
            let size = r.size();
            i.ioapic_mmio_read(r.below(0x50), size, t);
        }
        8 => {
            let m =
                [0x800 + r.below(0x100) as u32, 0x6e0, 0x1b, r.next() as u32][r.below(4) as usize];
            let v = if r.below(2) == 0 {
                r.next()
            } else {
                r.below(0x1_0000)
            };
            i.msr_write(m, v, t);
        }
        9 => {
            let m =
                [0x800 + r.below(0x100) as u32, 0x6e0, 0x1b, r.next() as u32][r.below(4) as usize];
            i.msr_read(m, t);
        }
        10 => {
            // Mostly valid bases, sometimes disabled or x2APIC.
            let v = 0xfee0_0000 | (r.below(8) << 9) | (r.next() & 0xfff_0000_0000);
            i.apic_base_written(v);
        }
        11 => {
            if i.intr_pending() {
                i.acknowledge(t);
            }
        }
        12 => {
            i.acknowledge(t);
            i.take_nmi();
        }
        13 => {
            i.next_deadline();
            i.advance(t);
        }
        14 => i.set_cr8(r.next()),
        _ => i.nmi_line_edge(),
    }
}

#[test]
fn intc_survives_garbage_and_round_trips() {
    for seed in 1..=8u64 {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
        let mut a = Intc::new();
        let mut now = 0;
        for _ in 0..20_000 {
            intc_step(&mut a, &mut r, &mut now);
        }
        let st = a.state();
        let back = round_trip(&st);
        let b = Intc::from_state(&back);
        assert_eq!(b.state(), st, "seed {seed}");
    }
}

#[test]
fn same_inputs_same_state() {
    let run = || {
        let mut r = Rng(42);
        let mut i = Intc::new();
        let mut p = Pit::new();
        let mut c = Rtc::new(1_700_000_000, 0);
        let mut now = 0;
        for _ in 0..5_000 {
            intc_step(&mut i, &mut r, &mut now);
            pit_step(&mut p, &mut r, &mut now);
            rtc_step(&mut c, &mut r, &mut now);
        }
        (i.state(), p.state(), c.state())
    };
    assert_eq!(run(), run());
}

fn pit_step(p: &mut Pit, r: &mut Rng, now: &mut u64) {
    let t = r.time(now);
    match r.below(7) {
        0 | 1 => p.write(r.below(5) as u16, r.byte(), t),
        2 => {
            p.read(r.below(5) as u16, t);
        }
        3 => p.port61_write(r.byte(), t),
        4 => {
            p.port61_read(t);
            p.out0(t);
        }
        _ => {
            p.next_deadline();
            p.advance(t);
        }
    }
}

#[test]
fn pit_survives_garbage_and_round_trips() {
    for seed in 1..=8u64 {
        let mut r = Rng(0xdead_beef ^ (seed << 20));
        let mut p = Pit::new();
        let mut now = 0;
        for _ in 0..30_000 {
            pit_step(&mut p, &mut r, &mut now);
            // Mode words with sensible counts, so all modes run.
            if r.below(50) == 0 {
                let ch = r.below(3) as u8;
                p.write(3, (ch << 6) | 0x30 | (r.byte() & 0x0f), now);
                p.write(u16::from(ch), r.byte(), now);
                p.write(u16::from(ch), r.byte() % 4, now);
            }
        }
        let st = p.state();
        assert_eq!(Pit::from_state(&round_trip(&st)).state(), st);
    }
}

fn rtc_step(c: &mut Rtc, r: &mut Rng, now: &mut u64) {
    let t = r.time(now);
    match r.below(6) {
        0 => c.write(r.below(3) as u16, r.byte(), t),
        1 => c.write(0, r.byte() % 0x0e, t),
        2 => c.write(1, r.byte(), t),
        3 => {
            c.read(r.below(3) as u16, t);
        }
        4 => c.set_cmos_byte(r.byte(), r.byte()),
        _ => {
            c.next_deadline();
            c.advance(t);
        }
    }
}

#[test]
fn rtc_survives_garbage_and_round_trips() {
    for seed in 1..=8u64 {
        let mut r = Rng(0x1234_5678 ^ (seed << 32));
        let mut c = Rtc::new(r.next() as i64, 0);
        let mut now = 0;
        for _ in 0..20_000 {
            rtc_step(&mut c, &mut r, &mut now);
        }
        let st = c.state();
        assert_eq!(Rtc::from_state(&round_trip(&st)).state(), st);
    }
}

#[test]
fn pic_alone_survives_every_byte_on_every_port() {
    let mut p = Pic::new();
    for port in PIC_PORTS {
        for v in 0..=255u8 {
            p.write(port, v);
            p.read(port);
            p.set_irq(v, v & 1 != 0);
            p.acknowledge();
        }
    }
    let st = p.state();
    assert_eq!(Pic::from_state(&round_trip(&st)).state(), st);
}

/// Restored states with fields no device would produce must not panic either.
#[test]
fn corrupt_states_do_not_panic() {
    let mut r = Rng(7);
    for _ in 0..300 {
        let mut now = r.next() >> r.below(64);
        let mut ps: PitState = Pit::new().state();
        for c in &mut ps.channels {
            c.mode = r.byte();
            c.access = r.byte();
            c.bcd = r.below(2) == 0;
            c.reload = r.next() as u16;
            c.armed = r.below(2) == 0;
            c.load_tick = r.next() >> r.below(64);
            c.gate = r.below(2) == 0;
            c.triggered = r.below(2) == 0;
            c.frozen = (r.below(2) == 0).then(|| r.next() >> r.below(64));
            c.latched_count = (r.below(2) == 0).then(|| r.next() as u16);
        }
        ps.synced_tick = r.next() >> r.below(64);
        ps.pending_edges = r.next();
        let mut p = Pit::from_state(&ps);
        for _ in 0..50 {
            pit_step(&mut p, &mut r, &mut now);
        }

        let mut rs: RtcState = Rtc::new(0, 0).state();
        rs.cmos = (0..r.below(300)).map(|_| r.byte()).collect();
        rs.base_secs = r.next() as i64;
        rs.base_ns = r.next() >> r.below(64);
        rs.divider_origin_ns = r.next() >> r.below(64);
        rs.synced_ns = r.next() >> r.below(64);
        let mut c = Rtc::from_state(&rs);
        for _ in 0..50 {
            rtc_step(&mut c, &mut r, &mut now);
        }

        let mut is: IntcState = Intc::new().state();
        let mut ls: LapicState = is.lapic.clone();
        ls.apic_base = r.next();
        ls.svr = r.next() as u32;
        ls.lvt = ls.lvt.map(|_| r.next() as u32);
        ls.irr = ls.irr.map(|_| r.next() as u32);
        ls.isr = ls.isr.map(|_| r.next() as u32);
        ls.tmr = ls.tmr.map(|_| r.next() as u32);
        ls.tpr = r.byte();
        ls.timer.initial_count = r.next() as u32;
        ls.timer.start_count = r.next() as u32;
        ls.timer.divide = r.next() as u32;
        ls.timer.start_ns = r.next() >> r.below(64);
        ls.timer.next_fire_ns = (r.below(2) == 0).then(|| r.next() >> r.below(64));
        ls.timer.tsc_deadline = r.next();
        is.lapic = ls;
        let mut ios: IoApicState = is.ioapic.clone();
        ios.redirection = (0..r.below(40)).map(|_| r.next()).collect();
        ios.lines = r.next() as u32;
        ios.ioregsel = r.byte();
        is.ioapic = ios;
        is.pic.master.priority_add = r.byte();
        is.pic.slave.vector_base = r.byte();
        let mut i = Intc::from_state(&is);
        for _ in 0..200 {
            intc_step(&mut i, &mut r, &mut now);
        }
    }
}

/// A device restored from a snapshot behaves exactly like the one it was taken from.
#[test]
fn restored_devices_continue_identically() {
    let mut r = Rng(99);
    let mut now = 0;
    let mut i = Intc::new();
    let mut p = Pit::new();
    let mut c = Rtc::new(1_700_000_000, 0);
    for _ in 0..3_000 {
        intc_step(&mut i, &mut r, &mut now);
        pit_step(&mut p, &mut r, &mut now);
        rtc_step(&mut c, &mut r, &mut now);
    }
    let mut i2 = Intc::from_state(&round_trip(&i.state()));
    let mut p2 = Pit::from_state(&round_trip(&p.state()));
    let mut c2 = Rtc::from_state(&round_trip(&c.state()));
    let (mut r2, mut now2) = (Rng(r.0), now);
    for _ in 0..3_000 {
        intc_step(&mut i, &mut r, &mut now);
        intc_step(&mut i2, &mut r2, &mut now2);
        pit_step(&mut p, &mut r, &mut now);
        pit_step(&mut p2, &mut r2, &mut now2);
        rtc_step(&mut c, &mut r, &mut now);
        rtc_step(&mut c2, &mut r2, &mut now2);
        assert_eq!(i.next_deadline(), i2.next_deadline());
        assert_eq!(p.next_deadline(), p2.next_deadline());
        assert_eq!(c.next_deadline(), c2.next_deadline());
    }
    assert_eq!(i.state(), i2.state());
    assert_eq!(p.state(), p2.state());
    assert_eq!(c.state(), c2.state());
}
